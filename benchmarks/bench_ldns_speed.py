"""Speed of the LDNS networks at the Lorenz sizes: ours and the authors' code in one run.

Workloads (float32, 2 threads, the Lorenz anchor sizes of the paper):
  * autoencoder training step: 64 trials × 128 neurons × 256 bins, C = 256, 4 blocks, latent 8,
    bidirectional, pointwise decoder; zero_grad → coordinated dropout (p = 0.2) → forward →
    Poisson NLL on the dropped entries + latent L2/smoothness → backward → clip 2 → AdamW →
    cosine lr step → loss.item();
  * denoiser training step: 64 × 8 × 256 latents, C = 64, 4 blocks; zero_grad → noising at
    uniform t (linear β, 1000 steps) → forward → ε-MSE → backward → clip 1 → AdamW → cosine lr
    step → loss.item() (no coordinated dropout: the authors' diffusion loop has none);
  * sampling step: one denoiser forward for 16 sequences, eval mode, no grad. Ours is timed with
    the S4 kernel cached between steps (what our samplers do) and rebuilt every step (what the
    authors' FFTConv does); the authors' is rebuilt.

With `--reference PATH` the authors' repository (a checkout of mackelab/LDNS; its `ldns`
package needs einops and scipy) is imported from PATH — it is never vendored — and both
implementations run interleaved step by step (3 warm-up + N timed steps each), so machine load
hits both alike. Medians are printed with the ratio, the parameter counts and the 1024 × 1024 @
1024 × 1024 float32 matmul rate measured before every block (compare runs only at similar rates).
Without `--reference` only our numbers are printed. `--levers` also times, against our
baseline in the same run, bf16 autocast on CPU, torch.compile, and the FFT length choice.

Run: python benchmarks/bench_ldns_speed.py --reference /path/to/LDNS [--steps 20] [--levers]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch
import torch.nn.functional as F

from neurodiff.diffusion import diffusion_loss, make_schedule
from neurodiff.models.ldns import LatentDenoiser, S4Autoencoder, autoencoder_loss
from neurodiff.nn import S4D

THREADS = 2
WARMUP = 3
BATCH, NEURONS, LENGTH, LATENTS = 64, 128, 256, 8
AE_CHANNELS, DENOISER_CHANNELS, BLOCKS, SAMPLES = 256, 64, 4, 16
DROPOUT_P, LATENT_BETA, TD_BETA, LR, WEIGHT_DECAY = 0.2, 0.01, 0.01, 1e-3, 0.01
# A cosine schedule with warm-up (the authors' diffusers `get_scheduler("cosine")` formula).
WARMUP_STEPS, TOTAL_STEPS = 100, 10_000

Step = Callable[[], object]


def matmul_rate(size: int, repeats: int = 10) -> float:
    """GFLOP/s of a size × size × size float32 matrix product (median of repeats)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def print_machine(label: str) -> None:
    """Print the matmul rates and load average measured now (before a block of timings)."""
    print(
        f"[{label}] matmul float32 1024x1024 @ 1024x1024: {matmul_rate(1024):.0f} GFLOP/s, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def interleaved_medians(steps: dict[str, Step], repeats: int) -> dict[str, float]:
    """Median seconds per call of each step, run in turn (order rotated every round)."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(WARMUP + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            steps[name]()
            if round_index >= WARMUP:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def cosine_lr(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then half-cosine decay, stepped once per training step."""

    def factor(step: int) -> float:
        if step < WARMUP_STEPS:
            return (step + 1) / WARMUP_STEPS
        progress = (step - WARMUP_STEPS) / (TOTAL_STEPS - WARMUP_STEPS)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def training_step(
    model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor], clip: float, bf16: bool = False
) -> Step:
    """zero_grad → loss_fn() (forward + loss) → backward → clip → AdamW → lr step → item()."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    scheduler = cosine_lr(optimizer)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with context:
            loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        scheduler.step()
        return loss.item()

    return step


def our_autoencoder_step(model: torch.nn.Module, spikes: torch.Tensor, bf16: bool = False) -> Step:
    """Our autoencoder step (`autoencoder_loss` draws the coordinated-dropout mask)."""

    def loss() -> torch.Tensor:
        return autoencoder_loss(model, spikes, DROPOUT_P, LATENT_BETA, TD_BETA).total

    return training_step(model, loss, clip=2.0, bf16=bf16)


def reference_autoencoder_step(
    ldns: SimpleNamespace, model: torch.nn.Module, spikes: torch.Tensor, bf16: bool = False
) -> Step:
    """The authors' autoencoder step as in their Lorenz training notebook."""
    cfg = SimpleNamespace(training=_Config(latent_beta=LATENT_BETA, latent_td_beta=TD_BETA))

    def loss() -> torch.Tensor:
        kept = (torch.rand_like(spikes) > DROPOUT_P).float()
        rates, z = model(spikes * (kept / (1 - DROPOUT_P)))
        nll = F.poisson_nll_loss(rates, spikes, log_input=False, full=True, reduction="none")
        poisson = (nll * (1 - kept)).mean()
        return poisson + LATENT_BETA * ldns.latent_regularizer(z, cfg) / spikes.numel()

    return training_step(model, loss, clip=2.0, bf16=bf16)


