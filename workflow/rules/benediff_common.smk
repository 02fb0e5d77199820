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
    f"{BENEDIFF}/figures/fig4_guided_videos_{region}_{label}.gif"
    for region, label in BD_GIF_KEYS
]


def benediff_targets():
    """Every benediff figure and table of the inventory."""
    figures = [
        "fig2_schematic",
        "fig3_latents",
        "fig4_guided_videos",
        "fig5_cross_hemisphere",
    ]
    tables = ["table1_lvm_metrics", "table2_guidance_specificity"]
    return (
        expand(f"{BENEDIFF}/figures/{{stem}}.{{ext}}", stem=figures, ext=["png", "pdf"])
        + expand(f"{BENEDIFF}/tables/{{stem}}.{{ext}}", stem=tables, ext=["csv", "md"])
        + BD_GIFS
    )
