"""GNOCCHI figures drawn from small synthetic evaluation arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodiff.plots import gnocchi as plots
from neurodiff.plots.style import PRESET_STAMP_GID, dataset_title, save_figure

N, T, L, P = 30, 12, 3, 4


def fake_arrays(maze: bool) -> dict[str, np.ndarray]:
    """Arrays shaped like the evaluation rule's output for 6 conditions, one unseen."""
    rng = np.random.default_rng(0)
    condition = np.repeat(np.arange(6), 5)
    angle = condition * np.pi / 3
    names = [f"maze {c // 2}, v{c % 2}" if maze else f"{c * 60}°, 0.4 m/s" for c in range(6)]
    paths = np.cumsum(rng.normal(size=(6, T, 2)), axis=1)
    out = {
        "factors": np.stack([np.cos(angle), np.sin(angle), rng.normal(size=N)], 1),
        "condition": condition,
        "reach_angle": angle,
        "train_idx": np.arange(0, 20),
        "eval_idx": np.arange(20, 25),
        "unseen_idx": np.arange(25, 30),
        "unseen_labels": np.array([5]),
        "true_trajectory": paths[5:],
        "real_decoded_trajectory": paths[5:] + 0.1,
        "psth_data": rng.random((1, T, 7)),
        "train_labels": np.arange(5),
        "train_trajectory": paths[:5],
        "bin_size_s": np.array(0.02),
        "factor_names": np.array(["cos θ", "sin θ", "curvature" if maze else "speed"]),
        "condition_ids": np.arange(6),
        "condition_names": np.array(names),
        "mi_factor_names": np.array(["angle", "curvature" if maze else "speed"]),
    }
    for model in plots.MODELS:
        out |= {
            f"{model}/codes": rng.normal(size=(N, L)),
            f"{model}/normalised_mi": rng.random((L, 2)),
            f"{model}/traversal_changes": rng.random((L, 3)),
            f"{model}/traversal_trajectories": np.cumsum(rng.normal(size=(L, P, T, 2)), 2),
            f"{model}/traversal_grid": rng.normal(size=(L, P)),
            f"{model}/traversal_match": np.array([0, 1, 2]),
            f"{model}/generated_trajectory": paths[5:] * 0.9,
            f"{model}/generated_psth": rng.random((1, T, 7)),
        }
    return out


def fake_metrics(tmp_path) -> plots.SeedMetrics:
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"m{seed}.json"
        codes = {
            "mig": 0.1 * seed,
            "dci_d": 0.5,
            "dci_c": 0.4,
            "sap": 0.2,
            "r2_angle": 0.6,
            "r2_speed": 0.3,
        }
        values = codes | {
            "selectivity": 0.3,
            "velocity_r2": 0.4,
            "psth_r2": 0.5,
            "endpoint_error_deg": 10.0,
        }
        data = {"velocity_r2": 0.9, "psth_r2": 0.8, "endpoint_error_deg": 2.0}
        path.write_text(
            json.dumps(
                {
                    "dataset": "x",
                    "seed": seed,
                    "models": {
                        "gnocchi": values,
                        "lfads": values,
                        "data": data,
                        "nearest": data,
                        "truth": codes,
                        "pca_trials": codes,
                    },
                }
            )
        )
        paths.append(path)
    return plots.load_seed_metrics(paths)


def test_seed_metrics_and_their_summary(tmp_path):
    metrics = fake_metrics(tmp_path)
    assert metrics["gnocchi"]["mig"] == [0.0, 0.1]
    assert plots.seed_summary(metrics, "gnocchi", "mig") == "0.050 ± 0.071"
    assert plots.seed_summary(metrics, "data", "mig") == "n/a"
    fig, ax = plots.plt.subplots()
    with pytest.raises(ValueError, match="no model has all of the metrics"):
        plots._metric_bars(ax, metrics, [("not_a_metric", "x")])
    plots.plt.close(fig)


FROM_EVALUATION = [
    "plot_fig2_synthetic_latents",
    "plot_fig3_synthetic_traversal",
    "plot_fig4_monkey_latents",
    "plot_fig5_monkey_heldout",
]


@pytest.mark.parametrize("name", FROM_EVALUATION)
def test_figures_are_returned_and_saved(tmp_path, name):
    maze = "monkey" in name
    fig = getattr(plots, name)(
        fake_arrays(maze), fake_metrics(tmp_path), 0, "quick", data_label="test data"
    )
    assert isinstance(fig, plots.Figure)
    save_figure(fig, tmp_path / name)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 1000


def test_schematic_text_follows_the_config(tmp_path):
    cfg = {
        "code_dim": 5,
        "gnocchi": {
            "model": {
                "channels": 8,
                "channel_mult": [1, 3],
                "res_blocks": 2,
                "groups": 4,
                "attention": True,
                "filter_kernel": 0,
                "encoder_kind": "gru",
                "encoder_layers": 1,
                "encoder_hidden": 9,
                "encoder_kernel": 5,
                "recon_weight": 1.0,
                "mmd_weight": 0.1,
                "mmd_kernel": "imq",
                "kl_weight": 0.0,
                "schedule": {"num_train_timesteps": 70, "beta_start": 1e-4, "beta_end": 0.1},
            },
            "sampling": {"ddim_steps": 7, "eta": 0.0},
        },
        "lfads": {"model": {"ic_dim": 6, "gen_dim": 11, "factor_dim": 3, "co_dim": 0}},
    }
    text = plots.schematic_text(cfg)
    assert "[8, 24]" in text["unet"] and "2 ResBlock" in text["unet"]
    assert "gru" in text["encoder"] and "T = 70" in text["noise"]
    assert "imq" in text["loss"] and "DDIM, 7 steps" in text["generate"]
    assert "first 5 principal axes" in text["lfads"]
    rng = np.random.default_rng(0)
    fig = plots.plot_fig1_schematic(
        cfg, rng.random((4, 10)), rng.random((4, 10)), {"toy": "4 × 10"}, "quick"
    )
    save_figure(fig, tmp_path / "fig1")
    assert (tmp_path / "fig1.png").exists()


def test_figures_state_their_preset(tmp_path):
    fig = plots.plot_fig5_monkey_heldout(
        fake_arrays(True), fake_metrics(tmp_path), 0, "quick", data_label="test data"
    )
    assert [t.get_text() for t in fig.texts if t.get_gid() == PRESET_STAMP_GID] == ["quick preset"]
    plots.plt.close(fig)


@pytest.mark.parametrize(
    "name, dataset",
    [
        ("plot_fig2_synthetic_latents", "reaching"),
        ("plot_fig3_synthetic_traversal", "reaching"),
        ("plot_fig4_monkey_latents", "mc_maze"),
        ("plot_fig5_monkey_heldout", "mc_maze"),
    ],
)
@pytest.mark.parametrize("simulated", [True, False])
def test_titles_name_the_data(tmp_path, name, dataset, simulated):
    """MC_Maze figures say 'MC_Maze-like simulation' only when the data are simulated;
    synthetic reaching is a simulation by name."""
    label = dataset_title(dataset, simulated)
    fig = getattr(plots, name)(
        fake_arrays(dataset == "mc_maze"), fake_metrics(tmp_path), 0, "quick", data_label=label
    )
    suptitle = fig.get_suptitle()
    plots.plt.close(fig)
    assert f"GNOCCHI vs LFADS, {label}" in suptitle
    if dataset == "mc_maze":
        assert ("MC_Maze-like simulation" in suptitle) == simulated
    else:
        assert "synthetic reaching" in suptitle
