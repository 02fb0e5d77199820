"""LDNS figures: each draws from small synthetic inputs with its panels, titles, data label and
preset stamp."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurodiff.data.tidy import TidyDataset
from neurodiff.models.ldns.evaluation import autoencoder_parameters, denoiser_parameters
from neurodiff.models.ldns.settings import LDNSSettings
from neurodiff.plots import ldns as plots
from neurodiff.plots.ldns_schematic import plot_fig1_schematic
from neurodiff.plots.style import PANEL_LABEL_GID, PRESET_STAMP_GID, dataset_label, save_figure

RNG = np.random.default_rng(0)
TRIALS, BINS, NEURONS, LATENTS = 12, 40, 8, 3
METHODS = ["LDNS", "LDNS+sh", "LFADS", "TNDM"]
LABEL = "test data"


def spikes(rate: float = 0.4, trials: int = TRIALS, bins: int = BINS) -> np.ndarray:
    """Poisson counts with a shared slow modulation (so correlations are non-trivial)."""
    drive = np.sin(np.linspace(0, 3, bins))[None, :, None] * RNG.normal(size=(trials, 1, 1))
    return RNG.poisson(rate * np.exp(0.5 * drive), size=(trials, bins, NEURONS)).astype(float)


def latents(trials: int = TRIALS, bins: int = BINS) -> np.ndarray:
    return np.cumsum(RNG.normal(size=(trials, LATENTS, bins)), axis=-1) * 0.1


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def panel_letters(fig: Figure) -> list[str]:
    """The panel letters drawn by label_panels, in drawing order."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == PANEL_LABEL_GID]


def stamped(fig: Figure) -> bool:
    return any(t.get_gid() == PRESET_STAMP_GID for t in fig.texts)


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def legend_below_axes(ax: Axes) -> bool:
    """Whether the axes' legend is anchored under the axes, not over the data."""
    return ax.get_legend().get_bbox_to_anchor().y0 < ax.get_window_extent().y0


def check(fig: Figure, n_panels: int) -> None:
    letters = panel_letters(fig)
    assert letters == [chr(ord("a") + i) for i in range(n_panels)]
    assert stamped(fig)


def test_fig2_lorenz_panels():
    fig = plots.plot_fig2_lorenz(
        spikes(),
        spikes() + 0.1,
        latents(),
        spikes(),
        latents(),
        latents(2, 3 * BINS),
        max_lag=5,
        n_groups=2,
        preset="test",
        data_label=LABEL,
    )
    check(fig, 11)
    assert {
        "AE latents",
        "LDNS samples",
        "LDNS, 3× longer",
        "population spike count",
        "pairwise correlations",
        "autocorrelation",
        "cross-correlation",
    } <= set(titles(fig))
    assert sum(title.startswith("latent ") for title in titles(fig)) == LATENTS


def test_fig3_human_panels_and_variable_lengths():
    lengths = RNG.integers(10, BINS + 1, TRIALS)
    mask = np.arange(BINS)[None, :] < lengths[:, None]
    data = spikes() * mask[..., None]
    fig = plots.plot_fig3_human(
        data,
        mask,
        spikes() * mask[..., None],
        data,
        mask,
        bin_s=0.02,
        sigma_s=0.06,
        preset="test",
        data_label=LABEL,
    )
    check(fig, 12)
    longest = lengths.max() * 0.02
    assert f"data, {longest:.2f} s" in titles(fig)
    assert {"data", "AE", "LDNS", "trial lengths"} <= set(titles(fig))


def test_fig4_monkey_panels():
    fig = plots.plot_fig4_monkey(
        spikes(), spikes(), spikes(), 0.005, max_lag=5, n_groups=2, preset="test", data_label=LABEL
    )
    check(fig, 8)
    assert [t for t in titles(fig) if t.startswith("autocorrelation")] == [
        "autocorrelation, neuron group 1",
        "autocorrelation, neuron group 2",
    ]
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend == ["data, group 2", "LDNS, group 2", "LDNS+sh, group 2"]


