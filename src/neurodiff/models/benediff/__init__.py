"""BeNeDiff (Wang et al. 2024): behaviour-informed disentangled LVM per brain region, guided
behaviour-video diffusion.

Modules: `lvm` (sequential VAE with behaviour-tied latents and a TC penalty; baselines by
flags), `video` (frame autoencoder, space-time U-Net, linear encoder, variance objective),
`settings` (typed views of the `benediff:` config section), `build` (models from those
settings), `fit` (training through `neurodiff.train`, evaluation), `generate` (guided sampling
and specificity), `analysis` (cross-hemisphere affine map and CCA), `results` (files the rules
exchange), `report` (tables). Import the submodules directly.
"""
