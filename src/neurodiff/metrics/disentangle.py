"""Disentanglement of learned codes with respect to known generative factors.

All functions take `codes` (n_samples, n_codes) and `factors` (n_samples, n_factors); a 1-D
array counts as one column. A factor is *discrete* (a class label: condition, reach target) or
*continuous* (reach angle, speed). Pass `discrete` (one bool per factor) to say which; when it
is None a factor counts as discrete if it is integer/bool typed or takes at most `n_bins`
(default 20) distinct values.

Definitions and sources:

- MIG, mutual information gap (Chen et al. 2018, "Isolating sources of disentanglement in
  VAEs"): for each factor v_k, the difference between the largest and second-largest mutual
  information I(z_j; v_k) over code axes z_j, divided by the entropy H(v_k); averaged over
  factors. Chen et al. estimate I(z_j; v_k) from the encoder distribution; like the
  disentanglement_lib benchmark (Locatello et al. 2019) we estimate it from discretised codes.
  The binning is named by `binning`: "equal_frequency" (quantile bins, the default, invariant
  to any monotone transform of a code axis) or "equal_width" (bins of equal width between the
  minimum and maximum, as disentanglement_lib's `_histogram_discretize` and MIG-Vis do);
  continuous factors are discretised the same way, discrete factors are used as they are.
- DCI (Eastwood & Williams 2018, "A framework for the quantitative evaluation of disentangled
  representations"): one regressor per factor predicts it from all codes; the importance of
  code j for factor k, R_jk, is |coefficient| (Lasso on standardised codes and targets; for a
  discrete factor, L1-penalised multinomial logistic regression, summed over classes) or the
  feature importance of gradient-boosted trees; each factor's importances are scaled to sum
  to 1 (tree importances already do), so factors of different types weigh equally. With
  P_jk = R_jk / Σ_k R_jk, disentanglement D = Σ_j ρ_j (1 − H_K(P_j·)) with ρ_j = Σ_k R_jk / Σ R and
  H_K the entropy in
  base K = n_factors; completeness C = mean_k (1 − H_J(P̃_·k)) with P̃_jk = R_jk / Σ_j R_jk and
  base J = n_codes; informativeness is the held-out prediction score (R² for continuous
  factors, chance-adjusted balanced accuracy for discrete ones: 0 = chance, 1 = perfect).
- SAP, separated attribute predictability (Kumar et al. 2018, "Variational inference of
  disentangled latent concepts from unlabeled observations"): a score matrix S_jk of how well
  code j alone predicts factor k (R² of a 1-D linear regression for continuous factors;
  chance-adjusted balanced accuracy of a 1-D threshold classifier, a decision tree with as
  many leaves as classes, for discrete ones), then the mean over factors of the gap between
  the two largest S_jk.
- Beyond MIG, for latents with label-assigned and unsupervised dimensions (BeNeDiff,
  reference/benediff.md §4, held-out trials): the Gaussian total correlation of the latent
  means, TC_G = −½ log det R (R their correlation matrix; 0 iff uncorrelated), and the Gaussian
  mutual information between the label-assigned and the unsupervised dimensions,
  ½ (log det R_aa + log det R_uu − log det R); each label's assigned dimension is the one of
  largest binned MI with it. The leakage R² of the unsupervised dimensions is in
  `neurodiff.metrics.decoding`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, mutual_info_score, r2_score
from sklearn.tree import DecisionTreeClassifier

DCI_MODELS = ("lasso", "gbt")
BINNINGS = ("equal_frequency", "equal_width")
DISCRETE_MAX_LEVELS = 20
EPS = 1e-12


# ---------------------------------------------------------------- inputs and splits


def _as_2d(name: str, x: np.ndarray) -> np.ndarray:
    """A finite 2-D float array (a 1-D array becomes one column)."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be (n_samples >= 2, n_columns >= 1), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite values")
    return arr


