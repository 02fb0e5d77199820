"""AutoLFADS: settings checks, range clipping, and a real 2-member × 2-generation Ray Tune PBT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurodiff.models.baselines.autolfads import (
    SEARCHED,
    AutoLFADSSettings,
    clipped,
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
        epochs_per_generation=1,
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
    model, info = run_pbt(spikes, settings(), tmp_path, seed=0)
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
    assert (tmp_path / "ray" / "pbt").is_dir()
