"""Provenance sidecars: naming, record contents, the dataset chain, failures, and a real rule."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from neurodiff.config import config_hash
from neurodiff.data.tidy import TidyDataset
from neurodiff.io import sha256_file
from neurodiff.provenance import PACKAGES, git_state, sidecar_path
from neurodiff.runlog import snakemake_job

CONFIG = {"preset": "quick", "seed": 7, "device": "cpu"}
REQUIRED_KEYS = {
    "rule",
    "wildcards",
    "preset",
    "config_hash",
    "git",
    "packages",
    "seeds",
    "device",
    "host",
    "started",
    "finished",
    "wall_time_s",
    "outputs",
    "datasets",
    "upstream_jobs",
    "files",
}


def fake_job(
    tmp_path: Path,
    rule: str,
    inputs: list[Path],
    outputs: list[Path],
    params: dict | None = None,
    wildcards: dict | None = None,
) -> SimpleNamespace:
    """A stand-in for the `snakemake` object a rule script receives."""
    return SimpleNamespace(
        rule=rule,
        log=[str(tmp_path / "logs" / f"{rule}.log")],
        input=[str(p) for p in inputs],
        output=[str(p) for p in outputs],
        params=params or {},
        wildcards=wildcards or {},
        config=CONFIG,
    )


def write_tidy(path: Path) -> None:
    """A tiny real tidy dataset file with source provenance in its meta."""
    rng = np.random.default_rng(0)
    TidyDataset(
        name="toy",
        signals=rng.poisson(1.0, (4, 5, 3)),
        split=["train", "train", "val", "test"],
        bin_size_s=0.01,
        meta={"source": "simulate", "source_files": {"toy.nwb": "ab" * 32}},
    ).write(path)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("output", "sidecar"),
    [
        ("figs/fig2.png", "figs/fig2.provenance.json"),
        ("figs/fig2.pdf", "figs/fig2.provenance.json"),
        ("tables/table1.csv", "tables/table1.provenance.json"),
        ("tables/table1.md", "tables/table1.provenance.json"),
        ("figs/fig4.gif", "figs/fig4.provenance.json"),
        ("models/seed0/model.pt", "models/seed0/model.pt.provenance.json"),
        ("eval/metrics.json", "eval/metrics.json.provenance.json"),
        ("data/lorenz.h5", "data/lorenz.h5.provenance.json"),
        ("sim/competitionData", "sim/competitionData.provenance.json"),
    ],
)
def test_sidecar_path(output: str, sidecar: str) -> None:
    assert sidecar_path(output) == Path(sidecar)


def test_record_has_every_key_with_the_job_values(tmp_path: Path) -> None:
    png, pdf = tmp_path / "fig.png", tmp_path / "fig.pdf"
    params = {
        "device": "cpu",
        "seed": 3,
        "cfg": {"split_seed": 11, "runs": [{"init_seed": 5, "lr": 0.1}], "width": 8},
    }
    smk = fake_job(tmp_path, "plot", [], [png, pdf], params=params, wildcards={"seed": "2"})
    with snakemake_job(smk):
        png.write_bytes(b"png")
        pdf.write_bytes(b"pdf")
    record = read(tmp_path / "fig.provenance.json")
    assert REQUIRED_KEYS <= set(record)
    assert record["seeds"] == {
        "wildcards.seed": "2",
        "params.seed": 3,
        "params.cfg.split_seed": 11,
        "params.cfg.runs[0].init_seed": 5,
    }
    assert (record["rule"], record["preset"], record["device"]) == ("plot", "quick", "cpu")
    assert record["config_hash"] == config_hash(CONFIG)
    assert record["wildcards"] == {"seed": "2"}
    assert record["outputs"] == {png.as_posix(): sha256_file(png), pdf.as_posix(): sha256_file(pdf)}
    assert record["files"] == [png.as_posix(), pdf.as_posix()]
    assert set(record["packages"]) == {"python", *PACKAGES}
    assert record["packages"]["numpy"] == np.__version__
    assert record["packages"]["python"] == ".".join(map(str, sys.version_info[:3]))
    started, finished = (datetime.fromisoformat(record[k]) for k in ("started", "finished"))
    assert started.utcoffset().total_seconds() == 0
    assert record["wall_time_s"] == pytest.approx((finished - started).total_seconds(), abs=1e-3)
    assert "provenance: " in (tmp_path / "logs" / "plot.log").read_text()


def test_dataset_chain_reaches_the_figure(tmp_path: Path) -> None:
    data, model, figure = tmp_path / "toy.h5", tmp_path / "model.pt", tmp_path / "fig.png"
    with snakemake_job(fake_job(tmp_path, "simulate", [], [data], params={"seed": 1})):
        write_tidy(data)
    train = fake_job(
        tmp_path,
        "train",
        [data],
        [model],
        params={"device": "cpu", "seed": 4},
        wildcards={"seed": "4"},
    )
    with snakemake_job(train):
        model.write_bytes(b"weights")
    with snakemake_job(fake_job(tmp_path, "plot", [model], [figure])):
        figure.write_bytes(b"png")

    record = read(tmp_path / "fig.provenance.json")
    assert record["datasets"] == {
        "toy": {
            "file": data.as_posix(),
            "sha256": sha256_file(data),
            "source": "simulate",
            "source_files": {"toy.nwb": "ab" * 32},
        }
    }
    jobs = {job["rule"]: job for job in record["upstream_jobs"]}
    assert list(jobs) == ["simulate", "train"]
    assert jobs["train"]["device"] == "cpu"
    assert jobs["train"]["seeds"] == {"wildcards.seed": "4", "params.seed": 4}
    assert (
        jobs["train"]["wall_time_s"]
        == read(model.with_name("model.pt.provenance.json"))["wall_time_s"]
    )
    assert record["seeds"] == {} and record["inputs_without_provenance"] == {}


def test_tidy_sha256_comes_from_the_producer_sidecar(tmp_path: Path) -> None:
    data, table = tmp_path / "toy.h5", tmp_path / "table.csv"
    write_tidy(data)
    sidecar_path(data).write_text(
        json.dumps({"rule": "simulate", "outputs": {data.as_posix(): "recorded-sha"}})
    )
    with snakemake_job(fake_job(tmp_path, "table", [data], [table])):
        table.write_text("a,b\n")
    assert read(tmp_path / "table.provenance.json")["datasets"]["toy"]["sha256"] == "recorded-sha"


def test_input_without_provenance_is_named(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw.nwb", tmp_path / "out.npz"
    raw.write_bytes(b"raw")
    with snakemake_job(fake_job(tmp_path, "prepare", [raw], [out])):
        out.write_bytes(b"npz")
    record = read(tmp_path / "out.npz.provenance.json")
    assert record["inputs_without_provenance"] == {raw.as_posix(): "no provenance sidecar"}


def test_failing_job_writes_no_sidecar_and_reraises(tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    stale = sidecar_path(out)
    stale.write_text("{}")
    with (
        pytest.raises(ValueError, match="boom"),
        snakemake_job(fake_job(tmp_path, "plot", [], [out])),
    ):
        out.write_bytes(b"half")
        raise ValueError("boom")
    assert not stale.exists()
    assert list(tmp_path.glob("*.provenance.json")) == []


def test_unreadable_input_sidecar_is_named(tmp_path: Path) -> None:
    model, out = tmp_path / "model.pt", tmp_path / "fig.png"
    model.write_bytes(b"w")
    sidecar_path(model).write_text("{not json")
    with (
        pytest.raises(ValueError, match="model.pt.provenance.json"),
        snakemake_job(fake_job(tmp_path, "plot", [model], [out])),
    ):
        out.write_bytes(b"png")


def test_git_unknown_outside_a_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    state = git_state(tmp_path)
    assert state["commit"] == "unknown" and state["dirty"] == "unknown"
    assert "not a git repository" in state["reason"]


def test_git_state_of_a_repository(tmp_path: Path) -> None:
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run(["git", "add", "a.txt"], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], **run
    )
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("2")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


def test_snakemake_writes_the_overview_sidecar(workflow_copy: Path) -> None:
    target = "results/quick/data/lorenz_overview.png"
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", target],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = workflow_copy / "results/quick/data/lorenz.h5"
    record = read(workflow_copy / "results/quick/data/lorenz_overview.provenance.json")
    assert record["rule"] == "plot_data_overview" and record["wildcards"] == {"name": "lorenz"}
    assert record["datasets"]["lorenz"]["sha256"] == sha256_file(data)
    assert record["datasets"]["lorenz"]["file"] == "results/quick/data/lorenz.h5"
    assert [job["rule"] for job in record["upstream_jobs"]] == ["simulate_lorenz"]
    assert record["upstream_jobs"][0]["seeds"] == {"params.seed": record_seed(workflow_copy)}
    assert set(record["files"]) == {target, target.replace(".png", ".pdf")}
    assert record["git"]["commit"] == "unknown"


def record_seed(workflow: Path) -> int:
    """The top-level seed of the copied workflow's base config."""
    import yaml

    return yaml.safe_load((workflow / "config/config.yaml").read_text())["seed"]
