# GNOCCHI constants and target list, kept apart from the rules (snakemake --lint); included by
# gnocchi.smk.

GNOCCHI = config["gnocchi"]
GNOCCHI_DIR = f"{RESULTS}/gnocchi"
GNOCCHI_DATASETS = ["reaching", "mc_maze"]
GNOCCHI_MODELS = ["gnocchi", "lfads"]
GNOCCHI_SEEDS = GNOCCHI["seeds"]
GNOCCHI_FIRST_SEED = GNOCCHI_SEEDS[0]
# per dataset: the evaluation arrays of the first seed and the metrics of all seeds
GNOCCHI_EVALUATION = {
    dataset: {
        "arrays": f"{GNOCCHI_DIR}/evaluation/{dataset}/seed{GNOCCHI_FIRST_SEED}/arrays.npz",
        "metrics": [
            f"{GNOCCHI_DIR}/evaluation/{dataset}/seed{seed}/metrics.json"
            for seed in GNOCCHI_SEEDS
        ],
    }
    for dataset in GNOCCHI_DATASETS
}
# figures 2-5 (inventory stems gnocchi/figures/<figure>, rules gnocchi_<figure>): the dataset
# whose evaluation each one draws
GNOCCHI_EVALUATION_FIGURES = {
    "fig2_synthetic_latents": "reaching",
    "fig3_synthetic_traversal": "reaching",
    "fig4_monkey_latents": "mc_maze",
    "fig5_monkey_heldout": "mc_maze",
}


def gnocchi_targets():
    """Every gnocchi figure and table of the inventory."""
    return inventory_targets("gnocchi")
