"""Configuration: preset resolution and schema validation with one clear message per error.

Beyond the JSON schema: an integer key takes a whole number written as one (`42`, never
`42.0`), no number may be NaN or infinite, simulated tensors have a bounded size, and
`config_warnings` names the keys that have no effect at the chosen preset. Run
`python -m neurodiff.config [--configfile FILE ...] [--config KEY=VALUE ...]` to check a
configuration as the Snakefile does (Snakemake itself reports a YAML syntax error of a
`--configfile` file before the Snakefile runs, naming neither file nor line).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

PRESET_FILES = {"medium": "medium.yaml", "paper": "paper.yaml"}
PAPERS = ("ldns", "gnocchi", "benediff")
# The largest simulated spike, rate or frame tensor (values): 13x the paper preset's largest
# (Lorenz 5000 trials x 256 bins x 128 neurons = 1.6e8); 2^31 float32 values are 8 GiB.
MAX_SIMULATED_VALUES = 2**31
# Keys read only when a dataset is downloaded; inert (warned about) when it is simulated.
DOWNLOAD_KEYS = {
    "mc_maze": ("dandiset", "version", "asset_path", "sha256"),
    "mc_rtt": ("dandiset", "version", "asset_path", "sha256"),
    "human": ("url", "file", "sha256"),
}
DOWNLOAD_ONLY_SESSION_KEYS = ("file", "url", "archive_member", "sha256")


def _is_integer(checker: Any, instance: Any) -> bool:
    """JSON-schema `integer`: a Python int, not a bool and not a float such as 42.0."""
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


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
    """Read a YAML mapping; a missing or unparsable file or a non-mapping top level is a
    ConfigError (a syntax error as `<file>: line N: <problem>`)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise ConfigError(describe_yaml_error(path, err)) from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    return data


