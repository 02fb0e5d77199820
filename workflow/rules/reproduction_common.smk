# Reproduction ledger: the claims file, the files its claims read and the target list, kept apart
# from the rules (snakemake --lint); included by reproduction.smk.
import sys

from neurodiff.claims import (
    ClaimsError,
    claim_input_files,
    dataset_sources,
    load_claims,
)

CLAIMS_FILE = "config/claims.yaml"
CLAIMS_SCHEMA = "workflow/schemas/claims.schema.yaml"
try:
    CLAIMS = load_claims(CLAIMS_FILE, CLAIMS_SCHEMA)
except ClaimsError as err:
    sys.exit(f"Claims error: {err}")
CLAIM_INPUTS = claim_input_files(CLAIMS, RESULTS)
DATASET_SOURCES = dataset_sources(DATA)
LORENZ_STATISTICS = f"{RESULTS}/ldns/metrics/lorenz_statistics.json"


def reproduction_targets():
    """The claims ledger evaluated: paper value, reproduced value, verdict."""
    return inventory_targets("reproduction")
