"""GNOCCHI experiment: unseen conditions stay out of training; generation scores; table."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from neurodiff.data.simulate.reaching import simulate_reaching
from neurodiff.data.tidy import TidyDataset
from neurodiff.metrics.decoding import angle_difference_deg
from neurodiff.metrics.spikes import fano_factors, psth_r2
from neurodiff.models.baselines.lfads import lfads_from_config
from neurodiff.models.gnocchi.evaluation import (
    LfadsCodes,
    RealDecoders,
    condition_means,
    generation_scores,
    split_halves,
    traversal_grid,
)
from neurodiff.models.gnocchi.experiment import (
    ExperimentData,
    circular_mean,
    gnocchi_transform,
    in_sector,
    load_experiment_data,
    load_model,
    path_curvature,
    train_model,
    training_tensors,
)
from neurodiff.models.gnocchi.settings import DatasetSettings, GnocchiSettings, TrainSettings
from neurodiff.models.gnocchi.tables import caption, display_table, read_metric_rows, summarise

TESTS_ROOT = pathlib.Path(__file__).resolve().parents[1]
REACHING_CFG = DatasetSettings(
    **{
        "rebin": 1,
        "transform": "smoothed_zscore",
        "smooth_sigma_bins": 1.5,
        "decoder_lag_s": 0.1,
    }
)
MAZE_CFG = DatasetSettings(
    **{
        "rebin": 2,
        "transform": "sqrt",
        "smooth_sigma_bins": 1.0,
        "decoder_lag_s": 0.0,
        "heldout_sector_deg": [80, 100],
        "heldout_trial_versions": [1],
    }
)


@pytest.fixture
def reaching_file(tmp_path):
    """A small synthetic reaching file whose angle 2 (90°) is unseen."""
    ds = simulate_reaching(
        n_trials=96, n_neurons=8, n_bins=50, n_angles=4, heldout_angles=(1,), seed=3
    )
    path = tmp_path / "reaching.h5"
    ds.write(path)
    return path


def maze_dataset(n_per_condition: int = 6) -> TidyDataset:
    """A maze-like tidy set: 4 directions × 2 versions; version 1 curves to one side."""
    rng = np.random.default_rng(0)
    angles, versions = np.repeat(np.arange(4) * math.pi / 2, 2), np.tile([0, 1], 4)
    n = 8 * n_per_condition
    condition = np.repeat(np.arange(8), n_per_condition)
    theta, version = angles[condition], versions[condition]
    time = np.linspace(0, 1, 40)
    bell = np.sin(np.pi * time) ** 2
    side = np.where(version == 1, 1.0, 0.0)[:, None] * np.cos(np.pi * time)[None]
    vx = bell[None] * np.cos(theta)[:, None] - side * np.sin(theta)[:, None]
    vy = bell[None] * np.sin(theta)[:, None] + side * np.cos(theta)[:, None]
    velocity = np.stack([vx, vy], axis=-1) * 100
    counts = rng.poisson(0.5, size=(n, 40, 5)).astype(np.float32)
    counts[condition == 3] += 50  # a marker: these trials must never be trained on
    split = np.where(np.arange(n) % 3 == 0, "test", np.where(np.arange(n) % 6 == 1, "val", "train"))
    return TidyDataset(
        name="mc_maze",
        signals=counts,
        split=split,
        bin_size_s=0.005,
        behavior=velocity,
        behavior_names=["hand_vel_x", "hand_vel_y"],
        conditions={
            "trial_type": condition // 2,
            "trial_version": version,
            "condition": condition,
            "reach_angle": theta,
        },
    )


def test_reaching_unseen_trials_never_train(reaching_file):
    data = load_experiment_data(reaching_file, "reaching", REACHING_CFG)
    assert data.unseen.any()
    assert not np.intersect1d(data.train_idx, data.unseen_idx).size
    assert not np.intersect1d(data.eval_idx, data.unseen_idx).size
    assert set(data.split[data.unseen_idx]) == {"test"}
    assert np.allclose(np.degrees(data.reach_angle[data.unseen_idx]), 90.0)
    assert data.decoder_lag_bins == 5
    transform = gnocchi_transform(data, REACHING_CFG)
    assert training_tensors("gnocchi", data, transform).shape[0] == data.train_idx.size


def test_maze_unseen_conditions_are_excluded_from_training(tmp_path):
    path = tmp_path / "mc_maze.h5"
    maze_dataset().write(path)
    data = load_experiment_data(path, "mc_maze", MAZE_CFG)
    assert set(data.condition[data.unseen_idx]) == {3}  # 90°, version 1
    assert set(data.split[data.unseen_idx]) == {"train", "val", "test"}  # unseen in every split
    counts = training_tensors("lfads", data, None)
    assert counts.shape[0] == data.train_idx.size and counts.max() < 50
    assert data.counts.shape[1] == 20  # rebinned by 2
    assert np.allclose(data.factors[:, 2][data.condition % 2 == 0], 0, atol=1e-6)
    assert np.all(data.factors[:, 2][data.condition % 2 == 1] > 0.1)
    model_cfg = {"ic_enc_dim": 4, "ic_dim": 2, "gen_dim": 4, "factor_dim": 2}
    run = train_model(
        "lfads",
        data,
        model_cfg,
        TrainSettings(
            steps=2,
            batch_size=4,
            lr=1e-3,
            weight_decay=0.0,
            warmup_steps=1,
            grad_clip=1.0,
            checkpoint_every=2,
            log_every=1,
        ),
        seed=0,
        run_dir=tmp_path / "run",
        progress=False,
    )
    assert (tmp_path / "run" / "model.pt").exists() and len(run.history) == 2
    # selected on validation loss, not the last step
    val = [row["val_loss"] for row in run.history]
    assert run.best.step == run.history[int(np.argmin(val))]["step"]
    loaded = load_model("lfads", data, model_cfg, tmp_path / "run" / "model.pt")
    assert not loaded.training
    for key, value in run.best.state_dict.items():
        torch.testing.assert_close(loaded.state_dict()[key], value.cpu(), rtol=0, atol=0)
    # an old checkpoint (last-step weights only) or another architecture is refused by name
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    torch.save({"model": payload["model"], "ema": None}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="old.pt: no best-on-validation"):
        load_model("lfads", data, model_cfg, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="do not fit the configured architecture"):
        load_model("lfads", data, model_cfg | {"gen_dim": 6}, tmp_path / "run" / "model.pt")


def test_bad_heldout_config_is_named(tmp_path):
    path = tmp_path / "mc_maze.h5"
    maze_dataset().write(path)
    with pytest.raises(ValueError, match="unseen"):
        load_experiment_data(
            path, "mc_maze", dataclasses.replace(MAZE_CFG, heldout_sector_deg=(10, 20))
        )
    with pytest.raises(KeyError, match="speed_index"):
        load_experiment_data(path, "reaching", REACHING_CFG)


def test_angles_sectors_and_curvature():
    assert in_sector(math.radians(355), (350, 10)) and not in_sector(math.radians(20), (350, 10))
    assert circular_mean(np.radians([350.0, 10.0])) == pytest.approx(0.0, abs=1e-9)
    assert angle_difference_deg(np.radians(350.0), np.radians(10.0)) == pytest.approx(20.0)
    straight = np.tile([[1.0, 0.0]], (1, 10, 1))
    assert path_curvature(straight, 0.1) == pytest.approx([0.0])
    arc = np.stack(
        [
            np.cos(np.linspace(0, math.pi, 50) - math.pi / 2),
            np.sin(np.linspace(0, math.pi, 50) - math.pi / 2),
        ],
        axis=-1,
    )[None]
    # a semicircle below its chord (to the right when moving along +x): depth / chord = −1/2
    assert path_curvature(arc, 0.01)[0] == pytest.approx(-0.5, abs=0.03)


def test_psth_r2_and_fano_known_answers():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2, 30, 4))
    assert psth_r2(data, data) == pytest.approx(1.0)
    flat = np.broadcast_to(data.mean(axis=(0, 1), keepdims=True), data.shape)
    assert psth_r2(flat, data) == pytest.approx(0.0, abs=1e-12)
    poisson = rng.poisson(3.0, size=(4000, 1, 3)).astype(float)
    assert fano_factors(poisson, np.zeros(4000)) == pytest.approx(np.ones(3), abs=0.08)
    assert np.allclose(fano_factors(np.ones((5, 2, 3)), np.zeros(5)), 0.0)
    labels = np.array([0, 0, 1])
    means = condition_means(np.array([1.0, 3.0, 10.0]), labels, np.array([1, 0]))
    assert means.tolist() == [10.0, 2.0]
    first, second = split_halves(np.array([0, 0, 0, 0, 1, 1, 2]), seed=0)
    assert not np.intersect1d(first, second).size and first.size == second.size == 3


def linear_world(seed: int = 0) -> tuple[ExperimentData, RealDecoders]:
    """Trials whose hand velocity is an exact linear read-out of their (constant-rate) activity."""
    rng = np.random.default_rng(seed)
    n, t, k = 40, 12, 6
    condition = np.repeat(np.arange(4), 10)
    angle = condition * math.pi / 2 + 0.3
    profile = np.sin(np.linspace(0, math.pi, t))
    velocity = profile[None, :, None] * np.stack([np.cos(angle), np.sin(angle)], 1)[:, None, :]
    readout = rng.normal(size=(k, 2))
    activity = velocity @ np.linalg.pinv(readout) + 5.0
    decoder = Ridge(alpha=1e-9).fit(activity.reshape(-1, k), velocity.reshape(-1, 2))
    factor = Ridge(alpha=1e-9).fit(activity.mean(axis=1), np.cos(angle)[:, None])
    data = ExperimentData(
        name="reaching",
        counts=activity,
        velocity=velocity,
        bin_size_s=0.02,
        factors=np.stack([np.cos(angle), np.sin(angle), np.zeros(n)], 1),
        factor_names=["cos θ", "sin θ", "speed"],
        reach_angle=angle,
        condition=condition,
        split=np.array(["train"] * n),
        unseen=np.zeros(n, bool),
        decoder_lag_bins=0,
        condition_labels={},
    )
    # smoothing with a tiny σ leaves these constant-in-condition traces (almost) unchanged
    return data, RealDecoders(decoder, factor, np.ones(1), 1e-3, 1, 0)


def test_generation_scores_perfect_and_wrong_generation():
    data, decoders = linear_world()
    args = (data.counts, data.velocity, data.reach_angle, data.condition, decoders, 0.02)
    perfect, arrays = generation_scores(data.counts, data.counts, data.condition, *args)
    assert perfect["velocity_r2"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["endpoint_error_deg"] == pytest.approx(0.0, abs=1e-4)
    assert perfect["psth_r2"] == pytest.approx(1.0)
    assert perfect["rate_rmse_hz"] == pytest.approx(0.0) and perfect["corr_rmse"] < 1e-9
    assert arrays["decoded_trajectory"].shape == (4, 12, 2)
    shifted = np.roll(data.condition, 10)  # every generated trial labelled with the next condition
    wrong, _ = generation_scores(data.counts, data.counts, shifted, *args)
    assert wrong["endpoint_error_deg"] == pytest.approx(90.0, abs=1e-3)
    assert wrong["velocity_r2"] < 0


def test_lfads_traversal_moves_exactly_one_principal_axis():
    torch.manual_seed(0)
    model = lfads_from_config(5, {"ic_enc_dim": 8, "ic_dim": 4, "gen_dim": 8, "factor_dim": 3})
    counts = np.random.default_rng(0).poisson(1.0, size=(12, 10, 5)).astype(np.float32)
    codes_model = LfadsCodes(model, code_dim=2)
    latents = codes_model.latents(counts)
    codes_model.fit_codes(latents)
    rates = codes_model.traversal_rates(counts[:3], axis=1, values=np.array([-1.0, 2.0]))
    assert rates.shape == (2, 3, 10, 5) and (rates > 0).all()
    g0 = latents[:3]
    direction = codes_model.alignment.pca.components_[1]
    moved = g0 + (2.0 - codes_model.codes(g0)[:, 1])[:, None] * direction
    assert np.allclose(codes_model.codes(moved)[:, 1], 2.0, atol=1e-5)
    assert np.allclose(codes_model.codes(moved)[:, 0], codes_model.codes(g0)[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="ic_dim"):
        LfadsCodes(model, code_dim=5)


def test_traversal_grid_spans_mean_plus_minus_range_within_the_data():
    codes = np.array([[0.0, 1.0], [2.0, 3.0], [-4.0, 0.0], [6.0, 0.0]])
    grid = traversal_grid(codes, 0, traversal_range=0.5, n_points=3)
    np.testing.assert_allclose(grid, [1.0 - 0.5 * np.sqrt(13), 1.0, 1.0 + 0.5 * np.sqrt(13)])
    # a range beyond the data is clipped to the training codes' range
    assert traversal_grid(codes, 0, traversal_range=3.0, n_points=3).tolist() == [-4.0, 1.0, 6.0]


def write_metrics(tmp_path, dataset, seed, gnocchi_mig, lfads_mig):
    path = tmp_path / f"{dataset}_{seed}.json"
    path.write_text(
        json.dumps(
            {
                "dataset": dataset,
                "seed": seed,
                "models": {
                    "gnocchi": {"mig": gnocchi_mig, "velocity_r2": 0.5},
                    "lfads": {"mig": lfads_mig, "velocity_r2": 0.25},
                    "data": {"velocity_r2": 0.9},
                },
            }
        )
    )
    return path


def test_table_mean_std_over_seeds(tmp_path):
    paths = [
        write_metrics(tmp_path, "reaching", 0, 0.4, 0.1),
        write_metrics(tmp_path, "reaching", 1, 0.6, 0.3),
        write_metrics(tmp_path, "mc_maze", 0, 0.2, 0.2),
    ]
    summary = summarise(read_metric_rows(paths))
    row = summary[
        (summary.dataset == "reaching") & (summary.model == "gnocchi") & (summary.metric == "mig")
    ].iloc[0]
    assert row["mean"] == pytest.approx(0.5) and row["std"] == pytest.approx(0.1414, abs=1e-4)
    assert row["n_seeds"] == 2
    single = summary[(summary.dataset == "mc_maze") & (summary.metric == "mig")]
    assert (single["std"] == 0).all()
    display = display_table(summary).set_index("metric")
    mig = "MIG ↑ (aligned)"
    assert display.loc[mig, "synthetic reaching: GNOCCHI"] == "0.50 ± 0.14"
    assert display.loc[mig, "MC_Maze: GNOCCHI"] == "0.200 ± 0.000"  # one seed
    assert display.loc[mig, "MC_Maze: ceiling: data split half"] == "—"  # no MIG for the data
    assert list(display.columns)[:2] == ["synthetic reaching: GNOCCHI", "synthetic reaching: LFADS"]
    assert list(display.index) == [mig, "unseen: decoded velocity R² ↑"]
    assert "over 1/2 seeds, quick preset" in caption(summary, "quick")
    with pytest.raises(ValueError, match="appears twice"):
        summarise(read_metric_rows([paths[0], paths[0]]))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"dataset": "reaching"}))
    with pytest.raises(KeyError, match="broken.json"):
        read_metric_rows([broken])


def test_settings_name_the_config_key_and_parse_the_section():
    """Unknown keys and bad values name their key; the default section parses."""
    from neurodiff.config import load_yaml

    config_file = TESTS_ROOT / "config" / "config.yaml"
    section = load_yaml(config_file)["gnocchi"]
    settings = GnocchiSettings.from_config(section)
    assert settings.gnocchi.train.as_dict() == section["gnocchi"]["train"]
    assert settings.datasets["mc_maze"].heldout_sector_deg == tuple(
        section["datasets"]["mc_maze"]["heldout_sector_deg"]
    )
    bad = section | {"datasets": section["datasets"] | {"reaching": {"rebin": 1, "typo": 2}}}
    with pytest.raises(ValueError, match=r"gnocchi\.datasets\.reaching: unknown keys \['typo'\]"):
        GnocchiSettings.from_config(bad)
    train = section["lfads"]["train"] | {"warmup_steps": 10**6}
    with pytest.raises(ValueError, match=r"gnocchi\.lfads\.train: warmup_steps"):
        GnocchiSettings.from_config(section | {"lfads": section["lfads"] | {"train": train}})
