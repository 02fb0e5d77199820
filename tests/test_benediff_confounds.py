"""BeNeDiff issue 16: the confounded simulation, leakage / TC metrics and guidance controls."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from neurodiff.data.simulate.widefield import (
    BEHAVIOR_FACTORS,
    load_truth,
    mixing_matrix,
    write_behavenet_like,
)
from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion import make_schedule
from neurodiff.metrics.decoding import leakage_r2
from neurodiff.metrics.disentangle import (
    assigned_dims,
    gaussian_block_mi,
    gaussian_total_correlation,
)
from neurodiff.models.benediff.generate import (
    FittedEncoder,
    guidance_groups,
    guide_session,
    specificity_rows,
)
from neurodiff.models.benediff.results import GuidedSamples, RegionLVMs
from neurodiff.models.benediff.video import (
    CodeScaler,
    FrameAutoencoder,
    LinearEncoder,
    SpaceTimeUNet,
    UNetConfig,
    encode_video,
)


def simulate(tmp_path, **kwargs):
    """A small confounded (or not) session; returns the file path and its truth."""
    path = tmp_path / "session.h5"
    truth = write_behavenet_like(path, n_trials=150, n_frames=40, seed=3, **kwargs)
    return path, truth


def test_mixing_matrix_plants_the_confounds_with_unit_rows():
    mixing = mixing_matrix(2, label_correlation=0.5, irrelevant_leak=0.4)
    np.testing.assert_allclose(np.linalg.norm(mixing, axis=1), 1.0)
    assert mixing[1, 0] == 0.5 and mixing[3, 0] == 0.4 and mixing[4, 1] == 0.4
    np.testing.assert_array_equal(mixing_matrix(2), np.eye(5))
    with pytest.raises(ValueError, match="irrelevant_leak"):
        mixing_matrix(2, irrelevant_leak=1.0)


def test_confounded_simulation_correlates_paw_and_jaw_and_leaks_into_irrelevant(tmp_path):
    path, truth = simulate(tmp_path, label_correlation=0.5, irrelevant_leak=0.5)
    paw, jaw = BEHAVIOR_FACTORS.index("paw_x"), BEHAVIOR_FACTORS.index("jaw")
    assert 0.3 < truth["label_correlation_matrix"][paw, jaw] < 0.65
    assert truth["leak_correlation"][0, paw] > 0.3 and truth["leak_correlation"][1, jaw] > 0.3
    saved = load_truth(path)  # saved beside the file, as before
    np.testing.assert_allclose(saved["mixing"], mixing_matrix(2, 0.5, 0.5), atol=1e-6)
    with h5py.File(path) as f:  # the BehaveNet layout the reader expects is unchanged
        assert {"images", "neural", "labels", "regions"} <= set(f)
        assert f["labels/trial_0000"].shape == (40, 3)
    _, independent = simulate(tmp_path, label_correlation=0.0, irrelevant_leak=0.0)
    assert abs(independent["label_correlation_matrix"][paw, jaw]) < 0.15
    assert np.abs(independent["leak_correlation"]).max() < 0.15


def test_gaussian_tc_and_block_mi_on_known_answers():
    rng = np.random.default_rng(0)
    r = 0.6
    cov = np.array([[1.0, r, 0.0], [r, 1.0, 0.0], [0.0, 0.0, 1.0]])
    samples = rng.multivariate_normal(np.zeros(3), cov, size=200_000)
    expected = -0.5 * np.log(1 - r**2)
    assert gaussian_total_correlation(samples) == pytest.approx(expected, abs=0.01)
    assert gaussian_block_mi(samples, [0]) == pytest.approx(expected, abs=0.01)
    assert gaussian_block_mi(samples, [0, 1]) == pytest.approx(0.0, abs=0.01)
    assert gaussian_total_correlation(rng.standard_normal((50_000, 4))) < 0.01
    with pytest.raises(ValueError, match="proper"):
        gaussian_block_mi(samples, [0, 1, 2])


def test_leakage_and_label_assignment_find_behaviour_in_unsupervised_dims():
    rng = np.random.default_rng(1)
    labels = rng.standard_normal((40, 20, 2))
    noise = rng.standard_normal((40, 20, 2))
    latents = np.concatenate(
        [labels[..., ::-1], noise, labels[..., :1] + 0.1 * noise[..., :1]], axis=-1
    )  # dims: jaw-ish, paw-ish, noise, noise, leaked paw
    train, test = np.arange(30), np.arange(30, 40)
    leaked = leakage_r2(latents, labels, [2, 3, 4], train, test)
    clean = leakage_r2(latents, labels, [2, 3], train, test)
    assert leaked[0] > 0.9 and clean.max() < 0.1
    assert assigned_dims(latents, labels).tolist() in ([1, 0], [4, 0])


def fitted_encoder(dims: tuple[int, ...], controls: tuple[int, ...], k: int = 5) -> FittedEncoder:
    encoder = LinearEncoder(np.eye(k, 16, dtype=np.float32), np.zeros(k, np.float32))
    return FittedEncoder(encoder, np.full(k, 0.5), dims, controls)


def test_groups_and_control_rows_use_the_best_label_and_their_own_kind():
    encoders = {
        ("benediff", 0, "VIS_L"): fitted_encoder((0, 1, 2), (3,)),
        ("beta_vae", 0, "VIS_L"): fitted_encoder((4, 4, 1), (0,)),
    }
    groups = guidance_groups(encoders)
    assert groups == [
        ("benediff", 0, "VIS_L", 0),
        ("benediff", 0, "VIS_L", 1),
        ("benediff", 0, "VIS_L", 2),
        ("benediff", 0, "VIS_L", 3),
        ("beta_vae", 0, "VIS_L", 4),
        ("beta_vae", 0, "VIS_L", 4),
        ("beta_vae", 0, "VIS_L", 1),
        ("beta_vae", 0, "VIS_L", 0),
    ]
    t = np.linspace(0, 6, 30)
    base = np.stack([np.sin(t), np.cos(t), np.sin(2 * t)], -1)[None].repeat(4, 0)
    guided = np.stack(
        [base * np.array(gain) for gain in ([2, 1, 1], [1, 2, 1], [1, 1, 2], [1, 1.2, 1])]
    )
    samples = GuidedSamples(
        groups[:4],
        {"exact": guided},
        {"exact": base},
        np.ones((4, 4)),
        np.ones((4, 4)),
        [],
        np.zeros(0),
        np.zeros(0),
    )
    rows = specificity_rows(samples, encoders, ["paw_x", "jaw", "lever"], {"benediff": 15.0})
    assert [r["kind"] for r in rows] == ["label"] * 3 + ["control"]
    assert rows[0]["specificity"] == pytest.approx(4.0)
    control = rows[3]
    assert control["factor"] == "unsupervised_3" and control["target_label"] == "jaw"
    assert control["specificity"] == pytest.approx(1.44)
    assert all(r["scale"] == 15.0 for r in rows)


def tiny_session(tmp_path) -> tuple[TidyDataset, dict[str, RegionLVMs]]:
    path, truth = simulate(tmp_path, label_correlation=0.5, irrelevant_leak=0.5)
    n, t = truth["factors"].shape[:2]
    with h5py.File(path) as f:
        video = np.stack([f[f"images/trial_{i:04d}"][()] for i in range(n)])
        labels = np.stack([f[f"labels/trial_{i:04d}"][()] for i in range(n)])
    split = np.array(["train"] * 110 + ["val"] * 20 + ["test"] * 20)
    ds = TidyDataset(
        name="widefield_s",
        signals=labels,
        split=split,
        bin_size_s=1 / 30,
        signal_kind="continuous",
        behavior=labels,
        behavior_names=list(BEHAVIOR_FACTORS),
        video=video,
        meta={"source": "untrained"},
    )  # ridge reader only
    rng = np.random.default_rng(0)
    factors = truth["factors"]
    latents = {
        "benediff": factors[None],
        "supervised_no_tc": factors[None],
        "beta_vae": (factors[..., ::-1] + 0.1 * rng.standard_normal(factors.shape))[None],
    }
    region = RegionLVMs(
        "VIS_L", list(BEHAVIOR_FACTORS), split, labels, labels, [0], latents, {}, {}, {}, []
    )
    return ds, {"VIS_L": region}


def test_guide_session_chooses_scales_on_validation_and_adds_controls_and_baselines(tmp_path):
    torch.manual_seed(0)
    ds, regions = tiny_session(tmp_path)
    autoencoder = FrameAutoencoder(2, 16, [8, 16], 1)
    codes = encode_video(autoencoder, ds.video)
    scaler = CodeScaler.fit(codes[ds.indices("train")])
    scaled = scaler.to_unit(torch.from_numpy(codes)).numpy()
    unet = SpaceTimeUNet(
        UNetConfig(
            channels=1,
            size=4,
            dim=8,
            dim_mults=(1, 2),
            heads=1,
            dim_head=4,
            groups=4,
            blocks_per_stage=1,
        )
    )
    section = {
        "methods": ["benediff", "supervised_no_tc", "beta_vae"],
        "scales": [1.0, 5.0],
        "selection_samples": 2,
        "control_dims": 1,
        "sampling_steps": 2,
        "samples_per_factor": 2,
        "encoder_ridge_alpha": 1.0,
        "label_decoder_alpha": 1.0,
        "label_decoder_pixels": 8,
        "chunk_size": 64,
        "saved_samples": 1,
        "seed": 0,
    }
    samples, rows, selection = guide_session(
        ds,
        scaled,
        scaler,
        autoencoder,
        unet,
        make_schedule(20, "squaredcos_cap_v2"),
        regions,
        section,
        mig_bins=10,
    )
    assert {r["method"] for r in rows} == set(section["methods"])
    for method in section["methods"]:
        mine = [r for r in rows if r["method"] == method]
        assert [r["kind"] for r in mine] == ["label"] * 3 + ["control"]
        chosen = [s for s in selection if s["method"] == method and s["chosen"]]
        assert len(chosen) == 1 and mine[0]["scale"] == chosen[0]["scale"]
        assert {s["scale"] for s in selection if s["method"] == method} == {1.0, 5.0}
    beta = [r for r in rows if r["method"] == "beta_vae" and r["kind"] == "label"]
    assert [r["dim"] for r in beta] == [4, 3, 2]  # the β-VAE latents are reversed
    assert samples.frame_groups[0][:2] == ("benediff", 0)
    assert samples.frames.shape[:2] == (4, 1)


def test_difference_strip_is_white_where_unchanged_and_red_where_brighter():
    from neurodiff.plots.benediff import SEPARATOR, difference_strip, frame_strip

    unguided = np.full((3, 2, 16, 16), 50, dtype=np.uint8)
    guided = unguided.copy()
    guided[:, 0, 4, 4] = 150  # brighter pixel in view 0 of every frame
    rgb = difference_strip(guided, unguided, 3, bound=100.0)
    grey = frame_strip(unguided, 3)
    assert rgb.shape == (*grey.shape, 3)
    inside = grey != SEPARATOR
    changed = frame_strip(guided, 3) != grey
    assert changed.sum() == 3  # one pixel per frame tile
    unchanged = inside & ~changed
    np.testing.assert_allclose(rgb[unchanged].std(axis=-1), 0.0, atol=0.02)  # near white
    assert rgb[unchanged].min() > 0.9
    red, green, blue = rgb[4, 4]
    assert red > 0.3 and red > 2 * blue  # the brighter pixel is at the red end


def test_cross_hemisphere_cca_uses_only_the_paw_factors():
    from neurodiff.models.benediff.analysis import cross_hemisphere

    rng = np.random.default_rng(0)
    n, t = 40, 30
    paw = rng.standard_normal((n, t))
    split = np.array(["train"] * 30 + ["test"] * 10)

    def region(name, noise_dims):
        latents = np.concatenate(
            [
                paw[..., None] + 0.05 * rng.standard_normal((n, t, 1)),
                rng.standard_normal((n, t, noise_dims)),
            ],
            axis=-1,
        )
        return RegionLVMs(
            name,
            ["paw_x", "jaw"],
            split,
            latents,
            latents[..., :2],
            [0],
            {"benediff": latents[None]},
            {},
            {},
            {},
            [],
        )

    result = cross_hemisphere(region("SSp_L", 3), region("SSp_R", 4), "SSp", ["paw_x"], 2)
    assert result.canonical_correlations.shape == (1,)  # one paw label → one component
    assert result.canonical_correlations[0] > 0.95
    assert result.left_canonical.shape == (t, 1) and result.example_trial == 30
