"""The claims ledger: what the three papers report, and whether this run's numbers show it.

`config/claims.yaml` lists every claim the workflow checks (schema:
workflow/schemas/claims.schema.yaml). Each names the paper's value or direction, the tolerance,
and a selector saying where the run's own number is read (a CSV table row and column, or a key
of a metrics JSON under results/{preset}/). `evaluate_claims` reads every number (a missing
file, row, column or a NaN is an error naming the claim) with its spread: the std column next
to the mean column (`<x>_mean` → `<x>_std`, `mean` → `std`; `std_column` / `std_key` name
another), and the number of seeds or resamples where the table has a count column (`n_seeds`,
`n_resamples`, `n_bootstrap`). A spread of 0 (one seed) or none (a JSON value without a std
key) is "not available". The test of a claim on these numbers gives an outcome:

- kind direction: gap = the signed difference in the claimed direction plus the tolerance's
  `absolute` slack; pooled σ = sqrt((σ₁² + σ₂²) / 2). "shown" when gap > 2σ, "contradicted"
  when −gap > 2σ, "inconclusive" otherwise, and "inconclusive" when a side has no spread;
- kind threshold: the same with the value's own σ against the fixed threshold (2σ₁); with no
  spread the plain comparison decides, and `why` says that no spread was available;
- kind value: "shown" when |run − paper| lies within the tolerance band, else "contradicted".

The verdict follows from the outcome and the preset:

- "reproduced" / "not reproduced" / "inconclusive": paper preset, every needed dataset is real
  or a paper's own simulation (`synthetic_datasets`);
- "shown on simulation" / "contradicted on simulation" / "inconclusive": a preset of
  SIMULATION_PRESETS (medium) and a claim a simulation can test: every needed dataset is a
  paper's own simulation or, for kind direction/threshold only, a simulated stand-in whose
  planted structure tests the claim (unless the claim sets `testable_on_simulation: false`);
- "not checkable at this preset": any other preset (quick), a claim about real data off the
  paper preset, or a paper-preset run whose needed dataset was a simulated stand-in.

The outcome is reported for every claim (column `outcome`), for information, also when the
verdict is "not checkable".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from neurodiff.io import atomic_path, write_text_atomic
from neurodiff.markdown import markdown_table

SHOWN = "shown"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
OUTCOMES = (SHOWN, CONTRADICTED, INCONCLUSIVE)
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
SHOWN_ON_SIMULATION = "shown on simulation"
CONTRADICTED_ON_SIMULATION = "contradicted on simulation"
NOT_CHECKABLE = "not checkable at this preset"
VERDICTS = (
    REPRODUCED,
    NOT_REPRODUCED,
    SHOWN_ON_SIMULATION,
    CONTRADICTED_ON_SIMULATION,
    INCONCLUSIVE,
    NOT_CHECKABLE,
)
PAPER_VERDICTS = {SHOWN: REPRODUCED, CONTRADICTED: NOT_REPRODUCED, INCONCLUSIVE: INCONCLUSIVE}
SIMULATION_VERDICTS = {
    SHOWN: SHOWN_ON_SIMULATION,
    CONTRADICTED: CONTRADICTED_ON_SIMULATION,
    INCONCLUSIVE: INCONCLUSIVE,
}
PAPER_PRESET = "paper"
SIMULATION_PRESETS = ("medium",)
SIMULATED_SOURCE = "simulate"
PAPERS = ("ldns", "gnocchi", "benediff")
N_SIGMA = 2
N_RANKED = 5
COUNT_COLUMNS = {"n_seeds": "seeds", "n_resamples": "resamples", "n_bootstrap": "resamples"}
SPREAD_WORDS = {"seeds": "σ over seeds", "bootstrap": "bootstrap σ"}
SCOPE = {"value": "value", "direction": "ordering", "threshold": "threshold"}
COLUMNS = [
    "id",
    "paper",
    "item",
    "claim",
    "metric",
    "kind",
    "paper_value",
    "tolerance",
    "tolerance_reason",
    "reported_in",
    "datasets",
    "computed_from",
    "reproduced_value",
    "reproduced",
    "reference",
    "spread",
    "check",
    "outcome",
    "verdict",
    "why",
]
MARKDOWN_COLUMNS = {
    "id": "id",
    "paper": "paper",
    "item": "item",
    "claim": "claim",
    "metric": "metric",
    "paper_value": "paper value",
    "tolerance": "tolerance",
    "reproduced_value": "reproduced value",
    "check": "check",
    "outcome": "test",
    "verdict": "verdict",
    "why": "why",
}
RANKED_COLUMNS = {
    "id": "id",
    "claim": "claim",
    "reproduced_value": "value(s)",
    "check": "check",
    "verdict": "verdict",
}
SYMBOL = {"greater": ">", "less": "<"}
NEGATED = {"greater": "≤", "less": "≥"}


class ClaimsError(ValueError):
    """The claims file is invalid, or a claim's computed value cannot be read."""


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class Selector:
    """Where one number of the run (and its spread) is read: a CSV row/column or a JSON key."""

    stem: str
    fmt: str
    row: Mapping[str, Any]
    column: str | None
    key: str | None
    aggregate: str | None
    label: str
    std_column: str | None = None
    std_key: str | None = None

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> Selector:
        """A selector from its validated claims-file mapping."""
        if "table" in spec:
            row = dict(spec["row"])
            label = spec.get("label", ", ".join(str(v) for v in row.values()))
            return cls(
                spec["table"],
                "csv",
                row,
                spec["column"],
                None,
                spec.get("aggregate"),
                label,
                std_column=spec.get("std_column"),
            )
        return cls(
            spec["json"],
            "json",
            {},
            None,
            spec["key"],
            None,
            spec.get("label", spec["key"]),
            std_key=spec.get("std_key"),
        )

    @property
    def file(self) -> str:
        """The file's path relative to results/{preset}/."""
        return f"{self.stem}.{self.fmt}"

    @property
    def spread_column(self) -> str | None:
        """The std column: `std_column`, else `<x>_mean` → `<x>_std` and `mean` → `std`."""
        if self.std_column is not None:
            return self.std_column
        if self.column == "mean":
            return "std"
        if self.column is not None and self.column.endswith("_mean"):
            return self.column[: -len("_mean")] + "_std"
        return None

    def describe(self) -> str:
        """The file, row and column (or key) in words."""
        if self.fmt == "json":
            std = f" (σ key {self.std_key})" if self.std_key else ""
            return f"{self.file} key {self.key}{std}"
        rows = ", ".join(f"{k}={v}" for k, v in self.row.items())
        how = f"{self.aggregate} over rows" if self.aggregate else "row"
        std = f" (σ column {self.spread_column})" if self.spread_column else ""
        return f"{self.file} {how} {rows}, column {self.column}{std}"


@dataclass(frozen=True)
class Claim:
    """One claim of a paper and how to check it."""

    id: str
    paper: str
    item: str
    statement: str
    metric: str
    kind: str
    tolerance: Mapping[str, Any]
    reported_in: str
    datasets: tuple[str, ...]
    computed: Selector
    against: Selector | None = None
    paper_value: float | None = None
    paper_std: float | None = None
    paper_values: Mapping[str, float] | None = None
    direction: str | None = None
    threshold: float | None = None
    quote: str | None = None
    spread: Mapping[str, str] | None = None
    rank: int | None = None
    testable_on_simulation: bool | None = None
    simulation_reason: str | None = None

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> Claim:
        """A claim from its validated claims-file mapping."""
        fields = dict(spec)
        fields["datasets"] = tuple(spec["datasets"])
        fields["computed"] = Selector.from_mapping(spec["computed"])
        if "against" in spec:
            fields["against"] = Selector.from_mapping(spec["against"])
        return cls(**fields)


@dataclass(frozen=True)
class Ledger:
    """Every claim, and the datasets the papers themselves simulate."""

    claims: tuple[Claim, ...]
    synthetic_datasets: frozenset[str]


def _claim_name(data: Any, index: int) -> str:
    """'<id>' (claims[i]) of a claim in the raw file, whether or not it has an id."""
    claims = data.get("claims") if isinstance(data, dict) else None
    entry = claims[index] if isinstance(claims, list) and index < len(claims) else None
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        return f"claim '{entry['id']}' (claims[{index}])"
    return f"claim claims[{index}] (no id)"


def _not_allowed(error: ValidationError) -> list[str]:
    """The keys a `not: {anyOf: [required: [...]]}` rule found present."""
    options = error.validator_value.get("anyOf", [error.validator_value])
    return [k for option in options for k in option.get("required", []) if k in error.instance]


def describe_schema_error(error: ValidationError, data: Any, path: str | os.PathLike) -> str:
    """One sentence naming the file, the claim id and the key, and what is wrong."""
    where = list(error.absolute_path)
    subject = f"{path}:"
    if len(where) >= 2 and where[0] == "claims" and isinstance(where[1], int):
        subject += f" {_claim_name(data, where[1])}:"
        where = where[2:]
    key = ".".join(str(p) for p in where)
    prefix = f"{key}." if key else ""
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"{subject} key '{prefix}{missing[0]}' is missing (required)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{subject} key '{prefix}{extra[0]}' is not allowed; allowed: {', '.join(allowed)}"
    if error.validator == "not":
        keys = ", ".join(f"'{prefix}{k}'" for k in _not_allowed(error))
        return f"{subject} key(s) {keys} not allowed here (see the claim's kind or selector form)"
    if error.validator in ("enum", "const"):
        return (
            f"{subject} key '{key}' = {error.instance!r} is not allowed; allowed: "
            f"{error.validator_value}"
        )
    return f"{subject} key '{key or '<top level>'}' = {error.instance!r}: {error.message}"


