"""Configuration: preset resolution and schema validation with one clear message per error."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

PRESET_FILES = {"medium": "medium.yaml", "paper": "paper.yaml"}
PAPERS = ("ldns", "gnocchi", "benediff")


class ConfigError(ValueError):
    """The configuration breaks the schema; the message names the key and what is allowed."""


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Return `base` with `overlay` merged in: mappings recursively, everything else replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping top level is a ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    with open(path) as fh:
        data = yaml.safe_load(fh)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def resolve_preset(
    config: Mapping[str, Any], config_dir: str | os.PathLike, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Overlay the chosen preset's file on the base config, then re-apply command-line overrides.

    `config` is the base (`config/config.yaml` plus any overrides), `overrides` what the user
    gave on the command line (`--config`, `--configfile`): those win over the preset file.
    """
    preset = (overrides or {}).get("preset", config.get("preset", "quick"))
    resolved = dict(config)
    if preset in PRESET_FILES:
        resolved = deep_merge(resolved, load_yaml(Path(config_dir) / PRESET_FILES[preset]))
    resolved = deep_merge(resolved, overrides or {})
    resolved["preset"] = preset
    return resolved


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike) -> None:
    """Validate against the JSON schema (draft 2020-12) and cross-field rules; raise ConfigError."""
    schema = load_schema(schema_path)
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        raise ConfigError(describe_error(errors[0], schema))
    check_consistency(config)


def load_schema(schema_path: str | os.PathLike) -> dict[str, Any]:
    """The config schema, with each paper's section read from `<paper>.schema.yaml` beside it."""
    schema_path = Path(schema_path)
    schema = load_yaml(schema_path)
    for paper in PAPERS:
        part = schema_path.with_name(f"{paper}.schema.yaml")
        if part.exists():
            schema.setdefault("properties", {})[paper] = load_yaml(part)
            schema.setdefault("required", []).append(paper)
    return schema


def describe_error(error: ValidationError, schema: Mapping[str, Any]) -> str:
    """Turn a jsonschema error into one sentence naming the key and what is allowed."""
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    validator, expected = error.validator, error.validator_value
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = key if error.absolute_path else "the top level"
        return (f"config key '{_join(key, extra[0])}' is not allowed in {where}; "
                f"allowed keys: {', '.join(allowed)}")
    if validator == "required":
        missing = [k for k in expected if k not in error.instance]
        return f"config key '{_join(key, missing[0])}' is missing (required)"
    if validator == "enum":
        return f"config key '{key}' = {error.instance!r} is not allowed; allowed values: {expected}"
    if validator == "type":
        return f"config key '{key}' = {error.instance!r} must be of type {expected}"
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=",
                "exclusiveMaximum": "<"}[validator]
        return f"config key '{key}' = {error.instance!r} must be {sign} {expected}"
    if validator == "pattern":
        return f"config key '{key}' = {error.instance!r} must match the pattern {expected!r}"
    if validator == "oneOf" and "sha256" in key:
        return f"config key '{key}' = {error.instance!r} must be null or a 64-character hex sha256"
    return f"config key '{key}' = {error.instance!r} is invalid: {error.message}"


def _join(prefix: str, key: str) -> str:
    return key if prefix == "<top level>" else f"{prefix}.{key}"


def check_consistency(config: Mapping[str, Any]) -> None:
    """Cross-field rules the schema cannot express; raise ConfigError naming the key."""
    data = config["data"]
    fractions = data["lorenz"]["split_fractions"]
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"config key 'data.lorenz.split_fractions' = {fractions} must sum to 1")
    reaching = data["reaching"]
    bad = [a for a in reaching["heldout_angles"] if a >= reaching["n_angles"]]
    if bad:
        raise ConfigError(f"config key 'data.reaching.heldout_angles' has {bad}; allowed: "
                          f"angle indices 0..{reaching['n_angles'] - 1} (data.reaching.n_angles)")
    if len(reaching["heldout_angles"]) >= reaching["n_angles"]:
        raise ConfigError("config key 'data.reaching.heldout_angles' holds out every angle; "
                          "at least one must remain for training")
    for name in ("mc_maze", "mc_rtt"):
        sim = data[name]["simulate"]
        if sim["n_heldout"] >= sim["n_units"]:
            raise ConfigError(f"config key 'data.{name}.simulate.n_heldout' = {sim['n_heldout']} "
                              f"must be < data.{name}.simulate.n_units = {sim['n_units']}")
    sim = data["human"]["simulate"]
    if sim["min_bins"] > sim["max_bins"]:
        raise ConfigError("config key 'data.human.simulate.min_bins' must be <= "
                          "data.human.simulate.max_bins")
    ids = [s["id"] for s in data["widefield"]["sessions"]]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"config key 'data.widefield.sessions' has duplicate ids {ids}")
    if data["widefield"]["source"] != "simulate":
        for i, session in enumerate(data["widefield"]["sessions"]):
            if "file" not in session:
                raise ConfigError(f"config key 'data.widefield.sessions.{i}.file' is missing: "
                                  "real sessions need the file name they are stored under")
    indices = data["widefield"]["label_indices"]
    if indices is not None and len(indices) != len(data["widefield"]["label_names"]):
        raise ConfigError("config keys 'data.widefield.label_indices' and "
                          "'data.widefield.label_names' must have the same length")


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a config mapping, for provenance."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
