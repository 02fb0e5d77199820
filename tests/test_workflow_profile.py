"""The workflow profile `profiles/default` (issue 17, item 11): Snakemake loads it for every run,
so the command that was killed reruns its incomplete jobs without `--rerun-incomplete`, alone
or with `--profile slurm`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake.cli import parse_args

PROFILE_LINE = "workflow specific profile profiles/default"


@pytest.mark.parametrize("extra", [[], ["--profile", "slurm"]])
def test_workflow_profile_sets_rerun_incomplete(
    workflow_copy: Path, extra: list[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(workflow_copy)
    _, args = parse_args(["--cores", "1", "-n", *extra])
    assert args.rerun_incomplete is True
    _, without = parse_args(["--cores", "1", "-n", "--workflow-profile", "none"])
    assert without.rerun_incomplete is False


def test_dry_run_with_the_slurm_profile_loads_both(workflow_copy: Path):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "-n", "--profile", "slurm"],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"Using profiles slurm and {PROFILE_LINE}" in output