def _error_order(error: ValidationError) -> tuple[int, int, int]:
    """Sort errors by claim, then prefer a missing key, then the shallowest path."""
    path = list(error.absolute_path)
    index = path[1] if len(path) >= 2 and isinstance(path[1], int) else -1
    return index, error.validator != "required", len(path)


def _check_claims(ledger: Ledger, path: str | os.PathLike) -> None:
    """Rules the schema cannot express: unique ids and ranks, paper_std where a σ-band uses it."""
    seen: set[str] = set()
    ranks: dict[int, str] = {}
    for claim in ledger.claims:
        if claim.id in seen:
            raise ClaimsError(f"{path}: claim '{claim.id}': key 'id' is used twice")
        seen.add(claim.id)
        if "paper_std_multiple" in claim.tolerance and claim.paper_std is None:
            raise ClaimsError(
                f"{path}: claim '{claim.id}': key 'paper_std' is missing "
                "(tolerance.paper_std_multiple needs it)"
            )
        if claim.rank is not None:
            if claim.rank in ranks:
                raise ClaimsError(
                    f"{path}: claim '{claim.id}': key 'rank' = {claim.rank} is "
                    f"already used by claim '{ranks[claim.rank]}' (ranks are "
                    "unique)"
                )
            ranks[claim.rank] = claim.id


def load_claims(path: str | os.PathLike, schema_path: str | os.PathLike) -> Ledger:
    """Read and validate the claims file; errors name the file, the claim id and the key."""
    path = Path(path)
    if not path.exists():
        raise ClaimsError(f"claims file not found: {path}")
    with open(path) as fh:
        data = yaml.safe_load(fh)
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=_error_order)
    if errors:
        raise ClaimsError(describe_schema_error(errors[0], data, path))
    ledger = Ledger(
        tuple(Claim.from_mapping(c) for c in data["claims"]), frozenset(data["synthetic_datasets"])
    )
    _check_claims(ledger, path)
    return ledger


def claim_input_files(ledger: Ledger, results_dir: str | os.PathLike) -> list[str]:
    """Every file the claims read, under results_dir, sorted and without duplicates."""
    selectors = [s for c in ledger.claims for s in (c.computed, c.against) if s is not None]
    return sorted({str(Path(results_dir) / s.file) for s in selectors})


# ---------------------------------------------------------------------------------------------
# Reading the run's numbers


@dataclass(frozen=True)
class Reading:
    """A number of the run and its spread: std None when not available (`missing` says why)."""

    value: float
    std: float | None = None
    count: str | None = None
    rows: int = 1
    missing: str = "no spread read"


