"""BeNeDiff figures (reconstructed inventory: reference/benediff.md §1) and the guided-video GIFs.

plot_fig2_schematic: pipeline schematic drawn from the configured models (parameter counts
from `neurodiff.models.benediff.build.parameter_counts`); plot_fig3_latents: per-region latent
factors vs labels and single-trial reconstructions; plot_fig4_guided_videos: guided vs unguided
frame strips and the specificity map; plot_fig5_cross_hemisphere: cross-hemisphere affine map
and CCA of paw factors. Each function returns a Figure (the rule script saves it with
`neurodiff.plots.style.save_figure`) whose title names the data
with the `data_label` the script derives from the tidy session (`style.dataset_label`:
"simulated widefield" or "widefield mSM36"). GIF frames carry the preset mark in their
top-right corner, as figures carry `stamp_preset`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from PIL import Image, ImageDraw

from neurodiff.io import atomic_path
from neurodiff.metrics.disentangle import mutual_information_matrix
from neurodiff.models.benediff.analysis import CrossHemisphere
from neurodiff.models.benediff.lvm import METHOD_LABELS
from neurodiff.models.benediff.results import GuidedSamples, RegionLVMs
from neurodiff.models.benediff.settings import BenediffSettings
from neurodiff.plots.style import (
    COLORS,
    SEQUENTIAL_CMAP,
    annotate_cells,
    categorical_colors,
    label_panels,
    preset_mark,
    stamp_preset,
    style_context,
)

if TYPE_CHECKING:
    from neurodiff.models.benediff.build import ParameterCounts

METHOD_COLORS = {"benediff": COLORS["model"], "supervised_no_tc": COLORS["truth"]}
SEPARATOR = 96  # grey level of the lines between frames and views in strips and GIFs
DIFF_CMAP = "RdBu_r"  # guided − unguided difference images (red: brighter when guided)


# ---------------------------------------------------------------- fig2: schematic


@dataclass(frozen=True)
class SchematicFacts:
    """What the schematic states about the configured models (sizes and parameter counts)."""

    lvm_lines: list[str]
    encoder_lines: list[str]
    autoencoder_lines: list[str]
    diffusion_lines: list[str]
    guidance_lines: list[str]


def _count_text(count: int) -> str:
    """A parameter count as text (e.g. 12.3k)."""
    return f"{count / 1e6:.2f}M" if count >= 1e6 else f"{count / 1e3:.1f}k"


def schematic_facts(
    section: BenediffSettings | Mapping[str, Any],
    components: Mapping[str, int],
    label_names: Sequence[str],
    n_frames: int,
    n_views: int,
    frame_size: int,
    counts: ParameterCounts,
) -> SchematicFacts:
    """Sizes and parameter counts of the configured models, for the schematic.

    `components` maps each region to its number of components; `counts` are the networks'
    parameter counts (`neurodiff.models.benediff.build.parameter_counts`); `section` is the
    `benediff` settings (or its config mapping).
    """
    settings = BenediffSettings.of(section)
    lvm, guidance = settings.lvm, settings.guidance
    regions = ", ".join(f"{r} {n}" for r, n in components.items())
    tied, free = len(label_names), lvm.n_irrelevant
    lvm_counts = sorted(
        {_count_text(counts.lvm[region]) for region in components},
        key=lambda c: float(c[:-1]),
    )
    code = counts.code_shape
    unet, sched = settings.diffusion.unet, settings.diffusion.schedule
    hidden = lvm.hidden_size or "N"
    return SchematicFacts(
        lvm_lines=[
            f"x: T = {n_frames} frames × N components; N per region: {regions}",
            f"encoder: Linear(N, {hidden}) → ReLU → GRU({hidden}, {lvm.encoder_layers} "
            "layer(s)) → per-time-step Gaussian q(z_t | x)",
            f"z: {tied} behaviour-tied dims ({', '.join(label_names)}) + {free} free dims; "
            "ŷ_k = g_k·z_k + b_k (learned gain, bias)",
            f"decoder: Linear → ReLU → GRU({lvm.decoder_layers} layer(s)) → Linear → x̂",
            f"loss: ({lvm.recon_weight_numerator:g}/N)·‖x̂−x‖² + "
            f"{lvm.behavior_weight:g}·‖ŷ−y‖² + KL + "
            f"{lvm.tc_weight:g}·T·TC (TC: {lvm.tc_estimator.upper()} estimate)",
            f"baselines (same class, terms off): "
            f"{', '.join(METHOD_LABELS[m] for m in lvm.methods if m != 'benediff')}",
            f"parameters per region: {' – '.join(lvm_counts)}",
        ],
        encoder_lines=[
            "ridge regression from the frame code v_t to the region's LVM latent means "
            "(z-scored), one encoder per region and seed:",
            f"a_t = W v_t + b,  W: {tied + free} × {int(np.prod(code))}",
            f"ridge penalty α = {guidance.encoder_ridge_alpha:g}",
            "row w_k of W reads factor k",
        ],
        autoencoder_lines=[
            f"{n_views} views × {frame_size}×{frame_size} → code {code[0]}×{code[1]}×{code[2]}",
            f"5×5 stride-2 convs {list(settings.frame_ae.channels)}, mirrored decoder",
            f"parameters: {_count_text(counts.frame_autoencoder)}",
        ],
        diffusion_lines=[
            f"codes (C={code[0]}, T={n_frames}, {code[1]}×{code[2]}) in [−1, 1]",
            f"dim {unet.dim}, mults {list(unet.dim_mults)}, "
            f"{unet.heads} heads; spatial + temporal attention",
            f"{sched.num_train_timesteps} steps, {sched.beta_schedule}, "
            f"{settings.diffusion.loss} loss; parameters {_count_text(counts.unet)}",
        ],
        guidance_lines=[
            "activate factor k: J_k(x̂₀) = Var_t(w_kᵀ v_t) on the clipped x̂₀",
            "ε̃ = ε̂ − w·√(1−ᾱ_t)·∇J_k",
            f"w ∈ {{{', '.join(f'{w:g}' for w in guidance.scales)}}} chosen per LVM on "
            f"validation; {guidance.sampling_steps} deterministic DDIM steps; "
            "each guided video has an unguided twin from the same x_T",
            "decode frames → read labels → Var_t ratio guided / unguided per label",
            f"{guidance.samples_per_factor} videos per (LVM, seed, region, dim); "
            f"{guidance.control_dims} unsupervised dim(s) as controls",
        ],
    )


LINE_POINTS = 10.6  # height of one text line of the schematic (6.8 pt font, spacing 1.5)
WRAP = {"wide": 68, "narrow": 50}


def _box(
    ax: Axes,
    left: float,
    top: float,
    width: float,
    title: str,
    lines: Sequence[str],
    color: str,
    wrap: int,
) -> float:
    """A rounded box whose height fits its wrapped text; returns its bottom edge."""
    wrapped = [
        part
        for line in lines
        for part in textwrap.wrap(line, wrap, subsequent_indent="    ") or [""]
    ]
    line = LINE_POINTS / (72 * ax.figure.get_figheight())
    height = 0.07 + line * len(wrapped)
    for face, alpha in ((color, 0.18), ("none", 1.0)):
        ax.add_patch(
            FancyBboxPatch(
                (left, top - height),
                width,
                height,
                boxstyle="round,pad=0.008,rounding_size=0.012",
                facecolor=face,
                edgecolor="0.3",
                alpha=alpha,
                lw=0.8,
            )
        )
    ax.text(left + 0.01, top - 0.018, title, fontsize=8.5, fontweight="bold", va="top")
    ax.text(left + 0.01, top - 0.06, "\n".join(wrapped), fontsize=6.8, va="top", linespacing=1.5)
    return top - height


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    text: str = "",
    text_offset: tuple[float, float] = (0.0, 0.012),
) -> None:
    """An arrow with an optional label at its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=10,
            lw=1.0,
            color="0.25",
            shrinkA=1,
            shrinkB=1,
        )
    )
    if text:
        mid = ((start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1])
        ax.text(*mid, text, fontsize=6.5, ha="center", va="bottom", color="0.25", style="italic")


