"""The diffusion core shared by LDNS, GNOCCHI and BeNeDiff: schedule, ε-objective, samplers."""

from neurodiff.diffusion.objective import (
    Denoiser,
    diffusion_loss,
    masked_mean,
    predict_x0,
    q_sample,
)
from neurodiff.diffusion.sampling import (
    Guidance,
    ddim_invert,
    ddim_sample,
    ddpm_sample,
    objective_guidance,
)
from neurodiff.diffusion.schedule import NoiseSchedule, make_schedule

__all__ = [
    "Denoiser",
    "Guidance",
    "NoiseSchedule",
    "ddim_invert",
    "ddim_sample",
    "ddpm_sample",
    "diffusion_loss",
    "make_schedule",
    "masked_mean",
    "objective_guidance",
    "predict_x0",
    "q_sample",
]
