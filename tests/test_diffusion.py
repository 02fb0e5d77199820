"""The diffusion core against known answers: Gaussian data and its exact optimal denoiser.

For x₀ ~ N(μ, σ²I) and x_t = √ᾱ·x₀ + √(1−ᾱ)·ε, the optimal noise estimate is
E[ε | x_t] = √(1−ᾱ)·(x_t − √ᾱ·μ) / (ᾱσ² + 1 − ᾱ), and its expected squared error per entry is
ᾱσ² / (ᾱσ² + 1 − ᾱ). Here μ is the conditioning input, one value per sample.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.diffusion import (
    ddim_invert,
    ddim_sample,
    ddpm_sample,
    diffusion_loss,
    make_schedule,
    masked_mean,
    objective_guidance,
    q_sample,
)
from neurodiff.diffusion.objective import alpha_bar, draw_timesteps_and_noise

SIGMA = 0.5
SCHEDULE = make_schedule()


def optimal_eps(x_t: torch.Tensor, t: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """E[ε | x_t] for x₀ ~ N(mu, SIGMA²); mu broadcasts against x_t."""
    a_bar = alpha_bar(SCHEDULE, t, x_t)
    return (1 - a_bar).sqrt() * (x_t - a_bar.sqrt() * mu) / (a_bar * SIGMA**2 + 1 - a_bar)


def zero_eps(x_t: torch.Tensor, t: torch.Tensor, cond: object) -> torch.Tensor:
    return torch.zeros_like(x_t)


def gaussian_x0(n: int, mu: float | torch.Tensor, seed: int, shape=(2, 4)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return mu + SIGMA * torch.randn(n, *shape, generator=gen)


def test_schedule_matches_ldns_linear_betas():
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    expected = np.cumprod(1 - betas)
    np.testing.assert_allclose(SCHEDULE.alphas_cumprod.numpy(), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="beta_schedule"):
        make_schedule(beta_schedule="cosine")


def test_optimal_denoiser_loss_matches_theory_and_beats_zero():
    x0 = gaussian_x0(4096, 1.5, seed=0, shape=(1, 8))
    mu = torch.full((4096, 1, 1), 1.5)
    a_bar = SCHEDULE.alphas_cumprod.double()
    expected = (a_bar * SIGMA**2 / (a_bar * SIGMA**2 + 1 - a_bar)).mean().item()
    gen = torch.Generator().manual_seed(1)
    optimal = diffusion_loss(optimal_eps, SCHEDULE, x0, cond=mu, generator=gen).item()
    gen = torch.Generator().manual_seed(1)
    zero = diffusion_loss(zero_eps, SCHEDULE, x0, generator=gen).item()
    assert optimal == pytest.approx(expected, abs=0.02)
    assert zero == pytest.approx(1.0, abs=0.02)
    assert optimal < zero - 0.3


def test_masked_entries_do_not_affect_the_loss():
    x0 = gaussian_x0(16, 0.0, seed=2)
    mu = torch.zeros(16, 1, 1)
    mask = torch.rand(16, 4, generator=torch.Generator().manual_seed(3)) > 0.4
    garbage = torch.where(mask.unsqueeze(1), x0, torch.full_like(x0, 1e3))

    def loss_of(data: torch.Tensor, kind: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(4)
        return diffusion_loss(
            optimal_eps,
            SCHEDULE,
            data,
            cond=mu,
            mask=mask,
            loss=kind,
            smooth_l1_beta=0.05,
            generator=gen,
        )

    for kind in ("mse", "smooth_l1", "l1"):
        assert torch.equal(loss_of(x0, kind), loss_of(garbage, kind))
    t, noise = draw_timesteps_and_noise(SCHEDULE, x0, torch.Generator().manual_seed(4))
    residual = F.smooth_l1_loss(
        optimal_eps(q_sample(SCHEDULE, x0, t, noise), t, mu), noise, reduction="none", beta=0.05
    )
    by_hand = residual.permute(0, 2, 1)[mask].mean()
    torch.testing.assert_close(loss_of(x0, "smooth_l1"), by_hand)
    assert not torch.equal(
        loss_of(x0, "mse"),
        diffusion_loss(
            optimal_eps, SCHEDULE, x0, cond=mu, generator=torch.Generator().manual_seed(4)
        ),
    )


def test_masked_mean_rejects_bad_masks():
    values = torch.ones(2, 3, 4)
    assert masked_mean(values, torch.ones(2, 4)).item() == 1.0
    with pytest.raises(ValueError, match="selects no entries"):
        masked_mean(values, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_mean(values, torch.ones(2, 5))


class TinyDenoiser(nn.Module):
    """A random conv net: enough to make sampling depend on every input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: object) -> torch.Tensor:
        return torch.tanh(self.conv(x)) * (t.float() / 1000).reshape(-1, 1, 1)


