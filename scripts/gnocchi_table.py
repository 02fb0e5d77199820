"""Rule gnocchi_table1_disentanglement: metrics of every dataset, model and seed, mean ± std."""

from neurodiff.models.gnocchi.tables import (
    TITLE,
    caption,
    display_table,
    read_metric_rows,
    summarise,
)
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

with snakemake_job(snakemake) as log:
    summary = summarise(read_metric_rows(snakemake.input))
    write_table(
        snakemake.output.csv,
        summary,
        display_table(summary),
        title=TITLE,
        caption=caption(summary, snakemake.params.preset),
        md_path=snakemake.output.md,
    )
    log.info("table: %d rows from %d metrics files", len(summary), len(snakemake.input))
