"""GNOCCHI figures (reconstructed inventory, reference/gnocchi.md §2): one function per figure,
`plot_figN_<name>` after the inventory stem, returning a Figure that the rule script saves
(`neurodiff.plots.style.save_figure`).

Inputs are the evaluation arrays of one seed (`EvalArrays`, the npz written by the evaluation
rule, keys "<model>/<name>" per model plus shared keys) and the metrics of every seed
(`SeedMetrics`: {model: {metric: [value per seed]}}), so titles quote mean ± std over seeds.
The arrays do not say where the data came from: the script passes `data_label`
(`neurodiff.plots.style.dataset_title` of the evaluated dataset), which every title names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from neurodiff.plots.style import (
    COLORS,
    RATE_CMAP,
    SEQUENTIAL_CMAP,
    add_angle_colorbar,
    angle_colors,
    annotate_cells,
    categorical_colors,
    label_panels,
    stamp_preset,
    style_context,
)
from neurodiff.tables import format_values

MODELS = ("gnocchi", "lfads")
MODEL_LABELS = {"gnocchi": "GNOCCHI", "lfads": "LFADS"}
MODEL_COLORS = {
    "gnocchi": COLORS["model"],
    "lfads": "#009E73",
    "data": COLORS["data"],
    "truth": "0.25",
    "pca_trials": "#CC79A7",
    "nearest": "#E69F00",
}
REFERENCE_LABELS = {
    "data": "ceiling: data split half",
    "truth": "ceiling: true factors",
    "pca_trials": "baseline: PCA of trials",
    "nearest": "baseline: nearest seen condition",
}
# the normalised-MI matrices score two factors: the reach angle (one discrete factor) and the third
ANGLE, THIRD = 0, 1
EvalArrays = Mapping[str, np.ndarray]
SeedMetrics = dict[str, dict[str, list[float]]]


def load_seed_metrics(paths: Iterable[str | Path]) -> SeedMetrics:
    """{model: {metric: [value per seed]}} from the metrics JSON files of one dataset."""
    out: SeedMetrics = {}
    for path in paths:
        for model, values in json.loads(Path(path).read_text())["models"].items():
            for metric, value in values.items():
                out.setdefault(model, {}).setdefault(metric, []).append(float(value))
    return out


def seed_summary(metrics: SeedMetrics, model: str, metric: str) -> str:
    """'mean ± std' of one metric over seeds (`neurodiff.tables.format_values`), or 'n/a'."""
    return format_values(metrics.get(model, {}).get(metric, []))


def _n_seeds(metrics: SeedMetrics) -> int:
    """Number of seeds behind the metrics."""
    return max((len(v) for m in metrics.values() for v in m.values()), default=0)


# ---------------------------------------------------------------- shared panels


def _mi_heatmap(
    ax: Axes, normalised_mi: np.ndarray, factor_names: Sequence[str], title: str
) -> None:
    """Heatmap of I(code axis; factor)/H(factor), annotated."""
    image = ax.imshow(normalised_mi, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1, aspect="auto")
    annotate_cells(ax, normalised_mi, normalised_mi < 0.6, fontsize=6.5)
    ax.set_xticks(range(len(factor_names)), factor_names)
    ax.set_yticks(
        range(normalised_mi.shape[0]), [f"c{i + 1}" for i in range(normalised_mi.shape[0])]
    )
    ax.set_title(title)
    bar = plt.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("I(c; v) / H(v)", fontsize=6.5, labelpad=2)


def _scatter_codes(
    ax: Axes,
    codes: np.ndarray,
    axes: tuple[int, int],
    colors: Any,
    rows: np.ndarray,
    marker: str = "o",
    size: float = 9.0,
    edge: str | None = None,
) -> None:
    """Scatter two code axes of the given trials."""
    i, j = axes
    ax.scatter(
        codes[rows, i],
        codes[rows, j],
        c=colors,
        s=size,
        marker=marker,
        linewidths=0.6,
        edgecolors=edge if edge else "none",
        alpha=0.9,
    )
    ax.set_xlabel(f"c{i + 1}")
    ax.set_ylabel(f"c{j + 1}")


def _scatter_unseen(
    ax: Axes,
    codes: np.ndarray,
    axes: tuple[int, int],
    arrays: EvalArrays,
    unseen: np.ndarray,
    size: float,
) -> None:
    """Scatter the unseen-condition trials: black-edged X markers coloured by reach angle."""
    colors = angle_colors(arrays["reach_angle"][unseen])
    _scatter_codes(ax, codes, axes, colors, unseen, marker="X", size=size, edge="k")


def _finish(
    fig: Figure, title: str, panels: Iterable[Axes], preset: str, fontsize: float = 7.5
) -> Figure:
    """Suptitle, panel letters and preset stamp; returns the figure."""
    fig.suptitle(title, fontsize=fontsize)
    label_panels(list(panels))
    stamp_preset(fig, preset)
    return fig


def _unseen_handle() -> Line2D:
    """Legend handle of the unseen-condition trials (grey X with a black edge)."""
    return Line2D(
        [],
        [],
        marker="X",
        ls="",
        color="0.5",
        markeredgecolor="k",
        markersize=5,
        label="unseen condition",
    )


def _unseen_legend(ax: Axes) -> None:
    """Legend separating seen evaluation trials from unseen-condition trials."""
    handles = [
        Line2D([], [], marker="o", ls="", color="0.5", markersize=4, label="seen (eval)"),
        _unseen_handle(),
    ]
    ax.legend(handles=handles, loc="best", fontsize=6, frameon=True, framealpha=0.8)


# ---------------------------------------------------------------- figure 1


def _box(
    ax: Axes, xy: tuple[float, float], size: tuple[float, float], text: str, color: str
) -> None:
    """A rounded box with centred text in axes coordinates."""
    ax.add_patch(
        FancyBboxPatch(
            xy,
            *size,
            boxstyle="round,pad=0.01",
            fc=color,
            ec="0.3",
            lw=0.8,
            alpha=0.9,
            transform=ax.transAxes,
        )
    )
    ax.text(
        xy[0] + size[0] / 2,
        xy[1] + size[1] / 2,
        text,
        ha="center",
        va="center",
        fontsize=6.8,
        transform=ax.transAxes,
        wrap=True,
    )


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "") -> None:
    """An arrow between two points in axes coordinates, optionally labelled at its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=9,
            lw=0.9,
            color="0.25",
            transform=ax.transAxes,
        )
    )
    if text:
        ax.text(
            (start[0] + end[0]) / 2,
            (start[1] + end[1]) / 2 + 0.025,
            text,
            fontsize=6.3,
            ha="center",
            va="bottom",
            transform=ax.transAxes,
            color="0.25",
        )


