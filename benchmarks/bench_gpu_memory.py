"""GPU memory that each paper-preset training or sampling job needs, estimated on the CPU.

    python benchmarks/bench_gpu_memory.py [--quick-check] [--only TEXT] [--json PATH]

What it measures. For every GPU rule of the paper preset (LDNS autoencoder per dataset, LDNS
denoiser per model, LDNS sampling, the LDNS LFADS baseline, the spike-history GLM, GNOCCHI and
its LFADS baseline per dataset, BeNeDiff's LVM, frame autoencoder, video diffusion and guided
sampling) it builds the model with the paper preset's sizes (`config/config.yaml` resolved with
`preset: paper`), with the same builders the rule scripts use, on batches shaped like the paper
data (Lorenz 128 neurons × 256 bins; MC_Maze 182 units × 140 bins of 5 ms; human BCI 128
channels × 512 bins; GNOCCHI reaching 100 × 75; BeNeDiff 30 LocaNMF components × 189 frames and
two-view 128 × 128 frames coded to 1 × 4 × 4). A phase of a rule is either one training step
exactly as `neurodiff.train._train_step` runs it (batch copied to the device, loss, zero_grad,
backward, gradient clipping, optimizer step, EMA update where the rule keeps one) or one
no-grad pass the rule runs on the GPU (a sampler step of the denoiser at the sampling batch,
decoding all samples, the autoencoder's validation pass, encoding/decoding video frames).

Each phase is measured at a few small batch sizes (2, 4, 8, 16 by default), a fresh model and
optimizer per batch size, one subprocess per rule and model (`--child`). The counter
(`LiveBytes`) is a TorchDispatchMode, the mechanism of PyTorch's own
`torch.distributed._tools.mem_tracker.MemTracker`: it sees every tensor an aten op returns,
forward and backward, and a weak reference to the tensor's storage fires when the storage is
freed, so it knows the exact number of tensor-storage bytes alive after every op and their
maximum. That is the quantity `torch.cuda.max_memory_allocated` reports on a GPU: the caching
allocator hands out one block per storage (rounded up to 512 B), and in fp32 every activation,
gradient and temporary has the same size on the CPU as on the GPU, because the same aten graph
runs. Peak RSS (getrusage) would measure glibc's and oneDNN's heaps instead, which keep freed
pages, pool scratch buffers and never shrink, so it misstates by hundreds of MB at these sizes;
a fresh process per batch is not needed either, since nothing of an earlier batch survives in
the count (each batch builds its own model). MemTracker itself is not used because its module
hooks rebuild the PackedSequence that LFADS passes to nn.GRU and fail.

The measured number per batch is the transient peak of the step: peak live bytes minus what was
alive before it. Before a training step (after one untracked warm-up step, i.e. in steady
state) that is the weights, the previous step's gradients (the loop frees them with
zero_grad(set_to_none=True) only after the forward pass, so they are alive during it), Adam's
two moment buffers, and EMA shadow weights or the best-weights copy of `checkpoint: best_val`
where the rule keeps them. A training step has two sections measured apart:
forward + backward (grows with the batch) and clipping + optimizer step (gradients and foreach
temporaries, constant); for each a line a + b·batch is fitted by least squares and extrapolated
to the phase's paper batch, and the larger is the step's peak. Where the paper batch is small
and cheap (≤ 64, predicted under 1.5 GB) it is also measured directly, and the larger of the
two numbers is used.

    GPU MB = static + max(a + b · paper batch, direct) + CUDA context (1024 MB)
    static = weights + gradients + Adam's m and v (4× the parameter bytes)
             + EMA shadow / best-weights copies where the rule keeps them

Sampling and evaluation phases hold every model the rule puts on the GPU (e.g. denoiser and
autoencoder) as static. Suggested `gpu_mem_mb` = the largest phase of the rule, rounded up to
the next 2 GB (2048 MB), at least 4 GB; rows in parentheses are shown for information and not
used for it. Run time: about 7 minutes single-threaded on a busy 2-core machine; --quick-check
(the Lorenz autoencoder at batches 2 and 4) about 10 seconds.

Limits. CPU activations equal GPU activations for fp32 only where both run the same kernels.
Not counted: the CUDA context beyond the fixed 1 GB allowance; cuDNN / cuBLAS / cuFFT
workspaces and plans and any scratch memory a kernel allocates internally without returning a
tensor (tens to hundreds of MB for convolutions and FFTs); the caching allocator's
fragmentation and reserved-but-unallocated blocks (`memory_reserved` is typically 10–30 %
above `memory_allocated`), which the 2 GB rounding is meant to absorb. Kernels that differ
between devices: with a float mask the CPU runs `scaled_dot_product_attention` through the
math path and stores every layer's attention probabilities, where CUDA in fp32 uses the
memory-efficient kernel (the video U-Net's "fused-SDPA model" row estimates that case); cuDNN's
GRU keeps a reserve buffer instead of the CPU's per-step gates. Both make the CPU figure an
upper bound for those models. The fit assumes memory linear in the batch (per section); its
largest residual is printed so a nonlinear phase shows. Data counts of the real archives
(trials per split) are constants below, not read from the files.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map_only
from torch.utils.weak import WeakIdKeyDictionary

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20
CONTEXT_MB = 1024  # CUDA context + loaded kernels, a fixed allowance
ROUND_MB = 2048  # suggestions are rounded up to the next 2 GB
MIN_SUGGESTION_MB = 4096
DEFAULT_BATCHES = (2, 4, 8, 16)
QUICK_BATCHES = (2, 4)
DIRECT_MAX_BATCH = 64  # measure the paper batch itself when it is at most this ...
DIRECT_MAX_MB = 1536  # ... and predicted below this (MB of transient memory)
CHILD_TIMEOUT_S = 300

# Paper-scale data counts the rules see (the archives are not here).
LORENZ_TRAIN_VAL = (3500, 500)  # 5000 simulated trials, split 0.7 / 0.1 / 0.2
MC_MAZE_TRAIN_VAL = (1721, 287)  # NLB MC_Maze: 1721 train, 574 val halved into val and test
MC_MAZE_TEST = 287
HUMAN_TRAIN = 8800  # Willett et al. 2023 competitionData "train" sentences (approx.)
ENCODE_BATCH = 256  # neurodiff.models.ldns.fit.ENCODE_BATCH
VIDEO_CODEC_BATCH = 1024  # encode_video / decode_video batch_size
VELOCITY_CHANNELS = 2  # scripts/ldns_sample.py
LDNS_SHAPES = {"lorenz": (128, 256), "mc_maze": (182, 140), "human": (128, 512)}  # (N, T)
GNOCCHI_SHAPES = {"reaching": (100, 75), "mc_maze": (182, 140)}
BENEDIFF_COMPONENTS = 30  # largest LocaNMF component count of a region (~10–30)
BENEDIFF_FRAMES = 189
BENEDIFF_VIEWS, BENEDIFF_FRAME_SIZE = 2, 128


# ------------------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    """One rule instance (rule + wildcard value) measured in one subprocess."""

    key: str
    rule: str
    model: str


CASES: tuple[Case, ...] = (
    *(Case(f"ae_{d}", "ldns_autoencoder", d) for d in ("lorenz", "mc_maze", "human")),
    *(
        Case(f"den_{m}", "ldns_denoiser", m)
        for m in (
            "lorenz_unconditional",
            "mc_maze_unconditional",
            "mc_maze_angle",
            "mc_maze_velocity",
            "human_length",
        )
    ),
    *(
        Case(f"sample_{m}", "ldns_sample", m)
        for m in (
            "lorenz_unconditional",
            "mc_maze_unconditional",
            "mc_maze_angle",
            "mc_maze_velocity",
            "human_length",
        )
    ),
    *(Case(f"lfads_{d}", "ldns_lfads", d) for d in ("lorenz", "mc_maze")),
    Case("spike_history", "ldns_spike_history", "mc_maze"),
    *(
        Case(f"gnocchi_{k}_{d}", "gnocchi_train", f"{k}/{d}")
        for k in ("gnocchi", "lfads")
        for d in ("reaching", "mc_maze")
    ),
    Case("benediff_lvm", "benediff_lvm", f"benediff, {BENEDIFF_COMPONENTS} components"),
    Case("frame_ae", "benediff_frame_ae", "frame AE"),
    Case("video_diffusion", "benediff_video_diffusion", "space-time U-Net"),
    Case("guided", "benediff_guided_sampling", "U-Net + frame AE"),
)
QUICK_CASE = "ae_lorenz"


@dataclass
class Phase:
    """What a phase needs: resident modules, optimizer state, a batch maker and one step."""

    name: str
    paper_batch: int
    build: Callable[[], Prepared]
    batches: Sequence[int] | None = None  # None: the default small batches
    info: bool = False  # shown, but not used for the suggestion


@dataclass
class Prepared:
    """A freshly built phase: modules on the 'device', a batch factory and the step to run."""

    modules: list[Any]
    make_batch: Callable[[int], tuple[Any, ...]]  # CPU tensors; copied inside the tracker
    step: Callable[[tuple[Any, ...]], None]
    optimizer: Any = None
    persistent: list[Any] = field(default_factory=list)  # EMA shadow / best-weights copies
    warmup: bool = False  # one untracked step first (Adam state)


# ------------------------------------------------------------------------------ config


def paper_config() -> dict[str, Any]:
    """config/config.yaml with the paper preset overlaid, as the Snakefile resolves it."""
    from neurodiff.config import load_yaml, resolve_preset

    base = load_yaml(REPO / "config" / "config.yaml")
    return resolve_preset(base, REPO / "config", {"preset": "paper"})


def param_bytes(modules: Sequence[Any]) -> int:
    """Bytes of the parameters and buffers of the modules."""
    total = 0
    for module in modules:
        total += sum(p.numel() * p.element_size() for p in module.parameters())
        total += sum(b.numel() * b.element_size() for b in module.buffers())
    return total


def force_foreach(optimizer: Any) -> Any:
    """Use the multi-tensor (foreach) update, the default on CUDA (the CPU default is a loop)."""
    for group in optimizer.param_groups:
        group["foreach"] = True
    return optimizer


def training_step(
    model: Any,
    optimizer: Any,
    loss_fn: Callable[[Any, tuple], Any],
    grad_clip: float | None,
    ema: Any = None,
) -> Callable[[tuple], None]:
    """One step as `neurodiff.train._train_step` runs it (foreach clipping, as on CUDA).

    Its two sections are measured apart: the peak of forward + backward grows with the batch,
    that of the optimizer step (gradients + foreach temporaries) does not, and whichever is
    larger at the paper batch is the step's peak (a line through the maximum of both would
    bend where they cross).
    """

    def step(batch: tuple) -> None:
        model.train()
        section("forward+backward")
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        section("optimizer step")
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or math.inf, foreach=True)
        optimizer.step()
        if ema is not None:
            ema.step(model.parameters())

    return step


def no_grad(fn: Callable[[tuple], Any]) -> Callable[[tuple], None]:
    """Run fn(batch) without autograd (sampling and evaluation passes)."""

    def step(batch: tuple) -> None:
        with torch.no_grad():
            fn(batch)

    return step


# ------------------------------------------------------------------------------ LDNS


def ldns_phases(case: Case, cfg: dict[str, Any]) -> list[Phase]:
    """Phases of the LDNS rules (scripts/ldns_*.py)."""
    from neurodiff.diffusion import ddpm_sample, diffusion_loss, make_schedule
    from neurodiff.models.baselines.lfads import lfads_from_config
    from neurodiff.models.ldns.autoencoder import S4Autoencoder, autoencoder_loss
    from neurodiff.models.ldns.fit import build_denoiser, optimizer_and_schedule, poisson_nll
    from neurodiff.models.ldns.settings import (
        AutoencoderSettings,
        DenoiserSettings,
        DiffusionSettings,
        LFADSSettings,
        SamplingSettings,
        SpikeHistorySettings,
        from_mapping,
    )
    from neurodiff.models.ldns.spike_history import SpikeHistoryGLM
    from neurodiff.train import EMASettings

    ldns = cfg["ldns"]
    counts = {
        "lorenz": LORENZ_TRAIN_VAL,
        "mc_maze": MC_MAZE_TRAIN_VAL,
        "human": (HUMAN_TRAIN, ENCODE_BATCH),
    }

    def ae_settings(dataset: str) -> AutoencoderSettings:
        return from_mapping(
            AutoencoderSettings, ldns["autoencoder"][dataset], f"ldns.autoencoder.{dataset}"
        )

    def build_ae(dataset: str) -> S4Autoencoder:
        return S4Autoencoder(**ae_settings(dataset).architecture(LDNS_SHAPES[dataset][0]))

    def spikes_and_mask(dataset: str) -> Callable[[int], tuple]:
        n, length = LDNS_SHAPES[dataset]
        return lambda b: (torch.poisson(torch.full((b, n, length), 0.3)), torch.ones(b, length))

    if case.rule == "ldns_autoencoder":
        dataset = case.model
        s = ae_settings(dataset)

        def train_ae() -> Prepared:
            model = build_ae(dataset)
            optimizer = force_foreach(optimizer_and_schedule(s)[0](model.parameters()))
            # checkpoint: best_val keeps a copy of the best weights on the device
            best = (
                [p.detach().clone() for p in model.state_dict().values()]
                if s.checkpoint == "best_val"
                else []
            )

            def loss(net: Any, batch: tuple) -> Any:
                return autoencoder_loss(
                    net, batch[0], s.cd_p, s.latent_beta, s.td_beta, mask=batch[1]
                ).total

            return Prepared(
                [model],
                spikes_and_mask(dataset),
                training_step(model, optimizer, loss, s.grad_clip),
                optimizer,
                best,
                warmup=True,
            )

        def eval_ae() -> Prepared:
            model = build_ae(dataset)
            return Prepared(
                [model],
                spikes_and_mask(dataset),
                no_grad(lambda batch: poisson_nll(model, batch[0], batch[1])),
            )

        n_val = counts[dataset][1]
        return [
            Phase("train step", s.batch_size, train_ae),
            Phase("validation NLL (no_grad)", min(ENCODE_BATCH, n_val), eval_ae),
        ]

    if case.rule in ("ldns_denoiser", "ldns_sample"):
        name = case.model
        s = from_mapping(DenoiserSettings, ldns["denoiser"][name], f"ldns.denoiser.{name}")
        diffusion = from_mapping(DiffusionSettings, ldns["diffusion"], "ldns.diffusion")
        schedule = make_schedule(**asdict(diffusion))
        latent = ae_settings(s.dataset).latent_channels
        length = LDNS_SHAPES[s.dataset][1]

        def latents_and_cond(b: int) -> tuple:
            cond = {
                "none": (),
                "angle": ((torch.rand(b) * 2 - 1) * math.pi,),
                "velocity": (torch.randn(b, VELOCITY_CHANNELS, length),),
                "length": (torch.ones(b, 1, length),),
            }[s.conditioning]
            return (torch.randn(b, latent, length), *cond)

        def cond_of(batch: tuple) -> dict | None:
            keys = {
                "none": (),
                "angle": ("angle",),
                "velocity": ("velocity",),
                "length": ("mask",),
            }[s.conditioning]
            return dict(zip(keys, batch[1:], strict=True)) or None

        velocity = VELOCITY_CHANNELS if s.conditioning == "velocity" else 0
        if case.rule == "ldns_denoiser":

            def train_denoiser() -> Prepared:
                model = build_denoiser(s, latent, velocity)
                optimizer = force_foreach(optimizer_and_schedule(s)[0](model.parameters()))
                ema = EMASettings(
                    max_decay=s.ema_max_decay, min_decay=s.ema_min_decay, power=s.ema_power
                ).build(model)

                def loss(net: Any, batch: tuple) -> Any:
                    cond = cond_of(batch)
                    mask = (cond or {}).get("mask")
                    return diffusion_loss(net, schedule, batch[0], cond, mask, **s.loss_kwargs())

                return Prepared(
                    [model],
                    latents_and_cond,
                    training_step(model, optimizer, loss, s.grad_clip, ema),
                    optimizer,
                    list(ema.shadow_params),
                    warmup=True,
                )

            return [Phase("train step", s.batch_size, train_denoiser)]

        sampling = from_mapping(SamplingSettings, ldns["sampling"], "ldns.sampling")
        n_train = counts[s.dataset][0]
        n_samples = {
            "none": n_train,
            "angle": sampling.n_angle_samples,
            "velocity": min(sampling.velocity_conditions, MC_MAZE_TEST)
            * sampling.velocity_samples_per_condition,
            "length": -(-n_train // sampling.human_eval_stride),
        }[s.conditioning]

        def sample_step() -> Prepared:
            denoiser = build_denoiser(s, latent, VELOCITY_CHANNELS).eval()
            autoencoder = build_ae(s.dataset).eval()

            def step(batch: tuple) -> None:  # one ancestral step: ε̂, posterior mean, noise
                ddpm_sample(
                    denoiser, schedule, tuple(batch[0].shape), cond_of(batch), num_inference_steps=1
                )

            return Prepared([denoiser, autoencoder], latents_and_cond, no_grad(step))

        def decode_all() -> Prepared:
            denoiser = build_denoiser(s, latent, VELOCITY_CHANNELS).eval()
            autoencoder = build_ae(s.dataset).eval()
            return Prepared(
                [denoiser, autoencoder],
                lambda b: (torch.randn(b, latent, length),),
                no_grad(lambda batch: autoencoder.decode(batch[0])),
            )

        phases = [
            Phase(
                f"{s.samplers[0]} step (no_grad)", min(sampling.batch_size, n_samples), sample_step
            ),
            Phase("decode all samples (no_grad)", n_samples, decode_all),
        ]
        return phases

    if case.rule == "ldns_lfads":
        dataset = case.model
        s = from_mapping(LFADSSettings, ldns["lfads"][dataset], f"ldns.lfads.{dataset}")
        n, length = LDNS_SHAPES[dataset]

        def train_lfads() -> Prepared:
            model = lfads_from_config(n, s.model)
            optimizer = force_foreach(torch.optim.Adam(model.parameters(), lr=s.lr))
            return Prepared(
                [model],
                lambda b: (torch.poisson(torch.full((b, length, n), 0.3)),),
                training_step(
                    model, optimizer, lambda net, batch: net.loss(batch[0], 0)[0], s.grad_clip
                ),
                optimizer,
                warmup=True,
            )

        return [Phase("train step", s.batch_size, train_lfads)]

    if case.rule == "ldns_spike_history":
        s = from_mapping(SpikeHistorySettings, ldns["spike_history"], "ldns.spike_history")
        n, length = LDNS_SHAPES["mc_maze"]

        def train_glm() -> Prepared:
            model = SpikeHistoryGLM(n, s.history_bins)
            optimizer = force_foreach(
                torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
            )

            def loss(net: Any, batch: tuple) -> Any:
                return F.poisson_nll_loss(
                    net(batch[0], batch[1]), batch[0], log_input=False, full=True
                )

            return Prepared(
                [model],
                lambda b: (
                    torch.poisson(torch.full((b, n, length), 0.3)).clamp_max(s.clip),
                    torch.rand(b, n, length) + 0.05,
                ),
                training_step(model, optimizer, loss, None),
                optimizer,
                warmup=True,
            )

        # full-batch fit: every training trial of MC_Maze in one step
        return [Phase("train step (full batch)", MC_MAZE_TRAIN_VAL[0], train_glm)]

    raise ValueError(f"not an LDNS case: {case}")


# ------------------------------------------------------------------------------ GNOCCHI


def gnocchi_phases(case: Case, cfg: dict[str, Any]) -> list[Phase]:
    """Phases of gnocchi_train (scripts/gnocchi_train.py → experiment.train_model)."""
    from neurodiff.models.baselines.lfads import lfads_from_config
    from neurodiff.models.gnocchi.experiment import model_settings
    from neurodiff.models.gnocchi.model import gnocchi_from_config

    kind, dataset = case.model.split("/")
    section = cfg["gnocchi"]
    settings = model_settings(kind, {"code_dim": section["code_dim"], kind: section[kind]})
    train_cfg = section[kind]["train"]
    n, length = GNOCCHI_SHAPES[dataset]

    def train_gnocchi() -> Prepared:
        torch.manual_seed(0)
        if kind == "gnocchi":
            model = gnocchi_from_config(n, dict(settings))
            make = lambda b: (torch.randn(b, n, length),)  # noqa: E731  transformed (B, N, T)
            loss = lambda net, batch: net.loss(batch[0])[0]  # noqa: E731
        else:
            model = lfads_from_config(n, dict(settings))
            make = lambda b: (torch.poisson(torch.full((b, length, n), 0.3)),)  # noqa: E731
            loss = lambda net, batch: net.loss(batch[0], 0)[0]  # noqa: E731
        optimizer = force_foreach(
            torch.optim.AdamW(
                model.parameters(), lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"]
            )
        )
        return Prepared(
            [model],
            make,
            training_step(model, optimizer, loss, train_cfg["grad_clip"]),
            optimizer,
            warmup=True,
        )

    return [Phase("train step", train_cfg["batch_size"], train_gnocchi)]


# ------------------------------------------------------------------------------ BeNeDiff


def benediff_phases(case: Case, cfg: dict[str, Any]) -> list[Phase]:
    """Phases of the BeNeDiff rules (scripts/benediff_*.py → models.benediff.fit/generate)."""
    from neurodiff.diffusion import ddim_sample, diffusion_loss, objective_guidance
    from neurodiff.models.benediff.build import (
        build_frame_autoencoder,
        build_unet,
        lvm_config_for,
    )
    from neurodiff.models.benediff.fit import build_schedule
    from neurodiff.models.benediff.lvm import BehaviorLVM, lvm_loss
    from neurodiff.models.benediff.video import latent_variance_objective

    section = cfg["benediff"]
    n_labels = len(cfg["data"]["widefield"]["label_names"])

    def frame_ae() -> Any:
        return build_frame_autoencoder(section["frame_ae"], BENEDIFF_VIEWS, BENEDIFF_FRAME_SIZE)

    probe = frame_ae()
    code_shape = probe.code_shape
    code_dim = math.prod(code_shape)

    def unet() -> Any:
        return build_unet(section["diffusion"], code_shape)

    def codes(b: int) -> tuple:
        return (torch.rand(b, code_shape[0], BENEDIFF_FRAMES, *code_shape[1:]) * 2 - 1,)

    if case.rule == "benediff_lvm":
        lvm = section["lvm"]
        config = lvm_config_for(lvm, "benediff", BENEDIFF_COMPONENTS, n_labels)
        dataset_size = 439 * BENEDIFF_FRAMES

        def train_lvm() -> Prepared:
            model = BehaviorLVM(config)
            optimizer = force_foreach(torch.optim.Adam(model.parameters(), lr=lvm["train"]["lr"]))
            return Prepared(
                [model],
                lambda b: (
                    torch.randn(b, BENEDIFF_FRAMES, BENEDIFF_COMPONENTS),
                    torch.randn(b, BENEDIFF_FRAMES, n_labels),
                ),
                training_step(
                    model,
                    optimizer,
                    lambda net, batch: lvm_loss(net, batch[0], batch[1], dataset_size)[0],
                    lvm["train"]["grad_clip"],
                ),
                optimizer,
                warmup=True,
            )

        # the TC term subsamples tc_samples (trial, time) rows: memory is linear in the batch
        # only once batch × frames ≥ tc_samples, so the small batches start there
        first = max(2, -(-config.tc_samples // BENEDIFF_FRAMES))
        return [
            Phase(
                "train step",
                lvm["train"]["batch_size"],
                train_lvm,
                batches=(first, first + 2, first + 4, first + 8),
            )
        ]

    if case.rule == "benediff_frame_ae":
        train_cfg = section["frame_ae"]["train"]
        frames = (BENEDIFF_VIEWS, BENEDIFF_FRAME_SIZE, BENEDIFF_FRAME_SIZE)

        def train_frame_ae() -> Prepared:
            model = frame_ae()
            optimizer = force_foreach(torch.optim.Adam(model.parameters(), lr=train_cfg["lr"]))

            def loss(net: Any, batch: tuple) -> Any:
                target = batch[0].float() / 255.0
                return F.binary_cross_entropy(net(target), target)

            return Prepared(
                [model],
                lambda b: (torch.randint(0, 256, (b, *frames), dtype=torch.uint8),),
                training_step(model, optimizer, loss, train_cfg["grad_clip"]),
                optimizer,
                warmup=True,
            )

        def codec() -> Prepared:
            model = frame_ae().eval()
            return Prepared(
                [model],
                lambda b: (torch.rand(b, *frames),),
                no_grad(lambda batch: model.decode(model.encode(batch[0]))),
            )

        return [
            Phase("train step", train_cfg["batch_size"], train_frame_ae),
            Phase("encode/decode frames (no_grad)", VIDEO_CODEC_BATCH, codec),
        ]

    if case.rule == "benediff_video_diffusion":
        diff = section["diffusion"]
        schedule = build_schedule(diff)

        def train_unet() -> Prepared:
            model = unet()
            optimizer = force_foreach(torch.optim.Adam(model.parameters(), lr=diff["train"]["lr"]))
            return Prepared(
                [model],
                codes,
                training_step(
                    model,
                    optimizer,
                    lambda net, batch: diffusion_loss(net, schedule, batch[0], loss=diff["loss"]),
                    diff["train"]["grad_clip"],
                ),
                optimizer,
                warmup=True,
            )

        def train_unet_fused() -> Prepared:
            prepared = train_unet()
            math_step = prepared.step

            def fused_step(batch: tuple) -> None:
                with fused_attention_model():
                    math_step(batch)

            prepared.step = fused_step
            return prepared

        return [
            Phase("train step", diff["train"]["batch_size"], train_unet),
            Phase(
                "train step, fused-SDPA model",
                diff["train"]["batch_size"],
                train_unet_fused,
                info=True,
            ),
        ]

    if case.rule == "benediff_guided_sampling":
        guidance = section["guidance"]
        schedule = build_schedule(section["diffusion"])

        def guided_step() -> Prepared:
            model, autoencoder = unet().eval(), frame_ae().eval()

            def step(batch: tuple) -> None:  # one guided DDIM step from x_T
                hook = objective_guidance(latent_variance_objective(batch[1]))
                ddim_sample(
                    model,
                    schedule,
                    tuple(batch[0].shape),
                    num_inference_steps=1,
                    x_T=batch[0],
                    guidance=hook,
                    guidance_scale=max(guidance["scales"]),  # the largest candidate
                )

            return Prepared(
                [model, autoencoder], lambda b: (*codes(b), torch.randn(b, code_dim)), no_grad(step)
            )

        def decode_frames() -> Prepared:
            model, autoencoder = unet().eval(), frame_ae().eval()
            return Prepared(
                [model, autoencoder],
                lambda b: (torch.rand(b, *code_shape),),
                no_grad(lambda batch: autoencoder.decode(batch[0])),
            )

        return [
            Phase("guided DDIM step (no_grad)", guidance["chunk_size"], guided_step),
            Phase("decode frames (no_grad)", VIDEO_CODEC_BATCH, decode_frames),
        ]

    raise ValueError(f"not a BeNeDiff case: {case}")


def phases_of(case: Case, cfg: dict[str, Any]) -> list[Phase]:
    """The measured phases of a case."""
    if case.rule.startswith("ldns_"):
        return ldns_phases(case, cfg)
    if case.rule.startswith("gnocchi_"):
        return gnocchi_phases(case, cfg)
    return benediff_phases(case, cfg)


# ------------------------------------------------------------------------------ measuring


class LiveBytes(TorchDispatchMode):
    """Bytes of tensor storages alive, and their peak per named section of a step.

    Every tensor an aten op returns is looked up by its storage; a new storage is added with its
    size and a weak reference whose callback subtracts it when the storage is freed. Tensors
    that exist before the step (weights, optimizer state) are registered with `add` first.
    The same idea as PyTorch's MemTracker, without its module hooks (they rebuild the
    PackedSequence that LFADS's encoder passes to nn.GRU and fail).
    """

    def __init__(self) -> None:
        super().__init__()
        self._entries: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.live = 0
        self.current = "batch copy"
        self.peaks: dict[str, int] = {}

    def add(self, tensor: torch.Tensor) -> None:
        """Count the tensor's storage if it is new (or its size changed)."""
        try:
            storage = tensor.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return
        size = storage.nbytes()
        entry = self._entries.get(storage)
        if entry is None:
            holder = [size]
            self._entries[storage] = (holder, weakref.ref(storage, partial(self._freed, holder)))
            self.live += size
        elif entry[0][0] != size:
            self.live += size - entry[0][0]
            entry[0][0] = size

    def _freed(self, holder: list[int], _ref: Any) -> None:
        self.live -= holder[0]

    def enter(self, name: str) -> None:
        """Start a section: its peak starts at what is alive now."""
        self.current = name
        self._update()

    def _update(self) -> None:
        self.peaks[self.current] = max(self.peaks.get(self.current, 0), self.live)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        tree_map_only(torch.Tensor, self.add, out)
        self._update()
        return out