def _finite(value: Any, claim_id: str, where: str) -> float:
    """The value as a finite float; raises naming the claim and where it was read."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimsError(f"claim '{claim_id}': {where} is {value!r}, not a number")
    if not math.isfinite(value):
        raise ClaimsError(f"claim '{claim_id}': {where} is {value}, not a finite number")
    return float(value)


def _read_file(path: Path, claim_id: str, cache: dict[Path, Any]) -> Any:
    """A CSV as a DataFrame or a JSON as an object, read once per evaluation."""
    if path not in cache:
        if not path.exists():
            raise ClaimsError(f"claim '{claim_id}': computed file {path} does not exist")
        if path.suffix == ".csv":
            cache[path] = pd.read_csv(path)
        else:
            cache[path] = json.loads(path.read_text())
    return cache[path]


def _numbers(rows: pd.DataFrame, column: str, claim_id: str, where: str, what: str) -> pd.Series:
    """A column of the matching rows as floats; raises on a missing or non-numeric cell."""
    values = pd.to_numeric(rows[column], errors="coerce")
    if values.isna().any() or not values.map(math.isfinite).all():
        raise ClaimsError(
            f"claim '{claim_id}': {where} holds a missing or non-numeric {what} "
            f"({rows[column].tolist()})"
        )
    return values.astype(float)


def _table_spread(
    rows: pd.DataFrame, selector: Selector, path: Path, claim_id: str, value: float
) -> Reading:
    """The spread beside the selected value: σ of one row, or sqrt(mean of σ²) over several.

    Pooling the variances of several rows (`aggregate: mean`) is conservative: the rows share
    seeds, so the σ of their mean is at most this, never more. A count column giving one seed
    or resample, or a σ of 0, means no spread is available.
    """
    column = selector.spread_column
    if column is None:
        return Reading(
            value,
            rows=len(rows),
            missing=f"no std column for {selector.column!r}; std_column can name one",
        )
    if column not in rows.columns:
        return Reading(value, rows=len(rows), missing=f"no std column {column!r}")
    where = f"{path} row {dict(selector.row)} column {column!r}"
    stds = _numbers(rows, column, claim_id, where, "std")
    if (stds < 0).any():
        raise ClaimsError(f"claim '{claim_id}': {where} holds a negative std ({stds.tolist()})")
    count = None
    counted = next((c for c in COUNT_COLUMNS if c in rows.columns), None)
    if counted is not None:
        counts = _numbers(rows, counted, claim_id, f"{path} column {counted!r}", "count")
        low, high, unit = int(counts.min()), int(counts.max()), COUNT_COLUMNS[counted]
        count = f"{low} {unit}" if low == high else f"{low}–{high} {unit}"
        if low < 2:
            return Reading(
                value,
                count=count,
                rows=len(rows),
                missing=f"{counted} = {low}: one {unit[:-1]} has no spread",
            )
    if (stds == 0).any():
        return Reading(value, count=count, rows=len(rows), missing=f"{column} = 0")
    return Reading(value, math.sqrt(float((stds**2).mean())), count, len(rows))


def _table_reading(table: pd.DataFrame, selector: Selector, path: Path, claim_id: str) -> Reading:
    """The selected column of the matching row(s) (mean over them with `aggregate: mean`)."""
    wanted = [*selector.row, selector.column]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise ClaimsError(
            f"claim '{claim_id}': {path} has no column {missing[0]!r}; "
            f"columns: {list(table.columns)}"
        )
    if selector.std_column is not None and selector.std_column not in table.columns:
        raise ClaimsError(
            f"claim '{claim_id}': {path} has no column {selector.std_column!r} "
            f"(named by std_column); columns: {list(table.columns)}"
        )
    match = pd.Series(True, index=table.index)
    for column, value in selector.row.items():
        match &= table[column].astype(str) == str(value)
    rows = table.loc[match]
    where = f"{path} row {dict(selector.row)} column {selector.column!r}"
    if rows.empty:
        raise ClaimsError(f"claim '{claim_id}': {path} has no row {dict(selector.row)}")
    if len(rows) > 1 and selector.aggregate is None:
        raise ClaimsError(
            f"claim '{claim_id}': {len(rows)} rows of {path} match "
            f"{dict(selector.row)}; narrow the row or set aggregate: mean"
        )
    values = pd.to_numeric(rows[selector.column], errors="coerce")
    if values.isna().any():
        raise ClaimsError(
            f"claim '{claim_id}': {where} holds a missing or non-numeric value "
            f"({rows[selector.column].tolist()})"
        )
    value = _finite(float(values.mean()), claim_id, where)
    return _table_spread(rows, selector, path, claim_id, value)


def _json_node(data: Any, key: str, path: Path, claim_id: str, named_by: str = "") -> Any:
    """The node at a dot-separated key of a JSON object."""
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ClaimsError(
                f"claim '{claim_id}': {path} has no key {key!r}{named_by} (missing part {part!r})"
            )
        node = node[part]
    return node


def _json_reading(data: Any, selector: Selector, path: Path, claim_id: str) -> Reading:
    """The value at the dot-separated key of a JSON object, and its σ at `std_key` if named."""
    value = _finite(
        _json_node(data, selector.key, path, claim_id), claim_id, f"{path} key {selector.key!r}"
    )
    if selector.std_key is None:
        return Reading(value, missing="no std key")
    where = f"{path} key {selector.std_key!r}"
    std = _finite(
        _json_node(data, selector.std_key, path, claim_id, " (named by std_key)"), claim_id, where
    )
    if std < 0:
        raise ClaimsError(f"claim '{claim_id}': {where} is {std}, a negative std")
    if std == 0:
        return Reading(value, missing=f"{selector.std_key} = 0")
    return Reading(value, std)


def read_reading(
    selector: Selector,
    results_dir: str | os.PathLike,
    claim_id: str,
    cache: dict[Path, Any] | None = None,
) -> Reading:
    """The run's number and spread for a selector; raises naming the claim, file, row, column."""
    path = Path(results_dir) / selector.file
    data = _read_file(path, claim_id, {} if cache is None else cache)
    if selector.fmt == "csv":
        return _table_reading(data, selector, path, claim_id)
    return _json_reading(data, selector, path, claim_id)


def read_computed(
    selector: Selector,
    results_dir: str | os.PathLike,
    claim_id: str,
    cache: dict[Path, Any] | None = None,
) -> float:
    """The run's number for a selector; raises naming the claim, file, row and column."""
    return read_reading(selector, results_dir, claim_id, cache).value


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Test:
    """A claim tested on the run's numbers: outcome, reference number, arithmetic, basis."""

    outcome: str
    reference: float
    check: str
    basis: str


def _fmt(x: float) -> str:
    """A number to 4 significant digits."""
    return f"{x:.4g}"