def resolve_preset(
    config: Mapping[str, Any],
    config_dir: str | os.PathLike,
    overrides: Mapping[str, Any] | None = None,
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


def describe_yaml_error(path: str | os.PathLike, err: yaml.YAMLError) -> str:
    """`<file>: line N: <problem> (column M; context)` for a YAML syntax error (1-based)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    notes = [f"column {mark.column + 1}"] if mark is not None else []
    notes += [err.context] if getattr(err, "context", None) else []
    where = f"line {mark.line + 1}" if mark is not None else "unknown line"
    return f"{path}: {where}: {problem}" + (f" ({'; '.join(notes)})" if notes else "")


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike) -> None:
    """Validate against the JSON schema (draft 2020-12) and cross-field rules; raise ConfigError."""
    schema = load_schema(schema_path)
    check_finite(config)
    validator = StrictValidator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        raise ConfigError(describe_error(errors[0], schema))
    check_consistency(config)


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every scalar in nested mappings and lists."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, str(i)))
    else:
        yield ".".join(path), value


def check_finite(config: Mapping[str, Any]) -> None:
    """Refuse NaN and ±infinity anywhere: they pass every numeric bound of a JSON schema."""
    for key, value in _leaves(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key '{key}' = {value!r} must be a finite number")


def load_schema(schema_path: str | os.PathLike) -> dict[str, Any]:
    """The config schema, with each paper's section read from `<paper>.schema.yaml` beside it."""
    schema_path = Path(schema_path)
    schema = load_yaml(schema_path)
    for paper in PAPERS:
        part = schema_path.with_name(f"{paper}.schema.yaml")
        if part.exists():
            section = load_yaml(part)
            section.pop("$schema", None)  # a dialect switch would drop StrictValidator's types
            schema.setdefault("properties", {})[paper] = section
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
        return (
            f"config key '{_join(key, extra[0])}' is not allowed in {where}; "
            f"allowed keys: {', '.join(allowed)}"
        )
    if validator == "required":
        missing = [k for k in expected if k not in error.instance]
        return f"config key '{_join(key, missing[0])}' is missing (required)"
    if validator == "enum":
        return f"config key '{key}' = {error.instance!r} is not allowed; allowed values: {expected}"
    title, what = error.schema.get("title"), error.schema.get("description")
    if validator == "type":
        hint = (
            " (write a whole number without a decimal point)"
            if isinstance(error.instance, float) and "integer" in str(expected)
            else ""
        )
        return f"config key '{key}' = {error.instance!r} must be of type {expected}{hint}"
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[
            validator
        ]
        bound = f" ({what})" if what and validator == "maximum" else ""
        return f"config key '{key}' = {error.instance!r} must be {sign} {expected}{bound}"
    if validator in ("pattern", "minLength") and title:
        return f"config key '{key}' = {error.instance!r} must be {title}"
    if validator == "pattern":
        return f"config key '{key}' = {error.instance!r} must match the pattern {expected!r}" + (
            f" ({what})" if what else ""
        )
    if validator == "minLength" and expected == 1:
        return f"config key '{key}' = {error.instance!r} must not be empty"
    if validator == "oneOf" and "sha256" in key:
        return f"config key '{key}' = {error.instance!r} must be null or a 64-character hex sha256"
    if validator in ("oneOf", "anyOf") and error.context:
        nullable = any(sub.get("type") == "null" for sub in expected)
        branch = [e for e in error.context if e.validator_value != "null"] or error.context
        text = describe_error(min(branch, key=lambda e: len(e.absolute_path)), schema)
        return text + (" (or null)" if nullable else "")
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
        raise ConfigError(
            f"config key 'data.reaching.heldout_angles' has {bad}; allowed: "
            f"angle indices 0..{reaching['n_angles'] - 1} (data.reaching.n_angles)"
        )
    if len(reaching["heldout_angles"]) >= reaching["n_angles"]:
        raise ConfigError(
            "config key 'data.reaching.heldout_angles' holds out every angle; "
            "at least one must remain for training"
        )
    if "n_conditions" in data["mc_rtt"]["simulate"]:
        raise ConfigError(
            "config key 'data.mc_rtt.simulate.n_conditions' is not allowed: "
            "conditions exist only in MC_Maze (data.mc_maze.simulate.n_conditions)"
        )
    for name in ("mc_maze", "mc_rtt"):
        sim = data[name]["simulate"]
        if sim["n_heldout"] >= sim["n_units"]:
            raise ConfigError(
                f"config key 'data.{name}.simulate.n_heldout' = {sim['n_heldout']} "
                f"must be < data.{name}.simulate.n_units = {sim['n_units']}"
            )
    sim = data["human"]["simulate"]
    if sim["min_bins"] > sim["max_bins"]:
        raise ConfigError(
            "config key 'data.human.simulate.min_bins' must be <= data.human.simulate.max_bins"
        )
    ids = [s["id"] for s in data["widefield"]["sessions"]]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"config key 'data.widefield.sessions' has duplicate ids {ids}")
    if data["widefield"]["source"] != "simulate":
        for i, session in enumerate(data["widefield"]["sessions"]):
            if "file" not in session:
                raise ConfigError(
                    f"config key 'data.widefield.sessions.{i}.file' is missing: "
                    "real sessions need the file name they are stored under"
                )
    indices = data["widefield"]["label_indices"]
    if indices is not None and len(indices) != len(data["widefield"]["label_names"]):
        raise ConfigError(
            "config keys 'data.widefield.label_indices' and "
            "'data.widefield.label_names' must have the same length"
        )
    check_simulated_sizes(data)


def simulated_sizes(data: Mapping[str, Any]) -> dict[str, tuple[list[str], int]]:
    """Per simulated dataset: the size keys whose product is its largest tensor, and the product."""
    sizes: dict[str, tuple[list[str], int]] = {}
    for name in ("lorenz", "reaching"):
        keys = ["n_trials", "n_bins", "n_neurons"]
        sizes[name] = (keys, math.prod(data[name][k] for k in keys))
    if data["human"]["source"] == "simulate":
        sim = data["human"]["simulate"]
        keys = ["simulate.n_files", "simulate.trials_per_file", "simulate.max_bins", "n_channels"]
        sizes["human"] = (
            keys,
            sim["n_files"] * sim["trials_per_file"] * sim["max_bins"] * data["human"]["n_channels"],
        )
    if data["widefield"]["source"] == "simulate":
        sim = data["widefield"]["simulate"]
        keys = ["simulate.n_trials", "simulate.n_frames", "simulate.frame_size (squared)"]
        sizes["widefield"] = (keys, sim["n_trials"] * sim["n_frames"] * sim["frame_size"] ** 2)
    return sizes


