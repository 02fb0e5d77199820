"""Comparison models written from their published descriptions.

`lfads.LFADS`: latent factor analysis via dynamical systems (Sussillo et al. 2016; Pandarinath
et al. 2018) with fixed hyperparameters: the GNOCCHI comparison model and the LDNS Table 1
baseline (which used AutoLFADS, i.e. LFADS tuned by population-based training; not done here).
"""
