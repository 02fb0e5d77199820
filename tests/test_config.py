"""Config validation: every wrong key, type or value gives one message naming key and allowed."""

from __future__ import annotations

import re

import pytest

from neurodiff.config import (
    ConfigError,
    config_hash,
    config_warnings,
    deep_merge,
    load_yaml,
    resolve_preset,
    validate_config,
)
from neurodiff.config import main as config_main
from tests.conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture
def base() -> dict:
    return load_yaml(REPO / "config/config.yaml")


def test_every_preset_validates(base):
    validate_config(base, SCHEMA)
    medium = resolve_preset(base, REPO / "config", {"preset": "medium"})
    validate_config(medium, SCHEMA)
    assert medium["preset"] == "medium"
    assert {
        section["source"]
        for section in medium["data"].values()
        if isinstance(section, dict) and "source" in section
    } == {"simulate"}
    paper = resolve_preset(base, REPO / "config", {"preset": "paper"})
    validate_config(paper, SCHEMA)
    assert paper["preset"] == "paper"
    assert paper["data"]["mc_maze"]["source"] == "dandi"
    assert paper["data"]["lorenz"]["n_trials"] == 5000
    assert base["data"]["mc_maze"]["source"] == "simulate"


def test_command_line_overrides_beat_the_preset_file(base):
    overrides = {"preset": "paper", "data": {"lorenz": {"n_trials": 7}}}
    paper = resolve_preset(base, REPO / "config", overrides)
    assert paper["data"]["lorenz"]["n_trials"] == 7
    assert paper["data"]["lorenz"]["n_neurons"] == 128


@pytest.mark.parametrize("preset", ["medium", "paper"])
def test_presets_change_only_sizes_and_sources(base, preset):
    """An overlay may only touch data sizes/sources (never model or code-path switches)."""
    overlay = load_yaml(REPO / f"config/{preset}.yaml")
    assert set(overlay) <= {"data", "ldns", "gnocchi", "benediff"}
    for dataset, keys in overlay["data"].items():
        assert set(keys) <= set(base["data"][dataset]), dataset


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            {"seeed": 1},
            "config key 'seeed' is not allowed in the top level; allowed keys: accept_unpinned, "
            "benediff, data, device, gnocchi, ldns, preset, seed",
        ),
        ({"device": "tpu"}, "config key 'device' = 'tpu' is not allowed; allowed values: "),
        (
            {"data": {"lorenz": {"n_trials": "many"}}},
            "'data.lorenz.n_trials' = 'many' must be of type integer",
        ),
        (
            {"data": {"lorenz": {"n_trails": 3}}},
            "'data.lorenz.n_trails' is not allowed in data.lorenz; allowed keys: burn_in",
        ),
        ({"data": {"lorenz": {"n_bins": 0}}}, "'data.lorenz.n_bins' = 0 must be >= 1"),
        (
            {"data": {"mc_maze": {"source": "s3"}}},
            "'data.mc_maze.source' = 's3' is not allowed; allowed values: ['simulate', 'dandi']",
        ),
        (
            {"data": {"mc_maze": {"version": "draft"}}},
            "'data.mc_maze.version' = 'draft' must match the pattern",
        ),
        (
            {"data": {"mc_rtt": {"sha256": "abc"}}},
            "'data.mc_rtt.sha256' = 'abc' must be null or a 64-character hex sha256",
        ),
        (
            {"data": {"reaching": {"heldout_angles": [8]}}},
            "'data.reaching.heldout_angles' has [8]; allowed: angle indices 0..7",
        ),
        (
            {"data": {"lorenz": {"split_fractions": [0.5, 0.5, 0.5]}}},
            "'data.lorenz.split_fractions' = [0.5, 0.5, 0.5] must sum to 1",
        ),
        (
            {"preset": "huge"},
            "config key 'preset' = 'huge' is not allowed; "
            "allowed values: ['quick', 'medium', 'paper']",
        ),
    ],
)
def test_bad_config_names_key_and_allowed(base, overlay, expected):
    with pytest.raises(ConfigError) as info:
        validate_config(deep_merge(base, overlay), SCHEMA)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_key_is_named(base):
    del base["data"]["lorenz"]["n_bins"]
    with pytest.raises(ConfigError, match=r"config key 'data.lorenz.n_bins' is missing"):
        validate_config(base, SCHEMA)


def test_config_hash_is_stable_and_sensitive(base):
    assert config_hash(base) == config_hash(deep_merge(base, {}))
    assert config_hash(base) != config_hash(deep_merge(base, {"seed": 43}))


