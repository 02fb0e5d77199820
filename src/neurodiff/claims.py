"""The claims ledger: what the three papers report, and whether this run's numbers match.

`config/claims.yaml` lists every claim the workflow checks (schema:
workflow/schemas/claims.schema.yaml). Each names the paper's value or direction, the tolerance,
and a selector saying where the run's own number is read (a CSV table row and column, or a key
of a metrics JSON under results/{preset}/). `evaluate_claims` reads every number (a missing
file, row, column or a NaN is an error naming the claim) and gives each claim a verdict:

- "reproduced" / "not reproduced": paper preset, every needed dataset is the paper's own data,
  and the run's value lies inside / outside the tolerance (or the ordering holds / fails);
- "not checkable at this preset": any other preset (small models, simulated stand-ins), or a
  paper-preset run whose needed dataset was a simulated stand-in.

Whether the value or ordering holds is reported for every claim (`holds at this scale`), for
information, also when the verdict is "not checkable".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from neurodiff.io import atomic_path, write_text_atomic
from neurodiff.markdown import markdown_table

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_CHECKABLE = "not checkable at this preset"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_CHECKABLE)
PAPER_PRESET = "paper"
SIMULATED_SOURCE = "simulate"
COLUMNS = [
    "id", "paper", "item", "claim", "metric", "kind", "paper_value", "tolerance",
    "tolerance_reason", "reported_in", "datasets", "computed_from", "reproduced_value",
    "reproduced", "reference", "check", "holds_at_this_scale", "verdict", "why",
]
MARKDOWN_COLUMNS = {
    "id": "id", "paper": "paper", "item": "item", "claim": "claim", "metric": "metric",
    "paper_value": "paper value", "tolerance": "tolerance",
    "reproduced_value": "reproduced value", "check": "check",
    "holds_at_this_scale": "holds at this scale", "verdict": "verdict", "why": "why",
}
SYMBOL = {"greater": ">", "less": "<"}
NEGATED = {"greater": "≤", "less": "≥"}


class ClaimsError(ValueError):
    """The claims file is invalid, or a claim's computed value cannot be read."""


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class Selector:
    """Where one number of the run is read: a CSV row/column or a JSON key, under results/."""

    stem: str
    fmt: str
    row: Mapping[str, Any]
    column: str | None
    key: str | None
    aggregate: str | None
    label: str

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> Selector:
        """A selector from its validated claims-file mapping."""
        if "table" in spec:
            row = dict(spec["row"])
            label = spec.get("label", ", ".join(str(v) for v in row.values()))
            return cls(spec["table"], "csv", row, spec["column"], None, spec.get("aggregate"),
                       label)
        return cls(spec["json"], "json", {}, None, spec["key"], None,
                   spec.get("label", spec["key"]))

    @property
    def file(self) -> str:
        """The file's path relative to results/{preset}/."""
        return f"{self.stem}.{self.fmt}"

    def describe(self) -> str:
        """The file, row and column (or key) in words."""
        if self.fmt == "json":
            return f"{self.file} key {self.key}"
        rows = ", ".join(f"{k}={v}" for k, v in self.row.items())
        how = f"{self.aggregate} over rows" if self.aggregate else "row"
        return f"{self.file} {how} {rows}, column {self.column}"


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
        return f"{subject} key '{key}' = {error.instance!r} is not allowed; allowed: " \
               f"{error.validator_value}"
    return f"{subject} key '{key or '<top level>'}' = {error.instance!r}: {error.message}"


def _error_order(error: ValidationError) -> tuple[int, int, int]:
    """Sort errors by claim, then prefer a missing key, then the shallowest path."""
    path = list(error.absolute_path)
    index = path[1] if len(path) >= 2 and isinstance(path[1], int) else -1
    return index, error.validator != "required", len(path)


