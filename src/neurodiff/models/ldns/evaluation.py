"""LDNS tables: Table 1 (spike statistics vs data), Tables 2 and 3 (hyperparameters used),
and the hand-velocity decoding check of MC_Maze.

Table 1 (LDNS §4): for every method, 5 bootstrap resamples (with replacement) of its sampled
trials are compared with the full training set; the last row compares random halves of the
data with each other (what a perfect model would score). `table1` takes any mapping of method
name → spikes, so further baselines slot in as extra entries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from neurodiff.io import read_npz
from neurodiff.metrics.decoding import (
    circular_correlation,
    decoding_r2,
    endpoint_angle,
    fit_velocity_decoder,
    predict_velocity,
)
from neurodiff.metrics.resampling import (
    BootstrapResult,
    SpikeMetric,
    bootstrap_indices,
    bootstrap_metrics,
    ldns_table1_metrics,
    split_half_reference,
)
from neurodiff.metrics.spikes import population_counts
from neurodiff.models.ldns.autoencoder import S4Autoencoder
from neurodiff.models.ldns.fit import build_denoiser
from neurodiff.models.ldns.generate import reach_angle
from neurodiff.models.ldns.settings import (
    SAMPLERS,
    AutoencoderSettings,
    DenoiserSettings,
    OptimSettings,
)
from neurodiff.tables import mean_std_columns

TABLE1_METRICS = {
    "kl_psch": "D_KL psch",
    "rmse_corr": "RMSE corr",
    "rmse_mean_isi": "RMSE mean ISI (s)",
    "rmse_std_isi": "RMSE std ISI (s)",
}
REFERENCE_ROW = "data (split half)"
TRUTH_ROW = "simulator's true rates, Poisson"  # simulations only: a perfect model's score
SAMPLER_SUFFIX = {"ddpm": "", "ddim": " (DDIM)"}


def spike_history_sources(
    ldns: Mapping[str, np.ndarray], lfads: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Rates (trials, time, neurons) that drive spike-history sampling, keyed by source."""
    sources = {f"ldns_{s}": ldns[f"{s}_rates"] for s in SAMPLERS if f"{s}_rates" in ldns}
    return sources | {"lfads": lfads["rates"]}


BASELINE_INPUTS = ("autolfads", "pivae", "tndm", "baseline_history")


