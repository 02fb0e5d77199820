"""Willett-like competitionData .mat files with simulated contents (quick preset stand-in).

Layout as the real archive (data.md §3): `out_dir/train/<session>.mat` and
`out_dir/test/<session>.mat`, one pair per simulated session day (the real archive also has
each day in both folders; "test" holds the day's last block). Each file holds, as loadmat
shows the real files:
- `tx1`..`tx4`: 1 x S cell arrays of T_i x n_electrodes threshold-crossing counts (20 ms bins),
  stored as uint8. tx2..tx4 mimic stricter thresholds by binomial thinning (p = 0.5 per level),
  so tx1 >= tx2 >= tx3 >= tx4.
- `spikePow`: 1 x S cell array of T_i x n_electrodes float32 spike-band power, an illustrative
  20 (1 + rate) x lognormal(0, 0.2) (uV^2).
- `sentenceText`: S x C character matrix (random words, about one word per 25 bins).
- `blockIdx`: S x 1 double block numbers; train blocks hold `trials_per_block` trials, the test
  file is one later block.
The storage classes of the real files (uint8 / single / double) are not verified here; the
reader accepts any numeric class.

Contents: smooth low-dimensional latent dynamics drive the rates. Per trial, latents x_t in
R^{n_latents} follow a stable linear dynamical system of damped 2-D rotations (decay 0.99 per
bin, frequencies 0.5-3 Hz) driven by Gaussian noise, started and kept at unit stationary
variance. Expected counts per bin are rate_e(t) = exp(b_e + s_e + k_e + C_e . x_t), with
b_e = log(r_e * 0.02), r_e ~ lognormal(log 20 Hz, 0.4), readout C ~ N(0, 0.6^2 / n_latents)
shared across sessions (so C_e . x_t has standard deviation about 0.6), per-session drift
s_e ~ N(0, 0.2^2) and per-block drift k_e ~ N(0, 0.1^2) (the nonstationarity that blockwise
z-scoring targets). tx1 ~ Poisson(rate).
Trial lengths are uniform integers in [min_bins, max_bins]; one trial per file has exactly
max_bins bins, so a reader with a smaller max_bins always drops some trials.

Ground truth goes to `out_dir/truth.npz`: per-bin `rates` and `latents` of all trials
concatenated in reading order (train files, then test files, sorted by name, trials in file
order), with `lengths`, `source_file` ("train/<name>.mat"), `trial_in_file` and `readout`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from neurodiff.io import atomic_path, write_npz

BIN_SIZE_S = 0.02
LATENT_DECAY = 0.99
MODULATION_STD = 0.6
BASE_RATE_HZ = 20.0
VOCABULARY = (
    "i",
    "you",
    "we",
    "they",
    "it",
    "the",
    "a",
    "and",
    "to",
    "of",
    "is",
    "was",
    "not",
    "that",
    "what",
    "do",
    "think",
    "know",
    "good",
    "time",
    "people",
    "really",
    "home",
    "work",
    "day",
    "about",
    "would",
    "like",
    "there",
    "here",
    "going",
    "said",
    "more",
    "very",
    "little",
)


def latent_dynamics_matrix(n_latents: int, rng: np.random.Generator) -> np.ndarray:
    """Block-diagonal matrix of damped 2-D rotations, frequencies 0.5-3 Hz at 20 ms bins."""
    if n_latents < 2 or n_latents % 2:
        raise ValueError(f"n_latents must be an even number >= 2, got {n_latents}")
    dynamics = np.zeros((n_latents, n_latents))
    for j, freq in enumerate(rng.uniform(0.5, 3.0, size=n_latents // 2)):
        angle = 2 * np.pi * freq * BIN_SIZE_S
        rotation = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        dynamics[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = LATENT_DECAY * np.asarray(rotation)
    return dynamics


def simulate_latents(dynamics: np.ndarray, n_bins: int, rng: np.random.Generator) -> np.ndarray:
    """One trial (n_bins, n_latents) of the noise-driven linear dynamics at unit variance."""
    noise_std = np.sqrt(1.0 - LATENT_DECAY**2)
    state = rng.normal(size=len(dynamics))
    latents = np.empty((n_bins, len(dynamics)))
    for t in range(n_bins):
        latents[t] = state
        state = dynamics @ state + noise_std * rng.normal(size=len(dynamics))
    return latents


def _sentence(n_bins: int, rng: np.random.Generator) -> str:
    n_words = max(1, n_bins // 25)
    return " ".join(rng.choice(VOCABULARY, size=n_words))


def _thinned_counts(rates: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """tx1..tx4 as uint8: Poisson counts, then three rounds of binomial thinning."""
    counts = [rng.poisson(rates)]
    for _ in range(3):
        counts.append(rng.binomial(counts[-1], 0.5))
    if counts[0].max() > np.iinfo(np.uint8).max:
        raise ValueError(f"simulated count {counts[0].max()} does not fit uint8; lower the rates")
    return [c.astype(np.uint8) for c in counts]


def _cell(arrays: list[np.ndarray]) -> np.ndarray:
    cell = np.empty((1, len(arrays)), dtype=object)
    for i, arr in enumerate(arrays):
        cell[0, i] = arr
    return cell


def _simulate_file(
    lengths: np.ndarray,
    blocks: np.ndarray,
    bias: np.ndarray,
    readout: np.ndarray,
    dynamics: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict, list, list]:
    """Contents of one .mat file plus the per-trial true rates and latents."""
    block_drift = {b: rng.normal(0.0, 0.1, size=len(bias)) for b in np.unique(blocks)}
    tx, power, rates_all, latents_all = [[], [], [], []], [], [], []
    for n_bins, block in zip(lengths, blocks, strict=True):
        latents = simulate_latents(dynamics, int(n_bins), rng)
        rates = np.exp(bias + block_drift[block] + latents @ readout.T)
        for level, counts in enumerate(_thinned_counts(rates, rng)):
            tx[level].append(counts)
        power.append((20.0 * (1 + rates) * rng.lognormal(0.0, 0.2, rates.shape)).astype(np.float32))
        rates_all.append(rates.astype(np.float32))
        latents_all.append(latents.astype(np.float32))
    contents = {f"tx{k + 1}": _cell(tx[k]) for k in range(4)}
    contents["spikePow"] = _cell(power)
    contents["sentenceText"] = np.asarray([_sentence(int(n), rng) for n in lengths])
    contents["blockIdx"] = blocks.astype(np.float64).reshape(-1, 1)
    return contents, rates_all, latents_all


def _trial_lengths(
    n_trials: int, min_bins: int, max_bins: int, rng: np.random.Generator
) -> np.ndarray:
    lengths = rng.integers(min_bins, max_bins + 1, size=n_trials)
    lengths[rng.integers(n_trials)] = max_bins
    return lengths


def _sessions(
    n_files: int,
    trials_per_file: int,
    n_test: int,
    trials_per_block: int,
    base: np.ndarray,
    rng: np.random.Generator,
) -> list[tuple[str, np.ndarray, dict]]:
    """Per session day: file name, electrode biases with drift, block ids of train and test."""
    width = max(2, len(str(n_files - 1)))
    sessions = []
    for day in range(n_files):
        bias = base + rng.normal(0.0, 0.2, size=len(base))
        train_blocks = 1 + np.arange(trials_per_file) // trials_per_block
        blocks = {"train": train_blocks, "test": np.full(n_test, train_blocks[-1] + 1)}
        sessions.append((f"t12.sim{day:0{width}d}.mat", bias, blocks))
    return sessions


def _write_truth(path: Path, truth: dict[str, list], readout: np.ndarray) -> None:
    """Atomically write the concatenated per-bin ground truth of all trials."""
    write_npz(
        path,
        {
            "rates": np.concatenate(truth["rates"]),
            "latents": np.concatenate(truth["latents"]),
            "lengths": np.asarray(truth["lengths"], dtype=np.int64),
            "source_file": np.asarray(truth["source_file"]),
            "trial_in_file": np.asarray(truth["trial_in_file"], dtype=np.int64),
            "readout": readout.astype(np.float32),
            "bin_size_s": np.asarray(BIN_SIZE_S),
        },
        compressed=True,
    )


def write_willett_like(
    out_dir: str | os.PathLike,
    n_files: int = 4,
    trials_per_file: int = 20,
    n_electrodes: int = 256,
    min_bins: int = 40,
    max_bins: int = 120,
    seed: int = 0,
    test_trials_per_file: int | None = None,
    trials_per_block: int = 10,
    n_latents: int = 6,
) -> dict:
    """Write n_files sessions as train/ and test/ .mat files plus truth.npz; return their paths.

    `trials_per_file` is the number of trials of each train file; each test file has
    `test_trials_per_file` trials (default trials_per_file // 2, at least 1).
    """
    n_test = max(1, trials_per_file // 2) if test_trials_per_file is None else test_trials_per_file
    if min(n_files, trials_per_file, n_test, n_electrodes, trials_per_block) < 1:
        raise ValueError(
            f"n_files={n_files}, trials_per_file={trials_per_file}, "
            f"test_trials_per_file={n_test}, n_electrodes={n_electrodes} and "
            f"trials_per_block={trials_per_block} must be positive"
        )
    if not 1 <= min_bins <= max_bins:
        raise ValueError(f"need 1 <= min_bins <= max_bins, got {min_bins}, {max_bins}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    dynamics = latent_dynamics_matrix(n_latents, rng)
    readout = rng.normal(0.0, MODULATION_STD / np.sqrt(n_latents), size=(n_electrodes, n_latents))
    base = np.log(rng.lognormal(np.log(BASE_RATE_HZ), 0.4, size=n_electrodes) * BIN_SIZE_S)
    sessions = _sessions(n_files, trials_per_file, n_test, trials_per_block, base, rng)
    written = {"train": [], "test": []}
    truth = {"rates": [], "latents": [], "lengths": [], "source_file": [], "trial_in_file": []}
    for folder in ("train", "test"):
        for file_name, bias, blocks in sessions:
            lengths = _trial_lengths(len(blocks[folder]), min_bins, max_bins, rng)
            contents, rates, latents = _simulate_file(
                lengths, blocks[folder], bias, readout, dynamics, rng
            )
            path = out_dir / folder / file_name
            with atomic_path(path) as tmp:
                scipy.io.savemat(tmp, contents, do_compression=True)
            written[folder].append(str(path))
            truth["rates"] += rates
            truth["latents"] += latents
            truth["lengths"] += list(lengths)
            truth["source_file"] += [f"{folder}/{file_name}"] * len(lengths)
            truth["trial_in_file"] += list(range(len(lengths)))
    truth_path = out_dir / "truth.npz"
    _write_truth(truth_path, truth, readout)
    return {**written, "truth": str(truth_path)}
