"""Shared test fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "scripts", "envs", "slurm", "profiles"]


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


PROFILE = REPO / "slurm" / "config.yaml"
GPU_BLOCK_START = "# set-resources:"


def _gpu_block(lines: list[str]) -> range:
    """Line numbers of the profile's commented-out GPU `set-resources` block (header included)."""
    start = lines.index(GPU_BLOCK_START)
    end = start + 1
    while end < len(lines) and lines[end].startswith("#   "):
        end += 1
    return range(start, end)


def gpu_partition_rules(profile_text: str) -> list[str]:
    """Rule names in the profile's commented-out GPU `set-resources` block."""
    lines = profile_text.splitlines()
    return [lines[i].removeprefix("#").split(":")[0].strip() for i in _gpu_block(lines)[1:]]


def enable_gpu_partition(profile_text: str, partition: str) -> str:
    """The profile with its GPU `set-resources` block uncommented: GPU rules go to `partition`."""
    lines = profile_text.splitlines()
    for i in _gpu_block(lines):
        lines[i] = (
            lines[i]
            .removeprefix("# ")
            .replace("slurm_partition: gpu", f"slurm_partition: {partition}")
        )
    return "\n".join(lines) + "\n"
