"""BeNeDiff's latent variable model, its metrics, tables and cross-hemisphere analysis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from neurodiff.metrics.decoding import behavior_decoding_r2, r2_per_channel
from neurodiff.models.benediff.analysis import fit_affine, hemisphere_pairs
from neurodiff.models.benediff.fit import (
    model_run_dir,
    run_dir_for,
    zscore_with_train,
)
from neurodiff.models.benediff.lvm import (
    BehaviorLVM,
    LVMConfig,
    gaussian_log_density,
    kl_decomposition,
    lvm_loss,
    method_config,
)
from neurodiff.models.benediff.report import (
    CSV_FLOAT_FORMAT,
    TABLE1_METRICS,
    table1_lvm_metrics,
    write_benediff_table,
)
from neurodiff.models.benediff.results import RegionLVMs
from neurodiff.tables import mean_std_columns

BASE = LVMConfig(n_channels=6, n_behavior=3, n_irrelevant=2, hidden_size=12, tc_samples=64)


def synthetic_region(n: int = 48, t: int = 16, seed: int = 0):
    """Components that are a fixed linear mix of 3 smooth 'behaviour' factors plus noise."""
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal((n, t, 3))
    factors = np.cumsum(steps, axis=1) / np.sqrt(np.arange(1, t + 1))[None, :, None]
    mixing = rng.standard_normal((3, 6))
    x = factors @ mixing + 0.05 * rng.standard_normal((n, t, 6))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(factors, dtype=torch.float32)


def test_forward_shapes_and_deterministic_mean_pass():
    model = BehaviorLVM(BASE)
    x, _ = synthetic_region(n=4, t=10)
    out = model(x)
    assert out.mean.shape == out.logvar.shape == out.z.shape == (4, 10, 5)
    assert out.reconstruction.shape == (4, 10, 6)
    assert out.behavior.shape == (4, 10, 3)
    torch.testing.assert_close(model(x, sample=False).z, out.mean)
    with pytest.raises(ValueError, match="trials, time, 6"):
        model(torch.zeros(4, 10, 5))


def test_every_parameter_gets_a_finite_gradient():
    model = BehaviorLVM(
        method_config(BASE, "benediff", beta=4.0, tc_weight=2.0, behavior_weight=5.0)
    )
    x, y = synthetic_region(n=8, t=10)
    loss, extras = lvm_loss(model, x, y, dataset_size=80)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    assert {"recon", "kl", "mi", "tc", "dwkl", "behavior"} <= set(extras)


def test_training_lowers_the_loss_and_fits_the_labels():
    torch.manual_seed(0)
    config = method_config(BASE, "benediff", beta=4.0, tc_weight=1.0, behavior_weight=10.0)
    model = BehaviorLVM(config)
    x, y = synthetic_region()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(120):
        loss, _ = lvm_loss(model, x, y, dataset_size=x.shape[0] * x.shape[1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    with torch.no_grad():
        predicted = model(x, sample=False).behavior.numpy()
    assert r2_per_channel(y.numpy(), predicted).min() > 0.8


POSTERIOR_STD = 0.3


def gaussian_posteriors(rho: float, n: int = 1000, seed: int = 0):
    """Posteriors N(m, 0.3²) around means m drawn from a 2-D Gaussian with correlation rho."""
    gen = torch.Generator().manual_seed(seed)
    cov = torch.tensor([[1.0, rho], [rho, 1.0]])
    mean = torch.randn(n, 2, generator=gen) @ torch.linalg.cholesky(cov).T
    logvar = torch.full_like(mean, math.log(POSTERIOR_STD**2))
    z = mean + POSTERIOR_STD * torch.randn(n, 2, generator=gen)
    return z, mean, logvar


def gaussian_tc(rho: float) -> float:
    """TC of the aggregate posterior N(0, Σ_rho + 0.3²·I): −½ log(1 − c²)."""
    c = rho / (1 + POSTERIOR_STD**2)
    return -0.5 * math.log(1 - c**2)


def test_stratified_tc_is_zero_for_independent_and_matches_gaussian_tc_for_correlated():
    independent = kl_decomposition(*gaussian_posteriors(0.0), dataset_size=1000, estimator="mss")
    correlated = kl_decomposition(*gaussian_posteriors(0.9), dataset_size=1000, estimator="mss")
    assert abs(independent.total_correlation.item()) < 0.06
    assert correlated.total_correlation.item() == pytest.approx(gaussian_tc(0.9), abs=0.06)


def test_weighted_tc_is_offset_by_a_constant_but_ranks_dependence_correctly():
    independent = kl_decomposition(*gaussian_posteriors(0.0), dataset_size=1000, estimator="mws")
    correlated = kl_decomposition(*gaussian_posteriors(0.9), dataset_size=1000, estimator="mws")
    gap = correlated.total_correlation - independent.total_correlation
    assert gap.item() == pytest.approx(gaussian_tc(0.9), abs=0.08)
    assert independent.total_correlation.item() == pytest.approx(math.log(1000), abs=0.1)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_decomposition_terms_add_up_to_the_sampled_kl(estimator):
    z, mean, logvar = gaussian_posteriors(0.5, n=300)
    terms = kl_decomposition(z, mean, logvar, dataset_size=3000, estimator=estimator)
    log_q = gaussian_log_density(z, mean, logvar).sum(-1)
    log_p = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    total = terms.mutual_information + terms.total_correlation + terms.dimensionwise_kl
    torch.testing.assert_close(total, (log_q - log_p).mean())


def test_gains_tie_each_label_to_its_own_latent_dim():
    model = BehaviorLVM(BASE)
    with torch.no_grad():
        model.behavior_gain.copy_(torch.tensor([2.0, -1.0, 0.5]))
        model.behavior_bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    z = torch.randn(2, 7, 5, requires_grad=True)
    y_hat = model.predict_behavior(z)
    torch.testing.assert_close(
        y_hat, z[..., :3] * torch.tensor([2.0, -1.0, 0.5]) + torch.tensor([0.1, 0.2, 0.3])
    )
    (grad,) = torch.autograd.grad(y_hat[..., 1].sum(), z)
    assert torch.all(grad[..., 1] == -1.0)
    assert torch.all(grad[..., [0, 2, 3, 4]] == 0)


def test_method_flags_switch_terms_off():
    cfgs = {
        m: method_config(BASE, m, beta=4.0, tc_weight=3.0, behavior_weight=10.0)
        for m in ("benediff", "supervised_no_tc", "beta_tcvae", "beta_vae")
    }
    assert cfgs["benediff"].supervised and cfgs["benediff"].tc_weight == 3.0
    assert cfgs["supervised_no_tc"].supervised and cfgs["supervised_no_tc"].tc_weight == 0.0
    assert not cfgs["beta_tcvae"].supervised and cfgs["beta_tcvae"].tc_weight == 3.0
    assert not cfgs["beta_vae"].supervised and cfgs["beta_vae"].kl_weight == 4.0
    assert cfgs["beta_vae"].tc_weight == 0.0
    with pytest.raises(ValueError, match="unknown LVM method"):
        method_config(BASE, "pi_vae", beta=4.0, tc_weight=3.0, behavior_weight=10.0)
    x, y = synthetic_region(n=6, t=8)
    model = BehaviorLVM(cfgs["benediff"])
    losses, extras = {}, {}
    for method, config in cfgs.items():
        model.config = config
        torch.manual_seed(1)
        losses[method], extras[method] = lvm_loss(
            model, x, None if not config.supervised else y, dataset_size=48
        )
    tc_term = 3.0 * 8 * extras["benediff"]["tc"]
    torch.testing.assert_close(losses["benediff"] - losses["supervised_no_tc"], tc_term)
    assert "behavior" not in extras["beta_tcvae"] and "behavior" not in extras["beta_vae"]
    no_behavior = losses["benediff"] - 10.0 * extras["benediff"]["behavior"]
    torch.testing.assert_close(no_behavior, losses["beta_tcvae"])
    with pytest.raises(ValueError, match="supervised LVM needs labels"):
        lvm_loss(BehaviorLVM(cfgs["benediff"]), x, None, dataset_size=48)


def test_nan_labels_are_left_out_of_the_behaviour_term():
    model = BehaviorLVM(BASE)
    x, y = synthetic_region(n=4, t=6)
    y_nan = y.clone()
    y_nan[0, :, 1] = float("nan")
    torch.manual_seed(3)
    loss, extras = lvm_loss(model, x, y_nan, dataset_size=24)
    assert torch.isfinite(loss)
    y_fill = y.clone()
    with torch.no_grad():
        torch.manual_seed(3)
        y_fill[0, :, 1] = model(x).behavior[0, :, 1]  # the same draw: zero error there
    torch.manual_seed(3)
    _, reference = lvm_loss(model, x, y_fill, dataset_size=24)
    torch.testing.assert_close(extras["behavior"], reference["behavior"])


def test_r2_metrics_on_known_answers():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((10, 20, 3))
    assert np.allclose(r2_per_channel(truth, truth), 1.0)
    assert np.allclose(
        r2_per_channel(truth, np.broadcast_to(truth.mean(axis=(0, 1)), truth.shape)), 0.0
    )
    assert r2_per_channel(truth, 0.5 * truth)[0] == pytest.approx(
        1 - 0.25 * (truth[..., 0] ** 2).sum() / ((truth[..., 0] - truth[..., 0].mean()) ** 2).sum()
    )
    latents = rng.standard_normal((30, 12, 4))
    labels = latents[..., :2] @ np.array([[1.0, 0.5], [-2.0, 1.0]]) + 3.0
    r2 = behavior_decoding_r2(latents, labels, np.arange(20), np.arange(20, 30))
    assert np.allclose(r2, 1.0, atol=1e-6)


def test_zscore_uses_training_trials_and_flags_constant_channels():
    values = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    z = zscore_with_train(values, np.array([0]))
    np.testing.assert_allclose(z[0].mean(axis=0), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="constant"):
        zscore_with_train(np.ones((2, 3, 2)), np.array([0, 1]))


def test_region_file_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    fitted = RegionLVMs(
        region="VIS_L",
        label_names=["paw_x", "jaw"],
        split=np.array(["train", "train", "test"]),
        signals=rng.random((3, 4, 5)),
        labels=rng.random((3, 4, 2)),
        seeds=[0, 1],
        latents={"benediff": rng.random((2, 3, 4, 3))},
        reconstruction={"benediff": rng.random((3, 4, 5))},
        behavior={"benediff": rng.random((3, 4, 2))},
        gains={"benediff": rng.random((2, 2))},
        metrics=[],
    )
    fitted.save(tmp_path / "region.npz")
    loaded = RegionLVMs.load(tmp_path / "region.npz")
    assert loaded.region == "VIS_L" and loaded.methods == ["benediff"]
    assert loaded.label_names == ["paw_x", "jaw"] and loaded.seeds == [0, 1]
    np.testing.assert_array_equal(loaded.latents["benediff"], fitted.latents["benediff"])
    np.testing.assert_array_equal(loaded.indices("test"), [2])


def lvm_metric_rows() -> pd.DataFrame:
    """Two regions × two seeds of BeNeDiff's table 1 metrics."""
    return pd.DataFrame(
        {
            "session": ["s"] * 4,
            "region": ["A", "A", "B", "B"],
            "method": ["benediff"] * 4,
            "seed": [0, 1, 0, 1],
            "neural_r2": [0.8, 0.6, 0.4, 0.2],
            "behavior_r2": [1.0, 1.0, 0.0, 0.0],
            "mig": [0.3, 0.1, 0.2, 0.2],
            "leakage_r2": [0.1, 0.3, 0.0, 0.0],
            "gaussian_tc": [0.2, 0.2, 0.1, 0.3],
            "cross_block_mi": [0.0, 0.1, 0.0, 0.1],
        }
    )


