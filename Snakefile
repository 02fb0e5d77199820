# neurodiff: one DAG that reproduces LDNS, GNOCCHI and BeNeDiff.
# Run from the repository root: `snakemake --cores all` (quick preset) or
# `snakemake --cores all --profile slurm` (paper preset on a Slurm cluster).
import sys

from snakemake.utils import min_version

from neurodiff.config import (
    ConfigError,
    config_warnings,
    load_yaml,
    resolve_preset,
    validate_config,
)

min_version("9.0")

# A YAML syntax error of config/config.yaml named with file and line (Snakemake's own message
# names neither; it parses --configfile files before this file, see python -m neurodiff.config).
try:
    load_yaml("config/config.yaml")
except ConfigError as err:
    sys.exit(f"Configuration error: {err}")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


try:
    _resolved = resolve_preset(
        config, "config", workflow.config_settings.overwrite_config
    )
    validate_config(_resolved, "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    sys.exit(f"Configuration error: {err}")
for _warning in config_warnings(_resolved, workflow.config_settings.overwrite_config):
    print(f"Configuration warning: {_warning}", file=sys.stderr)
config.clear()
config.update(_resolved)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/ldns.smk"
include: "workflow/rules/ldns_baselines.smk"
include: "workflow/rules/gnocchi.smk"
include: "workflow/rules/benediff.smk"
include: "workflow/rules/reproduction.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