def value_band(claim: Claim) -> float:
    """Half-width of the accepted band around the paper's value (kind value)."""
    tol = claim.tolerance
    terms = [tol.get("absolute", 0.0), tol.get("relative", 0.0) * abs(claim.paper_value)]
    if "paper_std_multiple" in tol:
        terms.append(tol["paper_std_multiple"] * claim.paper_std)
    return float(max(terms))


def tolerance_text(claim: Claim) -> str:
    """The tolerance in short words."""
    tol = claim.tolerance
    if claim.kind != "value":
        return "strict" if tol["absolute"] == 0 else f"may fall {_fmt(tol['absolute'])} short"
    parts = []
    if "absolute" in tol:
        parts.append(_fmt(tol["absolute"]))
    if "relative" in tol:
        parts.append(f"{tol['relative'] * 100:g} % of paper")
    if "paper_std_multiple" in tol:
        parts.append(f"{tol['paper_std_multiple']:g} σ of paper")
    if parts == [_fmt(tol.get("absolute", 0.0))]:
        return f"±{parts[0]}"
    inner = parts[0] if len(parts) == 1 else f"max({', '.join(parts)})"
    return f"±{inner} = ±{value_band(claim):.2g}"


def paper_value_text(claim: Claim) -> str:
    """The paper's value or direction in short words."""
    if claim.kind == "value":
        std = f" ± {_fmt(claim.paper_std)}" if claim.paper_std is not None else ""
        return f"{_fmt(claim.paper_value)}{std}"
    if claim.kind == "threshold":
        return f"{SYMBOL[claim.direction]} {claim.threshold:g}"
    text = f"{claim.computed.label} {SYMBOL[claim.direction]} {claim.against.label}"
    if claim.paper_values:
        text += f" ({_fmt(claim.paper_values['claim'])} vs {_fmt(claim.paper_values['against'])})"
    return text


def _sides(claim: Claim, value: Reading, against: Reading | None) -> list[tuple[str, Reading]]:
    """(label, reading) of each side the claim reads."""
    if against is None:
        return [(claim.computed.label, value)]
    return [(claim.computed.label, value), (claim.against.label, against)]


def sigma_words(claim: Claim, readings: Sequence[Reading]) -> str:
    """What the σ is, in short words: 'bootstrap σ, 5 resamples', 'σ over seeds, 3 seeds'."""
    parts = [SPREAD_WORDS[claim.spread["over"]] if claim.spread else "σ"]
    counts = list(dict.fromkeys(r.count for r in readings if r.count))
    if counts:
        parts.append(" vs ".join(counts))
    if any(r.rows > 1 for r in readings):
        parts.append("rows pooled as √(mean σ²)")
    return ", ".join(parts)


def spread_text(claim: Claim, value: Reading, against: Reading | None) -> str:
    """The spread read on each side, or why none is available."""
    sides = _sides(claim, value, against)
    absent = [(label, r) for label, r in sides if r.std is None]
    if absent:
        if len(sides) == 1:
            return f"not available ({absent[0][1].missing})"
        return "not available (" + "; ".join(f"{label}: {r.missing}" for label, r in absent) + ")"
    stds = " vs ".join(_fmt(r.std) for _, r in sides)
    return f"{stds} ({sigma_words(claim, [r for _, r in sides])})"


def _gap_test(claim: Claim, value: Reading, reference: float, against: Reading | None) -> Test:
    """An ordering (against given) or threshold test: the gap against 2σ, in words."""
    slack = claim.tolerance["absolute"]
    sign = 1.0 if claim.direction == "greater" else -1.0
    raw = sign * (value.value - reference)
    gap = raw + slack
    symbol = SYMBOL[claim.direction] if raw > 0 else NEGATED[claim.direction]
    if against is None:
        text = f"{_fmt(value.value)} {symbol} {_fmt(reference)}"
    else:
        text = (
            f"{claim.computed.label} {_fmt(value.value)} {symbol} "
            f"{claim.against.label} {_fmt(reference)}"
        )
    text += f": gap {_fmt(raw)}"
    if slack:
        text += f" + slack {_fmt(slack)} = {_fmt(gap)}"
    sides = _sides(claim, value, against)
    absent = [(label, r) for label, r in sides if r.std is None]
    if absent:
        missing = "; ".join(
            r.missing if against is None else f"{label}: {r.missing}" for label, r in absent
        )
        if against is None:
            outcome = SHOWN if gap > 0 else CONTRADICTED
            return Test(
                outcome,
                reference,
                f"{text}, no spread ({missing}): plain comparison",
                "no spread available, plain comparison",
            )
        return Test(INCONCLUSIVE, reference, f"{text}, no spread ({missing})", "no spread")
    if against is None:
        sigma = value.std
    else:
        sigma = math.sqrt((value.std**2 + against.std**2) / 2)
    bound = N_SIGMA * sigma
    if gap > bound:
        outcome, relation, basis = SHOWN, f"> 2σ = {_fmt(bound)}", "gap > 2σ"
    elif -gap > bound:
        outcome, relation, basis = CONTRADICTED, f"< −2σ = −{_fmt(bound)}", "reverse gap > 2σ"
    else:
        outcome, relation, basis = INCONCLUSIVE, f"within ±2σ = ±{_fmt(bound)}", "gap within 2σ"
    words = sigma_words(claim, [r for _, r in sides])
    return Test(outcome, reference, f"{text} {relation} ({words})", basis)


