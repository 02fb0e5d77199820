# neurodiff: one DAG that reproduces LDNS, GNOCCHI and BeNeDiff.
# Run from the repository root: `snakemake --cores all` (quick preset) or
# `snakemake --cores all --profile slurm` (paper preset on a Slurm cluster).
import sys

from snakemake.utils import min_version

from neurodiff.config import ConfigError, resolve_preset, validate_config

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


try:
    _resolved = resolve_preset(
        config, "config", workflow.config_settings.overwrite_config
    )
    validate_config(_resolved, "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    sys.exit(f"Configuration error: {err}")
config.clear()
config.update(_resolved)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/ldns.smk"
include: "workflow/rules/gnocchi.smk"
include: "workflow/rules/benediff.smk"
include: "workflow/rules/reproduction.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