def schematic_text(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The text of every schematic box, from the configured sizes."""
    model, sampling = cfg["gnocchi"]["model"], cfg["gnocchi"]["sampling"]
    widths = ", ".join(str(model["channels"] * m) for m in model["channel_mult"])
    schedule = model["schedule"]
    lfads = cfg["lfads"]["model"]
    filt = (
        f"+ per-neuron filter ({model['filter_kernel']} taps)"
        if model["filter_kernel"]
        else "no per-neuron filter"
    )
    return {
        "encoder": (
            f"encoder ({model['encoder_kind']})\n{model['encoder_layers']} layers × "
            f"{model['encoder_hidden']}, k={model['encoder_kernel']}\nmean-pool → Linear"
        ),
        "code": f"code $c \\in \\mathbb{{R}}^{{{cfg['code_dim']}}}$\n(deterministic)",
        "unet": (
            f"1-D U-Net over time, neurons = channels\nwidths [{widths}], "
            f"{model['res_blocks']} ResBlock/level, GN({model['groups']})\n"
            f"AdaGN([emb(t), emb(c)]), attention: {'yes' if model['attention'] else 'no'}"
            f"\n{filt}; predicts v"
        ),
        "noise": (
            f"x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε\nT = {schedule['num_train_timesteps']}, "
            f"β {schedule['beta_start']:g}→{schedule['beta_end']:g}"
        ),
        "loss": (
            f"L = ‖ε̂ − ε‖² + {model['recon_weight']:g}·‖x̂₀ − x₀‖² (same t)\n"
            f"+ {model['mmd_weight']:g}·MMD²(c, N(0, I)) [{model['mmd_kernel']}, "
            "normalised once]" + (f"\n+ {model['kl_weight']:g}·KL" if model["kl_weight"] else "")
        ),
        "generate": (
            "generation (unseen conditions, traversals):\n"
            "c = linear map of the factors, or one axis moved\n"
            "x_T ~ N(0, I), or reverse DDIM of a trial (with c)\n"
            f"DDIM, {sampling['ddim_steps']} steps, η = {sampling['eta']:g} → x̂₀\n"
            "inverse transform → rates ≥ 0 → Poisson spikes"
        ),
        "lfads": (
            f"comparison: LFADS (IC {lfads['ic_dim']}, generator {lfads['gen_dim']}, "
            f"{lfads['factor_dim']} factors, controller {lfads['co_dim']})\n"
            f"code = g₀ posterior mean on its first {cfg['code_dim']} principal axes"
        ),
    }


def _heatmap(fig: Figure, rect: Sequence[float], x: np.ndarray, title: str) -> None:
    """A small neurons × time heatmap at `rect` (figure coordinates)."""
    ax = fig.add_axes(rect)
    ax.imshow(x, aspect="auto", cmap=RATE_CMAP, interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xlabel("time bin", fontsize=6)
    ax.set_ylabel("neuron", fontsize=6)
    ax.tick_params(labelsize=5)


@style_context()
def plot_fig1_schematic(
    cfg: Mapping[str, Any],
    example: np.ndarray,
    noised: np.ndarray,
    shapes: Mapping[str, str],
    preset: str,
) -> Figure:
    """Fig. 1: encoder → c → AdaGN-conditioned denoiser; losses; DDIM generation (config sizes).

    `example` and `noised` are one transformed trial (N, T) and its x_t at the middle step;
    `shapes` maps the data label (`style.dataset_title`) → "N neurons × T bins of B ms".
    """
    text = schematic_text(cfg)
    fig = plt.figure(figsize=(7.2, 4.6))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    _heatmap(fig, [0.04, 0.60, 0.15, 0.26], example, "x₀: transformed trial")
    _heatmap(fig, [0.04, 0.18, 0.15, 0.26], noised, "x_t (t = T/2)")
    _box(ax, (0.27, 0.70), (0.17, 0.15), text["encoder"], "#E8F1FA")
    _box(ax, (0.50, 0.72), (0.13, 0.11), text["code"], "#FCE9DC")
    _box(ax, (0.27, 0.25), (0.34, 0.22), text["unet"], "#EAF5EE")
    _box(ax, (0.27, 0.50), (0.17, 0.12), text["noise"], "#F2F2F2")
    _box(ax, (0.69, 0.25), (0.29, 0.22), text["loss"], "#FFF5D6")
    _box(ax, (0.66, 0.62), (0.32, 0.25), text["generate"], "#F3E8F3")
    _box(ax, (0.27, 0.05), (0.71, 0.085), text["lfads"], "#EDEDED")  # clear of the stamp
    _arrow(ax, (0.20, 0.78), (0.27, 0.78))
    _arrow(ax, (0.44, 0.78), (0.50, 0.78))
    _arrow(ax, (0.20, 0.66), (0.27, 0.58), "x₀")
    _arrow(ax, (0.27, 0.53), (0.20, 0.42))
    _arrow(ax, (0.20, 0.30), (0.27, 0.33), "x_t")
    _arrow(ax, (0.565, 0.72), (0.565, 0.47), "c")
    _arrow(ax, (0.61, 0.36), (0.69, 0.36), "v̂ → ε̂, x̂₀")
    _arrow(ax, (0.63, 0.78), (0.66, 0.78))
    ax.text(
        0.02,
        0.965,
        "GNOCCHI (reconstructed): InfoDiffusion on neural time series",
        fontsize=9,
        fontweight="bold",
        transform=ax.transAxes,
    )
    ax.text(
        0.02,
        0.925,
        "data: " + "; ".join(f"{k} ({v})" for k, v in shapes.items()),
        fontsize=6.8,
        transform=ax.transAxes,
        color="0.3",
    )
    stamp_preset(fig, preset)
    return fig


# ---------------------------------------------------------------- figure 2 and 4 (latents)


def _title_scores(metrics: SeedMetrics, model: str) -> str:
    """Three title lines: the model's codes, its MIG and its DCI-D (mean ± std over seeds)."""
    return (
        f"{MODEL_LABELS[model]} codes by reach angle\n"
        f"MIG {seed_summary(metrics, model, 'mig')}\n"
        f"DCI-D {seed_summary(metrics, model, 'dci_d')}"
    )


def _synthetic_truth_panels(axes: Sequence[Axes], arrays: EvalArrays) -> None:
    """Hand paths of seen and unseen conditions; the factor design."""
    ax = axes[0]
    angles = {int(c): a for c, a in zip(arrays["condition"], arrays["reach_angle"], strict=True)}
    for label, path in zip(arrays["train_labels"], arrays["train_trajectory"], strict=True):
        ax.plot(path[:, 0] * 100, path[:, 1] * 100, color=angle_colors(angles[int(label)]), lw=0.9)
    for path in arrays["true_trajectory"]:
        ax.plot(path[:, 0] * 100, path[:, 1] * 100, color="k", ls="--", lw=1.1)
    ax.set_aspect("equal")
    ax.set_xlabel("x (cm)")
    ax.set_ylabel("y (cm)")
    ax.set_title("true hand paths (condition means)\ndashed: unseen angle")
    ax = axes[1]
    factors = arrays["factors"]
    unseen = np.zeros(len(factors), dtype=bool)
    unseen[arrays["unseen_idx"]] = True
    degrees = np.degrees(np.mod(arrays["reach_angle"], 2 * np.pi))
    for flag, marker, label in ((False, "o", "seen"), (True, "X", "unseen (test only)")):
        rows = unseen == flag
        ax.scatter(
            degrees[rows],
            factors[rows, 2],
            c=angle_colors(arrays["reach_angle"][rows]),
            marker=marker,
            s=30,
            edgecolors="k" if flag else "none",
            label=label,
        )
    ax.set_xlabel("reach angle (deg)")
    ax.set_ylabel("peak speed (m/s)")
    ax.set_title("factors: angle × speed")
    ax.legend(fontsize=6, loc="center", bbox_to_anchor=(0.5, 0.72), framealpha=0.9, frameon=True)


def _latent_row(
    axes: Sequence[Axes],
    arrays: EvalArrays,
    model: str,
    third_name: str,
    metrics: SeedMetrics,
    fig: Figure,
) -> None:
    """Codes coloured by angle and by the third factor, and the MI heatmap of one model."""
    codes, mi = arrays[f"{model}/codes"], arrays[f"{model}/normalised_mi"]
    factors = arrays["factors"]
    seen, unseen = arrays["eval_idx"], arrays["unseen_idx"]
    angle_axes = (0, 1)  # the same aligned axes (principal axes 1, 2) for both models
    _scatter_codes(axes[0], codes, angle_axes, angle_colors(arrays["reach_angle"][seen]), seen)
    _scatter_unseen(axes[0], codes, angle_axes, arrays, unseen, size=22)
    axes[0].set_title(_title_scores(metrics, model), fontsize=7)
    _unseen_legend(axes[0])
    third_axis = 2 if codes.shape[1] > 2 else 1  # aligned axis 3, the same for both models
    partner = 0
    rows = np.concatenate([seen, unseen])
    norm = Normalize(factors[rows, 2].min(), factors[rows, 2].max())
    unseen_style = {"s": 22, "marker": "X", "edgecolors": "k", "linewidths": 0.6}
    scatters = [
        axes[1].scatter(
            codes[trials, partner],
            codes[trials, third_axis],
            c=factors[trials, 2],
            cmap=SEQUENTIAL_CMAP,
            norm=norm,
            **style,
        )
        for trials, style in ((seen, {"s": 9}), (unseen, unseen_style))
    ]
    axes[1].set_xlabel(f"c{partner + 1}")
    axes[1].set_ylabel(f"c{third_axis + 1} (MI/H with {third_name}: {mi[third_axis, THIRD]:.2f})")
    axes[1].set_title(f"{MODEL_LABELS[model]} codes by {third_name}")
    fig.colorbar(scatters[0], ax=axes[1], shrink=0.8, label=third_name)
    _mi_heatmap(
        axes[2], mi, list(arrays["mi_factor_names"]), f"{MODEL_LABELS[model]}: normalised MI"
    )


@style_context()
def plot_fig2_synthetic_latents(
    arrays: EvalArrays,
    metrics: SeedMetrics,
    seed: int,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Fig. 2: GNOCCHI codes vs LFADS latents on synthetic reaching, coloured by each factor."""
    fig, axes = plt.subplots(3, 3, figsize=(7.6, 7.8), layout="constrained")
    _synthetic_truth_panels(axes[0], arrays)
    _metric_bars(
        axes[0, 2],
        metrics,
        [
            ("mig", "MIG"),
            ("dci_d", "DCI-D"),
            ("sap", "SAP"),
            ("r2_angle", "R² angle"),
            ("r2_speed", "R² speed"),
        ],
        references=("truth", "pca_trials"),
    )
    axes[0, 2].set_title(
        f"disentanglement, mean ± s.d.\nover {_n_seeds(metrics)} seeds", fontsize=7
    )
    for row, model in enumerate(MODELS, start=1):
        _latent_row(axes[row], arrays, model, "speed", metrics, fig)
        add_angle_colorbar(fig, axes[row, 0])
    title = (
        f"GNOCCHI vs LFADS, {data_label}: codes of the evaluation trials (seed {seed})"
        "\nX = trials of the unseen angle, encoded but never trained on"
    )
    return _finish(fig, title, axes.flat, preset)


def _version_of(arrays: EvalArrays) -> np.ndarray:
    """trial_version of every trial, parsed from the condition names ('maze t, vV')."""
    names = {
        int(c): str(n)
        for c, n in zip(arrays["condition_ids"], arrays["condition_names"], strict=True)
    }
    return np.array([int(names[int(c)].rsplit("v", 1)[1]) for c in arrays["condition"]])


@style_context()
def plot_fig4_monkey_latents(
    arrays: EvalArrays,
    metrics: SeedMetrics,
    seed: int,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Fig. 4: MC_Maze codes of GNOCCHI vs LFADS coloured by condition (angle, version)."""
    fig, axes = plt.subplots(2, 3, figsize=(7.8, 5.4), layout="constrained")
    versions = _version_of(arrays)
    markers = {0: "o", 1: "s", 2: "^"}
    seen, unseen = arrays["eval_idx"], arrays["unseen_idx"]
    rows = np.concatenate([arrays["train_idx"], seen])
    for row, model in enumerate(MODELS):
        codes, mi = arrays[f"{model}/codes"], arrays[f"{model}/normalised_mi"]
        angle_axes = (0, 1)  # the same aligned axes for both models
        ax = axes[row, 0]
        for version, marker in markers.items():
            chosen = rows[versions[rows] == version]
            _scatter_codes(
                ax,
                codes,
                angle_axes,
                angle_colors(arrays["reach_angle"][chosen]),
                chosen,
                marker=marker,
                size=10,
            )
        _scatter_unseen(ax, codes, angle_axes, arrays, unseen, size=26)
        ax.set_title(_title_scores(metrics, model), fontsize=7)
        handles = [
            Line2D([], [], marker=m, ls="", color="0.5", markersize=4, label=f"version {v}")
            for v, m in markers.items()
        ]
        handles.append(_unseen_handle())
        last = row == len(MODELS) - 1  # legends once, below the bottom row (not over data)
        if last:
            ax.legend(
                handles=handles,
                fontsize=6.5,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.3),
                ncol=2,
                frameon=False,
            )
        _condition_panel(axes[row, 1], arrays, model, rows, legend=last)
        _mi_heatmap(
            axes[row, 2],
            mi,
            list(arrays["mi_factor_names"]),
            f"{MODEL_LABELS[model]}: normalised MI",
        )
        add_angle_colorbar(fig, axes[row, 0])
    title = (
        f"GNOCCHI vs LFADS, {data_label}: codes of all trials (seed {seed})\nX = "
        "trials of the unseen condition, encoded but never trained on"
    )
    return _finish(fig, title, axes.flat, preset)


def _condition_panel(
    ax: Axes, arrays: EvalArrays, model: str, rows: np.ndarray, legend: bool = True
) -> None:
    """Codes projected on their two principal axes, one colour per condition; unseen boxed.

    With `legend`, the conditions' legend goes below the axes.
    """
    codes = arrays[f"{model}/codes"]
    centred = codes - codes[rows].mean(axis=0)
    _, _, vt = np.linalg.svd(centred[rows], full_matrices=False)
    projected = centred @ vt[:2].T
    labels = list(arrays["condition_ids"])
    colors = categorical_colors(len(labels))
    unseen = set(arrays["unseen_labels"].tolist())
    for label, name, color in zip(labels, arrays["condition_names"], colors, strict=True):
        members = np.flatnonzero(arrays["condition"] == label)
        is_unseen = int(label) in unseen
        ax.scatter(
            projected[members, 0],
            projected[members, 1],
            s=16 if is_unseen else 8,
            color=color,
            marker="X" if is_unseen else "o",
            edgecolors="k" if is_unseen else "none",
            linewidths=0.5,
            label=f"{name}{' (unseen)' if is_unseen else ''}",
        )
    ax.set_xlabel("code PC 1")
    ax.set_ylabel("code PC 2")
    ax.set_title(f"{MODEL_LABELS[model]} codes by condition\n(first two PCs of the codes)")
    if legend and len(labels) <= 12:
        ax.legend(
            fontsize=6,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.3),
            ncol=2,
            markerscale=1.0,
            frameon=False,
        )


