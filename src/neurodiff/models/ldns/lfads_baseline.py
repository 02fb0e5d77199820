"""The LFADS baseline of LDNS: trained with fixed hyperparameters, sampled from its IC prior.

LDNS compared against AutoLFADS (LFADS tuned by population-based training, no controller) on
MC_Maze, and showed on Lorenz that LFADS factors do not generalise to trials 16× longer than
training (Supp. A5, A6). Unconditional LFADS samples: g0 ~ p(g0), generator unrolled, rates
exp(readout(factors)), Poisson (or spike-history) spikes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodiff.models.baselines.lfads import LFADS, lfads_from_config
from neurodiff.models.ldns.fit import run_config
from neurodiff.models.ldns.settings import LFADSSettings
from neurodiff.train import (
    data_digest,
    full_batches,
    reset_stale_run,
    seed_everything,
    train_on_tensors,
)


def train_lfads(
    spikes: np.ndarray,
    settings: LFADSSettings,
    run_dir: str | Path,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> LFADS:
    """Train LFADS on (trials, time, neurons) counts with Adam; returns the model (eval, CPU)."""
    run_dir = Path(run_dir)
    x = torch.as_tensor(np.asarray(spikes), dtype=torch.float32)
    reset_stale_run(
        run_dir,
        {
            "seed": seed,
            "shape": list(x.shape),
            "steps": settings.steps,
            "batch_size": settings.batch_size,
            "lr": settings.lr,
            "grad_clip": settings.grad_clip,
            "model": settings.model,
            "data": data_digest(x),
        },
    )
    per_pass = full_batches(len(x), settings.batch_size, "ldns.lfads")
    seed_everything(seed)
    model = lfads_from_config(x.shape[2], settings.model)

    def loss_fn(net: LFADS, batch: tuple[torch.Tensor], step: int) -> Any:
        return net.loss(batch[0], step)

    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=settings.lr)

    config = run_config(settings, per_pass, seed, device, progress, "LFADS")
    result = train_on_tensors(
        model, loss_fn, [x], settings.batch_size, make_optimizer, config, run_dir
    )
    return result.model.cpu().eval()


@torch.no_grad()
def posterior_factors(model: LFADS, spikes: np.ndarray) -> np.ndarray:
    """Factors (trials, time, factor_dim) from the IC posterior means of observed trials."""
    model.eval()
    out = model(torch.as_tensor(np.asarray(spikes), dtype=torch.float32), sample=False)
    return out["factors"].numpy()


@torch.no_grad()
def posterior_rates(model: LFADS, spikes: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Inferred rates (trials, time, neurons) from the IC posterior means of observed trials."""
    model.eval()
    x = torch.as_tensor(np.asarray(spikes), dtype=torch.float32)
    return torch.cat([model(chunk, sample=False)["rates"] for chunk in x.split(batch_size)]).numpy()


@torch.no_grad()
def prior_samples(
    model: LFADS, n: int, n_bins: int, generator: torch.Generator
) -> dict[str, np.ndarray]:
    """Factors, rates (n, n_bins, ·) and Poisson spikes of `LFADS.sample_from_prior`."""
    out = model.sample_from_prior(n, n_bins, generator)
    spikes = torch.poisson(out["rates"], generator=generator)
    return {
        "factors": out["factors"].numpy(),
        "rates": out["rates"].numpy(),
        "spikes": spikes.numpy(),
    }
