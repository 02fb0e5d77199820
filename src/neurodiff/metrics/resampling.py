"""Bootstrap and split-half comparison of spike statistics between model and data (LDNS Table 1).

LDNS (Kapoor, Schulz et al. 2024, §4, Table 1: MC_Maze, 5 resamples) scores every method by
resampling its sampled trials with replacement (`bootstrap_indices`, `bootstrap_metrics`) and
comparing each resample with the full data; its "data" row compares a random half of the data
trials with the other half (`split_half_reference`), the ISI rows a half with the full data as
the authors' notebook does. A metric (`SpikeMetric`) pairs a statistic of one spike set with a
distance between two statistics; `ldns_table1_metrics` gives the four of Table 1, defined in
`neurodiff.metrics.spikes`. Results are mean ± std (ddof 0) over folds (`BootstrapResult`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from neurodiff.metrics.spikes import (
    IsiStats,
    correlation_matrix,
    count_log_density,
    isi_stats,
    kl_divergence_log,
    population_counts,
    rmse_isi_stats,
    rmse_lower_triangle,
)
from neurodiff.metrics.trial_arrays import checked_trials


class BootstrapResult(NamedTuple):
    """Mean and standard deviation (ddof 0) of a metric over resamples, and the values."""

    mean: float
    std: float
    values: np.ndarray


@dataclass(frozen=True)
class SpikeMetric:
    """A statistic of one spike set (`summarize`) and a distance between two statistics.

    Metrics that share the same `summarize` object share its result: it is computed once per
    spike set (the ISI mean and std metrics share one ISI pass).
    """

    summarize: Callable[[np.ndarray, np.ndarray | None], Any]
    compare: Callable[[Any, Any], float]


# ---------------------------------------------------------------------------------------------
# Table 1 folds


def _psch_log_density(spikes: np.ndarray, mask: np.ndarray | None, max_count: int) -> np.ndarray:
    """Log KDE density of one spike set's population counts on 0..max_count."""
    return count_log_density(population_counts(spikes, mask), max_count)


def _isi_summary(spikes: np.ndarray, mask: np.ndarray | None, fps: float) -> IsiStats:
    """ISI statistics of one spike set (argument order of SpikeMetric.summarize)."""
    return isi_stats(spikes, fps, mask)


def _mean_isi_rmse(model: IsiStats, data: IsiStats) -> float:
    """RMSE of per-neuron mean ISI."""
    return rmse_isi_stats(model, data)[0]


def _std_isi_rmse(model: IsiStats, data: IsiStats) -> float:
    """RMSE of per-neuron std ISI."""
    return rmse_isi_stats(model, data)[1]


FULL_DATA_REFERENCE = ("rmse_mean_isi", "rmse_std_isi")  # split-half row: half vs full data


def ldns_table1_metrics(fps: float, max_count: int) -> dict[str, SpikeMetric]:
    """The four Table 1 metrics; max_count = the largest population count over all methods."""
    isi = partial(_isi_summary, fps=fps)
    return {
        "kl_psch": SpikeMetric(partial(_psch_log_density, max_count=max_count), kl_divergence_log),
        "rmse_corr": SpikeMetric(correlation_matrix, rmse_lower_triangle),
        "rmse_mean_isi": SpikeMetric(isi, _mean_isi_rmse),
        "rmse_std_isi": SpikeMetric(isi, _std_isi_rmse),
    }


def _summaries(
    metric_fns: Mapping[str, SpikeMetric], spikes: np.ndarray, mask: np.ndarray | None
) -> dict[Any, Any]:
    """Each distinct `summarize` of the metrics applied once to the spike set."""
    out: dict[Any, Any] = {}
    for metric in metric_fns.values():
        if metric.summarize not in out:
            out[metric.summarize] = metric.summarize(spikes, mask)
    return out


def _compare_all(
    metric_fns: Mapping[str, SpikeMetric], model: dict[Any, Any], data: dict[Any, Any]
) -> dict[str, float]:
    """Every metric's distance between two sets of summaries."""
    return {
        name: float(m.compare(model[m.summarize], data[m.summarize]))
        for name, m in metric_fns.items()
    }


