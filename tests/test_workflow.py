"""The Snakemake workflow: DAG planning per preset, config errors before any job, lint and style."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(args: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a command, capturing text output."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def planned_rules(output: str) -> set[str]:
    """Rule names from the job-stats table of a `snakemake -n` run."""
    rules, in_table = set(), False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or parts[0] == "total":
                break
            if not set(parts[0]) <= {"-"}:
                rules.add(parts[0])
    return rules


def test_quick_dry_run_simulates_everything(workflow_copy):
    result = run([*SNAKEMAKE, "-n", "--cores", "1"], workflow_copy)
    assert result.returncode == 0, result.stderr
    rules = planned_rules(result.stdout)
    assert {"simulate_lorenz", "simulate_nlb_like", "simulate_widefield", "prepare_nlb"} <= rules
    assert not {r for r in rules if r.startswith("download")}


def test_paper_dry_run_downloads_real_data(workflow_copy):
    result = run([*SNAKEMAKE, "-n", "--cores", "1", "--config", "preset=paper"], workflow_copy)
    assert result.returncode == 0, result.stderr
    rules = planned_rules(result.stdout)
    assert {"download_dandi", "download_willett", "download_widefield"} <= rules
    assert "simulate_nlb_like" not in rules and "simulate_willett_like" not in rules
    assert "results/paper/data/mc_maze.h5" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("device=tpu", "config key 'device' = 'tpu' is not allowed; allowed values: ['auto', 'cpu', 'cuda']"),
        ("sead=3", "config key 'sead' is not allowed in the top level; allowed keys: data, device, preset, seed"),
        ("preset=full", "config key 'preset' = 'full' is not allowed; allowed values: ['quick', 'paper']"),
    ],
)
def test_bad_config_stops_before_any_job(workflow_copy, override, message):
    result = run([*SNAKEMAKE, "--cores", "1", "--config", override], workflow_copy)
    assert result.returncode != 0
    assert f"Configuration error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workflow_copy / "results").exists()


def test_bad_configfile_value_is_named(workflow_copy):
    bad = workflow_copy / "bad.yaml"
    bad.write_text("data:\n  lorenz:\n    n_neurons: -4\n")
    result = run([*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(bad)], workflow_copy)
    assert result.returncode != 0
    assert "config key 'data.lorenz.n_neurons' = -4 must be >= 1" in result.stderr


def test_snakemake_lint_is_clean():
    result = run([*SNAKEMAKE, "--lint"], REPO)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr, (
        result.stdout + result.stderr
    )


def test_snakefmt_is_clean():
    result = run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = run([sys.executable, "-m", "ruff", "check", "src", "scripts", "tests", "benchmarks"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr
