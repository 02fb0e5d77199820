"""LDNS figures (Kapoor, Schulz et al. 2024), one function per figure of the inventory.

Every function takes arrays (spikes and rates shaped (trials, time, neurons), latents shaped
(trials, latents, time) as the models produce them) and returns a figure with lettered panels,
the preset stamp and, in its title, the `data_label` the script derives from the tidy dataset
(`neurodiff.plots.style.dataset_label`: real name or "... simulation"); the statistics are
computed here with `neurodiff.metrics.spikes`, the same functions Table 1 uses. Data always
means the training trials the models were fitted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats
from sklearn.decomposition import PCA

from neurodiff.metrics.decoding import trajectories_from_velocity
from neurodiff.metrics.spikes import (
    correlation_matrix,
    group_neurons_by_correlation,
    isi_stats,
    pca_smoothed,
    population_counts,
    psch_kl,
    psd,
    psd_mse,
    smooth_spikes,
    temporal_correlations,
)
from neurodiff.plots.style import (
    CATEGORICAL,
    COLORS,
    RASTER_CMAP,
    add_angle_colorbar,
    angle_colors,
    label_panels,
    stamp_preset,
    style_context,
)

DATA_COLOR = COLORS["data"]
AE_COLOR = COLORS["truth"]
METHOD_COLORS = {
    "LDNS": "#D55E00",
    "LDNS+sh": "#6A3D9A",  # purple: never to be confused with LDNS's vermilion
    "LDNS (DDIM)": "#CC79A7",
    "LDNS+sh (DDIM)": "#009E73",
    "LFADS": "#0072B2",
    "LFADS+sh": "#56B4E9",
    "AutoLFADS": "#332288",
    "AutoLFADS+sh": "#117733",
    "pi-VAE": "#999933",
    "TNDM": "#661100",
}
CORR_CMAP = "RdBu_r"
GROUP_LINESTYLES = ["--", ":", "-.", (0, (5, 1, 1, 1))]  # model curves of neuron groups 1-4
MAX_SCATTER_POINTS = 4000  # pairwise-correlation scatters are subsampled beyond this
PSD_MAX_HZ = 40.0  # smoothed spikes (σ = 30 ms) carry no power above this


# ---------------------------------------------------------------------------------------------
# Shared pieces


def method_color(name: str, index: int = 0) -> str:
    """The colour of a method (fixed for the Table 1 methods, the palette for others)."""
    return METHOD_COLORS.get(name, CATEGORICAL[index % len(CATEGORICAL)])


def _figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of the given size (inches)."""
    return plt.figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure, panels: Sequence[Axes], title: str, preset: str) -> Figure:
    """Panel letters, title and preset stamp."""
    label_panels(list(panels))
    fig.suptitle(title, fontsize=10)
    stamp_preset(fig, preset)
    return fig


def _raster(
    ax: Axes,
    counts: np.ndarray,
    bin_s: float,
    length: int | None = None,
    title: str = "",
    time_unit: str = "s",
) -> None:
    """Binarised spikes (T, N) of one trial as a neurons × time image, up to `length` bins."""
    n_bins = counts.shape[0] if length is None else int(length)
    spikes = (counts[:n_bins] > 0).astype(float)
    ax.imshow(
        spikes.T,
        aspect="auto",
        cmap=RASTER_CMAP,
        vmin=0,
        vmax=1,
        extent=(0, n_bins * bin_s, counts.shape[1] - 0.5, -0.5),
        interpolation="nearest",
    )
    ax.set(xlabel=f"time ({time_unit})", ylabel="neuron", title=title)


def _legend_below(ax: Axes, ncols: int = 2, fontsize: float = 6) -> None:
    """The axes' legend under its x label, never over the data."""
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.28),
        ncols=ncols,
        fontsize=fontsize,
        frameon=False,
        handlelength=2.2,
        columnspacing=1.0,
    )


def _spread(n_items: int, k: int) -> np.ndarray:
    """Up to k indices spread evenly over range(n_items)."""
    return np.unique(np.linspace(0, n_items - 1, min(k, n_items)).round().astype(int))


def _max_count(spike_sets: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]) -> int:
    """Largest population count (spikes summed over neurons in one bin) over all sets."""
    return int(max(population_counts(s, m).max() for s, m in zip(spike_sets, masks, strict=True)))


def _psch_panel(
    ax: Axes,
    data: np.ndarray,
    models: Mapping[str, np.ndarray],
    data_mask: np.ndarray | None = None,
    model_masks: Mapping[str, np.ndarray] | None = None,
    compact: bool = False,
    kl_text: Mapping[str, str] | None = None,
) -> None:
    """Histogram of the data's population counts, KDEs of data and models, KL in the legend.

    `compact` (one model): no legend, the KL goes into the title. `kl_text` replaces a
    method's KL of all its samples by the given text (e.g. Table 1's bootstrap mean ± std).
    """
    kl_text = dict(kl_text or {})
    masks = dict(model_masks or {})
    max_count = _max_count([data, *models.values()], [data_mask, *(masks.get(n) for n in models)])
    counts = population_counts(data, data_mask)
    ax.hist(
        counts,
        bins=np.arange(max_count + 2) - 0.5,
        density=True,
        color=COLORS["spread"],
        label="data",
    )
    for i, (name, spikes) in enumerate(models.items()):
        result = psch_kl(spikes, data, max_count, masks.get(name), data_mask)
        if i == 0:
            ax.plot(result.counts, result.data_density, color=DATA_COLOR, lw=1.2, label="data KDE")
        kl = kl_text.get(name, f"{result.kl:.2g}")
        ax.plot(
            result.counts,
            result.model_density,
            color=method_color(name, i),
            lw=1.2,
            ls="--",
            label=f"{name} (KL {kl})",
        )
    ax.set(
        xlabel="population spike count per bin", ylabel="density", title="population spike count"
    )
    if compact:
        ax.set_title(f"KL {result.kl:.2g}", fontsize=7)
    else:
        _legend_below(ax, ncols=1)


