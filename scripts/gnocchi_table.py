"""Rule gnocchi_table1_disentanglement: metrics of every dataset, model and seed, mean ± std."""

from neurodiff.io import atomic_path, write_text_atomic
from neurodiff.models.gnocchi.tables import markdown_table, read_metric_rows, summarise
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    summary = summarise(read_metric_rows(snakemake.input))
    with atomic_path(snakemake.output.csv) as tmp:
        summary.to_csv(tmp, index=False)
    write_text_atomic(snakemake.output.md, markdown_table(summary, snakemake.params.preset))
    log.info("table: %d rows from %d metrics files", len(summary), len(snakemake.input))
