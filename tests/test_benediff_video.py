"""BeNeDiff's video side: frame autoencoder, space-time U-Net, linear encoder, guidance, GIFs."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from neurodiff.config import load_yaml
from neurodiff.data.simulate.widefield import extract_labels, render_video
from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion import make_schedule, objective_guidance
from neurodiff.diffusion.objective import alpha_bar
from neurodiff.metrics.generation import guidance_specificity, variance_ratios
from neurodiff.models.benediff.build import build_frame_autoencoder, parameter_counts
from neurodiff.models.benediff.fit import train_frame_autoencoder
from neurodiff.models.benediff.generate import fit_pixel_label_decoder, sample_code_videos
from neurodiff.models.benediff.report import table2_guidance_specificity
from neurodiff.models.benediff.results import GuidedSamples
from neurodiff.models.benediff.video import (
    CodeScaler,
    FrameAutoencoder,
    SpaceTimeUNet,
    UNetConfig,
    decode_video,
    encode_video,
    fit_linear_encoder,
    flatten_frame_codes,
    latent_variance_objective,
)
from neurodiff.plots.benediff import (
    GIF_HEADER,
    SchematicFacts,
    frame_strip,
    plot_fig2_schematic,
    plot_fig4_guided_videos,
    schematic_facts,
    write_guided_gif,
)
from neurodiff.plots.style import dataset_label

AE_SECTION = {
    "channels": [8, 16],
    "latent_channels": 1,
    "train": {
        "steps": 250,
        "batch_size": 64,
        "lr": 0.003,
        "grad_clip": None,
        "checkpoint_every": 1000,
        "log_every": 50,
    },
}


def rendered_videos(n: int = 24, t: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random (paw_x, jaw, lever) traces and their rendered 2-view 16×16 videos."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 3))
    behavior = 0.8 * np.sin(np.linspace(0, 3, t)[None, :, None] + phase)
    return behavior, render_video(behavior, (16, 16))


def test_frame_autoencoder_shapes_and_size_check():
    model = FrameAutoencoder(2, 16, [8, 16], latent_channels=1)
    frames = torch.rand(5, 2, 16, 16)
    assert model.encode(frames).shape == (5, 1, 4, 4) and model.code_shape == (1, 4, 4)
    assert model(frames).shape == frames.shape
    assert FrameAutoencoder(2, 32, [8, 8, 8], 2).encode(torch.rand(1, 2, 32, 32)).shape == (
        1,
        2,
        4,
        4,
    )
    with pytest.raises(ValueError, match="divisible"):
        FrameAutoencoder(2, 18, [8, 16])
    with pytest.raises(ValueError, match="frames must be"):
        model.encode(torch.rand(5, 1, 16, 16))


def test_frame_autoencoder_learns_to_reconstruct_the_labels(tmp_path):
    torch.set_num_threads(1)
    behavior, video = rendered_videos()
    model = train_frame_autoencoder(video, AE_SECTION, seed=0, run_dir=tmp_path, device="cpu")
    codes = encode_video(model, video)
    assert codes.shape == (24, 1, 12, 4, 4)
    recon = decode_video(model, torch.from_numpy(codes))
    mean_frame = video.mean(axis=(0, 1), keepdims=True)
    error = np.mean((recon / 255.0 - video / 255.0) ** 2)
    assert error < 0.25 * np.mean((mean_frame / 255.0 - video / 255.0) ** 2)
    lever_error = np.abs(extract_labels(recon)[..., 2] - behavior[..., 2]).mean()
    assert lever_error < 0.15
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize(
    "config, shape",
    [
        (
            UNetConfig(channels=1, size=4, dim=8, dim_mults=(1, 2, 4), heads=2, dim_head=8),
            (2, 1, 6, 4, 4),
        ),
        (
            UNetConfig(
                channels=3, size=1, dim=8, dim_mults=(1, 2), heads=2, dim_head=4, blocks_per_stage=1
            ),
            (2, 3, 9, 1, 1),
        ),
    ],
)
def test_space_time_unet_shapes_and_gradients(config, shape):
    model = SpaceTimeUNet(config)
    x, t = torch.randn(*shape), torch.tensor([0, 5])
    out = model(x, t)
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # zero-initialised output layer
    with torch.no_grad():
        model.output[-1].weight.normal_()
    loss = model(x, t).square().mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    with pytest.raises(ValueError, match="x must be"):
        model(torch.randn(2, config.channels, 6, 2, 2), t)


def test_unet_stage_sizes_follow_the_authors_spatial_downsampling():
    assert UNetConfig(size=4, dim_mults=(1, 2, 4)).stage_sizes() == [4, 2, 1]
    assert UNetConfig(size=1, dim_mults=(1, 2)).stage_sizes() == [1, 1]
    with pytest.raises(ValueError, match="cannot be halved"):
        UNetConfig(size=3, dim_mults=(1, 2)).stage_sizes()


def test_code_scaler_maps_the_training_range_to_unit_interval_and_back():
    codes = np.random.default_rng(0).normal(size=(6, 1, 5, 2, 2)).astype(np.float32)
    scaler = CodeScaler.fit(codes)
    unit = scaler.to_unit(torch.from_numpy(codes))
    assert unit.min() == pytest.approx(-1) and unit.max() == pytest.approx(1)
    torch.testing.assert_close(scaler.from_unit(unit), torch.from_numpy(codes))


def test_linear_encoder_recovers_a_known_map():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 6))
    weight, bias = rng.normal(size=(3, 6)), np.array([1.0, -1.0, 0.5])
    encoder = fit_linear_encoder(codes, codes @ weight.T + bias, alpha=1e-6)
    np.testing.assert_allclose(encoder.weight, weight, atol=1e-4)
    np.testing.assert_allclose(encoder.bias, bias, atol=1e-4)


def test_variance_objective_value_and_gradient():
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.randn(3, 1, 10, 2, 2, generator=gen) * 0.3).clamp(-0.9, 0.9)
    directions = torch.randn(3, 4, generator=gen)
    objective = latent_variance_objective(directions)
    factor = (flatten_frame_codes(x0) * directions[:, None]).sum(-1)
    torch.testing.assert_close(objective(x0), factor.var(dim=1, unbiased=False))
    hook = objective_guidance(objective)
    grad = hook(x0, torch.zeros(3, dtype=torch.long), x0)
    expected = 2 / 10 * (factor - factor.mean(1, keepdim=True))[..., None] * directions[:, None]
    torch.testing.assert_close(flatten_frame_codes(grad), expected)
    clipped = hook(x0, torch.zeros(3, dtype=torch.long), x0 + 5.0)  # all outside [−1, 1]
    assert torch.count_nonzero(clipped) == 0


def test_guidance_raises_the_target_factor_variance_only():
    """x₀ ~ N(0, 0.3²·I): the exact denoiser is known, so only guidance can differ."""
    schedule = make_schedule(50, "squaredcos_cap_v2")
    sigma2 = 0.3**2

    def optimal_eps(x_t, t, cond):
        a_bar = alpha_bar(schedule, t, x_t)
        return (1 - a_bar).sqrt() * x_t / (a_bar * sigma2 + 1 - a_bar)

    x_T = torch.randn(64, 1, 16, 2, 2, generator=torch.Generator().manual_seed(0))
    target = torch.zeros(64, 4)
    target[:, 1] = 1.0
    unguided = flatten_frame_codes(
        sample_code_videos(optimal_eps, schedule, x_T, None, 0.0, 25, 32)
    ).numpy()
    ratios = {
        scale: variance_ratios(
            flatten_frame_codes(
                sample_code_videos(optimal_eps, schedule, x_T, target, scale, 25, 32)
            ).numpy(),
            unguided,
        )
        for scale in (10.0, 20.0)
    }
    assert 1.3 < ratios[10.0][1] < ratios[20.0][1]
    assert ratios[20.0][1] > 2.0
    for value in ratios.values():  # the Gaussian denoiser keeps other dims untouched
        np.testing.assert_allclose(np.delete(value, 1), 1.0, atol=0.01)
    assert guidance_specificity(ratios[20.0], 1) > 2.0


def test_pixel_label_decoder_reads_labels_from_rendered_frames():
    behavior, video = rendered_videos(n=30, t=10)
    split = np.arange(30)
    decoder = fit_pixel_label_decoder(
        video, behavior, split[:24], split[24:], pixels=16, alpha=1e-2
    )
    assert decoder.heldout_r2.min() > 0.8
    assert decoder(video[:2]).shape == (2, 10, 3)


def test_table2_marks_planted_pairs_and_averages_seeds():
    rows = pd.DataFrame(
        {
            "session": ["s"] * 6,
            "method": ["benediff"] * 6,
            "kind": ["label"] * 4 + ["control"] * 2,
            "region": ["VIS_L"] * 6,
            "factor": ["jaw", "jaw", "lever", "lever", "unsupervised_3", "unsupervised_3"],
            "reader": ["exact"] * 6,
            "seed": [0, 1, 0, 1, 0, 1],
            "scale": [15.0] * 6,
            "encoder_r2": [0.9, 0.8, 0.1, 0.2, 0.0, 0.0],
            "latent_variance_ratio": [2.0, 2.0, 1.0, 1.0, 1.0, 1.0],
            "target_ratio": [2.0, 1.8, 1.0, 1.0, 1.1, 1.0],
            "other_ratio": [1.0] * 6,
            "specificity": [2.0, 1.8, 1.0, 0.9, 1.1, 1.0],
        }
    )
    table = table2_guidance_specificity(
        rows, {("s", "VIS_L", "jaw"): True, ("s", "VIS_L", "lever"): False}
    )
    assert table["planted"].tolist() == ["yes", "no", "control"]
    assert table["specificity_mean"].tolist() == pytest.approx([1.9, 0.95, 1.05])
    assert table["scale"].tolist() == [15.0] * 3
    assert table["method_label"].tolist() == ["BeNeDiff"] * 3


def test_frame_strip_and_gif_writer(tmp_path):
    _, video = rendered_videos(n=2, t=5)
    strip = frame_strip(video[0], 3)
    assert strip.shape == (16, 3 * (2 * 17 + 1)) and strip.dtype == np.uint8
    path = tmp_path / "guided.gif"
    write_guided_gif(
        path, video, video[::-1], "VIS_L: activate jaw", scale=2, fps=10, preset="quick"
    )
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        assert gif.size == (2 * 2 * (2 * 17 + 1), 2 * (2 * 17) + 28)
        assert gif.info["duration"] == 100
    with pytest.raises(ValueError, match="must be equal"):
        write_guided_gif(path, video, video[:1], "x", scale=1, fps=1, preset="quick")


def gif_frames(path) -> list[np.ndarray]:
    """Every frame of a GIF as a grey-level array."""
    frames = []
    with Image.open(path) as gif:
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("L")))
    return frames


def test_gif_frames_carry_the_preset_mark_in_their_top_right_corner(tmp_path):
    _, video = rendered_videos(n=3, t=4)
    frames = {}
    for preset in ("quick", "paper"):
        path = tmp_path / f"{preset}.gif"
        write_guided_gif(path, video, video[::-1], "x", scale=3, fps=5, preset=preset)
        frames[preset] = gif_frames(path)
    width = frames["quick"][0].shape[1]
    corner = (slice(0, GIF_HEADER // 2), slice(width - 90, width))  # the title sits left
    for quick, paper in zip(frames["quick"], frames["paper"], strict=True):
        assert (quick[corner] > 100).sum() > 20  # text in every frame's corner
        assert not np.array_equal(quick[corner], paper[corner])  # it names the preset
        np.testing.assert_array_equal(quick[GIF_HEADER:], paper[GIF_HEADER:])  # videos kept
    with pytest.raises(ValueError, match="preset must be a non-empty string"):
        write_guided_gif(tmp_path / "x.gif", video, video, "x", scale=1, fps=1, preset=" ")


def small_guided_samples() -> GuidedSamples:
    """Two LVM seeds x one region x two factors, three videos of 5 frames each."""
    rng = np.random.default_rng(0)
    groups = [
        ("benediff", 0, "VIS_L", 0),
        ("benediff", 0, "VIS_L", 1),
        ("benediff", 1, "VIS_L", 0),
        ("benediff", 1, "VIS_L", 1),
    ]
    return GuidedSamples(
        groups=groups,
        labels={"exact": rng.random((4, 3, 5, 2))},
        unguided_labels={"exact": rng.random((3, 5, 2))},
        latent_variance=rng.random((4, 3)),
        unguided_latent_variance=rng.random((4, 3)),
        frame_groups=groups[:2],
        frames=rng.integers(0, 255, (2, 1, 5, 2, 16, 16), dtype=np.uint8),
        unguided_frames=rng.integers(0, 255, (1, 5, 2, 16, 16), dtype=np.uint8),
    )


def test_guided_samples_roundtrip(tmp_path):
    samples = small_guided_samples()
    groups = samples.groups
    samples.save(tmp_path / "guided.npz", ["paw_x", "jaw"])
    loaded, names = GuidedSamples.load(tmp_path / "guided.npz")
    assert names == ["paw_x", "jaw"] and loaded.groups == groups
    assert loaded.frame_groups == groups[:2]
    np.testing.assert_array_equal(loaded.frames, samples.frames)
    np.testing.assert_array_equal(loaded.labels["exact"], samples.labels["exact"])


def widefield_session(source: str) -> TidyDataset:
    """A tiny tidy widefield session whose metadata records its source."""
    return TidyDataset(
        name="widefield_session1",
        signals=np.zeros((3, 5, 2)),
        split=["train", "val", "test"],
        bin_size_s=1 / 30,
        signal_kind="continuous",
        meta={"source": source},
    )


@pytest.mark.parametrize(
    "source, label", [("simulate", "simulated widefield"), ("figshare", "widefield mSM36")]
)
def test_benediff_figures_name_the_data(source, label):
    ds = widefield_session(source)
    assert dataset_label(ds) == label
    facts = SchematicFacts(["lvm"], ["encoder"], ["autoencoder"], ["diffusion"], ["guidance"])
    schematic = plot_fig2_schematic(facts, "quick", data_label=dataset_label(ds))
    titles = ["\n".join(t.get_text() for ax in schematic.axes for t in ax.texts)]
    fig = plot_fig4_guided_videos(
        small_guided_samples(),
        ["paw_x", "jaw"],
        {("VIS_L", "paw_x"): 2.0, ("VIS_L", "jaw"): 0.5},
        ["VIS_L"],
        "exact",
        "session1",
        3,
        ds.bin_size_s,
        "quick",
        data_label=dataset_label(ds),
    )
    titles.append(fig.get_suptitle())
    plt.close(schematic)
    plt.close(fig)
    for title in titles:
        assert label in title
        assert ("simulated" in title) == (source == "simulate")


def test_schematic_quotes_the_counts_of_the_built_networks():
    """`parameter_counts` builds the configured networks; the schematic only formats the counts."""
    section = load_yaml(Path(__file__).resolve().parents[1] / "config/config.yaml")["benediff"]
    components = {"VIS_L": 12, "SSp_L": 9}
    counts = parameter_counts(section, components, 3, 2, 32)
    autoencoder = build_frame_autoencoder(section["frame_ae"], 2, 32)
    assert counts.code_shape == autoencoder.code_shape
    assert counts.frame_autoencoder == sum(p.numel() for p in autoencoder.parameters())
    assert counts.lvm["VIS_L"] > counts.lvm["SSp_L"] > 0 and counts.unet > 0
    facts = schematic_facts(section, components, ["paw_x", "jaw", "chest"], 40, 2, 32, counts)
    assert f"parameters: {counts.frame_autoencoder / 1e3:.1f}k" in facts.autoencoder_lines
    assert facts.lvm_lines[-1].startswith("parameters per region: ")


def test_fig4_legend_and_titles_do_not_overlap():
    """Panel b's legend sits above the first row's panel titles (at medium, with three labels,
    it covered them)."""
    rng = np.random.default_rng(0)
    names = ["paw_x", "jaw", "lever"]
    groups = [("benediff", 0, "VIS_L", k) for k in range(3)]
    samples = GuidedSamples(
        groups=groups,
        labels={"exact": rng.random((3, 3, 5, 3))},
        unguided_labels={"exact": rng.random((3, 5, 3))},
        latent_variance=rng.random((3, 3)),
        unguided_latent_variance=rng.random((3, 3)),
        frame_groups=groups,
        frames=rng.integers(0, 255, (3, 1, 5, 2, 16, 16), dtype=np.uint8),
        unguided_frames=rng.integers(0, 255, (1, 5, 2, 16, 16), dtype=np.uint8),
    )
    fig = plot_fig4_guided_videos(
        samples,
        names,
        {("VIS_L", n): 1.0 for n in names},
        ["VIS_L"],
        "exact",
        "session1",
        3,
        1 / 30,
        "medium",
        data_label="simulated widefield",
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    titles = [
        text
        for ax in fig.axes
        for text in ax.get_children()
        if isinstance(text, matplotlib.text.Text) and text.get_text()
    ]
    assert any("label change" in t.get_text() for t in titles)
    for text in titles:
        assert not legend.overlaps(text.get_window_extent(renderer)), text.get_text()
    plt.close(fig)
