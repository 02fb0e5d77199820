"""The result inventory: loading, errors, expansion, report captions and the README index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neurodiff.config import load_yaml
from neurodiff.inventory import (
    INDEX_END,
    INDEX_START,
    InventoryError,
    load_inventory,
    main,
    readme_index,
    replace_index,
    rule_files,
)
from tests.conftest import REPO

INVENTORY = REPO / "workflow/inventory.yaml"
RULES = REPO / "workflow/rules"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


def test_real_inventory_lists_every_paper_with_unique_stems():
    inventory = load_inventory(INVENTORY)
    assert [p.key for p in inventory.papers] == [
        "data",
        "ldns",
        "gnocchi",
        "benediff",
        "reproduction",
    ]
    assert len(inventory.paper("ldns").items) == 20
    assert inventory.item("ldns/tables/sampler_steps_{model}").source == "workflow"
    assert inventory.item("ldns/tables/table1_monkey_metrics").paper_item == "Table 1"
    assert {i.source for i in inventory.paper("gnocchi").items} == {"reconstructed"}


def test_targets_expand_animations_over_config_lists():
    inventory = load_inventory(INVENTORY)
    config = load_yaml(REPO / "config/config.yaml")
    regions = config["data"]["widefield"]["regions"]
    labels = config["data"]["widefield"]["label_names"]
    targets = inventory.targets("benediff", config)
    gifs = [t for t in targets if t.endswith(".gif")]
    assert len(gifs) == len(regions) * len(labels)
    assert f"benediff/figures/fig4_guided_videos_{regions[0]}_{labels[-1]}.gif" in gifs
    assert "benediff/tables/table1_lvm_metrics.md" in targets
    assert not [t for t in inventory.targets("reproduction", config) if t.endswith(".html")]


def test_expansion_without_config_is_an_error():
    item = load_inventory(INVENTORY).item("benediff/figures/fig4_guided_videos_{region}_{factor}")
    with pytest.raises(InventoryError, match="needs|config"):
        item.files()
    with pytest.raises(InventoryError, match="data.widefield.regions"):
        item.files({"data": {}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("papers:\n  ldns:\n    title: LDNS\n    source: notebooks\n", "papers.ldns.items"),
        ("papers:\n  ldns:\n    title: LDNS\n    source: blog\n    items: []\n", "blog"),
        (
            "papers:\n  ldns:\n    title: LDNS\n    source: notebooks\n    items:\n"
            "      - {stem: a, kind: movie, content: x}\n",
            "papers.ldns.items.0.kind='movie'",
        ),
        (
            "papers:\n  ldns:\n    title: LDNS\n    source: notebooks\n    items:\n"
            "      - {stem: a, kind: figure}\n",
            "papers.ldns.items.0.content",
        ),
        (
            "papers:\n  ldns:\n    title: LDNS\n    source: notebooks\n    items:\n"
            "      - {stem: a, kind: figure, content: x}\n",
            "papers.ldns.items.0.rule",
        ),
        (
            "papers:\n  ldns:\n    title: LDNS\n    source: notebooks\n    items:\n"
            "      - {stem: a, kind: figure, rule: r, content: x}\n"
            "      - {stem: a, kind: table, rule: r, content: y}\n",
            "listed twice",
        ),
    ],
)
def test_malformed_inventory_names_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_every_reported_item_has_a_caption_file():
    inventory = load_inventory(INVENTORY)
    report = REPO / "workflow/report"
    assert (report / "workflow.rst").is_file()
    assert (report / "data/overview.rst").is_file()
    for item in inventory.items:
        if item.kind == "report" or (item.paper == "data" and item.name != "widefield_overview"):
            continue
        caption = report / (item.stem.replace("{", "").replace("}", "") + ".rst")
        assert caption.is_file(), caption
        assert len(caption.read_text().split()) >= 10, caption


def test_readme_index_is_generated_from_the_inventory():
    assert (
        main(
            [
                str(REPO / "README.md"),
                "--inventory",
                str(INVENTORY),
                "--rules",
                str(RULES),
                "--check",
            ]
        )
        == 0
    )
    inventory = load_inventory(INVENTORY)
    index = readme_index(inventory, rule_files(RULES, inventory))
    readme = (REPO / "README.md").read_text()
    assert index in readme
    for item in load_inventory(INVENTORY).items:
        assert f"`{item.stem}`" in index
    assert "`ldns_figures_mc_maze` (`" in index and "workflow/rules/ldns.smk`)" in index
    # a rule generated in a loop (`name: f"gnocchi_{figure}"`) is found in its file too
    assert "`gnocchi_fig2_synthetic_latents` (`workflow/rules/gnocchi.smk`)" in index


def test_every_item_names_the_rule_that_writes_it_in_the_dag(workflow_copy):
    """Figure -> rule is one lookup: the inventory's `rule` equals the DAG's for every file."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--summary", "--cores", "1"],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:] if "\t" in line]
    dag_rule = {row[0]: row[2] for row in rows}
    config = load_yaml(REPO / "config/config.yaml")
    inventory = load_inventory(INVENTORY)
    defined = rule_files(RULES, inventory)
    for item in inventory.items:
        if item.kind == "report":
            assert item.rule is None
            continue
        assert item.rule in defined, f"{item.stem}: rule {item.rule!r} is not defined"
        for file in item.files(config):
            assert dag_rule.get(f"results/quick/{file}") == item.rule, file


def test_index_rewrite_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{INDEX_START}\nold\n{INDEX_END}\noutro\n")
    args = ["--inventory", str(INVENTORY), "--rules", str(RULES)]
    assert main([str(readme), *args, "--check"]) == 1
    assert main([str(readme), *args]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "old" not in text
    assert main([str(readme), *args, "--check"]) == 0
    with pytest.raises(InventoryError, match="markers"):
        replace_index("no markers here", "x", "README.md")
