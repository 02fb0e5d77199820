"""The claims ledger: loading and validation, evaluation with known answers, the written report,
the Lorenz agreement statistics, and the real claims file against the config. The ledger of a real
quick run is checked end to end in tests/test_quick_dag.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurodiff.claims import (
    COLUMNS,
    NOT_CHECKABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    ClaimsError,
    check_filled,
    claim_input_files,
    dataset_sources,
    evaluate_claims,
    load_claims,
    write_reproduction,
)
from neurodiff.config import load_yaml
from neurodiff.metrics.agreement import pearson_r, spike_statistics_pearson

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/claims.schema.yaml"
CLAIMS_FILE = REPO / "config/claims.yaml"
REAL = {"mc_maze": "dandi", "lorenz": "simulate", "widefield": "figshare"}
TABLE = {"table": "ldns/tables/t", "column": "kl_mean"}


def _row(method: str) -> dict:
    return {**TABLE, "row": {"method": method}}


def value_claim(**overrides) -> dict:
    """A value claim on row A (computed 1.0) of the synthetic table."""
    claim = {
        "id": "a_value", "paper": "ldns", "item": "Table 1", "statement": "A matches",
        "metric": "kl", "kind": "value", "paper_value": 1.05,
        "tolerance": {"relative": 0.1, "reason": "ten percent band"},
        "reported_in": "synthetic test", "datasets": ["mc_maze"], "computed": _row("A"),
    }
    return {**claim, **overrides}


def direction_claim(**overrides) -> dict:
    """A direction claim: A (1.0) less than B (2.0)."""
    claim = {
        "id": "a_below_b", "paper": "ldns", "item": "Table 1", "statement": "A below B",
        "metric": "kl", "kind": "direction", "direction": "less",
        "tolerance": {"absolute": 0, "reason": "strict ordering"},
        "reported_in": "synthetic test", "datasets": ["mc_maze"], "computed": _row("A"),
        "against": _row("B"),
    }
    return {**claim, **overrides}


def threshold_claim(**overrides) -> dict:
    """A threshold claim on the JSON value 0.95 (synthetic Lorenz)."""
    claim = {
        "id": "r_high", "paper": "ldns", "item": "Fig. 2", "statement": "r is high",
        "metric": "r", "kind": "threshold", "direction": "greater", "threshold": 0.9,
        "tolerance": {"absolute": 0, "reason": "strict threshold"},
        "reported_in": "synthetic test", "datasets": ["lorenz"],
        "computed": {"json": "ldns/metrics/m", "key": "r.x"},
    }
    return {**claim, **overrides}


def write_claims(path: Path, claims: list[dict], synthetic=("lorenz",)) -> Path:
    path.write_text(yaml.safe_dump({"synthetic_datasets": list(synthetic), "claims": claims},
                                   allow_unicode=True))
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """results/<preset>/ with a CSV table (A 1.0, B 2.0, C NaN, D twice) and a metrics JSON."""
    root = tmp_path / "results"
    (root / "ldns/tables").mkdir(parents=True)
    (root / "ldns/metrics").mkdir(parents=True)
    pd.DataFrame({"method": ["A", "B", "C", "D", "D"],
                  "kl_mean": [1.0, 2.0, np.nan, 3.0, 5.0]}).to_csv(
        root / "ldns/tables/t.csv", index=False)
    (root / "ldns/metrics/m.json").write_text(json.dumps({"r": {"x": 0.95}}))
    return root


def evaluate(tmp_path, results, claims, preset="paper", sources=REAL) -> pd.DataFrame:
    ledger = load_claims(write_claims(tmp_path / "claims.yaml", claims), SCHEMA)
    return evaluate_claims(ledger, results, preset, sources).set_index("id")


# ---------------------------------------------------------------------------------------------
# Evaluation with known answers


@pytest.mark.parametrize("paper_value, verdict", [(1.05, REPRODUCED), (1.2, NOT_REPRODUCED)])
def test_value_within_and_outside_relative_tolerance(tmp_path, results, paper_value, verdict):
    row = evaluate(tmp_path, results, [value_claim(paper_value=paper_value)]).loc["a_value"]
    assert row["verdict"] == verdict
    assert row["reproduced"] == 1.0 and row["reference"] == paper_value
    assert row["holds_at_this_scale"] == ("yes" if verdict == REPRODUCED else "no")


def test_value_band_is_the_largest_of_its_terms(tmp_path, results):
    # |1.0 − 1.3| = 0.3: outside 10 % (0.13), inside 2 σ (0.4)
    claim = value_claim(paper_value=1.3, paper_std=0.2, tolerance={
        "relative": 0.1, "paper_std_multiple": 2, "reason": "band of the paper's own spread"})
    row = evaluate(tmp_path, results, [claim]).loc["a_value"]
    assert row["verdict"] == REPRODUCED
    assert "0.4" in row["tolerance"] and "1.3 ± 0.2" == row["paper_value"]


@pytest.mark.parametrize("direction, slack, verdict", [
    ("less", 0, REPRODUCED),           # 1 < 2
    ("greater", 0, NOT_REPRODUCED),    # 1 > 2 fails
    ("greater", 1.5, REPRODUCED),      # 1 > 2 − 1.5
])
def test_direction_claims(tmp_path, results, direction, slack, verdict):
    claim = direction_claim(direction=direction,
                            tolerance={"absolute": slack, "reason": "ordering with slack"})
    row = evaluate(tmp_path, results, [claim]).loc["a_below_b"]
    assert row["verdict"] == verdict
    assert row["reproduced_value"] == "1 vs 2" and row["reference"] == 2.0


def test_ties_do_not_satisfy_a_strict_ordering(tmp_path, results):
    claim = direction_claim(against=_row("A"))
    assert evaluate(tmp_path, results, [claim]).loc["a_below_b", "verdict"] == NOT_REPRODUCED


@pytest.mark.parametrize("threshold, verdict", [(0.9, REPRODUCED), (0.99, NOT_REPRODUCED)])
def test_threshold_on_a_json_metric(tmp_path, results, threshold, verdict):
    row = evaluate(tmp_path, results, [threshold_claim(threshold=threshold)]).loc["r_high"]
    assert row["verdict"] == verdict and row["reproduced"] == 0.95


def test_aggregate_mean_over_matching_rows(tmp_path, results):
    claim = value_claim(computed={**_row("D"), "aggregate": "mean"}, paper_value=4.0)
    row = evaluate(tmp_path, results, [claim]).loc["a_value"]
    assert row["reproduced"] == 4.0 and row["verdict"] == REPRODUCED


def test_quick_preset_never_reproduces_but_fills_every_value(tmp_path, results):
    claims = [value_claim(), value_claim(id="off", paper_value=9.0), direction_claim(),
              threshold_claim()]
    table = evaluate(tmp_path, results, claims, preset="quick")
    assert set(table["verdict"]) == {NOT_CHECKABLE}
    assert table["why"].str.startswith("quick preset").all()
    assert list(table["holds_at_this_scale"]) == ["yes", "no", "yes", "yes"]
    assert list(table["reproduced"]) == [1.0, 1.0, 1.0, 0.95]


def test_simulated_stand_in_at_paper_preset_is_not_checkable(tmp_path, results):
    sources = {**REAL, "mc_maze": "simulate"}
    table = evaluate(tmp_path, results, [value_claim(), threshold_claim()], sources=sources)
    assert table.loc["a_value", "verdict"] == NOT_CHECKABLE
    assert "data.mc_maze.source = simulate" in table.loc["a_value", "why"]
    # Lorenz is simulated in the paper itself: its claims stay checkable
    assert table.loc["r_high", "verdict"] == REPRODUCED


def test_claim_on_a_dataset_without_source_is_an_error(tmp_path, results):
    with pytest.raises(ClaimsError, match=r"claim 'a_value'.*'mc_maze'.*data\.mc_maze\.source"):
        evaluate(tmp_path, results, [value_claim()], sources={"lorenz": "simulate"})


# ---------------------------------------------------------------------------------------------
# A computed value that cannot be found is an error naming the claim, file, row and column


@pytest.mark.parametrize("computed, message", [
    (_row("Z"), r"claim 'a_value': .*t\.csv has no row \{'method': 'Z'\}"),
    ({**_row("A"), "column": "rmse"}, r"claim 'a_value': .*t\.csv has no column 'rmse'"),
    ({**_row("A"), "row": {"model": "A"}}, r"claim 'a_value': .*t\.csv has no column 'model'"),
    (_row("C"), r"claim 'a_value': .*t\.csv row \{'method': 'C'\} column 'kl_mean' holds a "
                r"missing"),
    (_row("D"), r"claim 'a_value': 2 rows of .*t\.csv match"),
    ({**_row("A"), "table": "ldns/tables/absent"}, r"claim 'a_value': computed file "
                                                   r".*absent\.csv does not exist"),
    ({"json": "ldns/metrics/m", "key": "r.y"}, r"claim 'a_value': .*m\.json has no key 'r\.y'"),
    ({"json": "ldns/metrics/m", "key": "r"}, r"claim 'a_value': .*m\.json key 'r' is \{"),
])
def test_missing_computed_value_raises_naming_claim(tmp_path, results, computed, message):
    with pytest.raises(ClaimsError, match=message):
        evaluate(tmp_path, results, [value_claim(computed=computed)])


def test_missing_against_value_raises_naming_claim(tmp_path, results):
    with pytest.raises(ClaimsError, match=r"claim 'a_below_b': .*no row \{'method': 'Q'\}"):
        evaluate(tmp_path, results, [direction_claim(against=_row("Q"))])


def test_empty_cell_is_refused():
    table = pd.DataFrame([{c: "x" for c in COLUMNS} | {"id": "k", "reproduced_value": " "}])
    with pytest.raises(ClaimsError, match="claim 'k': column 'reproduced_value' is empty"):
        check_filled(table)


# ---------------------------------------------------------------------------------------------
# Schema errors name the claim id and the key


def _drop(claim: dict, key: str) -> dict:
    out = copy.deepcopy(claim)
    del out[key]
    return out


@pytest.mark.parametrize("claim, message", [
    (_drop(value_claim(), "tolerance"), r"claim 'a_value' \(claims\[0\]\): key 'tolerance' is "
                                        r"missing"),
    (_drop(direction_claim(), "against"), r"claim 'a_below_b' .*key 'against' is missing"),
    (value_claim(direction="less"), r"claim 'a_value' .*key\(s\) 'direction' not allowed"),
    (value_claim(tolerance={"relative": 0.1}), r"claim 'a_value' .*'tolerance\.reason' is "
                                               r"missing"),
    (direction_claim(tolerance={"relative": 0.1, "absolute": 0, "reason": "relative band"}),
     r"claim 'a_below_b' .*'tolerance\.relative' not allowed"),
    (value_claim(kind="guess"), r"claim 'a_value' .*key 'kind' = 'guess' is not allowed"),
    (value_claim(paper="gnocchi"), r"claim 'a_value' .*key 'quote' is missing"),
    (value_claim(computed={**_row("A"), "json": "ldns/metrics/m"}),
     r"claim 'a_value' .*'computed\.json' not allowed"),
    (value_claim(colour="red"), r"claim 'a_value' .*key 'colour' is not allowed"),
    (_drop(value_claim(), "id"), r"claim claims\[0\] \(no id\): key 'id' is missing"),
])
def test_schema_error_names_claim_and_key(tmp_path, claim, message):
    path = write_claims(tmp_path / "claims.yaml", [claim])
    with pytest.raises(ClaimsError, match=message):
        load_claims(path, SCHEMA)


def test_second_claim_error_names_the_second_claim(tmp_path):
    bad = value_claim(id="second", datasets=["moon"])
    path = write_claims(tmp_path / "claims.yaml", [direction_claim(), bad])
    with pytest.raises(ClaimsError, match=r"claim 'second' \(claims\[1\]\): key 'datasets\.0'"):
        load_claims(path, SCHEMA)


def test_duplicate_ids_and_sigma_band_without_std_are_refused(tmp_path):
    path = write_claims(tmp_path / "dup.yaml", [value_claim(), value_claim()])
    with pytest.raises(ClaimsError, match="claim 'a_value': key 'id' is used twice"):
        load_claims(path, SCHEMA)
    sigma = value_claim(tolerance={"paper_std_multiple": 2, "reason": "two sigma band"})
    path = write_claims(tmp_path / "sigma.yaml", [sigma])
    with pytest.raises(ClaimsError, match="claim 'a_value': key 'paper_std' is missing"):
        load_claims(path, SCHEMA)


# ---------------------------------------------------------------------------------------------
# The written report


def test_written_report_quick_header_and_filled_rows(tmp_path, results):
    claims = [value_claim(), direction_claim(), threshold_claim()]
    ledger = load_claims(write_claims(tmp_path / "claims.yaml", claims), SCHEMA)
    table = evaluate_claims(ledger, results, "quick", REAL)
    md, csv = tmp_path / "out/reproduction.md", tmp_path / "out/reproduction.csv"
    write_reproduction(table, ledger, "quick", "config/claims.yaml", csv, md)
    text = md.read_text()
    assert "Preset: **quick**" in text
    assert "does not claim to reproduce any paper number" in text
    assert sum(line.startswith("| a_") or line.startswith("| r_")
               for line in text.splitlines()) == 3
    back = pd.read_csv(csv, keep_default_na=False)
    assert list(back.columns) == COLUMNS and len(back) == 3
    assert (back.astype(str).map(str.strip) != "").all().all()
    assert not list(md.parent.glob(".*"))  # no temporary files left behind


def test_paper_report_has_no_quick_disclaimer(tmp_path, results):
    ledger = load_claims(write_claims(tmp_path / "claims.yaml", [value_claim()]), SCHEMA)
    table = evaluate_claims(ledger, results, "paper", REAL)
    md = tmp_path / "reproduction.md"
    write_reproduction(table, ledger, "paper", "claims.yaml", tmp_path / "r.csv", md)
    assert "does not claim" not in md.read_text()
    assert "1 reproduced, 0 not reproduced, 0 not checkable at this preset" in md.read_text()


# ---------------------------------------------------------------------------------------------
# Lorenz agreement statistics


def _poisson_spikes(rates: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).poisson(rates).astype(np.float32)


def test_identical_spike_sets_agree_perfectly():
    rng = np.random.default_rng(0)
    rates = np.exp(rng.normal(-1.0, 0.8, size=(1, 1, 12))) * np.ones((40, 50, 1))
    spikes = _poisson_spikes(rates, 1)
    r = spike_statistics_pearson(spikes, spikes.copy(), fps=1.0)
    assert set(r) == {"mean_isi", "std_isi", "correlations", "psch_density"}
    assert all(v == pytest.approx(1.0) for v in r.values())


def test_model_with_other_rates_agrees_less_than_a_resample():
    rng = np.random.default_rng(0)
    rates = np.exp(rng.normal(-1.0, 0.8, size=(1, 1, 12))) * np.ones((60, 50, 1))
    data = _poisson_spikes(rates, 1)
    resample = spike_statistics_pearson(data, _poisson_spikes(rates, 2), fps=1.0)
    shuffled = spike_statistics_pearson(data, _poisson_spikes(rates[..., ::-1], 3), fps=1.0)
    assert resample["mean_isi"] > 0.9
    assert shuffled["mean_isi"] < resample["mean_isi"] - 0.3


def test_pearson_r_of_a_constant_raises_naming_the_statistic():
    with pytest.raises(ValueError, match="std_isi: Pearson r needs"):
        pearson_r(np.ones(5), np.arange(5.0), "std_isi")


# ---------------------------------------------------------------------------------------------
# The real claims file


def test_real_claims_file_is_valid_and_covers_the_papers():
    ledger = load_claims(CLAIMS_FILE, SCHEMA)
    ids = {c.id for c in ledger.claims}
    assert {c.paper for c in ledger.claims} == {"ldns", "gnocchi", "benediff"}
    table1 = [c for c in ledger.claims if c.item == "Table 1" and c.kind == "value"]
    assert len(table1) == 8  # LDNS and LDNS+sh × four metrics
    assert {"ldns_lorenz_r_mean_isi", "ldns_lorenz_r_std_isi", "ldns_lorenz_r_correlations",
            "ldns_lorenz_r_psch_density", "benediff_mig_above_no_tc",
            "gnocchi_mig_mc_maze"} <= ids
    files = claim_input_files(ledger, "results/quick")
    assert "results/quick/ldns/metrics/lorenz_statistics.json" in files
    config = load_yaml(REPO / "config/config.yaml")
    assert {d for c in ledger.claims for d in c.datasets} <= set(dataset_sources(config["data"]))
