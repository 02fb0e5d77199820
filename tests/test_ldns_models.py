"""LDNS networks: autoencoder and its loss, latent denoiser, normaliser, spike-history GLM."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.models.ldns import (
    LatentDenoiser,
    S4Autoencoder,
    autoencoder_loss,
    center_crop,
    center_pad,
    centered_mask,
    coordinated_dropout,
    fit_latent_normalizer,
    fit_spike_history,
    latent_penalty,
    sample_spike_history,
)
from neurodiff.models.ldns.spike_history import SpikeHistoryGLM, history_nll


def lorenz_like_spikes(trials: int, neurons: int, length: int, seed: int = 0) -> torch.Tensor:
    """Poisson counts from softplus readouts of smooth 3-D oscillations with random phases."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 4 * math.pi, length)
    phases = torch.rand(trials, 3, 1, generator=gen) * 2 * math.pi
    latents = torch.sin(t * torch.tensor([[1.0], [1.7], [0.6]]) + phases)
    readout = torch.randn(neurons, 3, generator=gen)
    rates = F.softplus(2 * torch.einsum("nk,bkt->bnt", readout, latents) - 0.5)
    return torch.poisson(rates, generator=gen)


class FixedRates(nn.Module):
    """A stand-in autoencoder that returns given rates and zero latents, recording its input."""

    def __init__(self, rates: torch.Tensor) -> None:
        super().__init__()
        self.rates = rates
        self.seen: torch.Tensor | None = None

    def forward(self, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.seen = spikes
        return self.rates, torch.zeros(spikes.shape[0], 2, spikes.shape[-1])


def randomize_modulation(denoiser: LatentDenoiser) -> None:
    """Replace the zero-initialised adaLN layers by random ones so every block is active."""
    torch.manual_seed(3)
    for block in denoiser.blocks:
        nn.init.normal_(block.modulation[1].weight, std=0.3)
        nn.init.normal_(block.modulation[1].bias, std=0.3)


# --- autoencoder -----------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [True, False])
def test_autoencoder_shapes_and_gradients(bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = S4Autoencoder(10, 16, 4, 2, bidirectional=bidirectional, d_state=8)
    spikes = torch.poisson(torch.full((3, 10, 12), 0.5))
    rates, latents = model(spikes)
    assert rates.shape == (3, 10, 12) and latents.shape == (3, 4, 12)
    assert (rates > 0).all()
    assert all(b.time_mixer.s4.bidirectional == bidirectional for b in model.blocks)
    loss = autoencoder_loss(model, spikes, dropout_p=0.3, latent_beta=0.01, td_beta=0.01)
    loss.total.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="multiple of latent_channels"):
        S4Autoencoder(10, 16, 3, 1)
    with pytest.raises(ValueError, match="batch, 10, length"):
        model(torch.zeros(3, 9, 12))


def test_lorenz_sized_parameter_count_matches_the_authors() -> None:
    ae = S4Autoencoder(128, 256, 8, 4, bidirectional=True)
    denoiser = LatentDenoiser(8, 64, 4)
    assert sum(p.numel() for p in ae.parameters()) == pytest.approx(1.45e6, rel=0.05)
    assert sum(p.numel() for p in denoiser.parameters()) == pytest.approx(0.18e6, rel=0.05)


def test_autoencoder_loss_decreases_on_poisson_data() -> None:
    torch.manual_seed(0)
    spikes = lorenz_like_spikes(32, 16, 32)
    model = S4Autoencoder(16, 32, 4, 1, bidirectional=True, d_state=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    gen = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = autoencoder_loss(model, spikes, 0.2, 0.01, 0.01, generator=gen)
        loss.total.backward()
        optimizer.step()
        losses.append(loss.total.item())
    with torch.no_grad():
        rates, _ = model(spikes)
    start, end = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert end < 0.8 * start
    # The fitted rates explain the counts better than each neuron's constant mean rate.
    mean_rate = spikes.mean(dim=(0, 2), keepdim=True).expand_as(spikes)
    fitted = F.poisson_nll_loss(rates, spikes, log_input=False)
    constant = F.poisson_nll_loss(mean_rate, spikes, log_input=False)
    assert fitted < constant - 0.02


def test_coordinated_dropout_scores_only_dropped_entries() -> None:
    spikes = torch.poisson(torch.full((4, 6, 50), 1.0), generator=torch.Generator().manual_seed(0))
    inputs, dropped = coordinated_dropout(spikes, 0.25, torch.Generator().manual_seed(5))
    assert dropped.mean().item() == pytest.approx(0.25, abs=0.05)
    assert torch.equal(inputs, spikes * (1 - dropped) / 0.75)

    rates = torch.rand(4, 6, 50) + 0.1
    stub = FixedRates(rates)
    loss = autoencoder_loss(
        stub, spikes, 0.25, 0.0, 0.0, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(stub.seen, inputs)
    nll = F.poisson_nll_loss(rates, spikes, log_input=False, full=True, reduction="none")
    assert loss.poisson.item() == pytest.approx((nll * dropped).mean().item(), rel=1e-6)
    # Changing the predictions at kept entries leaves the loss unchanged; at dropped ones not.
    kept_changed = FixedRates(torch.where(dropped.bool(), rates, rates + 3.0))
    same = autoencoder_loss(
        kept_changed, spikes, 0.25, 0.0, 0.0, generator=torch.Generator().manual_seed(5)
    )
    assert same.total.item() == pytest.approx(loss.total.item(), rel=1e-6)
    dropped_changed = FixedRates(torch.where(dropped.bool(), rates + 3.0, rates))
    other = autoencoder_loss(
        dropped_changed, spikes, 0.25, 0.0, 0.0, generator=torch.Generator().manual_seed(5)
    )
    assert other.total.item() > loss.total.item() + 0.1
    # Without dropout (validation) every entry is scored.
    full = autoencoder_loss(FixedRates(rates), spikes, 0.0, 0.0, 0.0)
    assert full.poisson.item() == pytest.approx(nll.mean().item(), rel=1e-6)


def test_loss_mask_ignores_padded_bins() -> None:
    spikes = torch.poisson(torch.full((2, 3, 10), 1.0), generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, :6] = True
    mask[1, :10] = True
    rates = torch.rand(2, 3, 10) + 0.1
    base = autoencoder_loss(FixedRates(rates), spikes, 0.0, 0.0, 0.0, mask=mask)
    padded_changed = rates.clone()
    padded_changed[0, :, 6:] += 5.0
    again = autoencoder_loss(FixedRates(padded_changed), spikes, 0.0, 0.0, 0.0, mask=mask)
    assert again.total.item() == pytest.approx(base.total.item(), rel=1e-6)
    nll = F.poisson_nll_loss(rates, spikes, log_input=False, full=True, reduction="none")
    expected = (nll[0, :, :6].sum() + nll[1].sum()) / (16 * 3)
    assert base.poisson.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="mask must have shape"):
        autoencoder_loss(FixedRates(rates), spikes, 0.0, 0.0, 0.0, mask=mask[:, :5])


def test_latent_penalty_exact_on_a_hand_made_latent() -> None:
    z = torch.tensor([[[0.0, 1.0, 3.0, 6.0, 10.0, 15.0, 21.0]]])  # (1, 1, 7)
    numel = 14  # e.g. B·C_in·L = 1·2·7
    l2, smooth = latent_penalty(z, latent_beta=0.5, td_beta=2.0, numel=numel, td_lags=5)
    assert l2.item() == pytest.approx(0.5 * sum(v * v for v in z.flatten().tolist()) / numel)
    values = z.flatten().tolist()
    by_hand = sum(
        sum((values[t] - values[t + k]) ** 2 for t in range(7 - k)) / (1 + k) for k in range(1, 6)
    )
    assert smooth.item() == pytest.approx(2.0 * by_hand / numel)
    observed = torch.tensor([[[1.0, 1, 1, 1, 0, 0, 0]]])
    _, masked = latent_penalty(z, 0.0, 1.0, numel=1, observed=observed, td_lags=5)
    by_hand_masked = sum(
        sum((values[t] - values[t + k]) ** 2 for t in range(4 - k)) / (1 + k) for k in range(1, 4)
    )
    assert masked.item() == pytest.approx(by_hand_masked)


def test_latent_normalizer_masked_and_clipped() -> None:
    latents = torch.tensor([[[1.0, 3.0, 100.0], [0.0, 2.0, -50.0]]])  # (1, 2, 3)
    mask = torch.tensor([[True, True, False]])
    norm = fit_latent_normalizer(latents, mask=mask, clip=0.5)
    assert torch.allclose(norm.mean, torch.tensor([2.0, 1.0]))
    assert torch.allclose(norm.std, torch.tensor([math.sqrt(2.0), math.sqrt(2.0)]))
    z = norm.normalize(latents)
    assert z.abs().max() <= 0.5
    unclipped = fit_latent_normalizer(latents, mask=mask)
    assert torch.allclose(unclipped.denormalize(unclipped.normalize(latents)), latents, atol=1e-5)
    with pytest.raises(ValueError, match="constant"):
        fit_latent_normalizer(torch.ones(2, 1, 4))


# --- denoiser --------------------------------------------------------------------------------


def test_denoiser_starts_as_input_then_output_projection() -> None:
    torch.manual_seed(0)
    model = LatentDenoiser(4, 16, 2, angle_conditioned=True, d_state=8, output_init_scale=0.1)
    x = torch.randn(3, 4, 20)
    cond = {"angle": torch.tensor([0.0, 1.0, 2.0])}
    out = model(x, torch.tensor([1, 500, 999]), cond)
    assert out.shape == (3, 4, 20)
    # adaLN-Zero: blocks are the identity, so only the embedding and readout act.
    assert torch.allclose(out, model.readout(model.embed(x)), atol=1e-6)
    other = model(x, torch.tensor([7, 7, 7]), {"angle": torch.tensor([3.0, -1.0, 0.5])})
    assert torch.allclose(out, other, atol=1e-6)


def test_angle_conditioning_changes_output_after_a_step() -> None:
    torch.manual_seed(0)
    model = LatentDenoiser(4, 16, 2, angle_conditioned=True, d_state=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, t = torch.randn(4, 4, 16), torch.randint(0, 1000, (4,))
    cond = {"angle": torch.rand(4) * 2 * math.pi}
    F.mse_loss(model(x, t, cond), torch.randn(4, 4, 16)).backward()
    optimizer.step()
    with torch.no_grad():
        a = model(x, t, {"angle": torch.zeros(4)})
        b = model(x, t, {"angle": torch.full((4,), math.pi / 2)})
    assert (a - b).abs().max() > 1e-4
    with pytest.raises(ValueError, match="lacks it"):
        model(x, t)


def test_denoiser_gradients_reach_every_parameter() -> None:
    model = LatentDenoiser(4, 16, 2, angle_conditioned=True, d_state=8)
    randomize_modulation(model)
    x, t = torch.randn(2, 4, 12), torch.tensor([3, 700])
    (model(x, t, {"angle": torch.tensor([0.3, 2.0])}) * torch.randn(2, 4, 12)).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_denoiser_bidirectional_flag_is_honoured() -> None:
    torch.manual_seed(0)
    causal = LatentDenoiser(4, 16, 2, bidirectional=False, d_state=8)
    both = LatentDenoiser(4, 16, 2, bidirectional=True, d_state=8)
    assert all(not b.s4.bidirectional for b in causal.blocks)
    assert all(b.s4.bidirectional for b in both.blocks)
    n_causal = sum(p.numel() for p in causal.parameters())
    n_both = sum(p.numel() for p in both.parameters())
    # One more complex C (16 channels × 4 modes) per block.
    assert n_both - n_causal == 2 * 16 * 4 * 2


def test_mask_and_velocity_channels() -> None:
    torch.manual_seed(0)
    masked = LatentDenoiser(4, 16, 1, masked=True, velocity_channels=2, d_state=8)
    assert masked.embed.in_channels == 7 and masked.embed.groups == 1
    x, t = torch.randn(2, 4, 10), torch.tensor([1, 2])
    mask = centered_mask(torch.tensor([6, 10]), 10)
    velocity = torch.randn(2, 2, 10)
    out = masked(x, t, {"mask": mask, "velocity": velocity})
    assert out.shape == (2, 4, 10)  # condition channels trimmed
    other = masked(x, t, {"mask": torch.ones_like(mask), "velocity": velocity})
    assert not torch.allclose(out, other)
    with pytest.raises(ValueError, match="'mask'"):
        masked(x, t, {"velocity": velocity})
    with pytest.raises(ValueError, match=r"cond\['velocity'\] must have shape"):
        masked(x, t, {"mask": mask, "velocity": velocity[:, :1]})
    with pytest.raises(ValueError, match="not built to use it"):
        LatentDenoiser(4, 16, 1, d_state=8)(x, t, {"mask": mask})
    assert LatentDenoiser(4, 16, 1, d_state=8).embed.groups == 4


def test_centered_padding_and_masks() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0]])
    padded = center_pad(x, 8)
    assert torch.equal(padded, torch.tensor([[1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]]))
    assert torch.equal(center_crop(padded, 3), x)
    mask = centered_mask(torch.tensor([3, 8]), 8)
    assert mask.shape == (2, 1, 8)
    assert mask[0, 0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert mask[1].sum() == 8
    with pytest.raises(ValueError, match="trial length 9"):
        center_pad(torch.zeros(1, 9), 8)


# --- spike history ---------------------------------------------------------------------------


def lag_autocorrelation(spikes: torch.Tensor, lag: int) -> float:
    """Mean over neurons of the lag-`lag` autocorrelation of mean-subtracted counts."""
    x = spikes - spikes.mean(dim=-1, keepdim=True)
    num = (x[..., lag:] * x[..., :-lag]).sum(dim=(0, 2))
    return (num / x.square().sum(dim=(0, 2))).mean().item()


def test_spike_history_recovers_planted_weights_and_autocorrelation() -> None:
    torch.manual_seed(0)
    planted = SpikeHistoryGLM(3, history_bins=20)
    with torch.no_grad():
        planted.history[:, 0] = -2.0  # refractory at lag 1
        planted.history[:, 2] = 0.8  # rebound at lag 3
        planted.rate_gain.fill_(1.0)
        planted.bias.copy_(torch.tensor([0.2, 0.0, -0.2]))
    t = torch.arange(120)
    rates = (0.6 + 0.4 * torch.sin(t / 8.0)).expand(150, 3, 120).contiguous()
    spikes = sample_spike_history(planted, rates, torch.Generator().manual_seed(1))
    assert spikes.shape == (150, 3, 120) and spikes.max() <= 5

    fitted = fit_spike_history(spikes, rates, steps=200)
    history = fitted.history.detach()
    assert torch.allclose(history[:, 0], torch.full((3,), -2.0), atol=0.35)
    assert torch.allclose(history[:, 2], torch.full((3,), 0.8), atol=0.3)
    assert history[:, 5:].abs().max() < 0.3

    resampled = sample_spike_history(fitted, rates, torch.Generator().manual_seed(2))
    poisson = torch.poisson(rates, generator=torch.Generator().manual_seed(3))
    for lag in (1, 3):
        target = lag_autocorrelation(spikes, lag)
        assert abs(lag_autocorrelation(resampled, lag) - target) < 0.04
        # A memoryless Poisson model misses it by much more.
        assert abs(lag_autocorrelation(poisson, lag) - target) > 0.05
    with pytest.raises(ValueError, match="spikes shape"):
        fit_spike_history(spikes[:, :2], rates, steps=1)


def test_denoiser_output_is_grouped_and_scaled_like_the_authors() -> None:
    torch.manual_seed(0)
    grouped = LatentDenoiser(4, 16, 1, d_state=8, output_init_scale=0.1)
    assert grouped.embed.groups == 4 and grouped.readout.groups == 4
    assert grouped.readout.weight.shape == (4, 4, 1)
    torch.manual_seed(0)
    plain = LatentDenoiser(4, 16, 1, d_state=8, output_init_scale=1.0)
    assert torch.allclose(grouped.readout.weight, 0.1 * plain.readout.weight)
    assert torch.allclose(grouped.readout.bias, 0.1 * plain.readout.bias)
    assert LatentDenoiser(3, 16, 1, d_state=8).readout.groups == 1  # 16 % 3 != 0


def test_denoiser_refuses_checkpoints_of_the_old_format() -> None:
    model = LatentDenoiser(4, 16, 1, d_state=8)
    state = model.state_dict()
    LatentDenoiser(4, 16, 1, d_state=8).load_state_dict(state)  # the current format loads
    old = {k: v for k, v in state.items() if k != "format_version"}
    old["readout.weight"] = torch.zeros(4, 16, 1)  # format 1: ungrouped output convolution
    with pytest.raises(ValueError, match="checkpoint has format 1, this code reads format 2"):
        LatentDenoiser(4, 16, 1, d_state=8).load_state_dict(old)


def test_spike_history_fit_scores_only_bins_with_full_history() -> None:
    torch.manual_seed(0)
    model = SpikeHistoryGLM(2, history_bins=5)
    with torch.no_grad():
        model.history.normal_()
    spikes = torch.poisson(torch.full((3, 2, 12), 0.5))
    rates = torch.full((3, 2, 12), 0.5)
    lam = model(spikes, rates)[..., 5:]
    expected = F.poisson_nll_loss(lam, spikes[..., 5:], log_input=False, full=True)
    assert torch.allclose(history_nll(model, spikes, rates), expected)
    # the first 5 bins (zero-padded history) are no targets: their rates do not enter the loss
    changed_rates = rates.clone()
    changed_rates[..., :5] = 3.0
    assert torch.allclose(history_nll(model, spikes, changed_rates), expected)
    changed_rates[..., 5] = 3.0
    assert not torch.allclose(history_nll(model, spikes, changed_rates), expected)
    with pytest.raises(ValueError, match="more than history_bins=5"):
        history_nll(model, spikes[..., :5], rates[..., :5])
