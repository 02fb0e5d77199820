"""Rule ldns_condition_use: do the angle- and velocity-conditioned denoisers use their condition?"""

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.condition_use import condition_use_report
from neurodiff.models.ldns.fit import diffusion_schedule, load_denoiser
from neurodiff.models.ldns.generate import EncodedData
from neurodiff.models.ldns.settings import BehaviorSettings, DenoiserSettings, from_mapping
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

TITLE = "Do the conditional LDNS denoisers use their condition? {preset} preset"
CAPTION = (
    "Error of each denoiser's ε and x̂₀ on clean normalised latents of the trials named, at the "
    "same steps and noises, with each trial's own condition vs another trial's (a derangement). "
    "x0_gain = 1 − own/shuffled (0: condition ignored). Last row per model: a ridge map "
    "condition → latents fitted on training and scored on test trials (ridge_r2, and its gain "
    "on the same scale): what a model that uses the condition gains at pure noise."
)

with snakemake_job(snakemake) as log:
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    models = {}
    for name, path in (
        ("mc_maze_angle", snakemake.input.angle),
        ("mc_maze_velocity", snakemake.input.velocity),
    ):
        cfg = from_mapping(
            DenoiserSettings, snakemake.params.denoisers[name], f"ldns.denoiser.{name}"
        )
        models[name] = (load_denoiser(path, cfg, encoded.latents.shape[1], "cpu"), cfg)
    schedule = diffusion_schedule(snakemake.params.diffusion)
    ds = read_tidy(snakemake.input.data)
    table = condition_use_report(models, encoded, ds, behavior, schedule, snakemake.params.seed)
    write_table(
        snakemake.output.csv,
        table,
        table.round(4),
        title=TITLE.format(preset=snakemake.params.preset),
        caption=CAPTION,
        md_path=snakemake.output.md,
    )
    log.info("\n%s", table.to_string(index=False))