def test_table1_means_and_stds_over_seeds():
    rows = lvm_metric_rows()
    table = table1_lvm_metrics(rows).set_index("region")
    assert table.loc["A", "neural_r2_mean"] == pytest.approx(0.7)
    assert table.loc["A", "neural_r2_std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert table.loc["all regions", "neural_r2_mean"] == pytest.approx(0.5)
    assert table.loc["all regions", "neural_r2_std"] == pytest.approx(np.std([0.6, 0.4], ddof=1))
    assert table.loc["A", "method_label"] == "BeNeDiff"
    assert table.loc["A", "leakage_r2_mean"] == pytest.approx(0.2)
    text = mean_std_columns(table.reset_index(), ["mig"])
    assert text.loc[0, "mig"] == "0.20 ± 0.14"
    with pytest.raises(ValueError, match="lack columns"):
        table1_lvm_metrics(rows.drop(columns=["mig"]))


def test_write_benediff_table_shows_method_labels_and_rounds_the_csv(tmp_path):
    table = table1_lvm_metrics(lvm_metric_rows())
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    write_benediff_table(csv, md, table, TABLE1_METRICS, "Table", "A caption.")
    assert csv.read_text() == table.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
    page = md.read_text()
    assert page.startswith("# Table\n\nA caption.")
    header = next(line for line in page.splitlines() if line.startswith("|"))
    assert "method_label" not in header and "| method |" in header
    assert "BeNeDiff" in page and "0.70 ± 0.14" in page


def test_model_run_dir_hashes_training_settings_seed_and_shape(tmp_path):
    section = {"epochs": 3, "lr": 1e-3}
    path = model_run_dir(tmp_path / "frame_ae.pt", "frame_ae", section, 2, (4, 8))
    settings = {**section, "seed": 2, "shape": [4, 8]}
    assert path == run_dir_for(tmp_path / "runs", "frame_ae", settings)
    other = {**section, "lr": 2e-3}
    assert model_run_dir(tmp_path / "frame_ae.pt", "frame_ae", other, 2, [4, 8]) != path
    assert model_run_dir(tmp_path / "frame_ae.pt", "frame_ae", section, 3, (4, 8)) != path


def test_affine_map_and_hemisphere_pairs():
    rng = np.random.default_rng(1)
    source = rng.standard_normal((200, 2))
    matrix, offset = np.array([[2.0, -1.0], [0.5, 0.3]]), np.array([1.0, -2.0])
    fitted = fit_affine(source, source @ matrix.T + offset)
    np.testing.assert_allclose(fitted.weight, matrix, atol=1e-10)
    np.testing.assert_allclose(fitted.bias, offset, atol=1e-10)
    pairs = hemisphere_pairs(["VIS_L", "VIS_R", "SSp_L", "MOs_R", "MOs_L"])
    assert pairs == [("VIS", "VIS_L", "VIS_R"), ("MOs", "MOs_L", "MOs_R")]
