# BeNeDiff (reconstructed inventory, reference/benediff.md §1): per session, one LVM job per
# region-hemisphere (every method × seed), a frame autoencoder and a video diffusion model,
# then guided sampling; tables over all sessions; figures 3–5 and the GIFs for one session.


include: "benediff_common.smk"


rule benediff_lvm:
    input:
        f"{RESULTS}/data/widefield_{{session}}.h5",
    output:
        latents=f"{BENEDIFF}/models/lvm/{{session}}/{{region}}/latents.npz",
        metrics=f"{BENEDIFF}/models/lvm/{{session}}/{{region}}/metrics.csv",
    log:
        f"{LOGS}/benediff/lvm_{{session}}_{{region}}.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/lvm_{{session}}_{{region}}.tsv"
    wildcard_constraints:
        region="|".join(BD_REGIONS),
    conda:
        "../../envs/benediff.yaml"
    threads: 1
    resources:
        gpu=job_resources("benediff", "lvm")["gpu"],
        mem_mb=job_resources("benediff", "lvm")["mem_mb"],
        gpu_mem_mb=job_resources("benediff", "lvm")["gpu_mem_mb"],
        runtime=job_resources("benediff", "lvm")["runtime"],
    params:
        lvm=BD["lvm"],
        metrics=BD["metrics"],
        seeds=BD["seeds"],
        device=config["device"],
    script:
        "../../scripts/benediff_lvm.py"


