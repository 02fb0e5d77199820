"""Conda environments (envs/*.yaml) and the lock envs/constraints.txt: they parse, pin exactly what
CI tests and README command 1 installs, agree with each other, and the rules use the envs."""

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
# The lock of the test environment (bash envs/lock.sh writes it): README command 1 and .ci/run
# install with `pip install -c envs/constraints.txt`.
LOCK = REPO / "envs" / "constraints.txt"
REGENERATE = "change envs/*.yaml and run `bash envs/lock.sh`"
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


def lock_lines() -> list[str]:
    """The non-comment, non-blank lines of the lock."""
    lines = (line.split("#", 1)[0].strip() for line in LOCK.read_text().splitlines())
    return [line for line in lines if line]


def lock_pins() -> dict[str, str]:
    """Canonical package name -> version of every `name==version` line of the lock."""
    matches = (PIN.fullmatch(line) for line in lock_lines())
    return {canonicalize_name(m[1]): m[2] for m in matches if m}


def extra_test_dependencies() -> list[Requirement]:
    """The `[project.optional-dependencies] test` of pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["optional-dependencies"]["test"]]


def pip_installs(command: str) -> list[str]:
    """Each `pip install ...` of a shell command line (split at `&&`, `;` and `|`)."""
    parts = re.split(r"&&|;|\|", command)
    return [part.strip() for part in parts if re.search(r"\bpip install\b", part)]


def readme_two_commands() -> str:
    """The text of README.md's "## Two commands" section."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Two commands\n", 1)[1]
    return section.split("\n## ", 1)[0]


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
    odd = [
        line
        for line in pip_lines(env_file)
        if not PIN.fullmatch(line) and not line.startswith("-e ")
    ]
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
    editable = [
        line.removeprefix("-e ").strip() for line in pip_lines(env_file) if line.startswith("-e ")
    ]
    assert len(editable) == 1, f"{env_file.name}: expected one -e line, found {editable}"
    assert (CONDA_COPY_DIR / editable[0]).resolve() == REPO, (
        f"{env_file.name}: -e {editable[0]} seen from .snakemake/conda/ is not the repository root"
    )


def test_every_conda_directive_points_at_an_env_file():
    rule_files = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    used = {rule_file: conda_directives(rule_file) for rule_file in rule_files}
    assert any(used.values()), "no conda: directive found in workflow/rules/*.smk"
    env_files = {f.resolve() for f in ENV_FILES}
    wrong = sorted(
        {
            f"{rule_file.name}: {path}"
            for rule_file, paths in used.items()
            for path in paths
            if (rule_file.parent / path).resolve() not in env_files
        }
    )
    assert not wrong, f"conda: paths that are not envs/<group>.yaml: {wrong}"


def test_lock_is_exact_public_pins_only():
    lines = lock_lines()
    odd = [line for line in lines if not PIN.fullmatch(line)]
    assert not odd, f"{LOCK.name}: lines that are not `name==version`: {odd}"
    names = [canonicalize_name(PIN.fullmatch(line)[1]) for line in lines]
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"{LOCK.name} pins these more than once: {twice}"
    # A build label (2.13.0+cpu) would admit one build only; neurodiff is the -e install itself.
    local = {name: version for name, version in lock_pins().items() if Version(version).local}
    assert not local, f"{LOCK.name}: pins with a build label: {local}"
    assert "neurodiff" not in lock_pins(), f"{LOCK.name} pins neurodiff itself"
    # The lock lists every installed package: nothing we install needs torchvision.
    assert "torchvision" not in lock_pins(), f"{LOCK.name} pins torchvision"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda f: f.name)
def test_env_pins_equal_the_lock(env_file):
    locked = lock_pins()
    wrong = {
        name: f"{env_file.name} {pinned}, {LOCK.name} {locked.get(name, 'not pinned')}"
        for name, pinned in pins(env_file).items()
        if locked.get(name) != pinned
    }
    assert not wrong, f"{env_file.name} and {LOCK.name} disagree: {wrong}; {REGENERATE}"


def test_lock_pins_every_direct_dependency_within_its_range():
    locked = lock_pins()
    for requirement in runtime_dependencies() + extra_test_dependencies():
        version = locked.get(canonicalize_name(requirement.name))
        assert version, f"{LOCK.name} does not pin {requirement.name}; {REGENERATE}"
        assert requirement.specifier.contains(version), (
            f"{LOCK.name}: {requirement.name}=={version} is outside pyproject's {requirement}"
        )


def test_installed_versions_are_the_lock():
    # What README command 1 installed. A locked package that is not installed is skipped: the lock
    # is made on Python 3.11 on Linux, where e.g. backports.tarfile and SecretStorage are needed.
    wrong = {}
    for name, pinned in lock_pins().items():
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
        if Version(installed.public) != Version(pinned):  # 2.13.0+cpu is torch==2.13.0
            wrong[name] = f"locked {pinned}, installed {installed}"
    assert not wrong, (
        f"installed versions differ from {LOCK.name}: {wrong}; "
        "install with README command 1 (`pip install -c envs/constraints.txt ...`)"
    )


def test_readme_and_ci_install_with_the_lock():
    readme_blocks = re.findall(r"```bash\n(.*?)```", readme_two_commands(), re.DOTALL)
    ci = (REPO / ".ci" / "run").read_text()
    installs = {
        "README.md": [i for block in readme_blocks for i in pip_installs(block)],
        ".ci/run": [
            i
            for line in ci.splitlines()
            if not line.lstrip().startswith("#")
            for i in pip_installs(line)
        ],
    }
    for where, commands in installs.items():
        # nlb-tools goes in with --no-deps; .ci/run upgrades pip itself before installing.
        constrained = [
            c for c in commands if "--no-deps" not in c and not c.endswith("--upgrade pip")
        ]
        assert any("-e" in c.split() for c in constrained), f"{where}: no `pip install -e` found"
        unpinned = [c for c in constrained if "-c envs/constraints.txt" not in c]
        assert not unpinned, f"{where}: pip installs without `-c envs/constraints.txt`: {unpinned}"
