"""Rule prepare_widefield: BehaveNet HDF5 of one session -> tidy dataset file."""

from pathlib import Path

from neurodiff.data.behavenet import read_behavenet_hdf5
from neurodiff.data.provenance import source_meta
from neurodiff.data.simulate.widefield import load_truth, truth_path
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    source = Path(snakemake.input[0])
    session = snakemake.wildcards.session
    # first: the file must still have the sha256 the download rule verified and recorded
    provenance = source_meta([source], cfg["source"], require_record=cfg["source"] != "simulate")
    ds = read_behavenet_hdf5(
        source,
        regions=cfg["regions"],
        label_names=cfg["label_names"],
        label_indices=cfg["label_indices"],
        frame_range=cfg.get("frame_range"),
        session=session,
        bin_size_s=1.0 / cfg["frame_rate_hz"],
        name=f"widefield_{session}",
    )
    if truth_path(source).exists():  # simulated sessions carry their ground truth
        truth = load_truth(source)
        start, stop = ds.meta["frame_range"]
        columns = ds.channels["component_index"]
        ds.truth = {
            "factors": truth["factors"][:, start:stop],
            "factor_names": truth["factor_names"],
            "rates": truth["rates"][:, start:stop][..., columns],
            "loadings": truth["loadings"][columns],
            "planted": truth["planted"],
            "region_names": truth["region_names"],
        }
    ds.meta.update(preset=snakemake.params.preset, **provenance)
    ds.write(snakemake.output[0])
    log.info(
        "%s: %d trials x %d frames x %d components, regions %s",
        ds.name,
        ds.n_trials,
        ds.n_bins,
        ds.n_channels,
        sorted(set(ds.channels["region"])),
    )