def test_fig4_legend_kl_is_table1s_and_groups_and_methods_differ():
    table = pd.DataFrame(
        {
            "method": ["LDNS", "LDNS+sh"],
            "kl_psch_mean": [0.0123, 0.00456],
            "kl_psch_std": [0.001, 0.0002],
        }
    )
    fig = plots.plot_fig4_monkey(
        spikes(),
        spikes(),
        spikes(),
        0.005,
        max_lag=5,
        n_groups=2,
        preset="test",
        data_label=LABEL,
        table1=table,
    )
    psch = next(ax for ax in fig.axes if ax.get_title() == "population spike count")
    legend = [t.get_text() for t in psch.get_legend().get_texts()]
    assert "LDNS (KL 0.012 ± 0.001, Table 1)" in legend
    assert "LDNS+sh (KL 0.0046 ± 0.0002, Table 1)" in legend
    assert plots.METHOD_COLORS["LDNS"] != plots.METHOD_COLORS["LDNS+sh"]
    # Fig. 2f/g: the model curves of two neuron groups are drawn with different line styles
    fig2, ax = plt.subplots()
    data = spikes()
    groups = [np.arange(4), np.arange(4, NEURONS)]
    plots._temporal_panel(ax, data, {"LDNS": spikes()}, groups, [0, 1], "auto", 5, 1.0, "bins")
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles["LDNS, group 1"] != styles["LDNS, group 2"]
    # the legend sits below the axes, not over the curves
    assert legend_below_axes(ax)


def test_supplementary_monkey_figures_accept_any_method_set(tmp_path):
    methods = {name: spikes() for name in METHODS}
    check(
        plots.plot_figA10_correlation_matrices(
            spikes(), spikes(), spikes(), "test", data_label=LABEL
        ),
        3,
    )
    check(plots.plot_figA11_rasters(spikes(), spikes(), 0.005, "test", data_label=LABEL), 5)
    fig = plots.plot_figA14_method_rasters(spikes(), methods, 0.005, "test", data_label=LABEL)
    check(fig, 1 + len(METHODS))
    assert titles(fig)[:5] == ["data", *METHODS]
    fig = plots.plot_figA15_pca_psd(spikes(), methods, 0.005, 0.03, 3, "test", data_label=LABEL)
    check(fig, len(METHODS))
    assert sum(t.startswith("MSE ") for t in titles(fig)) == len(METHODS)
    fig = plots.plot_figA16_method_statistics(spikes(), methods, 0.005, "test", data_label=LABEL)
    check(fig, len(METHODS))
    assert sum(t.startswith("KL ") for t in titles(fig)) == len(METHODS)
    written = save_figure(fig, tmp_path / "a16")
    assert [p.suffix for p in written] == [".png", ".pdf"] and all(p.exists() for p in written)


def metric_table(names: list[str]) -> pd.DataFrame:
    """A Table-1 frame: row i has mean 0.01 * (i + 1) and std 0.001 on every metric."""
    table = pd.DataFrame({"method": names})
    for key in ("kl_psch", "rmse_corr", "rmse_mean_isi", "rmse_std_isi"):
        table[f"{key}_mean"] = np.arange(1, len(names) + 1) * 0.01
        table[f"{key}_std"] = 0.001
    return table


def test_figA13_bars_follow_the_table():
    table = metric_table([*METHODS, "data (split half)"])
    fig = plots.plot_figA13_metric_bars(table, "test", data_label=LABEL)
    check(fig, 4)
    first = fig.axes[0]
    heights = [bar.get_height() for bar in first.patches]
    np.testing.assert_allclose(heights, table["kl_psch_mean"][:-1])
    assert [t.get_text() for t in first.get_xticklabels()] == METHODS
    reference = [line for line in first.lines if line.get_linestyle() == "--"]
    assert reference[0].get_ydata()[0] == pytest.approx(0.05)


def test_figA13_draws_floor_rows_as_lines_not_bars():
    table = metric_table([*METHODS, "truth", "data (split half)"])
    fig = plots.plot_figA13_metric_bars(table, "test", data_label=LABEL, floor_rows=["truth"])
    first = fig.axes[0]
    assert [t.get_text() for t in first.get_xticklabels()] == METHODS
    dotted = [line for line in first.lines if line.get_linestyle() == ":"]
    assert [line.get_ydata()[0] for line in dotted] == [pytest.approx(0.01 * (len(METHODS) + 1))]


def test_figA13_log_axis_only_where_one_method_is_orders_of_magnitude_off():
    # quick preset: a barely trained AutoLFADS+sh had KL 6e4 beside 1e-2 for LDNS, which
    # flattened every other bar of panel a; that panel (only) goes to a log axis
    table = metric_table([*METHODS, "data (split half)"])
    table.loc[1, "kl_psch_mean"] = 600.0
    fig = plots.plot_figA13_metric_bars(table, "test", data_label=LABEL)
    scales = [ax.get_yscale() for ax in fig.axes[:4]]
    assert scales == ["log", "linear", "linear", "linear"]
    assert fig.axes[0].get_title().endswith("log scale")


