"""Comparison models written from their published descriptions.

`lfads.LFADS`: latent factor analysis via dynamical systems (Sussillo et al. 2016; Pandarinath
et al. 2018), split into lfads-torch-style modules: the GNOCCHI comparison model and the LDNS
Table 1 "LFADS" rows (fixed hyperparameters). `autolfads`: LFADS searched by Ray Tune
population-based training (Table 1 "AutoLFADS"). `tndm`: TNDM (Hurwitz et al. 2021) on the LFADS
pieces. `pivae`: pi-VAE (Zhou & Wei 2020) on the `pi-vae-pytorch` networks.
"""
