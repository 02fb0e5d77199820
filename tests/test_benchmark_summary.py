"""Per-paper CPU time from Snakemake benchmark files, on constructed files with known sums."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurodiff.benchmark_summary import main, read_benchmarks, rule_of, summarize

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path: Path, wall: float, cpu: float, rss: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:{int(wall):02d}\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    write_benchmark(tmp_path / "gnocchi/benchmarks/train_reaching_gnocchi_seed0.tsv", 10, 8, 500)
    write_benchmark(tmp_path / "gnocchi/benchmarks/train_reaching_gnocchi_seed1.tsv", 12, 9, 520)
    write_benchmark(tmp_path / "gnocchi/benchmarks/evaluate_reaching_seed0.tsv", 5, 4, 700)
    write_benchmark(tmp_path / "benediff/benchmarks/lvm_session1_VIS_L.tsv", 30, 20, 300)
    write_benchmark(tmp_path / "benchmarks/reproduction.tsv", 1, 1, 100)
    return tmp_path


def test_rule_of_drops_wildcard_values():
    assert rule_of("train_reaching_gnocchi_seed3") == "train_reaching_gnocchi"
    assert rule_of("lvm_session2_SSp_R") == "lvm"
    assert rule_of("lvm_05-Dec-2017_MOs_L") == "lvm"
    assert rule_of("autoencoder_lorenz") == "autoencoder_lorenz"


def test_summary_sums_per_group_and_ranks_rules(log_dir):
    summary = summarize(read_benchmarks(log_dir)).set_index("group")
    assert summary.loc["gnocchi", "jobs"] == 3
    assert summary.loc["gnocchi", "cpu_s"] == pytest.approx(21)
    assert summary.loc["gnocchi", "wall_s"] == pytest.approx(27)
    assert summary.loc["gnocchi", "max_rss_mb"] == pytest.approx(700)
    assert summary.loc["gnocchi", "heaviest rules (CPU)"].startswith("train_reaching_gnocchi 17 s")
    assert summary.loc["workflow", "cpu_s"] == pytest.approx(1)
    assert summary.loc["all", "cpu_s"] == pytest.approx(42)


def test_main_prints_a_markdown_table(log_dir, capsys):
    main([str(log_dir)])
    out = capsys.readouterr().out
    assert out.startswith("| group | jobs | wall_s | cpu_s |")
    assert "| benediff | 1 | 30 | 20 | 300 | lvm 20 s |" in out


def test_a_file_that_is_not_a_benchmark_is_named(tmp_path):
    bad = tmp_path / "ldns/benchmarks/x.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match=r"x\.tsv: not a Snakemake benchmark file"):
        read_benchmarks(tmp_path)
    with pytest.raises(ValueError, match="no benchmark files"):
        read_benchmarks(tmp_path / "ldns" / "nothing")