def judge_claim(claim: Claim, value: Reading, against: Reading | None) -> Test:
    """The test of a claim on the run's value(s): outcome, reference, arithmetic and basis."""
    if claim.kind == "value":
        band = value_band(claim)
        diff = abs(value.value - claim.paper_value)
        shown = diff <= band
        symbol = "≤" if shown else ">"
        return Test(
            SHOWN if shown else CONTRADICTED,
            claim.paper_value,
            f"|{_fmt(value.value)} − {_fmt(claim.paper_value)}| = {diff:.2g} {symbol} {band:.2g}",
            "within tolerance" if shown else "outside tolerance",
        )
    if claim.kind == "threshold":
        return _gap_test(claim, value, claim.threshold, None)
    return _gap_test(claim, value, against.value, against)


def _dataset_notes(claim: Claim, ledger: Ledger, sources: Mapping[str, str]) -> list[str]:
    """Per needed dataset: a simulated stand-in, a paper's own simulation, or real data."""
    notes = []
    for name in claim.datasets:
        if name not in sources:
            raise ClaimsError(
                f"claim '{claim.id}' needs dataset {name!r} but the config has no "
                f"data.{name}.source"
            )
        if sources[name] != SIMULATED_SOURCE:
            notes.append(f"{name} from {sources[name]}")
        elif name in ledger.synthetic_datasets:
            notes.append(f"{name} simulated as in the paper")
        else:
            notes.append(f"simulated stand-in for {name}")
    return notes


def _stand_ins(claim: Claim, ledger: Ledger, sources: Mapping[str, str]) -> list[str]:
    """Needed datasets the run replaced by a simulation the paper did not use."""
    return [
        n
        for n in claim.datasets
        if sources[n] == SIMULATED_SOURCE and n not in ledger.synthetic_datasets
    ]


def simulation_blocker(claim: Claim, ledger: Ledger, sources: Mapping[str, str]) -> str | None:
    """Why the run's simulations cannot test the claim (None when they can)."""
    real = [f"{n} from {sources[n]}" for n in claim.datasets if sources[n] != SIMULATED_SOURCE]
    if real:
        return (
            f"{', '.join(real)} is real data; claims about real data stay not checkable "
            f"off the {PAPER_PRESET} preset"
        )
    if claim.testable_on_simulation is False:
        return f"testable_on_simulation: false ({claim.simulation_reason})"
    stand_ins = _stand_ins(claim, ledger, sources)
    if stand_ins and claim.kind == "value":
        names = ", ".join(stand_ins)
        return (
            f"a value claim about the real recording behind the simulated stand-in for "
            f"{names}; claims about real data stay not checkable off the {PAPER_PRESET} "
            "preset"
        )
    return None


def verdict_for(
    claim: Claim,
    ledger: Ledger,
    preset: str,
    sources: Mapping[str, str],
    outcome: str,
    basis: str = "",
) -> tuple[str, str]:
    """(verdict, why) of a claim whose test gave `outcome` (on `basis`, in words)."""
    notes = _dataset_notes(claim, ledger, sources)
    on = ", ".join(notes) or "the run"
    test = f"{SCOPE[claim.kind]} {outcome}" + (f" ({basis})" if basis else "")
    if preset == PAPER_PRESET:
        stand_ins = _stand_ins(claim, ledger, sources)
        if stand_ins:
            keys = ", ".join(f"data.{n}.source = {SIMULATED_SOURCE}" for n in stand_ins)
            return NOT_CHECKABLE, f"{keys}: a simulated stand-in, not the paper's recording"
        return PAPER_VERDICTS[outcome], f"{test} on {on}"
    if preset in SIMULATION_PRESETS:
        blocker = simulation_blocker(claim, ledger, sources)
        if blocker is not None:
            return NOT_CHECKABLE, f"{preset} preset: {blocker}; data: {on}"
        return SIMULATION_VERDICTS[outcome], f"{preset} preset on {on}: {test}"
    data = f"; {on}" if notes else ""
    return NOT_CHECKABLE, f"{preset} preset: small models and short training{data}"