class _Config(dict):
    """A dict with attribute access: the `cfg.training` the authors' regulariser reads."""

    __getattr__ = dict.__getitem__


def our_denoiser_step(model: torch.nn.Module, latents: torch.Tensor, bf16: bool = False) -> Step:
    """Our denoiser step (`diffusion_loss`: uniform t, noising, ε-MSE)."""
    schedule = make_schedule()
    return training_step(model, lambda: diffusion_loss(model, schedule, latents), 1.0, bf16)


def reference_denoiser_step(
    model: torch.nn.Module, latents: torch.Tensor, bf16: bool = False
) -> Step:
    """The authors' denoiser step as in their Lorenz diffusion notebook (diffusers' DDPM)."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000, clip_sample=False, beta_schedule="linear")

    def loss() -> torch.Tensor:
        t = torch.randint(0, 1000, (latents.shape[0],)).long()
        noise = torch.randn_like(latents)
        return F.mse_loss(noise, model(scheduler.add_noise(latents, noise, t), t))

    return training_step(model, loss, clip=1.0, bf16=bf16)


def sampling_step(model: torch.nn.Module, bf16: bool = False) -> Step:
    """One denoiser forward pass for 16 sequences, eval mode, no grad."""
    x_t, t = torch.randn(SAMPLES, LATENTS, LENGTH), torch.full((SAMPLES,), 500)
    model.eval()

    def step() -> None:
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with torch.no_grad(), context:
            model(x_t, t)

    return step


def set_kernel_cache(model: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """Turn the S4 kernel cache of every S4D layer in model on or off; returns model."""
    for module in model.modules():
        if isinstance(module, S4D):
            module.cache_kernel = enabled
    return model


def count(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_reference(path: Path) -> SimpleNamespace:
    """Import the authors' `ldns` package from a checkout at path (never copied)."""
    if not (path / "ldns" / "networks" / "blocks.py").is_file():
        raise SystemExit(
            f"--reference {path}: no ldns/networks/blocks.py (a mackelab/LDNS checkout)"
        )
    sys.path.insert(0, str(path.resolve()))
    try:
        import ldns.losses
        import ldns.networks
    except ImportError as error:
        raise SystemExit(
            f"--reference {path}: importing its ldns package failed: {error}"
        ) from None
    networks: ModuleType = ldns.networks
    return SimpleNamespace(
        AutoEncoder=networks.AutoEncoder,
        CountWrapper=networks.CountWrapper,
        Denoiser=networks.Denoiser,
        latent_regularizer=ldns.losses.latent_regularizer,
        location=str(Path(ldns.__file__).parent),
    )