# ---------------------------------------------------------------- figure 3 and 5 (generation)


def _traversal_row(
    axes: Sequence[Axes], arrays: EvalArrays, model: str, metrics: SeedMetrics
) -> None:
    """Decoded hand paths for each traversed code axis, and the decoded-change heatmap."""
    trajectories = arrays[f"{model}/traversal_trajectories"]
    factor_names = list(arrays["factor_names"])
    n_axes, n_points = trajectories.shape[:2]
    colors = plt.get_cmap("coolwarm")(np.linspace(0, 1, n_points))
    for axis in range(n_axes):
        ax = axes[axis]
        for point in range(n_points):
            path = trajectories[axis, point] * 100
            ax.plot(path[:, 0], path[:, 1], color=colors[point], lw=1.0)
        ax.set_aspect("equal", adjustable="datalim")
        effect = arrays[f"{model}/traversal_changes"][axis]
        first, second = np.argsort(-effect)[:2]
        ax.set_title(
            f"{MODEL_LABELS[model]} c{axis + 1}: moves {factor_names[first]}\n"
            f"({effect[first]:.2f} s.d.; next {factor_names[second]} "
            f"{effect[second]:.2f})",
            fontsize=6.5,
        )
        ax.set_xlabel("decoded x (cm)")
        if axis == 0:
            ax.set_ylabel("decoded y (cm)")
    changes = arrays[f"{model}/traversal_changes"]
    ax = axes[n_axes]
    image = ax.imshow(changes, cmap="Greys", aspect="auto", vmin=0)
    annotate_cells(ax, changes, changes > 0.6 * changes.max(), fontsize=6)
    ax.set_xticks(range(len(factor_names)), factor_names)
    ax.set_yticks(range(n_axes), [f"c{i + 1}" for i in range(n_axes)])
    ax.set_title(
        f"decoded change / s.d.\nselectivity\n{seed_summary(metrics, model, 'selectivity')}",
        fontsize=6.5,
    )
    plt.colorbar(image, ax=ax, shrink=0.8)


