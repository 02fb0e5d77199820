"""LDNS Figure 1: the method schematic, drawn from the configured networks (not a pasted image).

Boxes name the layers with the sizes of one dataset's configuration; a table below lists every
dataset's autoencoder and every diffusion model with parameter counts of the built networks
(counted by `neurodiff.models.ldns.evaluation.autoencoder_parameters` / `denoiser_parameters`
and passed in as numbers).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from neurodiff.models.ldns.settings import LDNSSettings
from neurodiff.plots.style import COLORS, stamp_preset, style_context

BOX_COLORS = {
    "data": "#EEEEEE",
    "ae": "#D6E6F5",
    "latent": "#FCE3C8",
    "diffusion": "#F9D4C4",
    "obs": "#DDF0E4",
    "eval": "#F1E4F0",
}


def _box(
    ax: Axes, x: float, y: float, w: float, h: float, text: str, color: str, title: str = ""
) -> tuple[float, float, float, float]:
    """A rounded box with a bold title line and body text; returns (x, y, w, h)."""
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.4,rounding_size=1.2", fc=color, ec="0.35", lw=0.8
        )
    )
    ax.text(x + w / 2, y + h - 1.2, title, ha="center", va="top", fontsize=7.5, fontweight="bold")
    ax.text(x + w / 2, y + h - 4.6, text, ha="center", va="top", fontsize=6.2, linespacing=1.35)
    return x, y, w, h


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    text: str = "",
    style: str = "-|>",
    color: str = "0.25",
) -> None:
    """An arrow from start to end with an optional label at its middle."""
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={"arrowstyle": style, "color": color, "lw": 1.0, "shrinkA": 2, "shrinkB": 2},
    )
    if text:
        ax.text(
            (start[0] + end[0]) / 2,
            (start[1] + end[1]) / 2 + 1.0,
            text,
            ha="center",
            va="bottom",
            fontsize=6,
            color=color,
        )


def _flow(ax: Axes, settings: LDNSSettings, dataset: str, input_channels: int) -> None:
    """Spikes → encoder → latents ↔ diffusion → decoder → rates → observation model → metrics."""
    ae = settings.autoencoder[dataset]
    direction = "bidirectional" if ae.bidirectional else "causal"
    denoisers = [d for d in settings.denoiser.values() if d.dataset == dataset]
    den = denoisers[0]
    conditions = sorted({d.conditioning for d in denoisers} - {"none"})
    diffusion = settings.diffusion
    sampling = settings.sampling
    sh = settings.spike_history

    _box(ax, 0, 40, 11, 18, f"counts\n{input_channels} ch.\n× L bins", BOX_COLORS["data"], "spikes")
    _box(
        ax,
        16,
        38,
        22,
        22,
        f"Conv1d {input_channels}→{ae.hidden_channels}\n{ae.num_blocks} × block:\n"
        f"  S4D ({direction}, N={ae.d_state}) + GELU\n"
        f"  MLP {ae.hidden_channels}→{2 * ae.hidden_channels}→{ae.hidden_channels}\n"
        f"grouped Conv1d {ae.hidden_channels}→{ae.latent_channels}",
        BOX_COLORS["ae"],
        "S4 encoder",
    )
    _box(
        ax,
        44,
        42,
        12,
        14,
        f"{ae.latent_channels} ch.\n× L bins\n(normalised)",
        BOX_COLORS["latent"],
        "latents z",
    )
    _box(
        ax,
        62,
        40,
        15,
        18,
        f"pointwise in time\n{ae.latent_channels}→{ae.hidden_channels}, GELU\n"
        f"→{input_channels}, softplus",
        BOX_COLORS["ae"],
        "decoder",
    )
    _box(
        ax,
        82,
        40,
        18,
        18,
        f"Poisson, or spike-\nhistory GLM ({sh.history_bins}\nbins + log rate)",
        BOX_COLORS["obs"],
        "observation",
    )
    cond_text = ", ".join(conditions) if conditions else "none"
    _box(
        ax,
        33,
        15,
        35,
        16,
        f"DDPM, {diffusion.num_train_timesteps} steps, {diffusion.beta_schedule} β "
        f"{diffusion.beta_start:g}→{diffusion.beta_end:g}, ε-prediction\n"
        f"denoiser: {den.num_blocks} × [adaLN-Zero, bidirectional S4D,\n"
        f"MLP], {den.hidden_channels} channels, EMA weights\n"
        f"conditions: {cond_text}\n"
        f"sampling: DDPM {sampling.ddpm_steps} steps or DDIM {sampling.ddim_steps}",
        BOX_COLORS["diffusion"],
        "latent diffusion model",
    )
    _box(
        ax,
        73,
        15,
        27,
        16,
        "population spike count (KL)\npairwise correlations (RMSE)\n"
        "mean / std ISI per neuron (RMSE)\ntemporal correlations, PSD, PCA\n"
        "velocity decoding (ridge)",
        BOX_COLORS["eval"],
        "evaluation vs data",
    )
    _box(
        ax,
        0,
        15,
        28,
        16,
        f"Poisson NLL on entries hidden by\ncoordinated dropout "
        f"(p = {ae.cd_p:g})\n+ {ae.latent_beta:g}·‖z‖² + {ae.td_beta:g}·temporal\n"
        "smoothness of z; AdamW, cosine LR",
        BOX_COLORS["data"],
        "autoencoder training",
    )

    _arrow(ax, (11.5, 49), (15.5, 49))
    _arrow(ax, (38.5, 49), (43.5, 49))
    _arrow(ax, (56.5, 49), (61.5, 49))
    _arrow(ax, (77.5, 49), (81.5, 49))
    _arrow(ax, (47, 42), (47, 31.5), "train")
    _arrow(ax, (53, 31.5), (53, 42), "sample", color=COLORS["model"])
    _arrow(ax, (91, 40), (88, 31.5), "sampled spikes")
    _arrow(ax, (20, 31.5), (24, 38), style="-", color="0.55")


@style_context()
def plot_fig1_schematic(
    settings: LDNSSettings,
    input_channels: Mapping[str, int],
    preset: str,
    dataset: str = "mc_maze",
    *,
    autoencoder_counts: Mapping[str, int],
    denoiser_counts: Mapping[str, int],
) -> Figure:
    """The LDNS pipeline for `dataset`, plus a table of every configured network's size.

    `autoencoder_counts` / `denoiser_counts`: parameters of each configured network, by name.
    """
    if dataset not in settings.autoencoder or dataset not in input_channels:
        raise ValueError(f"dataset {dataset!r} has no autoencoder settings or channel count")
    fig = plt.figure(figsize=(7.5, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[1.25, 1])
    ax = fig.add_subplot(grid[0])
    ax.set(xlim=(-1, 101), ylim=(13, 61))
    ax.set_axis_off()
    _flow(ax, settings, dataset, input_channels[dataset])
    ax.set_title(f"sizes shown: {dataset} configuration", fontsize=7, color="0.4")

    table_ax = fig.add_subplot(grid[1])
    table_ax.set_axis_off()
    rows = []
    for name, ae in settings.autoencoder.items():
        rows.append(
            [
                f"autoencoder {name}",
                f"{input_channels[name]}/{ae.hidden_channels}/{ae.latent_channels}/{ae.num_blocks}",
                "bidirectional" if ae.bidirectional else "causal",
                "–",
                f"{autoencoder_counts[name]:,}",
            ]
        )
    for name, den in settings.denoiser.items():
        latent = settings.autoencoder[den.dataset].latent_channels
        rows.append(
            [
                f"denoiser {name}",
                f"{latent}/{den.hidden_channels}/–/{den.num_blocks}",
                "bidirectional",
                den.conditioning,
                f"{denoiser_counts[name]:,}",
            ]
        )
    table = table_ax.table(
        cellText=rows,
        loc="center",
        cellLoc="left",
        colLabels=["network", "in / hidden / latent / blocks", "S4", "conditioning", "parameters"],
    )
    for (_, col), cell in table.get_celld().items():
        cell.set_width([0.3, 0.22, 0.16, 0.14, 0.14][col])
        cell.set_linewidth(0.4)
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1, 1.15)
    fig.suptitle(
        "LDNS: latent diffusion for neural spiking data (as configured in this run)", fontsize=10
    )
    stamp_preset(fig, preset)
    return fig
