"""LDNS pipeline: training, encoding, sampling, variable-length handling, tables, settings."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from neurodiff.data.tidy import TidyDataset, read_tidy
from neurodiff.diffusion import make_schedule
from neurodiff.io import read_npz, write_npz
from neurodiff.metrics.resampling import bootstrap_indices
from neurodiff.models.ldns import S4Autoencoder
from neurodiff.models.ldns.evaluation import (
    BASELINE_INPUTS,
    REFERENCE_ROW,
    TRUTH_ROW,
    autoencoder_hparams,
    denoiser_hparams,
    monkey_methods,
    parameter_count,
    read_monkey_methods,
    table1,
    table1_display,
    table1_protocol,
    table1_row,
    velocity_decoding_table,
)
from neurodiff.models.ldns.fit import (
    VELOCITY_CHANNELS,
    AutoencoderFit,
    build_denoiser,
    diffusion_schedule,
    load_sampling_models,
    optimizer_and_schedule,
    reset_stale_run,
    save_autoencoder,
    train_autoencoder,
    train_denoiser,
    train_spike_history,
)
from neurodiff.models.ldns.generate import (
    EncodedData,
    crop_left_aligned,
    denoiser_inputs,
    encode_dataset,
    hand_velocity,
    reach_angle,
    sample_model,
)
from neurodiff.models.ldns.lfads_baseline import (
    posterior_factors,
    posterior_rates,
    prior_samples,
    train_lfads,
)
from neurodiff.models.ldns.settings import (
    AutoencoderSettings,
    BehaviorSettings,
    DenoiserSettings,
    LFADSSettings,
    SamplingSettings,
    SpikeHistorySettings,
    from_mapping,
)
from neurodiff.train import full_batches

N_TRIALS, N_BINS, N_NEURONS = 30, 16, 6

AE = AutoencoderSettings(
    hidden_channels=8,
    latent_channels=4,
    num_blocks=1,
    bidirectional=False,
    d_state=4,
    steps=60,  # 30 passes of the 2 batches of 10 training trials
    warmup_steps=2,
    batch_size=10,
    lr=0.01,
    weight_decay=0.01,
    grad_clip=2.0,
    lr_horizon=1.1,
    cd_p=0.3,
    latent_beta=0.001,
    td_beta=0.01,
    latent_clip=None,
    checkpoint="best_val",
    log_every=10,
)
DENOISER = DenoiserSettings(
    dataset="tiny",
    conditioning="none",
    hidden_channels=8,
    num_blocks=1,
    d_state=4,
    output_init_scale=0.1,
    steps=6,
    warmup_steps=2,
    batch_size=10,
    lr=0.01,
    weight_decay=0.01,
    grad_clip=1.0,
    lr_horizon=1.3,
    loss="smooth_l1",
    smooth_l1_beta=0.04,
    ema_power=2 / 3,
    ema_max_decay=0.9999,
    ema_min_decay=0.0,
    samplers=("ddpm", "ddim"),
    long_samples=2,
)
SAMPLING = SamplingSettings(
    ddpm_steps=4,
    ddim_steps=3,
    batch_size=16,
    length_factor=3,
    n_angle_samples=5,
    velocity_conditions=2,
    velocity_samples_per_condition=3,
    human_eval_stride=2,
)
BEHAVIOR = BehaviorSettings(velocity_scale=1e-3, onset_bin=4, ridge_alpha=1e-6)


def tiny_dataset(variable_length: bool = False, seed: int = 0) -> TidyDataset:
    """Poisson counts driven by a per-trial angle; hand velocity along that angle."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-np.pi, np.pi, N_TRIALS)
    t = np.linspace(0, np.pi, N_BINS)
    profile = np.sin(t)[None, :, None]
    tuning = rng.normal(size=(2, N_NEURONS))
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    rates = np.exp(-0.5 + profile * (direction @ tuning)[:, None, :])
    velocity = 300.0 * profile * direction[:, None, :]  # mm/s
    mask = np.ones((N_TRIALS, N_BINS), bool)
    if variable_length:
        lengths = rng.integers(6, N_BINS + 1, N_TRIALS)
        mask = np.arange(N_BINS)[None, :] < lengths[:, None]
    spikes = rng.poisson(rates) * mask[..., None]
    split = np.array(["train"] * 20 + ["val"] * 4 + ["test"] * 6)
    return TidyDataset(
        name="tiny",
        signals=spikes,
        split=split,
        bin_size_s=0.02,
        mask=mask,
        behavior=velocity,
        behavior_names=["hand_vel_x", "hand_vel_y"],
        conditions={"reach_angle": angle},
    )


