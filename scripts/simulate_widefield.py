"""Rule simulate_widefield: write one BehaveNet-like widefield session with planted selectivity."""

from neurodiff.data.simulate.widefield import write_behavenet_like
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    sim = cfg["simulate"]
    # config regions are region-hemisphere names (VIS_L, VIS_R, ...); the simulator wants areas
    areas = list(dict.fromkeys(region.rsplit("_", 1)[0] for region in cfg["regions"]))
    truth = write_behavenet_like(
        snakemake.output.hdf5,
        n_trials=sim["n_trials"],
        n_frames=sim["n_frames"],
        regions=tuple(areas),
        components_per_region=sim["components_per_region"],
        frame_size=(sim["frame_size"], sim["frame_size"]),
        seed=snakemake.params.seed,
        label_correlation=sim["label_correlation"],
        irrelevant_leak=sim["irrelevant_leak"],
    )
    log.info(
        "wrote %s: factors %s, components %s",
        snakemake.output.hdf5,
        truth["factors"].shape,
        truth["rates"].shape,
    )