def test_fig5_conditional_panels():
    n_angle, conditions = 6, np.array([3, 3, 5, 5])
    velocity = RNG.normal(size=(TRIALS, BINS, 2)) * 0.1
    decoding = pd.DataFrame(
        {
            "evaluated_on": [
                "AE rates, val trials",
                "AE rates, test trials",
                "velocity-conditioned LDNS samples",
            ],
            "trials": [3, 3, 4],
            "r2": [0.8, 0.7, 0.5],
        }
    )
    fig = plots.plot_fig5_conditional(
        angle=RNG.uniform(-np.pi, np.pi, n_angle),
        angle_decoded=RNG.normal(size=(n_angle, BINS, 2)),
        data_velocity=velocity,
        data_angle=RNG.uniform(-np.pi, np.pi, TRIALS),
        condition_velocity=RNG.normal(size=(len(conditions), BINS, 2)),
        condition_decoded=RNG.normal(size=(len(conditions), BINS, 2)),
        condition_trial=conditions,
        ae_latents=latents(),
        sample_latents=latents(len(conditions)),
        ae_rates=spikes(),
        sample_rates=spikes(trials=len(conditions)),
        decoding=decoding,
        bin_s=0.005,
        preset="test",
        data_label=LABEL,
    )
    check(fig, 6)
    bars = fig.axes[2].patches
    np.testing.assert_allclose([b.get_height() for b in bars], decoding["r2"])


def test_lfads_lorenz_figures():
    true = np.cumsum(RNG.normal(size=(4, BINS, 3)), axis=1)
    factors = RNG.normal(size=(4, BINS, 5))
    check(plots.plot_figA5_lfads_lorenz_factors(true, factors, "test", data_label=LABEL), 3)
    fig = plots.plot_figA6_lfads_length_generalisation(
        factors, RNG.normal(size=(2, 4 * BINS, 5)), "test", data_label=LABEL
    )
    check(fig, 3)
    assert "prior samples, 4× longer" in titles(fig)
    # panel c's legend sits below the axes, not over the long sample's peaks
    assert legend_below_axes(fig.axes[2])
    # both sample panels are LFADS's, so both in LFADS's colour (not LFADS+sh's)
    for ax in fig.axes[:2]:
        assert {line.get_color() for line in ax.get_lines()} == {plots.METHOD_COLORS["LFADS"]}


def tidy(name: str, source: str, trials: int = TRIALS) -> TidyDataset:
    """A small tidy dataset whose metadata records where its data came from."""
    return TidyDataset(
        name=name,
        signals=spikes(trials=trials),
        split=["train"] * trials,
        bin_size_s=0.005,
        meta={"source": source},
    )


def figure_text(fig: Figure) -> str:
    """Every title and text of a figure (suptitle, axes titles, annotations), joined."""
    parts = [fig.get_suptitle(), *(t.get_text() for t in fig.texts)]
    for ax in fig.axes:
        parts += [ax.get_title(loc) for loc in ("left", "center", "right")]
        parts += [t.get_text() for t in ax.texts]
    return "\n".join(parts)


@pytest.mark.parametrize(
    "name, source, label",
    [
        ("mc_maze", "simulate", "MC_Maze-like simulation"),
        ("mc_maze", "dandi", "MC_Maze"),
        ("human", "simulate", "simulated human BCI"),
        ("human", "dryad", "human BCI (Willett et al. 2023)"),
        ("lorenz", "simulate", "Lorenz simulation"),
    ],
)
def test_titles_say_whether_the_data_are_simulated(name, source, label):
    """The label the scripts derive from the tidy file reaches the figure's title."""
    ds = tidy(name, source)
    assert dataset_label(ds) == label
    data = ds.signals[ds.indices("train")]
    draw = {
        "mc_maze": lambda: plots.plot_fig4_monkey(
            data, spikes(), spikes(), 0.005, 5, 2, "test", data_label=dataset_label(ds)
        ),
        "human": lambda: plots.plot_fig3_human(
            data,
            np.ones(data.shape[:2], bool),
            spikes(),
            spikes(),
            np.ones(data.shape[:2], bool),
            0.02,
            0.06,
            "test",
            data_label=dataset_label(ds),
        ),
        "lorenz": lambda: plots.plot_figA5_lfads_lorenz_factors(
            np.cumsum(RNG.normal(size=(4, BINS, 3)), axis=1),
            RNG.normal(size=(4, BINS, 5)),
            "test",
            data_label=dataset_label(ds),
        ),
    }
    fig = draw[name]()
    assert label in fig.get_suptitle()
    text = figure_text(fig).lower()
    assert ("simulat" in text) == (source == "simulate")
    if name == "mc_maze":  # the supplementary figures use the same label
        fig = plots.plot_figA11_rasters(data, spikes(), 0.005, "test", data_label=dataset_label(ds))
        assert fig.get_suptitle().startswith(f"{label}: ")
        assert ("simulation" in fig.get_suptitle()) == (source == "simulate")