def plot_fig2_schematic(facts: SchematicFacts, preset: str, *, data_label: str) -> Figure:
    """Pipeline: neural LVM → linear video→latent encoder → guided video diffusion; the input
    of the LVM is named by `data_label`."""
    with style_context():
        fig = plt.figure(figsize=(11, 4.0))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        colors = categorical_colors(5)
        top, lower = 0.86, 0.33
        (x_lvm, w_lvm), (x_enc, w_enc), (x_dif, w_dif) = (
            (0.015, 0.335),
            (0.375, 0.245),
            (0.66, 0.325),
        )
        _box(
            ax,
            x_lvm,
            top,
            w_lvm,
            "1  Neural LVM (one per region-hemisphere)",
            facts.lvm_lines,
            colors[0],
            WRAP["wide"],
        )
        enc_bottom = _box(
            ax,
            x_enc,
            top,
            w_enc,
            "2  Linear neural encoder",
            facts.encoder_lines,
            colors[2],
            WRAP["narrow"],
        )
        dif_bottom = _box(
            ax,
            x_dif,
            top,
            w_dif,
            "3  Guided video diffusion",
            facts.guidance_lines,
            colors[3],
            WRAP["wide"],
        )
        _box(
            ax,
            x_enc,
            lower,
            w_enc,
            "Frame autoencoder",
            facts.autoencoder_lines,
            colors[1],
            WRAP["narrow"],
        )
        _box(
            ax,
            x_dif,
            lower,
            w_dif,
            "Space-time U-Net (ε-prediction)",
            facts.diffusion_lines,
            colors[4],
            WRAP["wide"],
        )
        centre_lvm, centre_enc, centre_dif = (
            x_lvm + w_lvm / 2,
            x_enc + w_enc / 2,
            x_dif + w_dif / 2,
        )
        upper, bottom = top - 0.12, lower - 0.1  # heights of the horizontal arrows
        into_enc, into_dif = x_enc - 0.008, x_dif - 0.008
        out_lvm, out_enc = x_lvm + w_lvm + 0.002, x_enc + w_enc + 0.002
        up = lower + 0.008
        ax.text(
            centre_lvm,
            0.922,
            f"{data_label}: components of one region (trials × T × N)",
            ha="center",
            fontsize=7.5,
        )
        _arrow(ax, (centre_lvm, 0.917), (centre_lvm, top + 0.008))
        ax.text(
            centre_lvm,
            bottom,
            "behaviour video frames (views × H × W)",
            ha="center",
            fontsize=7.5,
            va="center",
        )
        _arrow(ax, (x_lvm + w_lvm - 0.01, bottom), (into_enc, bottom))
        labelled_arrows = [  # (start, end, label, label offset)
            ((out_lvm, upper), (into_enc, upper), "latents", (0.0, 0.01)),
            ((centre_enc, up), (centre_enc, enc_bottom - 0.008), "frame codes v_t", (0.055, -0.01)),
            ((out_enc, upper), (into_dif, upper), "w_k", (0.0, 0.01)),
            ((out_enc, bottom), (into_dif, bottom), "codes", (0.0, 0.01)),
            ((centre_dif, up), (centre_dif, dif_bottom - 0.008), "ε̂(x_t, t)", (0.04, -0.01)),
        ]
        for start, end, label, offset in labelled_arrows:
            _arrow(ax, start, end, label, offset)
        fig.suptitle(
            "BeNeDiff (reconstructed) as configured: behaviour-informed latents → linear "
            "encoder → guided behaviour videos",
            y=0.995,
            fontsize=9.5,
        )
        stamp_preset(fig, preset)
    return fig


