"""One data-overview figure per dataset, drawn from the tidy arrays every model reads.

`plot_overview(ds, preset)` picks the function from `ds.name`; every figure has lettered
panels, axis labels with units, the preset stamp and a title naming the data with
`dataset_label` (its real name, or what a simulated stand-in stands in for). Spike panels
show counts as rasters (grey level = spikes per bin) and rates in Hz, smoothed with a
Gaussian kernel.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from scipy.ndimage import gaussian_filter1d

from neurodiff.data.tidy import TidyDataset, TidyFormatError
from neurodiff.plots.style import (
    COLORS,
    RASTER_CMAP,
    RATE_CMAP,
    SEQUENTIAL_CMAP,
    add_angle_colorbar,
    angle_colors,
    categorical_colors,
    dataset_label,
    label_panels,
    stamp_preset,
    style_context,
)

PSTH_SIGMA_S = 0.02  # Gaussian smoothing of PSTHs and population rates
MC_MAZE_ONSET_BIN = 50  # movement onset: the window starts 250 ms (50 bins of 5 ms) before it
MAX_TRAJECTORIES = 200  # hand paths drawn per panel; more only hide each other
BEHAVIOR_UNITS = {"hand_vel": "mm/s", "finger_vel": "cm/s"}


# ---------------------------------------------------------------- shared helpers


def _require(ds: TidyDataset, group: str, key: str) -> np.ndarray:
    """Return `ds.<group>[key]` or raise naming the dataset and the missing key."""
    items = getattr(ds, group)
    if key not in items:
        raise TidyFormatError(f"{ds.name}: overview needs '{group}/{key}', found {sorted(items)}")
    return np.asarray(items[key])


def _behavior(ds: TidyDataset, names: list[str]) -> np.ndarray:
    """Return behaviour columns `names` as (trials, T, len(names)), or raise naming them."""
    missing = [n for n in names if n not in ds.behavior_names]
    if ds.behavior is None or missing:
        raise TidyFormatError(
            f"{ds.name}: overview needs behavior columns {missing or names}, "
            f"found {ds.behavior_names}"
        )
    return ds.behavior[:, :, [ds.behavior_names.index(n) for n in names]]


def _heldout(ds: TidyDataset) -> np.ndarray:
    """Per-channel held-out flags (all False when the dataset has none)."""
    return np.asarray(ds.channels.get("heldout", np.zeros(ds.n_channels, bool)), dtype=bool)


def _time_ms(ds: TidyDataset, onset_bin: int = 0) -> np.ndarray:
    """Bin centres in ms relative to bin `onset_bin`."""
    return (np.arange(ds.n_bins) - onset_bin) * ds.bin_size_s * 1e3


def _rate_hz(counts: np.ndarray, bin_size_s: float, sigma_s: float = PSTH_SIGMA_S) -> np.ndarray:
    """Counts (..., T, N) smoothed along time with a Gaussian of `sigma_s`, in spikes/s."""
    smooth = gaussian_filter1d(counts.astype(float), sigma_s / bin_size_s, axis=-2, mode="nearest")
    return smooth / bin_size_s


def _spread(n_items: int, k: int) -> np.ndarray:
    """Up to `k` indices spread evenly over `range(n_items)`."""
    return np.unique(np.linspace(0, n_items - 1, min(k, n_items)).round().astype(int))


def _most_active(counts: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Indices of the `k` channels with the highest mean count, among `allowed` ones."""
    mean = counts.mean(axis=(0, 1))
    if allowed is not None and allowed.any():
        mean = np.where(allowed, mean, -np.inf)
    return np.argsort(mean)[::-1][: min(k, int(np.isfinite(mean).sum()))]


def _circular_mean(angles: np.ndarray) -> float:
    """Mean direction of angles in radians, in [0, 2pi)."""
    return float(np.mod(np.angle(np.exp(1j * angles).mean()), 2 * np.pi))