def baseline_methods(baselines: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """AutoLFADS, AutoLFADS+sh, pi-VAE and TNDM rows from the samples of BASELINE_INPUTS."""
    missing = sorted(set(BASELINE_INPUTS) - set(baselines))
    if missing:
        raise ValueError(f"Table 1 baselines: missing samples {missing}")
    return {
        "AutoLFADS": baselines["autolfads"]["spikes"],
        "AutoLFADS+sh": baselines["baseline_history"]["autolfads"],
        "pi-VAE": baselines["pivae"]["spikes"],
        "TNDM": baselines["tndm"]["spikes"],
    }


def monkey_methods(
    ldns: Mapping[str, np.ndarray],
    lfads: Mapping[str, np.ndarray],
    spike_history: Mapping[str, np.ndarray],
    baselines: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Table 1 methods → sampled spikes: LDNS (per sampler) and LFADS, each with and without sh,
    then (given `baselines`, see `baseline_methods`) AutoLFADS(+sh), pi-VAE and TNDM."""
    methods = {}
    for sampler in SAMPLERS:
        if f"{sampler}_spikes" in ldns:
            methods[f"LDNS{SAMPLER_SUFFIX[sampler]}"] = ldns[f"{sampler}_spikes"]
            methods[f"LDNS+sh{SAMPLER_SUFFIX[sampler]}"] = spike_history[f"ldns_{sampler}"]
    methods |= {"LFADS": lfads["spikes"], "LFADS+sh": spike_history["lfads"]}
    return methods | (baseline_methods(baselines) if baselines is not None else {})


def read_monkey_methods(paths: Mapping[str, str | os.PathLike]) -> dict[str, np.ndarray]:
    """`monkey_methods` of the sample files at `paths` (keys ldns, lfads, spike_history and
    BASELINE_INPUTS, as the rules name their inputs)."""
    baselines = {key: read_npz(paths[key]) for key in BASELINE_INPUTS}
    return monkey_methods(
        read_npz(paths["ldns"]),
        read_npz(paths["lfads"]),
        read_npz(paths["spike_history"]),
        baselines,
    )


@dataclass(frozen=True)
class Table1Protocol:
    """What every Table 1 row shares: the metrics (one population-count maximum, over the data
    and all methods), the bootstrap resamples (folds, trials) and the split-half seed."""

    metric_fns: Mapping[str, SpikeMetric]
    resamples: np.ndarray
    max_count: int
    n_resamples: int
    seed: int


def table1_protocol(
    methods: Mapping[str, np.ndarray],
    data: np.ndarray,
    fps: float,
    n_resamples: int = 5,
    seed: int = 42,
    method_masks: Mapping[str, np.ndarray] | None = None,
    data_mask: np.ndarray | None = None,
) -> Table1Protocol:
    """The shared protocol of a Table 1 over `methods` (pass every row's spikes, baselines too).

    All methods must hold the same number of sampled trials: the same resample indices
    (`bootstrap_indices`) then address every method.
    """
    if not methods:
        raise ValueError("table1 needs at least one method")
    masks = dict(method_masks or {})
    unknown = sorted(set(masks) - set(methods))
    if unknown:
        raise ValueError(f"masks given for unknown methods {unknown}")
    n_trials = {name: int(np.shape(s)[0]) for name, s in methods.items()}
    if len(set(n_trials.values())) != 1:
        raise ValueError(f"Table 1 methods must have equal trial counts, got {n_trials}")
    counts = [population_counts(s, masks.get(name)) for name, s in methods.items()]
    max_count = int(max(max(c.max() for c in counts), population_counts(data, data_mask).max()))
    return Table1Protocol(
        metric_fns=ldns_table1_metrics(fps, max_count),
        resamples=bootstrap_indices(next(iter(n_trials.values())), n_resamples, seed),
        max_count=max_count,
        n_resamples=n_resamples,
        seed=seed,
    )


def table1_row(
    spikes: np.ndarray,
    data: np.ndarray,
    protocol: Table1Protocol,
    model_mask: np.ndarray | None = None,
    data_mask: np.ndarray | None = None,
) -> dict[str, BootstrapResult]:
    """One method's Table 1 metrics under the shared protocol (its resamples and KDE grid)."""
    return bootstrap_metrics(
        spikes,
        data,
        protocol.metric_fns,
        protocol.resamples,
        model_mask=model_mask,
        data_mask=data_mask,
    )


def table1(
    methods: Mapping[str, np.ndarray],
    data: np.ndarray,
    fps: float,
    n_resamples: int = 5,
    seed: int = 42,
    method_masks: Mapping[str, np.ndarray] | None = None,
    data_mask: np.ndarray | None = None,
    truth_spikes: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per method plus the split-half data row; columns <metric>_mean, <metric>_std.

    Spikes are (trials, time, neurons). Every row uses one `Table1Protocol`: the same
    bootstrap resamples and a KDE grid of the population count up to the largest count over
    the data and every method. `truth_spikes` (simulations: Poisson spikes of the simulator's
    true rates, as many trials as every method) adds the row TRUTH_ROW before the split half:
    what a perfect model scores at the methods' sample size, the floor of every row.
    """
    masks = dict(method_masks or {})
    scored = dict(methods) | ({TRUTH_ROW: truth_spikes} if truth_spikes is not None else {})
    protocol = table1_protocol(scored, data, fps, n_resamples, seed, masks, data_mask)
    rows = {
        name: table1_row(spikes, data, protocol, masks.get(name), data_mask)
        for name, spikes in scored.items()
    }
    rows[REFERENCE_ROW] = split_half_reference(
        data, protocol.metric_fns, n_resamples, seed, data_mask
    )
    records = []
    for name, results in rows.items():
        record = {"method": name}
        for key in TABLE1_METRICS:
            record[f"{key}_mean"] = results[key].mean
            record[f"{key}_std"] = results[key].std
        records.append(record)
    return pd.DataFrame.from_records(records)


def table1_display(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with 'mean ± std' strings (`neurodiff.tables`) and readable column names."""
    return mean_std_columns(table, list(TABLE1_METRICS), TABLE1_METRICS)


# ---------------------------------------------------------------------------------------------
# Hyperparameter tables


def parameter_count(module: object) -> int:
    """Number of trainable parameters of a torch module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def autoencoder_parameters(
    settings: Mapping[str, AutoencoderSettings], input_channels: Mapping[str, int]
) -> dict[str, int]:
    """Trainable parameters of each dataset's configured autoencoder (built to count them)."""
    counts = {}
    for name, s in settings.items():
        if name not in input_channels:
            raise ValueError(f"no input channel count for dataset {name!r}")
        counts[name] = parameter_count(S4Autoencoder(**s.architecture(input_channels[name])))
    return counts


def denoiser_parameters(
    settings: Mapping[str, DenoiserSettings],
    latent_channels: Mapping[str, int],
    velocity_channels: int = 2,
) -> dict[str, int]:
    """Trainable parameters of each configured denoiser (built to count them)."""
    return {
        name: parameter_count(build_denoiser(s, latent_channels[s.dataset], velocity_channels))
        for name, s in settings.items()
    }


def autoencoder_hparams(
    settings: Mapping[str, AutoencoderSettings], input_channels: Mapping[str, int]
) -> pd.DataFrame:
    """Paper Table 2 from the settings used: one column per dataset, one row per setting."""
    counts = autoencoder_parameters(settings, input_channels)
    columns = {
        name: {
            "input channels": input_channels[name],
            **_model_first(s),
            "parameters": counts[name],
        }
        for name, s in settings.items()
    }
    return _hparam_frame(columns)


def denoiser_hparams(
    settings: Mapping[str, DenoiserSettings],
    latent_channels: Mapping[str, int],
    velocity_channels: int = 2,
) -> pd.DataFrame:
    """Paper Table 3 from the settings used: one column per diffusion model."""
    counts = denoiser_parameters(settings, latent_channels, velocity_channels)
    columns = {}
    for name, s in settings.items():
        extra = {"velocity": velocity_channels, "length": 1}.get(s.conditioning, 0)
        columns[name] = {
            "latent channels": latent_channels[s.dataset],
            "extra input channels": extra,
            **_model_first(s),
            "parameters": counts[name],
        }
    return _hparam_frame(columns)


def _model_first(settings: OptimSettings) -> dict[str, object]:
    """The settings as a dict: the model's own fields first, then the optimiser's."""
    optim = {f.name for f in fields(OptimSettings)}
    values = asdict(settings)
    own = {k: v for k, v in values.items() if k not in optim}
    return own | {k: v for k, v in values.items() if k in optim}


def _hparam_frame(columns: Mapping[str, Mapping[str, object]]) -> pd.DataFrame:
    """Rows = settings (union, in first-seen order), columns = models; values as text."""
    keys = list(dict.fromkeys(k for col in columns.values() for k in col))
    data = {name: [_text(col.get(k, "")) for k in keys] for name, col in columns.items()}
    return pd.DataFrame({"setting": [k.replace("_", " ") for k in keys], **data})


def _text(value: object) -> str:
    """Config values as table text (lists joined, None as 'none', floats compact)."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Behaviour decoding


def velocity_decoding_table(
    rates: np.ndarray,
    velocity: np.ndarray,
    split: np.ndarray,
    alpha: float,
    extra: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    angle: tuple[float, int] | None = None,
    angle_samples: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[pd.DataFrame, object]:
    """R² of a ridge decoder fitted on training AE rates → velocity, on val/test and extras.

    rates (trials, time, neurons), velocity (trials, time, 2). `extra` maps a name to
    (rates, target velocity) of other trials (e.g. velocity-conditioned samples). With
    `angle` = (bin_s, onset_bin), a column `endpoint_circ_r` adds the circular correlation
    between each row's reach angle (the target velocity's direction at the onset bin, the angle
    LDNS conditions on) and the end-point angle of the path decoded from its rates; a row "true
    hand paths, test trials" gives the data's own value (the ceiling), and `angle_samples` maps
    a name to (rates, conditioning angles) of angle-conditioned samples (no R²: no target).
    Returns (table with columns evaluated_on, trials, r2[, endpoint_circ_r]; the decoder).
    """
    train = split == "train"
    decoder = fit_velocity_decoder(rates[train], velocity[train], alpha=alpha)

    def followed(x: np.ndarray, reach: np.ndarray) -> dict[str, float]:
        if angle is None:
            return {}
        decoded = endpoint_angle(predict_velocity(decoder, x), angle[0])
        return {"endpoint_circ_r": circular_correlation(reach, decoded)}

    def onset_angle(v: np.ndarray) -> np.ndarray:  # v (trials, time, 2); the conditioned angle
        return reach_angle(v.transpose(0, 2, 1), angle[1])

    records = []
    for name in ("train", "val", "test"):
        rows = split == name
        if rows.any():
            record = {
                "evaluated_on": f"AE rates, {name} trials",
                "trials": int(rows.sum()),
                "r2": decoding_r2(decoder, rates[rows], velocity[rows]),
            }
            if angle is not None and rows.sum() > 1:
                record |= followed(rates[rows], onset_angle(velocity[rows]))
            records.append(record)
    for name, (x, y) in (extra or {}).items():
        record = {"evaluated_on": name, "trials": len(x), "r2": decoding_r2(decoder, x, y)}
        if angle is not None:
            record |= followed(x, onset_angle(y))
        records.append(record)
    if angle is not None:
        test = split == "test"
        if test.sum() > 1:
            truth = circular_correlation(
                onset_angle(velocity[test]), endpoint_angle(velocity[test], angle[0])
            )
            records.append(
                {
                    "evaluated_on": "true hand paths, test trials",
                    "trials": int(test.sum()),
                    "r2": np.nan,
                    "endpoint_circ_r": truth,
                }
            )
        for name, (x, reach) in (angle_samples or {}).items():
            records.append(
                {"evaluated_on": name, "trials": len(x), "r2": np.nan} | followed(x, reach)
            )
    return pd.DataFrame.from_records(records), decoder