@pytest.fixture
def tidy_file(tmp_path):
    path = tmp_path / "tiny.h5"
    tiny_dataset().write(path)
    return path


def fit_tiny_autoencoder(ds: TidyDataset, run_dir, settings: AutoencoderSettings = AE):
    train, val = ds.indices("train"), ds.indices("val")
    return train_autoencoder(
        ds.signals[train],
        ds.mask[train],
        ds.signals[val],
        ds.mask[val],
        settings,
        run_dir,
        seed=0,
        device="cpu",
        progress=False,
    )


def test_autoencoder_training_reduces_loss_and_keeps_best_weights(tidy_file, tmp_path):
    ds = read_tidy(tidy_file)
    settings = dataclasses.replace(AE, log_every=2, lr=0.03)  # a row per pass over the data
    fit = fit_tiny_autoencoder(ds, tmp_path / "ae", settings)
    losses = [row["loss"] for row in fit.history]
    assert len(losses) == AE.steps // 2
    assert np.mean(losses[-3:]) < 0.95 * losses[0]
    # better than the best constant rate per neuron on held-out trials
    train, val = ds.signals[ds.indices("train")], ds.signals[ds.indices("val")]
    constant = -stats.poisson.logpmf(val, train.mean(axis=(0, 1))).mean()
    assert fit.val_poisson < constant - 0.03
    best = min(fit.history, key=lambda row: row["val_poisson"])
    assert fit.step == best["step"]
    assert fit.val_poisson == pytest.approx(best["val_poisson"])
    assert torch.load(tmp_path / "ae" / "model.pt", weights_only=True)["best"]["step"] == fit.step


def test_encode_and_sample_shapes(tidy_file, tmp_path):
    ds = read_tidy(tidy_file)
    fit = fit_tiny_autoencoder(ds, tmp_path / "ae")
    encoded = encode_dataset(fit.model, ds, None, {"selected_step": fit.step})
    assert encoded.latents.shape == (N_TRIALS, AE.latent_channels, N_BINS)
    assert encoded.rates.shape == (N_TRIALS, N_BINS, N_NEURONS)
    assert {"val_poisson", "test_poisson", "selected_step"} <= set(encoded.info)
    train_latents = encoded.normalizer.normalize(torch.as_tensor(encoded.latents[:20]))
    assert train_latents.mean(dim=(0, 2)).abs().max() < 1e-4
    write_npz(tmp_path / "latents.npz", encoded.to_arrays())
    restored = EncodedData.from_arrays(read_npz(tmp_path / "latents.npz"))
    np.testing.assert_array_equal(restored.latents, encoded.latents)
    assert restored.normalizer.clip is None

    schedule = make_schedule()
    inputs = denoiser_inputs(encoded, ds, DENOISER, BEHAVIOR)
    denoiser = train_denoiser(inputs, DENOISER, schedule, tmp_path / "dn", 0, "cpu", False)
    samples = sample_model(
        denoiser, fit.model, encoded, ds, schedule, DENOISER, SAMPLING, BEHAVIOR, seed=1
    )
    for sampler in ("ddpm", "ddim"):
        assert samples[f"{sampler}_latents"].shape == (20, AE.latent_channels, N_BINS)
        assert samples[f"{sampler}_spikes"].shape == (20, N_BINS, N_NEURONS)
        assert samples[f"{sampler}_mask"].all()
        spikes = samples[f"{sampler}_spikes"]
        assert (spikes >= 0).all() and np.array_equal(spikes, np.round(spikes))
    assert samples["long_rates"].shape == (2, 3 * N_BINS, N_NEURONS)