def reference_models(ldns: SimpleNamespace) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The authors' Lorenz autoencoder (conf/autoencoder-Lorenz_z=8.yaml) and denoiser."""
    autoencoder = ldns.CountWrapper(
        ldns.AutoEncoder(
            C_in=NEURONS,
            C=AE_CHANNELS,
            C_latent=LATENTS,
            L=LENGTH,
            num_blocks=BLOCKS,
            num_blocks_decoder=0,
            num_lin_per_mlp=2,
        )
    )
    denoiser = ldns.Denoiser(
        C_in=LATENTS, C=DENOISER_CHANNELS, L=LENGTH, num_blocks=BLOCKS, bidirectional=True
    )
    return autoencoder.train(), denoiser


def our_models() -> tuple[torch.nn.Module, torch.nn.Module]:
    """Our Lorenz autoencoder and denoiser at the same sizes."""
    autoencoder = S4Autoencoder(NEURONS, AE_CHANNELS, LATENTS, BLOCKS, bidirectional=True)
    return autoencoder.train(), LatentDenoiser(LATENTS, DENOISER_CHANNELS, BLOCKS)


def print_table(title: str, seconds: dict[str, float], pairs: list[tuple[str, str]]) -> None:
    """Print the medians of one block and the ratio of each (slower, faster) pair."""
    print(f"{title}")
    for name, value in seconds.items():
        print(f"  {name:<44}{1e3 * value:>10.1f} ms")
    for slow, fast in pairs:
        print(f"  ratio {slow} / {fast}: {seconds[slow] / seconds[fast]:.2f}x")


def fft_length_lever(repeats: int) -> None:
    """Time the FFT convolution of the AE's S4 layers at the padded lengths one could choose."""
    x = torch.randn(BATCH, AE_CHANNELS, LENGTH)
    kernel_fft = torch.fft.rfft(torch.randn(AE_CHANNELS, 2 * LENGTH))
    steps = {}
    for n in (2 * LENGTH - 1, 2 * LENGTH, 2 * LENGTH + 64):
        k = torch.fft.rfft(torch.randn(AE_CHANNELS, n)) if n != 2 * LENGTH else kernel_fft

        def conv(n: int = n, k: torch.Tensor = k) -> torch.Tensor:
            return torch.fft.irfft(torch.fft.rfft(x, n=n) * k, n=n)[..., :LENGTH]

        steps[f"rfft+irfft, n = {n}"] = conv
    print_table(
        "FFT length (64 x 256 x 256 input, one S4 layer's convolution)",
        interleaved_medians(steps, repeats),
        [],
    )


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="checkout of mackelab/LDNS to compare")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--sampling-steps", type=int, default=60, help="timed sampling steps")
    parser.add_argument("--levers", action="store_true", help="also time bf16, compile, FFT n")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    ldns = load_reference(args.reference) if args.reference else None

    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"CPU bf16/AMX flags: {cpu_bf16_flags()}; matmul float32 1024x1024 @ 1024x1024: "
        f"{matmul_rate(1024):.0f} "
        "GFLOP/s. Timings are medians of interleaved steps; on a shared machine they are noisy."
    )
    if ldns is None:
        print("no reference given (--reference PATH to a mackelab/LDNS checkout): ours only")
    else:
        print(f"reference: {ldns.location}")

    spikes = torch.poisson(torch.full((BATCH, NEURONS, LENGTH), 0.3))
    latents = torch.randn(BATCH, LATENTS, LENGTH)
    ours_ae, ours_denoiser = our_models()
    print(f"ours: autoencoder {count(ours_ae):,} parameters, denoiser {count(ours_denoiser):,}")
    theirs_ae = theirs_denoiser = None
    if ldns is not None:
        theirs_ae, theirs_denoiser = reference_models(ldns)
        print(
            f"authors: autoencoder {count(theirs_ae):,} parameters, "
            f"denoiser {count(theirs_denoiser):,}"
        )

    blocks: list[tuple[str, dict[str, Step], list[tuple[str, str]], int]] = []
    ae = {"ours": our_autoencoder_step(ours_ae, spikes)}
    den = {"ours": our_denoiser_step(ours_denoiser, latents)}
    sampler = set_kernel_cache(our_models()[1], True)
    rebuilt = set_kernel_cache(our_models()[1], False)
    rebuilt.load_state_dict(sampler.state_dict())
    samp = {
        "ours, kernel cached": sampling_step(sampler),
        "ours, kernel rebuilt": sampling_step(rebuilt),
    }
    ae_pairs, den_pairs, samp_pairs = [], [], []
    if ldns is not None:
        ae["authors"] = reference_autoencoder_step(ldns, theirs_ae, spikes)
        den["authors"] = reference_denoiser_step(theirs_denoiser, latents)
        samp["authors, kernel rebuilt"] = sampling_step(theirs_denoiser)
        ae_pairs, den_pairs = [("authors", "ours")], [("authors", "ours")]
        samp_pairs = [
            ("authors, kernel rebuilt", "ours, kernel cached"),
            ("authors, kernel rebuilt", "ours, kernel rebuilt"),
        ]
    if args.levers:
        lever_ae, lever_den = our_models()
        lever_ae.load_state_dict(ours_ae.state_dict())
        lever_den.load_state_dict(ours_denoiser.state_dict())
        ae["ours, bf16 autocast"] = our_autoencoder_step(lever_ae, spikes, bf16=True)
        den["ours, bf16 autocast"] = our_denoiser_step(lever_den, latents, bf16=True)
        samp["ours, kernel cached, bf16 autocast"] = sampling_step(sampler, bf16=True)
        ae_pairs.append(("ours", "ours, bf16 autocast"))
        den_pairs.append(("ours", "ours, bf16 autocast"))
        samp_pairs.append(("ours, kernel cached", "ours, kernel cached, bf16 autocast"))
    blocks.append(("autoencoder training step", ae, ae_pairs, args.steps))
    blocks.append(("denoiser training step", den, den_pairs, args.steps))
    blocks.append(("sampling step (16 sequences)", samp, samp_pairs, args.sampling_steps))

    for title, steps, pairs, repeats in blocks:
        print_machine(title)
        print_table(title, interleaved_medians(steps, repeats), pairs)
    if args.levers:
        print_machine("torch.compile")
        compile_lever(args.steps)
        print_machine("FFT length")
        fft_length_lever(args.sampling_steps)


