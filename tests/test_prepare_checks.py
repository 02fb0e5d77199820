"""Prepare rules re-check their fetched inputs against the sha256 recorded at fetch time."""

from __future__ import annotations

import io
import runpy
import tarfile
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import scipy.io

from neurodiff.data.fetch import (
    EXTRACTED_MANIFEST,
    ChecksumMismatchError,
    UnpinnedChecksumWarning,
    extract_archive,
    fetch_url,
)
from neurodiff.data.provenance import MissingRecordError, record_path, source_meta
from neurodiff.io import sha256_file, write_json_atomic
from tests.test_nwb_reader import write_handmade

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
URL = "https://example.org/files/source.bin"


def fetched(tmp_path: Path, make, name: str) -> Path:
    """Stage a file made by `make(path)`, fetch it into raw/ as the download rules do."""
    staged = tmp_path / "staged" / name
    staged.parent.mkdir(parents=True, exist_ok=True)
    make(staged)
    dest = tmp_path / "raw" / name
    with pytest.warns(UnpinnedChecksumWarning):
        record = fetch_url(
            URL, dest, staged_dir=staged.parent, sha256=None, name=name, accept_unpinned=True
        )
    write_json_atomic(record_path(dest), record.as_dict())
    return dest


def run_rule(tmp_path: Path, script: str, inputs: list[Path], cfg: dict, **wildcards) -> Path:
    """Run scripts/<script>.py as Snakemake would, with a stand-in `snakemake` object."""
    output = tmp_path / "results" / f"{script}.h5"
    job = SimpleNamespace(
        rule=script,
        log=[str(tmp_path / "logs" / f"{script}.log")],
        input=[str(p) for p in inputs],
        output=[str(output)],
        params=SimpleNamespace(cfg=cfg, preset="paper"),
        wildcards=SimpleNamespace(**wildcards),
        config={"preset": "paper"},
    )
    runpy.run_path(
        str(SCRIPTS / f"{script}.py"), init_globals={"snakemake": job}, run_name="__main__"
    )
    return output


def edit_in_place(path: Path, edit) -> None:
    """Apply `edit(f)` to an HDF5 file in place: the file stays HDF5, its sha256 changes."""
    with h5py.File(path, "r+") as f:
        edit(f)


def assert_names_both_digests(err: pytest.ExceptionInfo, path: Path, recorded: str) -> None:
    message = str(err.value)
    assert str(path) in message and recorded in message and sha256_file(path) in message


def test_source_meta_refuses_a_file_changed_since_it_was_fetched(tmp_path):
    path = fetched(tmp_path, lambda p: p.write_bytes(b"verified content\n" * 64), "f.bin")
    recorded = sha256_file(path)
    assert source_meta([path], "dandi", require_record=True)["source_files"] == {"f.bin": recorded}
    with open(path, "r+b") as fh:
        fh.write(b"V")
    with pytest.raises(ChecksumMismatchError, match=r"sha256 mismatch for 'f\.bin'") as err:
        source_meta([path], "dandi")
    assert_names_both_digests(err, path, recorded)
    assert str(record_path(path)) in str(err.value)


def test_source_meta_requires_a_record_for_fetched_sources(tmp_path):
    path = tmp_path / "raw" / "f.bin"
    path.parent.mkdir()
    path.write_bytes(b"never recorded")
    assert source_meta([path], "simulate")["source_records"] == []
    with pytest.raises(MissingRecordError, match=r"f\.bin: no recorded sha256.*source\.json"):
        source_meta([path], "dandi", require_record=True)


def test_simulated_inputs_without_records_are_read(tmp_path):
    nwb = tmp_path / "simulated" / "mc_maze_like.nwb"
    nwb.parent.mkdir()
    write_handmade(nwb)
    out = run_rule(tmp_path, "prepare_nlb", [nwb], {"source": "simulate"}, nlb="mc_maze")
    assert out.exists()
    with pytest.raises(MissingRecordError, match=r"mc_maze_like\.nwb: no recorded sha256"):
        run_rule(tmp_path / "paper", "prepare_nlb", [nwb], {"source": "dandi"}, nlb="mc_maze")