def test_ddim_eta0_is_deterministic_given_seed():
    torch.manual_seed(0)
    net = TinyDenoiser()

    def sample(seed: int) -> torch.Tensor:
        return ddim_sample(
            net,
            SCHEDULE,
            (3, 2, 8),
            num_inference_steps=20,
            generator=torch.Generator().manual_seed(seed),
        )

    assert torch.equal(sample(5), sample(5))
    assert not torch.allclose(sample(5), sample(6))
    x_T = torch.randn(3, 2, 8)
    assert torch.equal(
        ddim_sample(net, SCHEDULE, (3, 2, 8), x_T=x_T, num_inference_steps=20),
        ddim_sample(net, SCHEDULE, (3, 2, 8), x_T=x_T, num_inference_steps=20),
    )
    with pytest.raises(ValueError, match="x_T has shape"):
        ddim_sample(net, SCHEDULE, (3, 2, 9), x_T=x_T)


@pytest.mark.parametrize("sampler", ["ddpm_all_steps", "ddim_200", "ddim_eta1_200"])
def test_samples_of_optimal_denoiser_have_data_moments(sampler):
    mu = torch.full((500, 1, 1), 1.5)
    gen = torch.Generator().manual_seed(11)
    if sampler == "ddpm_all_steps":
        x = ddpm_sample(optimal_eps, SCHEDULE, (500, 2, 4), cond=mu, generator=gen)
    else:
        eta = 1.0 if "eta1" in sampler else 0.0
        x = ddim_sample(
            optimal_eps,
            SCHEDULE,
            (500, 2, 4),
            cond=mu,
            num_inference_steps=200,
            eta=eta,
            generator=gen,
        )
    assert x.mean().item() == pytest.approx(1.5, abs=0.05)
    assert x.var().item() == pytest.approx(SIGMA**2, rel=0.12)


def test_ddim_invert_then_sample_reconstructs_with_the_same_code():
    mu = torch.linspace(-2, 2, 64).reshape(64, 1, 1)
    x0 = gaussian_x0(64, mu, seed=12)
    x_T = ddim_invert(optimal_eps, SCHEDULE, x0, cond=mu, num_inference_steps=100)
    assert x_T.std().item() == pytest.approx(1.0, abs=0.15)
    same_code = ddim_sample(
        optimal_eps, SCHEDULE, x0.shape, cond=mu, x_T=x_T, num_inference_steps=100
    )
    other_code = ddim_sample(
        optimal_eps, SCHEDULE, x0.shape, cond=mu.flip(0), x_T=x_T, num_inference_steps=100
    )
    assert F.mse_loss(same_code, x0).item() < 0.01
    assert F.mse_loss(other_code, x0).item() > 1.0


def test_objective_guidance_returns_the_gradient_on_x0_hat():
    hook = objective_guidance(lambda x0: -((x0 - 3.0) ** 2).sum(dim=(1, 2)))
    x0_hat = torch.randn(4, 2, 3)
    with torch.no_grad():
        grad = hook(torch.zeros_like(x0_hat), torch.zeros(4, dtype=torch.long), x0_hat)
    torch.testing.assert_close(grad, -2 * (x0_hat - 3.0))


@pytest.mark.parametrize("sampler", [ddpm_sample, ddim_sample])
def test_guidance_toward_larger_x0_shifts_the_mean(sampler):
    """With a constant gradient and an affine denoiser the sample is affine in the weight."""
    mu = torch.zeros(400, 1, 1)
    push_up = objective_guidance(lambda x0: x0.sum(dim=(1, 2)))
    steps = {"num_inference_steps": 100} if sampler is ddpm_sample else {}

    def mean_with(**guidance) -> float:
        gen = torch.Generator().manual_seed(13)
        x = sampler(optimal_eps, SCHEDULE, (400, 1, 4), cond=mu, generator=gen, **steps, **guidance)
        return x.mean().item()

    unguided = mean_with()
    assert abs(unguided) < 0.05
    assert mean_with(guidance=push_up, guidance_scale=0.0) == unguided
    shift = mean_with(guidance=push_up, guidance_scale=0.2) - unguided
    assert shift > 0.1
    assert mean_with(guidance=push_up, guidance_scale=0.4) - unguided == pytest.approx(
        2 * shift, rel=0.02
    )
    assert mean_with(guidance=push_up, guidance_scale=-0.2) - unguided == pytest.approx(
        -shift, rel=0.02
    )