def tiny_settings() -> LDNSSettings:
    """Every part of the `ldns:` section with small, distinct values."""
    optim = {
        "steps": 2,
        "warmup_steps": 1,
        "batch_size": 4,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "lr_horizon": 1.3,
    }
    autoencoder = {
        name: optim
        | {
            "hidden_channels": hidden,
            "latent_channels": latent,
            "num_blocks": blocks,
            "bidirectional": name == "lorenz",
            "d_state": 8,
            "grad_clip": 2.0,
            "cd_p": 0.2,
            "latent_beta": 0.01,
            "td_beta": 0.01,
            "latent_clip": None,
            "checkpoint": "last",
            "log_every": 1,
        }
        for name, hidden, latent, blocks in (
            ("lorenz", 16, 4, 1),
            ("mc_maze", 24, 6, 2),
            ("human", 32, 8, 3),
        )
    }
    denoiser = {
        f"{dataset}_{conditioning}": optim
        | {
            "dataset": dataset,
            "conditioning": conditioning,
            "hidden_channels": 12,
            "num_blocks": 2,
            "d_state": 8,
            "output_init_scale": 0.1,
            "grad_clip": 1.0,
            "loss": "mse",
            "smooth_l1_beta": None,
            "ema_power": 0.67,
            "ema_max_decay": 0.999,
            "ema_min_decay": 0.0,
            "samplers": ["ddpm"],
            "long_samples": 0,
        }
        for dataset, conditioning in (
            ("lorenz", "none"),
            ("mc_maze", "none"),
            ("mc_maze", "velocity"),
            ("human", "length"),
        )
    }
    return LDNSSettings.from_config(
        {
            "diffusion": {
                "num_train_timesteps": 1000,
                "beta_schedule": "linear",
                "beta_start": 1e-4,
                "beta_end": 0.02,
            },
            "autoencoder": autoencoder,
            "denoiser": denoiser,
            "sampling": {
                "ddpm_steps": 77,
                "ddim_steps": 11,
                "batch_size": 8,
                "length_factor": 16,
                "n_angle_samples": 4,
                "velocity_conditions": 2,
                "velocity_samples_per_condition": 2,
                "human_eval_stride": 1,
            },
            "spike_history": {
                "history_bins": 13,
                "steps": 5,
                "lr": 0.1,
                "weight_decay": 0.01,
                "clip": 5,
                "sample_cap": 5,
            },
            "lfads": {},
            "behavior": {"velocity_scale": 1e-3, "onset_bin": 5, "ridge_alpha": 1e-6},
            "evaluation": {
                "n_bootstrap": 2,
                "seed": 0,
                "max_lag": 5,
                "n_groups": 2,
                "pca_components": 3,
                "smoothing_sigma_s": {"mc_maze": 0.03, "human": 0.06},
            },
        }
    )


def test_fig1_schematic_is_drawn_from_the_configuration():
    settings = tiny_settings()
    channels = {"lorenz": 7, "mc_maze": 9, "human": 11}
    latent = {n: s.latent_channels for n, s in settings.autoencoder.items()}
    denoisers = denoiser_parameters(settings.denoiser, latent)
    fig = plot_fig1_schematic(
        settings,
        channels,
        "test",
        autoencoder_counts=autoencoder_parameters(settings.autoencoder, channels),
        denoiser_counts=denoisers,
    )
    assert stamped(fig)
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    for expected in (
        "Conv1d 9→24",
        "2 × block",
        "S4D (causal, N=8)",
        "grouped Conv1d 24→6",
        "DDPM 77 steps or DDIM 11",
        "conditions: velocity",
        "GLM (13",
    ):
        assert expected in texts
    cells = [
        cell.get_text().get_text()
        for ax in fig.axes
        for table in ax.tables
        for cell in table.get_celld().values()
    ]
    assert {"autoencoder human", "11/32/8/3", "denoiser human_length", "length"} <= set(cells)
    assert f"{denoisers['human_length']:,}" in cells
