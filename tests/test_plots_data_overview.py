"""Data-overview figures and the shared style: panels, units, preset stamp, data labels,
atomic saving."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurodiff.data.tidy import TidyDataset, TidyFormatError
from neurodiff.plots.data_overview import plot_overview, plot_widefield_sessions_overview
from neurodiff.plots.style import (
    PANEL_LABEL_GID,
    PRESET_STAMP_GID,
    dataset_label,
    dataset_title,
    is_simulated,
    lineage_label,
    preset_mark,
    save_figure,
    stamp_preset,
)

# ---------------------------------------------------------------- synthetic tidy datasets

SIMULATED = {"source": "simulate"}  # what the prepare/simulate rules record for stand-ins


def _splits(n: int) -> np.ndarray:
    return np.array(["train", "val", "test"] * n)[:n]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], width: int) -> np.ndarray:
    """Random walks smoothed along axis 1: slow signals for behaviour and latents."""
    kernel = np.hanning(width) / np.hanning(width).sum()
    noise = rng.standard_normal(shape)
    return np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="same"), 1, noise)


def make_lorenz(n: int = 6, t: int = 100, neurons: int = 24, seed: int = 0) -> TidyDataset:
    """Lorenz latents (Euler steps), log-linear rates and Poisson counts."""
    rng = np.random.default_rng(seed)
    z = np.empty((n, t, 3))
    z[:, 0] = rng.normal([0, 0, 25], [8, 8, 8], size=(n, 3))
    for k in range(1, t):
        x, y, w = z[:, k - 1].T
        step = np.stack([10 * (y - x), x * (28 - w) - y, x * y - 8 / 3 * w], axis=1)
        z[:, k] = z[:, k - 1] + 0.01 * step
    latents = (z - z.mean(axis=(0, 1))) / z.std(axis=(0, 1))
    rates = np.exp(latents @ rng.normal(0, 0.6, (3, neurons)) - 1.0)
    return TidyDataset(
        name="lorenz",
        signals=rng.poisson(rates),
        split=_splits(n),
        bin_size_s=1.0,
        truth={"latents": latents, "rates": rates},
        meta=dict(SIMULATED),
    )


def _reach_velocity(
    angles: np.ndarray, t: int, bin_s: float, onset: int, peak: np.ndarray
) -> np.ndarray:
    """Bell-shaped reach velocity (trials, t, 2) starting at bin `onset`."""
    time = (np.arange(t) - onset) * bin_s
    speed = peak[:, None] * np.exp(-0.5 * ((time - 0.15) / 0.06) ** 2)
    return np.stack([speed * np.cos(angles)[:, None], speed * np.sin(angles)[:, None]], axis=2)


def make_mc_maze(
    n: int = 24,
    neurons: int = 30,
    n_conditions: int = 6,
    seed: int = 1,
    counts: np.ndarray | None = None,
) -> TidyDataset:
    """MC_Maze-like trials: 140 bins of 5 ms, cosine-tuned units, reaches by condition."""
    rng = np.random.default_rng(seed)
    condition = np.arange(n) % n_conditions
    angle = 2 * np.pi * condition / n_conditions
    velocity = _reach_velocity(angle, 140, 0.005, 50, np.full(n, 400.0))
    pref = rng.uniform(0, 2 * np.pi, neurons)
    drive = (
        np.cos(angle[:, None] - pref[None])[:, None, :]
        * np.linalg.norm(velocity, axis=2)[..., None]
        / 400
    )
    rates_hz = 15 * np.exp(drive + rng.normal(0, 0.3, neurons))
    signals = rng.poisson(rates_hz * 0.005) if counts is None else counts
    return TidyDataset(
        name="mc_maze",
        signals=signals,
        split=_splits(n),
        bin_size_s=0.005,
        behavior=velocity,
        behavior_names=["hand_vel_x", "hand_vel_y"],
        conditions={
            "trial_type": condition + 1,
            "trial_version": condition % 3,
            "condition": condition,
            "reach_angle": angle,
        },
        channels={"heldout": np.arange(neurons) >= neurons - 8},
        meta=dict(SIMULATED),
    )


def make_mc_rtt(n: int = 10, neurons: int = 25, seed: int = 2) -> TidyDataset:
    """MC_RTT-like trials: 120 bins of 5 ms, smooth finger velocity."""
    rng = np.random.default_rng(seed)
    velocity = 40 * _smooth_noise(rng, (n, 120, 2), 25)
    rates_hz = 10 * np.exp(0.02 * velocity @ rng.normal(0, 1, (2, neurons)))
    return TidyDataset(
        name="mc_rtt",
        signals=rng.poisson(rates_hz * 0.005),
        split=_splits(n),
        bin_size_s=0.005,
        behavior=velocity,
        behavior_names=["finger_vel_x", "finger_vel_y"],
        channels={"heldout": np.arange(neurons) >= neurons - 6},
        meta=dict(SIMULATED),
    )


def make_human(
    n: int = 20, max_bins: int = 200, seed: int = 3, counts: np.ndarray | None = None
) -> TidyDataset:
    """Speech-BCI-like trials: 128 channels at 20 ms, variable lengths (prefix mask)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max_bins // 4, max_bins + 1, n)
    mask = np.arange(max_bins)[None] < lengths[:, None]
    rates = rng.gamma(2.0, 0.15, 128)
    signals = rng.poisson(np.broadcast_to(rates, (n, max_bins, 128))) if counts is None else counts
    words = ["the", "cat", "sat", "on", "a", "mat", "with", "$5", "bills"]
    sentences = np.array([" ".join(rng.choice(words, 6)) for _ in range(n)])
    return TidyDataset(
        name="human",
        signals=np.where(mask[..., None], signals, 0),
        split=_splits(n),
        bin_size_s=0.02,
        mask=mask,
        conditions={"sentence": sentences, "block": np.arange(n) // 5},
        meta=dict(SIMULATED),
    )


def make_reaching(trials_per_condition: int = 3, neurons: int = 20, seed: int = 4) -> TidyDataset:
    """Synthetic reaches: 8 angles x 2 speeds, two (angle, speed) pairs held out."""
    rng = np.random.default_rng(seed)
    angle_index = np.repeat(np.arange(8), 2 * trials_per_condition)
    speed_index = np.tile(np.repeat([0, 1], trials_per_condition), 8)
    angle, speed = angle_index * np.pi / 4, np.array([0.6, 1.2])[speed_index]
    velocity = _reach_velocity(angle, 50, 0.02, 5, speed)
    pref = rng.uniform(0, 2 * np.pi, neurons)
    drive = (
        np.cos(angle[:, None] - pref[None])[:, None, :]
        * np.linalg.norm(velocity, axis=2)[..., None]
    )
    rates = 0.4 * np.exp(drive)
    return TidyDataset(
        name="reaching",
        signals=rng.poisson(rates),
        split=_splits(len(angle)),
        bin_size_s=0.02,
        behavior=velocity,
        behavior_names=["hand_vel_x", "hand_vel_y"],
        conditions={
            "reach_angle": angle,
            "angle_index": angle_index,
            "speed": speed,
            "speed_index": speed_index,
            "unseen": (angle_index % 4 == 1) & (speed_index == 1),
        },
        truth={"rates": rates, "hand_pos": np.cumsum(velocity * 0.02, axis=1)},
        meta=dict(SIMULATED),
    )


def make_widefield(n: int = 6, t: int = 60, side: int = 32, seed: int = 5) -> TidyDataset:
    """Widefield-like session: 6 regions x 4 components, 6 labels, two-view video."""
    rng = np.random.default_rng(seed)
    regions = np.repeat(["VIS_L", "VIS_R", "SSp_L", "SSp_R", "MOs_L", "MOs_R"], 4)
    labels = _smooth_noise(rng, (n, t, 6), 9)
    signals = labels @ rng.normal(0, 1, (6, len(regions))) + 0.1 * rng.normal(size=(n, t, 24))
    yy, xx = np.mgrid[:side, :side]
    paw = (side / 2 + side / 4 * np.tanh(labels[..., 3]))[..., None, None]
    video = np.stack(
        [
            200 * np.exp(-((xx - paw) ** 2 + (yy - side / 2) ** 2) / 20),
            200 * np.exp(-((yy - paw) ** 2 + (xx - side / 3) ** 2) / 30),
        ],
        axis=2,
    )
    return TidyDataset(
        name="widefield_mSM36_05-Dec-2017",
        signal_kind="continuous",
        signals=signals,
        split=_splits(n),
        bin_size_s=1 / 30,
        behavior=labels,
        behavior_names=["Levers", "L-Spout", "Paw-(x)", "Paw-(y)", "Chest", "Jaw"],
        video=(video + 20).astype(np.uint8),
        channels={"region": regions},
        meta=dict(SIMULATED),
    )


MAKERS = {
    "lorenz": make_lorenz,
    "mc_maze": make_mc_maze,
    "mc_rtt": make_mc_rtt,
    "human": make_human,
    "reaching": make_reaching,
    "widefield": make_widefield,
}
EXPECTED_PANELS = {
    "lorenz": 4,
    "mc_maze": 5,
    "mc_rtt": 3,
    "human": 5,
    "reaching": 5,
    "widefield": 3,
}


# ---------------------------------------------------------------- helpers


def all_axes(fig) -> list[Axes]:
    """Axes of a figure and of its subfigures."""
    return list(fig.axes) + [ax for sub in fig.subfigs for ax in all_axes(sub)]


def panels(fig: Figure) -> dict[str, Axes]:
    """Lettered axes of a figure, by letter."""
    return {
        text.get_text(): ax
        for ax in all_axes(fig)
        for text in ax.texts
        if text.get_gid() == PANEL_LABEL_GID
    }


def has_content(ax: Axes) -> bool:
    return bool(ax.lines or ax.images or ax.collections or ax.patches)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- figures


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_overview_has_lettered_non_empty_panels_and_preset(name: str) -> None:
    fig = plot_overview(MAKERS[name](), "quick")
    found = panels(fig)
    assert sorted(found) == [chr(ord("a") + i) for i in range(EXPECTED_PANELS[name])]
    assert all(has_content(ax) for ax in found.values())
    assert all(
        any(ax.get_title(loc) for loc in ("center", "left", "right"))
        for ax in found.values()
        if ax.name != "3d"
    )
    stamps = [t.get_text() for t in fig.texts if t.get_gid() == PRESET_STAMP_GID]
    assert stamps == ["quick preset"]


def test_widefield_sessions_stack_one_block_per_session() -> None:
    second = make_widefield(seed=6)
    second.name = "widefield_mSM36_07-Dec-2017"
    fig = plot_widefield_sessions_overview([make_widefield(), second], "paper")
    assert sorted(panels(fig)) == list("abcdef")
    titles = [sub.get_suptitle() for sub in fig.subfigs]
    assert [t.split(":")[0] for t in titles] == ["mSM36_05-Dec-2017", "mSM36_07-Dec-2017"]
    assert [t.get_text() for t in fig.texts if t.get_gid() == PRESET_STAMP_GID] == ["paper preset"]
    with pytest.raises(ValueError, match="at least one session"):
        plot_widefield_sessions_overview([], "paper")


# ---------------------------------------------------------------- data labels

# dataset -> (title when simulated, real source, title when real); the papers' own
# simulations (Lorenz, synthetic reaching) have no real counterpart
LABELS = {
    "lorenz": ("Lorenz simulation", None, None),
    "reaching": ("synthetic reaching", None, None),
    "mc_maze": ("MC_Maze-like simulation", "dandi", "MC_Maze"),
    "mc_rtt": ("MC_RTT-like simulation", "dandi", "MC_RTT"),
    "human": ("simulated human BCI", "dryad", "human BCI (Willett et al. 2023)"),
    "widefield": ("simulated widefield", "figshare", "widefield mSM36"),
}


def figure_text(fig) -> str:
    """Every title and text of a figure and its subfigures, joined."""
    parts = [fig.get_suptitle(), *(t.get_text() for t in fig.texts)]
    parts += [figure_text(sub) for sub in fig.subfigs]
    for ax in fig.axes:
        parts += [ax.get_title(loc) for loc in ("left", "center", "right")]
        parts += [t.get_text() for t in ax.texts]
    return "\n".join(parts)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_overview_title_says_simulated_only_for_simulated_data(name: str) -> None:
    simulated_title, real_source, real_title = LABELS[name]
    ds = MAKERS[name]()
    fig = plot_overview(ds, "quick")
    assert fig.get_suptitle().startswith(f"Data overview, {simulated_title}: ")
    if real_source is None:
        return
    ds.meta["source"] = real_source
    fig = plot_overview(ds, "paper")
    assert fig.get_suptitle().startswith(f"Data overview, {real_title}: ")
    assert "simulat" not in figure_text(fig).lower()


def test_widefield_sessions_overview_names_the_data() -> None:
    sessions = [make_widefield(), make_widefield(seed=6)]
    assert (
        "simulated widefield" in plot_widefield_sessions_overview(sessions, "quick").get_suptitle()
    )
    for ds in sessions:
        ds.meta["source"] = "figshare"
    fig = plot_widefield_sessions_overview(sessions, "paper")
    assert fig.get_suptitle() == "Data overview, widefield mSM36: 2 sessions"
    assert "simulat" not in figure_text(fig).lower()


def test_data_label_helpers() -> None:
    assert dataset_title("mc_maze", simulated=True) == "MC_Maze-like simulation"
    assert dataset_title("mc_rtt", simulated=False) == "MC_RTT"
    assert dataset_title("widefield_session1", simulated=True) == "simulated widefield"
    assert dataset_title("widefield_05-Dec-2017", simulated=False) == "widefield mSM36"
    assert dataset_title("lorenz", simulated=False) == "Lorenz simulation"
    with pytest.raises(ValueError, match="no figure title for dataset 'lorentz'"):
        dataset_title("lorentz", simulated=True)
    assert is_simulated({"source": "simulate"}) and not is_simulated({"source": "dandi"})
    ds = make_mc_maze()
    assert is_simulated(ds) and dataset_label(ds) == "MC_Maze-like simulation"
    for meta in ({}, {"source": "unknown"}, {"source": "resources/x.nwb"}):
        ds.meta = meta
        with pytest.raises(ValueError, match="cannot tell whether the data are simulated"):
            dataset_label(ds)
    assert preset_mark("medium") == "medium preset"


def test_lineage_label_reads_the_source_from_provenance(tmp_path) -> None:
    """Figures drawn from derived arrays take the label from the sidecar of their input."""
    import json

    arrays = tmp_path / "arrays.npz"
    arrays.write_bytes(b"not read")
    sidecar = tmp_path / "arrays.npz.provenance.json"
    for source, label in (("simulate", "MC_Maze-like simulation"), ("dandi", "MC_Maze")):
        sidecar.write_text(
            json.dumps(
                {
                    "rule": "gnocchi_evaluate",
                    "outputs": {arrays.as_posix(): "0" * 64},
                    "datasets": {"mc_maze": {"file": "mc_maze.h5", "source": source}},
                }
            )
        )
        assert lineage_label([arrays], "mc_maze") == label
    with pytest.raises(ValueError, match="not 'reaching'"):
        lineage_label([arrays], "reaching")
    sidecar.unlink()
    with pytest.raises(ValueError, match="cannot tell"):
        lineage_label([arrays], "mc_maze")


def test_overview_dispatch_rejects_unknown_name() -> None:
    ds = make_lorenz()
    ds.name = "lorentz"
    with pytest.raises(ValueError, match="lorentz"):
        plot_overview(ds, "quick")


def test_overview_names_missing_key() -> None:
    ds = make_lorenz()
    del ds.truth["latents"]
    with pytest.raises(TidyFormatError, match="truth/latents"):
        plot_overview(ds, "quick")


def test_mc_maze_psth_in_hz_on_movement_aligned_ms() -> None:
    fig = plot_overview(make_mc_maze(counts=np.ones((24, 140, 30))), "paper")
    psth = panels(fig)["c"]
    x, y = psth.lines[0].get_data()
    assert x[0] == pytest.approx(-250.0) and x[50] == pytest.approx(0.0)
    np.testing.assert_allclose(y, 200.0)  # one spike per 5 ms bin
    assert psth.get_ylabel() == "rate (Hz)"


def test_mc_maze_hand_paths_integrate_velocity() -> None:
    ds = make_mc_maze()
    hand = panels(plot_overview(ds, "quick"))["b"]
    path = np.column_stack(hand.lines[0].get_data())
    np.testing.assert_allclose(path, np.cumsum(ds.behavior[0] * 0.005, axis=0), rtol=1e-5)
    assert path[-1] == pytest.approx([400 * 0.06 * np.sqrt(2 * np.pi), 0], abs=0.5)


def test_human_rates_ignore_padding_and_rasters_show_observed_bins() -> None:
    ds = make_human(counts=np.ones((20, 200, 128)))
    ds.signals[~ds.mask] = 99.0
    found = panels(plot_overview(ds, "quick"))
    np.testing.assert_allclose([p.get_height() for p in found["b"].patches], 50.0)
    shortest = int(ds.lengths().min())
    assert found["c"].images[0].get_array().shape == (128, shortest)


def test_reaching_marks_unseen_conditions_dashed() -> None:
    ds = make_reaching()
    path_ax = panels(plot_overview(ds, "quick"))["a"]
    paths = [line for line in path_ax.lines if len(line.get_xdata()) > 1]
    assert len(paths) == 16
    assert sum(line.get_linestyle() == "--" for line in paths) == 2


# ---------------------------------------------------------------- style and saving


def test_save_figure_writes_png_and_pdf_and_closes(tmp_path) -> None:
    fig = plot_overview(make_mc_rtt(), "quick")
    written = save_figure(fig, tmp_path / "sub" / "mc_rtt_overview")
    assert [p.name for p in written] == ["mc_rtt_overview.png", "mc_rtt_overview.pdf"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 5000 for p in written)
    assert not plt.fignum_exists(fig.number)


class _BrokenArtist(Artist):
    def draw(self, renderer) -> None:
        raise RuntimeError("boom while drawing")


def test_failed_draw_keeps_previous_files(tmp_path) -> None:
    stem = tmp_path / "fig"
    good = plt.figure()
    good.add_subplot().plot([0, 1], [1, 0])
    save_figure(good, stem)
    before = {s: (tmp_path / f"fig.{s}").read_bytes() for s in ("png", "pdf")}
    bad = plt.figure()
    bad.add_subplot().add_artist(_BrokenArtist())
    with pytest.raises(RuntimeError, match="boom"):
        save_figure(bad, stem)
    assert {s: (tmp_path / f"fig.{s}").read_bytes() for s in ("png", "pdf")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]
    assert not plt.fignum_exists(bad.number)


def test_stamp_and_save_reject_bad_arguments(tmp_path) -> None:
    fig = plt.figure()
    with pytest.raises(ValueError, match="preset"):
        stamp_preset(fig, " ")
    with pytest.raises(ValueError, match="without suffix"):
        save_figure(fig, tmp_path / "fig.png")