def compile_lever(repeats: int) -> None:
    """Our training steps with the model wrapped in torch.compile vs eager, interleaved."""
    spikes = torch.poisson(torch.full((BATCH, NEURONS, LENGTH), 0.3))
    latents = torch.randn(BATCH, LATENTS, LENGTH)
    eager_ae, eager_den = our_models()
    compiled_ae, compiled_den = our_models()
    compiled_ae.load_state_dict(eager_ae.state_dict())
    compiled_den.load_state_dict(eager_den.state_dict())
    for name, eager, compiled, make in (
        ("autoencoder", eager_ae, compiled_ae, lambda m: our_autoencoder_step(m, spikes)),
        ("denoiser", eager_den, compiled_den, lambda m: our_denoiser_step(m, latents)),
    ):
        compiled.compile()
        step = make(compiled)
        start = time.perf_counter()
        try:
            step()
        except Exception as error:  # report the lever's failure, keep benchmarking
            print(
                f"torch.compile of our {name}: first step failed ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:120]})"
            )
            continue
        print(
            f"torch.compile of our {name}: first step (compilation) "
            f"{time.perf_counter() - start:.1f} s"
        )
        seconds = interleaved_medians({"eager": make(eager), "compiled": step}, repeats)
        print_table(f"{name} training step, torch.compile", seconds, [("eager", "compiled")])


def cpu_bf16_flags() -> str:
    """The CPU's bf16-related flags from /proc/cpuinfo (amx_bf16, avx512_bf16), or 'none'."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].splitlines()[0].split()
    except (OSError, IndexError):
        return "unknown"
    found = sorted(f for f in flags if f in {"amx_bf16", "amx_tile", "avx512_bf16"})
    return ", ".join(found) or "none"


if __name__ == "__main__":
    main()
