"""LDNS length generalisation on the Lorenz simulation (Fig. 2), measured against a reference.

LDNS samples latents 16× longer than its training trials and shows that they stay on the
attractor. `latent_length_generalisation` measures the drift in the autoencoder's latents; this
module adds what is needed to read that number:

- a reference: the simulator's own trajectories, 16× longer, against its training-length ones
  (a perfect model's drift: per-trajectory z-scoring makes short and long windows differ);
- the same comparison in the simulator's coordinates, the model's latents mapped there by a
  linear readout fitted on the training trials' autoencoder latents (held-out R² reported),
  so that model and reference share one space;
- the sampling noise of the measure: two disjoint sets of training-length samples;
- where a drift comes from: the high-frequency power of the long samples (noise the denoising
  left), and the two operations of the denoiser that see the whole sequence, so that a long
  input gives them something training never did: the S4 kernels (the share of their mass at
  lags beyond the training length) and the instance norm (statistics over the whole sequence).
  Long samples are drawn again, from the same noise, with either or both made local to the
  training length: kernel lags beyond it cut, statistics over consecutive training-length
  windows. The trained weights are not changed; LDNS itself uses neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LinearRegression
from torch import nn

from neurodiff.data.simulate.lorenz import lorenz_latents
from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion.schedule import NoiseSchedule
from neurodiff.metrics.agreement import high_frequency_power_ratio, latent_length_generalisation
from neurodiff.metrics.decoding import r2_per_channel
from neurodiff.models.ldns.denoiser import DenoiserBlock
from neurodiff.models.ldns.generate import EncodedData, SamplingPlan, sample_normalized_latents
from neurodiff.models.ldns.settings import SamplingSettings
from neurodiff.nn import S4D

# (row label, S4 kernels cut at the training length, instance norm over training-length windows);
# the first row is the run's own long samples, the others are drawn again from one noise seed.
VARIANTS = (
    ("LDNS (DDPM)", False, False),
    ("LDNS (DDPM), S4 kernels cut at the training length", True, False),
    ("LDNS (DDPM), instance norm over training-length windows", False, True),
    ("LDNS (DDPM), both local to the training length", True, True),
)
# 0.1 cycles/bin: ten times the Lorenz attractor's dominant frequency (100 bins per period).
HIGH_FREQUENCY = 0.1


def fit_coordinate_readout(latents: np.ndarray, coordinates: np.ndarray) -> LinearRegression:
    """Least-squares map (with intercept) from latents (n, d, L) to coordinates (n, k, L)."""
    return LinearRegression().fit(_rows(latents), _rows(coordinates))


def readout_r2(readout: LinearRegression, latents: np.ndarray, coordinates: np.ndarray) -> float:
    """Mean R² over coordinates of `readout` on (latents, coordinates), pooled over bins."""
    return float(np.mean(r2_per_channel(_rows(coordinates), readout.predict(_rows(latents)))))


def to_coordinates(readout: LinearRegression, latents: np.ndarray) -> np.ndarray:
    """Latents (n, d, L) mapped by `readout` to (n, k, L)."""
    n, _, length = latents.shape
    mapped = readout.predict(_rows(latents))
    return mapped.reshape(n, length, -1).transpose(0, 2, 1)


def _rows(x: np.ndarray) -> np.ndarray:
    """(n, channels, L) → (n·L, channels), one row per bin."""
    x = np.asarray(x, dtype=np.float64)
    return x.transpose(0, 2, 1).reshape(-1, x.shape[1])


def s4_layers(model: nn.Module) -> list[S4D]:
    """The model's S4D layers, in module order."""
    return [m for m in model.modules() if isinstance(m, S4D)]


def kernel_mass_beyond(model: nn.Module, trained_length: int, length: int) -> float:
    """Median over S4 layers, directions and channels of the share of Σ|K| (kernel over `length`
    lags) at lags ≥ `trained_length`: what a `length`-bin input weighs that training never did."""
    shares = []
    with torch.no_grad():
        for layer in s4_layers(model):
            mass = layer.kernel(length).abs()
            shares.append((mass[..., trained_length:].sum(-1) / mass.sum(-1)).flatten())
    if not shares:
        raise ValueError("the model has no S4D layer")
    return float(torch.cat(shares).median())


@contextmanager
def local_to(
    denoiser: nn.Module, length: int, kernels: bool = False, norms: bool = False
) -> Iterator[nn.Module]:
    """Within the block the denoiser's S4 kernels ignore lags ≥ `length` (`kernels`) and its
    instance norms use `length`-bin windows (`norms`); the previous settings are restored after."""
    targets = []
    if kernels:
        targets += [(layer, "kernel_cutoff") for layer in s4_layers(denoiser)]
    if norms:
        blocks = [m for m in denoiser.modules() if isinstance(m, DenoiserBlock)]
        if not blocks:
            raise ValueError("the model has no LDNS denoiser block")
        targets += [(block, "norm_window") for block in blocks]
    previous = [getattr(module, name) for module, name in targets]
    for module, name in targets:
        setattr(module, name, length)
    try:
        yield denoiser
    finally:
        for (module, name), value in zip(targets, previous, strict=True):
            setattr(module, name, value)


