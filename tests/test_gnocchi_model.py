"""GNOCCHI model: U-Net shapes and gradients, AdaGN conditioning, loss, MMD, DDIM, transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurodiff.metrics.spikes import smooth_spikes
from neurodiff.models.gnocchi.losses import kernel_matrix, mmd
from neurodiff.models.gnocchi.model import gnocchi_from_config
from neurodiff.models.gnocchi.transform import fit_transform
from neurodiff.models.gnocchi.unet import TimeUNet1d

N_NEURONS, N_BINS, N_CLASSES = 4, 16, 4
TINY = dict(
    code_dim=2,
    channels=8,
    channel_mult=[1, 2],
    embed_dim=16,
    encoder_hidden=16,
    groups=4,
    schedule={"num_train_timesteps": 50, "beta_start": 1e-3, "beta_end": 0.3},
)


def class_patterns(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Trials (n, N, T): a sine whose phase depends on one of four classes, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, N_CLASSES, (n,), generator=gen)
    time = torch.linspace(0, 1, N_BINS)
    phase = classes.float()[:, None, None] * math.pi / 2 + torch.arange(N_NEURONS)[None, :, None]
    noise = 0.1 * torch.randn(n, N_NEURONS, N_BINS, generator=gen)
    return torch.sin(2 * math.pi * time + phase) + noise, classes


@pytest.fixture(scope="module")
def trained():
    """A tiny GNOCCHI trained for 200 steps on the class patterns, and its loss curve."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = gnocchi_from_config(N_NEURONS, TINY)
    data, _ = class_patterns(256, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(200):
        rows = torch.randint(0, 256, (32,), generator=torch.Generator().manual_seed(step))
        loss, _ = model.loss(data[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


def test_unet_shapes_any_length_and_gradients():
    torch.manual_seed(0)
    net = TimeUNet1d(
        6,
        3,
        channels=8,
        channel_mult=(1, 2, 2),
        groups=4,
        embed_dim=16,
        attention=True,
        attention_heads=2,
        filter_kernel=3,
    )
    x = torch.randn(5, 6, 13, requires_grad=True)  # 13 bins: padded to 16 inside, cropped back
    out = net(x, torch.randint(0, 50, (5,)), torch.randn(5, 3))
    assert out.shape == (5, 6, 13)
    out.pow(2).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    assert not missing
    with pytest.raises(ValueError, match="neurons"):
        net(torch.randn(2, 5, 13), torch.zeros(2, dtype=torch.long), torch.randn(2, 3))
    with pytest.raises(ValueError, match="code"):
        net(torch.randn(2, 6, 13), torch.zeros(2, dtype=torch.long), torch.randn(2, 4))


def test_adagn_uses_the_code():
    torch.manual_seed(0)
    net = TimeUNet1d(N_NEURONS, 2, channels=8, groups=4, embed_dim=16).eval()
    x, t = torch.randn(3, N_NEURONS, N_BINS), torch.full((3,), 10)
    code = torch.zeros(3, 2, requires_grad=True)
    out = net(x, t, code)
    assert not torch.allclose(out, net(x, t, code + 1.0))
    (grad,) = torch.autograd.grad(out.sum(), code)
    assert grad.abs().sum() > 0
    # the code enters only through the AdaGN modulation: zeroing it removes the dependence
    for block in net.modules():
        if hasattr(block, "modulation"):
            torch.nn.init.zeros_(block.modulation.weight)
    assert torch.allclose(net(x, t, code), net(x, t, code + 1.0), atol=1e-6)


def test_loss_decreases_on_tiny_data(trained):
    _, losses = trained
    first, last = np.mean(losses[:20]), np.mean(losses[-20:])
    assert np.isfinite(losses).all()
    assert last < 0.5 * first


def test_loss_terms_and_stochastic_encoder():
    torch.manual_seed(0)
    model = gnocchi_from_config(N_NEURONS, TINY | {"kl_weight": 0.5})
    x, _ = class_patterns(8, seed=1)
    loss, logs = model.loss(x)
    assert set(logs) == {"eps_mse", "recon", "mmd", "kl"} and logs["kl"] > 0
    cfg = model.config
    assert loss.item() == pytest.approx(
        logs["eps_mse"]
        + cfg.recon_weight * logs["recon"]
        + cfg.mmd_weight * logs["mmd"]
        + cfg.kl_weight * logs["kl"],
        rel=1e-5,
    )
    assert torch.equal(model.encode(x), model.encode(x))  # the mean, not a sample
    with pytest.raises(ValueError, match="mmd_kernel"):
        gnocchi_from_config(N_NEURONS, TINY | {"mmd_kernel": "laplace"})
    with pytest.raises(ValueError, match="unknown GNOCCHI config keys"):
        gnocchi_from_config(N_NEURONS, {"code_size": 3})


def test_mmd_zero_for_same_distribution_positive_for_shift():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 4, generator=gen), torch.randn(400, 4, generator=gen)
    for kernel in ("rbf", "imq"):
        assert abs(mmd(x, y, kernel).item()) < 0.01
        assert mmd(x, y + 3.0, kernel).item() > 0.2


def test_kernel_is_normalised_once_by_dimension():
    dim, a = 4, 1.5
    x, y = torch.zeros(1, dim), torch.full((1, dim), a)
    squared = dim * a**2
    assert kernel_matrix(x, y, "rbf").item() == pytest.approx(math.exp(-squared / (2 * dim)))
    assert kernel_matrix(x, y, "imq").item() == pytest.approx(2 * dim / (2 * dim + squared))
    # InfoDiffusion's public kernel would give exp(-squared / dim²): not this one
    assert kernel_matrix(x, y, "rbf").item() != pytest.approx(math.exp(-squared / dim**2))


def test_ddim_deterministic_given_seed(trained):
    model, _ = trained
    codes = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))

    def draw(seed: int) -> torch.Tensor:
        return model.sample(codes, N_BINS, 10, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1))
    assert not torch.allclose(draw(1), draw(2))


