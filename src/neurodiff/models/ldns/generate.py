"""Sampling LDNS: noise → latents (DDPM or DDIM) → autoencoder decoder → rates → Poisson spikes.

The conditions a diffusion model sees at training time come from the data (`denoiser_inputs`);
at sampling time from `sampling_conditions`: nothing (unconditional, as many samples as
training trials), reach angles drawn uniformly on (−π, π], the hand-velocity time series of
held-out test trials (several samples each), or trial lengths (centred masks; the samples are
cropped back to their length and stored left-aligned with a prefix mask, like the data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neurodiff.data.simulate.nlb_like import true_counts
from neurodiff.data.tidy import TidyDataset, TidyFormatError
from neurodiff.diffusion import NoiseSchedule, ddim_sample, ddpm_sample
from neurodiff.models.ldns.autoencoder import (
    LatentNormalizer,
    S4Autoencoder,
    fit_latent_normalizer,
)
from neurodiff.models.ldns.denoiser import center_crop, center_pad, centered_mask
from neurodiff.models.ldns.fit import (
    DenoiserInputs,
    channels_first,
    channels_last,
    encode,
    poisson_nll,
)
from neurodiff.models.ldns.settings import BehaviorSettings, DenoiserSettings, SamplingSettings


@dataclass
class EncodedData:
    """Autoencoder outputs for every trial of a dataset, and the latent normaliser."""

    latents: np.ndarray  # (trials, d, time)
    rates: np.ndarray  # (trials, time, channels)
    mask: np.ndarray  # (trials, time) bool
    split: np.ndarray  # (trials,) str
    normalizer: LatentNormalizer
    info: dict[str, float] = field(default_factory=dict)

    def rows(self, split: str) -> np.ndarray:
        """Trial indices of one split."""
        return np.flatnonzero(self.split == split)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for an .npz file."""
        clip = self.normalizer.clip
        return {
            "latents": self.latents,
            "rates": self.rates,
            "mask": self.mask,
            "split": self.split.astype(str),
            "latent_mean": self.normalizer.mean.numpy(),
            "latent_std": self.normalizer.std.numpy(),
            "latent_clip": np.array(np.nan if clip is None else clip),
            **{f"info_{k}": np.array(v) for k, v in self.info.items()},
        }

    @classmethod
    def from_arrays(cls, arrays: Any, where: str = "latents file") -> EncodedData:
        """Inverse of `to_arrays`, from any mapping of name → array (e.g. `io.read_npz`)."""
        needed = {"latents", "rates", "mask", "split", "latent_mean", "latent_std", "latent_clip"}
        missing = sorted(needed - set(arrays.keys()))
        if missing:
            raise ValueError(f"{where}: missing arrays {missing}")
        clip = float(arrays["latent_clip"])
        normalizer = LatentNormalizer(
            torch.as_tensor(arrays["latent_mean"]),
            torch.as_tensor(arrays["latent_std"]),
            None if np.isnan(clip) else clip,
        )
        info = {k[5:]: float(arrays[k]) for k in arrays.keys() if k.startswith("info_")}
        return cls(
            arrays["latents"],
            arrays["rates"],
            arrays["mask"].astype(bool),
            arrays["split"].astype(str),
            normalizer,
            info,
        )


def encode_dataset(
    model: S4Autoencoder, ds: TidyDataset, latent_clip: float | None, info: dict[str, float]
) -> EncodedData:
    """Latents and rates of every trial; normaliser fitted on the training trials' observed bins.

    `info` is stored with the arrays; the validation and test Poisson NLL are added to it.
    """
    latents, rates = encode(model, ds.signals)
    train = ds.indices("train")
    normalizer = fit_latent_normalizer(
        torch.as_tensor(latents[train]), torch.as_tensor(ds.mask[train]), latent_clip
    )
    scores = {}
    for split in ("val", "test"):
        rows = ds.indices(split)
        if rows.size:
            scores[f"{split}_poisson"] = poisson_nll(
                model,
                channels_first(ds.signals[rows]),
                torch.as_tensor(ds.mask[rows], dtype=torch.float32),
            )
    return EncodedData(latents, rates, ds.mask, ds.split, normalizer, {**info, **scores})


# ---------------------------------------------------------------------------------------------
# Conditions


def hand_velocity(ds: TidyDataset, behavior: BehaviorSettings) -> np.ndarray:
    """Hand velocity (trials, 2, time) scaled by `velocity_scale` (LDNS: mm/s → m/s)."""
    names = ["hand_vel_x", "hand_vel_y"]
    if ds.behavior is None or not set(names) <= set(ds.behavior_names):
        raise TidyFormatError(
            f"{ds.name}: velocity conditioning needs behavior columns {names}, "
            f"found {ds.behavior_names}"
        )
    columns = [ds.behavior_names.index(n) for n in names]
    velocity = ds.behavior[:, :, columns] * behavior.velocity_scale
    if not np.isfinite(velocity).all():
        raise TidyFormatError(f"{ds.name}: hand velocity has non-finite values")
    return np.ascontiguousarray(velocity.transpose(0, 2, 1), dtype=np.float32)


