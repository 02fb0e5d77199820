"""Rule benediff_fig4: guided vs unguided frame strips, specificity map, one GIF per factor.

Figure and GIFs name the data (`dataset_label` of the tidy session); the GIFs carry the preset.
"""

from pathlib import Path

import pandas as pd

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.results import GuidedSamples
from neurodiff.plots.benediff import frame_group, plot_fig4_guided_videos, write_guided_gif
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    params = snakemake.params
    ds = read_tidy(snakemake.input.data, load_video=False)
    label = dataset_label(ds)
    samples, label_names = GuidedSamples.load(snakemake.input.samples)
    rows = pd.read_csv(snakemake.input.specificity)
    reader = "exact" if "exact" in set(rows["reader"]) else "ridge"
    shown = rows[
        (rows["reader"] == reader)
        & (rows["method"] == samples.frame_groups[0][0])
        & (rows["kind"] == "label")
    ]
    mean = shown.groupby(["region", "factor"])["specificity"].mean()
    fig = plot_fig4_guided_videos(
        samples,
        label_names,
        mean.to_dict(),
        params.regions,
        reader,
        params.session,
        params.strip_frames,
        ds.bin_size_s,
        params.preset,
        data_label=label,
    )
    save_figure(fig, Path(snakemake.output.png).with_suffix(""))
    for path, (region, factor) in zip(snakemake.output.gifs, params.gif_keys, strict=True):
        guided = samples.frames[frame_group(samples, region, label_names.index(factor))]
        write_guided_gif(
            path,
            samples.unguided_frames,
            guided,
            f"{region}: activate {factor} ({label}, session {params.session})",
            params.gif_scale,
            params.gif_fps,
            preset=params.preset,
        )
    log.info("wrote %d GIFs", len(snakemake.output.gifs))
