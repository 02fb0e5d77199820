"""Layers shared by the models: the S4D state-space layer and the diffusion-step embedding."""

from neurodiff.nn.embedding import timestep_embedding
from neurodiff.nn.s4 import S4D, fft_conv, s4d_eigenvalues

__all__ = ["S4D", "fft_conv", "s4d_eigenvalues", "timestep_embedding"]
