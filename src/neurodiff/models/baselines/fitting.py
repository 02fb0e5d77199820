"""The training recipe the pi-VAE and TNDM baselines share: Adam steps over shuffled minibatches.

The run directory records the seed, the data shape, the settings and a digest of the training
tensors (`neurodiff.train.reset_stale_run`); `settings.steps` optimizer steps; log rows and
checkpoints follow `neurodiff.train.steps_config`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from neurodiff.train import (
    LossFn,
    data_digest,
    full_batches,
    reset_stale_run,
    seed_everything,
    steps_config,
    train_on_tensors,
)

Model = TypeVar("Model", bound=nn.Module)


def fit_with_adam(
    build: Callable[[], Model],
    loss_fn: LossFn,
    tensors: list[torch.Tensor],
    shape: Sequence[int],
    settings: Any,
    run_dir: str | Path,
    seed: int,
    desc: str,
    device: str = "auto",
    progress: bool = True,
    grad_clip: float | None = None,
) -> Model:
    """Train `build()` (called after seeding) on `tensors` with Adam; eval mode, on the CPU.

    `settings`: a dataclass with `steps`, `batch_size` and `lr` (recorded whole in the run
    directory); `shape`: the data shape recorded with it.
    """
    reset_stale_run(
        run_dir,
        {
            "seed": seed,
            "shape": list(shape),
            "settings": vars(settings),
            "data": data_digest(*tensors),
        },
    )
    per_pass = full_batches(len(tensors[0]), settings.batch_size, desc)
    seed_everything(seed)
    model = build()
    config = steps_config(
        settings.steps,
        per_pass,
        seed,
        grad_clip=grad_clip,
        device=device,
        progress=progress,
        desc=desc,
    )
    result = train_on_tensors(
        model,
        loss_fn,
        tensors,
        settings.batch_size,
        lambda params: torch.optim.Adam(params, lr=settings.lr),
        config,
        run_dir,
    )
    return result.model.cpu().eval()