def test_conditioned_inputs_and_sampling_plans(tidy_file, tmp_path):
    ds = read_tidy(tidy_file)
    fit = fit_tiny_autoencoder(ds, tmp_path / "ae", dataclasses.replace(AE, steps=4))
    encoded = encode_dataset(fit.model, ds, None, {})
    angle_settings = dataclasses.replace(
        DENOISER, conditioning="angle", samplers=("ddpm",), long_samples=0
    )
    inputs = denoiser_inputs(encoded, ds, angle_settings, BEHAVIOR)
    expected = np.arctan2(ds.behavior[:20, 4, 1], ds.behavior[:20, 4, 0])
    np.testing.assert_allclose(inputs.cond["angle"].numpy(), expected, atol=1e-6)
    velocity_settings = dataclasses.replace(angle_settings, conditioning="velocity")
    schedule = make_schedule()
    inputs = denoiser_inputs(encoded, ds, velocity_settings, BEHAVIOR)
    assert inputs.cond["velocity"].shape == (20, 2, N_BINS)
    np.testing.assert_allclose(
        inputs.cond["velocity"][:, 0].numpy(), ds.behavior[:20, :, 0] * 1e-3, rtol=1e-6
    )
    denoiser = train_denoiser(inputs, velocity_settings, schedule, tmp_path / "dn", 0, "cpu", False)
    samples = sample_model(
        denoiser, fit.model, encoded, ds, schedule, velocity_settings, SAMPLING, BEHAVIOR, seed=1
    )
    test_rows = ds.indices("test")[:2]
    np.testing.assert_array_equal(samples["condition_trial"], np.repeat(test_rows, 3))
    assert samples["ddpm_rates"].shape == (6, N_BINS, N_NEURONS)
    # training and sampling condition on the same transform of the same trials
    full = hand_velocity(ds, BEHAVIOR)
    np.testing.assert_array_equal(inputs.cond["velocity"].numpy(), full[ds.indices("train")])
    np.testing.assert_array_equal(samples["velocity"], full[samples["condition_trial"]])


def test_reach_angle_reads_the_onset_bin():
    velocity = np.zeros((2, 2, 5), np.float32)
    velocity[0, :, 3] = [0.0, 1.0]
    velocity[1, :, 3] = [-1.0, 0.0]
    np.testing.assert_allclose(reach_angle(velocity, 3), [np.pi / 2, np.pi])
    with pytest.raises(ValueError, match="onset_bin=5"):
        reach_angle(velocity, 5)


def test_variable_length_masks_are_respected(tmp_path):
    ds = tiny_dataset(variable_length=True)
    fit = fit_tiny_autoencoder(ds, tmp_path / "ae", dataclasses.replace(AE, steps=4))
    encoded = encode_dataset(fit.model, ds, None, {})
    settings = dataclasses.replace(
        DENOISER, conditioning="length", samplers=("ddpm",), long_samples=0
    )
    inputs = denoiser_inputs(encoded, ds, settings, BEHAVIOR)
    lengths = ds.lengths()[ds.indices("train")]
    mask = inputs.cond["mask"][:, 0].numpy()
    np.testing.assert_array_equal(mask.sum(axis=1), lengths)
    for i, n in enumerate(lengths):  # centred window, replicate padding outside it
        left = (N_BINS - n) // 2
        assert mask[i, left : left + n].all()
        raw = encoded.normalizer.normalize(torch.as_tensor(encoded.latents[i : i + 1]))[0]
        np.testing.assert_allclose(inputs.x0[i, :, left : left + n], raw[:, :n], rtol=1e-5)
        np.testing.assert_allclose(inputs.x0[i, :, 0], raw[:, 0], rtol=1e-5)
    schedule = make_schedule()
    denoiser = train_denoiser(inputs, settings, schedule, tmp_path / "dn", 0, "cpu", False)
    samples = sample_model(
        denoiser, fit.model, encoded, ds, schedule, settings, SAMPLING, BEHAVIOR, seed=2
    )
    expected_lengths = lengths[::2]
    np.testing.assert_array_equal(samples["lengths"], expected_lengths)
    np.testing.assert_array_equal(samples["ddpm_mask"].sum(axis=1), expected_lengths)
    beyond = ~samples["ddpm_mask"]
    assert (samples["ddpm_spikes"][beyond] == 0).all()
    assert (samples["ddpm_rates"][beyond] == 0).all()


