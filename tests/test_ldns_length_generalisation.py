"""The length-generalisation diagnostic of LDNS Fig. 2 (`models.ldns.length_generalisation`): the
windowed instance norm, the switches that make the denoiser local, the coordinate readout and the
table's rows on a small Lorenz simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodiff.data.simulate.lorenz import lorenz_latents, simulate_lorenz
from neurodiff.diffusion.schedule import make_schedule
from neurodiff.metrics.agreement import latent_length_generalisation
from neurodiff.models.ldns import length_generalisation as lg
from neurodiff.models.ldns.autoencoder import LatentNormalizer
from neurodiff.models.ldns.denoiser import LatentDenoiser, instance_norm
from neurodiff.models.ldns.generate import EncodedData
from neurodiff.models.ldns.settings import SamplingSettings
from neurodiff.nn import S4D


def test_windowed_instance_norm_normalises_each_window_on_its_own():
    x = torch.randn(2, 3, 40) * 3 + 5
    assert torch.allclose(instance_norm(x), F.instance_norm(x))
    assert torch.allclose(instance_norm(x, 40), F.instance_norm(x))
    windowed = instance_norm(x, 10)
    for start in range(0, 40, 10):
        window = x[..., start : start + 10]
        assert torch.allclose(windowed[..., start : start + 10], F.instance_norm(window), atol=1e-5)
    with pytest.raises(ValueError, match="not a multiple of the window 7"):
        instance_norm(x, 7)


def _denoiser() -> LatentDenoiser:
    torch.manual_seed(0)
    return LatentDenoiser(latent_channels=4, hidden_channels=8, num_blocks=2, d_state=4).eval()


def test_local_to_sets_and_restores_the_switches():
    denoiser = _denoiser()
    x, t = torch.randn(2, 4, 64), torch.tensor([10, 500])
    # A trained-looking block: nonzero modulation so the blocks act on their input.
    with torch.no_grad():
        for p in denoiser.parameters():
            p.add_(0.1 * torch.randn_like(p))
        full = denoiser(x, t)
        with lg.local_to(denoiser, 16, kernels=True, norms=True):
            assert all(layer.kernel_cutoff == 16 for layer in lg.s4_layers(denoiser))
            local = denoiser(x, t)
        with lg.local_to(denoiser, 64, kernels=True, norms=True):
            same = denoiser(x, t)  # nothing reaches 64 lags or a 64-bin window: unchanged
        again = denoiser(x, t)
    assert all(layer.kernel_cutoff is None for layer in lg.s4_layers(denoiser))
    assert not torch.allclose(local, full)
    assert torch.allclose(same, full, atol=1e-6)
    assert torch.equal(again, full)
    with pytest.raises(ValueError, match="no LDNS denoiser block"):
        with lg.local_to(torch.nn.Linear(2, 2), 4, norms=True):
            pass


def test_kernel_mass_beyond_training_small_for_fast_modes_large_for_slow():
    layer = S4D(4, 8)
    with torch.no_grad():
        layer.log_dt.fill_(np.log(0.5))  # decay e^{−0.25} per bin: nothing left after 64 bins
    assert lg.kernel_mass_beyond(layer, 64, 1024) < 1e-3
    with torch.no_grad():
        layer.log_dt.fill_(np.log(1e-3))  # decay time ~2000 bins: most mass beyond 64 of 1024
    assert lg.kernel_mass_beyond(layer, 64, 1024) > 0.5
    with pytest.raises(ValueError, match="no S4D layer"):
        lg.kernel_mass_beyond(torch.nn.Linear(2, 2), 4, 8)


def test_coordinate_readout_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    coordinates = rng.normal(size=(20, 3, 16))
    mixing = rng.normal(size=(5, 3))
    latents = np.einsum("dk,nkl->ndl", mixing, coordinates) + 0.5
    readout = lg.fit_coordinate_readout(latents, coordinates)
    assert lg.readout_r2(readout, latents, coordinates) == pytest.approx(1.0)
    assert np.allclose(lg.to_coordinates(readout, latents), coordinates)


def test_table_rows_on_a_small_lorenz_simulation():
    ds = simulate_lorenz(n_trials=40, n_neurons=8, n_bins=16, seed=3)
    truth = ds.truth["latents"].transpose(0, 2, 1)  # (n, 3, 16)
    rng = np.random.default_rng(0)
    latents = np.einsum("dk,nkl->ndl", rng.normal(size=(4, 3)), truth).astype(np.float32)
    latents += rng.normal(0, 0.01, latents.shape).astype(np.float32)
    encoded = EncodedData(
        latents=latents,
        rates=np.ones((40, 16, 8), np.float32),
        mask=np.ones((40, 16), bool),
        split=np.asarray(ds.split).astype(str),
        normalizer=LatentNormalizer(torch.zeros(4), torch.ones(4)),
    )
    long = np.concatenate([latents[:4]] * 4, axis=-1)
    sampling = SamplingSettings(
        ddpm_steps=3, ddim_steps=3, batch_size=8, length_factor=4, n_angle_samples=1,
        velocity_conditions=1, velocity_samples_per_condition=1, human_eval_stride=1,
    )  # fmt: skip
    denoiser = _denoiser()
    table = lg.length_generalisation_table(
        ds, encoded, latents, long, denoiser, make_schedule(10), sampling, seed=1
    )
    assert len(table) == 1 + 2 * len(lg.VARIANTS) + 1
    perfect = table.iloc[0]
    train = encoded.rows("train")
    expected = latent_length_generalisation(
        truth[train], lorenz_latents(4, 64, 100, 3).transpose(0, 2, 1)
    )
    assert perfect["max_range_deviation"] == pytest.approx(expected["max_range_deviation"])
    r2 = float(table.iloc[1]["space"].split("test R² ")[1].rstrip(")"))
    assert r2 > 0.99
    # The run's own long samples are scored as given, the variants drawn anew.
    own = table.iloc[2]
    assert own["max_range_deviation"] == pytest.approx(
        latent_length_generalisation(latents, long)["max_range_deviation"]
    )
    cut_rows = table[table["samples"].str.contains("kernels cut|both local")]
    assert (cut_rows["kernel_mass_beyond_training"] == 0).all()
    assert np.isfinite(table["max_psd_deviation"]).all()
    assert all(layer.kernel_cutoff is None for layer in lg.s4_layers(denoiser))
