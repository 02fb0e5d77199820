"""Shared test fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "scripts", "envs", "slurm"]


@pytest.fixture
def workflow_copy(tmp_path: Path) -> Path:
    """A copy of the workflow files (no results) in a temporary directory."""
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, tmp_path / part)
        elif src.exists():
            shutil.copy2(src, tmp_path / part)
    return tmp_path


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Tiny models are far faster on one thread, and the CI machine has only two cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
