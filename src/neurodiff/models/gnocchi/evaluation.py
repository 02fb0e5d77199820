"""Evaluation of GNOCCHI and LFADS codes: disentanglement, traversal, unseen-condition generation.

Latents: GNOCCHI's code c (encoder output, L dims); LFADS's initial-condition posterior mean g₀
(ic_dim dims). Both get identical post-processing (gnocchi.md §4):
- "raw" scores (`raw_` metrics): the latents as they are;
- aligned scores (unprefixed metrics, figures, traversals): the latents projected on their
  first L principal axes fitted on the training trials (L = GNOCCHI's code size), the same
  PCA for both models.
Reference rows, disentanglement only: "truth" (the ground-truth factors cos θ, sin θ and the
third factor used as codes: the ceiling of a perfect, factor-aligned code) and "pca_trials"
(the first L principal components of the smoothed single trials, flattened over time: what
a model-free linear code reaches).

1. Disentanglement of the codes of the evaluation trials w.r.t. two factors: the reach angle
   as ONE discrete factor (the sector of `ANGLE_SECTORS` equal sectors centred on 0°, 45°, …;
   the synthetic set's 8 directions exactly) and the third factor (speed or curvature,
   continuous). MIG (bins named by `mig_binning`, equal-width as MIG-Vis), DCI (fitted on
   training-trial codes, scored on evaluation trials), SAP, and rotation-invariant scores:
   the held-out linear R² of the angle (cos θ, sin θ together) and of the third factor from
   all codes, and the principal angle between their code subspaces (`factor_subspace_r2`).
2. Traversal selectivity: base trials (evaluation trials) are re-generated with one aligned
   code axis set to mean + v·std (v on a grid in ±`traversal_range`, clipped to the training
   codes' range), for GNOCCHI from their reverse-DDIM noise x_T (InfoDiffusion's traversal,
   with the code passed during inversion), for LFADS from g₀; both move the latent along the
   principal axis and keep the other components. A ridge decoder trained on real
   trials (time-window means of smoothed activity → factors) reads the factors from the
   generated activity; the change of each factor (range of its base-mean over the grid,
   in units of its spread over the training trials) gives `traversal_selectivity`.
3. Unseen conditions: a linear (ridge) map from factors to codes (GNOCCHI) or to g₀ (LFADS) is
   fitted on the training trials and evaluated at the factors of every real trial of the unseen
   conditions; one trial is generated per real trial (GNOCCHI: fresh x_T; LFADS: the generator
   from g₀). Rates give Poisson spikes. Scores against the real unseen trials:
   - decoded kinematics: a ridge velocity decoder trained on real training trials (smoothed
     activity at t → hand velocity at t + lag) is applied to the generated activity;
     `velocity_r2` is the R² (x and y pooled, variance-weighted) of the condition-mean decoded
     velocity vs the real condition-mean hand velocity; `endpoint_error_deg` the angle between the
     end point of the condition-mean
     decoded trajectory and the real mean reach angle
     (`neurodiff.metrics.decoding.angle_difference_deg`);
   - `psth_r2`: R² of generated vs real condition-mean smoothed activity (PSTHs) over
     conditions × time, pooled over neurons (variance-weighted, `neurodiff.metrics.spikes`);
   - spike statistics: RMSE of per-neuron mean rates (Hz), mean absolute difference of
     per-neuron Fano factors of trial spike counts (within condition,
     `neurodiff.metrics.spikes.fano_factors`), RMSE of pairwise correlations
     (`neurodiff.metrics.spikes.rmse_correlations`).
   The "data" reference (ceiling) scores one random half of the real unseen trials against the
   other half with the same functions (decoded from real activity instead of generated); the
   "nearest" baseline scores the real training trials of the closest seen condition (angle
   and third factor, `nearest_condition`) as if generated for the unseen one: what generating
   a seen condition perfectly, instead of the unseen one, reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from neurodiff.metrics.decoding import (
    angle_difference_deg,
    fit_velocity_decoder,
    predict_velocity,
)
from neurodiff.metrics.disentangle import (
    dci,
    factor_subspace_r2,
    mig,
    mutual_information_matrix,
    sap,
    traversal_selectivity,
)
from neurodiff.metrics.spikes import fano_factors, psth_r2, rmse_correlations, smooth_spikes
from neurodiff.models.baselines.lfads import LFADS
from neurodiff.models.gnocchi.experiment import (
    ExperimentData,
    builder_settings,
    circular_mean,
    gnocchi_transform,
    load_experiment_data,
    load_model,
)
from neurodiff.models.gnocchi.model import Gnocchi
from neurodiff.models.gnocchi.settings import EvaluationSettings, GnocchiSettings
from neurodiff.models.gnocchi.transform import SignalTransform

# ---------------------------------------------------------------- decoders trained on real data


@dataclass
class RealDecoders:
    """Ridge decoders fitted on real training trials, and the smoothing they expect."""

    velocity: Ridge
    factors: Ridge
    factor_std: np.ndarray
    smooth_sigma_bins: float
    n_windows: int
    lag_bins: int

    def smooth(self, activity: np.ndarray) -> np.ndarray:
        """Activity (trials, T, N), counts or rates, smoothed as the decoders were trained."""
        return smooth_spikes(np.asarray(activity, dtype=np.float64), self.smooth_sigma_bins)

    def decode_velocity(self, activity: np.ndarray) -> np.ndarray:
        """Hand velocity at bins lag … T−1 (trials, T − lag, 2) from activity (trials, T, N)."""
        smoothed = self.smooth(activity)
        return predict_velocity(self.velocity, smoothed[:, : smoothed.shape[1] - self.lag_bins])

    def decode_factors(self, activity: np.ndarray) -> np.ndarray:
        """Factors (trials, K) decoded from activity (trials, T, N)."""
        return self.factors.predict(window_features(self.smooth(activity), self.n_windows))


def window_features(smoothed: np.ndarray, n_windows: int) -> np.ndarray:
    """Means over `n_windows` equal time windows, flattened: (trials, n_windows·N)."""
    windows = np.array_split(np.arange(smoothed.shape[1]), n_windows)
    return np.concatenate([smoothed[:, w].mean(axis=1) for w in windows], axis=1)


def fit_real_decoders(
    data: ExperimentData, smooth_sigma_bins: float, cfg: EvaluationSettings
) -> RealDecoders:
    """Velocity and factor decoders from the real training trials' smoothed spikes."""
    train = data.train_idx
    smoothed = smooth_spikes(data.counts[train], smooth_sigma_bins)
    lag = data.decoder_lag_bins
    velocity = fit_velocity_decoder(
        smoothed[:, : data.n_bins - lag], data.velocity[train][:, lag:], alpha=cfg.velocity_alpha
    )
    factors = Ridge(alpha=cfg.factor_alpha).fit(
        window_features(smoothed, cfg.factor_windows), data.factors[train]
    )
    return RealDecoders(
        velocity,
        factors,
        data.factors[train].std(axis=0),
        smooth_sigma_bins,
        cfg.factor_windows,
        lag,
    )