# ---------------------------------------------------------------- numeric edge cases, sizes, names


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            {"ldns": {"autoencoder": {"lorenz": {"lr": float("nan")}}}},
            "config key 'ldns.autoencoder.lorenz.lr' = nan must be a finite number",
        ),
        (
            {"data": {"lorenz": {"mean_rate": float("inf")}}},
            "config key 'data.lorenz.mean_rate' = inf must be a finite number",
        ),
        (
            {"data": {"reaching": {"speeds": [0.25, float("-inf")]}}},
            "config key 'data.reaching.speeds.1' = -inf must be a finite number",
        ),
        (
            {"gnocchi": {"gnocchi": {"train": {"weight_decay": float("inf")}}}},
            "config key 'gnocchi.gnocchi.train.weight_decay' = inf must be a finite number",
        ),
        ({"seed": 42.0}, "config key 'seed' = 42.0 must be of type integer"),
        (
            {"gnocchi": {"code_dim": 4.0}},
            "config key 'gnocchi.code_dim' = 4.0 must be of type integer (write a whole number",
        ),
        (
            {"benediff": {"lvm": {"hidden_size": 16.0}}},
            "config key 'benediff.lvm.hidden_size' = 16.0 must be of type integer",
        ),
        (
            {"data": {"lorenz": {"n_neurons": 1e9}}},
            "config key 'data.lorenz.n_neurons' = 1000000000.0 must be of type integer",
        ),
        (
            {"data": {"lorenz": {"n_neurons": 10**9}}},
            "config key 'data.lorenz.n_neurons' = 1000000000 must be <= 100000 (neurons",
        ),
        (
            {"ldns": {"denoiser": {"human_length": {"hidden_channels": 2**20}}}},
            "config key 'ldns.denoiser.human_length.hidden_channels' = 1048576 must be <= 16384",
        ),
        (
            {"benediff": {"frame_ae": {"train": {"batch_size": 10**6}}}},
            "config key 'benediff.frame_ae.train.batch_size' = 1000000 must be <= 65536",
        ),
        (
            {"gnocchi": {"lfads": {"model": {"gen_dim": 10**5}}}},
            "config key 'gnocchi.lfads.model.gen_dim' = 100000 must be <= 16384",
        ),
        (
            {"data": {"lorenz": {"n_trials": 100_000, "n_neurons": 1000, "n_bins": 1000}}},
            "config keys data.lorenz.n_trials x data.lorenz.n_bins x data.lorenz.n_neurons = "
            "1e+11 values must be <= 2.15e+09",
        ),
        (
            {"data": {"human": {"file": ""}}},
            "config key 'data.human.file' = '' must be a bare file name: not empty",
        ),
        (
            {"data": {"human": {"file": "../competitionData.tar.gz"}}},
            "config key 'data.human.file' = '../competitionData.tar.gz' must be a bare file name",
        ),
        (
            {"data": {"widefield": {"sessions": [{"id": "s1", "file": ""}]}}},
            "config key 'data.widefield.sessions.0.file' = '' must be a bare file name",
        ),
        (
            {"data": {"widefield": {"regions": ["VIS_L", ""]}}},
            "config key 'data.widefield.regions.1' = '' must be a region-hemisphere name",
        ),
        (
            {"data": {"mc_rtt": {"simulate": {"n_conditions": 4}}}},
            "config key 'data.mc_rtt.simulate.n_conditions' is not allowed: conditions exist only",
        ),
    ],
)
def test_non_finite_fractional_oversized_and_empty_values_are_refused(base, overlay, expected):
    with pytest.raises(ConfigError) as info:
        validate_config(deep_merge(base, overlay), SCHEMA)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("preset", ["quick", "medium", "paper"])