def _check_inputs(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """codes and factors as 2-D arrays with the same number of samples, no constant factor."""
    c, f = _as_2d("codes", codes), _as_2d("factors", factors)
    if c.shape[0] != f.shape[0]:
        raise ValueError(f"codes have {c.shape[0]} samples but factors have {f.shape[0]}")
    constant = np.flatnonzero(np.ptp(f, axis=0) == 0)
    if constant.size:
        raise ValueError(f"factors {constant.tolist()} are constant; nothing to disentangle")
    return c, f


def infer_discrete(factors: np.ndarray, max_levels: int = DISCRETE_MAX_LEVELS) -> np.ndarray:
    """One bool per factor: integer/bool typed, or at most `max_levels` distinct values."""
    raw = np.asarray(factors)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.dtype.kind in "biu":
        return np.ones(raw.shape[1], dtype=bool)
    return np.array([np.unique(col).size <= max_levels for col in raw.T])


def _resolve_discrete(
    factors: np.ndarray, discrete: Sequence[bool] | None, max_levels: int
) -> np.ndarray:
    """The per-factor discrete flags, given or inferred, checked against the factor count."""
    n_factors = 1 if np.ndim(factors) == 1 else np.shape(factors)[1]
    flags = infer_discrete(factors, max_levels) if discrete is None else np.asarray(discrete)
    if flags.shape != (n_factors,) or flags.dtype != bool:
        raise ValueError(f"discrete must be {n_factors} bools (one per factor), got {discrete!r}")
    return flags


def train_test_split_indices(
    n_samples: int,
    train_idx: np.ndarray | None = None,
    test_idx: np.ndarray | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The given train/test indices, checked; or a seeded random split when both are None."""
    if train_idx is None and test_idx is None:
        order = np.random.default_rng(seed).permutation(n_samples)
        n_test = max(1, int(round(test_fraction * n_samples)))
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    if train_idx is None or test_idx is None:
        raise ValueError("give both train_idx and test_idx, or neither")
    train, test = np.asarray(train_idx, dtype=int), np.asarray(test_idx, dtype=int)
    for name, idx in (("train_idx", train), ("test_idx", test)):
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= n_samples:
            raise ValueError(f"{name} must be non-empty indices in [0, {n_samples})")
    return train, test


def _standardise(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """x z-scored with the mean and std of the training rows (constant columns left at 0)."""
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    return (x - mean) / np.where(std > 0, std, 1.0)


# ---------------------------------------------------------------- MIG


def discretise(x: np.ndarray, n_bins: int = 20, binning: str = "equal_frequency") -> np.ndarray:
    """Integer labels of equal-frequency (ties share a bin) or equal-width bins of a 1-D array."""
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    if binning not in BINNINGS:
        raise ValueError(f"binning={binning!r} is not one of {BINNINGS}")
    if binning == "equal_width":
        inner = np.linspace(np.min(x), np.max(x), n_bins + 1)[1:-1]
        return np.searchsorted(inner, x, side="right") if np.ptp(x) > 0 else np.zeros(len(x), int)
    edges = np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return np.searchsorted(np.unique(edges), x, side="right")


def _factor_labels(
    factor: np.ndarray, is_discrete: bool, n_bins: int, binning: str = "equal_frequency"
) -> np.ndarray:
    """Class labels of a discrete factor, or bin labels of a continuous one."""
    if is_discrete:
        return np.unique(factor, return_inverse=True)[1]
    return discretise(factor, n_bins, binning)


def _labelled(
    codes: np.ndarray,
    factors: np.ndarray,
    n_bins: int,
    discrete: Sequence[bool] | None,
    binning: str = "equal_frequency",
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bin labels of every code axis and class/bin labels of every factor."""
    flags = _resolve_discrete(factors, discrete, n_bins)
    c, f = _check_inputs(codes, factors)
    code_labels = [discretise(col, n_bins, binning) for col in c.T]
    factor_labels = [
        _factor_labels(col, d, n_bins, binning) for col, d in zip(f.T, flags, strict=True)
    ]
    return code_labels, factor_labels


def mutual_information_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    n_bins: int = 20,
    discrete: Sequence[bool] | None = None,
    binning: str = "equal_frequency",
) -> np.ndarray:
    """I(z_j; v_k) in nats, (n_codes, n_factors), from codes discretised by `binning`."""
    code_labels, factor_labels = _labelled(codes, factors, n_bins, discrete, binning)
    return np.array([[mutual_info_score(v, z) for v in factor_labels] for z in code_labels])


def mig(
    codes: np.ndarray,
    factors: np.ndarray,
    n_bins: int = 20,
    discrete: Sequence[bool] | None = None,
    binning: str = "equal_frequency",
) -> float:
    """Mutual information gap (Chen et al. 2018): mean over factors of (I₁ − I₂) / H(v_k)."""
    code_labels, factor_labels = _labelled(codes, factors, n_bins, discrete, binning)
    if len(code_labels) < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got {len(code_labels)}")
    mi = np.array([[mutual_info_score(v, z) for v in factor_labels] for z in code_labels])
    entropy = np.array([mutual_info_score(v, v) for v in factor_labels])
    top_two = np.sort(mi, axis=0)[-2:]
    return float(np.mean((top_two[1] - top_two[0]) / entropy))


# ---------------------------------------------------------------- DCI


@dataclass(frozen=True)
class DCIScores:
    """Eastwood & Williams (2018) scores and the importance matrix they come from."""

    disentanglement: float
    completeness: float
    informativeness: float
    informativeness_per_factor: np.ndarray
    importance: np.ndarray


def _class_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Balanced accuracy adjusted for chance: 0 at chance level, 1 when perfect."""
    return float(balanced_accuracy_score(y_true, y_pred, adjusted=True))


def _l1_logistic(alpha: float, n_samples: int) -> LogisticRegression:
    """Multinomial logistic regression with the L1 penalty a Lasso of strength alpha has."""
    c = 1.0 / (alpha * n_samples)
    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) >= (1, 8):
        return LogisticRegression(C=c, l1_ratio=1.0, solver="saga", max_iter=2000)
    return LogisticRegression(C=c, penalty="l1", solver="saga", max_iter=2000)


def _fit_lasso(
    x: np.ndarray,
    y: np.ndarray,
    is_discrete: bool,
    train: np.ndarray,
    test: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, float]:
    """Importances |coef| and held-out score of a Lasso (L1 logistic regression for classes)."""
    if is_discrete:
        labels = np.unique(y, return_inverse=True)[1]
        model = _l1_logistic(alpha, train.size).fit(x[train], labels[train])
        importance = np.abs(model.coef_).sum(axis=0)
        return importance, _class_score(labels[test], model.predict(x[test]))
    target = _standardise(y[:, None], train)[:, 0]
    model = Lasso(alpha=alpha).fit(x[train], target[train])
    return np.abs(model.coef_), float(r2_score(target[test], model.predict(x[test])))


def _fit_gbt(
    x: np.ndarray,
    y: np.ndarray,
    is_discrete: bool,
    train: np.ndarray,
    test: np.ndarray,
    n_estimators: int,
    seed: int,
) -> tuple[np.ndarray, float]:
    """Feature importances and held-out score of gradient-boosted trees."""
    if is_discrete:
        labels = np.unique(y, return_inverse=True)[1]
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(x[train], labels[train])
        return model.feature_importances_, _class_score(labels[test], model.predict(x[test]))
    model = GradientBoostingRegressor(n_estimators=n_estimators, random_state=seed)
    model.fit(x[train], y[train])
    return model.feature_importances_, float(r2_score(y[test], model.predict(x[test])))


def _one_minus_entropy(weights: np.ndarray) -> float:
    """1 − entropy of weights/Σweights in base len(weights); 1 for one entry, 0 if all zero."""
    if weights.size == 1:
        return 1.0
    total = weights.sum()
    if total <= 0:
        return 0.0
    p = weights[weights > 0] / total
    return float(1.0 + (p * np.log(p)).sum() / np.log(weights.size))


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (n_codes, n_factors).

    Codes with zero total importance get zero weight; a factor no code predicts has
    completeness 0; with one factor (one code) disentanglement (completeness) is 1.
    """
    r = np.abs(np.asarray(importance, dtype=float))
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0
    d_per_code = np.array([_one_minus_entropy(row) for row in r])
    c_per_factor = np.array([_one_minus_entropy(col) for col in r.T])
    return float((r.sum(axis=1) / total) @ d_per_code), float(c_per_factor.mean())


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    model: str = "gbt",
    discrete: Sequence[bool] | None = None,
    train_idx: np.ndarray | None = None,
    test_idx: np.ndarray | None = None,
    n_estimators: int = 50,
    lasso_alpha: float = 0.01,
    seed: int = 0,
) -> DCIScores:
    """DCI disentanglement, completeness, informativeness (Eastwood & Williams 2018).

    Codes are z-scored with training statistics; `model` is "gbt" (gradient-boosted trees,
    as InfoDiffusion's evaluation) or "lasso". Without indices a seeded 80/20 split is used.
    D and C describe the importances of a predictor that works: when informativeness is near 0
    the importances are fitted noise and D, C mean little (Lasso then keeps a few arbitrary
    small coefficients, so D, C can be well above 0).
    """
    if model not in DCI_MODELS:
        raise ValueError(f"model={model!r} is not one of {DCI_MODELS}")
    flags = _resolve_discrete(factors, discrete, DISCRETE_MAX_LEVELS)
    c, f = _check_inputs(codes, factors)
    train, test = train_test_split_indices(c.shape[0], train_idx, test_idx, seed=seed)
    x = _standardise(c, train)
    fits = [
        _fit_lasso(x, y, d, train, test, lasso_alpha)
        if model == "lasso"
        else _fit_gbt(x, y, d, train, test, n_estimators, seed)
        for y, d in zip(f.T, flags, strict=True)
    ]
    importance = np.stack([imp / max(imp.sum(), EPS) for imp, _ in fits], axis=1)
    scores = np.array([score for _, score in fits])
    disentanglement, completeness = dci_from_importance(importance)
    return DCIScores(disentanglement, completeness, float(scores.mean()), scores, importance)