def test_crop_left_aligned_undoes_centring():
    lengths = np.array([3, 6])
    rates = np.zeros((2, 6, 2), np.float32)
    rates[0, 1:4] = [[1, 2], [3, 4], [5, 6]]  # length 3 centred in 6 bins: offset 1
    rates[1] = np.arange(12).reshape(6, 2)
    arrays = {"latents": rates.transpose(0, 2, 1).copy(), "rates": rates, "spikes": rates.copy()}
    out = crop_left_aligned(arrays, lengths)
    np.testing.assert_array_equal(out["rates"][0, :3], [[1, 2], [3, 4], [5, 6]])
    assert (out["rates"][0, 3:] == 0).all()
    np.testing.assert_array_equal(out["rates"][1], rates[1])
    np.testing.assert_array_equal(out["latents"][0, :, :3], [[1, 3, 5], [2, 4, 6]])
    np.testing.assert_array_equal(out["mask"], [[1, 1, 1, 0, 0, 0], [1] * 6])


def test_learning_rate_warms_up_then_decays_without_reaching_zero():
    settings = dataclasses.replace(AE, steps=50, warmup_steps=10, lr=0.1, lr_horizon=1.3)
    make_optimizer, make_scheduler, total = optimizer_and_schedule(settings)
    assert total == 50
    optimizer = make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == 0.0
    assert lrs[10] == pytest.approx(0.1)
    horizon = math.ceil(1.3 * total)
    expected_last = 0.1 * 0.5 * (1 + math.cos(math.pi * (49 - 10) / (horizon - 10)))
    assert lrs[-1] == pytest.approx(expected_last)
    assert lrs[-1] > 0.01


def test_stale_runs_are_reset(tmp_path):
    assert not reset_stale_run(tmp_path, {"lr": 1})
    (tmp_path / "checkpoint.pt").write_text("x")
    assert not reset_stale_run(tmp_path, {"lr": 1})
    assert (tmp_path / "checkpoint.pt").exists()
    assert reset_stale_run(tmp_path, {"lr": 2})
    assert not (tmp_path / "checkpoint.pt").exists()


def test_batch_larger_than_training_split_is_a_clear_error():
    with pytest.raises(ValueError, match=r"ldns.autoencoder: batch_size=64 must be in \[1, 20\]"):
        full_batches(20, 64, "ldns.autoencoder")


def test_settings_reject_unknown_keys_and_bad_values():
    values = dataclasses.asdict(AE)
    with pytest.raises(ValueError, match=r"ldns.autoencoder.x: unknown keys \['hidden'\]"):
        from_mapping(AutoencoderSettings, values | {"hidden": 3}, "ldns.autoencoder.x")
    with pytest.raises(ValueError, match="checkpoint='best'"):
        from_mapping(AutoencoderSettings, values | {"checkpoint": "best"}, "ae")
    with pytest.raises(ValueError, match="needs smooth_l1_beta"):
        dataclasses.replace(DENOISER, smooth_l1_beta=None)
    assert dataclasses.replace(DENOISER, loss="mse", smooth_l1_beta=None).loss_kwargs() == {
        "loss": "mse"
    }


def test_spike_history_fit_reduces_poisson_nll(tmp_path):
    rng = np.random.default_rng(0)
    rates = np.full((12, 30, 4), 0.3, np.float32)
    spikes = rng.poisson(rates).astype(np.float32)
    settings = SpikeHistorySettings(
        history_bins=5, steps=30, lr=0.1, weight_decay=0.01, clip=5, sample_cap=5
    )
    train_spike_history(spikes, rates, settings, tmp_path, seed=0, device="cpu", progress=False)
    history = pd.read_csv(tmp_path / "metrics.csv")
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_lfads_baseline_trains_and_samples(tmp_path):
    ds = tiny_dataset()
    settings = LFADSSettings(
        steps=4,
        batch_size=10,
        lr=0.01,
        grad_clip=200.0,
        long_samples=0,
        model={"ic_enc_dim": 8, "ic_dim": 4, "gen_dim": 8, "factor_dim": 3},
    )
    model = train_lfads(ds.signals[:20], settings, tmp_path, seed=0, device="cpu", progress=False)
    samples = prior_samples(model, 5, 2 * N_BINS, torch.Generator().manual_seed(0))
    assert samples["factors"].shape == (5, 2 * N_BINS, 3)
    assert samples["spikes"].shape == (5, 2 * N_BINS, N_NEURONS)
    np.testing.assert_allclose(
        samples["rates"],
        np.exp(
            samples["factors"] @ model.readout.weight.detach().numpy().T
            + model.readout.bias.detach().numpy()
        ),
        rtol=1e-4,
    )
    assert posterior_factors(model, ds.signals[20:23]).shape == (3, N_BINS, 3)
    # LFADS+sh's GLM is fitted on these inferred rates of the training trials
    factors = posterior_factors(model, ds.signals[:4])
    np.testing.assert_allclose(
        posterior_rates(model, ds.signals[:4], batch_size=3),
        np.exp(
            factors @ model.readout.weight.detach().numpy().T + model.readout.bias.detach().numpy()
        ),
        rtol=1e-4,
    )


