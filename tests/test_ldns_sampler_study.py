"""The DDIM step-count study: configurations, the one-σ match rule on constructed numbers, and
the whole path (timed sampling of tiny trained models, scoring) on both datasets it accepts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from neurodiff.diffusion import make_schedule
from neurodiff.models.ldns.fit import train_denoiser
from neurodiff.models.ldns.generate import denoiser_inputs, encode_dataset
from neurodiff.models.ldns.sampler_study import (
    SamplerConfig,
    TimedSamples,
    caption,
    display,
    draw_timed,
    recommended_ddim_steps,
    score,
    study_configs,
    study_metrics,
    study_table,
)
from neurodiff.models.ldns.settings import SamplerStudySettings
from tests.test_ldns_pipeline import BEHAVIOR, DENOISER, fit_tiny_autoencoder, tiny_dataset


def test_configs_put_the_reference_first_and_ddim_in_increasing_steps():
    configs = study_configs(100, [50, 10, 20, 10])
    assert [c.label for c in configs] == ["DDPM-100", "DDIM-10", "DDIM-20", "DDIM-50"]
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        study_configs(100, [10, 200])
    with pytest.raises(ValueError, match="at least one"):
        study_configs(100, [])


def test_settings_reject_ddim_step_counts_beyond_the_reference():
    with pytest.raises(ValueError, match="reference_ddpm_steps=100"):
        SamplerStudySettings(
            models=["lorenz_unconditional"],
            reference_ddpm_steps=100,
            ddim_steps=[10, 500],
            n_samples=64,
            n_bootstrap=5,
        )


def timed(label_steps: list[tuple[str, int]], seconds: list[float]) -> list[TimedSamples]:
    """Stand-in samples (no spikes needed by study_table) with the given times per trial."""
    return [
        TimedSamples(SamplerConfig(s, n), np.zeros((1, 1, 1)), t)
        for (s, n), t in zip(label_steps, seconds, strict=True)
    ]


def test_match_is_one_pooled_sigma_of_the_reference():
    samples = timed([("ddpm", 1000), ("ddim", 10), ("ddim", 50)], [1.0, 0.01, 0.05])
    # reference 1.0 ± 0.3; DDIM-10 1.5 ± 0.4: pooled σ = √((0.09 + 0.16)/2) = 0.354 < 0.5 → no;
    # DDIM-50 1.3 ± 0.4: 0.3 ≤ 0.354 → yes. Metric b matches everywhere.
    scores = pd.DataFrame(
        {
            "method": ["DDPM-1000", "DDIM-10", "DDIM-50", "data (split half)"],
            "a_mean": [1.0, 1.5, 1.3, 0.2],
            "a_std": [0.3, 0.4, 0.4, 0.01],
            "b_mean": [5.0, 5.0, 5.1, 5.0],
            "b_std": [0.2, 0.2, 0.2, 0.0],
        }
    )
    table = study_table(samples, scores, {"a": "A", "b": "B"})
    assert table.match_a.tolist() == [True, False, True, False]
    assert table.match_b.tolist() == [True, True, True, False]
    assert table.match_all.tolist() == [True, False, True, False]
    np.testing.assert_allclose(table.speedup[:3], [1.0, 100.0, 20.0])
    assert np.isnan(table.speedup[3])
    assert recommended_ddim_steps(table) == 50
    shown = display(table, {"a": "A", "b": "B"})
    assert shown["matches DDPM on all"].tolist() == ["yes", "", "yes", ""]
    assert "match_a" not in shown.columns and shown["speed-up"][1] == "100.0×"


def test_no_recommendation_when_no_ddim_row_matches():
    samples = timed([("ddpm", 100), ("ddim", 10)], [1.0, 0.1])
    scores = pd.DataFrame({"method": ["DDPM-100", "DDIM-10"], "a_mean": [0, 9], "a_std": [1, 1]})
    table = study_table(samples, scores, {"a": "A"})
    assert recommended_ddim_steps(table) is None
    assert "No DDIM step count" in caption("DDPM-100", 64, 5, None, "cpu")


def test_study_scores_only_the_datasets_it_knows():
    assert set(study_metrics("mc_maze")) == {
        "kl_psch",
        "rmse_corr",
        "rmse_mean_isi",
        "rmse_std_isi",
    }
    assert set(study_metrics("lorenz")) == {
        "mean_isi",
        "std_isi",
        "correlations",
        "psch_density",
    }
    with pytest.raises(ValueError, match="'human'"):
        study_metrics("human")


@pytest.mark.parametrize("dataset", ["lorenz", "mc_maze"])
def test_study_samples_times_and_scores_tiny_trained_models(tmp_path, dataset):
    ds = dataclasses.replace(tiny_dataset(), name=dataset)
    fit = fit_tiny_autoencoder(ds, tmp_path / "ae")
    encoded = encode_dataset(fit.model, ds, None, {"selected_step": fit.step})
    schedule = make_schedule(num_train_timesteps=50)
    inputs = denoiser_inputs(encoded, ds, DENOISER, BEHAVIOR)
    denoiser = train_denoiser(inputs, DENOISER, schedule, tmp_path / "dn", 0, "cpu", False)
    configs = study_configs(20, [2, 5])
    lines: list[str] = []
    samples = draw_timed(
        denoiser, fit.model, encoded, schedule, configs, 12, 8, seed=3, progress=lines.append
    )
    assert [s.spikes.shape for s in samples] == [(12, ds.signals.shape[1], 6)] * 3
    assert all(s.seconds_per_trial > 0 for s in samples) and len(lines) == 3
    table = score(samples, ds, n_bootstrap=3, seed=0)
    assert table.method.tolist()[:3] == ["DDPM-20", "DDIM-2", "DDIM-5"]
    assert table.match_all[0]  # the reference matches itself
    metrics = study_metrics(dataset)
    assert np.isfinite(table.loc[:2, [f"{m}_mean" for m in metrics]].to_numpy()).all()
    # deterministic DDIM from the same seed: drawing again gives the same spikes
    again = draw_timed(denoiser, fit.model, encoded, schedule, configs[1:2], 12, 8, seed=3)
    np.testing.assert_array_equal(again[0].spikes, samples[1].spikes)