def reach_angle(velocity: np.ndarray, onset_bin: int) -> np.ndarray:
    """Reach angle atan2(v_y, v_x) (rad) of velocity (trials, 2, time) at the onset bin."""
    if not 0 <= onset_bin < velocity.shape[-1]:
        raise ValueError(f"onset_bin={onset_bin} outside the {velocity.shape[-1]} time bins")
    return np.arctan2(velocity[:, 1, onset_bin], velocity[:, 0, onset_bin]).astype(np.float32)


def centred_latents(latents: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
    """Each trial's first `length` latent bins centred in the full length (replicate padding)."""
    x = torch.as_tensor(latents)
    return torch.stack([center_pad(x[i, :, : int(n)], x.shape[-1]) for i, n in enumerate(lengths)])


def denoiser_inputs(
    encoded: EncodedData,
    ds: TidyDataset,
    settings: DenoiserSettings,
    behavior: BehaviorSettings,
    split: str = "train",
) -> DenoiserInputs:
    """Normalised latents of one split and the conditions the model is trained with."""
    rows = encoded.rows(split)
    if rows.size == 0:
        raise ValueError(f"{ds.name}: no {split!r} trials to train the denoiser on")
    latents = encoded.latents[rows]
    if settings.conditioning == "length":
        lengths = encoded.mask[rows].sum(axis=1)
        mask = centered_mask(torch.as_tensor(lengths), latents.shape[-1])
        x0 = encoded.normalizer.normalize(centred_latents(latents, lengths))
        return DenoiserInputs(x0, {"mask": mask})
    x0 = encoded.normalizer.normalize(torch.as_tensor(latents))
    if settings.conditioning == "none":
        return DenoiserInputs(x0, {})
    velocity = hand_velocity(ds, behavior)[rows]
    if settings.conditioning == "angle":
        return DenoiserInputs(
            x0, {"angle": torch.as_tensor(reach_angle(velocity, behavior.onset_bin))}
        )
    return DenoiserInputs(x0, {"velocity": torch.as_tensor(velocity)})


@dataclass
class SamplingPlan:
    """What to sample: how many trials, how long, under which conditions."""

    n: int
    length: int
    cond: dict[str, torch.Tensor]
    extras: dict[str, np.ndarray]


def sampling_plan(
    encoded: EncodedData,
    ds: TidyDataset,
    settings: DenoiserSettings,
    sampling: SamplingSettings,
    behavior: BehaviorSettings,
    generator: torch.Generator,
) -> SamplingPlan:
    """The conditions to sample with; `extras` are stored with the samples for evaluation."""
    train_rows = encoded.rows("train")
    length = encoded.latents.shape[-1]
    if settings.conditioning == "none":
        return SamplingPlan(len(train_rows), length, {}, {})
    if settings.conditioning == "angle":
        n = sampling.n_angle_samples
        angle = (1 - 2 * torch.rand(n, generator=generator)) * torch.pi
        return SamplingPlan(n, length, {"angle": angle}, {"angle": angle.numpy()})
    if settings.conditioning == "velocity":
        test_rows = encoded.rows("test")[: sampling.velocity_conditions]
        if test_rows.size == 0:
            raise ValueError(f"{ds.name}: velocity-conditioned samples need 'test' trials")
        trials = np.repeat(test_rows, sampling.velocity_samples_per_condition)
        velocity = hand_velocity(ds, behavior)[trials]
        return SamplingPlan(
            len(trials),
            length,
            {"velocity": torch.as_tensor(velocity)},
            {"condition_trial": trials, "velocity": velocity},
        )
    lengths = encoded.mask[train_rows].sum(axis=1)[:: sampling.human_eval_stride]
    mask = centered_mask(torch.as_tensor(lengths), length)
    sources = train_rows[:: sampling.human_eval_stride]
    return SamplingPlan(
        len(lengths), length, {"mask": mask}, {"lengths": lengths, "source_trial": sources}
    )


# ---------------------------------------------------------------------------------------------
# Sampling


def sample_normalized_latents(
    denoiser: torch.nn.Module,
    schedule: NoiseSchedule,
    plan: SamplingPlan,
    sampler: str,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Normalised latents (n, d, L) drawn in batches with DDPM (ancestral) or DDIM (η = 0)."""
    channels = denoiser.latent_channels
    device = next(denoiser.parameters()).device
    out = []
    for start in range(0, plan.n, batch_size):
        stop = min(start + batch_size, plan.n)
        cond = {k: v[start:stop].to(device) for k, v in plan.cond.items()} or None
        shape = (stop - start, channels, plan.length)
        if sampler == "ddpm":
            z = ddpm_sample(
                denoiser, schedule, shape, cond, num_inference_steps=steps, generator=generator
            )
        elif sampler == "ddim":
            z = ddim_sample(
                denoiser, schedule, shape, cond, num_inference_steps=steps, generator=generator
            )
        else:
            raise ValueError(f"sampler={sampler!r} is not 'ddpm' or 'ddim'")
        out.append(z.cpu())
    return torch.cat(out)


@torch.no_grad()
def decode_latents(
    autoencoder: S4Autoencoder,
    normalizer: LatentNormalizer,
    z: torch.Tensor,
    generator: torch.Generator,
) -> dict[str, np.ndarray]:
    """Denormalise, decode to rates and draw Poisson spikes: latents (n, d, L), rates, spikes.

    The decoder runs on the autoencoder's device; spikes are drawn on the CPU from `generator`
    (a CPU generator), so samples do not depend on the device.
    """
    latents = normalizer.denormalize(z.cpu())
    device = next(autoencoder.parameters()).device
    rates = autoencoder.eval().decode(latents.to(device)).cpu()
    spikes = torch.poisson(rates, generator=generator)
    return {
        "latents": latents.numpy().astype(np.float32),
        "rates": channels_last(rates),
        "spikes": channels_last(spikes),
    }


def crop_left_aligned(arrays: dict[str, np.ndarray], lengths: np.ndarray) -> dict[str, np.ndarray]:
    """Move each trial's centred window to the start (zeros after it) and add a prefix mask.

    `arrays` holds latents (n, d, L), rates and spikes (n, L, N), as `decode_latents` returns.
    """
    out = {key: np.zeros_like(value) for key, value in arrays.items()}
    for i, n in enumerate(np.asarray(lengths, dtype=int)):
        out["latents"][i, :, :n] = center_crop(torch.as_tensor(arrays["latents"][i]), n).numpy()
        for key in ("rates", "spikes"):
            out[key][i, :n] = center_crop(torch.as_tensor(arrays[key][i].T), n).numpy().T
    out["mask"] = np.arange(arrays["rates"].shape[1])[None, :] < np.asarray(lengths)[:, None]
    return out


def draw_samples(
    denoiser: torch.nn.Module,
    autoencoder: S4Autoencoder,
    encoded: EncodedData,
    schedule: NoiseSchedule,
    plan: SamplingPlan,
    sampler: str,
    sampling: SamplingSettings,
    generator: torch.Generator,
) -> dict[str, np.ndarray]:
    """Latents, rates, spikes and mask (trials, time) of one sampler under `plan`."""
    z = sample_normalized_latents(
        denoiser, schedule, plan, sampler, sampling.steps(sampler), sampling.batch_size, generator
    )
    arrays = decode_latents(autoencoder, encoded.normalizer, z, generator)
    if "mask" in plan.cond:
        return crop_left_aligned(arrays, plan.extras["lengths"])
    arrays["mask"] = np.ones(arrays["rates"].shape[:2], dtype=bool)
    return arrays


def sample_model(
    denoiser: torch.nn.Module,
    autoencoder: S4Autoencoder,
    encoded: EncodedData,
    ds: TidyDataset,
    schedule: NoiseSchedule,
    settings: DenoiserSettings,
    sampling: SamplingSettings,
    behavior: BehaviorSettings,
    seed: int,
) -> dict[str, np.ndarray]:
    """All samples of one diffusion model, keyed "<sampler>_<array>" plus condition extras.

    With `long_samples` > 0 also "long_<array>": unconditional samples `length_factor` times
    longer than the training trials (LDNS Fig. 2, length generalisation), drawn with DDPM.
    """
    generator = torch.Generator().manual_seed(seed)
    plan = sampling_plan(encoded, ds, settings, sampling, behavior, generator)
    out = dict(plan.extras)
    for sampler in settings.samplers:
        arrays = draw_samples(
            denoiser, autoencoder, encoded, schedule, plan, sampler, sampling, generator
        )
        out |= {f"{sampler}_{key}": value for key, value in arrays.items()}
    if settings.long_samples:
        if settings.conditioning != "none":
            raise ValueError("long samples are drawn only from unconditional models")
        long_plan = SamplingPlan(
            settings.long_samples, plan.length * sampling.length_factor, {}, {}
        )
        arrays = draw_samples(
            denoiser, autoencoder, encoded, schedule, long_plan, "ddpm", sampling, generator
        )
        out |= {f"long_{key}": value for key, value in arrays.items()}
    return out


def poisson_from_rates(rates: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """Poisson counts with the given rates (any shape), float32."""
    counts = torch.poisson(torch.as_tensor(rates, dtype=torch.float32), generator=generator)
    return counts.numpy()


def true_rate_spikes(
    truth: Any, ds: TidyDataset, rows: np.ndarray, generator: torch.Generator
) -> np.ndarray:
    """Poisson spikes of a simulator's true rates (its truth file's arrays) for trials `rows`
    of `ds` (trials, time, channels): a perfect model's samples of those trials."""
    trial_ids = np.asarray(ds.conditions["trial_id"])[rows]
    counts = true_counts(truth, trial_ids, ds.channels["unit_id"], ds.bin_size_s)
    return poisson_from_rates(counts, generator)