# ---------------------------------------------------------------- the two models behind one face


class Alignment:
    """The shared post-processing: PCA of training latents onto their first `n_axes` axes."""

    def __init__(self, train_latents: np.ndarray, n_axes: int) -> None:
        if train_latents.shape[1] < n_axes:
            raise ValueError(
                f"latents have {train_latents.shape[1]} dims < {n_axes} code axes: "
                "cannot align them on that many principal axes"
            )
        self.pca = PCA(n_components=n_axes).fit(train_latents)

    def transform(self, latents: np.ndarray) -> np.ndarray:
        """Aligned codes (trials, n_axes)."""
        return self.pca.transform(latents)

    def moved(self, latents: np.ndarray, axis: int, values: np.ndarray) -> np.ndarray:
        """Latents (values, trials, D) with aligned axis `axis` set to each value."""
        offset = self.transform(latents)[:, axis]
        direction = self.pca.components_[axis]
        return np.stack([latents + (v - offset)[:, None] * direction for v in values])


def _fitted(model: GnocchiCodes | LfadsCodes) -> Alignment:
    """The model's fitted alignment, or a clear error."""
    if getattr(model, "alignment", None) is None:
        raise RuntimeError("call fit_codes on the training trials' latents first")
    return model.alignment


class GnocchiCodes:
    """GNOCCHI seen through its codes: encode, generate, traverse (latent = code)."""

    label = "GNOCCHI"

    def __init__(
        self,
        model: Gnocchi,
        transform: SignalTransform,
        ddim_steps: int,
        eta: float = 0.0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform, self.steps, self.eta = transform, ddim_steps, eta
        self.alignment: Alignment | None = None

    def _model_space(self, counts: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.transform.forward(counts)).to(self.device)

    def latents(self, counts: np.ndarray) -> np.ndarray:
        """Codes (trials, L) of count trials (trials, T, N)."""
        return self.model.encode(self._model_space(counts)).cpu().numpy()

    def fit_codes(self, train_latents: np.ndarray) -> None:
        """Fit the principal axes of the codes on the training trials (the shared alignment)."""
        self.alignment = Alignment(train_latents, train_latents.shape[1])

    def codes(self, latents: np.ndarray) -> np.ndarray:
        """Aligned codes (trials, L): the codes projected on their principal axes."""
        return _fitted(self).transform(latents)

    def rates(self, latents: np.ndarray, n_bins: int, seed: int) -> np.ndarray:
        """Rates (trials, T, N) generated by DDIM from fresh noise (seeded) given the codes."""
        generator = torch.Generator().manual_seed(seed)  # on the CPU: same noise on any device
        codes = torch.as_tensor(latents, dtype=torch.float32, device=self.device)
        x0 = self.model.sample(codes, n_bins, self.steps, self.eta, generator=generator)
        return self.transform.inverse(x0.cpu().numpy())

    def traversal_rates(self, base_counts: np.ndarray, axis: int, values: np.ndarray) -> np.ndarray:
        """Rates (values, trials, T, N): base trials re-generated from their reverse-DDIM x_T
        with the code moved along aligned axis `axis` to each value (other components kept)."""
        x0 = self._model_space(base_counts)
        codes = self.model.encode(x0)
        x_T = self.model.invert(x0, codes, self.steps)
        moved = _fitted(self).moved(codes.cpu().numpy(), axis, values)
        out = []
        for latent in moved:
            code = torch.as_tensor(latent, dtype=torch.float32, device=self.device)
            x = self.model.sample(code, x_T.shape[-1], self.steps, x_T=x_T)
            out.append(self.transform.inverse(x.cpu().numpy()))
        return np.stack(out)


def lfads_rates_from_g0(model: LFADS, g0: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Rates (trials, n_bins, N) of the LFADS generator from g0, inputs at their prior mean."""
    model.eval()
    with torch.no_grad():
        return model.decode(g0, n_bins)["rates"]


class LfadsCodes:
    """LFADS seen through its codes: latent = g₀ posterior mean, code = its first L PCs."""

    label = "LFADS"

    def __init__(self, model: LFADS, code_dim: int, device: torch.device | str = "cpu") -> None:
        if model.config.ic_dim < code_dim:
            raise ValueError(
                f"LFADS ic_dim {model.config.ic_dim} < code_dim {code_dim}: cannot "
                "project g0 on code_dim principal components"
            )
        self.device = torch.device(device)
        self.model, self.code_dim = model.to(self.device).eval(), code_dim
        self.alignment: Alignment | None = None

    def latents(self, counts: np.ndarray) -> np.ndarray:
        """g₀ posterior means (trials, ic_dim)."""
        spikes = torch.as_tensor(counts, dtype=torch.float32, device=self.device)
        return self.model.encode(spikes).cpu().numpy()

    def fit_codes(self, train_latents: np.ndarray) -> None:
        """Fit the principal axes of g₀ on the training trials (the shared alignment)."""
        self.alignment = Alignment(train_latents, self.code_dim)

    def codes(self, latents: np.ndarray) -> np.ndarray:
        """Aligned codes (trials, L): g₀ projected on its principal axes."""
        return _fitted(self).transform(latents)

    def rates(self, latents: np.ndarray, n_bins: int, seed: int) -> np.ndarray:
        """Rates (trials, T, N) of the generator from g₀ (deterministic; seed unused)."""
        g0 = torch.as_tensor(latents, dtype=torch.float32, device=self.device)
        return lfads_rates_from_g0(self.model, g0, n_bins).cpu().numpy().astype(np.float64)

    def traversal_rates(self, base_counts: np.ndarray, axis: int, values: np.ndarray) -> np.ndarray:
        """Rates (values, trials, T, N): base g₀ moved along principal axis `axis` to each value."""
        moved = _fitted(self).moved(self.latents(base_counts), axis, values)
        return np.stack([self.rates(g0, base_counts.shape[1], 0) for g0 in moved])


CodeModel = GnocchiCodes | LfadsCodes

# ---------------------------------------------------------------- disentanglement


ANGLE_SECTORS = 8


def angle_class(angle: np.ndarray, sectors: int = ANGLE_SECTORS) -> np.ndarray:
    """Index of the equal sector (centred on 0, 2π/sectors, …) each angle (rad) falls in."""
    return np.round(np.mod(angle, 2 * np.pi) / (2 * np.pi / sectors)).astype(int) % sectors


def scoring_factors(data: ExperimentData) -> tuple[np.ndarray, list[bool]]:
    """The factors the disentanglement metrics score (angle class, third factor); discrete flags."""
    return (np.stack([angle_class(data.reach_angle), data.factors[:, 2]], axis=1), [True, False])


def disentanglement_scores(
    codes: np.ndarray, data: ExperimentData, cfg: EvaluationSettings
) -> dict[str, Any]:
    """MIG, DCI, SAP, rotation-invariant R² per factor and principal angle, normalised MI."""
    train, test = data.train_idx, data.eval_idx
    factors, discrete = scoring_factors(data)
    stacked = np.concatenate([codes[train], codes[test]])
    fit_rows, test_rows = np.arange(train.size), np.arange(train.size, stacked.shape[0])
    scores = dci(
        stacked,
        np.concatenate([factors[train], factors[test]]),
        model=cfg.dci_model,
        discrete=discrete,
        train_idx=fit_rows,
        test_idx=test_rows,
        n_estimators=cfg.dci_estimators,
    )
    r2, angles = factor_subspace_r2(
        stacked,
        np.concatenate([data.factors[train], data.factors[test]]),
        fit_rows,
        test_rows,
        groups=[[0, 1], [2]],
    )
    bins, binning = cfg.mig_bins, cfg.mig_binning
    mi = mutual_information_matrix(codes[test], factors[test], bins, discrete, binning)
    entropy = np.diag(
        mutual_information_matrix(factors[test], factors[test], bins, discrete, binning)
    )
    out = {
        "mig": mig(codes[test], factors[test], bins, discrete, binning),
        "dci_d": scores.disentanglement,
        "dci_c": scores.completeness,
        "dci_i": scores.informativeness,
        "sap": sap(codes[test], factors[test], discrete),
        "r2_angle": float(r2[0]),
        f"r2_{factor_keys(data)[2]}": float(r2[1]),
        "subspace_angle_deg": float(angles[0, 1]),
        "normalised_mi": mi / entropy,
    }
    return out


def factor_keys(data: ExperimentData) -> list[str]:
    """ASCII keys of the factors for metric names: cos, sin, speed/curvature."""
    return ["cos", "sin", data.factor_names[2]]


def reference_codes(
    data: ExperimentData, n_axes: int, smooth_sigma_bins: float
) -> dict[str, np.ndarray]:
    """Codes of the reference rows: "truth" (the factors) and "pca_trials" (module docstring)."""
    smoothed = smooth_spikes(data.counts, smooth_sigma_bins).reshape(data.counts.shape[0], -1)
    pca = PCA(n_components=n_axes).fit(smoothed[data.train_idx])
    return {"truth": data.factors.astype(float), "pca_trials": pca.transform(smoothed)}


# ---------------------------------------------------------------- traversal


def traversal_grid(
    train_codes: np.ndarray, axis: int, traversal_range: float, n_points: int
) -> np.ndarray:
    """Code values mean + v·std of one axis, v evenly spaced in [−range, range], clipped to the
    training codes' range (a traversal never leaves the data)."""
    v = np.linspace(-traversal_range, traversal_range, n_points)
    column = train_codes[:, axis]
    return np.clip(column.mean() + v * column.std(), column.min(), column.max())


def traversal_effects(
    model: CodeModel,
    data: ExperimentData,
    decoders: RealDecoders,
    train_codes: np.ndarray,
    base_idx: np.ndarray,
    cfg: EvaluationSettings,
) -> dict[str, np.ndarray]:
    """Decoded factor changes (L, K), mean decoded trajectories (L, P, T', 2) and grid (L, P)."""
    n_axes = train_codes.shape[1]
    changes, trajectories, grids = [], [], []
    for axis in range(n_axes):
        grid = traversal_grid(train_codes, axis, cfg.traversal_range, cfg.traversal_points)
        rates = model.traversal_rates(data.counts[base_idx], axis, grid)
        flat = rates.reshape(-1, *rates.shape[2:])
        factors = decoders.decode_factors(flat).reshape(len(grid), len(base_idx), -1).mean(1)
        changes.append(np.ptp(factors, axis=0) / decoders.factor_std)
        velocity = decoders.decode_velocity(flat).reshape(len(grid), len(base_idx), -1, 2)
        trajectories.append(np.cumsum(velocity.mean(axis=1) * data.bin_size_s, axis=1))
        grids.append(grid)
    return {
        "changes": np.array(changes),
        "trajectories": np.array(trajectories),
        "grid": np.array(grids),
    }


# ---------------------------------------------------------------- unseen conditions


def fit_factor_map(factors: np.ndarray, latents: np.ndarray, alpha: float) -> Ridge:
    """Ridge map factors → latents (codes or g₀) fitted on the training trials."""
    return Ridge(alpha=alpha).fit(factors, latents)


def condition_means(values: np.ndarray, condition: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean over the trials of each condition in `labels` order: (conditions, ...)."""
    missing = sorted(set(labels.tolist()) - set(condition.tolist()))
    if missing:
        raise ValueError(f"conditions {missing} have no trials")
    return np.stack([values[condition == label].mean(axis=0) for label in labels])


def generation_scores(
    gen_activity: np.ndarray,
    gen_spikes: np.ndarray,
    gen_condition: np.ndarray,
    real_counts: np.ndarray,
    real_velocity: np.ndarray,
    real_angle: np.ndarray,
    real_condition: np.ndarray,
    decoders: RealDecoders,
    bin_size_s: float,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Scores of generated trials vs real trials of the same conditions (module docstring).

    gen_activity (trials, T, N): rates (or counts) the decoders read; gen_spikes: their spike
    counts; real_*: the real trials, with their reach angles (rad) and hand velocity. Every
    generated condition must have real trials. Returns the scores and, per condition (in
    `labels` order), the decoded and true trajectories and both PSTHs.
    """
    labels = np.unique(gen_condition)
    lag = decoders.lag_bins
    decoded = condition_means(decoders.decode_velocity(gen_activity), gen_condition, labels)
    true_vel = condition_means(real_velocity[:, lag:], real_condition, labels)
    trajectory = np.cumsum(decoded * bin_size_s, axis=1)
    end_angle = np.arctan2(trajectory[:, -1, 1], trajectory[:, -1, 0])
    real_mean_angle = np.array([circular_mean(real_angle[real_condition == c]) for c in labels])
    gen_psth = condition_means(decoders.smooth(gen_activity), gen_condition, labels)
    real_psth = condition_means(decoders.smooth(real_counts), real_condition, labels)
    rate_diff = (gen_spikes.mean(axis=(0, 1)) - real_counts.mean(axis=(0, 1))) / bin_size_s
    fano_diff = fano_factors(gen_spikes, gen_condition) - fano_factors(real_counts, real_condition)
    scores = {
        "velocity_r2": float(
            r2_score(
                true_vel.reshape(-1, 2), decoded.reshape(-1, 2), multioutput="variance_weighted"
            )
        ),
        "endpoint_error_deg": float(angle_difference_deg(end_angle, real_mean_angle).mean()),
        "psth_r2": psth_r2(gen_psth, real_psth),
        "rate_rmse_hz": float(np.sqrt(np.mean(rate_diff**2))),
        "fano_mae": float(np.nanmean(np.abs(fano_diff))),
        "corr_rmse": rmse_correlations(gen_spikes, real_counts).rmse,
    }
    arrays = {
        "labels": labels,
        "decoded_trajectory": trajectory,
        "true_trajectory": np.cumsum(true_vel * bin_size_s, axis=1),
        "psth_model": gen_psth,
        "psth_data": real_psth,
    }
    return scores, arrays


def _scores_against(
    data: ExperimentData,
    decoders: RealDecoders,
    gen_activity: np.ndarray,
    gen_spikes: np.ndarray,
    gen_condition: np.ndarray,
    real: np.ndarray,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """`generation_scores` of generated trials against the real trials `real` (indices)."""
    return generation_scores(
        gen_activity,
        gen_spikes,
        gen_condition,
        data.counts[real],
        data.velocity[real],
        data.reach_angle[real],
        data.condition[real],
        decoders,
        data.bin_size_s,
    )


def split_halves(condition: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two random halves of the trials of every condition (conditions with ≥ 2 trials)."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for label in np.unique(condition):
        members = rng.permutation(np.flatnonzero(condition == label))
        if members.size >= 2:
            first.append(members[: members.size // 2])
            second.append(members[members.size // 2 :])
    if not first:
        raise ValueError("split halves need a condition with at least 2 trials")
    return np.concatenate(first), np.concatenate(second)


# ---------------------------------------------------------------- one seed, both models


def evaluate_model(
    model: CodeModel,
    data: ExperimentData,
    decoders: RealDecoders,
    cfg: EvaluationSettings,
    seed: int,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """All metrics of one trained model and the arrays the figures draw."""
    latents = model.latents(data.counts)
    model.fit_codes(latents[data.train_idx])
    codes = model.codes(latents)
    dis = disentanglement_scores(codes, data, cfg)
    raw = disentanglement_scores(latents, data, cfg)
    rng = np.random.default_rng(seed)
    base = np.sort(
        rng.choice(data.eval_idx, min(cfg.traversal_trials, data.eval_idx.size), replace=False)
    )
    trav = traversal_effects(model, data, decoders, codes[data.train_idx], base, cfg)
    selectivity = traversal_selectivity(trav["changes"])
    unseen = data.unseen_idx
    factor_map = fit_factor_map(
        data.factors[data.train_idx], latents[data.train_idx], cfg.factor_map_alpha
    )
    rates = model.rates(factor_map.predict(data.factors[unseen]), data.n_bins, seed)
    spikes = rng.poisson(rates).astype(np.float64)
    gen, gen_arrays = _scores_against(data, decoders, rates, spikes, data.condition[unseen], unseen)
    metrics = {k: v for k, v in dis.items() if k != "normalised_mi"}
    metrics |= {f"raw_{k}": v for k, v in raw.items() if k != "normalised_mi"}
    metrics |= {"selectivity": selectivity.score} | gen
    arrays = {
        "codes": codes,
        "normalised_mi": dis["normalised_mi"],
        "traversal_changes": trav["changes"],
        "traversal_trajectories": trav["trajectories"],
        "traversal_grid": trav["grid"],
        "traversal_match": selectivity.matched_factor,
        "generated_trajectory": gen_arrays["decoded_trajectory"],
        "generated_psth": gen_arrays["psth_model"],
        "generated_rates_example": rates[:8],
    }
    return metrics, arrays


def data_reference(
    data: ExperimentData, decoders: RealDecoders, seed: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Generation scores of one random half of the real unseen trials against the other half.

    Returns the scores and the arrays of all real unseen trials decoded against themselves
    (real decoded trajectories, true trajectories and PSTHs per unseen condition).
    """
    unseen = data.unseen_idx
    first, second = split_halves(data.condition[unseen], seed)
    a, b = unseen[first], unseen[second]
    scores, _ = _scores_against(
        data, decoders, data.counts[a], data.counts[a], data.condition[a], b
    )
    real = data.counts[unseen]
    _, arrays = _scores_against(data, decoders, real, real, data.condition[unseen], unseen)
    return scores, arrays


def cfg_code_dim(models: Mapping[str, CodeModel]) -> int:
    """The number of aligned code axes the models were fitted with (equal for all)."""
    dims = {_fitted(m).pca.n_components_ for m in models.values()}
    if len(dims) != 1:
        raise ValueError(f"models were aligned on different numbers of axes: {sorted(dims)}")
    return int(dims.pop())


def nearest_condition(data: ExperimentData, unseen_label: int) -> int:
    """The seen training condition closest to an unseen one: smallest circular angle
    difference (in units of π) plus third-factor difference (in units of its training std),
    both between condition means."""
    train = data.train_idx
    spread = max(float(data.factors[train, 2].std()), 1e-12)

    def summary(rows: np.ndarray) -> tuple[float, float]:
        return circular_mean(data.reach_angle[rows]), float(data.factors[rows, 2].mean())

    angle, third = summary(np.flatnonzero(data.condition == unseen_label))
    best, best_distance = -1, np.inf
    for label in np.unique(data.condition[train]):
        other_angle, other_third = summary(train[data.condition[train] == label])
        distance = (
            angle_difference_deg(angle, other_angle) / 180.0 + abs(third - other_third) / spread
        )
        if distance < best_distance:
            best, best_distance = int(label), distance
    return best


def nearest_condition_baseline(
    data: ExperimentData, decoders: RealDecoders, seed: int
) -> dict[str, float]:
    """Generation scores of real training trials of the nearest seen condition, drawn (seeded,
    with replacement) as many as each unseen condition has trials, scored as if generated."""
    rng = np.random.default_rng(seed)
    unseen, train = data.unseen_idx, data.train_idx
    picked, labels = [], []
    for label in np.unique(data.condition[unseen]):
        source = train[data.condition[train] == nearest_condition(data, int(label))]
        n = int(np.sum(data.condition[unseen] == label))
        picked.append(rng.choice(source, n, replace=True))
        labels.append(np.full(n, label))
    rows, gen_condition = np.concatenate(picked), np.concatenate(labels)
    picked_counts = data.counts[rows]
    scores, _ = _scores_against(data, decoders, picked_counts, picked_counts, gen_condition, unseen)
    return scores


def evaluate_seed(
    data: ExperimentData,
    models: Mapping[str, CodeModel],
    decoders: RealDecoders,
    cfg: EvaluationSettings,
    seed: int,
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics per model (and the "data" reference) and the arrays for the figures, one seed."""
    metrics: dict[str, dict[str, float]] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, model in models.items():
        metrics[name], model_arrays = evaluate_model(model, data, decoders, cfg, seed)
        arrays |= {f"{name}/{key}": value for key, value in model_arrays.items()}
    metrics["data"], real = data_reference(data, decoders, seed)
    metrics["nearest"] = nearest_condition_baseline(data, decoders, seed)
    for name, codes in reference_codes(
        data, cfg_code_dim(models), decoders.smooth_sigma_bins
    ).items():
        scores = disentanglement_scores(codes, data, cfg)
        metrics[name] = {k: v for k, v in scores.items() if k != "normalised_mi"}
        arrays[f"{name}/normalised_mi"] = scores["normalised_mi"]
    train = data.train_idx
    train_labels = np.unique(data.condition[train])
    lag = decoders.lag_bins
    arrays |= {
        "factors": data.factors,
        "condition": data.condition,
        "reach_angle": data.reach_angle,
        "train_idx": train,
        "eval_idx": data.eval_idx,
        "unseen_idx": data.unseen_idx,
        "unseen_labels": real["labels"],
        "true_trajectory": real["true_trajectory"],
        "real_decoded_trajectory": real["decoded_trajectory"],
        "psth_data": real["psth_data"],
        "train_labels": train_labels,
        "train_trajectory": np.cumsum(
            condition_means(data.velocity[train][:, lag:], data.condition[train], train_labels)
            * data.bin_size_s,
            axis=1,
        ),
        "bin_size_s": np.array(data.bin_size_s),
        "condition_ids": np.array(sorted(data.condition_labels)),
        "condition_names": np.array(
            [data.condition_labels[c] for c in sorted(data.condition_labels)]
        ),
        "factor_names": np.array(data.factor_names),
        "mi_factor_names": np.array(["angle", data.factor_names[2]]),
    }
    return metrics, arrays


def run_evaluation(
    data_path: str,
    dataset: str,
    cfg: GnocchiSettings,
    gnocchi_weights: str,
    lfads_weights: str,
    seed: int,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Load the data and both trained models of one seed and evaluate them on `device`."""
    data_cfg = cfg.datasets[dataset]
    data = load_experiment_data(data_path, dataset, data_cfg)
    transform = gnocchi_transform(data, data_cfg)
    gnocchi = load_model(
        "gnocchi",
        data,
        builder_settings("gnocchi", cfg.gnocchi.model, cfg.code_dim),
        gnocchi_weights,
    )
    lfads = load_model(
        "lfads", data, builder_settings("lfads", cfg.lfads.model, cfg.code_dim), lfads_weights
    )
    sampling = cfg.gnocchi.sampling
    if sampling is None:
        raise ValueError("gnocchi.gnocchi.sampling is needed to evaluate GNOCCHI")
    models = {
        "gnocchi": GnocchiCodes(gnocchi, transform, sampling.ddim_steps, sampling.eta, device),
        "lfads": LfadsCodes(lfads, cfg.code_dim, device),
    }
    decoders = fit_real_decoders(data, data_cfg.smooth_sigma_bins, cfg.evaluation)
    return evaluate_seed(data, models, decoders, cfg.evaluation, seed)
