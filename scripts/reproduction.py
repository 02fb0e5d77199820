"""Rule reproduction: every claim of config/claims.yaml against this run's computed numbers."""

from pathlib import Path

from neurodiff.claims import evaluate_claims, load_claims, verdict_counts, write_reproduction
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    ledger = load_claims(snakemake.input.claims, snakemake.input.schema)
    results = Path(snakemake.output.md).parent  # results/{preset}/, where claims read from
    table = evaluate_claims(ledger, results, snakemake.params.preset, snakemake.params.sources)
    write_reproduction(
        table,
        ledger,
        snakemake.params.preset,
        snakemake.input.claims,
        snakemake.output.csv,
        snakemake.output.md,
    )
    log.info("%d claims: %s", len(table), table["verdict"].value_counts().to_dict())
    log.info("verdicts per paper:\n%s", verdict_counts(table).to_string(index=False))