def _draw_raster(
    ax: Axes,
    counts: np.ndarray,
    times: np.ndarray,
    heldout: np.ndarray | None = None,
    ylabel: str = "neuron",
) -> None:
    """Draw counts (T, N) as a raster; held-out channels go last, below a coloured line."""
    heldout = np.zeros(counts.shape[1], bool) if heldout is None else heldout
    order = np.concatenate([np.flatnonzero(~heldout), np.flatnonzero(heldout)])
    step = times[1] - times[0] if len(times) > 1 else 1.0
    nonzero = counts[counts > 0]
    vmax = max(1.0, float(np.percentile(nonzero, 95))) if nonzero.size else 1.0
    ax.imshow(
        counts[:, order].T,
        aspect="auto",
        cmap=RASTER_CMAP,
        vmin=0,
        vmax=vmax,
        extent=(times[0] - step / 2, times[-1] + step / 2, counts.shape[1] - 0.5, -0.5),
    )
    n_in = int((~heldout).sum())
    if heldout.any():
        ax.axhline(n_in - 0.5, color=COLORS["heldout"], lw=1.2)
        ax.axhspan(n_in - 0.5, counts.shape[1] - 0.5, color=COLORS["heldout"], alpha=0.15, lw=0)
        ax.text(
            1.01,
            (n_in + counts.shape[1]) / 2,
            "held-out",
            transform=ax.get_yaxis_transform(),
            rotation=90,
            va="center",
            ha="left",
            color=COLORS["heldout"],
            fontsize=7,
        )
    ax.set_ylabel(ylabel)


