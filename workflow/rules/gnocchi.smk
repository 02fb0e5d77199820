# gnocchi: InfoDiffusion on neural time series (GNOCCHI) vs LFADS on synthetic reaching and
# MC_Maze: train both models over seeds, evaluate disentanglement and unseen-condition
# generation, draw the reconstructed figure inventory (reference/gnocchi.md §2).


include: "gnocchi_common.smk"


rule gnocchi_train:
    input:
        f"{RESULTS}/data/{{dataset}}.h5",
    output:
        f"{GNOCCHI_DIR}/models/{{dataset}}/{{model}}/seed{{seed}}/model.pt",
    log:
        f"{LOGS}/gnocchi/train_{{dataset}}_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/gnocchi/benchmarks/train_{{dataset}}_{{model}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dataset="|".join(GNOCCHI_DATASETS),
        model="|".join(GNOCCHI_MODELS),
        seed=r"\d+",
    conda:
        "../../envs/gnocchi.yaml"
    threads: 1
    resources:
        gpu=job_resources("gnocchi", "train")["gpu"],
        mem_mb=job_resources("gnocchi", "train")["mem_mb"],
        gpu_mem_mb=job_resources("gnocchi", "train")["gpu_mem_mb"],
        runtime=job_resources("gnocchi", "train")["runtime"],
    params:
        dataset_cfg=lambda w: GNOCCHI["datasets"][w.dataset],
        model_cfg=lambda w: GNOCCHI[w.model],
        code_dim=GNOCCHI["code_dim"],
        device=config["device"],
    script:
        "../../scripts/gnocchi_train.py"


rule gnocchi_evaluate:
    input:
        data=f"{RESULTS}/data/{{dataset}}.h5",
        gnocchi=f"{GNOCCHI_DIR}/models/{{dataset}}/gnocchi/seed{{seed}}/model.pt",
        lfads=f"{GNOCCHI_DIR}/models/{{dataset}}/lfads/seed{{seed}}/model.pt",
    output:
        metrics=f"{GNOCCHI_DIR}/evaluation/{{dataset}}/seed{{seed}}/metrics.json",
        arrays=f"{GNOCCHI_DIR}/evaluation/{{dataset}}/seed{{seed}}/arrays.npz",
    log:
        f"{LOGS}/gnocchi/evaluate_{{dataset}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/gnocchi/benchmarks/evaluate_{{dataset}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dataset="|".join(GNOCCHI_DATASETS),
        seed=r"\d+",
    conda:
        "../../envs/gnocchi.yaml"
    threads: 1
    resources:
        gpu=job_resources("gnocchi", "evaluate")["gpu"],
        mem_mb=job_resources("gnocchi", "evaluate")["mem_mb"],
        gpu_mem_mb=job_resources("gnocchi", "evaluate")["gpu_mem_mb"],
        runtime=job_resources("gnocchi", "evaluate")["runtime"],
    params:
        cfg=GNOCCHI,
        device=config["device"],
    script:
        "../../scripts/gnocchi_evaluate.py"


rule gnocchi_fig1_schematic:
    input:
        reaching=f"{RESULTS}/data/reaching.h5",
        mc_maze=f"{RESULTS}/data/mc_maze.h5",
    output:
        png=reported("gnocchi/figures/fig1_schematic", "png"),
        pdf=f"{GNOCCHI_DIR}/figures/fig1_schematic.pdf",
    log:
        f"{LOGS}/gnocchi/fig1_schematic.log",
    benchmark:
        f"{LOGS}/gnocchi/benchmarks/fig1_schematic.tsv"
    conda:
        "../../envs/gnocchi.yaml"
    params:
        cfg=GNOCCHI,
        preset=PRESET,
        figure="fig1_schematic",
    script:
        "../../scripts/gnocchi_plot.py"


# figures 2-5, one rule each (gnocchi_<figure>): drawn from one dataset's evaluation
for figure, dataset in GNOCCHI_EVALUATION_FIGURES.items():

    rule:
        name:
            f"gnocchi_{figure}"
        input:
            **GNOCCHI_EVALUATION[dataset],
        output:
            png=reported(f"gnocchi/figures/{figure}", "png"),
            pdf=f"{GNOCCHI_DIR}/figures/{figure}.pdf",
        log:
            f"{LOGS}/gnocchi/{figure}.log",
        benchmark:
            f"{LOGS}/gnocchi/benchmarks/{figure}.tsv"
        conda:
            "../../envs/gnocchi.yaml"
        params:
            preset=PRESET,
            seed=GNOCCHI_FIRST_SEED,
            figure=figure,
            dataset=dataset,
        script:
            "../../scripts/gnocchi_plot.py"


rule gnocchi_table1_disentanglement:
    input:
        expand(
            f"{GNOCCHI_DIR}/evaluation/{{dataset}}/seed{{seed}}/metrics.json",
            dataset=GNOCCHI_DATASETS,
            seed=GNOCCHI_SEEDS,
        ),
    output:
        csv=reported("gnocchi/tables/table1_disentanglement", "csv"),
        md=f"{GNOCCHI_DIR}/tables/table1_disentanglement.md",
    log:
        f"{LOGS}/gnocchi/table1_disentanglement.log",
    benchmark:
        f"{LOGS}/gnocchi/benchmarks/table1_disentanglement.tsv"
    conda:
        "../../envs/gnocchi.yaml"
    params:
        preset=PRESET,
    script:
        "../../scripts/gnocchi_table.py"