_ACTIVE: list[LiveBytes] = []


def section(name: str) -> None:
    """Name the part of the step that runs next (no-op outside a measurement)."""
    if _ACTIVE:
        _ACTIVE[-1].enter(name)


class _FusedAttentionModel(torch.autograd.Function):
    """Attention that keeps only what CUDA's memory-efficient SDPA kernel keeps for backward.

    The CPU runs `scaled_dot_product_attention` with a float mask through the math path, which
    stores the (B, heads, L, L) probabilities of every layer until backward. In fp32 with a
    mask, CUDA picks the memory-efficient kernel instead, which saves q, k, v, the output and
    the row log-sum-exp and recomputes the probabilities in backward. This function has that
    saving pattern, and a backward that, like the kernel, works in tiles and writes the mask
    gradient at the broadcast (batch, heads, L, L) shape before autograd reduces it.
    """

    @staticmethod
    def forward(
        ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        scale = q.shape[-1] ** -0.5
        scores = torch.matmul(q, k.transpose(-2, -1)) * scale
        if bias is not None:
            scores = scores + bias
        lse = torch.logsumexp(scores, dim=-1, keepdim=True)
        out = torch.matmul(torch.exp(scores - lse), v)
        ctx.save_for_backward(q, k, v, bias, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, bias, out, lse = ctx.saved_tensors
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        need_bias = bias is not None and ctx.needs_input_grad[3]
        # the kernel writes the mask gradient at the broadcast shape; autograd then reduces it
        dbias_full = q.new_empty((*q.shape[:-1], k.shape[-2])) if need_bias else None
        rows = q.shape[0]
        chunk = max(1, rows // 16)  # the kernel works tile by tile: small temporaries only
        for start in range(0, rows, chunk):
            r = slice(start, start + chunk)
            scores = torch.matmul(q[r], k[r].transpose(-2, -1)) * ctx.scale
            if bias is not None:
                scores = scores + bias
            p = torch.exp(scores - lse[r])
            del scores
            dv[r] = torch.matmul(p.transpose(-2, -1), grad[r])
            ds = p * (
                torch.matmul(grad[r], v[r].transpose(-2, -1))
                - (grad[r] * out[r]).sum(-1, keepdim=True)
            )
            del p
            dq[r] = torch.matmul(ds, k[r]) * ctx.scale
            dk[r] = torch.matmul(ds.transpose(-2, -1), q[r]) * ctx.scale
            if dbias_full is not None:
                dbias_full[r] = ds
            del ds
        dbias = None
        if dbias_full is not None:
            extra = dbias_full.ndim - bias.ndim
            dbias = dbias_full.sum(dim=tuple(range(extra))) if extra else dbias_full
        return dq, dk, dv, dbias


@contextlib.contextmanager
def fused_attention_model() -> Iterator[None]:
    """Route F.scaled_dot_product_attention through `_FusedAttentionModel` for the block."""
    original = F.scaled_dot_product_attention

    def sdpa(
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if kwargs.get("is_causal") or kwargs.get("dropout_p"):
            return original(q, k, v, attn_mask=attn_mask, **kwargs)
        return _FusedAttentionModel.apply(q, k, v, attn_mask)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def measure(prepared: Prepared, batch: int) -> tuple[dict[str, float], float]:
    """(transient peak MB per section of one step at `batch`, static MB alive before it)."""
    cpu_batch = prepared.make_batch(batch)
    if prepared.warmup:
        # An untracked step at batch 2 creates Adam's state and leaves its gradients in place:
        # in steady state the previous step's gradients are alive during the forward pass
        # (the loop calls zero_grad(set_to_none=True) between loss and backward).
        prepared.step(tuple(t.clone() for t in prepared.make_batch(2)))
        gc.collect()
    tracker = LiveBytes()
    for module in prepared.modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            tracker.add(tensor)
            if isinstance(tensor, torch.nn.Parameter) and tensor.grad is not None:
                tracker.add(tensor.grad)
    if prepared.optimizer is not None:
        for state in prepared.optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    tracker.add(value)
    for tensor in prepared.persistent:
        tracker.add(tensor)
    before = tracker.live
    tracker.enter("batch copy")
    _ACTIVE.append(tracker)
    try:
        with tracker:
            device_batch = tuple(t.clone() for t in cpu_batch)  # the host-to-device copy
            prepared.step(device_batch)
            del device_batch
    finally:
        _ACTIVE.pop()
    return {name: (peak - before) / MIB for name, peak in tracker.peaks.items()}, before / MIB


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares (a, b) of y = a + b·x and the largest absolute residual."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    a = my - b * mx
    return a, b, max(abs(y - a - b * x) for x, y in zip(xs, ys, strict=True))


def run_phase(phase: Phase, batches: Sequence[int]) -> dict[str, Any]:
    """Measure one phase at the given batches (fresh modules each) and extrapolate.

    Each section of the step gets its own line; the prediction at the paper batch is the
    largest of them.
    """
    started = time.perf_counter()
    by_section: dict[str, list[tuple[int, float]]] = {}
    points: list[tuple[int, float]] = []
    static = params = 0.0
    last_seconds = 0.0
    for b in batches:
        t0 = time.perf_counter()
        prepared = phase.build()
        peaks, static = measure(prepared, b)
        params = param_bytes(prepared.modules) / MIB
        for name, mb in peaks.items():
            by_section.setdefault(name, []).append((b, mb))
        points.append((b, max(peaks.values())))
        del prepared
        gc.collect()
        last_seconds = time.perf_counter() - t0
    fits = {}
    for name, pts in by_section.items():
        a, slope, residual = linear_fit([p[0] for p in pts], [p[1] for p in pts])
        fits[name] = (a + slope * phase.paper_batch, a, slope, residual)
    dominant = max(fits, key=lambda name: fits[name][0])
    predicted, a, slope, residual = fits[dominant]
    direct = None
    if phase.paper_batch in batches:
        direct = dict(points)[phase.paper_batch]
    elif (
        phase.paper_batch <= DIRECT_MAX_BATCH
        and predicted <= DIRECT_MAX_MB
        and last_seconds * phase.paper_batch / batches[-1] < 60
    ):
        direct = max(measure(phase.build(), phase.paper_batch)[0].values())
        gc.collect()
    transient = max(predicted, direct or 0.0)
    gpu_mb = static + transient + CONTEXT_MB
    return {
        "phase": phase.name,
        "info": phase.info,
        "paper_batch": phase.paper_batch,
        "points": points,
        "dominant_section": dominant,
        "intercept_mb": a,
        "slope_mb": slope,
        "max_residual_mb": residual,
        "params_mb": params,
        "static_mb": static,
        "predicted_mb": predicted,
        "direct_mb": direct,
        "gpu_mb": gpu_mb,
        "gpu_mem_mb": suggestion(gpu_mb),
        "sections": {
            name: {"points": pts, "predicted_mb": fits[name][0], "slope_mb": fits[name][2]}
            for name, pts in by_section.items()
        },
        "seconds": time.perf_counter() - started,
    }


def suggestion(gpu_mb: float) -> int:
    """`gpu_mem_mb` to declare: rounded up to the next 2 GB, at least 4 GB."""
    return max(MIN_SUGGESTION_MB, math.ceil(gpu_mb / ROUND_MB) * ROUND_MB)


def child(key: str, batches: Sequence[int] | None) -> None:
    """Measure every phase of one case; print one JSON line."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    case = next(c for c in CASES if c.key == key)
    results = []
    for phase in phases_of(case, paper_config()):
        chosen = batches or phase.batches or DEFAULT_BATCHES
        results.append(run_phase(phase, list(chosen)))
    print(json.dumps({"key": key, "rule": case.rule, "model": case.model, "phases": results}))


# ------------------------------------------------------------------------------ parent


def run_child(case: Case, batches: Sequence[int] | None) -> dict[str, Any]:
    """Run one case in a fresh interpreter (single-threaded) and parse its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case.key]
    if batches:
        cmd += ["--batches", ",".join(map(str, batches))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {
            "key": case.key,
            "rule": case.rule,
            "model": case.model,
            "error": f"timed out after {CHILD_TIMEOUT_S} s",
        }
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"key": case.key, "rule": case.rule, "model": case.model, "error": " | ".join(tail)}
    return json.loads(lines[-1])


def fmt_points(points: Sequence[Sequence[float]]) -> str:
    """'2:84 4:117 …' (batch: measured MB)."""
    return " ".join(f"{int(b)}:{mb:.0f}" for b, mb in points)


def print_table(results: Sequence[dict[str, Any]]) -> None:
    """The per-phase table and the per-rule suggestion."""
    header = (
        f"{'rule':<26} {'model':<28} {'phase':<30} {'paper B':>7}  "
        f"{'measured MB at batch':<30} {'MB/sample':>9} {'resid':>5} {'static':>6} "
        f"{'direct':>7} {'GPU MB':>8} {'gpu_mem_mb':>10}"
    )
    print(header)
    print("-" * len(header))
    per_rule: dict[str, list[tuple[int, str]]] = {}
    for result in results:
        if "error" in result:
            print(f"{result['rule']:<26} {result['model']:<28} ERROR: {result['error']}")
            continue
        best = max((p for p in result["phases"] if not p["info"]), key=lambda p: p["gpu_mb"])
        per_rule.setdefault(result["rule"], []).append((best["gpu_mem_mb"], result["model"]))
        for p in result["phases"]:
            direct = "" if p["direct_mb"] is None else f"{p['direct_mb']:.0f}"
            name = f"({p['phase']})" if p["info"] else p["phase"]
            print(
                f"{result['rule']:<26} {result['model']:<28} {name:<30} "
                f"{p['paper_batch']:>7}  {fmt_points(p['points']):<30} "
                f"{p['slope_mb']:>9.2f} {p['max_residual_mb']:>5.1f} {p['static_mb']:>6.0f} "
                f"{direct:>7} {p['gpu_mb']:>8.0f} {p['gpu_mem_mb']:>10}"
            )
    print()
    print(f"{'rule':<26} {'suggested gpu_mem_mb (max over wildcards)':<42} per wildcard")
    for rule, values in per_rule.items():
        detail = ", ".join(f"{model}={mb}" for mb, model in values)
        print(f"{rule:<26} {max(v[0] for v in values):<42} {detail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run the children (or be one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick-check",
        action="store_true",
        help=f"smoke run: only {QUICK_CASE} at batches {QUICK_BATCHES}",
    )
    parser.add_argument(
        "--only", default=None, help="run only cases whose key, rule or model contains this text"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batches", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")] if args.batches else None
    if args.child:
        child(args.child, batches)
        return 0
    cases = list(CASES)
    if args.quick_check:
        cases, batches = [c for c in CASES if c.key == QUICK_CASE], list(QUICK_BATCHES)
    elif args.only:
        cases = [c for c in CASES if args.only in f"{c.key} {c.rule} {c.model}"]
    started = time.perf_counter()
    results = []
    for case in cases:
        t0 = time.perf_counter()
        results.append(run_child(case, batches))
        status = results[-1].get("error", "ok")
        print(
            f"[{time.perf_counter() - started:6.1f} s] {case.rule} {case.model}: "
            f"{time.perf_counter() - t0:.1f} s, {status}",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"paper preset, fp32; static = weights + grads + Adam m, v (+ EMA / best copy); "
        f"GPU MB = static + max(a + b·paper B, direct) + {CONTEXT_MB} MB CUDA context; "
        f"gpu_mem_mb rounded up to {ROUND_MB} MB, min {MIN_SUGGESTION_MB} MB.\n"
        "measured = transient peak of the step (max over its sections), MB; MB/sample and "
        "resid(ual) = the fit of the section that dominates at the paper batch; "
        "direct = measured at the paper batch"
    )
    print_table(results)
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