# ---------------------------------------------------------------- fig3: latents


def _trace_axes(ax: Axes, title: str, ylabel: str, bin_s: float, n_bins: int) -> np.ndarray:
    """Set up a time-series panel; returns the time axis in s."""
    ax.set_title(title, loc="left")
    ax.set_ylabel(ylabel)
    return np.arange(n_bins) * bin_s


def plot_fig3_latents(
    regions: Sequence[RegionLVMs],
    session: str,
    bin_size_s: float,
    preset: str,
    components: int = 2,
    *,
    data_label: str,
) -> Figure:
    """Per region: MI of BeNeDiff latents with labels, tied factors vs labels on a test trial,
    and single-trial reconstructions of `components` components (truth, supervised without
    TC, BeNeDiff)."""
    n_rows = len(regions)
    mi_methods = [m for m in ("benediff", "supervised_no_tc") if m in regions[0].methods]
    n_mi = len(mi_methods)
    with style_context():
        fig, axes = plt.subplots(
            n_rows,
            n_mi + 1 + components,
            figsize=(12, 1.75 * n_rows + 0.6),
            gridspec_kw={"width_ratios": [0.55] * n_mi + [1.2] + [1] * components},
            squeeze=False,
        )
        label_colors = categorical_colors(len(regions[0].label_names))
        trial = int(regions[0].indices("test")[0])
        for row, fitted in zip(axes, regions, strict=True):
            for ax, method in zip(row, mi_methods, strict=False):
                _mi_panel(ax, fitted, method)
            _factor_panel(row[n_mi], fitted, trial, bin_size_s, label_colors)
            for j, ax in enumerate(row[n_mi + 1 :]):
                _reconstruction_panel(ax, fitted, trial, j, bin_size_s)
        for ax in axes[-1, n_mi:]:
            ax.set_xlabel("time (s)")
        handles = [plt.Line2D([], [], color=c, lw=1.2) for c in label_colors]
        handles += [
            plt.Line2D([], [], color="0.3", lw=1.2),
            plt.Line2D([], [], color="0.3", lw=1.2, ls="--"),
        ]
        names = [*regions[0].label_names, "label", "BeNeDiff gain·z_k"]
        fig.legend(
            handles, names, loc="upper center", bbox_to_anchor=(0.33, 0.995), ncol=5, fontsize=7
        )
        recon = [plt.Line2D([], [], color=COLORS["data"], lw=1.4)]
        recon += [
            plt.Line2D([], [], color=METHOD_COLORS[m], lw=1.1)
            for m in METHOD_COLORS
            if m in regions[0].methods
        ]
        recon_names = ["ground truth"] + [
            METHOD_LABELS[m] for m in METHOD_COLORS if m in regions[0].methods
        ]
        fig.legend(
            recon, recon_names, loc="upper center", bbox_to_anchor=(0.78, 0.995), ncol=3, fontsize=7
        )
        title = (
            f"BeNeDiff latent factors per region, {data_label} ({session}; first seed, "
            f"test trial {trial}); MI maps: BeNeDiff and supervised without TC"
        )
        _finish_grid(fig, axes, title, 0.965, preset)
    return fig


