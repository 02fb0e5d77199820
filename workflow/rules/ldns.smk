# LDNS (Kapoor, Schulz et al. 2024): S4 autoencoder → latent diffusion → rates → spikes.
# Per dataset an autoencoder; per diffusion model (dataset × conditioning) a denoiser and its
# samples; LFADS baselines; a spike-history GLM; Tables 1-3 and every figure of the inventory.


include: "ldns_common.smk"


rule ldns_autoencoder:
    input:
        data=f"{RESULTS}/data/{{dataset}}.h5",
    output:
        model=f"{LDNS_OUT}/models/{{dataset}}/autoencoder/selected.pt",
        latents=f"{LDNS_OUT}/models/{{dataset}}/latents.npz",
    log:
        f"{LDNS_LOGS}/autoencoder_{{dataset}}.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/autoencoder_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=LDNS_DATASETS,
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "autoencoder")["gpu"],
        mem_mb=job_resources("ldns", "autoencoder")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "autoencoder")["gpu_mem_mb"],
        runtime=job_resources("ldns", "autoencoder")["runtime"],
    params:
        cfg=lambda w: LDNS["autoencoder"][w.dataset],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_autoencoder.py"


rule ldns_denoiser:
    input:
        data=lambda w: f"{RESULTS}/data/{ldns_dataset(w.model)}.h5",
        latents=lambda w: ldns_latents(ldns_dataset(w.model)),
    output:
        model=f"{LDNS_OUT}/models/{{model}}/denoiser/model.pt",
    log:
        f"{LDNS_LOGS}/denoiser_{{model}}.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/denoiser_{{model}}.tsv"
    wildcard_constraints:
        model=LDNS_MODELS,
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "denoiser")["gpu"],
        mem_mb=job_resources("ldns", "denoiser")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "denoiser")["gpu_mem_mb"],
        runtime=job_resources("ldns", "denoiser")["runtime"],
    params:
        cfg=lambda w: LDNS["denoiser"][w.model],
        diffusion=LDNS["diffusion"],
        behavior=LDNS["behavior"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_denoiser.py"


rule ldns_sample:
    input:
        data=lambda w: f"{RESULTS}/data/{ldns_dataset(w.model)}.h5",
        latents=lambda w: ldns_latents(ldns_dataset(w.model)),
        autoencoder=lambda w: f"{LDNS_OUT}/models/{ldns_dataset(w.model)}/autoencoder/selected.pt",
        denoiser=f"{LDNS_OUT}/models/{{model}}/denoiser/model.pt",
    output:
        f"{LDNS_OUT}/samples/{{model}}.npz",
    log:
        f"{LDNS_LOGS}/sample_{{model}}.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/sample_{{model}}.tsv"
    wildcard_constraints:
        model=LDNS_MODELS,
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "sample")["gpu"],
        mem_mb=job_resources("ldns", "sample")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "sample")["gpu_mem_mb"],
        runtime=job_resources("ldns", "sample")["runtime"],
    params:
        cfg=lambda w: LDNS["denoiser"][w.model],
        diffusion=LDNS["diffusion"],
        sampling=LDNS["sampling"],
        behavior=LDNS["behavior"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_sample.py"


rule ldns_lfads:
    input:
        data=f"{RESULTS}/data/{{dataset}}.h5",
    output:
        model=f"{LDNS_OUT}/models/{{dataset}}/lfads/model.pt",
        samples=f"{LDNS_OUT}/samples/{{dataset}}_lfads.npz",
    log:
        f"{LDNS_LOGS}/lfads_{{dataset}}.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/lfads_{{dataset}}.tsv"
    wildcard_constraints:
        dataset="lorenz|mc_maze",
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "lfads")["gpu"],
        mem_mb=job_resources("ldns", "lfads")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "lfads")["gpu_mem_mb"],
        runtime=job_resources("ldns", "lfads")["runtime"],
    params:
        cfg=lambda w: LDNS["lfads"][w.dataset],
        length_factor=LDNS["sampling"]["length_factor"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_lfads.py"


rule ldns_spike_history:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
        latents=ldns_latents("mc_maze"),
        ldns=ldns_samples("mc_maze_unconditional"),
        lfads=ldns_samples("mc_maze_lfads"),
    output:
        model=f"{LDNS_OUT}/models/mc_maze/spike_history/model.pt",
        lfads_model=f"{LDNS_OUT}/models/mc_maze/spike_history/lfads/model.pt",
        samples=ldns_samples("mc_maze_spike_history"),
    log:
        f"{LDNS_LOGS}/spike_history_mc_maze.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/spike_history_mc_maze.tsv"
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "spike_history")["gpu"],
        mem_mb=job_resources("ldns", "spike_history")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "spike_history")["gpu_mem_mb"],
        runtime=job_resources("ldns", "spike_history")["runtime"],
    params:
        cfg=LDNS["spike_history"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_spike_history.py"


rule ldns_sampler_steps:
    input:
        data=lambda w: f"{RESULTS}/data/{ldns_dataset(w.model)}.h5",
        latents=lambda w: ldns_latents(ldns_dataset(w.model)),
        autoencoder=lambda w: f"{LDNS_OUT}/models/{ldns_dataset(w.model)}/autoencoder/selected.pt",
        denoiser=f"{LDNS_OUT}/models/{{model}}/denoiser/model.pt",
    output:
        csv=reported("ldns/tables/sampler_steps_{model}", "csv"),
        md=f"{LDNS_OUT}/tables/sampler_steps_{{model}}.md",
    log:
        f"{LDNS_LOGS}/sampler_steps_{{model}}.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/sampler_steps_{{model}}.tsv"
    wildcard_constraints:
        model="|".join(LDNS["sampler_study"]["models"]) or "^$",
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "sample")["gpu"],
        mem_mb=job_resources("ldns", "sample")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "sample")["gpu_mem_mb"],
        runtime=job_resources("ldns", "sample")["runtime"],
    params:
        cfg=lambda w: LDNS["denoiser"][w.model],
        diffusion=LDNS["diffusion"],
        sampling=LDNS["sampling"],
        study=LDNS["sampler_study"],
        evaluation=LDNS["evaluation"],
        preset=PRESET,
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_sampler_steps.py"


