"""How long to train an LDNS denoiser: validation ε-MSE and sample dispersion against steps.

Loads a workflow run's autoencoder latents and its trained denoiser (`results/<preset>/ldns/`),
trains the same denoiser again for `--steps` optimizer steps (a fresh run directory under
`--work`), and prints for both: the ε-objective on the validation and test latents (the same
timesteps and noise for both models, mean ± standard error over `--repeats` draws) and, for
unconditional models, how much of the autoencoder latents' variance DDIM-50 samples keep
(within-trial, and the single-trial part left after removing the mean trajectory). The medium
preset's MC_Maze denoiser lengths were chosen with it (config/medium.yaml: 8400 steps against
2100).

Run: python benchmarks/ldns_denoiser_steps.py --preset medium --model mc_maze_unconditional
     --steps 8400 [--results results] [--repeats 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from neurodiff.config import load_yaml, resolve_preset
from neurodiff.data.tidy import read_tidy
from neurodiff.diffusion.objective import diffusion_loss
from neurodiff.io import read_npz
from neurodiff.models.ldns.fit import build_denoiser, diffusion_schedule, train_denoiser
from neurodiff.models.ldns.generate import (
    DenoiserInputs,
    EncodedData,
    SamplingPlan,
    denoiser_inputs,
    sample_normalized_latents,
)
from neurodiff.models.ldns.settings import BehaviorSettings, DenoiserSettings, from_mapping
from neurodiff.train import load_trained


@torch.no_grad()
def epsilon_mse(model: torch.nn.Module, inputs: DenoiserInputs, schedule, settings, repeats: int):
    """Mean ± standard error of the ε-objective over `repeats` draws of timesteps and noise."""
    generator = torch.Generator().manual_seed(123)
    x0, cond, mask = inputs.unpack(inputs.tensors())
    values = [
        float(
            diffusion_loss(
                model, schedule, x0, cond, mask, **settings.loss_kwargs(), generator=generator
            )
        )
        for _ in range(repeats)
    ]
    return float(np.mean(values)), float(np.std(values) / np.sqrt(repeats))


def kept_variance(model: torch.nn.Module, encoded: EncodedData, schedule) -> tuple[float, float]:
    """(within-trial, single-trial) variance of 256 DDIM-50 samples / that of the AE latents."""
    plan = SamplingPlan(256, encoded.latents.shape[-1], {}, {})
    z = sample_normalized_latents(
        model, schedule, plan, "ddim", 50, 256, torch.Generator().manual_seed(7)
    )
    samples = encoded.normalizer.denormalize(z).numpy()
    latents = encoded.latents[encoded.rows("train")]

    def single_trial(x: np.ndarray) -> float:
        return float((x - x.mean(0, keepdims=True)).var(axis=2).mean())

    within = samples.var(axis=2).mean() / latents.var(axis=2).mean()
    return float(within), single_trial(samples) / single_trial(latents)


def main() -> None:
    """Compare the workflow's trained denoiser with one trained for --steps steps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--model", default="mc_maze_unconditional", help="ldns.denoiser key")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    parser.add_argument("--work", type=Path, default=Path("benchmarks/out/denoiser_steps"))
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = resolve_preset(
        load_yaml(args.config_dir / "config.yaml"), args.config_dir, {"preset": args.preset}
    )
    ldns, root = config["ldns"], args.results / args.preset
    settings = from_mapping(
        DenoiserSettings, ldns["denoiser"][args.model], f"ldns.denoiser.{args.model}"
    )
    behavior = from_mapping(BehaviorSettings, ldns["behavior"], "ldns.behavior")
    schedule = diffusion_schedule(ldns["diffusion"])
    dataset = settings.dataset
    encoded = EncodedData.from_arrays(read_npz(root / f"ldns/models/{dataset}/latents.npz"))
    ds = read_tidy(root / f"data/{dataset}.h5")
    splits = {
        name: denoiser_inputs(encoded, ds, settings, behavior, name) for name in ("val", "test")
    }
    velocity = splits["val"].cond.get("velocity")
    channels = 0 if velocity is None else velocity.shape[1]
    trained = root / f"ldns/models/{args.model}/denoiser/model.pt"
    models = {
        f"workflow ({settings.steps} steps)": load_trained(
            trained, build_denoiser(settings, encoded.latents.shape[1], channels), use_ema=True
        ).eval()
    }
    longer = dataclasses.replace(settings, steps=args.steps)
    started = time.perf_counter()
    models[f"retrained ({args.steps} steps)"] = train_denoiser(
        denoiser_inputs(encoded, ds, longer, behavior),
        longer,
        schedule,
        args.work / f"{args.model}_{args.steps}",
        args.seed,
        "cpu",
    )
    print(f"training {args.steps} steps: {time.perf_counter() - started:.0f} s")
    print("| model | val ε-MSE | test ε-MSE | within-trial var kept | single-trial var kept |")
    print("|---|---|---|---|---|")
    for name, model in models.items():
        val, test = (
            epsilon_mse(model, splits[s], schedule, settings, args.repeats) for s in splits
        )
        kept = kept_variance(model, encoded, schedule) if settings.conditioning == "none" else None
        dispersion = " | ".join(f"{k:.3f}" for k in kept) if kept else "– | –"
        errors = " | ".join(f"{mean:.4f} ± {se:.4f}" for mean, se in (val, test))
        print(f"| {name} | {errors} | {dispersion} |")


if __name__ == "__main__":
    main()
