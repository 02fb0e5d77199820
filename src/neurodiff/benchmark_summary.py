"""Per-paper CPU time of a run, from the Snakemake `benchmark:` files every compute rule writes.

Every rule that trains, samples, evaluates or draws writes `logs/{preset}/<group>/benchmarks/
<job>.tsv` (Snakemake's columns: `s` wall seconds, `cpu_time` CPU seconds, `max_rss` MB, ...).
`summarize` groups them by the folder above `benchmarks/` (data, ldns, gnocchi, benediff) and by
rule (the job name without its wildcard values), so the README's runtime table is computed
from a run, never typed in:

    python -m neurodiff.benchmark_summary logs/medium
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from neurodiff.markdown import markdown_table

COLUMNS = {"s": "wall_s", "cpu_time": "cpu_s", "max_rss": "max_rss_mb"}


def read_benchmarks(log_dir: str | Path) -> pd.DataFrame:
    """One row per benchmark file under log_dir: group, job, wall_s, cpu_s, max_rss_mb."""
    rows = []
    for path in sorted(Path(log_dir).glob("**/benchmarks/*.tsv")):
        table = pd.read_csv(path, sep="\t")
        missing = sorted(set(COLUMNS) - set(table.columns))
        if missing or table.empty:
            raise ValueError(
                f"{path}: not a Snakemake benchmark file (missing {missing or 'rows'})"
            )
        last = table.iloc[-1]
        group = path.parent.parent.name if path.parent.parent != Path(log_dir) else "workflow"
        rows.append(
            {
                "group": group,
                "job": path.stem,
                **{new: float(last[old]) for old, new in COLUMNS.items()},
            }
        )
    if not rows:
        raise ValueError(f"no benchmark files (*/benchmarks/*.tsv) under {log_dir}")
    return pd.DataFrame(rows)


def rule_of(job: str) -> str:
    """The rule family of a job file name: wildcard values (seeds, sessions, regions) dropped."""
    name = re.sub(r"_seed\d+$", "", job)
    name = re.sub(r"_session\w*$|_\d\d-\w{3}-\d{4}.*$", "", name)
    return re.sub(r"_(VIS|SSp|MOs)_[LR]$", "", name)


def summarize(jobs: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Per group: jobs, summed wall and CPU seconds, the largest peak RSS, the top rules by CPU."""
    jobs = jobs.assign(
        rule=[f"{g}/{rule_of(j)}" for g, j in zip(jobs["group"], jobs["job"], strict=True)]
    )
    rows = []
    for group, part in jobs.groupby("group", sort=True):
        by_rule = part.groupby("rule")["cpu_s"].sum().sort_values(ascending=False)
        heaviest = ", ".join(
            f"{r.split('/', 1)[1]} {s:.0f} s" for r, s in by_rule.head(top).items()
        )
        rows.append(
            {
                "group": group,
                "jobs": len(part),
                "wall_s": part["wall_s"].sum(),
                "cpu_s": part["cpu_s"].sum(),
                "max_rss_mb": part["max_rss_mb"].max(),
                "heaviest rules (CPU)": heaviest,
            }
        )
    summary = pd.DataFrame(rows)
    total = {
        "group": "all",
        "jobs": len(jobs),
        "wall_s": jobs["wall_s"].sum(),
        "cpu_s": jobs["cpu_s"].sum(),
        "max_rss_mb": jobs["max_rss_mb"].max(),
        "heaviest rules (CPU)": "",
    }
    return pd.concat([summary, pd.DataFrame([total])], ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    """Print the per-group summary of a run's benchmark files as a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", help="e.g. logs/medium")
    parser.add_argument("--top", type=int, default=3, help="heaviest rules listed per group")
    args = parser.parse_args(argv)
    summary = summarize(read_benchmarks(args.log_dir), args.top)
    summary = summary.assign(
        wall_s=summary["wall_s"].round(0).astype(int),
        cpu_s=summary["cpu_s"].round(0).astype(int),
        max_rss_mb=summary["max_rss_mb"].round(0).astype(int),
    )
    print(markdown_table(summary), end="")


if __name__ == "__main__":
    main()
