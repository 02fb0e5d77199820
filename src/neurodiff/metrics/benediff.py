"""BeNeDiff's metrics: reconstruction and behaviour R² of an LVM, specificity of guided videos.

reference/benediff.md §4. R² is 1 − Σ(y − ŷ)² / Σ(y − ȳ)² per channel, pooled over held-out
trials and time, then averaged over channels. Behaviour R² decodes the labels from the latent
means with a ridge regression fitted on training trials (so models without a behaviour head
are scored the same way). Guided-video specificity compares the variance over time of each
label decoded from generated videos, guided versus unguided:

    ratio_j = mean_n Var_t(label_j | guided) / mean_n Var_t(label_j | unguided)
    specificity_k = ratio_k / mean_{j≠k} ratio_j          (k = the activated factor's label)

specificity_k > 1 means activating factor k moved its own label more than the others.

Disentanglement beyond MIG (held-out trials): the leakage of the unsupervised dimensions (R² of
a ridge decoder from them to the labels), the Gaussian total correlation of the latent means,
TC_G = −½ log det R (R their correlation matrix; 0 iff uncorrelated), and the Gaussian mutual
information between the label-assigned and the unsupervised dimensions,
½ (log det R_aa + log det R_uu − log det R).
"""

from __future__ import annotations

import numpy as np

from neurodiff.metrics.disentangle import linear_decoding_r2, mutual_information_matrix


def r2_per_channel(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """R² per channel (last axis), pooled over all leading axes (trials, time)."""
    truth, prediction = np.asarray(truth, float), np.asarray(prediction, float)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} differ")
    flat_truth = truth.reshape(-1, truth.shape[-1])
    flat_pred = prediction.reshape(-1, truth.shape[-1])
    total = ((flat_truth - flat_truth.mean(axis=0)) ** 2).sum(axis=0)
    if np.any(total == 0):
        raise ValueError(
            f"channels {np.flatnonzero(total == 0).tolist()} are constant: R² is undefined"
        )
    return 1.0 - ((flat_truth - flat_pred) ** 2).sum(axis=0) / total


def behavior_decoding_r2(
    latents: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float = 1e-3,
) -> np.ndarray:
    """Held-out R² per label of a ridge decoder from latents (n, T, K) to labels (n, T, L).

    Fitted on the (trial, time) samples of `train_idx` trials, scored on `test_idx` trials.
    """
    if latents.shape[:2] != labels.shape[:2]:
        raise ValueError(
            f"latents {latents.shape} and labels {labels.shape} need the same (trials, time)"
        )
    n, t = latents.shape[:2]
    rows = np.arange(n * t).reshape(n, t)
    return linear_decoding_r2(
        latents.reshape(n * t, -1),
        labels.reshape(n * t, -1),
        rows[train_idx].ravel(),
        rows[test_idx].ravel(),
        alpha=alpha,
    )


def temporal_variance(trajectories: np.ndarray) -> np.ndarray:
    """Variance over time of each trajectory: (..., T, K) → (..., K)."""
    return np.var(np.asarray(trajectories, float), axis=-2)


def variance_ratios(guided: np.ndarray, unguided: np.ndarray) -> np.ndarray:
    """Per label: mean over samples of Var_t under guidance / the same without, (K,)."""
    if guided.ndim != 3 or unguided.ndim != 3 or guided.shape[2] != unguided.shape[2]:
        raise ValueError(
            f"guided {guided.shape} and unguided {unguided.shape} must be "
            "(samples, T, K) with the same K"
        )
    baseline = temporal_variance(unguided).mean(axis=0)
    if np.any(baseline <= 0):
        raise ValueError(
            f"unguided labels {np.flatnonzero(baseline <= 0).tolist()} never vary "
            "over time: the variance ratio is undefined"
        )
    return temporal_variance(guided).mean(axis=0) / baseline


def guidance_specificity(ratios: np.ndarray, target: int) -> float:
    """ratio of the target label over the mean ratio of the other labels (module docstring)."""
    ratios = np.asarray(ratios, float)
    if ratios.ndim != 1 or ratios.size < 2 or not 0 <= target < ratios.size:
        raise ValueError(
            f"need >= 2 ratios and a target index in range, got {ratios.shape} and target={target}"
        )
    return float(ratios[target] / np.delete(ratios, target).mean())


def _correlation(samples: np.ndarray) -> np.ndarray:
    """Correlation matrix of samples (..., K) pooled over the leading axes; constant dims fail."""
    flat = np.asarray(samples, float).reshape(-1, np.shape(samples)[-1])
    std = flat.std(axis=0)
    if np.any(std == 0):
        raise ValueError(
            f"latent dims {np.flatnonzero(std == 0).tolist()} are constant: the "
            "Gaussian total correlation is undefined"
        )
    return np.atleast_2d(np.corrcoef(flat, rowvar=False))


def _logdet(matrix: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(matrix)
    if sign <= 0:
        raise ValueError("the latent correlation matrix is singular")
    return float(value)


def gaussian_total_correlation(samples: np.ndarray) -> float:
    """TC (nats) of a Gaussian with the samples' correlation: −½ log det R (module doc)."""
    return -0.5 * _logdet(_correlation(samples))


def gaussian_block_mi(samples: np.ndarray, block: list[int] | np.ndarray) -> float:
    """Gaussian MI (nats) between the dims in `block` and all the other dims (module doc)."""
    corr = _correlation(samples)
    inside = np.zeros(len(corr), dtype=bool)
    inside[np.asarray(block, dtype=int)] = True
    if inside.all() or not inside.any():
        raise ValueError(
            f"block {list(block)} must be a proper, non-empty subset of {len(corr)} dims"
        )
    return 0.5 * (
        _logdet(corr[np.ix_(inside, inside)])
        + _logdet(corr[np.ix_(~inside, ~inside)])
        - _logdet(corr)
    )


def assigned_dims(latents: np.ndarray, labels: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Per label, the latent dim of largest binned MI with it: (L,) from (..., K), (..., L)."""
    codes = np.asarray(latents, float).reshape(-1, np.shape(latents)[-1])
    factors = np.asarray(labels, float).reshape(-1, np.shape(labels)[-1])
    rows = np.isfinite(codes).all(axis=1) & np.isfinite(factors).all(axis=1)
    return mutual_information_matrix(codes[rows], factors[rows], n_bins=n_bins).argmax(axis=0)


def leakage_r2(
    latents: np.ndarray,
    labels: np.ndarray,
    unsupervised: list[int] | np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float = 1e-3,
) -> np.ndarray:
    """Held-out R² per label of a ridge decoder from the `unsupervised` latent dims alone."""
    unsupervised = np.asarray(unsupervised, dtype=int)
    if unsupervised.size == 0:
        raise ValueError("leakage needs at least one unsupervised latent dim")
    return behavior_decoding_r2(
        latents[..., unsupervised], labels, train_idx, test_idx, alpha=alpha
    )