def _fold_results(values: list[dict[str, float]]) -> dict[str, BootstrapResult]:
    """Mean ± std (ddof 0) per metric over folds."""
    out = {}
    for name in values[0]:
        v = np.array([fold[name] for fold in values])
        out[name] = BootstrapResult(float(v.mean()), float(v.std()), v)
    return out


def _subset(mask: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    """The mask rows of a trial subset (None stays None)."""
    return None if mask is None else np.asarray(mask)[rows]


def bootstrap_indices(n_trials: int, n_resamples: int = 5, seed: int = 42) -> np.ndarray:
    """Trial indices (n_resamples, n_trials) of resamples with replacement, one row per fold.

    Pass the same array to `bootstrap_metrics` for every method so that all rows of a table
    use the same resamples.
    """
    if n_resamples < 1 or n_trials < 1:
        raise ValueError(
            f"bootstrap needs n_resamples >= 1 and n_trials >= 1, got {n_resamples}, {n_trials}"
        )
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, n_trials, size=n_trials) for _ in range(n_resamples)])


def bootstrap_metrics(
    model_spikes: np.ndarray,
    data_spikes: np.ndarray,
    metric_fns: Mapping[str, SpikeMetric],
    resamples: np.ndarray,
    model_mask: np.ndarray | None = None,
    data_mask: np.ndarray | None = None,
) -> dict[str, BootstrapResult]:
    """Metrics of model trials resampled by the rows of `resamples` vs the full data.

    `resamples` (folds, n) holds trial indices (`bootstrap_indices`); the data are summarised
    once. Every index must address a model trial.
    """
    model, _ = checked_trials(model_spikes, model_mask, "model_spikes")
    rows_all = np.asarray(resamples)
    if rows_all.ndim != 2 or rows_all.shape[0] < 1 or rows_all.shape[1] < 1:
        raise ValueError(f"resamples must be shaped (folds >= 1, n >= 1), got {rows_all.shape}")
    if (
        not np.issubdtype(rows_all.dtype, np.integer)
        or rows_all.min() < 0
        or (rows_all.max() >= model.shape[0])
    ):
        raise ValueError(
            f"resamples must be integer indices in [0, {model.shape[0]}) (model trials), got "
            f"dtype {rows_all.dtype}, range [{rows_all.min()}, {rows_all.max()}]"
        )
    data_summary = _summaries(metric_fns, *checked_trials(data_spikes, data_mask, "data_spikes"))
    folds = []
    for rows in rows_all:
        model_summary = _summaries(metric_fns, model[rows], _subset(model_mask, rows))
        folds.append(_compare_all(metric_fns, model_summary, data_summary))
    return _fold_results(folds)


def split_half_reference(
    data_spikes: np.ndarray,
    metric_fns: Mapping[str, SpikeMetric],
    n_resamples: int = 5,
    seed: int = 42,
    mask: np.ndarray | None = None,
    against_full: tuple[str, ...] = FULL_DATA_REFERENCE,
) -> dict[str, BootstrapResult]:
    """Metrics of a random half of the data trials vs the other half (Table 1 "data" row).

    Metrics named in `against_full` (the ISI statistics; names absent from `metric_fns` are
    ignored) compare the half with the full data's
    statistics instead, as the authors' notebook does: it computes the data's ISI statistics
    once and compares every row with them.
    """
    data, _ = checked_trials(data_spikes, mask, "data_spikes")
    if data.shape[0] < 2 or n_resamples < 1:
        raise ValueError(
            f"split-half needs >= 2 trials and n_resamples >= 1, got {data.shape[0]} trials "
            f"and n_resamples={n_resamples}"
        )
    full_fns = {k: m for k, m in metric_fns.items() if k in against_full}
    full_summary = _summaries(full_fns, data, mask) if full_fns else {}
    rng = np.random.default_rng(seed)
    folds = []
    for _ in range(n_resamples):
        order = rng.permutation(data.shape[0])
        first, second = order[: data.shape[0] // 2], order[data.shape[0] // 2 :]
        first_summary = _summaries(metric_fns, data[first], _subset(mask, first))
        second_summary = _summaries(metric_fns, data[second], _subset(mask, second))
        fold = _compare_all(metric_fns, first_summary, second_summary)
        fold |= _compare_all(full_fns, first_summary, full_summary)
        folds.append({k: fold[k] for k in metric_fns})
    return _fold_results(folds)
