"""Models of the three papers: `ldns` (S4 autoencoder, latent denoiser, spike history), and more."""
