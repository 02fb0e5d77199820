"""How few DDIM steps are enough: DDIM at several step counts against ancestral DDPM over all T
steps, on the statistics each LDNS dataset is judged by, with the wall time of each sampler.

One unconditional diffusion model is sampled once per configuration (the same number of trials,
each configuration from the same seed). MC_Maze configurations are scored with the four Table 1
metrics under one shared protocol (`evaluation.table1`: the same bootstrap resamples and count
grid for every row, plus the split-half data row); Lorenz configurations with the Pearson r of
the Lorenz spike statistics (`metrics.agreement.spike_statistics_pearson`) over the same
bootstrap resamples of the samples. A DDIM step count *matches* the reference on a metric when
its mean lies within one pooled bootstrap σ, √((σ_ref² + σ²)/2), of the reference's mean; the
recommended step count is the smallest one that matches on every metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion import NoiseSchedule
from neurodiff.metrics.agreement import spike_statistics_pearson
from neurodiff.metrics.resampling import bootstrap_indices
from neurodiff.models.ldns.autoencoder import S4Autoencoder
from neurodiff.models.ldns.evaluation import TABLE1_METRICS, table1
from neurodiff.models.ldns.generate import (
    EncodedData,
    SamplingPlan,
    decode_latents,
    sample_normalized_latents,
)
from neurodiff.tables import mean_std_columns

LORENZ_METRICS = {
    "mean_isi": "r mean ISI",
    "std_isi": "r std ISI",
    "correlations": "r pairwise corr",
    "psch_density": "r pop. count density",
}


@dataclass(frozen=True)
class SamplerConfig:
    """One sampler at one number of denoising steps."""

    sampler: str
    steps: int

    @property
    def label(self) -> str:
        """Row name, e.g. 'DDIM-20'."""
        return f"{self.sampler.upper()}-{self.steps}"


@dataclass(frozen=True)
class TimedSamples:
    """Spikes (trials, time, neurons) of one configuration and the seconds it took per trial."""

    config: SamplerConfig
    spikes: np.ndarray
    seconds_per_trial: float


def study_configs(reference_ddpm_steps: int, ddim_steps: Sequence[int]) -> list[SamplerConfig]:
    """The reference (DDPM over `reference_ddpm_steps`) first, then DDIM in increasing steps."""
    if not ddim_steps:
        raise ValueError("the sampler study needs at least one DDIM step count")
    if min(ddim_steps) < 1 or max(ddim_steps) > reference_ddpm_steps:
        raise ValueError(
            f"DDIM step counts {list(ddim_steps)} must lie in [1, {reference_ddpm_steps}] "
            "(the schedule's training timesteps bound both samplers)"
        )
    ddim = [SamplerConfig("ddim", s) for s in sorted(set(ddim_steps))]
    return [SamplerConfig("ddpm", reference_ddpm_steps), *ddim]


def draw_timed(
    denoiser: torch.nn.Module,
    autoencoder: S4Autoencoder,
    encoded: EncodedData,
    schedule: NoiseSchedule,
    configs: Sequence[SamplerConfig],
    n_samples: int,
    batch_size: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> list[TimedSamples]:
    """Unconditional samples of every configuration, each drawn from `seed`, with its wall time.

    The wall time covers the denoising loop only (decoding and Poisson draws are the same for
    every sampler), divided by `n_samples`.
    """
    plan = SamplingPlan(n_samples, encoded.latents.shape[-1], {}, {})
    out = []
    for config in configs:
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        z = sample_normalized_latents(
            denoiser, schedule, plan, config.sampler, config.steps, batch_size, generator
        )
        seconds = (time.perf_counter() - start) / n_samples
        spikes = decode_latents(autoencoder, encoded.normalizer, z, generator)["spikes"]
        out.append(TimedSamples(config, spikes, seconds))
        if progress is not None:
            progress(f"{config.label}: {seconds * 1e3:.2f} ms per trial")
    return out


def mc_maze_scores(
    samples: Sequence[TimedSamples], data: np.ndarray, fps: float, n_bootstrap: int, seed: int
) -> pd.DataFrame:
    """Table 1 metrics (<metric>_mean, <metric>_std) of every configuration and the data row."""
    methods = {s.config.label: s.spikes for s in samples}
    return table1(methods, data, fps, n_resamples=n_bootstrap, seed=seed)


def lorenz_scores(
    samples: Sequence[TimedSamples],
    data: np.ndarray,
    fps: float,
    n_bootstrap: int,
    seed: int,
    data_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """Pearson r of the Lorenz statistics, mean and std over bootstrap resamples of samples."""
    n_trials = {len(s.spikes) for s in samples}
    if len(n_trials) != 1:
        raise ValueError(f"every configuration needs the same number of samples, got {n_trials}")
    resamples = bootstrap_indices(n_trials.pop(), n_bootstrap, seed)
    records = []
    for s in samples:
        folds = [
            spike_statistics_pearson(data, s.spikes[rows], fps, data_mask) for rows in resamples
        ]
        record: dict[str, object] = {"method": s.config.label}
        for key in LORENZ_METRICS:
            values = np.array([fold[key] for fold in folds])
            record[f"{key}_mean"], record[f"{key}_std"] = float(values.mean()), float(values.std())
        records.append(record)
    return pd.DataFrame.from_records(records)


def study_table(
    samples: Sequence[TimedSamples], scores: pd.DataFrame, metrics: Mapping[str, str]
) -> pd.DataFrame:
    """Scores with sampler, steps, time per trial, speed-up and per-metric match columns.

    The first configuration of `samples` is the reference. `match_<metric>` is True where the
    row's mean lies within one pooled σ of the reference's (the reference matches itself); the
    data row (Table 1's split half, if present) gets no match and no timing.
    """
    reference = samples[0]
    by_label = {s.config.label: s for s in samples}
    ref_row = scores.set_index("method").loc[reference.config.label]
    table = scores.copy()
    table.insert(
        1, "sampler", [by_label[m].config.sampler if m in by_label else "" for m in table.method]
    )
    table.insert(
        2, "steps", [by_label[m].config.steps if m in by_label else 0 for m in table.method]
    )
    seconds = [by_label[m].seconds_per_trial if m in by_label else np.nan for m in table.method]
    table.insert(3, "ms_per_trial", np.asarray(seconds) * 1e3)
    table.insert(4, "speedup", reference.seconds_per_trial / np.asarray(seconds))
    is_config = table.method.isin(list(by_label))
    for key in metrics:
        sigma = np.sqrt((ref_row[f"{key}_std"] ** 2 + table[f"{key}_std"] ** 2) / 2)
        within = (table[f"{key}_mean"] - ref_row[f"{key}_mean"]).abs() <= sigma
        table[f"match_{key}"] = within & is_config
    table["match_all"] = table[[f"match_{k}" for k in metrics]].all(axis=1)
    return table


def recommended_ddim_steps(table: pd.DataFrame) -> int | None:
    """The smallest DDIM step count that matches the reference on every metric, or None."""
    rows = table[(table.sampler == "ddim") & table.match_all]
    return int(rows.steps.min()) if len(rows) else None


def study_metrics(dataset: str) -> dict[str, str]:
    """The metrics (key → column title) the study scores a dataset by."""
    if dataset == "mc_maze":
        return dict(TABLE1_METRICS)
    if dataset == "lorenz":
        return dict(LORENZ_METRICS)
    raise ValueError(f"the sampler study scores 'mc_maze' or 'lorenz' samples, not {dataset!r}")


def score(
    samples: Sequence[TimedSamples], ds: TidyDataset, n_bootstrap: int, seed: int
) -> pd.DataFrame:
    """`study_table` of the samples scored against the dataset's training trials."""
    train, fps = ds.indices("train"), 1.0 / ds.bin_size_s
    metrics = study_metrics(ds.name)
    if ds.name == "mc_maze":
        scores = mc_maze_scores(samples, ds.signals[train], fps, n_bootstrap, seed)
    else:
        scores = lorenz_scores(samples, ds.signals[train], fps, n_bootstrap, seed, ds.mask[train])
    return study_table(samples, scores, metrics)


def display(table: pd.DataFrame, metrics: Mapping[str, str]) -> pd.DataFrame:
    """The markdown view of a study table: 'mean ± std' cells, times to 3 digits, no matches."""
    out = mean_std_columns(table, list(metrics), metrics)
    out = out.drop(columns=[c for c in out.columns if c.startswith("match_")])
    out["ms_per_trial"] = [f"{v:.3g}" if np.isfinite(v) else "" for v in table.ms_per_trial]
    out["speedup"] = [f"{v:.1f}×" if np.isfinite(v) else "" for v in table.speedup]
    out["matches DDPM on all"] = ["yes" if m else "" for m in table.match_all]
    return out.rename(columns={"ms_per_trial": "ms / trial", "speedup": "speed-up"})


def caption(
    reference: str, n_samples: int, n_bootstrap: int, best: int | None, device: object
) -> str:
    """The markdown caption of a study table: protocol, match rule and the recommendation."""
    verdict = (
        f"The smallest DDIM step count within one σ of {reference} on every metric: **{best}**."
        if best is not None
        else f"No DDIM step count tried is within one σ of {reference} on every metric."
    )
    return (
        f"{n_samples} unconditional samples per sampler, each from the same seed; mean ± std "
        f"over {n_bootstrap} bootstrap resamples of the samples (every row the same resamples). "
        "A row matches the reference on a metric when its mean is within the pooled σ "
        "√((σ_ref² + σ²)/2) of the reference's mean; the CSV holds the match columns. Time: "
        f"the denoising loop per sampled trial on {device}, batch as the sampling rule. "
        f"{verdict} Computed by this run."
    )