def evaluate_claim(
    claim: Claim,
    ledger: Ledger,
    results_dir: str | os.PathLike,
    preset: str,
    sources: Mapping[str, str],
    cache: dict[Path, Any] | None = None,
) -> dict[str, Any]:
    """One ledger row: the paper's value, the run's value, the test, the verdict and why."""
    cache = {} if cache is None else cache
    value = read_reading(claim.computed, results_dir, claim.id, cache)
    against = (
        None if claim.against is None else read_reading(claim.against, results_dir, claim.id, cache)
    )
    test = judge_claim(claim, value, against)
    verdict, why = verdict_for(claim, ledger, preset, sources, test.outcome, test.basis)
    shown = (
        _fmt(value.value) if against is None else f"{_fmt(value.value)} vs {_fmt(against.value)}"
    )
    sources_read = [s.describe() for s in (claim.computed, claim.against) if s is not None]
    return {
        "id": claim.id,
        "paper": claim.paper,
        "item": claim.item,
        "claim": claim.statement,
        "metric": claim.metric,
        "kind": claim.kind,
        "paper_value": paper_value_text(claim),
        "tolerance": tolerance_text(claim),
        "tolerance_reason": claim.tolerance["reason"],
        "reported_in": claim.reported_in,
        "datasets": ", ".join(claim.datasets) or "none",
        "computed_from": "; vs ".join(sources_read),
        "reproduced_value": shown,
        "reproduced": value.value,
        "reference": test.reference,
        "spread": spread_text(claim, value, against),
        "check": test.check,
        "outcome": test.outcome,
        "verdict": verdict,
        "why": why,
    }


def evaluate_claims(
    ledger: Ledger, results_dir: str | os.PathLike, preset: str, sources: Mapping[str, str]
) -> pd.DataFrame:
    """One row per claim, in the ledger's order (columns: COLUMNS)."""
    cache: dict[Path, Any] = {}
    rows = [evaluate_claim(c, ledger, results_dir, preset, sources, cache) for c in ledger.claims]
    table = pd.DataFrame.from_records(rows, columns=COLUMNS)
    check_filled(table)
    return table


def check_filled(table: pd.DataFrame) -> None:
    """Raise naming the claim and column if any cell of the ledger is empty or NaN."""
    for _, row in table.iterrows():
        for column in COLUMNS:
            value = row[column]
            if (
                value is None
                or (isinstance(value, float) and not math.isfinite(value))
                or (isinstance(value, str) and not value.strip())
            ):
                raise ClaimsError(f"claim '{row['id']}': column {column!r} is empty")


