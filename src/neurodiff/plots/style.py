"""The shared figure style: rc settings, colours, panel letters, preset stamp, data labels,
atomic saving.

Every figure of the workflow is drawn inside `style_context()` (usable as a decorator),
states its preset with `stamp_preset`, names its data with `dataset_label` (so a figure drawn
from a simulated stand-in says so in its title), and is written with `save_figure`, which
renders PNG and PDF to temporary files and moves both into place only if both renders succeed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import Colormap, ListedColormap, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402

from neurodiff.io import atomic_path  # noqa: E402

PNG_DPI = 150
FIGURE_FORMATS = ("png", "pdf")
PANEL_LABEL_GID = "panel-label"
PRESET_STAMP_GID = "preset-stamp"
PRESET_STAMP_STRIP_IN = 0.14  # height kept free for the stamp under constrained layout

# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
CATEGORICAL = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
# Roles that recur across papers keep one colour everywhere.
COLORS = {
    "data": "#222222",
    "model": "#D55E00",
    "truth": "#0072B2",
    "heldout": "#CC79A7",
    "heldin": "#222222",
    "event": "#888888",
    "spread": "#BBBBBB",
}
RASTER_CMAP = "Greys"
RATE_CMAP = "magma"
SEQUENTIAL_CMAP = "viridis"
# Cyclic and of even lightness, so every reach direction is equally visible on white.
ANGLE_CMAP: Colormap = ListedColormap(sns.color_palette("husl", 256), name="reach_angle")

RC_PARAMS = {
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "axes.titlelocation": "center",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.7,
    "axes.prop_cycle": matplotlib.cycler(color=CATEGORICAL),
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.major.width": 0.7,
    "ytick.major.width": 0.7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.5,
    "lines.linewidth": 1.0,
    "image.interpolation": "nearest",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Apply the shared rc settings inside a block or (as a decorator) a plotting function."""
    with plt.rc_context(RC_PARAMS):
        yield


def categorical_colors(n: int) -> list[str]:
    """Return `n` distinguishable colours, cycling the palette when `n` exceeds it."""
    return [CATEGORICAL[i % len(CATEGORICAL)] for i in range(n)]


def angle_colors(angles_rad: np.ndarray) -> np.ndarray:
    """Map angles in radians to RGBA colours of the cyclic reach-angle colour map."""
    return ANGLE_CMAP(np.mod(np.asarray(angles_rad, dtype=float), 2 * np.pi) / (2 * np.pi))


def add_angle_colorbar(
    fig: Figure, ax: Axes | Sequence[Axes], label: str = "reach angle (deg)"
) -> None:
    """Attach a colour bar of the reach-angle colour map (0-360 deg) beside `ax`."""
    mappable = plt.cm.ScalarMappable(norm=Normalize(0, 360), cmap=ANGLE_CMAP)
    bar = fig.colorbar(mappable, ax=ax, shrink=0.8, aspect=20, pad=0.02)
    bar.set_ticks([0, 90, 180, 270, 360])
    bar.set_label(label)


def annotate_cells(
    ax: Axes, values: np.ndarray, dark: np.ndarray, fontsize: float, fmt: str = "{:.2f}"
) -> None:
    """Write each value of a heat map at its cell centre: white where `dark`, else black."""
    for (i, j), value in np.ndenumerate(values):
        ax.text(
            j,
            i,
            fmt.format(value),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if dark[i, j] else "black",
        )


def label_panels(axes: Sequence[Axes], start: str = "a") -> None:
    """Write bold panel letters (a, b, c, ...) at the top-left corner of each axes."""
    for i, ax in enumerate(axes):
        ax.annotate(
            chr(ord(start) + i),
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(-18, 7),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=10,
            fontweight="bold",
            gid=PANEL_LABEL_GID,
        )


def preset_mark(preset: str) -> str:
    """The text that states a preset on figures and GIFs: '<preset> preset'."""
    if not isinstance(preset, str) or not preset.strip():
        raise ValueError(f"preset must be a non-empty string, got {preset!r}")
    return f"{preset} preset"


def stamp_preset(fig: Figure, preset: str) -> None:
    """Write '<preset> preset' in the bottom-right corner, so every figure states its preset.

    Under constrained layout a strip along the bottom edge is kept free for the stamp, so
    it never overlaps an axis label.
    """
    mark = preset_mark(preset)
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        strip = PRESET_STAMP_STRIP_IN / fig.get_figheight()
        engine.set(rect=(0, strip, 1, 1 - strip))
    fig.text(
        0.998,
        0.003,
        mark,
        ha="right",
        va="bottom",
        fontsize=6.5,
        color="0.45",
        style="italic",
        gid=PRESET_STAMP_GID,
    )


