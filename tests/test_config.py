"""Config validation: every wrong key, type or value gives one message naming key and allowed."""

from __future__ import annotations

import pytest

from neurodiff.config import (
    ConfigError,
    config_hash,
    deep_merge,
    load_yaml,
    resolve_preset,
    validate_config,
)
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
    assert {section["source"] for section in medium["data"].values()
            if isinstance(section, dict) and "source" in section} == {"simulate"}
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
        ({"seeed": 1}, "config key 'seeed' is not allowed in the top level; allowed keys: benediff, data, device, gnocchi, ldns, preset, seed"),
        ({"device": "tpu"}, "config key 'device' = 'tpu' is not allowed; allowed values: "),
        ({"data": {"lorenz": {"n_trials": "many"}}}, "'data.lorenz.n_trials' = 'many' must be of type integer"),
        ({"data": {"lorenz": {"n_trails": 3}}}, "'data.lorenz.n_trails' is not allowed in data.lorenz; allowed keys: burn_in"),
        ({"data": {"lorenz": {"n_bins": 0}}}, "'data.lorenz.n_bins' = 0 must be >= 1"),
        ({"data": {"mc_maze": {"source": "s3"}}}, "'data.mc_maze.source' = 's3' is not allowed; allowed values: ['simulate', 'dandi']"),
        ({"data": {"mc_maze": {"version": "draft"}}}, "'data.mc_maze.version' = 'draft' must match the pattern"),
        ({"data": {"mc_rtt": {"sha256": "abc"}}}, "'data.mc_rtt.sha256' = 'abc' must be null or a 64-character hex sha256"),
        ({"data": {"reaching": {"heldout_angles": [8]}}}, "'data.reaching.heldout_angles' has [8]; allowed: angle indices 0..7"),
        ({"data": {"lorenz": {"split_fractions": [0.5, 0.5, 0.5]}}}, "'data.lorenz.split_fractions' = [0.5, 0.5, 0.5] must sum to 1"),
        ({"preset": "huge"}, "config key 'preset' = 'huge' is not allowed; allowed values: ['quick', 'medium', 'paper']"),
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