def _check_claims(ledger: Ledger, path: str | os.PathLike) -> None:
    """Rules the schema cannot express: unique ids, paper_std where a σ-band uses it."""
    seen: set[str] = set()
    for claim in ledger.claims:
        if claim.id in seen:
            raise ClaimsError(f"{path}: claim '{claim.id}': key 'id' is used twice")
        seen.add(claim.id)
        if "paper_std_multiple" in claim.tolerance and claim.paper_std is None:
            raise ClaimsError(f"{path}: claim '{claim.id}': key 'paper_std' is missing "
                              "(tolerance.paper_std_multiple needs it)")


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
    ledger = Ledger(tuple(Claim.from_mapping(c) for c in data["claims"]),
                    frozenset(data["synthetic_datasets"]))
    _check_claims(ledger, path)
    return ledger


def claim_input_files(ledger: Ledger, results_dir: str | os.PathLike) -> list[str]:
    """Every file the claims read, under results_dir, sorted and without duplicates."""
    selectors = [s for c in ledger.claims for s in (c.computed, c.against) if s is not None]
    return sorted({str(Path(results_dir) / s.file) for s in selectors})


# ---------------------------------------------------------------------------------------------
# Reading the run's numbers


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


def _table_value(table: pd.DataFrame, selector: Selector, path: Path, claim_id: str) -> float:
    """The selected column of the matching row(s) (mean over them with `aggregate: mean`)."""
    wanted = [*selector.row, selector.column]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise ClaimsError(f"claim '{claim_id}': {path} has no column {missing[0]!r}; "
                          f"columns: {list(table.columns)}")
    match = pd.Series(True, index=table.index)
    for column, value in selector.row.items():
        match &= table[column].astype(str) == str(value)
    rows = table.loc[match, selector.column]
    where = f"{path} row {dict(selector.row)} column {selector.column!r}"
    if rows.empty:
        raise ClaimsError(f"claim '{claim_id}': {path} has no row {dict(selector.row)}")
    if len(rows) > 1 and selector.aggregate is None:
        raise ClaimsError(f"claim '{claim_id}': {len(rows)} rows of {path} match "
                          f"{dict(selector.row)}; narrow the row or set aggregate: mean")
    values = pd.to_numeric(rows, errors="coerce")
    if values.isna().any():
        raise ClaimsError(f"claim '{claim_id}': {where} holds a missing or non-numeric value "
                          f"({rows.tolist()})")
    return _finite(float(values.mean()), claim_id, where)


def _json_value(data: Any, selector: Selector, path: Path, claim_id: str) -> float:
    """The value at the dot-separated key of a JSON object."""
    node = data
    for part in selector.key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ClaimsError(f"claim '{claim_id}': {path} has no key {selector.key!r} "
                              f"(missing part {part!r})")
        node = node[part]
    return _finite(node, claim_id, f"{path} key {selector.key!r}")


def read_computed(selector: Selector, results_dir: str | os.PathLike, claim_id: str,
                  cache: dict[Path, Any] | None = None) -> float:
    """The run's number for a selector; raises naming the claim, file, row and column."""
    path = Path(results_dir) / selector.file
    data = _read_file(path, claim_id, {} if cache is None else cache)
    if selector.fmt == "csv":
        return _table_value(data, selector, path, claim_id)
    return _json_value(data, selector, path, claim_id)


# ---------------------------------------------------------------------------------------------
# Evaluation


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


def _ordering(claim: Claim, value: float, reference: float, label: str, ref_label: str
              ) -> tuple[bool, str]:
    """Whether value lies on the claimed side of reference (up to the tolerance), in words."""
    slack = claim.tolerance["absolute"]
    sign = 1.0 if claim.direction == "greater" else -1.0
    holds = sign * (value - reference) > -slack
    symbol = SYMBOL[claim.direction] if holds else NEGATED[claim.direction]
    text = f"{label}{_fmt(value)} {symbol} {ref_label}{_fmt(reference)}"
    if slack:
        text += f" (slack {_fmt(slack)})"
    return holds, text