def test_every_preset_lies_far_below_every_size_bound(base, preset):
    """Ten times every integer of a preset still validates: the bounds block no real use."""
    config = resolve_preset(base, REPO / "config", {"preset": preset})

    def scaled(value, key=""):
        if isinstance(value, dict):
            return {k: scaled(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [scaled(v, key) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and key not in NOT_SIZES:
            return value * 10
        return value

    bigger = scaled(config)
    bigger["data"] = config["data"]  # data sizes are also bounded jointly (tensor size)
    validate_config(bigger, SCHEMA)
    for section in ("lorenz", "reaching"):
        for key in ("n_trials", "n_neurons", "n_bins"):
            larger = {"data": {section: {key: 10 * config["data"][section][key]}}}
            validate_config(deep_merge(config, larger), SCHEMA)


# integers that are not sizes: indices, seeds, odd kernel taps, sector bounds, GPUs per job
NOT_SIZES = {
    "seeds",
    "seed",
    "heldout_trial_versions",
    "heldout_angles",
    "label_indices",
    "filter_kernel",
    "heldout_sector_deg",
    "gpu",
    "onset_bin",
    "clip",
    "sample_cap",
}


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "extra.yaml"
    bad.write_text("data:\n  lorenz:\n    n_neurons: [1, 2\n  human: {}\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(bad)
    message = str(info.value)
    assert re.fullmatch(rf"{re.escape(str(bad))}: line 4: .+ \(column \d+; .+\)", message), message
    assert "\n" not in message


def test_paper_only_keys_in_quick_are_named_in_a_warning(base):
    """Keys without effect at the preset are accepted (a config file may serve several
    presets) but named, so that an edit which changes nothing is seen."""
    sessions = [{"id": "s1", "file": "mSM36_05-Dec-2017_data.hdf5", "url": None}, {"id": "s2"}]
    overrides = {
        "data": {
            "widefield": {"sessions": sessions},
            "human": {"file": "other.tar.gz", "n_channels": 128},
            "mc_maze": {"sha256": "0" * 64, "simulate": {"n_trials": 100}},
        }
    }
    config = deep_merge(base, overrides)
    validate_config(config, SCHEMA)
    assert config_warnings(config, overrides) == [
        "config keys data.mc_maze.sha256 have no effect at preset 'quick': data.mc_maze.source "
        "is 'simulate' (they are read only when the dataset is downloaded)",
        "config keys data.human.file have no effect at preset 'quick': data.human.source is "
        "'simulate' (they are read only when the dataset is downloaded)",
        "config keys data.widefield.sessions.0.file, data.widefield.sessions.0.url have no "
        "effect at preset 'quick': data.widefield.source is 'simulate' (they are read only when "
        "the dataset is downloaded)",
    ]
    assert config_warnings(base) == []
    paper = resolve_preset(base, REPO / "config", {"preset": "paper"})
    assert config_warnings(paper, {"preset": "paper"}) == []
    sizes = {"preset": "paper", "data": {"mc_maze": {"simulate": {"n_trials": 9}}}}
    (warning,) = config_warnings(resolve_preset(base, REPO / "config", sizes), sizes)
    assert warning.startswith(
        "config keys data.mc_maze.simulate.n_trials have no effect at "
        "preset 'paper': data.mc_maze.source is 'dandi'"
    )


def test_check_command_names_the_file_and_line_of_a_syntax_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    bad = tmp_path / "extra.yaml"
    bad.write_text("ldns:\n  autoencoder:\n    lorenz: {lr: 0.1\n")
    assert config_main(["--configfile", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"Configuration error: {bad}: line 4: ")
    nan = tmp_path / "nan.yaml"
    nan.write_text("ldns:\n  autoencoder:\n    lorenz: {lr: .nan}\n")
    assert config_main(["--configfile", str(nan), "--config", "preset=medium"]) == 1
    assert capsys.readouterr().err.strip() == (
        "Configuration error: config key 'ldns.autoencoder.lorenz.lr' = nan must be a finite number"
    )
    assert config_main(["--config", "preset=paper"]) == 0
    assert "configuration OK (preset paper" in capsys.readouterr().out


# The LDNS paper's training lengths in epochs (reference/ldns.md §3, Tables 2 and 3) and the
# training-split sizes they run over: LDNS's MC_Maze split (2008 trials) and human split (8417),
# and this preset's Lorenz simulation (5000 trials, 70 % train).
PAPER_EPOCHS = {
    ("autoencoder", "lorenz"): (200, 10, 10),  # (epochs, warm-up epochs, validation every)
    ("autoencoder", "mc_maze"): (260, 10, 1),
    ("autoencoder", "human"): (400, 20, 10),
    ("denoiser", "lorenz_unconditional"): (1000, 50, None),
    ("denoiser", "mc_maze_unconditional"): (2000, 50, None),
    ("denoiser", "mc_maze_angle"): (2000, 50, None),
    ("denoiser", "mc_maze_velocity"): (2000, 50, None),
    ("denoiser", "human_length"): (2000, 100, None),
}
PAPER_TRAIN_TRIALS = {"lorenz": 3500, "mc_maze": 2008, "human": 8417}


def test_paper_preset_steps_are_the_papers_epochs_of_full_batches(base):
    """Every LDNS training length of the paper preset, in steps, is the paper's epochs × the
    full batches of one pass over its training split (a batch-size edit must move the steps)."""
    paper = resolve_preset(base, REPO / "config", {"preset": "paper"})
    lorenz = paper["data"]["lorenz"]
    fractions = lorenz["split_fractions"]
    held_out = sum(int(f * lorenz["n_trials"]) for f in fractions[1:])
    assert lorenz["n_trials"] - held_out == PAPER_TRAIN_TRIALS["lorenz"]
    for (part, name), (epochs, warmup, every) in PAPER_EPOCHS.items():
        settings = paper["ldns"][part][name]
        dataset = settings.get("dataset", name)
        batches = PAPER_TRAIN_TRIALS[dataset] // settings["batch_size"]
        assert settings["steps"] == epochs * batches, (part, name)
        assert settings["warmup_steps"] == warmup * batches, (part, name)
        if every is not None:
            assert settings["log_every"] == every * batches, (part, name)
    assert paper["ldns"]["spike_history"]["steps"] == 3000  # full-batch: one step an epoch
