# The HTML report, written when a run succeeds: results/{preset}/report.html holds every figure,
# table and guided video with the captions of workflow/report/, so a run ends with it and needs
# no second command. Built by `snakemake --report` in a child process once the run has released
# its lock; a run of only some targets (no claims ledger yet) skips it, and a failed report
# leaves the run's results as they are and says how to build it by hand.
import json
import os
import subprocess

REPORT_FILE = f"{RESULTS}/report.html"
REPORT_CHILD = "NEURODIFF_REPORT_CHILD"


def report_command():
    """`snakemake --report` with this run's preset, config files and overrides."""
    command = [sys.executable, "-m", "snakemake", "--report", REPORT_FILE]
    command += ["--directory", os.getcwd()]
    for path in workflow.config_settings.configfiles or []:
        command += ["--configfile", str(path)]
    overrides = workflow.config_settings.overwrite_config or {}
    values = {**overrides, "preset": PRESET}
    command += ["--config"]
    command += [
        f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items()
    ]
    return command


def write_report():
    """Build the HTML report after a successful run (skipped for partial runs)."""
    if os.environ.get(REPORT_CHILD):
        return
    if not Path(f"{RESULTS}/reproduction.md").exists():
        print(
            f"Report skipped: {RESULTS}/reproduction.md is not built yet (partial run)"
        )
        return
    command = report_command()
    result = subprocess.run(
        command, env={**os.environ, REPORT_CHILD: "1"}, capture_output=True, text=True
    )
    if result.returncode == 0:
        print(f"Report written: {REPORT_FILE}")
    else:
        print(result.stderr[-3000:], file=sys.stderr)
        print(
            f"Report failed (the results are complete); build it with: "
            f"{' '.join(command[2:])}",
            file=sys.stderr,
        )


onsuccess:
    write_report()