def _finish_grid(fig: Figure, axes: np.ndarray, title: str, y: float, preset: str) -> None:
    """Suptitle at height `y`, tight layout below it, panel letters on the first row, stamp."""
    fig.suptitle(title, y=y, fontsize=9.5)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    label_panels(list(axes[0]))
    stamp_preset(fig, preset)


def _mi_panel(ax: Axes, fitted: RegionLVMs, method: str = "benediff") -> None:
    """Mutual information (nats) of each latent dim of `method` with each label, all trials."""
    latents = fitted.latents[method][0]
    codes = latents.reshape(-1, latents.shape[-1])
    labels = fitted.labels.reshape(-1, fitted.labels.shape[-1])
    rows = np.isfinite(labels).all(axis=1)
    mi = mutual_information_matrix(codes[rows], labels[rows])
    image = ax.imshow(mi.T, cmap=SEQUENTIAL_CMAP, vmin=0, aspect="auto")
    n_tied = len(fitted.label_names)
    ax.set_xticks(
        range(mi.shape[0]),
        [f"z{i}" if i < n_tied else f"u{i - n_tied}" for i in range(mi.shape[0])],
        fontsize=6,
    )
    ax.set_yticks(range(mi.shape[1]), fitted.label_names, fontsize=6)
    short = {"benediff": "BeNeDiff", "supervised_no_tc": "no TC"}.get(method, method)
    ax.set_title(f"{fitted.region}: MI, {short}", loc="left", fontsize=7)
    plt.colorbar(image, ax=ax, fraction=0.08, pad=0.03).ax.tick_params(labelsize=5.5)


def _factor_panel(
    ax: Axes, fitted: RegionLVMs, trial: int, bin_s: float, colors: Sequence[str]
) -> None:
    """Labels (solid) and the BeNeDiff tied factors scaled by their gains (dashed)."""
    predicted = fitted.behavior["benediff"][trial]
    time = _trace_axes(
        ax, f"{fitted.region}: tied factors vs labels", "z-scored", bin_s, predicted.shape[0]
    )
    for k, color in enumerate(colors):
        ax.plot(time, fitted.labels[trial, :, k], color=color, lw=1.2)
        ax.plot(time, predicted[:, k], color=color, lw=1.2, ls="--")