# ---------------------------------------------------------------- SAP


def _single_code_class_score(
    z: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray
) -> float:
    """Held-out chance-adjusted balanced accuracy of thresholds on one code axis (≥ 0)."""
    n_classes = int(labels.max()) + 1
    tree = DecisionTreeClassifier(max_leaf_nodes=max(2, n_classes), random_state=0)
    tree.fit(z[train, None], labels[train])
    return max(0.0, _class_score(labels[test], tree.predict(z[test, None])))


def sap_score_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    discrete: Sequence[bool] | None = None,
    train_idx: np.ndarray | None = None,
    test_idx: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """S_jk (n_codes, n_factors): how well code j alone predicts factor k (Kumar et al. 2018).

    Continuous: R² of a 1-D linear fit (squared correlation, all samples). Discrete: held-out
    chance-adjusted balanced accuracy of a threshold classifier, floored at 0.
    """
    flags = _resolve_discrete(factors, discrete, DISCRETE_MAX_LEVELS)
    c, f = _check_inputs(codes, factors)
    train, test = train_test_split_indices(c.shape[0], train_idx, test_idx, seed=seed)
    scores = np.zeros((c.shape[1], f.shape[1]))
    for k, (y, is_discrete) in enumerate(zip(f.T, flags, strict=True)):
        labels = np.unique(y, return_inverse=True)[1] if is_discrete else None
        for j, z in enumerate(c.T):
            if labels is not None:
                scores[j, k] = _single_code_class_score(z, labels, train, test)
            elif z.std() > 0 and y.std() > 0:
                scores[j, k] = np.corrcoef(z, y)[0, 1] ** 2
    return scores


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    discrete: Sequence[bool] | None = None,
    train_idx: np.ndarray | None = None,
    test_idx: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """SAP (Kumar et al. 2018): mean over factors of the gap between the two best codes' S_jk."""
    scores = sap_score_matrix(codes, factors, discrete, train_idx, test_idx, seed)
    if scores.shape[0] < 2:
        raise ValueError(f"SAP needs at least 2 code dimensions, got {scores.shape[0]}")
    top_two = np.sort(scores, axis=0)[-2:]
    return float(np.mean(top_two[1] - top_two[0]))