def _identity_scatter(
    ax: Axes,
    points: Mapping[str, tuple[np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str,
    title: str,
    size: float = 6,
    compact: bool = False,
) -> None:
    """Scatter data (x) vs model (y) per method with the identity line; Pearson r in legend.

    `compact` (one method): Pearson r in the title, no legend, free aspect ratio.
    """
    finite_all = []
    rng = np.random.default_rng(0)
    for i, (name, (x, y)) in enumerate(points.items()):
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        r = stats.pearsonr(x, y)[0] if x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0 else np.nan
        shown = (
            rng.choice(x.size, MAX_SCATTER_POINTS, replace=False)
            if x.size > MAX_SCATTER_POINTS
            else slice(None)
        )
        ax.scatter(
            x[shown],
            y[shown],
            s=size,
            alpha=0.6,
            lw=0,
            color=method_color(name, i),
            label=f"{name} (r = {r:.3f})",
            rasterized=True,
        )
        finite_all.append(np.concatenate([x, y]))
    values = np.concatenate(finite_all) if finite_all else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    pad = 0.05 * (high - low or 1.0)
    ax.plot(
        [low - pad, high + pad],
        [low - pad, high + pad],
        color=COLORS["event"],
        lw=0.8,
        ls=":",
        zorder=0,
    )
    ax.set(
        xlim=(low - pad, high + pad),
        ylim=(low - pad, high + pad),
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
    )
    if compact:
        ax.set_title(f"{title}, r = {r:.2f}", fontsize=7)
        return
    ax.set_aspect("equal", adjustable="box")
    ax.legend(loc="upper left", handletextpad=0.2, markerscale=1.5)


def _statistic_points(
    data: np.ndarray,
    models: Mapping[str, np.ndarray],
    fps: float,
    data_mask: np.ndarray | None = None,
    model_masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per statistic and method: (data values, model values) of correlations and ISI stats."""
    masks = dict(model_masks or {})
    data_corr = correlation_matrix(data, data_mask)
    data_isi = isi_stats(data, fps, data_mask)
    lower = np.tril_indices(data.shape[2], k=-1)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {
        "corr": {},
        "mean_isi": {},
        "std_isi": {},
    }
    for name, spikes in models.items():
        corr = correlation_matrix(spikes, masks.get(name))
        isi = isi_stats(spikes, fps, masks.get(name))
        out["corr"][name] = (data_corr[lower], corr[lower])
        out["mean_isi"][name] = (data_isi.mean, isi.mean)
        out["std_isi"][name] = (data_isi.std, isi.std)
    return out


def _statistics_row(
    axes: Sequence[Axes],
    data: np.ndarray,
    models: Mapping[str, np.ndarray],
    fps: float,
    isi_unit: str,
    data_mask: np.ndarray | None = None,
    model_masks: Mapping[str, np.ndarray] | None = None,
    compact: bool = False,
) -> None:
    """Correlation, mean-ISI and std-ISI scatters (data vs models) on three axes."""
    points = _statistic_points(data, models, fps, data_mask, model_masks)
    _identity_scatter(
        axes[0],
        points["corr"],
        "data correlation",
        "sample correlation",
        "corr." if compact else "pairwise correlations",
        size=4,
        compact=compact,
    )
    _identity_scatter(
        axes[1],
        points["mean_isi"],
        f"data mean ISI ({isi_unit})",
        f"sample mean ISI ({isi_unit})",
        "mean ISI",
        size=10,
        compact=compact,
    )
    _identity_scatter(
        axes[2],
        points["std_isi"],
        f"data std ISI ({isi_unit})",
        f"sample std ISI ({isi_unit})",
        "std ISI",
        size=10,
        compact=compact,
    )


def _temporal_panel(
    ax: Axes,
    data: np.ndarray,
    models: Mapping[str, np.ndarray],
    groups: list[np.ndarray],
    shown: Sequence[int],
    kind: str,
    max_lag: int,
    bin_s: float,
    time_unit: str,
    data_mask: np.ndarray | None = None,
    model_masks: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Auto- or cross-correlation of neuron groups `shown`: data solid, models dashed."""
    masks = dict(model_masks or {})
    curves = {"data": temporal_correlations(data, groups, max_lag, data_mask)}
    curves |= {
        n: temporal_correlations(s, groups, max_lag, masks.get(n)) for n, s in models.items()
    }
    group_colors = ["#222222", "#777777", "#AAAAAA", "#CCCCCC"]
    for g in shown:
        for i, (name, result) in enumerate(curves.items()):
            values = getattr(result, kind)[g]
            if name == "data":
                ax.plot(
                    result.lags * bin_s,
                    values,
                    color=group_colors[g % 4],
                    lw=1.6,
                    label=f"data, group {g + 1}",
                )
            else:  # one line style per neuron group, so the groups stay apart
                ax.plot(
                    result.lags * bin_s,
                    values,
                    color=method_color(name, i - 1),
                    lw=1.0,
                    ls=GROUP_LINESTYLES[g % len(GROUP_LINESTYLES)],
                    label=f"{name}, group {g + 1}",
                )
    title = "autocorrelation" if kind == "auto" else "cross-correlation"
    ax.set(xlabel=f"lag ({time_unit})", ylabel="covariance ((spikes/bin)²)", title=title)
    _legend_below(ax, ncols=2)


def _corr_image(ax: Axes, corr: np.ndarray, vmax: float, title: str) -> object:
    """A correlation matrix (diagonal already 0) with a symmetric colour scale."""
    image = ax.imshow(np.nan_to_num(corr), cmap=CORR_CMAP, vmin=-vmax, vmax=vmax)
    ax.set(xlabel="neuron", ylabel="neuron", title=title)
    return image


def _correlation_matrices(
    fig: Figure,
    axes: Sequence[Axes],
    spike_sets: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Correlation matrices of several spike sets, neurons ordered by the first set's strength."""
    masks = dict(masks or {})
    mats = {n: correlation_matrix(s, masks.get(n)) for n, s in spike_sets.items()}
    first = next(iter(mats.values()))
    order = np.argsort(-np.nansum(first**2, axis=1), kind="stable")
    vmax = float(np.nanpercentile(np.abs(first[np.tril_indices(len(first), -1)]), 99)) or 0.1
    image = None
    for ax, (name, mat) in zip(axes, mats.items(), strict=True):
        image = _corr_image(ax, mat[np.ix_(order, order)], vmax, name)
    fig.colorbar(image, ax=list(axes), label="correlation", shrink=0.8)


def _pca_fit(reference: np.ndarray, n_components: int) -> PCA:
    """PCA of latents (trials, d, time) over all (trial, bin) samples."""
    rows = reference.transpose(0, 2, 1).reshape(-1, reference.shape[1])
    return PCA(n_components=n_components).fit(rows)


def _project(pca: PCA, latents: np.ndarray) -> np.ndarray:
    """Latents (trials, d, time) → (trials, time, components)."""
    rows = latents.transpose(0, 2, 1).reshape(-1, latents.shape[1])
    return pca.transform(rows).reshape(latents.shape[0], latents.shape[2], -1)


def _trajectories_3d(
    ax: Axes,
    trajectories: np.ndarray,
    color: str,
    title: str,
    lw: float = 0.7,
    labels: tuple[str, str, str] = ("PC1", "PC2", "PC3"),
) -> None:
    """3-D lines of (trials, time, ≥3) trajectories."""
    for trial in trajectories:
        ax.plot(trial[:, 0], trial[:, 1], trial[:, 2], color=color, lw=lw, alpha=0.8)
    ax.set_title(title, fontsize=8)
    ax.set(xticklabels=[], yticklabels=[], zticklabels=[])
    ax.set_xlabel(labels[0], labelpad=-12)
    ax.set_ylabel(labels[1], labelpad=-12)
    ax.set_zlabel(labels[2], labelpad=-12)


def _same_limits(axes: Sequence[Axes]) -> None:
    """Give 3-D axes the union of their limits."""
    for getter, setter in (
        ("get_xlim", "set_xlim"),
        ("get_ylim", "set_ylim"),
        ("get_zlim", "set_zlim"),
    ):
        limits = np.array([getattr(ax, getter)() for ax in axes])
        for ax in axes:
            getattr(ax, setter)(limits[:, 0].min(), limits[:, 1].max())


def _latent_psd_panels(
    fig: Figure, spec: object, ae: np.ndarray, samples: np.ndarray, fs: float, freq_unit: str
) -> list[Axes]:
    """One small PSD panel per latent channel: median and IQR across trials, AE vs LDNS."""
    n_latents = ae.shape[1]
    grid = spec.subgridspec(1, n_latents, wspace=0.08)
    axes = []
    for k in range(n_latents):
        ax = fig.add_subplot(grid[0, k], sharey=axes[0] if axes else None)
        for name, values, color in (("AE", ae, AE_COLOR), ("LDNS", samples, METHOD_COLORS["LDNS"])):
            summary = psd(values[:, k, :], fs)
            ax.fill_between(
                summary.freqs[1:],
                summary.lower[1:],
                summary.upper[1:],
                color=color,
                alpha=0.25,
                lw=0,
            )
            ax.plot(summary.freqs[1:], summary.median[1:], color=color, lw=1, label=name)
        ax.set_yscale("log")
        ax.set_title(f"latent {k + 1}", fontsize=7)
        ax.set_xlabel(f"freq. ({freq_unit})", fontsize=6)
        ax.tick_params(labelsize=5)
        if k:
            ax.tick_params(labelleft=False)
        else:
            ax.set_ylabel("PSD")
            ax.legend(loc="upper right", fontsize=5.5)
        axes.append(ax)
    return axes


# ---------------------------------------------------------------------------------------------
# Figure 2: Lorenz


@style_context()
def plot_fig2_lorenz(
    data: np.ndarray,
    ae_rates: np.ndarray,
    ae_latents: np.ndarray,
    samples: np.ndarray,
    sample_latents: np.ndarray,
    long_latents: np.ndarray,
    max_lag: int,
    n_groups: int,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """LDNS on Lorenz: AE fit, latents AE vs diffusion, 16× longer samples, statistics.

    data/ae_rates/samples (trials, time, neurons) with time in bins (the Lorenz bins are
    dimensionless); latents (trials, d, time).
    """
    fig = _figure(7.5, 9.6)
    rows = fig.add_gridspec(4, 1, height_ratios=[1.15, 0.6, 1, 1])
    top = rows[0].subgridspec(1, 4, width_ratios=[1.3, 1, 1, 1])
    ax_fit = fig.add_subplot(top[0, 0])
    ax3d = [fig.add_subplot(top[0, i], projection="3d") for i in (1, 2, 3)]
    psd_axes = _latent_psd_panels(fig, rows[1], ae_latents, sample_latents, 1.0, "1/bin")
    mid = rows[2].subgridspec(1, 3)
    ax_auto, ax_cross, ax_psch = (fig.add_subplot(mid[0, i]) for i in range(3))
    bottom = rows[3].subgridspec(1, 3)
    stats_axes = [fig.add_subplot(bottom[0, i]) for i in range(3)]

    # a: AE rates on top of the spikes of four neurons, one trial
    neurons = np.argsort(-data.mean(axis=(0, 1)))[:4]
    t = np.arange(data.shape[1])
    for row, n in enumerate(neurons):
        scale = 0.9 / max(float(data[0, :, n].max()), float(ae_rates[0, :, n].max()), 1.0)
        ax_fit.vlines(t, row, row + scale * data[0, :, n], color=COLORS["spread"], lw=1.2)
        ax_fit.plot(t, row + scale * ae_rates[0, :, n], color=AE_COLOR, lw=1)
    ax_fit.set(
        xlabel="time (bins)",
        yticks=np.arange(len(neurons)),
        yticklabels=[f"neuron {n}" for n in neurons],
        title="AE rate (line) vs spikes, trial 1",
    )

    # b-d: latents in the AE latents' top-3 PC space
    pca = _pca_fit(ae_latents, 3)
    shown = _spread(len(ae_latents), 6)
    _trajectories_3d(ax3d[0], _project(pca, ae_latents[shown]), AE_COLOR, "AE latents")
    _trajectories_3d(
        ax3d[1],
        _project(pca, sample_latents[_spread(len(sample_latents), 6)]),
        METHOD_COLORS["LDNS"],
        "LDNS samples",
    )
    long = _project(pca, long_latents[:2])
    _trajectories_3d(
        ax3d[2],
        long,
        METHOD_COLORS["LDNS"],
        f"LDNS, {long_latents.shape[-1] // ae_latents.shape[-1]}× longer",
        lw=0.4,
    )
    _same_limits(ax3d)

    groups = group_neurons_by_correlation(data, n_groups)
    models = {"LDNS": samples}
    _temporal_panel(ax_auto, data, models, groups, [0, 1], "auto", max_lag, 1.0, "bins")
    _temporal_panel(ax_cross, data, models, groups, [0, 1], "cross", max_lag, 1.0, "bins")
    _psch_panel(ax_psch, data, models)
    _statistics_row(stats_axes, data, models, fps=1.0, isi_unit="bins")
    return _finish(
        fig,
        [ax_fit, *ax3d, psd_axes[0], ax_auto, ax_cross, ax_psch, *stats_axes],
        f"LDNS, {data_label}: autoencoder, latent diffusion samples and spike statistics",
        preset,
    )


# ---------------------------------------------------------------------------------------------
# Figure 3: human BCI


@style_context()
def plot_fig3_human(
    data: np.ndarray,
    data_mask: np.ndarray,
    ae_spikes: np.ndarray,
    samples: np.ndarray,
    sample_mask: np.ndarray,
    bin_s: float,
    sigma_s: float,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Variable-length LDNS on the speech BCI: lengths, rasters, correlations, statistics, PCA."""
    fig = _figure(7.5, 9.8)
    rows = fig.add_gridspec(4, 1, height_ratios=[1, 1, 1, 1.1])
    top = rows[0].subgridspec(1, 3, width_ratios=[1, 1.2, 1.2])
    ax_len = fig.add_subplot(top[0, 0])
    ax_r = [fig.add_subplot(top[0, 1]), fig.add_subplot(top[0, 2])]
    corr_grid = rows[1].subgridspec(1, 3)
    corr_axes = [fig.add_subplot(corr_grid[0, i]) for i in range(3)]
    stat_grid = rows[2].subgridspec(1, 4)
    ax_psch, *stats_axes = (fig.add_subplot(stat_grid[0, i]) for i in range(4))
    pca_grid = rows[3].subgridspec(1, 2)
    pca_axes = [fig.add_subplot(pca_grid[0, i]) for i in range(2)]

    data_len, sample_len = data_mask.sum(axis=1), sample_mask.sum(axis=1)
    edges = np.linspace(0, data.shape[1] * bin_s, 16)
    ax_len.hist(data_len * bin_s, bins=edges, color=COLORS["spread"], label="data")
    ax_len.hist(
        sample_len * bin_s,
        bins=edges,
        histtype="step",
        color=METHOD_COLORS["LDNS"],
        lw=1.2,
        label="LDNS",
    )
    ax_len.set(xlabel="trial length (s)", ylabel="trials", title="trial lengths")
    ax_len.legend()

    long_data, long_sample = int(np.argmax(data_len)), int(np.argmax(sample_len))
    _raster(
        ax_r[0],
        data[long_data],
        bin_s,
        data_len[long_data],
        f"data, {data_len[long_data] * bin_s:.2f} s",
    )
    _raster(
        ax_r[1],
        samples[long_sample],
        bin_s,
        sample_len[long_sample],
        f"LDNS sample, {sample_len[long_sample] * bin_s:.2f} s",
    )
    for ax in ax_r:
        ax.set_xlim(0, data.shape[1] * bin_s)

    _correlation_matrices(
        fig,
        corr_axes,
        {"data": data, "AE": ae_spikes, "LDNS": samples},
        {"data": data_mask, "AE": data_mask, "LDNS": sample_mask},
    )
    models, masks = {"LDNS": samples}, {"LDNS": sample_mask}
    _psch_panel(ax_psch, data, models, data_mask, masks)
    _statistics_row(stats_axes, data, models, 1 / bin_s, "s", data_mask, masks)

    sigma_bins = sigma_s / bin_s
    projection = pca_smoothed(
        smooth_spikes(data, sigma_bins, data_mask),
        smooth_spikes(samples, sigma_bins, sample_mask),
        4,
        data_mask,
        sample_mask,
    )
    for ax, (i, j) in zip(pca_axes, ((0, 1), (2, 3)), strict=True):
        for trial in _spread(len(data), 5):
            ax.plot(
                *projection.data[trial, : data_len[trial]][:, [i, j]].T,
                color=DATA_COLOR,
                lw=0.7,
                alpha=0.7,
            )
        for trial in _spread(len(samples), 5):
            ax.plot(
                *projection.model[trial, : sample_len[trial]][:, [i, j]].T,
                color=METHOD_COLORS["LDNS"],
                lw=0.7,
                alpha=0.7,
            )
        ax.set(
            xlabel=f"PC{i + 1}",
            ylabel=f"PC{j + 1}",
            title=f"smoothed spikes (σ = {sigma_s * 1e3:.0f} ms), PC{i + 1}/PC{j + 1}",
        )
        ax.plot([], [], color=DATA_COLOR, label="data")
        ax.plot([], [], color=METHOD_COLORS["LDNS"], label="LDNS")
        _legend_below(ax, ncols=2)
    return _finish(
        fig,
        [ax_len, *ax_r, *corr_axes, ax_psch, *stats_axes, *pca_axes],
        f"LDNS, {data_label}: variable-length samples",
        preset,
    )


# ---------------------------------------------------------------------------------------------
# Figure 4 and supplementary figures: MC_Maze


@style_context()
def plot_fig4_monkey(
    data: np.ndarray,
    ldns: np.ndarray,
    ldns_sh: np.ndarray,
    bin_s: float,
    max_lag: int,
    n_groups: int,
    preset: str,
    *,
    data_label: str,
    table1: pd.DataFrame | None = None,
) -> Figure:
    """Unconditional LDNS on MC_Maze: rasters, spike statistics, spike-history autocorrelation.

    Given `table1`, the legend's KL of each method is Table 1's (mean ± std over the bootstrap
    resamples, on Table 1's count grid); otherwise the KL of all samples on this panel's grid.
    """
    fig = _figure(7.5, 7.6)
    rows = fig.add_gridspec(3, 1, height_ratios=[1, 1, 1])
    top = rows[0].subgridspec(1, 3)
    ax_data, ax_sample, ax_psch = (fig.add_subplot(top[0, i]) for i in range(3))
    mid = rows[1].subgridspec(1, 3)
    stats_axes = [fig.add_subplot(mid[0, i]) for i in range(3)]
    bottom = rows[2].subgridspec(1, 2)
    auto_axes = [fig.add_subplot(bottom[0, i]) for i in range(2)]

    _raster(ax_data, data[0], bin_s, title="data (trial 1)")
    _raster(ax_sample, ldns[0], bin_s, title="LDNS sample 1")
    models = {"LDNS": ldns, "LDNS+sh": ldns_sh}
    kl_text = None
    if table1 is not None:
        rows = table1.set_index("method")
        kl_text = {
            name: f"{rows.loc[name, 'kl_psch_mean']:.2g} ± "
            f"{rows.loc[name, 'kl_psch_std']:.1g}, Table 1"
            for name in models
        }
    _psch_panel(ax_psch, data, models, kl_text=kl_text)
    _statistics_row(stats_axes, data, models, 1 / bin_s, "s")
    groups = group_neurons_by_correlation(data, n_groups)
    for g, ax in enumerate(auto_axes):
        _temporal_panel(ax, data, models, groups, [g], "auto", max_lag, bin_s * 1e3, "ms")
        ax.set_title(f"autocorrelation, neuron group {g + 1}")
    return _finish(
        fig,
        [ax_data, ax_sample, ax_psch, *stats_axes, *auto_axes],
        f"LDNS, {data_label}: unconditional samples",
        preset,
    )


@style_context()
def plot_figA10_correlation_matrices(
    data: np.ndarray, ae_spikes: np.ndarray, ldns: np.ndarray, preset: str, *, data_label: str
) -> Figure:
    """Correlation matrices of data, AE reconstructions (Poisson) and LDNS samples."""
    fig = _figure(7.5, 2.9)
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    _correlation_matrices(
        fig, axes, {"data": data, "AE reconstruction": ae_spikes, "LDNS samples": ldns}
    )
    return _finish(fig, axes, f"{data_label}: pairwise correlations (diagonal set to 0)", preset)


@style_context()
def plot_figA11_rasters(
    data: np.ndarray,
    ldns: np.ndarray,
    bin_s: float,
    preset: str,
    n_pairs: int = 5,
    *,
    data_label: str,
) -> Figure:
    """Further data / LDNS raster pairs (trials and samples 2 … n_pairs + 1)."""
    pairs = min(n_pairs, len(data) - 1, len(ldns) - 1)
    if pairs < 1:
        raise ValueError("figure A11 needs at least two data trials and two samples")
    fig = _figure(7.5, 1.5 * pairs + 0.6)
    axes = fig.subplots(pairs, 2, sharex=True, squeeze=False)
    for row in range(pairs):
        _raster(axes[row, 0], data[row + 1], bin_s, title=f"data, trial {row + 2}")
        _raster(axes[row, 1], ldns[row + 1], bin_s, title=f"LDNS sample {row + 2}")
    for ax in axes[:-1].ravel():
        ax.set_xlabel("")
    return _finish(fig, axes[:, 0], f"{data_label}: more data and LDNS rasters", preset)


LOG_SCALE_SPAN = 100.0  # Fig. A13 panels whose positive values span more than this: log axis


def _spans_decades(values: np.ndarray, span: float) -> bool:
    """Whether the finite positive `values` range over more than a factor `span`."""
    values = np.asarray(values, float)
    positive = values[np.isfinite(values) & (values > 0)]
    return positive.size > 1 and positive.max() > span * positive.min()


@style_context()
def plot_figA13_metric_bars(
    table: pd.DataFrame,
    preset: str,
    metrics: Mapping[str, str] | None = None,
    *,
    data_label: str,
    floor_rows: Sequence[str] = (),
) -> Figure:
    """Table 1 as bars: mean ± std over bootstraps per method; dashed line = data split half,
    dotted = each of `floor_rows` (e.g. the simulator's true rates: a perfect model)."""
    metrics = dict(
        metrics
        or {
            "kl_psch": "D_KL psch",
            "rmse_corr": "RMSE corr",
            "rmse_mean_isi": "RMSE mean ISI (s)",
            "rmse_std_isi": "RMSE std ISI (s)",
        }
    )
    reference = table.iloc[-1]
    is_floor = table["method"].iloc[:-1].isin(list(floor_rows))
    floor, methods = table.iloc[:-1][is_floor], table.iloc[:-1][~is_floor]
    fig = _figure(7.5, 2.9)
    axes = fig.subplots(1, len(metrics))
    x = np.arange(len(methods))
    colors = [method_color(n, i) for i, n in enumerate(methods["method"])]
    for ax, (key, title) in zip(axes, metrics.items(), strict=True):
        ax.bar(
            x,
            methods[f"{key}_mean"],
            yerr=methods[f"{key}_std"],
            color=colors,
            capsize=2,
            error_kw={"lw": 0.8},
        )
        ax.axhline(
            reference[f"{key}_mean"],
            color=DATA_COLOR,
            ls="--",
            lw=0.9,
            label=str(reference["method"]),
        )
        for _, row in floor.iterrows():
            ax.axhline(row[f"{key}_mean"], color=DATA_COLOR, ls=":", lw=1.1, label=row["method"])
        ax.set_xticks(x, methods["method"], rotation=60, ha="right")
        shown = np.r_[methods[f"{key}_mean"], reference[f"{key}_mean"], floor[f"{key}_mean"]]
        if _spans_decades(shown, LOG_SCALE_SPAN):  # one outlier would flatten every other bar
            ax.set_yscale("log", nonpositive="clip")
            ax.set(title=f"{title}, log scale")
        else:
            ax.set(title=title)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower left")
    return _finish(
        fig,
        axes,
        f"{data_label}: Table 1 metrics per method, mean ± std over bootstraps (lower is better)",
        preset,
    )


@style_context()
def plot_figA14_method_rasters(
    data: np.ndarray,
    methods: Mapping[str, np.ndarray],
    bin_s: float,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """The first trial (data) and first sample of every method as rasters."""
    sets = {"data": data, **methods}
    columns = min(4, len(sets))
    n_rows = -(-len(sets) // columns)
    fig = _figure(7.5, 2.0 * n_rows + 0.4)
    axes = fig.subplots(n_rows, columns, squeeze=False, sharex=True, sharey=True)
    for ax, (name, spikes) in zip(axes.ravel(), sets.items(), strict=False):
        _raster(ax, spikes[0], bin_s, title=name)
    for ax in axes.ravel()[len(sets) :]:
        ax.set_axis_off()
    return _finish(
        fig, axes.ravel()[: len(sets)], f"{data_label}: first trial of each method", preset
    )


@style_context()
def plot_figA15_pca_psd(
    data: np.ndarray,
    methods: Mapping[str, np.ndarray],
    bin_s: float,
    sigma_s: float,
    n_components: int,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """Per method: PC1/PC2 of smoothed spikes (PCA of the data) and the PSD of PC2 vs data."""
    sigma_bins = sigma_s / bin_s
    smoothed_data = smooth_spikes(data, sigma_bins)
    fig = _figure(max(7.5, 1.5 * len(methods)), 4.8)
    axes = fig.subplots(2, len(methods), squeeze=False)
    for col, (i, (name, spikes)) in zip(axes.T, enumerate(methods.items()), strict=True):
        color = method_color(name, i)
        projection = pca_smoothed(smoothed_data, smooth_spikes(spikes, sigma_bins), n_components)
        for trial in _spread(len(data), 20):
            col[0].plot(
                *projection.data[trial, :, :2].T,
                color=DATA_COLOR,
                lw=0.5,
                alpha=0.5,
                rasterized=True,
            )
        for trial in _spread(len(spikes), 20):
            col[0].plot(
                *projection.model[trial, :, :2].T, color=color, lw=0.5, alpha=0.6, rasterized=True
            )
        col[0].set_title(name, fontsize=7, color=color, fontweight="bold")
        col[0].set(xlabel="PC1", ylabel="PC2" if i == 0 else "")
        data_psd = psd(projection.data[..., 1], 1 / bin_s)
        model_psd = psd(projection.model[..., 1], 1 / bin_s)
        for summary, c, label in ((data_psd, DATA_COLOR, "data"), (model_psd, color, name)):
            col[1].fill_between(
                summary.freqs[1:], summary.lower[1:], summary.upper[1:], color=c, alpha=0.2, lw=0
            )
            col[1].plot(summary.freqs[1:], summary.median[1:], color=c, lw=1, label=label)
        col[1].set(
            yscale="log",
            xlabel="frequency (Hz)",
            ylabel="PSD of PC2" if i == 0 else "",
            xlim=(0, PSD_MAX_HZ),
        )
        col[1].set_title(f"MSE {psd_mse(model_psd, data_psd):.2g}", fontsize=7)
        visible = data_psd.freqs <= PSD_MAX_HZ
        col[1].set_ylim(bottom=0.5 * float(np.nanmin(data_psd.lower[visible][1:])))
        _legend_below(col[1], ncols=1)
    return _finish(
        fig,
        axes[0],
        f"{data_label}: PCA of smoothed spikes (σ = {sigma_s * 1e3:.0f} "
        "ms)\nand PSD of PC2 (MSE: median PSD vs data's)",
        preset,
    )


@style_context()
def plot_figA16_method_statistics(
    data: np.ndarray,
    methods: Mapping[str, np.ndarray],
    bin_s: float,
    preset: str,
    *,
    data_label: str,
) -> Figure:
    """One row per method: population count, correlations, mean ISI, std ISI vs data."""
    fig = _figure(7.5, 1.7 * len(methods) + 0.6)
    axes = fig.subplots(len(methods), 4, squeeze=False)
    for i, (row, (name, spikes)) in enumerate(zip(axes, methods.items(), strict=True)):
        _psch_panel(row[0], data, {name: spikes}, compact=True)
        _statistics_row(row[1:], data, {name: spikes}, 1 / bin_s, "s", compact=True)
        row[0].set_ylabel(f"{name}\ndensity", color=method_color(name, i), fontweight="bold")
    for ax in axes[:-1].ravel():
        ax.set_xlabel("")
    return _finish(
        fig, axes[:, 0], f"{data_label}: spike statistics per method (y) vs data (x)", preset
    )


# ---------------------------------------------------------------------------------------------
# Figure 5: conditional generation


def _thick_and_thin(
    ax: Axes,
    paths: Mapping[int, tuple[np.ndarray, Sequence[np.ndarray]]],
    colors: Sequence[str],
    thin_lw: float,
    legend: tuple[str, str],
    reference_on_top: bool,
) -> None:
    """Per held-out trial (one colour each): its reference path thick and translucent, the
    paths of the samples conditioned on it thin; then legend entries for thick and thin.

    `paths` maps trial -> (reference (T, 2), sample paths); `reference_on_top` draws the
    reference after its samples."""
    for (trial, (reference, samples)), color in zip(paths.items(), colors, strict=True):
        thick = {"color": color, "lw": 2.4, "alpha": 0.45, "label": f"held-out trial {trial}"}
        if not reference_on_top:
            ax.plot(reference[:, 0], reference[:, 1], **thick)
        for path in samples:
            ax.plot(path[:, 0], path[:, 1], color=color, lw=thin_lw, alpha=0.8)
        if reference_on_top:
            ax.plot(reference[:, 0], reference[:, 1], **thick)
    ax.plot([], [], color="0.4", lw=2.4, alpha=0.45, label=legend[0])
    ax.plot([], [], color="0.4", lw=thin_lw, label=legend[1])


def _short_decoding_label(evaluated_on: str) -> str:
    """'AE rates, val trials' → 'AE\nval'; sample rows → 'cond.\nsamples'."""
    if evaluated_on.startswith("AE rates, "):
        return "AE\n" + evaluated_on.removeprefix("AE rates, ").removesuffix(" trials")
    return "cond.\nsamples"


@style_context()
def plot_fig5_conditional(
    angle: np.ndarray,
    angle_decoded: np.ndarray,
    data_velocity: np.ndarray,
    data_angle: np.ndarray,
    condition_velocity: np.ndarray,
    condition_decoded: np.ndarray,
    condition_trial: np.ndarray,
    ae_latents: np.ndarray,
    sample_latents: np.ndarray,
    ae_rates: np.ndarray,
    sample_rates: np.ndarray,
    decoding: pd.DataFrame,
    bin_s: float,
    preset: str,
    n_conditions: int = 3,
    *,
    data_label: str,
) -> Figure:
    """Angle- and velocity-conditioned LDNS on MC_Maze, read out by the ridge velocity decoder.

    Velocities (trials, time, 2) in m/s; `condition_trial` names the held-out trial each
    velocity-conditioned sample was conditioned on; `ae_latents`/`ae_rates` are indexed by
    trial; `decoding` has columns evaluated_on and r2 (and endpoint_circ_r, shown in panel b).
    """
    fig = _figure(7.5, 6.6)
    grid = fig.add_gridspec(2, 3)
    ax_true, ax_angle, ax_r2 = (fig.add_subplot(grid[0, i]) for i in range(3))
    ax_cond, ax_lat, ax_pc = (fig.add_subplot(grid[1, i]) for i in range(3))
    mm = 1e3  # trajectories in mm

    for ax, velocity, angles, title in (
        (ax_true, data_velocity, data_angle, "data (training trials)"),
        (ax_angle, angle_decoded, angle, "angle-conditioned LDNS"),
    ):
        paths = trajectories_from_velocity(velocity, bin_s) * mm
        for path, color in zip(paths, angle_colors(angles), strict=True):
            ax.plot(path[:, 0], path[:, 1], color=color, lw=0.6)
        ax.set(title=title, xlabel="x (mm)", ylabel="y (mm)")
        ax.set_aspect("equal", adjustable="datalim")
    circ_r = (
        decoding.set_index("evaluated_on")["endpoint_circ_r"]
        if "endpoint_circ_r" in decoding
        else {}
    )
    follows = ""
    if "angle-conditioned LDNS samples" in circ_r and "true hand paths, test trials" in circ_r:
        follows = (
            f"\nend point vs angle: circ. r {circ_r['angle-conditioned LDNS samples']:.2f}"
            f" (data {circ_r['true hand paths, test trials']:.2f})"
        )
    ax_angle.set_title("angle-conditioned LDNS\n(decoded hand paths)")
    ax_angle.set_xlabel("x (mm)" + follows)  # below the axes: the title keeps its two lines
    add_angle_colorbar(fig, ax_angle, label="reach angle (deg)")

    scored = decoding[decoding["r2"].notna()]  # rows without a target velocity have no R²
    labels = [_short_decoding_label(row.evaluated_on) for row in scored.itertuples(index=False)]
    ax_r2.bar(
        np.arange(len(scored)),
        scored["r2"],
        color=[AE_COLOR] * (len(scored) - 1) + [METHOD_COLORS["LDNS"]],
    )
    ax_r2.set_xticks(np.arange(len(scored)), labels, fontsize=6)
    ax_r2.axhline(0, color="0.3", lw=0.6)
    ax_r2.set(ylabel="R²", title="velocity decoding R²")

    conditions = np.unique(condition_trial)[:n_conditions]
    palette = CATEGORICAL[: len(conditions)]
    rows_of = {trial: np.flatnonzero(condition_trial == trial) for trial in conditions}
    velocity_paths = {
        trial: (
            trajectories_from_velocity(condition_velocity[rows[:1]], bin_s)[0] * mm,
            trajectories_from_velocity(condition_decoded[rows], bin_s) * mm,
        )
        for trial, rows in rows_of.items()
    }
    ax_cond.set(
        title="velocity-conditioned LDNS\n(held-out velocity profiles)",
        xlabel="x (mm)",
        ylabel="y (mm)",
    )
    ax_cond.set_aspect("equal", adjustable="datalim")

    t = np.arange(ae_latents.shape[-1]) * bin_s
    trial = conditions[0]
    latent = int(np.argmax(ae_latents.std(axis=(0, 2))))
    for row in np.flatnonzero(condition_trial == trial):
        ax_lat.plot(t, sample_latents[row, latent], color=METHOD_COLORS["LDNS"], lw=0.6)
    ax_lat.plot(t, ae_latents[trial, latent], color=AE_COLOR, lw=1.6, label="AE, held-out trial")
    ax_lat.plot([], [], color=METHOD_COLORS["LDNS"], lw=0.6, label="LDNS samples")
    ax_lat.set(
        xlabel="time (s)",
        ylabel=f"latent {latent + 1}",
        title=f"latent {latent + 1}, condition of trial {trial}",
    )
    _legend_below(ax_lat, ncols=1)

    pca = PCA(2).fit(ae_rates.reshape(-1, ae_rates.shape[-1]))
    pc_paths = {
        trial: (pca.transform(ae_rates[trial]), [pca.transform(sample_rates[r]) for r in rows])
        for trial, rows in rows_of.items()
    }
    ax_pc.set(
        xlabel="PC1",
        ylabel="PC2",
        title="rates on PC1/PC2 of AE rates\n(colour: conditioning trial)",
    )
    # (axes, paths, thin line width, legend of thick and thin, reference drawn last)
    for ax, paths, thin_lw, legend, on_top in (
        (ax_cond, velocity_paths, 0.6, ("conditioning (thick)", "decoded samples (thin)"), True),
        (ax_pc, pc_paths, 0.5, ("AE rates (thick)", "LDNS samples (thin)"), False),
    ):
        _thick_and_thin(ax, paths, palette, thin_lw, legend, reference_on_top=on_top)
        _legend_below(ax, ncols=2)
    return _finish(
        fig,
        [ax_true, ax_angle, ax_r2, ax_cond, ax_lat, ax_pc],
        f"Conditional LDNS, {data_label}: reach angle and hand velocity",
        preset,
    )


# ---------------------------------------------------------------------------------------------
# Supplementary A5, A6: LFADS on Lorenz


@style_context()
def plot_figA5_lfads_lorenz_factors(
    true_latents: np.ndarray, factors: np.ndarray, preset: str, *, data_label: str
) -> Figure:
    """True Lorenz latents and LFADS factors (posterior means) of held-out trials, in 3-D.

    true_latents (trials, time, 3); factors (trials, time, F) projected on their top 3 PCs.
    """
    fig = _figure(7.5, 3.2)
    axes = [
        fig.add_subplot(1, 3, 1, projection="3d"),
        fig.add_subplot(1, 3, 2, projection="3d"),
        fig.add_subplot(1, 3, 3),
    ]
    shown = _spread(len(factors), 6)
    _trajectories_3d(
        axes[0],
        true_latents[shown],
        COLORS["truth"],
        "true Lorenz latents",
        labels=("$z_1$", "$z_2$", "$z_3$"),
    )
    pca = _pca_fit(factors.transpose(0, 2, 1), 3)
    projected = _project(pca, factors.transpose(0, 2, 1))
    _trajectories_3d(
        axes[1],
        projected[shown],
        METHOD_COLORS["LFADS"],
        f"LFADS factors ({factors.shape[-1]}) on 3 PCs",
    )
    t = np.arange(factors.shape[1])
    for k in range(min(3, factors.shape[-1])):
        axes[2].plot(t, projected[shown[0], :, k], lw=1, label=f"PC{k + 1}")
    axes[2].set(xlabel="time (bins)", ylabel="factor PC (a.u.)", title="trial 1 factor PCs")
    _legend_below(axes[2], ncols=3, fontsize=7)
    return _finish(fig, axes, f"LFADS, {data_label}: inferred factors of held-out trials", preset)


@style_context()
def plot_figA6_lfads_length_generalisation(
    prior_factors: np.ndarray, long_factors: np.ndarray, preset: str, *, data_label: str
) -> Figure:
    """LFADS prior samples at the training length and unrolled longer, on the same 3 PCs."""
    factor = long_factors.shape[1] // prior_factors.shape[1]
    fig = _figure(7.5, 5.4)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.2, 1])
    axes = [
        fig.add_subplot(grid[0, 0], projection="3d"),
        fig.add_subplot(grid[0, 1], projection="3d"),
        fig.add_subplot(grid[1, :]),
    ]
    pca = _pca_fit(prior_factors.transpose(0, 2, 1), 3)
    short = _project(pca, prior_factors.transpose(0, 2, 1))
    long = _project(pca, long_factors.transpose(0, 2, 1))
    _trajectories_3d(
        axes[0],
        short[_spread(len(short), 6)],
        METHOD_COLORS["LFADS"],
        f"prior samples, training length ({prior_factors.shape[1]} bins)",
    )
    _trajectories_3d(
        axes[1], long[:2], METHOD_COLORS["LFADS"], f"prior samples, {factor}× longer", lw=0.4
    )
    _same_limits(axes[:2])
    t = np.arange(long.shape[1])
    for k in range(3):
        axes[2].plot(t, long[0, :, k], lw=0.8, label=f"PC{k + 1}")
    axes[2].axvline(
        prior_factors.shape[1], color=COLORS["event"], ls="--", lw=0.9, label="training length"
    )
    axes[2].set(
        xlabel="time (bins)", ylabel="factor PC (a.u.)", title=f"one {factor}× longer prior sample"
    )
    _legend_below(axes[2], ncols=4)
    return _finish(fig, axes, f"LFADS, {data_label}: length generalisation", preset)
