"""TNDM baseline: shapes, gradients, relevant/irrelevant split of behaviour, learning, samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodiff.models.baselines.tndm import TNDM, TNDMConfig, TNDMSettings, train_tndm

SMALL = dict(enc_dim=16, ic_dim=4, gen_dim=16, rel_factors=2, irr_factors=3, ramp_steps=5)


def simulate(n_trials: int = 48, n_bins: int = 16, n_neurons: int = 10, seed: int = 0):
    """Spikes driven by a rotation (its phase is the 'behaviour') plus an unrelated drift."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_bins) / n_bins
    phase = rng.uniform(0, 2 * np.pi, n_trials)[:, None]
    rel = np.stack([np.cos(2 * np.pi * t + phase), np.sin(2 * np.pi * t + phase)], -1)
    irr = rng.normal(size=(n_trials, 1, 1)) * t[None, :, None]
    latents = np.concatenate([rel, irr], -1)
    weights = rng.normal(size=(3, n_neurons)) * 0.6
    rates = np.exp(latents @ weights - 0.5)
    return rng.poisson(rates).astype(np.float32), rel.astype(np.float32)


def test_shapes_and_prior_samples():
    torch.manual_seed(0)
    model = TNDM(TNDMConfig(n_neurons=10, n_behavior=2, **SMALL))
    spikes, _ = simulate()
    out = model(torch.as_tensor(spikes[:5]))
    assert out["rates"].shape == (5, 16, 10)
    assert out["rel_factors"].shape == (5, 16, 2) and out["irr_factors"].shape == (5, 16, 3)
    assert out["behavior"].shape == (5, 16, 2)
    sample = model.sample_from_prior(7, 30, torch.Generator().manual_seed(0))
    assert sample["rates"].shape == (7, 30, 10) and bool((sample["rates"] > 0).all())
    with pytest.raises(ValueError, match="spikes must be"):
        model(torch.zeros(2, 16, 9))


def test_behaviour_depends_only_on_relevant_factors():
    torch.manual_seed(0)
    model = TNDM(TNDMConfig(n_neurons=10, n_behavior=2, **SMALL)).eval()
    spikes, _ = simulate()
    model(torch.as_tensor(spikes[:4]))["behavior"].sum().backward()
    assert all(p.grad is None or not p.grad.abs().sum() for p in model.irrelevant.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.relevant.parameters())


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = TNDM(TNDMConfig(n_neurons=10, n_behavior=2, **SMALL))
    spikes, behavior = simulate()
    loss, logs = model.loss(torch.as_tensor(spikes), torch.as_tensor(behavior), step=10)
    loss.backward()
    assert set(logs) == {"recon", "behavior", "kl", "l2", "ramp"}
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


def test_training_lowers_loss_and_decodes_behaviour(tmp_path):
    spikes, behavior = simulate()
    settings = TNDMSettings(
        steps=180, batch_size=16, lr=0.01, grad_clip=200.0, model=SMALL | {"behavior_weight": 5.0}
    )
    torch.manual_seed(0)
    initial = TNDM(TNDMConfig(n_neurons=10, n_behavior=2, **settings.model)).eval()
    model, norm = train_tndm(
        spikes, behavior, settings, tmp_path, seed=0, device="cpu", progress=False
    )
    x, b = torch.as_tensor(spikes), torch.as_tensor((behavior - norm["mean"]) / norm["std"])
    torch.manual_seed(1)
    before = initial.loss(x, b, step=10**6)[0].item()
    torch.manual_seed(1)
    after = model.loss(x, b, step=10**6)[0].item()
    assert after < before
    with torch.no_grad():
        decoded = model(x, sample=False)["behavior"].numpy()
    r2 = 1 - ((decoded - b.numpy()) ** 2).sum() / ((b.numpy() - b.numpy().mean((0, 1))) ** 2).sum()
    assert r2 > 0.3


def test_rejects_misaligned_behaviour(tmp_path):
    spikes, behavior = simulate()
    settings = TNDMSettings(steps=3, batch_size=16, lr=0.01, grad_clip=200.0, model=SMALL)
    with pytest.raises(ValueError, match="behavior must be"):
        train_tndm(spikes, behavior[:, :5], settings, tmp_path, seed=0, device="cpu")