def _new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of the given size in inches."""
    return plt.figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure, panels: list[Axes], label: str, details: str, preset: str) -> Figure:
    """Letter the panels, add the title 'Data overview, <data label>: <details>' and the stamp."""
    label_panels(panels)
    fig.suptitle(f"Data overview, {label}: {details}", fontsize=10)
    stamp_preset(fig, preset)
    return fig


def _counts_summary(ds: TidyDataset, unit: str = "neurons") -> str:
    return f"{ds.n_trials} trials, {ds.n_channels} {unit}"


# ---------------------------------------------------------------- Lorenz


@style_context()
def plot_lorenz_overview(ds: TidyDataset, preset: str) -> Figure:
    """Lorenz set: 3-D latents of a few trials, true rates and spikes of one trial, mean rates."""
    latents = _require(ds, "truth", "latents")
    rates = _require(ds, "truth", "rates")
    fig = _new_figure(7.5, 5.2)
    grid = fig.add_gridspec(2, 3, width_ratios=[1.1, 1, 1], wspace=0.12)
    ax_lat = fig.add_subplot(grid[0, 0], projection="3d")
    ax_rate = fig.add_subplot(grid[0, 1:])
    ax_mean = fig.add_subplot(grid[1, 0])
    ax_raster = fig.add_subplot(grid[1, 1:], sharex=ax_rate)

    for trial, color in zip(_spread(ds.n_trials, 4), categorical_colors(4), strict=False):
        x, y, z = latents[trial].T
        ax_lat.plot(x, y, z, color=color, lw=0.8, label=f"trial {trial}")
        ax_lat.scatter(x[:1], y[:1], z[:1], color=color, s=8)
    ax_lat.set(xlabel="$z_1$", ylabel="$z_2$", zlabel="$z_3$", title="latents (a.u.)")
    ax_lat.set_box_aspect(None, zoom=0.82)
    ax_lat.tick_params(labelsize=6, pad=0)
    for axis in (ax_lat.xaxis, ax_lat.yaxis, ax_lat.zaxis):
        axis.labelpad = -4
    ax_lat.legend(loc="upper left", fontsize=6, bbox_to_anchor=(0.0, 1.02))

    trial = 0
    t = np.arange(ds.n_bins)
    image = ax_rate.imshow(
        rates[trial].T,
        aspect="auto",
        cmap=RATE_CMAP,
        vmin=0,
        vmax=float(np.percentile(rates[trial], 99)),
        extent=(-0.5, ds.n_bins - 0.5, ds.n_channels - 0.5, -0.5),
    )
    fig.colorbar(image, ax=ax_rate, label="rate (spikes/bin)", pad=0.01, extend="max")
    ax_rate.set(ylabel="neuron", title=f"true firing rates, trial {trial}")
    ax_rate.tick_params(labelbottom=False)
    _draw_raster(ax_raster, ds.signals[trial], t)
    ax_raster.set(xlabel="time (bins)", title=f"spike counts, trial {trial}")
    spikes_bar = fig.colorbar(ax_raster.images[0], ax=ax_raster, label="spikes/bin", pad=0.01)
    spikes_bar.locator = MaxNLocator(integer=True)

    neurons = np.arange(ds.n_channels)
    data_mean, true_mean = ds.signals.mean(axis=(0, 1)), rates.mean(axis=(0, 1))
    ax_mean.bar(neurons, data_mean, width=1.0, color=COLORS["spread"], label="data")
    ax_mean.plot(neurons, true_mean, ".", ms=3, color=COLORS["truth"], label="true rate")
    top = max(float(data_mean.max()), float(true_mean.max()), 1e-3)
    ax_mean.set(
        xlabel="neuron",
        ylabel="mean rate (spikes/bin)",
        title="mean rate per neuron",
        xlim=(-1, ds.n_channels),
        ylim=(0, 1.3 * top),
    )
    ax_mean.legend(loc="upper right", ncols=2)
    return _finish(
        fig, [ax_lat, ax_rate, ax_mean, ax_raster], dataset_label(ds), _counts_summary(ds), preset
    )


# ---------------------------------------------------------------- MC_Maze


@style_context()
def plot_mc_maze_overview(ds: TidyDataset, preset: str) -> Figure:
    """MC_Maze: raster of one trial, PSTHs by condition, hand paths coloured by reach angle."""
    condition = _require(ds, "conditions", "condition")
    angle = _require(ds, "conditions", "reach_angle").astype(float)
    velocity = _behavior(ds, ["hand_vel_x", "hand_vel_y"])
    heldout = _heldout(ds)
    t = _time_ms(ds, MC_MAZE_ONSET_BIN)

    fig = _new_figure(7.5, 5.6)
    grid = fig.add_gridspec(2, 3, height_ratios=[1.15, 1])
    ax_raster = fig.add_subplot(grid[0, :2])
    ax_hand = fig.add_subplot(grid[0, 2])
    psth_axes = [fig.add_subplot(grid[1, i]) for i in range(3)]

    _draw_raster(ax_raster, ds.signals[0], t, heldout)
    ax_raster.axvline(0, color=COLORS["event"], ls="--", lw=0.8)
    ax_raster.set(
        xlabel="time from movement onset (ms)",
        title=f"spike counts, trial 0 (condition {condition[0]})",
    )

    conds = np.unique(condition)
    cond_angles = np.array([_circular_mean(angle[condition == c]) for c in conds])
    order = np.argsort(cond_angles)
    shown = order[_spread(len(conds), 6)]
    rates = _rate_hz(ds.signals, ds.bin_size_s)
    for ax, neuron in zip(psth_axes, _most_active(ds.signals, 3, ~heldout), strict=False):
        for c, color in zip(conds[shown], angle_colors(cond_angles[shown]), strict=True):
            ax.plot(t, rates[condition == c, :, neuron].mean(axis=0), color=color)
        ax.axvline(0, color=COLORS["event"], ls="--", lw=0.8)
        ax.set(
            xlabel="time from movement onset (ms)",
            ylabel="rate (Hz)",
            title=f"PSTH, neuron {neuron}",
        )

    position = np.cumsum(velocity * ds.bin_size_s, axis=1)
    for trial in _spread(ds.n_trials, MAX_TRAJECTORIES):
        ax_hand.plot(*position[trial].T, color=angle_colors(angle[trial]), lw=0.6, alpha=0.8)
    ax_hand.plot(0, 0, "o", color=COLORS["data"], ms=3)
    ax_hand.set(xlabel="x (mm)", ylabel="y (mm)", title="hand paths", aspect="equal")
    ax_hand.set_anchor("C")
    add_angle_colorbar(fig, ax_hand)
    add_angle_colorbar(fig, psth_axes[-1])
    return _finish(
        fig,
        [ax_raster, ax_hand, *psth_axes],
        dataset_label(ds),
        f"{_counts_summary(ds)}, {int(heldout.sum())} held out; {len(conds)} conditions",
        preset,
    )


# ---------------------------------------------------------------- MC_RTT


@style_context()
def plot_mc_rtt_overview(ds: TidyDataset, preset: str) -> Figure:
    """MC_RTT: raster and finger velocity of one trial, population rate across trials."""
    velocity = _behavior(ds, ["finger_vel_x", "finger_vel_y"])
    heldout = _heldout(ds)
    t = _time_ms(ds)
    trial = 0

    fig = _new_figure(7.0, 6.0)
    grid = fig.add_gridspec(3, 1, height_ratios=[1.6, 1, 1])
    ax_raster = fig.add_subplot(grid[0])
    ax_vel = fig.add_subplot(grid[1], sharex=ax_raster)
    ax_pop = fig.add_subplot(grid[2], sharex=ax_raster)

    _draw_raster(ax_raster, ds.signals[trial], t, heldout)
    ax_raster.set_title(f"spike counts, trial {trial}")
    for k, (name, color) in enumerate(zip(("x", "y"), categorical_colors(2), strict=True)):
        ax_vel.plot(t, velocity[trial, :, k], color=color, label=name)
    ax_vel.axhline(0, color=COLORS["event"], lw=0.5)
    ax_vel.set(
        ylabel=f"velocity ({BEHAVIOR_UNITS['finger_vel']})", title=f"finger velocity, trial {trial}"
    )
    ax_vel.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, borderaxespad=0)

    population = _rate_hz(ds.signals, ds.bin_size_s).mean(axis=2)
    mean, std = population.mean(axis=0), population.std(axis=0)
    ax_pop.fill_between(
        t, mean - std, mean + std, color=COLORS["spread"], lw=0, label="all trials, mean ± s.d."
    )
    ax_pop.plot(t, mean, color=COLORS["data"], lw=0.8)
    ax_pop.plot(t, population[trial], color=COLORS["model"], lw=0.8, label=f"trial {trial}")
    ax_pop.set(
        xlabel="time from trial start (ms)", ylabel="rate per neuron (Hz)", title="population rate"
    )
    ax_pop.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, borderaxespad=0)
    for ax in (ax_raster, ax_vel):
        ax.tick_params(labelbottom=False)
    return _finish(
        fig,
        [ax_raster, ax_vel, ax_pop],
        dataset_label(ds),
        f"{_counts_summary(ds)}, {int(heldout.sum())} held out",
        preset,
    )


# ---------------------------------------------------------------- human speech BCI


def _trial_caption(ds: TidyDataset, trial: int, length_s: float) -> str:
    """'trial i, 3.2 s, block b: "sentence…"' with mathtext-safe text."""
    parts = [f"trial {trial}", f"{length_s:.2f} s"]
    if "block" in ds.conditions:
        parts.append(f"block {ds.conditions['block'][trial]}")
    caption = ", ".join(parts)
    if "sentence" in ds.conditions:
        sentence = str(ds.conditions["sentence"][trial]).replace("$", r"\$")
        sentence = sentence if len(sentence) <= 60 else sentence[:57] + "..."
        caption += f': "{sentence}"'
    return caption


@style_context()
def plot_human_overview(ds: TidyDataset, preset: str) -> Figure:
    """Speech BCI: trial lengths, rasters of a short, a median and a long trial, channel rates."""
    lengths = ds.lengths()
    lengths_s = lengths * ds.bin_size_s
    shown = np.argsort(lengths, kind="stable")[_spread(ds.n_trials, 3)]

    fig = _new_figure(7.5, 2.0 + 1.45 * len(shown))
    grid = fig.add_gridspec(1 + len(shown), 3, height_ratios=[1.3] + [1] * len(shown))
    ax_hist = fig.add_subplot(grid[0, 0])
    ax_mean = fig.add_subplot(grid[0, 1:])
    raster_axes = [fig.add_subplot(grid[1 + i, :]) for i in range(len(shown))]

    ax_hist.hist(
        lengths_s,
        bins=min(30, max(5, ds.n_trials // 5)),
        color=COLORS["spread"],
        edgecolor=COLORS["data"],
        lw=0.5,
    )
    ax_hist.set(xlabel="trial length (s)", ylabel="trials", title="trial lengths")

    rate_hz = (ds.signals * ds.mask[..., None]).sum(axis=(0, 1)) / (lengths.sum() * ds.bin_size_s)
    ax_mean.bar(np.arange(ds.n_channels), rate_hz, width=1.0, color=COLORS["data"])
    ax_mean.set(
        xlabel="channel",
        ylabel="mean rate (Hz)",
        title="mean firing rate per channel",
        xlim=(-1, ds.n_channels),
    )

    longest = float(lengths_s[shown].max())
    for ax, trial in zip(raster_axes, shown, strict=True):
        observed = ds.signals[trial][ds.mask[trial]]
        _draw_raster(ax, observed, np.arange(len(observed)) * ds.bin_size_s, ylabel="channel")
        ax.set_xlim(-ds.bin_size_s / 2, longest)
        ax.set_title(_trial_caption(ds, int(trial), float(lengths_s[trial])), loc="left")
        if ax is not raster_axes[-1]:
            ax.tick_params(labelbottom=False)
    raster_axes[-1].set_xlabel("time from trial start (s)")
    return _finish(
        fig,
        [ax_hist, ax_mean, *raster_axes],
        dataset_label(ds),
        _counts_summary(ds, "channels"),
        preset,
    )


# ---------------------------------------------------------------- synthetic reaching


def _condition_mean(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique labels and the mean of `values` over the trials of each."""
    unique = np.unique(labels)
    return unique, np.stack([values[labels == u].mean(axis=0) for u in unique])