# ---------------------------------------------------------------- decoding and traversal


def linear_decoding_r2(
    codes: np.ndarray,
    factors: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float = 1e-3,
) -> np.ndarray:
    """Held-out R² per factor of a ridge regression from z-scored codes.

    Every factor is a regression target: encode class labels one-hot or angles as (cos, sin)
    before calling.
    """
    c, f = _check_inputs(codes, factors)
    train, test = train_test_split_indices(c.shape[0], train_idx, test_idx)
    x = _standardise(c, train)
    model = Ridge(alpha=alpha).fit(x[train], f[train])
    return np.asarray(r2_score(f[test], model.predict(x[test]), multioutput="raw_values"))


@dataclass(frozen=True)
class TraversalSelectivity:
    """Per code axis: its matched factor, whether it is selective, and its selectivity score."""

    matched_factor: np.ndarray
    selective: np.ndarray
    score_per_axis: np.ndarray
    score: float


def traversal_selectivity(
    decoded_changes: np.ndarray, matched_factor: Sequence[int] | None = None
) -> TraversalSelectivity:
    """How selectively moving each code axis changes one decoded factor.

    `decoded_changes[i, k]` is the change of decoded factor k when code axis i is traversed
    (in units of that factor's spread, so factors are comparable; the sign is ignored). Each
    axis is matched to a factor: given, or by a one-to-one assignment (Hungarian algorithm)
    maximising the total matched |change|; with more axes than factors the unassigned axes
    take their largest factor. Score per axis: (|Δ_matched| − max_other |Δ|) / max |Δ| in
    [−1, 1]; 1 when only the matched factor changes, ≤ 0 when another factor changes at least
    as much (then the axis is not selective). The overall score is the mean over axes.
    """
    delta = np.abs(np.atleast_2d(np.asarray(decoded_changes, dtype=float)))
    if delta.ndim != 2 or not np.all(np.isfinite(delta)):
        raise ValueError(
            f"decoded_changes must be a finite (n_axes, n_factors) array, got shape {delta.shape}"
        )
    n_axes, n_factors = delta.shape
    if n_factors < 2:
        raise ValueError(f"need at least 2 factors to judge selectivity, got {n_factors}")
    if matched_factor is None:
        match = delta.argmax(axis=1)
        rows, cols = linear_sum_assignment(delta, maximize=True)
        match[rows] = cols
    else:
        match = np.asarray(matched_factor, dtype=int)
        if match.shape != (n_axes,) or match.min() < 0 or match.max() >= n_factors:
            raise ValueError(f"matched_factor must be {n_axes} ints in [0, {n_factors})")
    matched = delta[np.arange(n_axes), match]
    others = np.where(np.eye(n_factors, dtype=bool)[match], -np.inf, delta).max(axis=1)
    largest = delta.max(axis=1)
    score = np.where(largest > 0, (matched - others) / np.where(largest > 0, largest, 1), 0.0)
    return TraversalSelectivity(match, score > 0, score, float(score.mean()))


