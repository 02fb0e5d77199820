"""Typed BeNeDiff settings: every preset parses, `as_dict()` is the config mapping itself (so the
run directories hashed from it are unchanged), and a bad value names its key."""

from __future__ import annotations

import copy
import functools
from dataclasses import asdict
from typing import Any

import pytest

from neurodiff.config import check_files, config_hash
from neurodiff.models.benediff.build import lvm_config_for
from neurodiff.models.benediff.fit import model_run_dir
from neurodiff.models.benediff.settings import (
    BenediffSettings,
    CrossHemisphereSettings,
    DiffusionSettings,
    FrameAeSettings,
    GuidanceSettings,
    LvmSettings,
    MetricsSettings,
    TrainSettings,
)
from tests.conftest import REPO

PRESETS = ("quick", "medium", "paper")
PARTS = {
    "lvm": LvmSettings,
    "metrics": MetricsSettings,
    "frame_ae": FrameAeSettings,
    "diffusion": DiffusionSettings,
    "guidance": GuidanceSettings,
    "cross_hemisphere": CrossHemisphereSettings,
}


@functools.cache
def _resolved(preset: str) -> dict[str, Any]:
    return check_files([], {"preset": preset}, REPO)["benediff"]


def benediff_section(preset: str) -> dict[str, Any]:
    """The `benediff:` section of a preset, merged and validated as the Snakefile does."""
    return copy.deepcopy(_resolved(preset))


def same_typed(a: Any, b: Any) -> bool:
    """Equal, with the same types throughout (a list is not a tuple, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_typed(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_typed(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture(scope="module", params=PRESETS)
def section(request) -> dict[str, Any]:
    return benediff_section(request.param)


def test_every_preset_parses_and_round_trips_exactly(section):
    before = copy.deepcopy(section)
    settings = BenediffSettings.from_config(section)
    assert section == before  # parsing leaves the config alone
    assert same_typed(settings.as_dict(), section)
    for name, cls in PARTS.items():
        part = cls.from_config(section[name])
        assert part == getattr(settings, name)
        assert same_typed(part.as_dict(), section[name])
    assert same_typed(settings.lvm.train.as_dict(), section["lvm"]["train"])
    assert settings.seeds == tuple(section["seeds"])
    assert settings.frame_ae.channels == tuple(section["frame_ae"]["channels"])
    assert settings.figures.session == section["figures"]["session"]
    assert settings.resources == section["resources"]


def test_run_directories_and_tags_are_those_of_the_mappings(section, tmp_path):
    """What fit.py hashes is unchanged by parsing: model_run_dir and the LVM run tag."""
    settings = BenediffSettings.from_config(section)
    for kind in ("frame_ae", "diffusion"):
        typed = model_run_dir(tmp_path / "m.pt", kind, getattr(settings, kind), 0, (2, 4))
        assert typed == model_run_dir(tmp_path / "m.pt", kind, section[kind], 0, (2, 4))
        settings_hash = config_hash({**section[kind], "seed": 0, "shape": [2, 4]})
        assert typed.name == f"{kind}_{settings_hash}"
    for method in section["lvm"]["methods"]:
        config = lvm_config_for(settings.lvm, method, 7, 3)
        assert config == lvm_config_for(section["lvm"], method, 7, 3)
        tag = config_hash({"lvm": asdict(config), "train": settings.lvm.train.as_dict()})
        assert tag == config_hash({"lvm": asdict(config), "train": dict(section["lvm"]["train"])})


def test_of_accepts_settings_or_mapping():
    section = benediff_section("quick")
    lvm = LvmSettings.from_config(section["lvm"])
    assert LvmSettings.of(lvm) is lvm
    assert LvmSettings.of(section["lvm"]) == lvm


def with_value(section: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `section` with the dotted key `path` set to `value`."""
    changed = copy.deepcopy(section)
    *parents, key = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    node[key] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("lvm.tc_estimator", "xyz", r"benediff\.lvm: tc_estimator='xyz' is not one of"),
        ("lvm.train.lr", -0.01, r"benediff\.lvm\.train: lr=-0.01 must be a number > 0"),
        ("lvm.train.steps", 0, r"benediff\.lvm\.train: steps=0 must be an integer >= 1"),
        ("lvm.train.steps", 10.5, r"benediff\.lvm\.train: steps=10\.5 must be an integer"),
        ("lvm.methods", ["benediff", "vae"], r"benediff\.lvm: methods: unknown methods \['vae'\]"),
        ("lvm.methods", ["beta_vae"], r"benediff\.lvm: methods=\['beta_vae'\] must hold"),
        ("lvm.hidden_size", 0, r"benediff\.lvm: hidden_size=0"),
        ("metrics.mig_bins", 1, r"benediff\.metrics: mig_bins=1 must be an integer >= 2"),
        ("frame_ae.channels", [8, 0], r"benediff\.frame_ae: channels=\[8, 0\]"),
        ("frame_ae.train.grad_clip", 0.0, r"benediff\.frame_ae\.train: grad_clip=0\.0"),
        ("diffusion.loss", "huber", r"benediff\.diffusion: loss='huber' is not one of"),
        ("diffusion.schedule.beta_schedule", "cosine", r"diffusion\.schedule: beta_schedule="),
        ("diffusion.schedule.clip_sample", 1, r"diffusion\.schedule: clip_sample=1 must be"),
        ("diffusion.unet.dim_mults", [], r"benediff\.diffusion\.unet: dim_mults=\[\]"),
        ("guidance.scales", [1.0, -2.0], r"benediff\.guidance: scales=\[1\.0, -2\.0\]"),
        ("guidance.methods", "benediff", r"benediff\.guidance: methods='benediff' must be a list"),
        ("guidance.seed", -1, r"benediff\.guidance: seed=-1 must be an integer >= 0"),
        ("cross_hemisphere.cca_components", 0, r"cross_hemisphere: cca_components=0"),
        ("figures.gif_fps", 0, r"benediff\.figures: gif_fps=0"),
        ("seeds", [0, 0], r"benediff: seeds=\[0, 0\] repeats a seed"),
        ("lvm.typo", 1, r"benediff\.lvm: unknown keys \['typo'\]"),
        ("diffusion.train.epochs", 3, r"benediff\.diffusion\.train: unknown keys \['epochs'\]"),
    ],
)
def test_bad_value_names_its_key(path, value, message):
    with pytest.raises(ValueError, match=message):
        BenediffSettings.from_config(with_value(benediff_section("quick"), path, value))


def test_missing_key_and_cross_section_check_are_named():
    section = benediff_section("quick")
    train = {k: v for k, v in section["lvm"]["train"].items() if k != "log_every"}
    with pytest.raises(ValueError, match=r"benediff\.lvm\.train: .*log_every"):
        TrainSettings.from_config(train, "benediff.lvm.train")
    guided = with_value(section, "lvm.methods", ["benediff", "beta_vae"])
    with pytest.raises(ValueError, match=r"guidance\.methods \['supervised_no_tc'\] are not"):
        BenediffSettings.from_config(guided)
    with pytest.raises(ValueError, match=r"benediff\.metrics: expected a mapping"):
        MetricsSettings.from_config([20, 0.001])
