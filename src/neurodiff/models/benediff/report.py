"""BeNeDiff's tables: LVM metrics (table 1) and guided-video specificity (table 2).

Every number is aggregated from the per-run CSVs the training and sampling rules write:
mean ± std over LVM seeds (displayed by `neurodiff.tables.mean_std_columns`). Table 1 adds, per
session and method, a row "all regions": the metric averaged over regions within each seed, then
mean ± std over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neurodiff.models.benediff.lvm import METHOD_LABELS
from neurodiff.tables import mean_std_columns, write_table

TABLE1_METRICS = ("neural_r2", "behavior_r2", "mig", "leakage_r2", "gaussian_tc", "cross_block_mi")
TABLE2_METRICS = (
    "encoder_r2",
    "latent_variance_ratio",
    "target_ratio",
    "other_ratio",
    "specificity",
)
ALL_REGIONS = "all regions"
CSV_FLOAT_FORMAT = "%.6g"  # the tables' CSVs keep six significant digits


def _mean_std(frame: pd.DataFrame, keys: list[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof 1; 0 for one seed) and count of each metric per group of `keys`."""
    grouped = frame.groupby(keys, sort=False)[list(metrics)]
    means = grouped.mean().add_suffix("_mean")
    stds = grouped.std(ddof=1).fillna(0.0).add_suffix("_std")
    out = pd.concat([means, stds], axis=1).reset_index()
    out["n_seeds"] = grouped.size().to_numpy()
    return out


def table1_lvm_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """Neural R², behaviour R², MIG per session, region and method (plus all regions)."""
    missing = {"session", "region", "method", "seed", *TABLE1_METRICS} - set(metrics.columns)
    if missing:
        raise ValueError(f"LVM metrics lack columns {sorted(missing)}")
    per_region = _mean_std(metrics, ["session", "region", "method"], TABLE1_METRICS)
    region_means = (
        metrics.groupby(["session", "method", "seed"], sort=False)[list(TABLE1_METRICS)]
        .mean()
        .reset_index()
        .assign(region=ALL_REGIONS)
    )
    overall = _mean_std(region_means, ["session", "region", "method"], TABLE1_METRICS)
    table = pd.concat([per_region, overall], ignore_index=True)
    table.insert(3, "method_label", table["method"].map(METHOD_LABELS))
    return table


def table2_guidance_specificity(
    rows: pd.DataFrame, planted: dict[tuple[str, str, str], bool]
) -> pd.DataFrame:
    """Specificity per session, LVM method, kind (label dim or control), region, activated
    factor and label reader.

    `planted[(session, region, factor)]` says whether the simulation planted the factor in the
    region (empty for real data: the column then reads "unknown").
    """
    keys = ["session", "method", "kind", "region", "factor", "reader"]
    missing = {*keys, "scale", *TABLE2_METRICS} - set(rows.columns)
    if missing:
        raise ValueError(f"specificity rows lack columns {sorted(missing)}")
    table = _mean_std(rows, keys, [*TABLE2_METRICS, "scale"])
    table = table.drop(columns="scale_std").rename(columns={"scale_mean": "scale"})
    table.insert(2, "method_label", table["method"].map(METHOD_LABELS))
    table["planted"] = [
        _planted_word(kind, (session, region, factor), planted)
        for kind, session, region, factor in zip(
            table["kind"], table["session"], table["region"], table["factor"], strict=True
        )
    ]
    return table


def _planted_word(
    kind: str, key: tuple[str, str, str], planted: dict[tuple[str, str, str], bool]
) -> str:
    """ "control" for a control dim, else yes/no from the simulation, or "unknown"."""
    if kind == "control":
        return "control"
    if key not in planted:
        return "unknown"
    return "yes" if planted[key] else "no"


def planted_pairs(
    truth_planted: np.ndarray,
    region_names: Sequence[str],
    factor_names: Sequence[str],
    session: str,
    label_names: Sequence[str],
) -> dict[tuple[str, str, str], bool]:
    """(session, region, label) → planted, from a simulation's truth arrays."""
    pairs = {}
    for i, region in enumerate(region_names):
        for label in label_names:
            if label in factor_names:
                pairs[(session, region, label)] = bool(
                    truth_planted[i, list(factor_names).index(label)]
                )
    return pairs


def write_benediff_table(
    csv_path: str | Path,
    md_path: str | Path,
    table: pd.DataFrame,
    metrics: Sequence[str],
    title: str,
    caption: str,
) -> None:
    """Write a BeNeDiff table: CSV of the numbers, markdown of 'mean ± std' by method label."""
    display = mean_std_columns(table, metrics).drop(columns=["method"])
    display = display.rename(columns={"method_label": "method"})
    write_table(
        csv_path,
        table,
        display,
        title=title,
        caption=caption,
        md_path=md_path,
        float_format=CSV_FLOAT_FORMAT,
    )
