"""Evaluation metrics: one function per number in a table, each unit-tested on known answers.

`neurodiff.metrics.spikes` holds the LDNS spike-train statistics (population spike count
histogram KL, pairwise-correlation RMSE, ISI statistics, temporal correlations, PSD, PCA of
smoothed spikes, velocity decoding, bootstrap and split-half folds).
"""
