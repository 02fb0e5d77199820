"""AutoLFADS: settings checks, range clipping, and a real 2-member × 2-generation Ray Tune PBT."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodiff.models.baselines.autolfads import (
    SEARCHED,
    AutoLFADSSettings,
    clipped,
    experiment_name,
    run_pbt,
    validation_nll,
)
from neurodiff.models.baselines.lfads import LFADS

SEARCH = {
    "lr": [1e-3, 1e-2],
    "dropout": [0.0, 0.5],
    "cd_rate": [0.01, 0.7],
    "kl_ic_scale": [0.1, 3.0],
    "l2_gen_scale": [10.0, 1e4],
}
MODEL = {"ic_enc_dim": 8, "ic_dim": 4, "gen_dim": 8, "factor_dim": 4, "ramp_steps": 5}


def settings(**overrides) -> AutoLFADSSettings:
    values = dict(
        population=2,
        generations=2,
        steps_per_generation=2,  # one pass over the 40 training trials
        batch_size=20,
        grad_clip=200.0,
        val_fraction=0.2,
        search=SEARCH,
        model=MODEL,
    )
    return AutoLFADSSettings(**(values | overrides))


def test_settings_are_checked():
    with pytest.raises(ValueError, match="exactly"):
        settings(search={k: v for k, v in SEARCH.items() if k != "lr"})
    with pytest.raises(ValueError, match="low < high"):
        settings(search=SEARCH | {"dropout": [0.5, 0.1]})
    with pytest.raises(ValueError, match="population >= 2"):
        settings(population=1)


def test_perturbed_values_are_clipped_to_the_ranges():
    hp = {"lr": 1.0, "dropout": 0.9, "cd_rate": 0.3, "kl_ic_scale": 0.01, "l2_gen_scale": 100.0}
    out = clipped(hp, settings())
    assert out == {
        "lr": 1e-2,
        "dropout": 0.5,
        "cd_rate": 0.3,
        "kl_ic_scale": 0.1,
        "l2_gen_scale": 100.0,
    }


def test_pbt_two_members_two_generations(tmp_path):
    spikes = np.random.default_rng(0).poisson(0.3, (50, 12, 6)).astype(np.float32)
    environ = dict(os.environ)
    model, info = run_pbt(spikes, settings(), tmp_path, seed=0)
    # ray.init's variables (RAY_AUTH_MODE=token, ...) must not leak into later subprocesses
    assert dict(os.environ) == environ
    assert isinstance(model, LFADS) and not model.training
    assert info["generation"] == 2 and info["n_val"] == 10
    assert len(info["members_val_nll"]) == 2
    # selected on validation loss: the best member at the last generation
    assert info["val_nll"] == pytest.approx(min(info["members_val_nll"]))
    assert set(info["hp"]) == set(SEARCHED)
    assert all(SEARCH[k][0] <= v <= SEARCH[k][1] for k, v in info["hp"].items())
    assert model.config.dropout == pytest.approx(info["hp"]["dropout"])
    order = np.random.default_rng(0).permutation(50)
    val = torch.as_tensor(spikes[order[:10]])
    assert validation_nll(model, val) == pytest.approx(info["val_nll"], rel=1e-5)
    assert math.isfinite(info["val_nll"])
    assert (tmp_path / "ray" / info["experiment"]).is_dir() and not info["resumed"]
    assert not (tmp_path / "train.lock").exists()


def test_experiment_is_named_by_settings_seed_and_data():
    # a search with other settings, seed or data gets its own Ray experiment folder, so it
    # never restores (or deletes) another's (issue 17, item 8)
    x = torch.zeros(4, 3, 2)
    name = experiment_name(settings(), 0, x, x[:1])
    assert name.startswith("pbt-") and name == experiment_name(settings(), 0, x, x[:1])
    assert name != experiment_name(settings(batch_size=10), 0, x, x[:1])
    assert name != experiment_name(settings(), 1, x, x[:1])
    assert name != experiment_name(settings(), 0, x + 1, x[:1])


DRIVER = """
import json, sys, numpy as np
sys.path.insert(0, {tests!r})
from test_baselines_autolfads import settings
from neurodiff.models.baselines.autolfads import run_pbt
spikes = np.random.default_rng(0).poisson(0.3, (50, 12, 6)).astype(np.float32)
model, info = run_pbt(
    spikes, settings(generations={generations}, steps_per_generation=80), {run!r}, seed=0
)
print("INFO " + json.dumps(dict(info, model=type(model).__name__)))
"""


def _members_on_record(run: Path) -> int:
    """How many PBT members the experiment state records with a reported (checkpointed) result."""
    recorded = 0
    for state in run.glob("ray/pbt-*/experiment_state-*.json"):
        try:
            trials = json.loads(state.read_text())["trial_data"]
        except (OSError, ValueError, KeyError):
            continue  # being rewritten
        recorded = sum(
            json.loads(meta)["last_result"].get("training_iteration", 0) >= 1 for _, meta in trials
        )
    return recorded


def _reports(run: Path) -> dict[str, set[str]]:
    """The result rows (JSON lines) each PBT member has reported, by member folder name."""
    return {
        path.parent.name: set(path.read_text().splitlines())
        for path in run.glob("ray/pbt-*/*/result.json")
    }


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` (the driver and the Ray processes it started)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == sid:
                    os.kill(int(entry.name), signal.SIGKILL)


def test_pbt_killed_mid_search_resumes_without_retraining(tmp_path):
    # SIGKILL the whole search (driver and Ray processes) once the experiment state records
    # every member's first generation; the rerun restores the experiment, trains only the
    # remaining generations, removes the dead driver's training lock and finishes the search
    generations = 3
    run = tmp_path / "run"
    script = DRIVER.format(tests=str(Path(__file__).parent), generations=generations, run=str(run))
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _members_on_record(run) == 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the search ended before it could be killed"
        assert _members_on_record(run) == 2, "first generation not on record within 240 s"
    finally:
        _kill_session(proc.pid)
        proc.wait()
    assert (run / "train.lock").exists()  # the killed driver's lock is left behind
    reported = _reports(run)  # each member's per-generation results so far
    # the rerun is a new process, as a rerun Snakemake job is
    rerun = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    info = json.loads(rerun.stdout.split("INFO ", 1)[1].splitlines()[0])
    assert info["resumed"] and info["generation"] == generations
    assert len(info["members_val_nll"]) == 2  # the same two members, no fresh trials
    # the rerun trained on from generation 1: no member reported generation 1 again, and every
    # member reached the last generation (an exploit may drop a member's earlier rows)
    after = _reports(run)
    new = {
        trial: [json.loads(r)["generation"] for r in after[trial] - reported.get(trial, set())]
        for trial in after
    }
    assert len(new) == 2 and all(min(g) >= 2 and max(g) == generations for g in new.values()), new
    assert not (run / "train.lock").exists() and info["model"] == "LFADS"
    assert "removed the stale training lock" in rerun.stderr