def test_prepare_nlb_refuses_an_nwb_edited_after_it_was_verified(tmp_path):
    nwb = fetched(tmp_path, write_handmade, "sub-Jenkins_train.nwb")
    recorded = sha256_file(nwb)
    cfg = {"source": "dandi"}
    assert run_rule(tmp_path / "ok", "prepare_nlb", [nwb], cfg, nlb="mc_maze").exists()
    # a spike far past the recording: the reader would refuse it, the digest check comes first
    edit_in_place(nwb, lambda f: f["units/spike_times"].__setitem__(0, 1e6))
    with pytest.raises(ChecksumMismatchError, match=r"sub-Jenkins_train\.nwb") as err:
        run_rule(tmp_path, "prepare_nlb", [nwb], cfg, nlb="mc_maze")
    assert_names_both_digests(err, nwb, recorded)
    assert not (tmp_path / "results" / "prepare_nlb.h5").exists()


def write_session(path: Path) -> None:
    with h5py.File(path, "w") as f:
        for trial in range(4):
            f.create_dataset(f"neural/trial_{trial:04d}", data=np.full((5, 3), trial, np.float32))
            f.create_dataset(f"labels/trial_{trial:04d}", data=np.zeros((5, 2), np.float32))
            f.create_dataset(f"images/trial_{trial:04d}", data=np.zeros((5, 1, 4, 4), np.uint8))


def test_prepare_widefield_refuses_a_session_edited_after_it_was_verified(tmp_path):
    hdf5 = fetched(tmp_path, write_session, "mSM36_05-Dec-2017_data.hdf5")
    recorded = sha256_file(hdf5)
    cfg = {
        "source": "figshare",
        "regions": None,
        "label_names": None,
        "label_indices": None,
        "frame_rate_hz": 30.0,
    }
    assert run_rule(tmp_path / "ok", "prepare_widefield", [hdf5], cfg, session="05-Dec").exists()
    # a trial removed from 'labels': the reader would refuse it, the digest check comes first
    edit_in_place(hdf5, lambda f: f.__delitem__("labels/trial_0002"))
    with pytest.raises(ChecksumMismatchError, match=r"mSM36_05-Dec-2017_data\.hdf5") as err:
        run_rule(tmp_path, "prepare_widefield", [hdf5], cfg, session="05-Dec")
    assert_names_both_digests(err, hdf5, recorded)


def competition_archive(path: Path) -> None:
    """A competitionData tar.gz with one train and one test file (layout of the Dryad archive)."""
    with tarfile.open(path, "w:gz") as tf:
        for folder in ("train", "test"):
            buffer = io.BytesIO()
            cell = np.empty((1, 2), dtype=object)
            cell[0, 0], cell[0, 1] = np.ones((6, 256), np.uint8), np.zeros((4, 256), np.uint8)
            scipy.io.savemat(
                buffer,
                {"tx1": cell, "sentenceText": np.array(["a b", "c"]), "blockIdx": np.ones((2, 1))},
            )
            info = tarfile.TarInfo(f"competitionData/{folder}/t12.2022.05.05.mat")
            info.size = buffer.tell()
            buffer.seek(0)
            tf.addfile(info, buffer)


def test_prepare_human_refuses_files_changed_or_added_after_extraction(tmp_path):
    archive = fetched(tmp_path, competition_archive, "competitionData.tar.gz")
    extracted = tmp_path / "raw" / "extracted"
    files = extract_archive(archive, extracted, manifest=True)
    assert (extracted / EXTRACTED_MANIFEST).exists()
    cfg = {"source": "dryad", "n_channels": 128, "max_bins": 16}
    assert run_rule(tmp_path / "ok", "prepare_human", [extracted], cfg).exists()

    added = extracted / "competitionData" / "train" / "t12.2022.06.01.mat"
    added.write_bytes(files[0].read_bytes())
    with pytest.raises(MissingRecordError, match=r"t12\.2022\.06\.01\.mat: not among the files"):
        run_rule(tmp_path, "prepare_human", [extracted], cfg)
    added.unlink()

    test_file = extracted / "competitionData" / "test" / "t12.2022.05.05.mat"
    recorded = sha256_file(test_file)
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.full((6, 256), 2, np.uint8)
    scipy.io.savemat(
        test_file, {"tx1": cell, "sentenceText": np.array(["x"]), "blockIdx": np.ones((1, 1))}
    )
    with pytest.raises(ChecksumMismatchError, match=r"t12\.2022\.05\.05\.mat") as err:
        run_rule(tmp_path, "prepare_human", [extracted], cfg)
    assert_names_both_digests(err, test_file, recorded)
    assert str(extracted / EXTRACTED_MANIFEST) in str(err.value)

    (extracted / EXTRACTED_MANIFEST).unlink()
    with pytest.raises(MissingRecordError, match=r"extracted\.sha256\.json does not exist"):
        run_rule(tmp_path, "prepare_human", [extracted], cfg)
