"""GNOCCHI: InfoDiffusion on neural time series (McCart et al. 2024; Wang et al. 2023).

An auxiliary encoder maps a trial x₀ (B, N, T) to a code c ∈ ℝ^L; a 1-D U-Net conditioned on c
through AdaGN is trained as a DDPM. Per batch (gnocchi.md §3.1, ζ = 1):

    L = ‖ε̂ − ε‖² + w_rec·‖x̂₀ − x₀‖² + λ·MMD²(c, c_prior) [+ w_KL·KL(q(c|x₀) ‖ N(0, I))]

with t ~ U{0 … T−1}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε; ε̂ and x̂₀ are the noise and clean
trial implied by the network at the same x_t and t; c_prior ~ N(0, I) is drawn fresh per batch
(as many as the batch); λ = `mmd_weight` (InfoDiffusion default 0.1); the KL term only for a
stochastic encoder (`kl_weight` > 0, InfoDiffusion's kld_weight = 1 − ζ: the code is then a
reparameterised sample in training and the mean at use).

Parameterisation. The U-Net predicts v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (Salimans & Ho 2022), so that
ε̂ = √(1−ᾱ_t)·x_t + √ᾱ_t·v̂ and x̂₀ = √ᾱ_t·x_t − √(1−ᾱ_t)·v̂; `forward` returns ε̂, which is
what the shared DDIM samplers expect. With w_rec = 1 the two terms add up to ‖v̂ − v‖²: the
ε term dominates at low noise, the reconstruction term at high noise, where x_t says little
about x₀ and the network must reconstruct it from the code. (With a plain ε-network the
reconstruction term's gradient is scaled by √(1−ᾱ_t)/√ᾱ_t, which is badly conditioned as
ᾱ_t → 0; predicting v keeps both terms well scaled.)

Three quirks of the public InfoDiffusion code (isjakewong/InfoDiffusion, gnocchi.md §3) are
deliberately NOT copied:
1. Wrong-t reconstruction coefficient. The public loss rebuilds x̂₀ from ε̂(x_t, t) of the random
   t but with the t = 0 coefficients (β₀, ᾱ₀, α₀), so the term is ≈ β₀·‖ε̂‖² and barely involves
   x₀. Here x̂₀ uses the coefficients of the SAME t as the ε term (see above).
2. Doubly normalised MMD kernel. The public kernel is exp(−mean_d(x_d − y_d)² / D), i.e.
   ‖x − y‖²/D²; here the squared distance is normalised once (`losses.kernel_matrix`), and the
   unbiased MMD² estimator is used instead of the biased one with diagonal terms.
3. Reverse DDIM ignoring the code. The public `reverse_sampling` never passes the code to the
   network; here `invert` runs `neurodiff.diffusion.ddim_invert` with the code at every step,
   so `sample(c, x_T=invert(x₀, c))` reconstructs x₀.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neurodiff.diffusion import NoiseSchedule, ddim_invert, ddim_sample, make_schedule
from neurodiff.diffusion.objective import alpha_bar, draw_timesteps_and_noise, q_sample
from neurodiff.models.gnocchi.encoder import CodeEncoder
from neurodiff.models.gnocchi.losses import MMD_KERNELS, kl_to_standard_normal, mmd
from neurodiff.models.gnocchi.unet import TimeUNet1d


@dataclass(frozen=True)
class GnocchiConfig:
    """Sizes, loss weights and noise schedule of a GNOCCHI model."""

    n_neurons: int
    code_dim: int = 4
    channels: int = 16
    channel_mult: tuple[int, ...] = (1, 2)
    res_blocks: int = 1
    groups: int = 8
    embed_dim: int = 64
    attention: bool = False
    attention_heads: int = 1
    dropout: float = 0.0
    filter_kernel: int = 5
    encoder_kind: str = "conv"
    encoder_hidden: int = 32
    encoder_layers: int = 2
    encoder_kernel: int = 5
    encoder_pool: str = "attention"
    encoder_pool_heads: int = 4
    encoder_pool_windows: int = 5
    bin_embedding: bool = True
    mmd_weight: float = 0.1
    mmd_kernel: str = "rbf"
    recon_weight: float = 1.0
    kl_weight: float = 0.0
    schedule: dict[str, Any] = field(
        default_factory=lambda: {"num_train_timesteps": 100, "beta_start": 1e-4, "beta_end": 0.1}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mult", tuple(self.channel_mult))
        if self.mmd_kernel not in MMD_KERNELS:
            raise ValueError(f"mmd_kernel={self.mmd_kernel!r} is not one of {MMD_KERNELS}")
        weights = {k: getattr(self, k) for k in ("mmd_weight", "recon_weight", "kl_weight")}
        if min(weights.values()) < 0:
            raise ValueError(f"loss weights must be >= 0, got {weights}")
        if self.code_dim < 1 or self.n_neurons < 1:
            raise ValueError(
                f"n_neurons and code_dim must be >= 1, got {self.n_neurons}, {self.code_dim}"
            )


class Gnocchi(nn.Module):
    """Encoder + conditional 1-D U-Net denoiser; `forward(x_t, t, c)` is the denoiser ε̂."""

    def __init__(self, config: GnocchiConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.schedule: NoiseSchedule = make_schedule(**cfg.schedule)
        self.encoder = CodeEncoder(
            cfg.n_neurons,
            cfg.code_dim,
            cfg.encoder_kind,
            cfg.encoder_hidden,
            cfg.encoder_layers,
            cfg.encoder_kernel,
            cfg.groups,
            stochastic=cfg.kl_weight > 0,
            pool=cfg.encoder_pool,
            pool_heads=cfg.encoder_pool_heads,
            pool_windows=cfg.encoder_pool_windows,
        )
        self.denoiser = TimeUNet1d(
            cfg.n_neurons,
            cfg.code_dim,
            cfg.channels,
            cfg.channel_mult,
            cfg.res_blocks,
            cfg.groups,
            cfg.embed_dim,
            cfg.attention,
            cfg.attention_heads,
            cfg.dropout,
            cfg.filter_kernel,
            cfg.bin_embedding,
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """ε̂ (B, N, T) of noisy trials x_t (B, N, T) at steps t (B,) given codes (B, L)."""
        a_bar = alpha_bar(self.schedule, t, x_t)
        return (1 - a_bar).sqrt() * x_t + a_bar.sqrt() * self.denoiser(x_t, t, code)

    def _training_code(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(code used in the loss, KL term): the mean, or a reparameterised sample and its KL."""
        mean, logvar = self.encoder(x0)
        if logvar is None:
            return mean, mean.new_zeros(())
        sample = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return sample, kl_to_standard_normal(mean, logvar)

    def loss(self, x0: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """(total loss, logged terms) for clean trials x0 (B, N, T); see the module docstring."""
        cfg = self.config
        code, kl = self._training_code(x0)
        t, noise = draw_timesteps_and_noise(self.schedule, x0)
        x_t = q_sample(self.schedule, x0, t, noise)
        v_hat = self.denoiser(x_t, t, code)
        a_bar = alpha_bar(self.schedule, t, x0)
        eps_hat = (1 - a_bar).sqrt() * x_t + a_bar.sqrt() * v_hat
        x0_hat = a_bar.sqrt() * x_t - (1 - a_bar).sqrt() * v_hat
        eps_loss = (eps_hat - noise).pow(2).mean()
        recon = (x0_hat - x0).pow(2).mean()
        prior_mmd = mmd(code, torch.randn_like(code), cfg.mmd_kernel)
        total = (
            eps_loss + cfg.recon_weight * recon + cfg.mmd_weight * prior_mmd + cfg.kl_weight * kl
        )
        logs = {
            "eps_mse": eps_loss.item(),
            "recon": recon.item(),
            "mmd": prior_mmd.item(),
            "kl": kl.item(),
        }
        return total, logs

    @torch.no_grad()
    def encode(self, x0: torch.Tensor) -> torch.Tensor:
        """Codes (B, L) of trials x0 (B, N, T): the encoder's (mean) output, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return self.encoder(x0)[0]
        finally:
            self.train(was_training)

    def sample(
        self,
        codes: torch.Tensor,
        n_bins: int,
        steps: int,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        x_T: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """DDIM samples (B, N, n_bins) conditioned on codes (B, L), from x_T or fresh noise."""
        shape = (codes.shape[0], self.config.n_neurons, n_bins)
        return ddim_sample(
            self,
            self.schedule,
            shape,
            cond=codes,
            num_inference_steps=steps,
            eta=eta,
            generator=generator,
            x_T=x_T,
        )

    def invert(self, x0: torch.Tensor, codes: torch.Tensor, steps: int) -> torch.Tensor:
        """Reverse DDIM x₀ → x_T (B, N, T) with the code passed at every step."""
        return ddim_invert(self, self.schedule, x0, cond=codes, num_inference_steps=steps)

    def traverse(
        self, codes: torch.Tensor, axis: int, values: torch.Tensor, x_T: torch.Tensor, steps: int
    ) -> torch.Tensor:
        """Decode each base trial with code axis `axis` set to each value, x_T held fixed.

        codes (B, L) and x_T (B, N, T) are the base trials (e.g. encoded and inverted real
        trials); returns (len(values), B, N, T).
        """
        if not 0 <= axis < self.config.code_dim:
            raise ValueError(f"axis {axis} is outside 0..{self.config.code_dim - 1}")
        outputs = []
        for value in values.tolist():
            moved = codes.clone()
            moved[:, axis] = value
            outputs.append(self.sample(moved, x_T.shape[-1], steps, x_T=x_T))
        return torch.stack(outputs)


def gnocchi_from_config(n_neurons: int, overrides: dict[str, Any] | None = None) -> Gnocchi:
    """A GNOCCHI model for n_neurons with config fields overridden (unknown keys raise)."""
    fields = set(GnocchiConfig.__dataclass_fields__) - {"n_neurons"}
    unknown = sorted(set(overrides or {}) - fields)
    if unknown:
        raise ValueError(f"unknown GNOCCHI config keys {unknown}; allowed: {sorted(fields)}")
    return Gnocchi(GnocchiConfig(n_neurons=n_neurons, **(overrides or {})))