def factor_subspace_r2(
    codes: np.ndarray,
    factors: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    groups: Sequence[Sequence[int]],
    alpha: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Rotation-invariant scores per factor group: held-out R² and the principal angles (deg).

    Each group is the factor columns of one factor (e.g. [cos θ, sin θ] for a circular angle,
    [speed]); its R² is the variance-weighted held-out R² of a ridge regression from all
    z-scored codes, unchanged by any invertible linear map of the codes. The principal angle
    (degrees) between two groups' fitted code directions (the columns of the ridge
    coefficients, in the z-scored code space, so only approximately rotation-invariant) is 90° when
    the factors occupy orthogonal code
    subspaces and 0° when they share a direction. Returns (R² per group, angles (G, G)).
    """
    c, f = _check_inputs(codes, factors)
    train, test = train_test_split_indices(c.shape[0], train_idx, test_idx)
    x = _standardise(c, train)
    y = _standardise(f, train)
    model = Ridge(alpha=alpha).fit(x[train], y[train])
    pred = model.predict(x[test])
    r2 = np.array(
        [
            float(r2_score(y[test][:, list(g)], pred[:, list(g)], multioutput="variance_weighted"))
            for g in groups
        ]
    )
    bases = [np.linalg.qr(model.coef_[list(g)].T)[0] for g in groups]
    angles = np.zeros((len(groups), len(groups)))
    for i, a in enumerate(bases):
        for j, b in enumerate(bases):
            cosines = np.linalg.svd(a.T @ b, compute_uv=False)
            angles[i, j] = np.degrees(np.arccos(np.clip(cosines.max(), -1.0, 1.0)))
    return r2, angles


# ---------------------------------------------------------------- Gaussian dependence of latents


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