def _reconstruction_panel(
    ax: Axes, fitted: RegionLVMs, trial: int, component: int, bin_s: float
) -> None:
    """One component of one test trial: truth and each method's posterior-mean reconstruction."""
    truth = fitted.signals[trial, :, component]
    time = _trace_axes(ax, f"{fitted.region}: component {component}", "z-scored", bin_s, truth.size)
    ax.plot(time, truth, color=COLORS["data"], lw=1.4)
    for method, color in METHOD_COLORS.items():
        if method in fitted.reconstruction:
            ax.plot(time, fitted.reconstruction[method][trial, :, component], color=color, lw=1.1)


# ---------------------------------------------------------------- fig4: guided videos


def frame_strip(video: np.ndarray, n_frames: int) -> np.ndarray:
    """One video (T, V, H, W) as a uint8 strip of `n_frames` evenly spaced frames, views side by
    side, separated by grey lines: (H, n_frames·(V·(W+1)+1))."""
    t, v, h, w = video.shape
    picks = np.linspace(0, t - 1, min(n_frames, t)).round().astype(int)
    tiles = []
    for i in picks:
        views = [np.pad(video[i, j], ((0, 0), (0, 1)), constant_values=SEPARATOR) for j in range(v)]
        tiles.append(np.pad(np.hstack(views), ((0, 0), (0, 1)), constant_values=SEPARATOR))
    return np.hstack(tiles)


def difference_strip(
    guided: np.ndarray, unguided: np.ndarray, n_frames: int, bound: float
) -> np.ndarray:
    """RGB strip (H, W, 3) of guided − unguided frames on a diverging map (±`bound` grey
    levels at the ends, white = no change), laid out as `frame_strip`; separators grey."""
    diff = frame_strip(guided, n_frames).astype(float) - frame_strip(unguided, n_frames)
    rgb = plt.get_cmap(DIFF_CMAP)(0.5 + 0.5 * np.clip(diff / bound, -1, 1))[..., :3]
    separators = frame_strip(np.zeros_like(guided), n_frames) == SEPARATOR
    rgb[separators] = SEPARATOR / 255
    return rgb


def _strip_block(
    unguided: np.ndarray, guided: Sequence[np.ndarray], n_frames: int, bound: float
) -> np.ndarray:
    """RGB block: the unguided strip, then per activated factor its guided strip and the
    guided − unguided difference strip, separated by grey rows."""

    def grey(strip: np.ndarray) -> np.ndarray:
        return np.repeat(strip[..., None] / 255.0, 3, axis=-1)

    strips = [grey(frame_strip(unguided, n_frames))]
    for video in guided:
        strips += [
            grey(frame_strip(video, n_frames)),
            difference_strip(video, unguided, n_frames, bound),
        ]
    padded = [np.pad(s, ((0, 1), (0, 0), (0, 0)), constant_values=SEPARATOR / 255) for s in strips]
    return np.vstack(padded)


def plot_fig4_guided_videos(
    samples: GuidedSamples,
    label_names: Sequence[str],
    specificity: Mapping[tuple[str, str], float],
    regions: Sequence[str],
    reader: str,
    session: str,
    n_frames: int,
    bin_size_s: float,
    preset: str,
    sample_index: int = 0,
    *,
    data_label: str,
) -> Figure:
    """Per region: frame strips of an unguided video, its guided twins activating each factor
    and the guided − unguided differences; every label's change read from them; and a map of
    the specificity of each (region, factor)."""
    method, seed = samples.frame_groups[0][:2]
    bound = _difference_bound(samples, regions, len(label_names), sample_index)
    with style_context():
        rows_per_region = 1 + 2 * len(label_names)
        height = 0.3 * rows_per_region * len(regions) + 2.6
        fig = plt.figure(figsize=(11, height))
        grid = fig.add_gridspec(
            len(regions) + 1,
            2,
            height_ratios=[rows_per_region * 0.3] * len(regions) + [1.5],
            width_ratios=[2.1, 1],
            hspace=0.45,
            wspace=0.22,
            top=1 - 1.0 / height,  # room for the suptitle and panel b's legend above the titles
            bottom=0.35 / height,
            left=0.1,
            right=0.95,
        )
        colors = categorical_colors(len(label_names))
        first = []
        for i, region in enumerate(regions):
            strip = fig.add_subplot(grid[i, 0])
            traces = fig.add_subplot(grid[i, 1])
            _strip_panel(
                strip, samples, label_names, region, n_frames, bin_size_s, sample_index, bound
            )
            _label_trace_panel(
                traces, samples, label_names, region, reader, bin_size_s, sample_index, colors
            )
            if i == 0:
                first = [strip, traces]
        traces.set_xlabel("time (s)")
        handles = [plt.Line2D([], [], color=c, lw=1.3) for c in colors]
        fig.legend(
            handles,
            [f"Δ {n}" for n in label_names],
            loc="upper right",
            bbox_to_anchor=(0.99, 1 - 0.3 / height),
            ncol=len(label_names),
            fontsize=6.5,
            title="panel b: label change (guided − unguided)",
            title_fontsize=6.5,
        )
        heat = fig.add_subplot(grid[len(regions), :])
        _specificity_panel(heat, specificity, regions, label_names)
        fig.suptitle(
            f"Guided behaviour videos, {data_label} ({session}): unguided sample "
            f"{sample_index} and its guided twins (same initial noise), "
            f"{METHOD_LABELS.get(method, method)} latents, LVM seed {seed}",
            x=0.01,
            ha="left",
            y=0.995,
            fontsize=9.5,
        )
        fig.text(
            0.01,
            0.003,
            f"labels read from the generated frames by the {reader} reader; "
            f"difference images: {DIFF_CMAP} over ±{bound:.0f} grey levels "
            "(red: brighter when guided)",
            fontsize=6.5,
            color="0.45",
        )
        label_panels([*first, heat])
        stamp_preset(fig, preset)
    return fig


