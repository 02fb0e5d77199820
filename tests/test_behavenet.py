"""BehaveNet reader and the BehaveNet-like widefield simulator with its invertible video."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from neurodiff.data.behavenet import BehaveNetFormatError, read_behavenet_hdf5, split_trials
from neurodiff.data.simulate.widefield import (
    BEHAVIOR_FACTORS,
    extract_labels,
    load_truth,
    render_video,
    truth_path,
    write_behavenet_like,
)

# Hand-made file: trial numbers, their lengths and the region index arrays.
TRIALS = (0, 2, 10, 11)
LENGTHS = (10, 12, 10, 11)
N_COMPONENTS, N_LABELS = 7, 4
REGIONS = {"VIS_L": [4, 1], "MOs_R": [0, 6, 2], "SSp_L": [3, 5]}


def _neural(trial: int, length: int) -> np.ndarray:
    t, c = np.mgrid[0:length, 0:N_COMPONENTS]
    return (1000.0 * trial + 10.0 * t + c).astype(np.float32)


def _labels(trial: int, length: int) -> np.ndarray:
    t, k = np.mgrid[0:length, 0:N_LABELS]
    return (100.0 * trial + t + 0.25 * k).astype(np.float32)


def _images(trial: int, length: int) -> np.ndarray:
    t, v, h, w = np.mgrid[0:length, 0:2, 0:4, 0:5]
    return ((7 * trial + t + 50 * v + h * w) % 256).astype(np.uint8)


@pytest.fixture
def tiny_file(tmp_path):
    """A BehaveNet HDF5 written directly with h5py, independent of the simulator."""
    path = tmp_path / "tiny.hdf5"
    with h5py.File(path, "w") as f:
        for trial, length in zip(TRIALS, LENGTHS, strict=True):
            key = f"trial_{trial:04d}"
            f.create_dataset(f"neural/{key}", data=_neural(trial, length))
            f.create_dataset(f"labels/{key}", data=_labels(trial, length))
            f.create_dataset(f"images/{key}", data=_images(trial, length))
            mask = np.ones((length, N_LABELS), dtype=np.uint8)
            mask[3, 2] = 0 if trial == 2 else 1
            f.create_dataset(f"labels_masks/{key}", data=mask)
        for region, idx in REGIONS.items():
            f.create_dataset(f"regions/indxs_consolidate_lr/{region}", data=np.array(idx))
        f.create_dataset("regions/indxs/VISp_L", data=np.array([4]))
    return path


def test_tiny_file_is_read_exactly(tiny_file):
    ds = read_behavenet_hdf5(
        tiny_file,
        regions=["MOs_R", "VIS_L"],
        label_names=["a", "c"],
        label_indices=[0, 2],
        frame_range=(2, 9),
        session="s1",
    )
    components = [0, 6, 2, 4, 1]
    assert ds.signals.shape == (4, 7, 5)
    assert ds.channels["region"].tolist() == ["MOs_R"] * 3 + ["VIS_L"] * 2
    assert ds.channels["component_index"].tolist() == components
    assert ds.conditions["trial_index"].tolist() == list(TRIALS)
    assert ds.conditions["session"].tolist() == ["s1"] * 4
    assert ds.behavior_names == ["a", "c"]
    assert ds.signal_kind == "continuous" and ds.bin_size_s == pytest.approx(1 / 30)
    assert ds.video.shape == (4, 7, 2, 4, 5) and ds.video.dtype == np.uint8
    for i, (trial, length) in enumerate(zip(TRIALS, LENGTHS, strict=True)):
        np.testing.assert_array_equal(ds.signals[i], _neural(trial, length)[2:9][:, components])
        np.testing.assert_array_equal(ds.video[i], _images(trial, length)[2:9])
        expected = _labels(trial, length)[2:9][:, [0, 2]]
        if trial == 2:  # labels_masks is 0 at frame 3, label 2 -> NaN at row 1, column 1
            expected[1, 1] = np.nan
        np.testing.assert_array_equal(ds.behavior[i], expected)
    assert ds.meta["frame_range"] == [2, 9] and ds.meta["source"] == str(tiny_file)


def test_tiny_file_defaults_and_explicit_crop_to_shortest_trial(tiny_file):
    window = (0, min(LENGTHS))
    ds = read_behavenet_hdf5(tiny_file, load_video=False, session="s1", frame_range=window)
    assert ds.signals.shape == (4, min(LENGTHS), 7) and ds.video is None
    assert sorted(ds.channels["component_index"].tolist()) == list(range(N_COMPONENTS))
    assert ds.behavior_names == [f"label_{k}" for k in range(N_LABELS)]
    fine = read_behavenet_hdf5(
        tiny_file, regions=["VISp_L"], region_group="indxs", session="s1", frame_range=window
    )
    np.testing.assert_array_equal(fine.signals[0], _neural(0, 10)[:, [4]])


def _write_session(path, lengths=(6, 6, 6), edit=None) -> None:
    """A BehaveNet file of equally long trials; `edit(f)` then damages it."""
    with h5py.File(path, "w") as f:
        for trial, length in enumerate(lengths):
            key = f"trial_{trial:04d}"
            f.create_dataset(f"neural/{key}", data=_neural(trial, length))
            f.create_dataset(f"labels/{key}", data=_labels(trial, length))
            f.create_dataset(f"images/{key}", data=_images(trial, length))
        if edit is not None:
            edit(f)


def _replace(group: str, trial: int, data: np.ndarray):
    def edit(f) -> None:
        del f[f"{group}/trial_{trial:04d}"]
        f.create_dataset(f"{group}/trial_{trial:04d}", data=data)

    return edit


def test_equal_trials_are_read_whole(tmp_path):
    _write_session(tmp_path / "ok.hdf5")
    ds = read_behavenet_hdf5(tmp_path / "ok.hdf5", session="s")
    assert ds.signals.shape == (3, 6, N_COMPONENTS) and ds.video.shape == (3, 6, 2, 4, 5)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (
            _replace("neural", 1, np.zeros((0, N_COMPONENTS), np.float32)),
            r"bad\.hdf5: 'neural/trial_0001' has shape \(0, 7\): an empty trial \(0 frames\)",
        ),
        (
            _replace("neural", 2, np.zeros(6, np.float32)),
            r"bad\.hdf5: 'neural/trial_0002' has shape \(6,\); expected \(T, n_components\)",
        ),
        (
            _replace("neural", 1, np.zeros((6, 5), np.float32)),
            r"bad\.hdf5: 'neural/trial_0001' has shape \(6, 5\) but 'neural/trial_0000' has shape "
            r"\(6, 7\)",
        ),
        (
            _replace("labels", 2, np.zeros((6, 3), np.float32)),
            r"bad\.hdf5: 'labels/trial_0002' has shape \(6, 3\) but 'labels/trial_0000' has shape "
            r"\(6, 4\)",
        ),
        (
            _replace("images", 1, np.zeros((6, 4, 5), np.uint8)),
            r"bad\.hdf5: 'images/trial_0001' has shape \(6, 4, 5\) but 'images/trial_0000' "
            r"has shape \(6, 2, 4, 5\)",
        ),
        (
            lambda f: f.__delitem__("labels/trial_0001"),
            r"bad\.hdf5: group 'labels' lacks 1 trial\(s\) \['trial_0001'\] present in group\(s\) "
            r"\['neural', 'images'\]",
        ),
    ],
)
def test_malformed_trial_is_refused_naming_file_group_trial_and_shape(tmp_path, edit, pattern):
    _write_session(tmp_path / "bad.hdf5", edit=edit)
    with pytest.raises(BehaveNetFormatError, match=pattern):
        read_behavenet_hdf5(tmp_path / "bad.hdf5", session="s")


def test_one_short_trial_does_not_silently_cut_every_trial(tmp_path):
    _write_session(tmp_path / "short.hdf5", lengths=(30, 30, 4, 30))
    with pytest.raises(
        BehaveNetFormatError,
        match=r"short\.hdf5: trials differ in length "
        r"\(4 to 30 frames\); 'neural/trial_0002' "
        r"has 4 frames.*frame_range",
    ):
        read_behavenet_hdf5(tmp_path / "short.hdf5", session="s")
    cut = read_behavenet_hdf5(tmp_path / "short.hdf5", session="s", frame_range=(0, 4))
    assert cut.signals.shape == (4, 4, N_COMPONENTS)


def test_split_is_seeded_80_10_10():
    split = split_trials(120, seed=3)
    assert [int((split == s).sum()) for s in ("train", "val", "test")] == [96, 12, 12]
    np.testing.assert_array_equal(split, split_trials(120, seed=3))
    assert not np.array_equal(split, split_trials(120, seed=4))


def test_errors_name_file_and_missing_key(tiny_file, tmp_path):
    with pytest.raises(BehaveNetFormatError, match=r"tiny\.hdf5.*\['VIS_R'\].*VIS_L"):
        read_behavenet_hdf5(tiny_file, regions=["VIS_L", "VIS_R"], session="s")
    with pytest.raises(BehaveNetFormatError, match=r"tiny\.hdf5.*'regions/nope'"):
        read_behavenet_hdf5(tiny_file, regions=["VIS_L"], region_group="nope", session="s")
    with pytest.raises(BehaveNetFormatError, match=r"tiny\.hdf5.*frame_range.*10"):
        read_behavenet_hdf5(tiny_file, frame_range=(0, 11), session="s")
    with pytest.raises(BehaveNetFormatError, match=r"tiny\.hdf5.*label_indices \[4\]"):
        read_behavenet_hdf5(tiny_file, label_indices=[0, 4], session="s", frame_range=(0, 10))
    with pytest.raises(BehaveNetFormatError, match=r"tiny\.hdf5.*1 label_names"):
        read_behavenet_hdf5(
            tiny_file, label_names=["a"], label_indices=[0, 1], session="s", frame_range=(0, 10)
        )
    no_images = tmp_path / "no_images.hdf5"
    with h5py.File(no_images, "w") as f:
        f.create_dataset("neural/trial_0000", data=np.zeros((5, 3)))
    with pytest.raises(BehaveNetFormatError, match=r"no_images\.hdf5.*missing group 'images'"):
        read_behavenet_hdf5(no_images, session="s")
    with pytest.raises(FileNotFoundError, match="absent.hdf5"):
        read_behavenet_hdf5(tmp_path / "absent.hdf5", session="s")


def test_simulator_round_trip(tmp_path):
    path = tmp_path / "session_a.hdf5"
    sizes = {"VIS_L": 6, "VIS_R": 8, "SSp_L": 7, "SSp_R": 6, "MOs_L": 8, "MOs_R": 7}
    truth = write_behavenet_like(
        path,
        n_trials=20,
        n_frames=16,
        components_per_region=sizes,
        seed=5,
        neural_noise=0.0,
        label_noise=0.0,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session_a.hdf5", "session_a.truth.npz"]
    assert truth_path(path).name == "session_a.truth.npz"
    saved = load_truth(path)
    assert set(saved) == set(truth)
    np.testing.assert_array_equal(saved["rates"], truth["rates"])

    ds = read_behavenet_hdf5(
        path, regions=["SSp_R", "VIS_L"], session="a", label_names=list(BEHAVIOR_FACTORS)
    )
    assert ds.channels["region"].tolist() == ["SSp_R"] * 6 + ["VIS_L"] * 6
    idx = ds.channels["component_index"]
    np.testing.assert_array_equal(truth["component_region"][idx], ds.channels["region"])
    np.testing.assert_allclose(ds.signals, truth["rates"][..., idx], rtol=1e-6)
    np.testing.assert_allclose(ds.behavior, truth["factors"][..., :3], rtol=1e-6)
    np.testing.assert_array_equal(ds.video, render_video(truth["factors"][..., :3]))
    assert ds.video.shape == (20, 16, 2, 16, 16)
    full = read_behavenet_hdf5(path, regions=None, load_video=False, session="a")
    assert full.n_channels == sum(sizes.values())

    other = write_behavenet_like(tmp_path / "session_b.hdf5", n_trials=20, n_frames=16, seed=6)
    again = write_behavenet_like(
        tmp_path / "session_c.hdf5",
        n_trials=20,
        n_frames=16,
        seed=5,
        components_per_region=sizes,
        neural_noise=0.0,
        label_noise=0.0,
    )
    assert not np.allclose(other["factors"], truth["factors"])
    np.testing.assert_array_equal(again["rates"], truth["rates"])


def test_label_extractor_inverts_rendering():
    rng = np.random.default_rng(0)
    factors = rng.uniform(-1, 1, size=(500, 3))
    for frame_size in ((16, 16), (24, 20)):
        recovered = extract_labels(render_video(factors, frame_size))
        for k in range(3):
            assert np.corrcoef(recovered[:, k], factors[:, k])[0, 1] > 0.999
        assert np.abs(recovered - factors).max() < 0.01  # uint8 rounding only
    swapped = extract_labels(render_video(factors)[:, ::-1])
    assert np.abs(swapped - factors).max() > 0.3


def test_label_extractor_on_noisy_simulated_video(tmp_path):
    truth = write_behavenet_like(
        tmp_path / "noisy.hdf5", n_trials=30, n_frames=16, seed=2, video_noise=3.0
    )
    ds = read_behavenet_hdf5(tmp_path / "noisy.hdf5", session="n")
    recovered = extract_labels(ds.video)
    for k in range(3):
        r = np.corrcoef(recovered[..., k].ravel(), truth["factors"][..., k].ravel())[0, 1]
        assert r > 0.99


def test_planted_selectivity_is_decodable(tmp_path):
    path = tmp_path / "select.hdf5"
    truth = write_behavenet_like(path, n_trials=120, n_frames=32, seed=11)
    ds = read_behavenet_hdf5(path, load_video=False, session="sel")
    train, test = ds.indices("train"), ds.indices("test")
    factors = truth["factors"]
    for i, region in enumerate(truth["region_names"]):
        x = ds.signals[..., ds.channels["region"] == region]
        for k in range(len(BEHAVIOR_FACTORS)):
            model = LinearRegression().fit(
                x[train].reshape(-1, x.shape[-1]), factors[train, :, k].ravel()
            )
            r2 = model.score(x[test].reshape(-1, x.shape[-1]), factors[test, :, k].ravel())
            if truth["planted"][i, k]:
                assert r2 > 0.7, (region, BEHAVIOR_FACTORS[k], r2)
            else:
                assert r2 < 0.1, (region, BEHAVIOR_FACTORS[k], r2)
    paw_regions = truth["region_names"][truth["planted"][:, 0]].tolist()
    assert paw_regions == ["VIS_L", "VIS_R", "MOs_L", "MOs_R"]


def test_simulator_rejects_unknown_region(tmp_path):
    with pytest.raises(ValueError, match=r"\['RSP'\].*known"):
        write_behavenet_like(tmp_path / "x.hdf5", regions=["VIS", "RSP"])
    assert not list(tmp_path.iterdir())
