"""Build BeNeDiff's models from their settings (`benediff.lvm`, `.frame_ae`, `.diffusion`).

Kept apart from training (`fit`) so that figures can describe the configured models without
importing the diffusion stack; `parameter_counts` builds them once to count their parameters,
so figures receive plain numbers. Each builder takes the typed settings of
`neurodiff.models.benediff.settings` or the raw config mapping (parsed on entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from neurodiff.models.benediff.lvm import BehaviorLVM, LVMConfig, method_config
from neurodiff.models.benediff.settings import (
    BenediffSettings,
    DiffusionSettings,
    FrameAeSettings,
    LvmSettings,
)
from neurodiff.models.benediff.video import FrameAutoencoder, SpaceTimeUNet, UNetConfig


def lvm_base_config(
    section: LvmSettings | Mapping[str, Any], n_channels: int, n_labels: int
) -> LVMConfig:
    """The LVM sizes and shared weights of the `benediff.lvm` settings."""
    lvm = LvmSettings.of(section)
    hidden = lvm.hidden_size or n_channels  # null: the region's component count
    return LVMConfig(
        n_channels=n_channels,
        n_behavior=n_labels,
        n_irrelevant=lvm.n_irrelevant,
        hidden_size=hidden,
        encoder_layers=lvm.encoder_layers,
        decoder_layers=lvm.decoder_layers,
        recon_weight=lvm.recon_weight_numerator / n_channels,
        tc_samples=lvm.tc_samples,
        tc_estimator=lvm.tc_estimator,
    )


def lvm_config_for(
    section: LvmSettings | Mapping[str, Any], method: str, n_channels: int, n_labels: int
) -> LVMConfig:
    """The LVM config of one method for a region with `n_channels` components."""
    lvm = LvmSettings.of(section)
    return method_config(
        lvm_base_config(lvm, n_channels, n_labels),
        method,
        beta=lvm.beta_vae_beta,
        tc_weight=lvm.tc_weight,
        behavior_weight=lvm.behavior_weight,
    )


def build_frame_autoencoder(
    section: FrameAeSettings | Mapping[str, Any], n_views: int, frame_size: int
) -> FrameAutoencoder:
    """The frame autoencoder of the `benediff.frame_ae` settings."""
    frame_ae = FrameAeSettings.of(section)
    return FrameAutoencoder(n_views, frame_size, list(frame_ae.channels), frame_ae.latent_channels)


def build_unet(
    section: DiffusionSettings | Mapping[str, Any], code_shape: tuple[int, int, int]
) -> SpaceTimeUNet:
    """The space-time U-Net of the `benediff.diffusion` settings for codes (C, h, w)."""
    unet = DiffusionSettings.of(section).unet
    return SpaceTimeUNet(
        UNetConfig(
            channels=code_shape[0],
            size=code_shape[1],
            dim=unet.dim,
            dim_mults=tuple(unet.dim_mults),
            heads=unet.heads,
            dim_head=unet.dim_head,
            groups=unet.groups,
            blocks_per_stage=unet.blocks_per_stage,
        )
    )


@dataclass(frozen=True)
class ParameterCounts:
    """Parameter counts of the configured networks, and the frame code shape (C, h, w)."""

    lvm: dict[str, int]  # the BeNeDiff LVM of each region
    frame_autoencoder: int
    unet: int
    code_shape: tuple[int, int, int]


def n_parameters(module: nn.Module) -> int:
    """Number of parameters of a torch module."""
    return sum(p.numel() for p in module.parameters())


def parameter_counts(
    section: BenediffSettings | Mapping[str, Any],
    components: Mapping[str, int],
    n_labels: int,
    n_views: int,
    frame_size: int,
) -> ParameterCounts:
    """Build the networks of the `benediff` settings once and count their parameters.

    `components` maps each region to its number of components (the LVM's input channels).
    """
    settings = BenediffSettings.of(section)
    lvm = {
        region: n_parameters(BehaviorLVM(lvm_config_for(settings.lvm, "benediff", n, n_labels)))
        for region, n in components.items()
    }
    autoencoder = build_frame_autoencoder(settings.frame_ae, n_views, frame_size)
    code = autoencoder.code_shape
    unet = build_unet(settings.diffusion, code)
    return ParameterCounts(lvm, n_parameters(autoencoder), n_parameters(unet), code)
