"""End to end: the quick preset's whole DAG runs from a clean copy, writing every inventory file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurodiff.config import load_yaml
from neurodiff.data.tidy import read_tidy
from neurodiff.inventory import load_inventory
from neurodiff.io import sha256_file
from tests.conftest import REPO, WORKFLOW_PARTS

pytestmark = pytest.mark.slow

TIDY = [
    "lorenz",
    "reaching",
    "human",
    "mc_maze",
    "mc_rtt",
    "widefield_session1",
    "widefield_session2",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    """Run `snakemake --cores 2` (quick preset) once in a fresh copy of the workflow."""
    root = tmp_path_factory.mktemp("quick")
    for part in WORKFLOW_PARTS:
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / part)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=40 * 60,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return root


def expected_files(root: Path) -> list[Path]:
    """The files `rule all` lists, according to the workflow itself."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--summary"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    return [root / row[0] for row in rows if row[0] != "output_file"]


def test_every_target_exists_and_is_non_empty(quick_run):
    files = expected_files(quick_run)
    assert len(files) > 10
    missing = [str(f) for f in files if not f.exists() or f.stat().st_size == 0]
    assert not missing, missing


def test_tidy_files_are_readable_and_record_provenance(quick_run):
    for name in TIDY:
        ds = read_tidy(quick_run / f"results/quick/data/{name}.h5", load_video=False)
        assert ds.meta["preset"] == "quick"
        assert ds.meta["source"] == "simulate"
        assert len(ds.indices("train")) > 0


def test_overview_figures_exist_for_every_dataset(quick_run):
    for name in ["lorenz", "mc_maze", "mc_rtt", "human", "reaching", "widefield"]:
        for ext in ("png", "pdf"):
            path = quick_run / f"results/quick/data/{name}_overview.{ext}"
            assert path.stat().st_size > 5000, path


def test_every_rule_wrote_a_log(quick_run):
    logs = list((quick_run / "logs/quick").rglob("*.log"))
    assert len(logs) >= 12
    assert all("finished in" in log.read_text() for log in logs), [
        str(log) for log in logs if "finished in" not in log.read_text()
    ]


def test_rerun_has_nothing_to_do(quick_run):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "-n"],
        cwd=quick_run,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_result_files_match_the_inventory(quick_run):
    """Figures, tables and videos on disk are exactly the inventory's (the README index's)."""
    config = load_yaml(quick_run / "config/config.yaml")
    inventory = load_inventory(quick_run / "workflow/inventory.yaml")
    expected = {path for paper in inventory.papers for path in inventory.targets(paper.key, config)}
    root = quick_run / "results/quick"
    suffixes = {".png", ".pdf", ".csv", ".md", ".gif"}
    on_disk = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix in suffixes
        and (p.parent.name in ("figures", "tables", "data") or p.parent == root)
    }
    assert on_disk == expected, (sorted(on_disk - expected), sorted(expected - on_disk))


def test_run_ends_with_a_report_holding_every_figure_and_table(quick_run):
    """The run itself (onsuccess) writes a self-contained HTML report with every item."""
    report = quick_run / "results/quick/report.html"
    assert report.exists(), "the quick run wrote no results/quick/report.html"
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 500_000
    config = load_yaml(quick_run / "config/config.yaml")
    inventory = load_inventory(quick_run / "workflow/inventory.yaml")
    for paper in inventory.papers:
        assert paper.title in html, paper.title
        for path in inventory.targets(paper.key, config):
            if path.endswith((".png", ".csv", ".gif")):
                assert Path(path).name in html, path
    assert 'src="http' not in html


PROVENANCE_KEYS = {
    "git",
    "preset",
    "config_hash",
    "datasets",
    "packages",
    "seeds",
    "device",
    "wall_time_s",
    "upstream_jobs",
    "outputs",
}


def test_every_figure_and_table_has_provenance(quick_run):
    """Beside each inventory file: its sidecar, with checksums matching the files on disk."""
    config = load_yaml(quick_run / "config/config.yaml")
    inventory = load_inventory(quick_run / "workflow/inventory.yaml")
    root = quick_run / "results/quick"
    for paper in inventory.papers:
        for path in inventory.targets(paper.key, config):
            sidecar = root / Path(path).with_suffix(".provenance.json")
            record = json.loads(sidecar.read_text())
            assert PROVENANCE_KEYS <= set(record), (sidecar, PROVENANCE_KEYS - set(record))
            assert record["preset"] == "quick"
            key = f"results/quick/{path}"
            assert record["outputs"][key] == sha256_file(root / path), path
            if record["upstream_jobs"]:
                assert record["datasets"], sidecar
    for stem, trainer in [
        ("ldns/tables/table1_monkey_metrics", "ldns_denoiser"),
        ("gnocchi/tables/table1_disentanglement", "gnocchi_train"),
        ("benediff/tables/table2_guidance_specificity", "benediff_lvm"),
    ]:
        record = json.loads((root / f"{stem}.provenance.json").read_text())
        assert trainer in {job["rule"] for job in record["upstream_jobs"]}, stem


def test_reproduction_ledger_fills_every_claim_from_computed_numbers(quick_run):
    """Every claim of config/claims.yaml has a computed value; a quick run claims nothing."""
    claims = load_yaml(quick_run / "config/claims.yaml")["claims"]
    table = pd.read_csv(quick_run / "results/quick/reproduction.csv")
    assert list(table["id"]) == [claim["id"] for claim in claims]
    values = pd.to_numeric(table["reproduced"], errors="coerce")
    assert values.notna().all(), list(table.loc[values.isna(), "id"])
    assert set(table["verdict"]) == {"not checkable at this preset"}
    assert table["why"].str.contains("quick preset").all()
    assert set(table["outcome"]) <= {"shown", "contradicted", "inconclusive"}
    markdown = (quick_run / "results/quick/reproduction.md").read_text()
    assert "does not claim to reproduce any paper number" in markdown
    assert "## Summary" in markdown
    for claim_id in table["id"]:
        assert claim_id in markdown