# ---------------------------------------------------------------- data labels

SIMULATED_SOURCE = "simulate"
REAL_SOURCES = ("dandi", "dryad", "figshare")
# tidy dataset name -> (title when the data are real, title when they are simulated)
DATASET_TITLES = {
    "lorenz": ("Lorenz simulation", "Lorenz simulation"),  # the LDNS paper's own simulation
    "reaching": ("synthetic reaching", "synthetic reaching"),  # GNOCCHI's own simulation
    "mc_maze": ("MC_Maze", "MC_Maze-like simulation"),
    "mc_rtt": ("MC_RTT", "MC_RTT-like simulation"),
    "human": ("human BCI (Willett et al. 2023)", "simulated human BCI"),
    "widefield": ("widefield mSM36", "simulated widefield"),
}


def dataset_title(name: str, simulated: bool) -> str:
    """The name figures give a dataset: its real name, or what it is a simulation of.

    `name` is the tidy dataset name (`widefield_<session>` counts as widefield). The papers'
    own simulations (Lorenz, synthetic reaching) have one name, which says so already.
    """
    key = "widefield" if name.startswith("widefield_") else name
    if key not in DATASET_TITLES:
        raise ValueError(
            f"no figure title for dataset {name!r}; known: "
            f"{sorted(DATASET_TITLES)} and widefield_<session>"
        )
    real, simulation = DATASET_TITLES[key]
    return simulation if simulated else real


def is_simulated(meta: Mapping[str, Any] | Any) -> bool:
    """Whether a dataset was simulated, from the `source` its tidy file records.

    `meta` is a TidyDataset, its `meta` mapping, or a dataset entry of a provenance sidecar
    (which copies `source`). Raises ValueError when the source is missing or unknown, so a
    figure never calls data real (or simulated) by guess.
    """
    if not isinstance(meta, Mapping):
        meta = getattr(meta, "meta", None)
    source = meta.get("source") if isinstance(meta, Mapping) else None
    if source == SIMULATED_SOURCE:
        return True
    if source in REAL_SOURCES:
        return False
    raise ValueError(
        f"cannot tell whether the data are simulated: metadata 'source' is "
        f"{source!r}; expected {SIMULATED_SOURCE!r} or one of {list(REAL_SOURCES)}"
    )


def dataset_label(ds: Any) -> str:
    """`dataset_title` of a TidyDataset, simulated-ness read from its metadata."""
    return dataset_title(ds.name, is_simulated(ds))


def lineage_label(inputs: Sequence[str | os.PathLike], dataset: str) -> str:
    """`dataset_title` of `dataset`, for a figure whose inputs are not tidy files.

    Simulated-ness is read from the source that the inputs' provenance sidecars record for
    the tidy file behind them (`neurodiff.provenance.input_lineage`).
    """
    from neurodiff.provenance import input_lineage  # imported only by the figures that need it

    datasets = input_lineage(inputs)["datasets"]
    if dataset not in datasets:
        raise ValueError(
            f"the provenance of {[str(p) for p in inputs]} names datasets "
            f"{sorted(datasets)}, not {dataset!r}: cannot tell whether the data "
            "are simulated"
        )
    return dataset_title(dataset, is_simulated(datasets[dataset]))


def save_figure(fig: Figure, stem: str | os.PathLike) -> list[Path]:
    """Write `<stem>.png` and `<stem>.pdf` atomically (both or neither), then close `fig`."""
    stem = Path(stem)
    if stem.suffix.lower() in {f".{fmt}" for fmt in FIGURE_FORMATS}:
        raise ValueError(f"save_figure takes a path without suffix, got {stem}")
    targets = [stem.parent / f"{stem.name}.{fmt}" for fmt in FIGURE_FORMATS]
    try:
        with style_context(), contextlib.ExitStack() as stack:
            for target, fmt in zip(targets, FIGURE_FORMATS, strict=True):
                tmp = stack.enter_context(atomic_path(target))
                fig.savefig(tmp, format=fmt, dpi=PNG_DPI)
    finally:
        plt.close(fig)
    return targets
