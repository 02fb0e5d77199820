# LDNS paths, target lists and helper functions, included by ldns.smk (which holds the rules).
LDNS = config["ldns"]
LDNS_OUT = f"{RESULTS}/ldns"
LDNS_LOGS = f"{LOGS}/ldns"
LDNS_DATASETS = "|".join(LDNS["autoencoder"])
LDNS_MODELS = "|".join(LDNS["denoiser"])
LDNS_LORENZ_FIGURES = [
    "fig2_lorenz",
    "figA5_lfads_lorenz_factors",
    "figA6_lfads_length_generalisation",
]
LDNS_MONKEY_FIGURES = [
    "fig4_monkey",
    "figA10_correlation_matrices",
    "figA11_rasters",
    "figA13_metric_bars",
    "figA14_method_rasters",
    "figA15_pca_psd",
    "figA16_method_statistics",
]


def ldns_targets():
    """Every ldns figure and table of the inventory."""
    return inventory_targets("ldns")


def ldns_figures(stems, ext):
    """Figure files of the given stems (the PNGs marked for the report)."""
    if ext == "png":
        return [reported(f"ldns/figures/{stem}", ext) for stem in stems]
    return [f"{LDNS_OUT}/figures/{stem}.{ext}" for stem in stems]


def ldns_dataset(model):
    """The dataset a diffusion model is trained on."""
    return LDNS["denoiser"][model]["dataset"]


def ldns_latents(dataset):
    """Autoencoder latents and rates of a dataset."""
    return f"{LDNS_OUT}/models/{dataset}/latents.npz"


def ldns_samples(name):
    """Samples of a diffusion model or baseline."""
    return f"{LDNS_OUT}/samples/{name}.npz"


def ldns_baseline_samples():
    """Samples of the Table-1 baselines beyond LFADS (ldns_baselines.smk), by input name."""
    return {
        "pivae": ldns_samples("mc_maze_pivae"),
        "tndm": ldns_samples("mc_maze_tndm"),
        "autolfads": ldns_samples("mc_maze_autolfads"),
        "baseline_history": ldns_samples("mc_maze_baselines_spike_history"),
    }
