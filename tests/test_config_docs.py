"""config/README.md documents every key of config/config.yaml, and names no key it lacks.

How the README names keys: each Markdown table row names keys (backticked, in its first cell)
relative to the section path(s) backticked in the nearest heading above it (no backticked
path in the heading: the top level). A path segment `{a,b}` stands for a and b, `*` for every
key of the config mapping at that point. A leaf (a scalar or a list) is documented when its own
path is named, or its parent's (a mapping of per-item entries documented as a whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from neurodiff.config import load_yaml
from tests.conftest import REPO

README = REPO / "config/README.md"
CONFIG = REPO / "config/config.yaml"
BACKTICKED = re.compile(r"`([^`]+)`")
HEADING = re.compile(r"^#{1,6}\s")
SEPARATOR_ROW = re.compile(r"^\|[\s:|-]+\|?\s*$")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def leaf_paths(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every non-mapping value (lists count as leaves)."""
    for key, value in node.items():
        path = _join(prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


def all_paths(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every value, mappings included."""
    for key, value in node.items():
        path = _join(prefix, str(key))
        yield path
        if isinstance(value, Mapping):
            yield from all_paths(value, path)


def expand(pattern: str, config: Mapping[str, Any]) -> list[str]:
    """Concrete paths of a pattern whose segments may be `{a,b}` or `*` (module docstring)."""
    found: list[tuple[str, Any]] = [("", config)]
    for segment in pattern.split("."):
        step = []
        for path, node in found:
            if segment == "*":
                options = list(node) if isinstance(node, Mapping) else []
            elif segment.startswith("{") and segment.endswith("}"):
                options = [s.strip() for s in segment[1:-1].split(",")]
            else:
                options = [segment]
            for option in options:
                child = node.get(option) if isinstance(node, Mapping) else None
                step.append((_join(path, option), child))
        found = step
    return [path for path, _ in found]


def documented_rows(markdown: str, config: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(row key as written, the concrete paths it names) for every key of every table row."""
    sections = [""]
    rows = []
    for line in markdown.splitlines():
        if HEADING.match(line):
            named = BACKTICKED.findall(line)
            sections = [p for pattern in named for p in expand(pattern, config)] or [""]
        elif line.startswith("|") and not SEPARATOR_ROW.match(line):
            first_cell = UNESCAPED_PIPE.split(line)[1]
            for key in BACKTICKED.findall(first_cell):
                paths = [p for section in sections for p in expand(_join(section, key), config)]
                rows.append((key, paths))
    return rows


def undocumented_keys(config: Mapping[str, Any], markdown: str) -> list[str]:
    """Leaf paths of `config` that neither they nor their parent are named in `markdown`."""
    named = {path for _, paths in documented_rows(markdown, config) for path in paths}
    return [
        leaf
        for leaf in leaf_paths(config)
        if leaf not in named and leaf.rpartition(".")[0] not in named
    ]


def unknown_keys(config: Mapping[str, Any], markdown: str) -> list[str]:
    """Row keys of `markdown` that name no existing path under any of their sections."""
    existing = set(all_paths(config))
    return [
        paths[0] if paths else key
        for key, paths in documented_rows(markdown, config)
        if not existing.intersection(paths)
    ]


def test_every_config_key_is_documented():
    missing = undocumented_keys(load_yaml(CONFIG), README.read_text())
    assert not missing, f"keys of {CONFIG} not documented in {README}: {missing}"


def test_every_documented_key_exists():
    unknown = unknown_keys(load_yaml(CONFIG), README.read_text())
    assert not unknown, f"{README} documents keys absent from {CONFIG}: {unknown}"


def test_checker_finds_missing_and_unknown_keys():
    config = {
        "seed": 1,
        "data": {"a": 1, "b": [1, 2], "sub": {"x": 1, "y": 2}, "gone": 3},
        "models": {"p": {"k": 1, "m": 2}, "q": {"k": 3, "m": 4}},
    }
    markdown = "\n".join(
        [
            "# Title with `not.a.section` ignored below the next heading",
            "## Top level",
            "| key | meaning |",
            "|---|---|",
            r"| `seed` | `x` \| `y` are not keys |",
            "## `data` (prose after the path)",
            "| `a`, `b` | two keys in one row |",
            "| `sub` | a mapping documented by its parent path |",
            "| `typo` | no such key |",
            "### `models.*`",
            "| `k` | every entry |",
            "### `models.{q}`",
            "| `m` | only q |",
        ]
    )
    assert undocumented_keys(config, markdown) == ["data.gone", "models.p.m"]
    assert unknown_keys(config, markdown) == ["data.typo"]
    assert expand("models.{p,q}.k", config) == ["models.p.k", "models.q.k"]
    assert expand("models.*.m", config) == ["models.p.m", "models.q.m"]
