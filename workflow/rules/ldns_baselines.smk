# LDNS Table-1 baselines beyond LFADS (MC_Maze): pi-VAE, TNDM, AutoLFADS (Ray Tune PBT) and the
# AutoLFADS+sh spike-history resampling. Paths and helpers: ldns_common.smk.


rule ldns_pivae:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
    output:
        model=f"{LDNS_OUT}/models/mc_maze/pivae/model.pt",
        samples=ldns_samples("mc_maze_pivae"),
    log:
        f"{LDNS_LOGS}/pivae_mc_maze.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/pivae_mc_maze.tsv"
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "pivae")["gpu"],
        mem_mb=job_resources("ldns", "pivae")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "pivae")["gpu_mem_mb"],
        runtime=job_resources("ldns", "pivae")["runtime"],
    params:
        cfg=LDNS["pivae"],
        behavior=LDNS["behavior"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_pivae.py"


rule ldns_tndm:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
    output:
        model=f"{LDNS_OUT}/models/mc_maze/tndm/model.pt",
        samples=ldns_samples("mc_maze_tndm"),
    log:
        f"{LDNS_LOGS}/tndm_mc_maze.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/tndm_mc_maze.tsv"
    conda:
        "../../envs/ldns.yaml"
    threads: 1
    resources:
        gpu=job_resources("ldns", "tndm")["gpu"],
        mem_mb=job_resources("ldns", "tndm")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "tndm")["gpu_mem_mb"],
        runtime=job_resources("ldns", "tndm")["runtime"],
    params:
        cfg=LDNS["tndm"],
        behavior=LDNS["behavior"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_tndm.py"


rule ldns_autolfads:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
    output:
        model=f"{LDNS_OUT}/models/mc_maze/autolfads/model.pt",
        search=f"{LDNS_OUT}/models/mc_maze/autolfads/search.json",
        samples=ldns_samples("mc_maze_autolfads"),
    log:
        f"{LDNS_LOGS}/autolfads_mc_maze.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/autolfads_mc_maze.tsv"
    conda:
        "../../envs/ldns.yaml"
    threads: min(LDNS["autolfads"]["population"], 16)  # one core per PBT member
    resources:
        gpu=job_resources("ldns", "autolfads")["gpu"],
        mem_mb=job_resources("ldns", "autolfads")["mem_mb"],
        gpu_mem_mb=job_resources("ldns", "autolfads")["gpu_mem_mb"],
        runtime=job_resources("ldns", "autolfads")["runtime"],
    params:
        cfg=LDNS["autolfads"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/ldns_autolfads.py"


rule ldns_baseline_spike_history:
    input:
        data=f"{RESULTS}/data/mc_maze.h5",
        autolfads=ldns_samples("mc_maze_autolfads"),
    output:
        model=f"{LDNS_OUT}/models/mc_maze/spike_history_autolfads/model.pt",
        samples=ldns_samples("mc_maze_baselines_spike_history"),
    log:
        f"{LDNS_LOGS}/baseline_spike_history_mc_maze.log",
    benchmark:
        f"{LDNS_LOGS}/benchmarks/baseline_spike_history_mc_maze.tsv"
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
        "../../scripts/ldns_baseline_spike_history.py"
