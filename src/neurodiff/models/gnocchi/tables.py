"""Table 1 of the GNOCCHI reproduction: disentanglement and generation metrics over seeds.

Input: one metrics JSON per (dataset, seed), as written by the evaluation rule:
{"dataset": ..., "seed": ..., "models": {"gnocchi": {metric: value}, "lfads": {...},
"data": {...}}}. Output: a long table (dataset, model, metric, mean, std, n_seeds, values) for
the CSV, and a display table with one row per metric and one column per (dataset, model),
"mean ± std" (`neurodiff.tables`), for the markdown.
The std is the sample standard deviation over seeds (ddof = 1; 0 with a single seed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from neurodiff.tables import MISSING, format_mean_std, mean_std

DISENTANGLEMENT = {
    "mig": "MIG ↑",
    "dci_d": "DCI disentanglement ↑",
    "dci_c": "DCI completeness ↑",
    "dci_i": "DCI informativeness ↑",
    "sap": "SAP ↑",
    "r2_angle": "linear R², angle (cos θ, sin θ) ↑",
    "r2_speed": "linear R², speed ↑",
    "r2_curvature": "linear R², curvature ↑",
    "subspace_angle_deg": "principal angle, angle vs 3rd factor (deg) ↑",
}
METRICS = {
    **{key: f"{name} (aligned)" for key, name in DISENTANGLEMENT.items()},
    **{f"raw_{key}": f"{name} (raw)" for key, name in DISENTANGLEMENT.items()},
    "selectivity": "traversal selectivity ↑",
    "velocity_r2": "unseen: decoded velocity R² ↑",
    "endpoint_error_deg": "unseen: endpoint angle error (deg) ↓",
    "psth_r2": "unseen: PSTH R² ↑",
    "rate_rmse_hz": "unseen: mean rate RMSE (Hz) ↓",
    "fano_mae": "unseen: Fano factor abs. error ↓",
    "corr_rmse": "unseen: correlation RMSE ↓",
}
MODEL_ORDER = ("gnocchi", "lfads", "truth", "pca_trials", "nearest", "data")
MODEL_NAMES = {
    "gnocchi": "GNOCCHI",
    "lfads": "LFADS",
    "truth": "ceiling: true factors",
    "pca_trials": "baseline: PCA of trials",
    "nearest": "baseline: nearest seen cond.",
    "data": "ceiling: data split half",
}
DATASET_NAMES = {"reaching": "synthetic reaching", "mc_maze": "MC_Maze"}
TITLE = "Table 1 (reconstructed): disentanglement and unseen-condition generation"
CAPTION = (
    "GNOCCHI vs LFADS, mean ± std (ddof 1) over {seeds} seeds, {preset} preset. The paper's "
    "table is not public; rows and datasets are this reproduction's (reference/gnocchi.md §2). "
    "'aligned': latents projected on their first L principal axes (same for both models); "
    "'raw': latents as they are. Angle = one discrete factor (8 sectors); MIG with "
    "equal-width bins. 'true factors' uses cos θ, sin θ and the third factor as codes; "
    "'PCA of trials' the first L principal components of smoothed single trials; 'nearest "
    "seen cond.' scores real trials of the closest training condition as the unseen one; "
    "'data split half' one half of the real unseen-condition trials against the other half. "
    "↑ higher is better, ↓ lower."
)


def read_metric_rows(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """One row (dataset, seed, model, metric, value) per number in the metrics JSON files."""
    rows = []
    for path in paths:
        payload = json.loads(Path(path).read_text())
        missing = {"dataset", "seed", "models"} - set(payload)
        if missing:
            raise KeyError(f"{path}: keys {sorted(missing)} are missing")
        for model, values in payload["models"].items():
            for metric, value in values.items():
                rows.append(
                    {
                        "dataset": payload["dataset"],
                        "seed": int(payload["seed"]),
                        "model": model,
                        "metric": metric,
                        "value": float(value),
                    }
                )
    if not rows:
        raise ValueError("no metrics found: the table needs at least one metrics file")
    return rows


def summarise(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Mean, std (ddof 1) and number of seeds per (dataset, model, metric)."""
    frame = pd.DataFrame(list(rows))
    duplicated = frame.duplicated(["dataset", "seed", "model", "metric"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ValueError(
            f"metric {first['metric']} of {first['model']} on {first['dataset']} "
            f"seed {first['seed']} appears twice"
        )
    out = []
    for (dataset, model, metric), group in frame.groupby(["dataset", "model", "metric"]):
        values = group.sort_values("seed")["value"].to_numpy()
        mean, std = mean_std(values)
        out.append(
            {
                "dataset": dataset,
                "model": model,
                "metric": metric,
                "mean": mean,
                "std": std,
                "n_seeds": int(values.size),
                "values": " ".join(f"{v:.6g}" for v in values),
            }
        )
    table = pd.DataFrame(out)
    table["model_rank"] = (
        table["model"].map({m: i for i, m in enumerate(MODEL_ORDER)}).fillna(len(MODEL_ORDER))
    )
    table["metric_rank"] = (
        table["metric"].map({m: i for i, m in enumerate(METRICS)}).fillna(len(METRICS))
    )
    table = table.sort_values(["dataset", "metric_rank", "model_rank"])
    return table.drop(columns=["model_rank", "metric_rank"]).reset_index(drop=True)


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per metric, one column per (dataset, model) with 'mean ± std' ('—' if absent)."""
    datasets = [d for d in DATASET_NAMES if d in set(summary["dataset"])]
    columns = [
        (d, m)
        for d in datasets
        for m in MODEL_ORDER
        if ((summary["dataset"] == d) & (summary["model"] == m)).any()
    ]
    cells = {
        (r.dataset, r.model, r.metric): format_mean_std(r.mean, r.std) for r in summary.itertuples()
    }
    metrics = [m for m in METRICS if m in set(summary["metric"])]
    display = {"metric": [METRICS[m] for m in metrics]}
    for dataset, model in columns:
        display[f"{DATASET_NAMES[dataset]}: {MODEL_NAMES.get(model, model)}"] = [
            cells.get((dataset, model, metric), MISSING) for metric in metrics
        ]
    return pd.DataFrame(display)


def caption(summary: pd.DataFrame, preset: str) -> str:
    """The table's caption: seeds behind it, preset, and how to read the data reference row."""
    seeds = "/".join(map(str, sorted(set(summary["n_seeds"]))))
    return CAPTION.format(seeds=seeds, preset=preset)