def judge_claim(claim: Claim, value: float, against: float | None) -> tuple[bool, float, str]:
    """(holds, reference number, the arithmetic in words) for the run's value(s)."""
    if claim.kind == "value":
        band = value_band(claim)
        diff = abs(value - claim.paper_value)
        holds = diff <= band
        symbol = "≤" if holds else ">"
        return holds, claim.paper_value, \
            f"|{_fmt(value)} − {_fmt(claim.paper_value)}| = {diff:.2g} {symbol} {band:.2g}"
    if claim.kind == "threshold":
        holds, text = _ordering(claim, value, claim.threshold, "", "")
        return holds, claim.threshold, text
    holds, text = _ordering(claim, value, against, f"{claim.computed.label} ",
                            f"{claim.against.label} ")
    return holds, against, text


def _dataset_notes(claim: Claim, ledger: Ledger, sources: Mapping[str, str]) -> list[str]:
    """Per needed dataset: a simulated stand-in, a scaled-down simulation, or real data."""
    notes = []
    for name in claim.datasets:
        if name not in sources:
            raise ClaimsError(f"claim '{claim.id}' needs dataset {name!r} but the config has no "
                              f"data.{name}.source")
        if sources[name] != SIMULATED_SOURCE:
            notes.append(f"{name} from {sources[name]}")
        elif name in ledger.synthetic_datasets:
            notes.append(f"{name} simulated as in the paper")
        else:
            notes.append(f"simulated stand-in for {name}")
    return notes


def _stand_ins(claim: Claim, ledger: Ledger, sources: Mapping[str, str]) -> list[str]:
    """Needed datasets the run replaced by a simulation the paper did not use."""
    return [n for n in claim.datasets
            if sources[n] == SIMULATED_SOURCE and n not in ledger.synthetic_datasets]


def verdict_for(claim: Claim, ledger: Ledger, preset: str, sources: Mapping[str, str],
                holds: bool) -> tuple[str, str]:
    """(verdict, why) of a claim whose test gave `holds`."""
    notes = _dataset_notes(claim, ledger, sources)
    if preset != PAPER_PRESET:
        data = f"; {', '.join(notes)}" if notes else ""
        return NOT_CHECKABLE, f"{preset} preset: small models and short training{data}"
    stand_ins = _stand_ins(claim, ledger, sources)
    if stand_ins:
        keys = ", ".join(f"data.{n}.source = {SIMULATED_SOURCE}" for n in stand_ins)
        return NOT_CHECKABLE, f"{keys}: a simulated stand-in, not the paper's recording"
    scope = "within tolerance" if claim.kind == "value" else "ordering"
    if holds:
        return REPRODUCED, f"{scope} holds on {', '.join(notes) or 'the run'}"
    return NOT_REPRODUCED, f"{scope} fails on {', '.join(notes) or 'the run'}"


def evaluate_claim(claim: Claim, ledger: Ledger, results_dir: str | os.PathLike, preset: str,
                   sources: Mapping[str, str], cache: dict[Path, Any] | None = None
                   ) -> dict[str, Any]:
    """One ledger row: the paper's value, the run's value, the test, the verdict and why."""
    cache = {} if cache is None else cache
    value = read_computed(claim.computed, results_dir, claim.id, cache)
    against = None if claim.against is None else \
        read_computed(claim.against, results_dir, claim.id, cache)
    holds, reference, check = judge_claim(claim, value, against)
    verdict, why = verdict_for(claim, ledger, preset, sources, holds)
    shown = _fmt(value) if against is None else f"{_fmt(value)} vs {_fmt(against)}"
    sources_read = [s.describe() for s in (claim.computed, claim.against) if s is not None]
    return {
        "id": claim.id, "paper": claim.paper, "item": claim.item, "claim": claim.statement,
        "metric": claim.metric, "kind": claim.kind, "paper_value": paper_value_text(claim),
        "tolerance": tolerance_text(claim), "tolerance_reason": claim.tolerance["reason"],
        "reported_in": claim.reported_in, "datasets": ", ".join(claim.datasets) or "none",
        "computed_from": "; vs ".join(sources_read), "reproduced_value": shown,
        "reproduced": value, "reference": reference, "check": check,
        "holds_at_this_scale": "yes" if holds else "no", "verdict": verdict, "why": why,
    }


