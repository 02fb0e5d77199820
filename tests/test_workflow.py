"""The Snakemake workflow: DAG planning per preset, config errors before any job, lint and style."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROFILE, REPO, enable_gpu_partition, gpu_partition_rules

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(args: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a command, capturing text output."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def planned_rules(output: str) -> set[str]:
    """Rule names from the job-stats table of a `snakemake -n` run."""
    rules, in_table = set(), False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or parts[0] == "total":
                break
            if not set(parts[0]) <= {"-"}:
                rules.add(parts[0])
    return rules


def test_quick_dry_run_simulates_everything(workflow_copy):
    result = run([*SNAKEMAKE, "-n", "--cores", "1"], workflow_copy)
    assert result.returncode == 0, result.stderr
    rules = planned_rules(result.stdout)
    assert {"simulate_lorenz", "simulate_nlb_like", "simulate_widefield", "prepare_nlb"} <= rules
    assert not {r for r in rules if r.startswith("download")}


def test_medium_dry_run_plans_every_result_from_simulations(workflow_copy):
    """The medium preset validates and plans the whole DAG on simulations (it is not run in CI)."""
    result = run([*SNAKEMAKE, "-n", "--cores", "2", "--config", "preset=medium"], workflow_copy)
    assert result.returncode == 0, result.stderr
    rules = planned_rules(result.stdout)
    assert {"simulate_lorenz", "simulate_nlb_like", "simulate_widefield", "reproduction"} <= rules
    assert not {r for r in rules if r.startswith("download")}
    assert "results/medium/reproduction.md" in result.stdout
    assert "results/quick/" not in result.stdout


def test_paper_dry_run_downloads_real_data(workflow_copy):
    result = run([*SNAKEMAKE, "-n", "--cores", "1", "--config", "preset=paper"], workflow_copy)
    assert result.returncode == 0, result.stderr
    rules = planned_rules(result.stdout)
    assert {"download_dandi", "download_willett", "download_widefield"} <= rules
    assert "simulate_nlb_like" not in rules and "simulate_willett_like" not in rules
    assert "results/paper/data/mc_maze.h5" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "device=tpu",
            "config key 'device' = 'tpu' is not allowed; allowed values: ['auto', 'cpu', 'cuda']",
        ),
        (
            "sead=3",
            "config key 'sead' is not allowed in the top level; allowed keys: accept_unpinned, "
            "benediff, data, device, gnocchi, ldns, preset, seed",
        ),
        (
            "preset=full",
            "config key 'preset' = 'full' is not allowed; "
            "allowed values: ['quick', 'medium', 'paper']",
        ),
    ],
)
def test_bad_config_stops_before_any_job(workflow_copy, override, message):
    result = run([*SNAKEMAKE, "--cores", "1", "--config", override], workflow_copy)
    assert result.returncode != 0
    assert f"Configuration error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workflow_copy / "results").exists()


def test_bad_configfile_value_is_named(workflow_copy):
    bad = workflow_copy / "bad.yaml"
    bad.write_text("data:\n  lorenz:\n    n_neurons: -4\n")
    result = run([*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(bad)], workflow_copy)
    assert result.returncode != 0
    assert "config key 'data.lorenz.n_neurons' = -4 must be >= 1" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "ldns:\n  autoencoder:\n    lorenz:\n      lr: .nan\n",
            "config key 'ldns.autoencoder.lorenz.lr' = nan must be a finite number",
        ),
        (
            "data:\n  lorenz:\n    mean_rate: .inf\n",
            "config key 'data.lorenz.mean_rate' = inf must be a finite number",
        ),
        ("seed: 42.0\n", "config key 'seed' = 42.0 must be of type integer"),
        (
            "data:\n  lorenz:\n    n_neurons: 1000000000\n",
            "config key 'data.lorenz.n_neurons' = 1000000000 must be <= 100000",
        ),
        (
            "data:\n  human:\n    file: ''\n",
            "config key 'data.human.file' = '' must be a bare file name",
        ),
    ],
)
def test_bad_configfile_edge_values_stop_before_any_job(workflow_copy, extra, message):
    bad = workflow_copy / "bad.yaml"
    bad.write_text(extra)
    result = run([*SNAKEMAKE, "--cores", "1", "--configfile", str(bad)], workflow_copy)
    assert result.returncode != 0
    assert f"Configuration error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workflow_copy / "results").exists()


@pytest.mark.parametrize("broken", ["config/config.yaml", "config/medium.yaml"])
def test_yaml_syntax_error_in_a_config_file_names_file_and_line(workflow_copy, broken):
    path = workflow_copy / broken
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith("data:"))
    lines.insert(line + 1, "  lorenz: [unclosed")
    path.write_text("\n".join(lines) + "\n")
    result = run([*SNAKEMAKE, "-n", "--cores", "1", "--config", "preset=medium"], workflow_copy)
    assert result.returncode != 0
    error = next(x for x in result.stderr.splitlines() if x.startswith("Configuration error:"))
    assert re.fullmatch(rf"Configuration error: {re.escape(broken)}: line \d+: .+", error), error
    assert "Traceback" not in result.stderr


def test_keys_without_effect_at_the_preset_are_named_on_the_console(workflow_copy):
    extra = workflow_copy / "sessions.yaml"
    extra.write_text(
        "data:\n  human:\n    file: other.tar.gz\n  widefield:\n    sessions:\n"
        "      - id: session1\n        file: mSM36_05-Dec-2017_data.hdf5\n"
        "      - id: session2\n"
    )
    result = run([*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(extra)], workflow_copy)
    assert result.returncode == 0, result.stderr
    assert (
        "Configuration warning: config keys data.widefield.sessions.0.file have no effect "
        "at preset 'quick'"
    ) in result.stderr
    assert (
        "Configuration warning: config keys data.human.file have no effect at preset "
        "'quick': data.human.source is 'simulate'"
    ) in result.stderr


def gpu_rules() -> set[str]:
    """Rules whose `resources:` declare a GPU (gpu=...), read from workflow/rules/*.smk."""
    found = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M):
            if (name := re.match(r"rule (\w+):", block)) and re.search(r"^\s+gpu=", block, re.M):
                found.add(name[1])
    return found


def rule_blocks() -> dict[str, str]:
    """The text of every rule of workflow/rules/*.smk, by rule name.

    A rule generated in a loop (`rule:` with `name: f"gnocchi_{figure}"`) is keyed by its name
    pattern, e.g. `gnocchi_{figure}`.
    """
    blocks = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        starts = r"^(?=(?:local)?rule \w+:|for |\s+rule:)"
        for block in re.split(starts, smk.read_text(), flags=re.M):
            if name := re.match(r"(?:local)?rule (\w+):", block):
                blocks[name[1]] = block
            elif name := re.search(r'^\s+name:\s+f"([\w{}]+)"', block, re.M):
                blocks[name[1]] = block
    return blocks


def test_every_gpu_rule_passes_the_device_to_its_script():
    """A rule that holds a GPU must compute on it: params.device set and used by the script."""
    blocks = rule_blocks()
    for rule in sorted(gpu_rules()):
        block = blocks[rule]
        assert re.search(r'^\s+device=config\["device"\],$', block, re.M), (
            f"rule {rule} declares a GPU but passes no params.device"
        )
        assert re.search(r"^\s+gpu_mem_mb=", block, re.M), (
            f"rule {rule} declares a GPU but not the GPU memory it needs (gpu_mem_mb)"
        )
        script = re.search(r'script:\s+"\.\./\.\./(scripts/\w+\.py)"', block)
        assert script, f"rule {rule} has no script"
        source = (REPO / script[1]).read_text()
        assert re.search(r"params\.device\b", source), (
            f"{script[1]} (rule {rule}) never reads snakemake.params.device"
        )


def test_every_compute_rule_has_a_benchmark_file():
    """Training, sampling, evaluation and figure rules all write a Snakemake benchmark file."""
    missing = [
        name
        for name, block in rule_blocks().items()
        if not name.startswith("download")
        and re.match(r"\s*rule[ :]", block)
        and "benchmark:" not in block
        and "script:" in block
    ]
    assert not missing, f"rules without benchmark: {sorted(missing)}"


def test_profile_gpu_partition_block_lists_every_gpu_rule():
    """The commented `set-resources` block of slurm/config.yaml names exactly the GPU rules."""
    profile = PROFILE.read_text()
    assert len(gpu_rules()) >= 10
    assert sorted(gpu_partition_rules(profile)) == sorted(gpu_rules())
    assert "set-resources" not in yaml.safe_load(profile)
    enabled = yaml.safe_load(enable_gpu_partition(profile, "a100"))
    assert enabled["set-resources"] == {rule: {"slurm_partition": "a100"} for rule in gpu_rules()}
    assert enabled["default-resources"] == yaml.safe_load(profile)["default-resources"]


def test_snakemake_lint_is_clean():
    result = run([*SNAKEMAKE, "--lint"], REPO)
    assert (
        "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
    ), result.stdout + result.stderr


def test_snakefmt_is_clean():
    result = run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = run(
        [sys.executable, "-m", "ruff", "check", "src", "scripts", "tests", "benchmarks"], REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    """One formatter for the whole tree (ruff format, line length 100, see pyproject.toml)."""
    command = [sys.executable, "-m", "ruff", "format", "--check", "src", "scripts", "tests"]
    result = run([*command, "benchmarks"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_paper_download_offline_fails_fast_naming_file_url_and_staging_path(workflow_copy):
    target = "resources/raw/dandi/000129/sub-Indy_desc-train_behavior+ecephys.nwb"
    result = run(
        [*SNAKEMAKE, "--cores", "1", "--config", "preset=paper", "--", target],
        workflow_copy,
        timeout=60,
    )
    if "DataUnavailableError" not in result.stderr and result.returncode == 0:
        pytest.skip("api.dandiarchive.org is reachable from here; the offline path is not testable")
    assert result.returncode != 0
    staged = workflow_copy / "resources/staged/sub-Indy_desc-train_behavior+ecephys.nwb"
    for needle in ("sub-Indy_desc-train_behavior+ecephys.nwb", "dandiarchive.org", str(staged)):
        assert needle in result.stderr
    assert not (workflow_copy / target).exists()


def test_staged_file_is_used_without_network(workflow_copy, tmp_path):
    """A hand-placed MC_Maze file (no digest pinned yet) is refused unless accepted explicitly."""
    from neurodiff.data.simulate.nlb_like import write_mc_maze_like
    from neurodiff.data.tidy import read_tidy
    from neurodiff.io import sha256_file

    staged = workflow_copy / "resources/staged/sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb"
    write_mc_maze_like(staged, n_trials=40, n_units=12, n_heldout=3, n_conditions=4, seed=1)
    target = "results/paper/data/mc_maze.h5"
    refused = run(
        [*SNAKEMAKE, "--cores", "1", "--config", "preset=paper", "--", target],
        workflow_copy,
        timeout=120,
    )
    assert refused.returncode != 0
    for needle in ("UnpinnedStagedFileError", "data.mc_maze.sha256", sha256_file(staged)):
        assert needle in refused.stderr
    assert not (workflow_copy / "resources/raw/dandi/000128").exists() or not any(
        (workflow_copy / "resources/raw/dandi/000128").iterdir()
    )
    result = run(
        [
            *SNAKEMAKE,
            "--cores",
            "1",
            "--config",
            "preset=paper",
            "accept_unpinned=True",
            "--",
            target,
        ],
        workflow_copy,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ds = read_tidy(workflow_copy / target)
    assert ds.meta["source"] == "dandi"
    [record] = ds.meta["source_records"]
    assert record["obtained"] == "staged"
    assert record["sha256"] == sha256_file(staged)
    assert "000128" in record["source_url"]
    assert ds.n_channels == 12 and ds.n_bins == 140
