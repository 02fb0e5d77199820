"""Rule benediff_fig2: pipeline schematic drawn from the configured models (their parameter
counts from the models' own builders)."""

from pathlib import Path

import h5py
import numpy as np

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.build import parameter_counts
from neurodiff.models.benediff.settings import BenediffSettings
from neurodiff.plots.benediff import plot_fig2_schematic, schematic_facts
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    section = BenediffSettings.from_config(snakemake.params.section)
    ds = read_tidy(snakemake.input[0], load_video=False)
    with h5py.File(snakemake.input[0], "r") as f:
        if "video" not in f:
            raise ValueError(f"{snakemake.input[0]}: no 'video' dataset; BeNeDiff needs one")
        _, n_frames, n_views, frame_size, _ = f["video"].shape
    regions, counts = np.unique(ds.channels["region"], return_counts=True)
    components = {r: int(counts[list(regions).index(r)]) for r in snakemake.params.regions}
    labels = ds.behavior_names
    counts = parameter_counts(section, components, len(labels), n_views, frame_size)
    facts = schematic_facts(section, components, labels, n_frames, n_views, frame_size, counts)
    fig = plot_fig2_schematic(facts, snakemake.params.preset, data_label=dataset_label(ds))
    save_figure(fig, Path(snakemake.output.png).with_suffix(""))
    log.info("schematic for regions %s", components)