@style_context()
def plot_reaching_overview(ds: TidyDataset, preset: str) -> Figure:
    """Synthetic reaching: paths by angle (unseen dashed), speed profiles, PSTHs, a raster."""
    angle = _require(ds, "conditions", "reach_angle").astype(float)
    angle_index = _require(ds, "conditions", "angle_index").astype(int)
    speed = _require(ds, "conditions", "speed").astype(float)
    speed_index = _require(ds, "conditions", "speed_index").astype(int)
    unseen = _require(ds, "conditions", "unseen").astype(bool)
    hand_pos = _require(ds, "truth", "hand_pos")
    velocity = _behavior(ds, ["hand_vel_x", "hand_vel_y"])
    t = _time_ms(ds)

    fig = _new_figure(7.5, 5.6)
    grid = fig.add_gridspec(2, 3)
    ax_path, ax_speed = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    psth_axes = [fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, 0])]
    ax_raster = fig.add_subplot(grid[1, 1:])

    pair = angle_index * (speed_index.max() + 1) + speed_index
    for p in np.unique(pair):
        trials = pair == p
        path = hand_pos[trials].mean(axis=0)
        color = angle_colors(_circular_mean(angle[trials]))
        held = bool(unseen[trials].any())
        ax_path.plot(*path.T, color=color, ls="--" if held else "-", lw=1.0)
        ax_path.plot(*path[-1], "o", ms=4, color=color, mfc="white" if held else color)
    ax_path.set(
        xlabel="x (m)", ylabel="y (m)", title="mean hand path per condition", aspect="equal"
    )
    ax_path.legend(
        handles=[
            Line2D([], [], color="0.3", label="seen"),
            Line2D([], [], color="0.3", ls="--", marker="o", mfc="white", label="held out"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=6,
        handlelength=2,
    )

    hand_speed = np.linalg.norm(velocity, axis=2)
    levels, profiles = _condition_mean(hand_speed, speed_index)
    cmap = plt.get_cmap(SEQUENTIAL_CMAP)
    for level, profile in zip(levels, profiles, strict=True):
        color = cmap(0.15 + 0.7 * level / max(1, levels.max()))
        ax_speed.plot(
            t, profile, color=color, label=f"speed {np.mean(speed[speed_index == level]):.2g}"
        )
    ax_speed.set(xlabel="time (ms)", ylabel="hand speed (m/s)", title="speed by speed level")
    ax_speed.legend(loc="upper right", fontsize=6)

    rates = _rate_hz(ds.signals, ds.bin_size_s)
    directions = np.unique(angle_index)
    direction_angles = [_circular_mean(angle[angle_index == d]) for d in directions]
    for ax, neuron in zip(psth_axes, _most_active(ds.signals, 2), strict=False):
        for d, d_angle in zip(directions, direction_angles, strict=True):
            held = bool(unseen[angle_index == d].all())
            ax.plot(
                t,
                rates[angle_index == d, :, neuron].mean(axis=0),
                color=angle_colors(d_angle),
                ls="--" if held else "-",
            )
        ax.set(xlabel="time (ms)", ylabel="rate (Hz)", title=f"PSTH by angle, neuron {neuron}")
    add_angle_colorbar(fig, psth_axes[0])

    trial = int(np.flatnonzero(~unseen)[0]) if (~unseen).any() else 0
    _draw_raster(ax_raster, ds.signals[trial], t)
    ax_raster.set(
        xlabel="time (ms)",
        title=f"spike counts, trial {trial} "
        f"(angle {np.degrees(angle[trial]):.0f} deg, speed {speed[trial]:.2g})",
    )
    n_unseen = len(np.unique(pair[unseen]))
    return _finish(
        fig,
        [ax_path, ax_speed, *psth_axes, ax_raster],
        dataset_label(ds),
        f"{_counts_summary(ds)}; {n_unseen} held-out conditions",
        preset,
    )


# ---------------------------------------------------------------- widefield (BeNeDiff)


def _stacked_traces(
    ax: Axes, traces: list[np.ndarray], times: np.ndarray, names: list[str], colors: list
) -> None:
    """Draw groups of traces (each (T,) or (T, k)) one above the other, named on the y axis."""
    spans = [np.ptp(tr) for tr in traces]
    gap = 1.15 * max(max(spans), 1e-9)
    offsets = -gap * np.arange(len(traces))
    for trace, offset, color in zip(traces, offsets, colors, strict=True):
        ax.plot(times, trace - np.mean(trace) + offset, color=color, lw=0.7)
    ax.set_yticks(offsets, names)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)


def _draw_widefield_session(fig, ds: TidyDataset, n_frames: int = 4) -> list[Axes]:
    """Draw one session into `fig` (a Figure or SubFigure); return its three lead axes."""
    region = _require(ds, "channels", "region").astype(str)
    if ds.video is None:
        raise TidyFormatError(f"{ds.name}: overview needs 'video' (read with load_video=True)")
    if ds.behavior is None:
        raise TidyFormatError(f"{ds.name}: overview needs 'behavior' labels")
    t_s = np.arange(ds.n_bins) * ds.bin_size_s
    trial = 0
    n_views = ds.video.shape[2]
    frames = _spread(ds.n_bins, n_frames)

    grid = fig.add_gridspec(2, 2, height_ratios=[1.6, 0.9 * n_views])
    ax_region = fig.add_subplot(grid[0, 0])
    ax_label = fig.add_subplot(grid[0, 1])
    frame_grid = grid[1, :].subgridspec(n_views, len(frames), wspace=0.03, hspace=0.03)

    regions = list(dict.fromkeys(region))
    mean = ds.signals.mean(axis=0)
    _stacked_traces(
        ax_region,
        [mean[:, region == r] for r in regions],
        t_s,
        regions,
        categorical_colors(len(regions)),
    )
    ax_region.set(xlabel="time (s)", title="components, trial mean (a.u.), by region")

    labels = ds.behavior[trial]
    scale = np.nanstd(ds.behavior.reshape(-1, labels.shape[1]), axis=0)
    _stacked_traces(
        ax_label,
        list((labels / np.where(scale > 0, scale, 1)).T),
        t_s,
        list(ds.behavior_names),
        categorical_colors(labels.shape[1]),
    )
    ax_label.set(xlabel="time (s)", title=f"behaviour labels (s.d. units), trial {trial}")

    frame_axes = []
    for v in range(n_views):
        for j, frame in enumerate(frames):
            ax = fig.add_subplot(frame_grid[v, j])
            ax.imshow(ds.video[trial, frame, v], cmap="gray", vmin=0, vmax=255)
            ax.set(xticks=[], yticks=[])
            if v == 0:
                ax.set_title(f"t = {t_s[frame]:.2f} s")
            if j == 0:
                ax.set_ylabel(f"view {v + 1}")
            frame_axes.append(ax)
    return [ax_region, ax_label, frame_axes[0]]


def _session_title(ds: TidyDataset) -> str:
    regions = len(set(ds.channels["region"].astype(str)))
    return (
        f"{ds.name.removeprefix('widefield_')}: {ds.n_trials} trials, "
        f"{ds.n_channels} components, {regions} regions"
    )


@style_context()
def plot_widefield_overview(ds: TidyDataset, preset: str) -> Figure:
    """Widefield session: mean component traces by region, behaviour labels, video frames."""
    n_views = 2 if ds.video is None else ds.video.shape[2]
    fig = _new_figure(7.5, 4.2 + 1.1 * n_views)
    panels = _draw_widefield_session(fig, ds)
    return _finish(fig, panels, dataset_label(ds), f"session {_session_title(ds)}", preset)


@style_context()
def plot_widefield_sessions_overview(sessions: list[TidyDataset], preset: str) -> Figure:
    """All widefield sessions, one block of panels per session, stacked vertically."""
    if not sessions:
        raise ValueError("plot_widefield_sessions_overview needs at least one session")
    n_views = max(2 if ds.video is None else ds.video.shape[2] for ds in sessions)
    fig = _new_figure(7.5, (4.0 + 1.1 * n_views) * len(sessions))
    panels = []
    for subfig, ds in zip(np.atleast_1d(fig.subfigures(len(sessions), 1)), sessions, strict=True):
        panels += _draw_widefield_session(subfig, ds)
        subfig.suptitle(_session_title(ds), fontsize=9, x=0.02, ha="left")
    labels = list(dict.fromkeys(dataset_label(ds) for ds in sessions))
    return _finish(fig, panels, " and ".join(labels), f"{len(sessions)} sessions", preset)


# ---------------------------------------------------------------- dispatch

OVERVIEWS = {
    "lorenz": plot_lorenz_overview,
    "mc_maze": plot_mc_maze_overview,
    "mc_rtt": plot_mc_rtt_overview,
    "human": plot_human_overview,
    "reaching": plot_reaching_overview,
    "widefield": plot_widefield_overview,
}


def plot_overview(ds: TidyDataset, preset: str) -> Figure:
    """Draw the overview figure of `ds`, chosen by its name (widefield_<session> -> widefield)."""
    key = "widefield" if ds.name.startswith("widefield_") else ds.name
    if key not in OVERVIEWS:
        raise ValueError(
            f"no overview figure for dataset {ds.name!r}; known: "
            f"{sorted(OVERVIEWS)} and widefield_<session>"
        )
    return OVERVIEWS[key](ds, preset)
