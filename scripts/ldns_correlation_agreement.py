"""Rule ldns_correlation_agreement: where the MC_Maze pairwise-correlation gap arises."""

import pandas as pd
import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.metrics.agreement import correlation_agreement
from neurodiff.models.ldns.evaluation import TRUTH_ROW, read_monkey_methods
from neurodiff.models.ldns.generate import EncodedData, poisson_from_rates, true_rate_spikes
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

TITLE = "Pairwise correlations and autocorrelation of MC_Maze, data vs models ({preset} preset)"
CAPTION = (
    "Pearson r and RMSE over neuron pairs i > j between the training data's pairwise "
    "correlations and those of: the other half of the data (two random halves; the Spearman–"
    "Brown row is what a perfect model with as many trials would reach), Poisson spikes of the "
    "simulator's true rates (simulations only), Poisson spikes of the autoencoder's rates, and "
    "every Table 1 method's samples. autocov_ratio: single-neuron auto-covariance summed over "
    "lags 1–10 bins (trial means removed, all neurons pooled) over the data's (the halves row: "
    "one half over the other), autocov_deviation = |autocov_ratio − 1|. Computed by this run."
)

with snakemake_job(snakemake) as log:
    seed = snakemake.params.seed
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    samples = {}
    generator = torch.Generator().manual_seed(seed)
    if snakemake.input.truth:
        truth = read_npz(snakemake.input.truth[0])
        samples[TRUTH_ROW] = true_rate_spikes(truth, ds, train, generator)
    samples["autoencoder rates, Poisson"] = poisson_from_rates(encoded.rates[train], generator)
    samples |= read_monkey_methods(snakemake.input)
    rows = correlation_agreement(ds.signals[train], samples, seed)
    table = pd.DataFrame.from_records(rows)
    write_table(
        snakemake.output.csv,
        table,
        table.round({"pearson_r": 3, "rmse_pairs": 5, "autocov_ratio": 3, "autocov_deviation": 3}),
        title=TITLE.format(preset=snakemake.params.preset),
        caption=CAPTION,
        md_path=snakemake.output.md,
    )
    log.info("\n%s", table.to_string(index=False))
