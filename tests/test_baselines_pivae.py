"""pi-VAE baseline: the paper's loss, label-conditioned prior, shapes, gradients, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from neurodiff.models.baselines.pivae import (
    PiVAESettings,
    angle_labels,
    build_pivae,
    kl_gaussians,
    pivae_loss,
    pivae_samples,
    train_pivae,
)

SETTINGS = PiVAESettings(
    z_dim=2, encoder_hidden=16, gin_blocks=1, steps=32, batch_size=128, lr=0.005
)


def simulate(n_trials: int = 40, n_bins: int = 10, n_neurons: int = 8, seed: int = 0):
    """Spikes whose rates are a smooth function of the trial's reach angle; and the angles."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-np.pi, np.pi, n_trials)
    pref = np.linspace(-np.pi, np.pi, n_neurons, endpoint=False)
    rates = 0.2 + 1.5 * np.exp(2 * (np.cos(angle[:, None] - pref[None]) - 1))
    spikes = rng.poisson(np.repeat(rates[:, None], n_bins, axis=1)).astype(np.float32)
    return spikes, angle


def test_angle_labels_known_values():
    labels = angle_labels(np.array([0.0, np.pi / 2]))
    np.testing.assert_allclose(labels, [[1, 0], [0, 1]], atol=1e-6)


def test_kl_matches_torch():
    m0, m1, lv0, lv1 = (torch.randn(5, 3) for _ in range(4))
    expected = kl_divergence(Normal(m0, (0.5 * lv0).exp()), Normal(m1, (0.5 * lv1).exp())).sum(-1)
    torch.testing.assert_close(kl_gaussians(m0, lv0, m1, lv1), expected)


def test_loss_is_poisson_nll_plus_posterior_kl():
    torch.manual_seed(0)
    model = build_pivae(8, SETTINGS)
    x, u = torch.poisson(torch.ones(16, 8)), torch.as_tensor(angle_labels(np.zeros(16)))
    torch.manual_seed(1)
    loss, logs = pivae_loss(model, x, u)
    torch.manual_seed(1)
    out = model(x, u)
    rate = out["posterior_firing_rate"]
    nll = (rate - x * rate.log()).sum(-1).mean()
    assert logs["nll"] == pytest.approx(nll.item(), rel=1e-6)
    assert loss.item() == pytest.approx(logs["nll"] + logs["kl"], rel=1e-6)
    assert logs["kl"] > 0


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = build_pivae(8, SETTINGS)
    spikes, angle = simulate()
    x = torch.as_tensor(spikes.reshape(-1, 8))
    u = torch.as_tensor(np.repeat(angle_labels(angle), 10, axis=0))
    loss, _ = pivae_loss(model, x, u)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


def test_training_lowers_loss_and_samples_follow_labels(tmp_path):
    spikes, angle = simulate()
    labels = angle_labels(angle)
    x = torch.as_tensor(spikes.reshape(-1, 8))
    u = torch.as_tensor(np.repeat(labels, 10, axis=0))
    torch.manual_seed(0)
    before = pivae_loss(build_pivae(8, SETTINGS), x, u)[0].item()
    settings = PiVAESettings(**(vars(SETTINGS) | {"steps": 240, "batch_size": 100}))
    model = train_pivae(spikes, labels, settings, tmp_path, seed=0, device="cpu", progress=False)
    torch.manual_seed(0)
    after = pivae_loss(model, x, u)[0].item()
    assert after < before
    out = pivae_samples(model, labels, 10, torch.Generator().manual_seed(0))
    assert out["rates"].shape == out["spikes"].shape == (40, 10, 8)
    assert np.allclose(out["rates"], out["rates"][:, :1])  # the prior mean: constant over time
    true_rates = spikes.mean(axis=1)
    r = np.corrcoef(out["rates"][:, 0].ravel(), true_rates.ravel())[0, 1]
    assert r > 0.5


def test_rejects_bad_labels(tmp_path):
    spikes, _ = simulate()
    with pytest.raises(ValueError, match="labels must be"):
        train_pivae(spikes, np.zeros((3, 2)), SETTINGS, tmp_path, seed=0, device="cpu")
