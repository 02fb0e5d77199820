"""LFADS baseline: shapes, gradients, learning, coordinated dropout, KL and prior samples."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, Poisson, kl_divergence

from neurodiff.models.baselines.lfads import (
    LFADS,
    LFADSConfig,
    coordinated_dropout,
    kl_diag_gaussians,
    lfads_from_config,
    poisson_nll,
    ramp_weight,
)

N_NEURONS, N_BINS = 12, 24
SMALL = dict(ic_enc_dim=16, ic_dim=4, gen_dim=16, factor_dim=4, ci_enc_dim=8, con_dim=8)


def make_model(co_dim: int = 0, seed: int = 0, **overrides) -> LFADS:
    torch.manual_seed(seed)
    return LFADS(LFADSConfig(n_neurons=N_NEURONS, co_dim=co_dim, **(SMALL | overrides)))


def simulate(n_trials: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Poisson spikes and rates from a 2-D rotation with random initial states (B, T, N)."""
    gen = torch.Generator().manual_seed(seed)
    angle = 0.25
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    state = torch.randn(n_trials, 2, generator=gen)
    states = []
    for _ in range(N_BINS):
        states.append(state)
        state = state @ rotation.T
    readout = 0.8 * torch.randn(2, N_NEURONS, generator=gen)
    rates = torch.exp(torch.stack(states, dim=1) @ readout + math.log(0.8))
    return torch.poisson(rates, generator=gen), rates


def test_shapes_with_and_without_controller():
    spikes = torch.poisson(torch.ones(5, N_BINS, N_NEURONS))
    for co_dim in (0, 2):
        model = make_model(co_dim)
        out = model(spikes)
        assert out["rates"].shape == out["log_rates"].shape == (5, N_BINS, N_NEURONS)
        assert out["factors"].shape == (5, N_BINS, 4)
        assert out["g0_mean"].shape == out["g0_logvar"].shape == out["g0"].shape == (5, 4)
        assert torch.all(out["rates"] > 0)
        torch.testing.assert_close(out["rates"], out["log_rates"].exp())
        assert model.encode(spikes).shape == (5, 4)
        if co_dim:
            assert out["inputs"].shape == out["co_mean"].shape == (5, N_BINS, 2)
        else:
            assert "inputs" not in out


