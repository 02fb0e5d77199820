"""End to end: the quick preset's whole DAG runs from a clean copy and writes every inventory file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neurodiff.data.tidy import read_tidy
from tests.conftest import REPO, WORKFLOW_PARTS

pytestmark = pytest.mark.slow

TIDY = ["lorenz", "reaching", "human", "mc_maze", "mc_rtt", "widefield_session1",
        "widefield_session2"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    """Run `snakemake --cores 2` (quick preset) once in a fresh copy of the workflow."""
    root = tmp_path_factory.mktemp("quick")
    for part in WORKFLOW_PARTS:
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / part)
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=root,
                            capture_output=True, text=True, timeout=40 * 60)
    assert result.returncode == 0, result.stderr[-5000:]
    return root


def expected_files(root: Path) -> list[Path]:
    """The files `rule all` lists, according to the workflow itself."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--summary"],
        cwd=root, capture_output=True, text=True, timeout=300,
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
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n"],
                            cwd=quick_run, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
