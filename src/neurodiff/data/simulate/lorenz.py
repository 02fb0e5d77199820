"""Lorenz-attractor spiking data, following the LDNS recipe (ldns.md §2).

Recipe:
- Standard Lorenz system (sigma=10, rho=28, beta=8/3). Each trajectory starts from dysts'
  default Lorenz initial condition (a point on the attractor) plus N(0, 2^2) noise per
  coordinate, is sampled every `LORENZ_DT` time units (100 points per period, as dysts'
  default resampling), and its first `burn_in` points are discarded.
- Each trajectory is z-scored per dimension over its kept bins.
- Readout C in R^{N x 3} ~ N(0, 1), rows L2-normalised, rows sorted by column 0 (ascending).
- rates = softplus_beta(C z + log(mean_rate)), softplus_beta(x) = log(1 + exp(beta x)) / beta.
- spikes ~ Poisson(rates); one bin is one sample of the trajectory.

Time is dimensionless: bin_size_s = 1.0 (LDNS evaluates Lorenz ISIs with fps = 1).

Integration: scipy's DOP853 on all trajectories stacked into one system (the Lorenz system is
not stiff; dysts' default is Radau, which is not needed here and is far slower when stacked).

Random streams are derived from `seed` and are independent of the array sizes:
- initial-condition noise of trajectory i: default_rng([seed, 0, i]);
- readout: default_rng([seed, 1]), so it depends on (seed, n_neurons) only;
- spikes: default_rng([seed, 2]); split permutation: default_rng([seed, 3]).
For the 16x length-generalisation comparison call `simulate_lorenz` again with the same
`seed` and `n_neurons` and a larger `n_bins` (e.g. 4096): the readout C is identical and
trajectory i starts from the same initial condition. The z-scoring uses each trajectory's
own (longer) window, so the long latents are on the same scale but not bit-identical
prefixes of the short ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.integrate import solve_ivp

from neurodiff.data.tidy import SPLITS, TidyDataset

LORENZ_SIGMA = 10.0
LORENZ_RHO = 28.0
LORENZ_BETA = 8.0 / 3.0
# Dominant period and default initial condition of the Lorenz attractor in dysts' metadata;
# sampling 100 points per period gives the step LORENZ_DT.
LORENZ_PERIOD = 1.5008
LORENZ_DEFAULT_IC = (-9.7869288, -15.03852, 20.533978)
LORENZ_DT = LORENZ_PERIOD / 100.0
IC_NOISE_STD = 2.0
_STREAM_IC, _STREAM_READOUT, _STREAM_SPIKES, _STREAM_SPLIT = 0, 1, 2, 3


def lorenz_derivative(_t: float, state: np.ndarray) -> np.ndarray:
    """Right-hand side of the Lorenz system for a flat array of stacked (x, y, z) triples."""
    x, y, z = state.reshape(-1, 3).T
    dx = LORENZ_SIGMA * (y - x)
    dy = x * (LORENZ_RHO - z) - y
    dz = x * y - LORENZ_BETA * z
    return np.stack([dx, dy, dz], axis=1).ravel()


def integrate_lorenz(initial: np.ndarray, n_points: int, dt: float = LORENZ_DT) -> np.ndarray:
    """Integrate Lorenz trajectories from `initial` (n, 3); return samples (n, n_points, 3)."""
    initial = np.asarray(initial, dtype=float)
    if initial.ndim != 2 or initial.shape[1] != 3:
        raise ValueError(f"initial conditions must have shape (n, 3), got {initial.shape}")
    times = np.arange(n_points) * dt
    sol = solve_ivp(
        lorenz_derivative,
        (0.0, float(times[-1])),
        initial.ravel(),
        method="DOP853",
        t_eval=times,
        rtol=1e-8,
        atol=1e-8,
    )
    if not sol.success:
        raise RuntimeError(f"Lorenz integration failed: {sol.message}")
    return sol.y.reshape(len(initial), 3, n_points).transpose(0, 2, 1)


def lorenz_latents(n_trials: int, n_bins: int, burn_in: int = 100, seed: int = 42) -> np.ndarray:
    """Per-trajectory z-scored Lorenz latents (n_trials, n_bins, 3) after discarding burn-in."""
    noise = np.stack(
        [
            np.random.default_rng([seed, _STREAM_IC, i]).normal(0.0, IC_NOISE_STD, 3)
            for i in range(n_trials)
        ]
    )
    paths = integrate_lorenz(np.asarray(LORENZ_DEFAULT_IC) + noise, burn_in + n_bins)[:, burn_in:]
    return (paths - paths.mean(axis=1, keepdims=True)) / paths.std(axis=1, keepdims=True)


def lorenz_readout(n_neurons: int, seed: int = 42) -> np.ndarray:
    """Readout (n_neurons, 3): N(0, 1) entries, unit-norm rows sorted by column 0."""
    weights = np.random.default_rng([seed, _STREAM_READOUT]).normal(size=(n_neurons, 3))
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    return weights[np.argsort(weights[:, 0], kind="stable")]


def softplus_beta(x: np.ndarray, beta: float) -> np.ndarray:
    """softplus_beta(x) = log(1 + exp(beta x)) / beta, computed stably."""
    return np.logaddexp(0.0, beta * np.asarray(x)) / beta


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Split sizes from fractions: floors, then the remainder one by one from the first split."""
    fractions = [float(f) for f in fractions]
    if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    counts = [int(np.floor(n * f)) for f in fractions]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split_labels(n: int, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Labels "train"/"val"/"test" for n items, sized by `fractions`, in random order."""
    if len(fractions) != len(SPLITS):
        raise ValueError(f"need one fraction per split {SPLITS}, got {list(fractions)}")
    ordered = np.repeat(np.array(SPLITS), split_counts(n, fractions))
    labels = np.empty(n, dtype=ordered.dtype)
    labels[rng.permutation(n)] = ordered
    return labels


def simulate_lorenz(
    n_trials: int = 5000,
    n_neurons: int = 128,
    n_bins: int = 256,
    burn_in: int = 100,
    mean_rate: float = 0.3,
    beta: float = 2.0,
    split_fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 42,
    name: str = "lorenz",
) -> TidyDataset:
    """Poisson spikes driven by z-scored Lorenz latents through a softplus readout (LDNS)."""
    if min(n_trials, n_neurons, n_bins) < 1 or burn_in < 0:
        raise ValueError(
            f"need positive sizes and burn_in >= 0, got n_trials={n_trials}, "
            f"n_neurons={n_neurons}, n_bins={n_bins}, burn_in={burn_in}"
        )
    if mean_rate <= 0 or beta <= 0:
        raise ValueError(f"mean_rate and beta must be positive, got {mean_rate}, {beta}")
    latents = lorenz_latents(n_trials, n_bins, burn_in, seed)
    readout = lorenz_readout(n_neurons, seed)
    rates = softplus_beta(latents @ readout.T + np.log(mean_rate), beta)
    spikes = np.random.default_rng([seed, _STREAM_SPIKES]).poisson(rates)
    split_rng = np.random.default_rng([seed, _STREAM_SPLIT])
    split = random_split_labels(n_trials, split_fractions, split_rng)
    meta = {
        "source": "simulated Lorenz attractor (LDNS recipe)",
        "sigma": LORENZ_SIGMA,
        "rho": LORENZ_RHO,
        "lorenz_beta": LORENZ_BETA,
        "dt": LORENZ_DT,
        "burn_in": burn_in,
        "ic_noise_std": IC_NOISE_STD,
        "mean_rate": mean_rate,
        "softplus_beta": beta,
        "seed": seed,
        "split_fractions": list(split_fractions),
        "time_unit": "sample (dimensionless)",
    }
    return TidyDataset(
        name=name,
        signals=spikes,
        split=split,
        bin_size_s=1.0,
        signal_kind="counts",
        conditions={"trajectory_index": np.arange(n_trials)},
        truth={
            "latents": latents.astype(np.float32),
            "rates": rates.astype(np.float32),
            "readout": readout,
        },
        meta=meta,
    )