def _heldout_paths(
    ax: Axes, arrays: EvalArrays, scale: float, unit: str, metrics: SeedMetrics | None
) -> None:
    """Decoded paths of generated unseen conditions vs the real ones; scores in the title."""
    for path in arrays["train_trajectory"]:
        ax.plot(path[:, 0] * scale, path[:, 1] * scale, color=COLORS["spread"], lw=0.8)
    curves = [
        ("true_trajectory", COLORS["data"], "-", "real: true hand path"),
        ("real_decoded_trajectory", COLORS["data"], ":", "real: decoded"),
    ]
    curves += [
        (
            f"{m}/generated_trajectory",
            MODEL_COLORS[m],
            "-",
            f"{MODEL_LABELS[m]}: decoded from generated",
        )
        for m in MODELS
    ]
    for key, color, style, label in curves:
        for i, path in enumerate(arrays[key]):
            ax.plot(
                path[:, 0] * scale,
                path[:, 1] * scale,
                color=color,
                ls=style,
                lw=1.3,
                label=label if i == 0 else None,
            )
    ax.plot([], [], color=COLORS["spread"], label="training conditions (true)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    ax.legend(fontsize=5.5, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    if metrics is None:
        ax.set_title("unseen condition(s): hand paths", fontsize=7)
        return
    lines = [
        f"{label}: "
        + ", ".join(f"{MODEL_LABELS[m]} {seed_summary(metrics, m, key)}" for m in MODELS)
        + f", nearest seen {seed_summary(metrics, 'nearest', key)}"
        + f", data {seed_summary(metrics, 'data', key)}"
        for key, label in (
            ("velocity_r2", "velocity R²"),
            ("psth_r2", "PSTH R²"),
            ("endpoint_error_deg", "end-point error (deg)"),
        )
    ]
    ax.set_title("unseen condition(s), mean ± s.d. over seeds\n" + "\n".join(lines), fontsize=6.5)


def _psth_panels(axes: Sequence[Axes], arrays: EvalArrays, bin_size_s: float) -> None:
    """PSTHs of the most modulated neurons: real unseen trials vs each model's generations."""
    data = arrays["psth_data"][0]
    neurons = np.argsort(-data.std(axis=0))[: len(axes)]
    time = np.arange(data.shape[0]) * bin_size_s * 1000
    for ax, neuron in zip(axes, neurons, strict=True):
        ax.plot(time, data[:, neuron] / bin_size_s, color=COLORS["data"], lw=1.3, label="real")
        for model in MODELS:
            psth = arrays[f"{model}/generated_psth"][0]
            ax.plot(
                time,
                psth[:, neuron] / bin_size_s,
                color=MODEL_COLORS[model],
                lw=1.1,
                label=MODEL_LABELS[model],
            )
        ax.set_title(f"PSTH, neuron {neuron}", fontsize=7)
        ax.set_xlabel("time from window start (ms)")
    axes[0].set_ylabel("rate (Hz)")
    axes[0].legend(fontsize=5.5, loc="best")


@style_context()
def plot_fig3_synthetic_traversal(
    arrays: EvalArrays,
    metrics: SeedMetrics,
    seed: int,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Fig. 3: traversal of each code axis (decoded paths) and generated unseen conditions."""
    n_axes = arrays["gnocchi/traversal_trajectories"].shape[0]
    fig = plt.figure(figsize=(2.0 * (n_axes + 1), 7.2), layout="constrained")
    grid = fig.add_gridspec(3, n_axes + 1)
    rows = [[fig.add_subplot(grid[r, c]) for c in range(n_axes + 1)] for r in range(2)]
    for row, model in zip(rows, MODELS, strict=True):
        _traversal_row(row, arrays, model, metrics)
    bottom = fig.add_subplot(grid[2, :2])
    _heldout_paths(bottom, arrays, 100.0, "cm", None)
    bottom.set_title("unseen angle: decoded hand paths\n(scores over seeds: Table 1)", fontsize=7)
    psth_axes = [fig.add_subplot(grid[2, c]) for c in range(2, n_axes + 1)]
    _psth_panels(psth_axes, arrays, float(arrays["bin_size_s"]))
    title = (
        f"GNOCCHI vs LFADS, {data_label}, seed {seed}.\nRows 1-2: hand paths decoded "
        "from activity generated while one aligned code axis moves (blue → red: mean − "
        "range·s.d. → mean + range·s.d.,\nwithin the training codes' range); titles: "
        "the decoded factor that moves most.\nRow 3: the unseen angle generated from a linear map "
        "factors → code (all speeds); PSTHs of its first condition"
    )
    return _finish(fig, title, [*rows[0], *rows[1], bottom, *psth_axes], preset, fontsize=7)


def _metric_bars(
    ax: Axes,
    metrics: SeedMetrics,
    names: Sequence[tuple[str, str]],
    legend: bool = True,
    references: Sequence[str] = ("nearest", "data"),
) -> None:
    """Grouped bars (mean ± std over seeds) of some metrics for both models and the reference
    rows (ceilings and baselines) that have them."""
    models = [
        m for m in (*MODELS, *references) if all(key in metrics.get(m, {}) for key, _ in names)
    ]
    if not models:
        raise ValueError(f"no model has all of the metrics {[key for key, _ in names]}")
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        means, stds = [], []
        for key, _ in names:
            values = np.asarray(metrics[model].get(key, [np.nan]), dtype=float)
            means.append(values.mean())
            stds.append(values.std(ddof=1) if values.size > 1 else 0.0)
        positions = np.arange(len(names)) + (i - (len(models) - 1) / 2) * width
        ax.bar(
            positions,
            means,
            width,
            yerr=stds,
            color=MODEL_COLORS[model],
            capsize=2,
            label=MODEL_LABELS.get(model, REFERENCE_LABELS.get(model, model)),
        )
    rotation = 30 if len(names) > 3 else 0
    ax.set_xticks(
        range(len(names)),
        [label for _, label in names],
        fontsize=6.5,
        rotation=rotation,
        ha="right" if rotation else "center",
    )
    ax.axhline(0, color="0.5", lw=0.6)
    if legend:
        ax.legend(
            fontsize=5.5, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False
        )
    ax.set_title(f"mean ± s.d. over {_n_seeds(metrics)} seeds", fontsize=7)


@style_context()
def plot_fig5_monkey_heldout(
    arrays: EvalArrays,
    metrics: SeedMetrics,
    seed: int,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Fig. 5: MC_Maze unseen conditions generated by linear traversal: paths, PSTHs, scores."""
    fig = plt.figure(figsize=(7.6, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    paths = fig.add_subplot(grid[0, 0])
    _heldout_paths(paths, arrays, 1.0, "mm", None)
    bars = fig.add_subplot(grid[0, 1])
    _metric_bars(
        bars, metrics, [("velocity_r2", "velocity R²"), ("psth_r2", "PSTH R²")], legend=False
    )
    errors = fig.add_subplot(grid[0, 2])
    _metric_bars(errors, metrics, [("endpoint_error_deg", "end-point angle\nerror (deg)")])
    psth_axes = [fig.add_subplot(grid[1, c]) for c in range(3)]
    _psth_panels(psth_axes, arrays, float(arrays["bin_size_s"]))
    names = dict(zip(arrays["condition_ids"].tolist(), arrays["condition_names"], strict=True))
    unseen = ", ".join(str(names[int(c)]) for c in arrays["unseen_labels"])
    title = (
        f"GNOCCHI vs LFADS, {data_label}, unseen condition(s) {unseen}: generated "
        f"from a linear map factors → code (seed {seed} shown);\nbars: all seeds; "
        "PSTHs of the first unseen condition"
    )
    return _finish(fig, title, [paths, bars, errors, *psth_axes], preset)