def test_reverse_ddim_then_ddim_reconstructs_with_its_code(trained):
    model, _ = trained
    x, _ = class_patterns(16, seed=3)
    codes = model.encode(x)
    x_T = model.invert(x, codes, steps=25)
    own = (model.sample(codes, N_BINS, 25, x_T=x_T) - x).pow(2).mean().item()
    other = (model.sample(codes.roll(1, dims=0), N_BINS, 25, x_T=x_T) - x).pow(2).mean().item()
    assert own < 0.02
    assert other > 10 * own


def test_traverse_shapes_and_identity(trained):
    model, _ = trained
    x, _ = class_patterns(4, seed=4)
    codes = model.encode(x)
    x_T = model.invert(x, codes, steps=10)
    values = torch.tensor([-1.0, 0.0, 1.0])
    moved = model.traverse(codes, 1, values, x_T, steps=10)
    assert moved.shape == (3, 4, N_NEURONS, N_BINS)
    same = codes.clone()
    same[:, 1] = 0.0
    assert torch.allclose(moved[1], model.sample(same, N_BINS, 10, x_T=x_T))
    with pytest.raises(ValueError, match="axis"):
        model.traverse(codes, 2, values, x_T, steps=10)


def test_transform_round_trips():
    counts = np.random.default_rng(0).poisson(2.0, size=(6, 20, 3)).astype(float)
    root = fit_transform("sqrt", counts, smooth_sigma_bins=1.0)
    x = root.forward(counts)
    assert x.shape == (6, 3, 20)
    assert np.allclose(x.mean(axis=(0, 2)), 0, atol=1e-5)
    assert np.allclose(x.std(axis=(0, 2)), 1, atol=1e-4)
    assert np.allclose(root.inverse(x), counts, atol=1e-4)
    smooth = fit_transform("smoothed_zscore", counts, smooth_sigma_bins=1.5)
    assert np.allclose(
        smooth.inverse(smooth.forward(counts)), smooth_spikes(counts, 1.5), atol=1e-5
    )
    assert (smooth.inverse(np.full((1, 3, 20), -50.0)) == 0).all()  # rates clipped at 0
    with pytest.raises(ValueError, match="non-negative"):
        smooth.forward(-counts)
    with pytest.raises(ValueError, match="transform kind"):
        fit_transform("log", counts, 1.0)


def test_attention_pooled_code_and_bin_embedding_see_timing():
    """The same burst at two times: a mean-pooled conv code cannot tell them apart (away from the
    edges), the attention-pooled code with its position embedding can; the U-Net uses its
    absolute-time bin embedding."""
    from neurodiff.models.gnocchi.encoder import CodeEncoder
    from neurodiff.models.gnocchi.unet import TimeUNet1d

    torch.manual_seed(0)
    early, late = torch.zeros(1, 4, 40), torch.zeros(1, 4, 40)
    early[..., 12:15], late[..., 24:27] = 1.0, 1.0
    mean_pool = CodeEncoder(4, 3, pool="mean")
    attention = CodeEncoder(4, 3, pool="attention")
    windows = CodeEncoder(4, 3, pool="windows", pool_windows=4)
    with torch.no_grad():
        torch.testing.assert_close(mean_pool(early)[0], mean_pool(late)[0], atol=1e-5, rtol=0)
        assert (attention(early)[0] - attention(late)[0]).abs().max() > 1e-3
        assert (windows(early)[0] - windows(late)[0]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="pool 'max'"):
        CodeEncoder(4, 3, pool="max")
    unet = TimeUNet1d(4, 3, channels=8, bin_embedding=True)
    assert TimeUNet1d(4, 3, channels=8, bin_embedding=False).bin_embed is None
    x, t, c = torch.zeros(1, 4, 16), torch.tensor([5]), torch.zeros(1, 3)
    with torch.no_grad():
        before = unet(x, t, c)
        unet.bin_embed.weight.mul_(3.0)
        after = unet(x, t, c)
    assert (before - after).abs().max() > 1e-4  # the bin embedding reaches the output
