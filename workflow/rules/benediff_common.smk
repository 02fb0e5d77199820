# BeNeDiff constants and target list, kept apart from the rules (snakemake --lint).

BENEDIFF = f"{RESULTS}/benediff"
BD = config["benediff"]
BD_REGIONS = DATA["widefield"]["regions"]
BD_LABELS = DATA["widefield"]["label_names"]
BD_FIG_SESSION = BD["figures"]["session"] or WIDEFIELD_SESSIONS[0]
BD_GIF_KEYS = [(region, label) for region in BD_REGIONS for label in BD_LABELS]


BD_LATENTS = {
    session: [
        f"{BENEDIFF}/models/lvm/{session}/{region}/latents.npz" for region in BD_REGIONS
    ]
    for session in WIDEFIELD_SESSIONS
}
BD_GIFS = [
    reported(
        f"benediff/figures/fig4_guided_videos_{region}_{label}",
        "gif",
        item_stem="benediff/figures/fig4_guided_videos_{region}_{factor}",
        labels={"region": region, "factor": label},
    )
    for region, label in BD_GIF_KEYS
]


def benediff_targets():
    """Every benediff figure, table and guided video of the inventory."""
    return inventory_targets("benediff")