def drift_row(
    samples: str, space: str, short: np.ndarray, long: np.ndarray, **extra: float
) -> dict[str, object]:
    """One table row: how far `long` drifts from `short` (both (n, channels, time))."""
    drift = latent_length_generalisation(short, long)
    return {
        "samples": samples,
        "space": space,
        "short": f"{short.shape[0]} × {short.shape[-1]}",
        "long": f"{long.shape[0]} × {long.shape[-1]}",
        "max_range_deviation": drift["max_range_deviation"],
        "max_psd_deviation": drift["max_psd_deviation"],
        "high_frequency_power_ratio": high_frequency_power_ratio(short, long, HIGH_FREQUENCY),
        **extra,
    }


def split_in_two(x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves (trials) of x."""
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    if half < 2:
        raise ValueError(f"need at least 4 samples to split in two, got {len(x)}")
    return x[order[:half]], x[order[half : 2 * half]]


def simulator_long_latents(ds: TidyDataset, n: int, length: int) -> np.ndarray:
    """n Lorenz trajectories of `length` bins from the simulator that made `ds` (its burn-in and
    seed; z-scored over their own bins as the data), shaped (n, 3, length)."""
    for key in ("burn_in", "seed"):
        if key not in ds.meta:
            raise ValueError(
                f"dataset {ds.name!r}: meta has no {key!r}; is it the Lorenz simulation?"
            )
    latents = lorenz_latents(n, length, int(ds.meta["burn_in"]), int(ds.meta["seed"]))
    return latents.transpose(0, 2, 1)


def draw_long_latents(
    denoiser: nn.Module,
    encoded: EncodedData,
    schedule: NoiseSchedule,
    sampling: SamplingSettings,
    n: int,
    length: int,
    generator: torch.Generator,
) -> np.ndarray:
    """n unconditional DDPM latent samples of `length` bins, in autoencoder units (n, d, L)."""
    plan = SamplingPlan(n, length, {}, {})
    z = sample_normalized_latents(
        denoiser, schedule, plan, "ddpm", sampling.steps("ddpm"), sampling.batch_size, generator
    )
    return encoded.normalizer.denormalize(z.cpu()).numpy()


def length_generalisation_table(
    ds: TidyDataset,
    encoded: EncodedData,
    short: np.ndarray,
    long: np.ndarray,
    denoiser: nn.Module,
    schedule: NoiseSchedule,
    sampling: SamplingSettings,
    seed: int,
) -> pd.DataFrame:
    """Drift of LDNS's long Lorenz samples beside the simulator's, for each of `VARIANTS`, and
    the measure's sampling noise (rows described in the module docstring).

    `short` and `long` are the run's DDPM latent samples (n, d, L) and (m, d, k·L); the variants
    draw as many long samples again, each from the same noise (`seed`).
    """
    length, long_length = short.shape[-1], long.shape[-1]
    if "latents" not in ds.truth:
        raise ValueError(f"dataset {ds.name!r} has no truth/latents: not the Lorenz simulation")
    train, test = encoded.rows("train"), encoded.rows("test")
    coordinates = ds.truth["latents"].transpose(0, 2, 1)  # (trials, 3, L)
    readout = fit_coordinate_readout(encoded.latents[train], coordinates[train])
    r2 = readout_r2(readout, encoded.latents[test], coordinates[test])
    mass = kernel_mass_beyond(denoiser, length, long_length)
    truth_long = simulator_long_latents(ds, len(long), long_length)
    lorenz = f"Lorenz coordinates (linear readout, test R² {r2:.3f})"
    mapped_short = to_coordinates(readout, short)
    rows = [
        drift_row("simulator's own trajectories (a perfect model)", "Lorenz coordinates (true)",
                  coordinates[train], truth_long),
    ]  # fmt: skip
    for label, kernels, norms in VARIANTS:
        if kernels or norms:
            generator = torch.Generator().manual_seed(seed)  # the same noise for every variant
            with local_to(denoiser, length, kernels=kernels, norms=norms):
                drawn = draw_long_latents(
                    denoiser, encoded, schedule, sampling, len(long), long_length, generator
                )
        else:
            drawn = long
        extra = {"kernel_mass_beyond_training": 0.0 if kernels else mass}
        rows += [
            drift_row(label, lorenz, mapped_short, to_coordinates(readout, drawn), **extra),
            drift_row(label, "autoencoder latents", short, drawn, **extra),
        ]
    first, second = split_in_two(short, seed)
    rows.append(
        drift_row("LDNS (DDPM), training length: one half vs the other (sampling noise)",
                  "autoencoder latents", first, second)
    )  # fmt: skip
    return pd.DataFrame.from_records(rows)
