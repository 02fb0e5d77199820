"""Speed of the LDNS networks at the Lorenz sizes, against the authors' code on a similar CPU.

Times (median of repeats after warm-up, float32, 2 threads):
  * one autoencoder training step: 64 trials × 128 neurons × 256 bins, C = 256, 4 blocks,
    latent 8, bidirectional, coordinated dropout 0.2, AdamW, grad-norm clip 2;
  * one denoiser training step: 64 × 8 × 256 latents, C = 64, 4 blocks, ε-MSE, AdamW, clip 1;
  * one sampling step: denoiser forward for 16 sequences, eval mode, no grad (S4 kernels cached).
It also prints parameter counts beside the authors' and the GFLOP/s of a 1024³ float32 matmul
measured in the same run, since the reference timings are only comparable on a machine whose
matmul runs at ≥ 150 GFLOP/s.

Run: python benchmarks/bench_ldns_speed.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from neurodiff.diffusion import diffusion_loss, make_schedule
from neurodiff.models.ldns import LatentDenoiser, S4Autoencoder, autoencoder_loss

THREADS = 2
# The authors' code (mackelab/LDNS, DPLR S4 with the naive Cauchy kernel) on a 2-core CPU whose
# 1024³ matmul ran at ≥ 150 GFLOP/s; parameter counts of their Lorenz autoencoder and denoiser.
REFERENCE_SECONDS = {"autoencoder step": 3.8, "denoiser step": 0.5, "sampling step": 0.076}
REFERENCE_PARAMS = {"autoencoder": 1.45e6, "denoiser": 0.18e6}


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of fn() over `repeats` calls after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(repeats: int) -> float:
    """Throughput of a 1024 × 1024 × 1024 float32 matrix product."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    seconds = median_seconds(lambda: a @ b, max(repeats, 10), warmup=3)
    return 2 * 1024**3 / seconds / 1e9


def autoencoder_step(model: S4Autoencoder) -> Callable[[], None]:
    """A closure running one Lorenz-sized autoencoder training step."""
    spikes = torch.poisson(torch.full((64, 128, 256), 0.3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = autoencoder_loss(model, spikes, dropout_p=0.2, latent_beta=0.01, td_beta=0.01)
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()

    return step


def denoiser_step(model: LatentDenoiser) -> Callable[[], None]:
    """A closure running one Lorenz-sized denoiser training step."""
    latents = torch.randn(64, 8, 256)
    schedule = make_schedule()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        diffusion_loss(model, schedule, latents, loss="mse").backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def sampling_step(model: LatentDenoiser) -> Callable[[], None]:
    """A closure running one denoiser forward pass for 16 sequences, as in ancestral sampling."""
    x_t, t = torch.randn(16, 8, 256), torch.full((16,), 500)

    def step() -> None:
        with torch.no_grad():
            model(x_t, t)

    return step


def count(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)

    autoencoder = S4Autoencoder(128, 256, 8, 4, bidirectional=True).train()
    denoiser = LatentDenoiser(8, 64, 4).train()
    sampler = LatentDenoiser(8, 64, 4).eval()

    gflops_before = matmul_gflops(args.repeats)
    seconds = {
        "autoencoder step": median_seconds(autoencoder_step(autoencoder), args.repeats),
        "denoiser step": median_seconds(denoiser_step(denoiser), args.repeats),
        "sampling step": median_seconds(sampling_step(sampler), 5 * args.repeats),
    }
    gflops_after = matmul_gflops(args.repeats)

    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"matmul 1024^3 float32: {gflops_before:.0f} GFLOP/s before, "
        f"{gflops_after:.0f} GFLOP/s after the timings"
    )
    print("S4 layers: S4D (diagonal), d_state = 80, S4D-Lin init")
    for name, model in (("autoencoder", autoencoder), ("denoiser", denoiser)):
        ours, theirs = count(model), REFERENCE_PARAMS[name]
        print(
            f"{name:>11} parameters: {ours:,} (authors {theirs / 1e6:.2f} M, "
            f"{100 * (ours / theirs - 1):+.1f} %)"
        )
    print(f"{'measurement':<18}{'ours (s)':>10}{'authors (s)':>13}{'speed-up':>10}")
    for name, value in seconds.items():
        reference = REFERENCE_SECONDS[name]
        print(f"{name:<18}{value:>10.4f}{reference:>13.3f}{reference / value:>9.1f}x")


if __name__ == "__main__":
    main()
