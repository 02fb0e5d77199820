"""Evaluation metrics: one function per number in a table, each unit-tested on known answers.

Split by what is measured (per-paper aggregation lives in `neurodiff.models.<paper>`):

- `spikes`: spike-train statistics (population spike count histogram KL, pairwise-correlation
  RMSE, ISI statistics, temporal correlations, PSD, PCA of smoothed spikes, PSTH R², Fano
  factors);
- `resampling`: bootstrap and split-half comparison of spike statistics (LDNS Table 1 folds);
- `agreement`: Pearson r between data and model spike statistics and the drift of long latent
  samples (LDNS Lorenz);
- `decoding`: behaviour decoded from activity or latents (velocity ridge decoder, R² per
  channel, behaviour and leakage R²) and angle errors;
- `disentangle`: disentanglement of codes w.r.t. factors (MIG, DCI, SAP, traversal selectivity,
  Gaussian total correlation and block MI of latents);
- `generation`: specificity of guided generation (variance ratios of decoded labels);
- `trial_arrays`: shape and mask checks shared by the (trials, time, channels) metrics.
"""
