"""The workflow on a real Slurm cluster: `--profile slurm` submits every non-local job with sbatch.

Needs a Slurm client and an idle node; `.ci/slurm.sh start` makes a one-node cluster with a fake
GPU on Debian. Without one the test is skipped with the reason. To cover another rule, add one of
its outputs to SLURM_TARGETS; a rule that declares `gpu=1` is then also checked to have asked Slurm
for a GPU.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import enable_gpu_partition

pytestmark = pytest.mark.slurm

SLURM_TARGETS = [
    "results/quick/data/lorenz_overview.png",
    "results/quick/data/mc_maze_overview.png",
    # a GPU-declared training rule (gpu=1): Slurm must schedule it on the (fake) GPU
    "results/quick/gnocchi/models/reaching/gnocchi/seed0/model.pt",
]
# The slurm plugin can wait forever without a word (shared/reference/snakemake.md §2): kill it.
RUN_TIMEOUT_S = 240

SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$")


@dataclass
class ClusterJob:
    """One job Snakemake handed to the executor (a `rule <name>:` block of its output)."""

    rule: str
    jobid: str = ""
    resources: dict[str, str] = field(default_factory=dict)


def cluster_unavailable() -> str | None:
    """Why no Slurm job can run here, or None when a node is idle."""
    if shutil.which("sinfo") is None:
        return "sinfo is not on PATH: no Slurm cluster (`.ci/slurm.sh start` sets one up)"
    result = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, timeout=20
    )
    if result.returncode != 0:
        return f"sinfo failed: {result.stderr.strip()}"
    states = result.stdout.split()[1::2]
    if "idle" not in states:
        return f"no idle Slurm node: {result.stdout.strip() or 'no nodes'}"
    return None


def run_snakemake(args: list[str], cwd: Path, log: Path) -> tuple[int, str]:
    """Run Snakemake with output to `log`; kill its whole process group after RUN_TIMEOUT_S."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(
                f"snakemake did not finish in {RUN_TIMEOUT_S} s:\n{log.read_text()[-5000:]}"
            )
    return returncode, log.read_text()


def cluster_jobs(output: str) -> list[ClusterJob]:
    """The non-local jobs in Snakemake's output, with their job ids and resources."""
    jobs: list[ClusterJob] = []
    for line in output.splitlines():
        if match := re.fullmatch(r"rule (\w+):", line):
            jobs.append(ClusterJob(rule=match[1]))
        elif jobs and (match := re.fullmatch(r"\s+jobid: (\d+)", line)):
            jobs[-1].jobid = match[1]
        elif jobs and (match := re.fullmatch(r"\s+resources: (.*)", line)):
            pairs = (item.partition("=") for item in match[1].split(", "))
            jobs[-1].resources = {key: value for key, _, value in pairs}
    return jobs


def submissions(output: str) -> dict[str, tuple[str, Path]]:
    """Snakemake job id -> (Slurm job id, Slurm log file) of every sbatch submission."""
    found = (SUBMITTED.match(line) for line in output.splitlines())
    return {m[1]: (m[2], Path(m[3])) for m in found if m}


def partitions() -> tuple[list[str], str | None]:
    """The cluster's partitions and its default one (marked with * by sinfo)."""
    result = subprocess.run(
        ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=20, check=True
    )
    names = result.stdout.split()
    default = next((name.rstrip("*") for name in names if name.endswith("*")), None)
    return [name.rstrip("*") for name in names], default


def slurm_job_record(slurm_jobid: str) -> dict[str, str]:
    """`scontrol show job` as a dict (kept by slurmctld for MinJobAge seconds after the end)."""
    result = subprocess.run(
        ["scontrol", "show", "job", "-o", slurm_jobid],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return dict(re.findall(r"(\S+?)=(\S*)", result.stdout))


def requested_gpus(record: dict[str, str]) -> bool:
    """Whether a Slurm job asked for a GPU (`--gpus` sets TresPerJob, `--gres` TresPerNode)."""
    return any("gres:gpu" in record.get(key, "") for key in ("TresPerJob", "TresPerNode"))


def test_targets_are_built_by_slurm_jobs(workflow_copy, capsys: pytest.CaptureFixture):
    reason = cluster_unavailable()
    if reason:
        pytest.skip(reason)

    # The README's recipe for GPUs in their own partition: uncomment the profile's set-resources
    # block. `.ci/slurm.sh` makes a partition "gpu" beside the default one to check it.
    names, default_partition = partitions()
    gpu_partition = "gpu" if "gpu" in names and default_partition != "gpu" else None
    if gpu_partition:
        profile = workflow_copy / "slurm" / "config.yaml"
        profile.write_text(enable_gpu_partition(profile.read_text(), gpu_partition))

    returncode, output = run_snakemake(
        [
            "--cores",
            "all",
            "--profile",
            "slurm",
            "--config",
            "preset=quick",
            "--slurm-keep-successful-logs",
            *SLURM_TARGETS,
        ],
        workflow_copy,
        workflow_copy / "snakemake_slurm.log",
    )
    assert returncode == 0, output[-5000:]
    # with the workflow profile: "Using profiles slurm and workflow specific profile ..."
    assert re.search(r"Using profiles? slurm\b", output), output[:2000]
    for target in SLURM_TARGETS:
        assert (workflow_copy / target).stat().st_size > 0, target

    jobs = cluster_jobs(output)
    assert jobs, f"no job went to the cluster:\n{output[-5000:]}"
    submitted = submissions(output)
    slurm_logs = workflow_copy / ".snakemake" / "slurm_logs"
    for job in jobs:
        assert job.jobid in submitted, f"{job.rule} (job {job.jobid}) was not submitted to Slurm"
        slurm_jobid, log = submitted[job.jobid]
        assert log.is_relative_to(slurm_logs / f"rule_{job.rule}"), log
        assert f"rule {job.rule}:" in log.read_text(), f"{log} does not show {job.rule} running"
        record = slurm_job_record(slurm_jobid)
        assert record["JobState"] == "COMPLETED", (job.rule, record)
        comment = record["Comment"]
        assert comment == f"rule_{job.rule}" or comment.startswith(f"rule_{job.rule}_wildcards_"), (
            job.rule,
            record,
        )
        declares_gpu = int(job.resources.get("gpu", 0)) > 0 or "gpu" in job.resources.get(
            "gres", ""
        )
        assert requested_gpus(record) == declares_gpu, (job.rule, record)
        if gpu_partition:
            expected = gpu_partition if declares_gpu else default_partition
            assert record["Partition"] == expected, (job.rule, record)
        with capsys.disabled():  # visible in CI logs even under `pytest -q`
            print(
                f"\n[slurm] job {slurm_jobid} {job.rule}: {record['JobState']} on "
                f"{record.get('NodeList', '?')}, partition {record.get('Partition', '?')}, "
                f"gpu requested: {requested_gpus(record)}, "
                f"log {log.relative_to(workflow_copy)}"
            )
