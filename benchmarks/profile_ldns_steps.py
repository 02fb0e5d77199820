"""Where the time goes in our LDNS training steps: torch.profiler over the Lorenz anchor steps.

Builds our autoencoder and denoiser at the sizes and with the step functions of
`bench_ldns_speed.py` (same workload), runs 3 warm-up steps and profiles `--steps` more on the
CPU, and prints the operators by self CPU time. Absolute times depend on the machine's load;
the shares are what this script is for.

Run: python benchmarks/profile_ldns_steps.py [--steps 5] [--rows 14]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ldns_speed as bench  # noqa: E402  (the benchmark's workload, not a copy)


def main() -> None:
    """Profile our autoencoder and denoiser training steps and print the top operators."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="profiled steps per network")
    parser.add_argument("--rows", type=int, default=14, help="operators printed per network")
    args = parser.parse_args()
    torch.set_num_threads(bench.THREADS)
    torch.manual_seed(0)
    bench.print_machine("profile")
    autoencoder, denoiser = bench.our_models()
    spikes = torch.poisson(torch.full((bench.BATCH, bench.NEURONS, bench.LENGTH), 0.3))
    latents = torch.randn(bench.BATCH, bench.LATENTS, bench.LENGTH)
    steps = {
        "autoencoder training step": bench.our_autoencoder_step(autoencoder, spikes),
        "denoiser training step": bench.our_denoiser_step(denoiser, latents),
    }
    for name, step in steps.items():
        for _ in range(bench.WARMUP):
            step()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step()
        print(f"\n{name}: operators by self CPU time over {args.steps} steps")
        table = prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40
        )
        print(table)


if __name__ == "__main__":
    main()