def _difference_bound(
    samples: GuidedSamples, regions: Sequence[str], n_labels: int, sample_index: int
) -> float:
    """Largest |guided − unguided| grey level over the shown videos (at least 1)."""
    unguided = samples.unguided_frames[sample_index].astype(float)
    diffs = [
        np.abs(samples.frames[frame_group(samples, r, k)][sample_index] - unguided).max()
        for r in regions
        for k in range(n_labels)
    ]
    return max(1.0, float(max(diffs)))


def frame_group(samples: GuidedSamples, region: str, dim: int) -> int:
    """Index into samples.frames of the shown (method, seed)'s (region, latent dim) group."""
    method, seed = samples.frame_groups[0][:2]
    return samples.frame_groups.index((method, seed, region, dim))


def _strip_panel(
    ax: Axes,
    samples: GuidedSamples,
    label_names: Sequence[str],
    region: str,
    n_frames: int,
    bin_s: float,
    sample_index: int,
    bound: float,
) -> None:
    """The frame-strip block of one region, with row labels and frame times."""
    guided = [
        samples.frames[frame_group(samples, region, k)][sample_index]
        for k in range(len(label_names))
    ]
    unguided = samples.unguided_frames[sample_index]
    block = _strip_block(unguided, guided, n_frames, bound)
    ax.imshow(block, interpolation="nearest", aspect="equal")
    row_height = unguided.shape[2] + 1
    names = ["unguided"]
    for name in label_names:
        names += [f"activate {name}", "guided − unguided"]
    ax.set_yticks([row_height * (i + 0.5) for i in range(len(names))], names, fontsize=6)
    t = unguided.shape[0]
    picks = np.linspace(0, t - 1, min(n_frames, t)).round().astype(int)
    tile = block.shape[1] / len(picks)
    ax.set_xticks(
        [tile * (i + 0.5) for i in range(len(picks))],
        [f"{p * bin_s:.2f} s" for p in picks],
        fontsize=6,
    )
    ax.set_title(f"{region}: frames (view 0 | view 1)", loc="left")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _label_trace_panel(
    ax: Axes,
    samples: GuidedSamples,
    label_names: Sequence[str],
    region: str,
    reader: str,
    bin_s: float,
    sample_index: int,
    colors: Sequence[str],
) -> None:
    """For each activated factor (one band, top to bottom): the change of every label,
    guided − unguided twin, so off-target movement shows as well as the target's."""
    method, seed = samples.frame_groups[0][:2]
    unguided = samples.unguided_labels[reader][sample_index]
    time = np.arange(unguided.shape[0]) * bin_s
    changes = [
        samples.labels[reader][samples.groups.index((method, seed, region, k)), sample_index]
        - unguided
        for k in range(len(label_names))
    ]
    step = max(0.5, 2.2 * max(float(np.abs(c).max()) for c in changes))
    for k, change in enumerate(changes):
        offset = -k * step
        ax.axhline(offset, color="0.8", lw=0.6)
        for j, color in enumerate(colors):
            ax.plot(
                time,
                offset + change[:, j],
                color=color,
                lw=1.5 if j == k else 0.9,
                alpha=1.0 if j == k else 0.8,
            )
    ax.set_yticks(
        [-k * step for k in range(len(label_names))], [f"act. {n}" for n in label_names], fontsize=6
    )
    ax.set_ylabel(f"Δ label (offset; 1 band = {step:.2g})", fontsize=6.5)
    ax.set_title(f"{region}: label change, guided − unguided", loc="left", fontsize=7.5)
    ax.tick_params(labelsize=6)