rule ldns_table1:
    input:
        **ldns_baseline_samples(),
        data=f"{RESULTS}/data/mc_maze.h5",
        ldns=ldns_samples("mc_maze_unconditional"),
        lfads=ldns_samples("mc_maze_lfads"),
        spike_history=ldns_samples("mc_maze_spike_history"),
        truth=simulation_truth("mc_maze"),
    output:
        csv=reported("ldns/tables/table1_monkey_metrics", "csv"),
        md=f"{LDNS_OUT}/tables/table1_monkey_metrics.md",
    log:
        f"{LDNS_LOGS}/table1.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/table1.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        cfg=LDNS["evaluation"],
        preset=PRESET,
    script:
        "../../scripts/ldns_table1.py"


rule ldns_config_report:
    input:
        **{name: f"{RESULTS}/data/{name}.h5" for name in LDNS["autoencoder"]},
    output:
        fig1_png=reported("ldns/figures/fig1_schematic", "png"),
        fig1_pdf=f"{LDNS_OUT}/figures/fig1_schematic.pdf",
        table2_csv=reported("ldns/tables/table2_autoencoder_hparams", "csv"),
        table2_md=f"{LDNS_OUT}/tables/table2_autoencoder_hparams.md",
        table3_csv=reported("ldns/tables/table3_diffusion_hparams", "csv"),
        table3_md=f"{LDNS_OUT}/tables/table3_diffusion_hparams.md",
    log:
        f"{LDNS_LOGS}/config_report.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/config_report.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        ldns=LDNS,
        preset=PRESET,
    script:
        "../../scripts/ldns_config_report.py"


rule ldns_figures_lorenz:
    input:
        data=f"{RESULTS}/data/lorenz.h5",
        latents=ldns_latents("lorenz"),
        samples=ldns_samples("lorenz_unconditional"),
        lfads=ldns_samples("lorenz_lfads"),
    output:
        png=ldns_figures(LDNS_LORENZ_FIGURES, "png"),
        pdf=ldns_figures(LDNS_LORENZ_FIGURES, "pdf"),
    log:
        f"{LDNS_LOGS}/figures_lorenz.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/figures_lorenz.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        evaluation=LDNS["evaluation"],
        preset=PRESET,
    script:
        "../../scripts/ldns_plot_lorenz.py"


rule ldns_fig3_human:
    input:
        data=f"{RESULTS}/data/human.h5",
        latents=ldns_latents("human"),
        samples=ldns_samples("human_length"),
    output:
        png=reported("ldns/figures/fig3_human", "png"),
        pdf=f"{LDNS_OUT}/figures/fig3_human.pdf",
    log:
        f"{LDNS_LOGS}/fig3_human.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/fig3_human.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        evaluation=LDNS["evaluation"],
        preset=PRESET,
    script:
        "../../scripts/ldns_plot_human.py"