# ---------------------------------------------------------------------------------------------
# Tables


def test_table1_takes_any_method_set_and_ranks_a_good_model_first():
    rng = np.random.default_rng(1)
    data = rng.poisson(0.3, size=(60, 20, 5)).astype(float)
    methods = {
        "same process": rng.poisson(0.3, size=(60, 20, 5)).astype(float),
        "TNDM": rng.poisson(0.9, size=(60, 20, 5)).astype(float),
        "pi-VAE": rng.poisson(0.05, size=(60, 20, 5)).astype(float),
    }
    table = table1(methods, data, fps=50, n_resamples=3, seed=0)
    assert list(table["method"]) == ["same process", "TNDM", "pi-VAE", REFERENCE_ROW]
    assert table.shape == (4, 9)
    assert (table.filter(like="_std") >= 0).all().all()
    kl = table.set_index("method")["kl_psch_mean"]
    assert kl["same process"] < 0.1 * kl["TNDM"]
    assert kl["same process"] < 0.1 * kl["pi-VAE"]
    display = table1_display(table)
    assert list(display.columns)[1:] == [
        "D_KL psch",
        "RMSE corr",
        "RMSE mean ISI (s)",
        "RMSE std ISI (s)",
    ]
    assert all(" ± " in cell for cell in display.iloc[:, 1:].to_numpy().ravel())


def test_table1_rows_share_resamples_and_one_count_maximum():
    rng = np.random.default_rng(2)
    data = rng.poisson(0.3, size=(30, 20, 5)).astype(float)
    model = rng.poisson(0.3, size=(30, 20, 5)).astype(float)
    loud = rng.poisson(2.0, size=(30, 20, 5)).astype(float)
    methods = {"a": model, "b": model.copy(), "loud": loud}
    protocol = table1_protocol(methods, data, fps=200, n_resamples=4, seed=3)
    assert protocol.max_count == int(loud.sum(axis=2).max())
    np.testing.assert_array_equal(protocol.resamples, bootstrap_indices(30, 4, 3))
    # a row computed on its own (e.g. a baseline's) under the protocol equals the table's row
    table = table1(methods, data, fps=200, n_resamples=4, seed=3).set_index("method")
    row_b = table1_row(methods["b"], data, protocol)
    for key in ("kl_psch", "rmse_corr", "rmse_mean_isi", "rmse_std_isi"):
        assert table.loc["a", f"{key}_mean"] == table.loc["b", f"{key}_mean"]
        assert row_b[key].mean == pytest.approx(table.loc["b", f"{key}_mean"])
    # the KDE grid of "a" runs to the loud method's maximum, not to its own
    alone = table1({"a": model}, data, fps=200, n_resamples=4, seed=3).set_index("method")
    assert alone.loc["a", "kl_psch_mean"] != table.loc["a", "kl_psch_mean"]
    with pytest.raises(ValueError, match="equal trial counts"):
        table1_protocol({"a": model, "short": model[:10]}, data, fps=200)