def test_gradients_reach_all_parameters():
    model = make_model(co_dim=2, ramp_steps=10, l2_con_scale=1.0)
    model.train()
    spikes = torch.poisson(torch.ones(6, N_BINS, N_NEURONS))
    loss, logs = model.loss(spikes, step=100)
    assert logs["ramp"] == 1.0
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_loss_decreases_and_rates_recover_truth():
    spikes, rates = simulate(128)
    model = make_model(dropout=0.0, ramp_steps=50, l2_gen_scale=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def eval_nll() -> float:
        model.eval()
        with torch.no_grad():
            nll = poisson_nll(model(spikes, sample=False)["log_rates"], spikes).mean().item()
        model.train()
        return nll

    before = eval_nll()
    constant_rate_nll = poisson_nll(spikes.mean((0, 1), keepdim=True).log(), spikes).mean()
    losses = []
    for step in range(150):
        loss, _ = model.loss(spikes, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    after = eval_nll()
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    # better than any per-neuron constant rate: the dynamics have been learned
    assert after < before and after < constant_rate_nll.item() - 0.5
    model.eval()
    fitted = model(spikes, sample=False)["rates"].detach()
    assert torch.corrcoef(torch.stack([fitted.flatten(), rates.flatten()]))[0, 1] > 0.8


def test_coordinated_dropout_scores_only_dropped_entries():
    model = make_model(cd_rate=0.3, dropout=0.0)
    model.train()
    spikes = torch.poisson(2 * torch.ones(4, N_BINS, N_NEURONS))
    _, keep = coordinated_dropout(spikes, 0.3, torch.Generator().manual_seed(0))
    assert 0.2 < 1 - keep.float().mean() < 0.4
    seen = {}

    def keep_log_rates(module, inputs, output):
        output.retain_grad()
        seen["out"] = output

    def keep_encoder_input(module, inputs, output):
        seen["inp"] = inputs[0]

    model.readout.register_forward_hook(keep_log_rates)
    model.ic_encoder.register_forward_hook(keep_encoder_input)
    loss, _ = model.loss(spikes, step=0, cd_keep=keep)  # ramp 0 at step 0: recon only
    loss.backward()
    grad = seen["out"].grad
    assert torch.all(grad[keep] == 0)
    assert torch.all(grad[~keep] != 0)
    # the encoders see the kept entries, scaled by 1/(1 − p), and zeros where dropped
    torch.testing.assert_close(seen["inp"], spikes * keep / 0.7)
    # in eval mode every entry is scored
    model.eval()
    loss, _ = model.loss(spikes, step=0)
    loss.backward()
    assert torch.all(seen["out"].grad != 0)


def test_recon_is_rescaled_to_the_whole_trial():
    model = make_model(cd_rate=0.5, dropout=0.0)
    spikes = torch.poisson(torch.ones(3, N_BINS, N_NEURONS))
    keep = torch.zeros_like(spikes, dtype=torch.bool)
    keep[..., : N_NEURONS // 2] = True  # half the entries dropped
    torch.manual_seed(1)
    _, logs = model.loss(spikes, step=0, cd_keep=keep)
    torch.manual_seed(1)
    out = model(spikes * keep / 0.5)
    nll = poisson_nll(out["log_rates"], spikes)[~keep].sum() * 2 / 3
    assert logs["recon"] == pytest.approx(nll.item(), rel=1e-5)


def test_kl_known_values_and_zero_at_prior():
    gen = torch.Generator().manual_seed(0)
    mean, logvar, pm, plv = (torch.randn(50, generator=gen) for _ in range(4))
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(pm, (0.5 * plv).exp()))
    torch.testing.assert_close(kl_diag_gaussians(mean, logvar, pm, plv), expected)
    assert torch.all(kl_diag_gaussians(mean, logvar, mean, logvar) == 0)
    # posterior heads fixed at the priors: both KL terms vanish in the model's loss
    model = make_model(co_dim=2)
    with torch.no_grad():
        for head, prior in (
            (model.ic_posterior, torch.cat([model.ic_prior_mean, model.ic_prior_logvar])),
            (model.co_posterior, torch.tensor([0.0, 0.0, 0.0, 0.0])),
        ):
            head.weight.zero_()
            head.bias.copy_(prior)
    _, logs = model.loss(torch.poisson(torch.ones(4, N_BINS, N_NEURONS)), step=0)
    assert logs["kl_ic"] == pytest.approx(0.0, abs=1e-6)
    assert logs["kl_co"] == pytest.approx(0.0, abs=1e-6)


def test_poisson_nll_matches_torch_distribution():
    log_rates = torch.randn(30)
    counts = torch.poisson(torch.full((30,), 2.0))
    torch.testing.assert_close(
        poisson_nll(log_rates, counts), -Poisson(log_rates.exp()).log_prob(counts)
    )


def test_prior_samples_shape_finite_and_seeded():
    for co_dim in (0, 2):
        model = make_model(co_dim)
        model.train()
        rates = model.sample_from_prior(7, 40, torch.Generator().manual_seed(3))["rates"]
        again = model.sample_from_prior(7, 40, torch.Generator().manual_seed(3))["rates"]
        assert rates.shape == (7, 40, N_NEURONS)
        assert torch.isfinite(rates).all() and torch.all(rates > 0)
        torch.testing.assert_close(rates, again)
        assert model.training  # mode restored


def test_decode_reproduces_forward_from_its_g0_and_inputs():
    spikes = torch.poisson(torch.ones(5, N_BINS, N_NEURONS))
    for co_dim in (0, 2):
        model = make_model(co_dim).eval()
        for sample in (False, True):
            out = model(spikes, sample=sample)
            decoded = model.decode(out["g0"], N_BINS, out.get("inputs"))
            assert set(decoded) == {"factors", "log_rates", "rates"}
            for key in decoded:
                torch.testing.assert_close(decoded[key], out[key])
        if co_dim:  # inputs default to their prior mean, zero
            g0 = out["g0"]
            zero = torch.zeros(5, 7, co_dim)
            torch.testing.assert_close(
                model.decode(g0, 7)["rates"], model.decode(g0, 7, zero)["rates"]
            )
            assert not torch.allclose(
                model.decode(g0, 7, zero + 1.0)["rates"], model.decode(g0, 7)["rates"]
            )
            with pytest.raises(ValueError, match="inputs must be"):
                model.decode(g0, 7, torch.zeros(5, 6, co_dim))
        else:
            with pytest.raises(ValueError, match="no controller"):
                model.decode(out["g0"], 7, torch.zeros(5, 7, 1))
        with pytest.raises(ValueError, match="g0 must be"):
            model.decode(torch.zeros(5, 3), 7)


def test_mask_makes_padding_irrelevant():
    model = make_model(co_dim=2).eval()
    spikes = torch.poisson(torch.ones(2, N_BINS, N_NEURONS))
    mask = torch.ones(2, N_BINS, dtype=torch.bool)
    mask[1, 15:] = False
    garbage = spikes.clone()
    garbage[1, 15:] = 9.0
    out = model(garbage, sample=False, mask=mask)
    alone = model(spikes[1:, :15], sample=False)
    torch.testing.assert_close(out["g0_mean"][1], alone["g0_mean"][0])
    torch.testing.assert_close(out["rates"][1, :15], alone["rates"][0])
    with pytest.raises(ValueError, match="prefix"):
        model(spikes, mask=torch.tensor([[True] * N_BINS, [False] + [True] * (N_BINS - 1)]))


def test_ramp_config_and_input_errors():
    assert [ramp_weight(s, 10, 20) for s in (0, 10, 20, 30, 99)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert ramp_weight(5, 5, 0) == 1.0
    with pytest.raises(ValueError, match="unknown LFADS config keys"):
        lfads_from_config(N_NEURONS, {"gen_size": 3})
    with pytest.raises(ValueError, match="cd_rate"):
        LFADSConfig(n_neurons=4, cd_rate=1.0)
    with pytest.raises(ValueError, match="neurons"):
        make_model()(torch.zeros(2, N_BINS, N_NEURONS + 1))
    assert "fixed hyperparameters" in LFADS.__doc__ and "PBT" in LFADS.__doc__


def test_split_modules_keep_the_public_names():
    """The lfads-torch-style split keeps every name importable from the package."""
    from neurodiff.models.baselines import lfads
    from neurodiff.models.baselines.lfads import encoder, model, priors, reconstruction, recurrent

    assert lfads.LFADS is model.LFADS and lfads.BidirectionalEncoder is encoder.BidirectionalEncoder
    assert lfads.ClippedGRUCell is recurrent.ClippedGRUCell
    assert lfads.kl_diag_gaussians is priors.kl_diag_gaussians
    assert lfads.poisson_nll is reconstruction.poisson_nll
    assert set(lfads.__all__) <= set(dir(lfads))
