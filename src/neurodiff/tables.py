"""Result tables of all three papers: "mean ± std" text with one precision rule, and one writer.

Every table is written twice, each file atomically (`neurodiff.io`): a CSV of the numbers, which
the claims ledger and any later analysis read, and a markdown page for people: a title, a
caption, and a display table whose cells are `format_mean_std` strings.

The precision rule (`format_mean_std`): the std is rounded to two significant digits and the mean
is written to the same decimal place, e.g. ``0.00379 ± 0.00044``, ``12.35 ± 0.61``,
``457 ± 12``. Over a handful of seeds or bootstrap resamples the std itself is uncertain to tens
of percent, so a third digit of it, or a digit of the mean below it, would claim a precision the
numbers do not have (the LDNS paper writes its Table 1 this way). Nothing is rounded to tens or
above: a std of 1234 is written 1234. Without a spread (a single seed: std 0, or an undefined
std) the mean gets three significant digits. An undefined mean is "—".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neurodiff.io import atomic_path, write_text_atomic
from neurodiff.markdown import markdown_table

STD_DIGITS = 2  # significant digits of the std
MEAN_DIGITS = 3  # significant digits of a mean without a spread
# a std at most this fraction of |mean| is floating-point round-off of identical values (e.g.
# the std over seeds of a ceiling row that does not depend on the seed), shown as no spread
ROUNDOFF = 1e-9
MISSING = "—"


def _exponent(value: float, digits: int) -> int:
    """Decimal exponent of |value| after rounding to `digits` significant digits (0.0996 → -1)."""
    return int(f"{abs(value):.{digits - 1}e}".split("e")[1])


def mean_std_decimals(mean: float, std: float) -> int:
    """Decimal places of both numbers under the module's precision rule."""
    if math.isfinite(std) and std > ROUNDOFF * abs(mean):
        return max(0, STD_DIGITS - 1 - _exponent(std, STD_DIGITS))
    if math.isfinite(mean) and mean != 0:
        return max(0, MEAN_DIGITS - 1 - _exponent(mean, MEAN_DIGITS))
    return 0


def _fixed(value: float, decimals: int) -> str:
    """`value` to `decimals` places, without the sign of a value that rounds to zero."""
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def format_mean_std(mean: float, std: float) -> str:
    """'mean ± std': the std to two significant digits, the mean to the same decimal place."""
    if not math.isfinite(mean):
        return MISSING
    if std < 0:
        raise ValueError(f"a standard deviation cannot be negative, got {std}")
    decimals = mean_std_decimals(mean, std)
    spread = _fixed(std, decimals) if math.isfinite(std) else MISSING
    return f"{_fixed(mean, decimals)} ± {spread}"


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for a single value) of the values, e.g. over seeds."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return float(np.mean(array)), std


def format_values(values: Iterable[float]) -> str:
    """`format_mean_std` of values over seeds (`mean_std`), or "n/a" when there are none."""
    array = list(values)
    return format_mean_std(*mean_std(array)) if array else "n/a"


def mean_std_columns(
    table: pd.DataFrame, metrics: Sequence[str], titles: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Display table: each metric's `<m>_mean`/`<m>_std` pair becomes one 'mean ± std' column.

    The other columns keep their order; the metric columns follow them, in the order of
    `metrics`, named `titles[m]` (default: the metric's name).
    """
    titles = dict(titles or {})
    pairs = [f"{m}_{part}" for m in metrics for part in ("mean", "std")]
    missing = sorted(set(pairs) - set(table.columns))
    if missing:
        raise ValueError(f"table lacks columns {missing}")
    out = table.drop(columns=pairs)
    for metric in metrics:
        out[titles.get(metric, metric)] = [
            format_mean_std(m, s)
            for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"], strict=True)
        ]
    return out


def table_markdown(display: pd.DataFrame, title: str, caption: str = "") -> str:
    """The markdown page of a table: '# title', the caption paragraph, the display table."""
    parts = [f"# {title}"]
    if caption.strip():
        parts.append(caption.strip())
    return "\n\n".join([*parts, markdown_table(display)])


def write_table(
    csv_path: str | Path,
    numbers: pd.DataFrame,
    display: pd.DataFrame | None = None,
    *,
    title: str,
    caption: str = "",
    md_path: str | Path | None = None,
    float_format: str | None = None,
) -> None:
    """Write the numbers as CSV and the markdown page beside it, each atomically.

    The CSV holds `numbers` without the index, floats at full precision unless `float_format`
    (a `%` format, as pandas' `to_csv`) is given. The markdown goes to `md_path` (default: the
    CSV path with suffix .md) and shows `display` (default: `numbers`).
    """
    csv_path = Path(csv_path)
    with atomic_path(csv_path) as tmp:
        numbers.to_csv(tmp, index=False, float_format=float_format)
    page = table_markdown(numbers if display is None else display, title, caption)
    write_text_atomic(csv_path.with_suffix(".md") if md_path is None else md_path, page)