def check_simulated_sizes(data: Mapping[str, Any]) -> None:
    """Refuse a simulation whose largest tensor exceeds MAX_SIMULATED_VALUES values."""
    for name, (keys, values) in simulated_sizes(data).items():
        if values > MAX_SIMULATED_VALUES:
            product = " x ".join(f"data.{name}.{k}" for k in keys)
            raise ConfigError(
                f"config keys {product} = {values:.3g} values must be <= "
                f"{MAX_SIMULATED_VALUES:.3g} (the largest simulated tensor, "
                f"{MAX_SIMULATED_VALUES * 4 / 2**30:.0f} GiB as float32)"
            )


def config_warnings(
    config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> list[str]:
    """One line per dataset whose keys are set but have no effect at the chosen preset.

    Such keys are accepted, not refused: a personal config file may serve several presets,
    and the paper preset's session files may be used with a simulated dataset. A dataset's
    download keys have no effect while it is simulated, its `simulate` keys none while it is
    downloaded. Keys given in `overrides` (the command line: `--config`, `--configfile`) are
    checked, and the widefield sessions' download keys wherever they come from (only the
    paper preset's overlay sets them).
    """
    given = (overrides or {}).get("data") or {}
    lines = []
    for name, section in config["data"].items():
        if not isinstance(section, Mapping) or "source" not in section:
            continue
        mine = given.get(name) if isinstance(given.get(name), Mapping) else {}
        simulated = section["source"] == "simulate"
        if simulated:
            inert = [f"data.{name}.{key}" for key in DOWNLOAD_KEYS.get(name, ()) if key in mine]
            if name == "widefield":
                inert += [
                    f"data.widefield.sessions.{i}.{key}"
                    for i, session in enumerate(section["sessions"])
                    for key in DOWNLOAD_ONLY_SESSION_KEYS
                    if key in session
                ]
            why = "they are read only when the dataset is downloaded"
        else:
            inert = [f"data.{name}.simulate.{key}" for key in mine.get("simulate") or {}]
            why = "they are read only when the dataset is simulated"
        if inert:
            lines.append(
                f"config keys {', '.join(inert)} have no effect at preset "
                f"'{config['preset']}': data.{name}.source is '{section['source']}' "
                f"({why})"
            )
    return lines


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a config mapping, for provenance."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def check_files(
    configfiles: Sequence[str | os.PathLike],
    overrides: Mapping[str, Any] | None = None,
    root: str | os.PathLike = ".",
) -> dict[str, Any]:
    """Resolve and validate as the Snakefile does: config/config.yaml, `configfiles` in order,
    then `overrides` (as `--config`). Returns the configuration; raises ConfigError."""
    root = Path(root)
    base = load_yaml(root / "config" / "config.yaml")
    extra = _given(configfiles, overrides or {})
    resolved = resolve_preset(deep_merge(base, extra), root / "config", extra)
    validate_config(resolved, root / "workflow" / "schemas" / "config.schema.yaml")
    return resolved


def _given(
    configfiles: Sequence[str | os.PathLike], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """What the user gave beyond the shipped files: the extra files, then the overrides."""
    extra: dict[str, Any] = {}
    for path in configfiles:
        extra = deep_merge(extra, load_yaml(path))
    return deep_merge(extra, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m neurodiff.config`: check a configuration, one line per error or warning."""
    parser = argparse.ArgumentParser(
        prog="python -m neurodiff.config",
        description=(
            "Check the workflow configuration as the Snakefile does (run from the repository "
            "root), naming the file and line of a YAML syntax error."
        ),
    )
    parser.add_argument("--configfile", nargs="*", default=[], help="extra YAML files, in order")
    parser.add_argument(
        "--config",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="top-level overrides, parsed as snakemake --config parses them",
    )
    args = parser.parse_args(argv)
    try:
        from snakemake.cli import parse_config  # the workflow's own parser of --config

        overrides = parse_config(args.config)
    except ValueError as err:
        print(f"Configuration error: {err}", file=sys.stderr)
        return 1
    try:
        resolved = check_files(args.configfile, overrides)
    except ConfigError as err:
        print(f"Configuration error: {err}", file=sys.stderr)
        return 1
    for line in config_warnings(resolved, _given(args.configfile, overrides)):
        print(f"Configuration warning: {line}", file=sys.stderr)
    print(f"configuration OK (preset {resolved['preset']}, hash {config_hash(resolved)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
