"""Rule ldns_table1: spike statistics of every MC_Maze method vs the training data (Table 1)."""

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.evaluation import monkey_methods, table1, table1_display
from neurodiff.models.ldns.settings import EvaluationSettings, from_mapping
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

TITLE = "Table 1 (LDNS), {preset} preset"
CAPTION = (
    "MC_Maze: spike statistics of each method's samples vs the {n} training trials, mean ± std "
    "over {k} bootstrap resamples of the samples (KL of population spike count densities, RMSE "
    "of pairwise correlations over the full N×N matrix, RMSE of per-neuron mean and std ISI in "
    "seconds). Last row: random halves of the data against each other. Computed by this run; "
    "not the paper's numbers."
)

with snakemake_job(snakemake) as log:
    cfg = from_mapping(EvaluationSettings, snakemake.params.cfg, "ldns.evaluation")
    ds = read_tidy(snakemake.input.data)
    data = ds.signals[ds.indices("train")]
    methods = monkey_methods(read_npz(snakemake.input.ldns), read_npz(snakemake.input.lfads),
                             read_npz(snakemake.input.spike_history))
    table = table1(methods, data, fps=1 / ds.bin_size_s, n_resamples=cfg.n_bootstrap,
                   seed=cfg.seed)
    write_table(snakemake.output.csv, table, table1_display(table),
                title=TITLE.format(preset=snakemake.params.preset),
                caption=CAPTION.format(n=len(data), k=cfg.n_bootstrap),
                md_path=snakemake.output.md)
    log.info("\n%s", table1_display(table).to_string(index=False))