rule ldns_figures_mc_maze:
    input:
        **ldns_baseline_samples(),
        data=f"{RESULTS}/data/mc_maze.h5",
        latents=ldns_latents("mc_maze"),
        ldns=ldns_samples("mc_maze_unconditional"),
        lfads=ldns_samples("mc_maze_lfads"),
        spike_history=ldns_samples("mc_maze_spike_history"),
        table1=f"{LDNS_OUT}/tables/table1_monkey_metrics.csv",
    output:
        png=ldns_figures(LDNS_MONKEY_FIGURES, "png"),
        pdf=ldns_figures(LDNS_MONKEY_FIGURES, "pdf"),
    log:
        f"{LDNS_LOGS}/figures_mc_maze.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/figures_mc_maze.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        evaluation=LDNS["evaluation"],
        preset=PRESET,
    script:
        "../../scripts/ldns_plot_monkey.py"


rule ldns_correlation_agreement:
    input:
        **ldns_baseline_samples(),
        data=f"{RESULTS}/data/mc_maze.h5",
        latents=ldns_latents("mc_maze"),
        ldns=ldns_samples("mc_maze_unconditional"),
        lfads=ldns_samples("mc_maze_lfads"),
        spike_history=ldns_samples("mc_maze_spike_history"),
        truth=simulation_truth("mc_maze"),
    output:
        csv=reported("ldns/tables/correlation_agreement", "csv"),
        md=f"{LDNS_OUT}/tables/correlation_agreement.md",
    log:
        f"{LDNS_LOGS}/correlation_agreement.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/correlation_agreement.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        seed=LDNS["evaluation"]["seed"],
        preset=PRESET,
    script:
        "../../scripts/ldns_correlation_agreement.py"


rule ldns_length_generalisation:
    input:
        data=f"{RESULTS}/data/lorenz.h5",
        latents=ldns_latents("lorenz"),
        autoencoder=f"{LDNS_OUT}/models/lorenz/autoencoder/selected.pt",
        denoiser=f"{LDNS_OUT}/models/lorenz_unconditional/denoiser/model.pt",
        samples=ldns_samples("lorenz_unconditional"),
    output:
        csv=reported("ldns/tables/length_generalisation", "csv"),
        md=f"{LDNS_OUT}/tables/length_generalisation.md",
    log:
        f"{LDNS_LOGS}/length_generalisation.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/length_generalisation.tsv"
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "sample")["gpu"],
        mem_mb=job_resources("ldns", "sample")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "sample")["gpu_mem_mb"],
        runtime=job_resources("ldns", "sample")["runtime"],
    params:
        cfg=LDNS["denoiser"]["lorenz_unconditional"],
        diffusion=LDNS["diffusion"],
        sampling=LDNS["sampling"],
        seed=config["seed"],
        device=config["device"],
        preset=PRESET,
    script:
        "../../scripts/ldns_length_generalisation.py"


rule ldns_condition_use:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
        latents=ldns_latents("mc_maze"),
        angle=f"{LDNS_OUT}/models/mc_maze_angle/denoiser/model.pt",
        velocity=f"{LDNS_OUT}/models/mc_maze_velocity/denoiser/model.pt",
    output:
        csv=reported("ldns/tables/condition_use", "csv"),
        md=f"{LDNS_OUT}/tables/condition_use.md",
    log:
        f"{LDNS_LOGS}/condition_use.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/condition_use.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        behavior=LDNS["behavior"],
        denoisers={
            m: LDNS["denoiser"][m] for m in ("mc_maze_angle", "mc_maze_velocity")
        },
        diffusion=LDNS["diffusion"],
        seed=config["seed"],
        preset=PRESET,
    script:
        "../../scripts/ldns_condition_use.py"


rule ldns_conditional:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
        latents=ldns_latents("mc_maze"),
        angle=ldns_samples("mc_maze_angle"),
        velocity=ldns_samples("mc_maze_velocity"),
    output:
        csv=f"{LDNS_OUT}/evaluation/velocity_decoding.csv",
        md=f"{LDNS_OUT}/evaluation/velocity_decoding.md",
        png=reported("ldns/figures/fig5_conditional", "png"),
        pdf=f"{LDNS_OUT}/figures/fig5_conditional.pdf",
    log:
        f"{LDNS_LOGS}/conditional.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/conditional.tsv"
    conda:
        "../../envs/ldns.yaml"
    params:
        behavior=LDNS["behavior"],
        preset=PRESET,
    script:
        "../../scripts/ldns_conditional.py"