def evaluate_claims(ledger: Ledger, results_dir: str | os.PathLike, preset: str,
                    sources: Mapping[str, str]) -> pd.DataFrame:
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
            if value is None or (isinstance(value, float) and not math.isfinite(value)) \
                    or (isinstance(value, str) and not value.strip()):
                raise ClaimsError(f"claim '{row['id']}': column {column!r} is empty")


# ---------------------------------------------------------------------------------------------
# Writing


def _verdict_lines(preset: str) -> list[str]:
    """What the three verdicts mean, and the scope of this run."""
    lines = [
        f"- **{REPRODUCED}**: paper preset on the paper's own data (or the simulation the paper "
        "itself used), and the run's value lies within the tolerance of the paper's value, or "
        "the paper's ordering holds.",
        f"- **{NOT_REPRODUCED}**: the same conditions, but the value lies outside the tolerance "
        "or the ordering fails.",
        f"- **{NOT_CHECKABLE}**: the run cannot test the claim: a preset other than "
        f"`{PAPER_PRESET}` (small models, short training, simulated stand-ins), or a needed "
        "dataset was a simulated stand-in; *why* says which.",
        "- *holds at this scale*: whether this run's numbers satisfy the paper's value or "
        "ordering, whatever the verdict (informational).",
    ]
    if preset != PAPER_PRESET:
        lines.insert(0, f"**This run does not claim to reproduce any paper number.** It is a "
                        f"`{preset}` preset run: every verdict is '{NOT_CHECKABLE}'; the "
                        "reproduced values are this run's computed numbers, shown so the "
                        "pipeline from claim to number can be reviewed.\n")
    return lines


def _source_lines(ledger: Ledger) -> list[str]:
    """Where the paper's values come from, the quote and why the tolerance, per group of claims
    that share all three."""
    groups: dict[tuple[str, str | None, str], list[str]] = {}
    for c in ledger.claims:
        groups.setdefault((c.reported_in, c.quote, c.tolerance["reason"]), []).append(c.id)
    lines = []
    for (reported_in, quote, reason), ids in groups.items():
        said = f" Source sentence: “{quote}”" if quote else ""
        names = ", ".join(f"`{i}`" for i in ids)
        lines.append(f"- {names}: {reported_in}.{said} Tolerance: {reason}.")
    return lines


def reproduction_markdown(table: pd.DataFrame, ledger: Ledger, preset: str,
                          claims_file: str) -> str:
    """The report: preset, what the verdicts mean, one table, then each claim's source."""
    counts = table["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    ledger_columns = table[list(MARKDOWN_COLUMNS)].rename(columns=MARKDOWN_COLUMNS)
    parts = [
        "# Reproduction: paper claims vs this run",
        f"Preset: **{preset}**. Claims: `{claims_file}` ({len(table)} claims: {summary}).",
        "\n".join(_verdict_lines(preset)),
        markdown_table(ledger_columns).rstrip("\n"),
        "## Where each paper value comes from\n\n" + "\n".join(_source_lines(ledger)),
    ]
    return "\n\n".join(parts) + "\n"


def write_reproduction(table: pd.DataFrame, ledger: Ledger, preset: str, claims_file: str,
                       csv_path: str | os.PathLike, md_path: str | os.PathLike) -> None:
    """Write the ledger as CSV (every column) and markdown, both atomically."""
    check_filled(table)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_text_atomic(md_path, reproduction_markdown(table, ledger, preset, claims_file))


def dataset_sources(data_config: Mapping[str, Any]) -> dict[str, str]:
    """data.<name>.source of every dataset section of the config."""
    return {name: section["source"] for name, section in data_config.items()
            if isinstance(section, Mapping) and "source" in section}

