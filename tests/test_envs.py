"""Conda environments (envs/*.yaml): they parse, pin exactly what CI tests, and the rules use them."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

RULE_GROUPS = {"data", "ldns", "gnocchi", "benediff", "report"}
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
# Snakemake copies an env file to <workdir>/.snakemake/conda/<hash>.yaml and conda runs pip there.
CONDA_COPY_DIR = REPO / ".snakemake" / "conda"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
CONDA_DIRECTIVE = re.compile(r"^\s*conda:\s*\n?\s*([\"'])(.+?)\1", re.MULTILINE)


def runtime_dependencies() -> list[Requirement]:
    """The `[project] dependencies` of pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def pip_lines(env_file: Path) -> list[str]:
    """The entries of an env file's `pip:` section."""
    env = yaml.safe_load(env_file.read_text())
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, f"{env_file.name}: expected one pip section, found {len(sections)}"
    return sections[0]


def pins(env_file: Path) -> dict[str, str]:
    """Canonical package name -> pinned version of every `name==version` pip entry."""
    matches = (PIN.fullmatch(line) for line in pip_lines(env_file))
    return {canonicalize_name(m[1]): m[2] for m in matches if m}


def conda_directives(rule_file: Path) -> list[str]:
    """The paths given to `conda:` in a rule file."""
    return [m[2] for m in CONDA_DIRECTIVE.finditer(rule_file.read_text())]


def test_there_is_one_env_per_rule_group():
    assert {f.stem for f in ENV_FILES} == RULE_GROUPS


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda f: f.name)
def test_env_file_has_the_expected_layout(env_file):
    env = yaml.safe_load(env_file.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"], env_file.name
    assert {"python=3.11", "pip"} <= {d for d in env["dependencies"] if isinstance(d, str)}
    odd = [line for line in pip_lines(env_file)
           if not PIN.fullmatch(line) and not line.startswith("-e ")]
    assert not odd, f"{env_file.name}: pip entries that are not exact pins: {odd}"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda f: f.name)
def test_pins_equal_the_installed_versions(env_file):
    wrong = {}
    for name, pinned in pins(env_file).items():
        try:
            installed = Version(importlib.metadata.version(name)).public  # 2.13.0+cpu -> 2.13.0
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            wrong[name] = f"pinned {pinned}, installed {installed}"
    assert not wrong, f"{env_file.name}: {wrong}"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda f: f.name)
def test_every_runtime_dependency_is_pinned_within_its_range(env_file):
    # Each env pins all of them: its `-e` line installs the package with every runtime dependency,
    # so any dependency left out would be resolved to whatever is newest.
    pinned = pins(env_file)
    for requirement in runtime_dependencies():
        version = pinned.get(canonicalize_name(requirement.name))
        assert version, f"{env_file.name} does not pin {requirement.name}"
        assert requirement.specifier.contains(version), (
            f"{env_file.name}: {requirement.name}=={version} is outside pyproject's {requirement}"
        )


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda f: f.name)
def test_editable_install_is_the_repository(env_file):
    editable = [line.removeprefix("-e ").strip() for line in pip_lines(env_file)
                if line.startswith("-e ")]
    assert len(editable) == 1, f"{env_file.name}: expected one -e line, found {editable}"
    assert (CONDA_COPY_DIR / editable[0]).resolve() == REPO, (
        f"{env_file.name}: -e {editable[0]} seen from .snakemake/conda/ is not the repository root"
    )


def test_every_conda_directive_points_at_an_env_file():
    rule_files = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    used = {rule_file: conda_directives(rule_file) for rule_file in rule_files}
    assert any(used.values()), "no conda: directive found in workflow/rules/*.smk"
    env_files = {f.resolve() for f in ENV_FILES}
    wrong = sorted({f"{rule_file.name}: {path}" for rule_file, paths in used.items()
                    for path in paths if (rule_file.parent / path).resolve() not in env_files})
    assert not wrong, f"conda: paths that are not envs/<group>.yaml: {wrong}"