def test_table1_truth_row_is_a_method_row_before_the_split_half():
    # simulations: Poisson spikes of the true rates are scored like a method (same resamples,
    # same count grid) and listed before the split half, whose halves have half the trials
    rng = np.random.default_rng(4)
    rates = rng.gamma(2.0, 0.2, size=(40, 1, 6)) * np.ones((1, 25, 1))
    data = rng.poisson(rates).astype(float)
    truth = rng.poisson(rates).astype(float)
    methods = {"flat": rng.poisson(rates.mean(), size=rates.shape).astype(float)}
    table = table1(methods, data, fps=100, n_resamples=3, seed=1, truth_spikes=truth)
    assert list(table["method"]) == ["flat", TRUTH_ROW, REFERENCE_ROW]
    protocol = table1_protocol(methods | {TRUTH_ROW: truth}, data, fps=100, n_resamples=3, seed=1)
    row = table1_row(truth, data, protocol)
    rows = table.set_index("method")
    for key in ("kl_psch", "rmse_corr", "rmse_mean_isi", "rmse_std_isi"):
        assert rows.loc[TRUTH_ROW, f"{key}_mean"] == pytest.approx(row[key].mean)
    assert rows.loc[TRUTH_ROW, "rmse_mean_isi_mean"] < rows.loc["flat", "rmse_mean_isi_mean"]
    assert list(table1(methods, data, fps=100, n_resamples=3, seed=1)["method"]) == [
        "flat",
        REFERENCE_ROW,
    ]


def test_table1_rejects_masks_of_unknown_methods():
    data = np.ones((4, 5, 3))
    with pytest.raises(ValueError, match="unknown methods"):
        table1({"a": data}, data, fps=1, method_masks={"b": np.ones((4, 5), bool)})


def test_hyperparameter_tables_reflect_the_settings():
    other = dataclasses.replace(AE, hidden_channels=16, num_blocks=2, bidirectional=True)
    table2 = autoencoder_hparams({"lorenz": AE, "mc_maze": other}, {"lorenz": 6, "mc_maze": 9})
    rows = table2.set_index("setting")
    assert rows.loc["hidden channels", "lorenz"] == "8"
    assert rows.loc["hidden channels", "mc_maze"] == "16"
    assert rows.loc["bidirectional", "mc_maze"] == "True"
    assert rows.loc["input channels", "mc_maze"] == "9"
    assert rows.loc["latent clip", "lorenz"] == "none"
    expected = parameter_count(S4Autoencoder(**other.architecture(9)))
    assert rows.loc["parameters", "mc_maze"] == str(expected)

    angle = dataclasses.replace(DENOISER, conditioning="angle", samplers=("ddpm",))
    table3 = denoiser_hparams(
        {"tiny_unconditional": DENOISER, "tiny_angle": angle}, {"tiny": 4}
    ).set_index("setting")
    assert table3.loc["samplers", "tiny_unconditional"] == "ddpm, ddim"
    assert table3.loc["conditioning", "tiny_angle"] == "angle"
    assert table3.loc["smooth l1 beta", "tiny_angle"] == "0.04"
    assert int(table3.loc["parameters", "tiny_angle"]) > int(
        table3.loc["parameters", "tiny_unconditional"]
    )


def test_velocity_decoding_recovers_a_linear_readout():
    rng = np.random.default_rng(0)
    velocity = rng.normal(size=(30, 10, 2))
    rates = velocity @ rng.normal(size=(2, 7)) + 1.0
    split = np.array(["train"] * 20 + ["val"] * 5 + ["test"] * 5)
    table, _ = velocity_decoding_table(
        rates, velocity, split, 1e-6, {"shuffled": (rates[:5], velocity[5:10])}
    )
    r2 = table.set_index("evaluated_on")["r2"]
    assert r2["AE rates, val trials"] == pytest.approx(1.0, abs=1e-6)
    assert r2["AE rates, test trials"] == pytest.approx(1.0, abs=1e-6)
    assert r2["shuffled"] < 0.5