def _specificity_panel(
    ax: Axes,
    specificity: Mapping[tuple[str, str], float],
    regions: Sequence[str],
    label_names: Sequence[str],
) -> None:
    """Heat map of log2 specificity per (activated factor, region), values annotated."""
    values = np.array([[specificity[(r, f)] for r in regions] for f in label_names])
    logs = np.log2(values)
    bound = max(0.5, float(np.nanmax(np.abs(logs))))
    image = ax.imshow(logs, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    annotate_cells(ax, values, np.abs(logs) > 0.6 * bound, fontsize=7)
    ax.set_xticks(range(len(regions)), regions)
    ax.set_yticks(range(len(label_names)), [f"activate {f}" for f in label_names])
    ax.set_title(
        "specificity = Var_t ratio (guided/unguided) of the activated factor's label "
        "÷ mean ratio of the other labels (mean over LVM seeds)",
        loc="left",
    )
    bar = plt.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label("log2 specificity")


GIF_HEADER = 28  # pixels above the videos: title, row legend and the preset mark


def write_guided_gif(
    path: str | Path,
    unguided: np.ndarray,
    guided: np.ndarray,
    title: str,
    scale: int,
    fps: int,
    *,
    preset: str,
) -> None:
    """Animated GIF: a header, unguided videos (top row) and their guided twins (bottom).

    unguided and guided are uint8 (n, T, V, H, W); each cell shows the views side by side.
    The header holds `title` (the script puts the data label in it), the row legend and, in
    the top-right corner of every frame, '<preset> preset'.
    """
    if unguided.shape != guided.shape or unguided.ndim != 5:
        raise ValueError(
            f"unguided {unguided.shape} and guided {guided.shape} must be equal "
            "(n, T, V, H, W) arrays"
        )
    mark = preset_mark(preset)
    frames = []
    for t in range(unguided.shape[1]):
        rows = [
            np.hstack([frame_strip(video[t : t + 1], 1) for video in videos])
            for videos in (unguided, guided)
        ]
        grid = np.vstack([np.pad(r, ((0, 1), (0, 0)), constant_values=SEPARATOR) for r in rows])
        image = Image.fromarray(grid).resize(
            (grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST
        )
        canvas = Image.new("L", (image.width, image.height + GIF_HEADER), color=0)
        canvas.paste(image, (0, GIF_HEADER))
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 2), title, fill=255)
        draw.text(
            (4, 15), f"top: unguided, bottom: guided   frame {t + 1}/{unguided.shape[1]}", fill=200
        )
        draw.text((canvas.width - 4, 2), mark, fill=170, anchor="ra")
        frames.append(canvas)
    with atomic_path(path) as tmp:
        frames[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=int(round(1000 / fps)),
            loop=0,
        )


# ---------------------------------------------------------------- fig5: cross-hemisphere


