"""Rule prepare_nlb: an MC_Maze / MC_RTT NWB file -> 5 ms trial-aligned tidy dataset file."""

from pathlib import Path

from neurodiff.data.nwb import read_nlb_nwb
from neurodiff.data.provenance import source_meta
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    source = Path(snakemake.input[0])
    # first: the file must still have the sha256 the download rule verified and recorded
    provenance = source_meta([source], cfg["source"], require_record=cfg["source"] != "simulate")
    ds = read_nlb_nwb(source, snakemake.wildcards.nlb, source=cfg["source"])
    ds.meta.update(preset=snakemake.params.preset, **provenance)
    ds.write(snakemake.output[0])
    log.info(
        "%s: %d trials x %d bins x %d units (%d held out)",
        ds.name,
        ds.n_trials,
        ds.n_bins,
        ds.n_channels,
        int(ds.channels["heldout"].sum()),
    )
