"""Rule simulate_nlb_like: an MC_Maze-like or MC_RTT-like NWB file with its ground truth."""

from neurodiff.data.simulate.nlb_like import write_mc_maze_like, write_mc_rtt_like
from neurodiff.runlog import snakemake_job

WRITERS = {"mc_maze": write_mc_maze_like, "mc_rtt": write_mc_rtt_like}

with snakemake_job(snakemake) as log:
    dataset = snakemake.wildcards.nlb
    truth = WRITERS[dataset](
        snakemake.output.nwb, seed=snakemake.params.seed, **snakemake.params.cfg
    )
    log.info(
        "wrote %s: %d trials, true rates %s",
        snakemake.output.nwb,
        len(truth["trial_id"]),
        truth["rates_hz"].shape,
    )