# ---------------------------------------------------------------------------------------------
# Writing


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Claims per verdict (one column each, VERDICTS order) per paper, and a row for all."""
    counts = pd.crosstab(table["paper"], table["verdict"])
    papers = [*PAPERS, *sorted(set(table["paper"]) - set(PAPERS))]
    counts = counts.reindex(index=papers, columns=list(VERDICTS), fill_value=0).astype(int)
    counts.loc["all"] = counts.sum()
    return counts.rename_axis("paper").reset_index().rename_axis(None, axis=1)


def ranked_rows(table: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """The rows of the ranked claims (`rank` in the claims file), in rank order."""
    ranks = {c.id: c.rank for c in ledger.claims if c.rank is not None}
    rows = table[table["id"].isin(ranks)].copy()
    rows.insert(0, "rank", rows["id"].map(ranks))
    rows = rows.sort_values("rank")
    return rows[["rank", *RANKED_COLUMNS]].rename(columns=RANKED_COLUMNS)


def _banner(preset: str) -> list[str]:
    """What this run's verdicts are about, for every preset but the paper's."""
    if preset == PAPER_PRESET:
        return []
    if preset in SIMULATION_PRESETS:
        return [
            f"**Verdicts of this run are about simulations only.** It is a `{preset}` "
            "preset run: models sized for a laptop, trained on the papers' own "
            "simulations and on simulated stand-ins with planted structure. "
            f"'{SHOWN_ON_SIMULATION}' and '{CONTRADICTED_ON_SIMULATION}' say whether a "
            "simulation shows what a claim describes; no verdict is about the papers' "
            f"recordings, and claims about real data are '{NOT_CHECKABLE}'."
        ]
    return [
        f"**This run does not claim to reproduce any paper number.** It is a `{preset}` "
        f"preset run: every verdict is '{NOT_CHECKABLE}'; the reproduced values are this "
        "run's computed numbers, shown so the pipeline from claim to number can be "
        "reviewed."
    ]


def _verdict_lines() -> list[str]:
    """What the verdicts and the test outcome mean, and the 2σ rule."""
    return [
        "Each claim is tested on this run's numbers. An ordering between two methods is "
        f"*{SHOWN}* when its gap (the difference in the claimed direction, plus the "
        f"tolerance's slack) exceeds {N_SIGMA}σ, σ = √((σ₁² + σ₂²)/2) pooled from the two "
        "sides' standard deviations (over seeds, or over bootstrap resamples where a table "
        f"has one model), *{CONTRADICTED}* when the reverse gap does, and *{INCONCLUSIVE}* "
        "otherwise or when a side has no spread (one seed, or no std in the file). A "
        f"threshold claim compares the value with the threshold against {N_SIGMA}σ of the "
        "value alone; without a spread the plain comparison decides. A value claim is "
        f"*{SHOWN}* within its tolerance of the paper's value. A mean over several table rows "
        "pools their spread as √(mean σ²).",
        "",
        f"- **{REPRODUCED}** / **{NOT_REPRODUCED}**: `{PAPER_PRESET}` preset on the paper's "
        "own data (or the simulation the paper itself used), and the test shows / contradicts "
        "the claim.",
        f"- **{SHOWN_ON_SIMULATION}** / **{CONTRADICTED_ON_SIMULATION}**: a simulation preset "
        f"({', '.join(f'`{p}`' for p in SIMULATION_PRESETS)}) and a claim a simulation can "
        "test: a paper's own simulation, or a simulated stand-in whose planted structure tests "
        "an ordering or threshold; the test shows / contradicts the claim on the simulation.",
        f"- **{INCONCLUSIVE}**: either of these, but the test cannot tell the claim from noise "
        f"(gap within {N_SIGMA}σ, or no spread).",
        f"- **{NOT_CHECKABLE}**: the run cannot test the claim: a preset other than "
        f"`{PAPER_PRESET}` or a simulation preset (small models, short training), a claim about "
        f"real data off the `{PAPER_PRESET}` preset, or a `{PAPER_PRESET}`-preset run whose "
        "needed dataset was a simulated stand-in; *why* says which.",
        f"- *test*: the outcome ({', '.join(OUTCOMES)}) of the test on this run's numbers, "
        "whatever the verdict (informational).",
    ]


def _source_lines(ledger: Ledger) -> list[str]:
    """Where the paper's values come from, the quote, why the tolerance and what the spread is,
    per group of claims that share all four."""
    groups: dict[tuple[str, str | None, str, str | None], list[str]] = {}
    for c in ledger.claims:
        spread = f"{SPREAD_WORDS[c.spread['over']]}: {c.spread['reason']}" if c.spread else None
        groups.setdefault((c.reported_in, c.quote, c.tolerance["reason"], spread), []).append(c.id)
    lines = []
    for (reported_in, quote, reason, spread), ids in groups.items():
        said = f" Source sentence: “{quote}”" if quote else ""
        spread_said = f" Spread: {spread}." if spread else ""
        names = ", ".join(f"`{i}`" for i in ids)
        lines.append(f"- {names}: {reported_in}.{said} Tolerance: {reason}.{spread_said}")
    return lines


def reproduction_markdown(
    table: pd.DataFrame, ledger: Ledger, preset: str, claims_file: str
) -> str:
    """The report: a one-screen summary (counts per verdict and paper, the ranked claims), what
    the verdicts mean, the full table, then each claim's source."""
    counts = table["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    ranked = ranked_rows(table, ledger)
    top = (
        markdown_table(ranked).rstrip("\n")
        if len(ranked)
        else "No claim of the claims file has a `rank`."
    )
    ledger_columns = table[list(MARKDOWN_COLUMNS)].rename(columns=MARKDOWN_COLUMNS)
    parts = [
        "# Reproduction: paper claims vs this run",
        f"Preset: **{preset}**. Claims: `{claims_file}` ({len(table)} claims: {summary}).",
        *_banner(preset),
        "## Summary\n\nClaims per verdict and paper:\n\n"
        + markdown_table(verdict_counts(table)).rstrip("\n"),
        f"The {N_RANKED} most important claims (`rank` in the claims file):\n\n{top}",
        "## What the verdicts mean\n\n" + "\n".join(_verdict_lines()),
        "## Every claim\n\n" + markdown_table(ledger_columns).rstrip("\n"),
        "## Where each paper value comes from\n\n" + "\n".join(_source_lines(ledger)),
    ]
    return "\n\n".join(parts) + "\n"


def write_reproduction(
    table: pd.DataFrame,
    ledger: Ledger,
    preset: str,
    claims_file: str,
    csv_path: str | os.PathLike,
    md_path: str | os.PathLike,
) -> None:
    """Write the ledger as CSV (every column) and markdown, both atomically."""
    check_filled(table)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_text_atomic(md_path, reproduction_markdown(table, ledger, preset, claims_file))


def dataset_sources(data_config: Mapping[str, Any]) -> dict[str, str]:
    """data.<name>.source of every dataset section of the config."""
    return {
        name: section["source"]
        for name, section in data_config.items()
        if isinstance(section, Mapping) and "source" in section
    }
