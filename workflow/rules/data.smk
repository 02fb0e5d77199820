# Data: simulate stand-ins (quick) or fetch real files (paper), then write one tidy array file
# per dataset under results/{preset}/data/ and draw its overview figure.


rule simulate_lorenz:
    output:
        f"{RESULTS}/data/lorenz.h5",
    log:
        f"{LOGS}/data/simulate_lorenz.log",
    benchmark:
        f"{LOGS}/data/benchmarks/simulate_lorenz.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["lorenz"],
        seed=config["seed"],
        preset=PRESET,
    script:
        "../../scripts/simulate_lorenz.py"


rule simulate_reaching:
    output:
        f"{RESULTS}/data/reaching.h5",
    log:
        f"{LOGS}/data/simulate_reaching.log",
    benchmark:
        f"{LOGS}/data/benchmarks/simulate_reaching.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["reaching"],
        seed=config["seed"],
        preset=PRESET,
    script:
        "../../scripts/simulate_reaching.py"


rule simulate_nlb_like:
    output:
        nwb=f"{SIMULATED}/{{nlb}}/{{nlb}}_like.nwb",
        truth=f"{SIMULATED}/{{nlb}}/{{nlb}}_like.truth.npz",
    log:
        f"{LOGS}/data/simulate_{{nlb}}_like.log",
    benchmark:
        f"{LOGS}/data/benchmarks/simulate_{{nlb}}_like.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=lambda w: DATA[w.nlb]["simulate"],
        seed=config["seed"],
    script:
        "../../scripts/simulate_nlb_like.py"


rule download_dandi:
    output:
        nwb=f"{RAW}/dandi/{{dandiset}}/{{filename}}.nwb",
        record=f"{RAW}/dandi/{{dandiset}}/{{filename}}.nwb.source.json",
    log:
        f"logs/download/dandi_{{dandiset}}_{{filename}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        cfg=lambda w: DATA[nlb_dataset_of(w.dandiset)],
        pin_key=lambda w: f"data.{nlb_dataset_of(w.dandiset)}.sha256",
        staged_dir=DATA["staged_dir"],
        accept_unpinned=config["accept_unpinned"],
    script:
        "../../scripts/download_dandi.py"


rule prepare_nlb:
    input:
        nlb_nwb,
    output:
        f"{RESULTS}/data/{{nlb}}.h5",
    log:
        f"{LOGS}/data/prepare_{{nlb}}.log",
    benchmark:
        f"{LOGS}/data/benchmarks/prepare_{{nlb}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=lambda w: DATA[w.nlb],
        preset=PRESET,
    script:
        "../../scripts/prepare_nlb.py"


rule simulate_willett_like:
    output:
        directory(f"{SIMULATED}/human/competitionData"),
    log:
        f"{LOGS}/data/simulate_willett_like.log",
    benchmark:
        f"{LOGS}/data/benchmarks/simulate_willett_like.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["human"]["simulate"],
        seed=config["seed"],
    script:
        "../../scripts/simulate_willett_like.py"


rule download_willett:
    output:
        extracted=directory(f"{RAW}/human/extracted"),
        archive=f"{RAW}/human/{DATA['human']['file']}",
        record=f"{RAW}/human/{DATA['human']['file']}.source.json",
    log:
        "logs/download/willett_competitionData.log",
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["human"],
        pin_key="data.human.sha256",
        staged_dir=DATA["staged_dir"],
        accept_unpinned=config["accept_unpinned"],
    script:
        "../../scripts/download_willett.py"


rule prepare_human:
    input:
        human_dir,
    output:
        f"{RESULTS}/data/human.h5",
    log:
        f"{LOGS}/data/prepare_human.log",
    benchmark:
        f"{LOGS}/data/benchmarks/prepare_human.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["human"],
        preset=PRESET,
    script:
        "../../scripts/prepare_human.py"


rule simulate_widefield:
    output:
        hdf5=f"{SIMULATED}/widefield/{{session}}.hdf5",
        truth=f"{SIMULATED}/widefield/{{session}}.truth.npz",
    log:
        f"{LOGS}/data/simulate_widefield_{{session}}.log",
    benchmark:
        f"{LOGS}/data/benchmarks/simulate_widefield_{{session}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["widefield"],
        seed=lambda w: config["seed"] + WIDEFIELD_SESSIONS.index(w.session),
    script:
        "../../scripts/simulate_widefield.py"


rule download_widefield:
    output:
        hdf5=f"{RAW}/widefield/{{filename}}.hdf5",
        record=f"{RAW}/widefield/{{filename}}.hdf5.source.json",
    log:
        "logs/download/widefield_{filename}.log",
    conda:
        "../../envs/data.yaml"
    params:
        session=lambda w: next(
            s
            for s in DATA["widefield"]["sessions"]
            if s.get("file") == f"{w.filename}.hdf5"
        ),
        staged_dir=DATA["staged_dir"],
        accept_unpinned=config["accept_unpinned"],
    script:
        "../../scripts/download_widefield.py"


rule prepare_widefield:
    input:
        widefield_hdf5,
    output:
        f"{RESULTS}/data/widefield_{{session}}.h5",
    log:
        f"{LOGS}/data/prepare_widefield_{{session}}.log",
    benchmark:
        f"{LOGS}/data/benchmarks/prepare_widefield_{{session}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        cfg=DATA["widefield"],
        preset=PRESET,
    script:
        "../../scripts/prepare_widefield.py"


rule plot_data_overview:
    input:
        f"{RESULTS}/data/{{name}}.h5",
    output:
        png=report(
            f"{RESULTS}/data/{{name}}_overview.png",
            caption="../report/data/overview.rst",
            category="Data",
            subcategory="Figures",
            labels={"item": "{name} overview", "source": SOURCES["data"]},
        ),
        pdf=f"{RESULTS}/data/{{name}}_overview.pdf",
    log:
        f"{LOGS}/data/plot_{{name}}_overview.log",
    benchmark:
        f"{LOGS}/data/benchmarks/plot_{{name}}_overview.tsv"
    wildcard_constraints:
        name="lorenz|mc_maze|mc_rtt|human|reaching",
    conda:
        "../../envs/data.yaml"
    params:
        preset=PRESET,
    script:
        "../../scripts/plot_data_overview.py"


rule plot_widefield_overview:
    input:
        expand(f"{RESULTS}/data/widefield_{{session}}.h5", session=WIDEFIELD_SESSIONS),
    output:
        png=reported("data/widefield_overview", "png"),
        pdf=f"{RESULTS}/data/widefield_overview.pdf",
    log:
        f"{LOGS}/data/plot_widefield_overview.log",
    benchmark:
        f"{LOGS}/data/benchmarks/plot_widefield_overview.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        preset=PRESET,
    script:
        "../../scripts/plot_data_overview.py"


localrules:
    download_dandi,
    download_willett,
    download_widefield,
