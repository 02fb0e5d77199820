"""The condition-use ablation of conditional LDNS denoisers, on toy denoisers with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neurodiff.diffusion import make_schedule
from neurodiff.models.ldns.condition_use import (
    ALL_STEPS,
    condition_use_table,
    derangement,
    linear_ceiling,
)

SCHEDULE = make_schedule(num_train_timesteps=100)


class Oracle(nn.Module):
    """Knows x0 = c·w exactly, so with the trial's own condition its ε is exact."""

    def __init__(self, weight: torch.Tensor, use_condition: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.use_condition = use_condition

    def forward(self, x_t, t, cond):
        a_bar = SCHEDULE.alphas_cumprod[t].reshape(-1, 1, 1)
        guess = cond["c"][:, :, None] * self.weight if self.use_condition else 0 * x_t
        return (x_t - a_bar.sqrt() * guess) / (1 - a_bar).sqrt()


def _toy(n: int = 40) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    c = torch.randn(n, 3, generator=torch.Generator().manual_seed(1))
    weight = torch.ones(1, 3, 8)
    return c[:, :, None] * weight, {"c": c}, weight


def test_derangement_moves_every_trial():
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 17):
        perm = derangement(n, g)
        assert sorted(perm.tolist()) == list(range(n))
        assert (perm != torch.arange(n)).all()
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1, g)


def test_a_model_that_uses_its_condition_gains_everything():
    x0, cond, weight = _toy()
    table = condition_use_table(Oracle(weight, True), SCHEDULE, x0, cond, seed=0, n_bands=2)
    assert list(table["steps"]) == ["t 0–49", "t 50–99", ALL_STEPS]
    assert np.allclose(table["x0_mse_own"], 0, atol=1e-6)
    assert (table["x0_mse_shuffled"] > 0.1).all()
    assert np.allclose(table["x0_gain"], 1, atol=1e-5)


def test_a_model_that_ignores_its_condition_gains_nothing():
    x0, cond, weight = _toy()
    table = condition_use_table(Oracle(weight, False), SCHEDULE, x0, cond, seed=0, n_bands=2)
    assert np.allclose(table["eps_mse_own"], table["eps_mse_shuffled"])
    assert np.allclose(table["x0_gain"], 0, atol=1e-12)
    assert (table["x0_mse_own"] > 0.1).all()


def test_linear_ceiling_on_predictable_and_unrelated_latents():
    rng = np.random.default_rng(0)
    cond = rng.normal(size=(400, 2))
    weight = rng.normal(size=(2, 12))
    x0 = cond @ weight + 0.01 * rng.normal(size=(400, 12))
    got = linear_ceiling(cond[:300], x0[:300], cond[300:], x0[300:], seed=0)
    assert got["r2"] > 0.99 and got["x0_gain"] > 0.99
    unrelated = rng.normal(size=(400, 12))
    got = linear_ceiling(cond[:300], unrelated[:300], cond[300:], unrelated[300:], seed=0)
    assert abs(got["r2"]) < 0.05 and abs(got["x0_gain"]) < 0.05
