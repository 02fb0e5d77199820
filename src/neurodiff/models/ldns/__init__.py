"""LDNS (Kapoor, Schulz et al. 2024): S4 autoencoder, S4 latent denoiser, spike-history GLM.

Sizes (input / hidden / latent / blocks): Lorenz 128/256/8/4 bidirectional, MC_Maze
182/256/16/4 causal, human BCI 128/256/32/6 causal. The S4 layers are S4D (diagonal);
d_state = 80 gives the same parameter count as the authors' DPLR kernel with N = 64.
"""

from neurodiff.models.ldns.autoencoder import (
    AutoencoderLoss,
    LatentNormalizer,
    S4Autoencoder,
    autoencoder_loss,
    coordinated_dropout,
    fit_latent_normalizer,
    latent_penalty,
)
from neurodiff.models.ldns.denoiser import (
    LatentDenoiser,
    center_crop,
    center_pad,
    centered_mask,
)
from neurodiff.models.ldns.spike_history import (
    SpikeHistoryGLM,
    fit_spike_history,
    sample_spike_history,
)

__all__ = [
    "AutoencoderLoss",
    "LatentDenoiser",
    "LatentNormalizer",
    "S4Autoencoder",
    "SpikeHistoryGLM",
    "autoencoder_loss",
    "center_crop",
    "center_pad",
    "centered_mask",
    "coordinated_dropout",
    "fit_latent_normalizer",
    "fit_spike_history",
    "latent_penalty",
    "sample_spike_history",
]