def test_velocity_decoding_table_scores_end_point_angles():
    rng = np.random.default_rng(1)
    theta = rng.uniform(-np.pi, np.pi, 40)
    speed = np.sin(np.linspace(0, np.pi, 10))[None, :, None]
    velocity = speed * np.stack([np.cos(theta), np.sin(theta)], axis=-1)[:, None, :]
    rates = velocity @ rng.normal(size=(2, 7)) + 1.0
    split = np.array(["train"] * 20 + ["val"] * 10 + ["test"] * 10)
    table, _ = velocity_decoding_table(
        rates,
        velocity,
        split,
        1e-6,
        angle=(0.02, 3),
        angle_samples={"follows": (rates[:10], theta[:10]), "ignores": (rates[:10], theta[10:20])},
    )
    circ = table.set_index("evaluated_on")["endpoint_circ_r"]
    assert circ["AE rates, test trials"] == pytest.approx(1.0, abs=1e-6)
    assert circ["true hand paths, test trials"] == pytest.approx(1.0, abs=1e-9)
    assert circ["follows"] == pytest.approx(1.0, abs=1e-6)
    assert abs(circ["ignores"]) < 0.8
    assert table.set_index("evaluated_on")["r2"].isna()[["follows", "ignores"]].all()


def test_monkey_methods_names_and_order():
    ldns = {"ddpm_spikes": 1, "ddim_spikes": 2}
    sh = {"ldns_ddpm": 3, "ldns_ddim": 4, "lfads": 6}
    methods = monkey_methods(ldns, {"spikes": 5}, sh)
    assert methods == {
        "LDNS": 1,
        "LDNS+sh": 3,
        "LDNS (DDIM)": 2,
        "LDNS+sh (DDIM)": 4,
        "LFADS": 5,
        "LFADS+sh": 6,
    }


def test_read_monkey_methods_matches_monkey_methods_of_the_files(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "ldns": {"ddpm_spikes": rng.poisson(1.0, (3, 4, 2))},
        "lfads": {"spikes": rng.poisson(1.0, (3, 4, 2))},
        "spike_history": {"ldns_ddpm": rng.poisson(1.0, (3, 4, 2)), "lfads": np.zeros((3, 4, 2))},
        "autolfads": {"spikes": np.ones((3, 4, 2))},
        "pivae": {"spikes": np.full((3, 4, 2), 2.0)},
        "tndm": {"spikes": np.full((3, 4, 2), 3.0)},
        "baseline_history": {"autolfads": np.full((3, 4, 2), 4.0)},
    }
    assert set(BASELINE_INPUTS) <= set(arrays)
    paths = {key: tmp_path / f"{key}.npz" for key in arrays}
    for key, path in paths.items():
        write_npz(path, arrays[key])
    methods = read_monkey_methods(paths)
    expected = monkey_methods(
        arrays["ldns"],
        arrays["lfads"],
        arrays["spike_history"],
        {key: arrays[key] for key in BASELINE_INPUTS},
    )
    assert list(methods) == list(expected)
    for name, spikes in expected.items():
        np.testing.assert_array_equal(methods[name], spikes)


def test_diffusion_schedule_reads_the_config_section():
    section = {
        "num_train_timesteps": 50,
        "beta_schedule": "linear",
        "beta_start": 1e-4,
        "beta_end": 0.02,
    }
    assert diffusion_schedule(section) == make_schedule(**section)
    with pytest.raises(ValueError, match="ldns.diffusion: unknown keys"):
        diffusion_schedule({**section, "steps": 3})


def test_load_sampling_models_restores_ema_weights_and_autoencoder(tmp_path):
    settings = dataclasses.replace(DENOISER, conditioning="velocity")
    torch.manual_seed(0)
    ema = build_denoiser(settings, AE.latent_channels, VELOCITY_CHANNELS)
    torch.save({"model": None, "ema": ema.state_dict()}, tmp_path / "denoiser.pt")
    architecture = AE.architecture(N_NEURONS)
    autoencoder = S4Autoencoder(**architecture)
    save_autoencoder(tmp_path / "ae.pt", AutoencoderFit(autoencoder, 1, 0.0, []), architecture)
    denoiser, loaded_ae = load_sampling_models(
        tmp_path / "denoiser.pt", tmp_path / "ae.pt", settings, AE.latent_channels, "cpu"
    )
    assert not denoiser.training and not loaded_ae.training
    for name, weight in ema.state_dict().items():
        torch.testing.assert_close(denoiser.state_dict()[name], weight)
    for name, weight in autoencoder.state_dict().items():
        torch.testing.assert_close(loaded_ae.state_dict()[name], weight)