rule benediff_frame_ae:
    input:
        f"{RESULTS}/data/widefield_{{session}}.h5",
    output:
        model=f"{BENEDIFF}/models/video/{{session}}/frame_ae.pt",
        codes=f"{BENEDIFF}/models/video/{{session}}/codes.npz",
    log:
        f"{LOGS}/benediff/frame_ae_{{session}}.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/frame_ae_{{session}}.tsv"
    conda:
        "../../envs/benediff.yaml"
    threads: 1
    resources:
        gpu=job_resources("benediff", "frame_ae")["gpu"],
        mem_mb=job_resources("benediff", "frame_ae")["mem_mb"],
        gpu_mem_mb=job_resources("benediff", "frame_ae")["gpu_mem_mb"],
        runtime=job_resources("benediff", "frame_ae")["runtime"],
    params:
        section=BD["frame_ae"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/benediff_frame_ae.py"


rule benediff_video_diffusion:
    input:
        codes=f"{BENEDIFF}/models/video/{{session}}/codes.npz",
    output:
        model=f"{BENEDIFF}/models/video/{{session}}/diffusion.pt",
    log:
        f"{LOGS}/benediff/video_diffusion_{{session}}.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/video_diffusion_{{session}}.tsv"
    conda:
        "../../envs/benediff.yaml"
    threads: 1
    resources:
        gpu=job_resources("benediff", "diffusion")["gpu"],
        mem_mb=job_resources("benediff", "diffusion")["mem_mb"],
        gpu_mem_mb=job_resources("benediff", "diffusion")["gpu_mem_mb"],
        runtime=job_resources("benediff", "diffusion")["runtime"],
    params:
        section=BD["diffusion"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/benediff_video_diffusion.py"


rule benediff_guided_sampling:
    input:
        data=f"{RESULTS}/data/widefield_{{session}}.h5",
        codes=f"{BENEDIFF}/models/video/{{session}}/codes.npz",
        autoencoder=f"{BENEDIFF}/models/video/{{session}}/frame_ae.pt",
        diffusion=f"{BENEDIFF}/models/video/{{session}}/diffusion.pt",
        latents=lambda w: BD_LATENTS[w.session],
    output:
        samples=f"{BENEDIFF}/samples/{{session}}/guided.npz",
        specificity=f"{BENEDIFF}/samples/{{session}}/specificity.csv",
        selection=f"{BENEDIFF}/samples/{{session}}/scale_selection.csv",
    log:
        f"{LOGS}/benediff/guided_sampling_{{session}}.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/guided_sampling_{{session}}.tsv"
    conda:
        "../../envs/benediff.yaml"
    threads: 1
    resources:
        gpu=job_resources("benediff", "guidance")["gpu"],
        mem_mb=job_resources("benediff", "guidance")["mem_mb"],
        gpu_mem_mb=job_resources("benediff", "guidance")["gpu_mem_mb"],
        runtime=job_resources("benediff", "guidance")["runtime"],
    params:
        section=BD["guidance"],
        mig_bins=BD["metrics"]["mig_bins"],
        device=config["device"],
    script:
        "../../scripts/benediff_guided_sampling.py"


rule benediff_table1:
    input:
        [
            f"{BENEDIFF}/models/lvm/{session}/{region}/metrics.csv"
            for session in WIDEFIELD_SESSIONS
            for region in BD_REGIONS
        ],
    output:
        csv=reported("benediff/tables/table1_lvm_metrics", "csv"),
        md=f"{BENEDIFF}/tables/table1_lvm_metrics.md",
    log:
        f"{LOGS}/benediff/table1.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/table1.tsv"
    conda:
        "../../envs/benediff.yaml"
    params:
        preset=PRESET,
    script:
        "../../scripts/benediff_table1.py"


rule benediff_table2:
    input:
        specificity=expand(
            f"{BENEDIFF}/samples/{{session}}/specificity.csv",
            session=WIDEFIELD_SESSIONS,
        ),
        data=expand(
            f"{RESULTS}/data/widefield_{{session}}.h5", session=WIDEFIELD_SESSIONS
        ),
    output:
        csv=reported("benediff/tables/table2_guidance_specificity", "csv"),
        md=f"{BENEDIFF}/tables/table2_guidance_specificity.md",
    log:
        f"{LOGS}/benediff/table2.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/table2.tsv"
    conda:
        "../../envs/benediff.yaml"
    params:
        preset=PRESET,
    script:
        "../../scripts/benediff_table2.py"


rule benediff_fig2:
    input:
        f"{RESULTS}/data/widefield_{BD_FIG_SESSION}.h5",
    output:
        png=reported("benediff/figures/fig2_schematic", "png"),
        pdf=f"{BENEDIFF}/figures/fig2_schematic.pdf",
    log:
        f"{LOGS}/benediff/fig2.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/fig2.tsv"
    conda:
        "../../envs/benediff.yaml"
    params:
        section=BD,
        regions=BD_REGIONS,
        preset=PRESET,
    script:
        "../../scripts/benediff_fig2.py"


rule benediff_fig3:
    input:
        data=f"{RESULTS}/data/widefield_{BD_FIG_SESSION}.h5",
        latents=BD_LATENTS[BD_FIG_SESSION],
    output:
        png=reported("benediff/figures/fig3_latents", "png"),
        pdf=f"{BENEDIFF}/figures/fig3_latents.pdf",
    log:
        f"{LOGS}/benediff/fig3.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/fig3.tsv"
    conda:
        "../../envs/benediff.yaml"
    params:
        session=BD_FIG_SESSION,
        preset=PRESET,
    script:
        "../../scripts/benediff_fig3.py"


rule benediff_fig4:
    input:
        data=f"{RESULTS}/data/widefield_{BD_FIG_SESSION}.h5",
        samples=f"{BENEDIFF}/samples/{BD_FIG_SESSION}/guided.npz",
        specificity=f"{BENEDIFF}/samples/{BD_FIG_SESSION}/specificity.csv",
    output:
        png=reported("benediff/figures/fig4_guided_videos", "png"),
        pdf=f"{BENEDIFF}/figures/fig4_guided_videos.pdf",
        gifs=BD_GIFS,
    log:
        f"{LOGS}/benediff/fig4.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/fig4.tsv"
    conda:
        "../../envs/benediff.yaml"
    params:
        session=BD_FIG_SESSION,
        regions=BD_REGIONS,
        gif_keys=BD_GIF_KEYS,
        strip_frames=BD["figures"]["strip_frames"],
        gif_scale=BD["figures"]["gif_scale"],
        gif_fps=BD["figures"]["gif_fps"],
        preset=PRESET,
    script:
        "../../scripts/benediff_fig4.py"


rule benediff_fig5:
    input:
        data=f"{RESULTS}/data/widefield_{BD_FIG_SESSION}.h5",
        latents=[
            f"{BENEDIFF}/models/lvm/{session}/{region}/latents.npz"
            for session in WIDEFIELD_SESSIONS
            for region in BD_REGIONS
        ],
    output:
        png=reported("benediff/figures/fig5_cross_hemisphere", "png"),
        pdf=f"{BENEDIFF}/figures/fig5_cross_hemisphere.pdf",
    log:
        f"{LOGS}/benediff/fig5.log",
    benchmark:
        f"{LOGS}/benediff/benchmarks/fig5.tsv"
    conda:
        "../../envs/benediff.yaml"
    params:
        section=BD["cross_hemisphere"],
        sessions=WIDEFIELD_SESSIONS,
        regions=BD_REGIONS,
        latent_keys=[
            (session, region)
            for session in WIDEFIELD_SESSIONS
            for region in BD_REGIONS
        ],
        session=BD_FIG_SESSION,
        preset=PRESET,
    script:
        "../../scripts/benediff_fig5.py"
