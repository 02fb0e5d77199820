"""GNOCCHI (McCart et al. 2024): InfoDiffusion adapted to neural time series.

Modules (imported one by one, so that the light ones do not pull in torch): `model` (encoder +
AdaGN-conditioned 1-D U-Net, InfoDiffusion loss, DDIM sampling, reverse DDIM, traversal),
`unet`, `encoder`, `losses` (MMD, KL), `transform` (spike transforms for diffusion),
`experiment` (datasets, unseen conditions, training of GNOCCHI and LFADS), `evaluation` (codes,
disentanglement, traversal, unseen-condition generation) and `tables` (Table 1).
"""