def plot_fig5_cross_hemisphere(
    results: Mapping[str, Sequence[Sequence[CrossHemisphere]]],
    session: str,
    bin_size_s: float,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Per region: paw factors left vs right with the affine map, affine R², CCA trajectories,
    canonical correlations. `results[session][seed_index][region_index]`."""
    examples = results[session][0]
    sessions = list(results)
    with style_context():
        fig, axes = plt.subplots(
            len(examples),
            4,
            figsize=(11, 2.3 * len(examples) + 0.5),
            gridspec_kw={"width_ratios": [1.5, 0.8, 1, 0.9]},
            squeeze=False,
        )
        for i, (row, example) in enumerate(zip(axes, examples, strict=True)):
            per_session = [[seed[i] for seed in results[s]] for s in sessions]
            _paw_panel(row[0], example, bin_size_s)
            _affine_panel(row[1], per_session, sessions, example.region)
            _cca_panel(row[2], example, bin_size_s)
            _correlation_panel(row[3], per_session, sessions, example.region)
        axes[-1, 0].set_xlabel("time (s)")
        title = (
            f"Cross-hemisphere paw factors (BeNeDiff latents), {data_label}: affine map "
            f"left → right and CCA of the paw factors;\ntraces from {session}, first "
            f"seed, test trial {examples[0].example_trial}"
        )
        _finish_grid(fig, axes, title, 0.995, preset)
    return fig


def _paw_panel(ax: Axes, example: CrossHemisphere, bin_s: float) -> None:
    """Paw factors of one trial: left, right, and the affine map of left onto right."""
    time = np.arange(example.left_paw.shape[0]) * bin_s
    colors = categorical_colors(len(example.paw_labels))
    for k, (name, color) in enumerate(zip(example.paw_labels, colors, strict=True)):
        ax.plot(time, example.left_paw[:, k], color=color, lw=1.0, ls=":", label=f"{name} left")
        ax.plot(time, example.right_paw[:, k], color=color, lw=1.4, label=f"{name} right")
        ax.plot(
            time,
            example.mapped_paw[:, k],
            color=color,
            lw=1.0,
            ls="--",
            label=f"{name} affine(left)",
        )
    ax.set_ylabel("latent (a.u.)")
    ax.set_title(f"{example.region}: paw factors, trial {example.example_trial}", loc="left")
    ax.legend(fontsize=6, ncol=1, loc="upper left")


def _affine_panel(
    ax: Axes, per_session: Sequence[Sequence[CrossHemisphere]], sessions: Sequence[str], region: str
) -> None:
    """Held-out R² of the affine map per session: mean ± std over seeds, seeds as dots."""
    for i, seeds in enumerate(per_session):
        values = np.array([r.affine_r2 for r in seeds])
        ax.bar(i, values.mean(), yerr=values.std(), color=COLORS["spread"], capsize=2)
        ax.plot(np.full(values.size, i), values, "o", color=COLORS["data"], ms=2.5)
    ax.set_xticks(range(len(sessions)), sessions, fontsize=6.5)
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
    ax.set_ylabel("held-out R²")
    ax.set_title(f"{region}: affine L→R", loc="left")


def _cca_panel(ax: Axes, example: CrossHemisphere, bin_s: float) -> None:
    """Canonical variates of the example trial's paw factors, left and right: CC1 vs CC2 with
    start/end marked, or CC1 over time when there is one component."""
    one = example.left_canonical.shape[1] == 1
    for data, name, color in (
        (example.left_canonical, "left", COLORS["truth"]),
        (example.right_canonical, "right", COLORS["model"]),
    ):
        x = np.arange(len(data)) * bin_s if one else data[:, 0]
        y = data[:, 0] if one else data[:, 1]
        ax.plot(x, y, color=color, lw=1.1, label=name)
        ax.plot(x[0], y[0], "o", color=color, ms=3.5)
        ax.plot(x[-1], y[-1], "s", color=color, ms=3.5)
    ax.set_xlabel("time (s)" if one else "CC1")
    ax.set_ylabel("CC1" if one else "CC2")
    ax.set_title(
        f"{example.region}: CCA of paw factors, trial {example.example_trial} (○ start, □ end)",
        loc="left",
        fontsize=7,
    )
    ax.legend(fontsize=6)


def _correlation_panel(
    ax: Axes, per_session: Sequence[Sequence[CrossHemisphere]], sessions: Sequence[str], region: str
) -> None:
    """Held-out canonical correlations per component and session (mean over seeds)."""
    colors = categorical_colors(len(sessions))
    width = 0.8 / len(sessions)
    for i, (seeds, name) in enumerate(zip(per_session, sessions, strict=True)):
        values = np.array([r.canonical_correlations for r in seeds])
        x = np.arange(values.shape[1]) + (i - (len(sessions) - 1) / 2) * width
        ax.bar(
            x,
            values.mean(axis=0),
            width,
            yerr=values.std(axis=0),
            color=colors[i],
            capsize=2,
            label=name,
        )
    ax.set_xticks(range(values.shape[1]), [f"CC{k + 1}" for k in range(values.shape[1])])
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("held-out correlation")
    ax.set_title(f"{region}: canonical corr.", loc="left")
    ax.legend(fontsize=6, loc="upper center", ncol=len(sessions), handlelength=1.0)
