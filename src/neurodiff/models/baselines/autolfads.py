"""AutoLFADS (Keshtkaran et al. 2022, Nature Methods): LFADS tuned by population-based training.

The search is Ray Tune's `PopulationBasedTraining` (the engine lfads-torch's `run_pbt.py` uses):
`population` LFADS models train side by side; after every generation of `epochs_per_generation`
epochs each reports its validation Poisson NLL, the worst quantile copies the weights of the best
(exploit) and perturbs or resamples their hyperparameters (explore). Searched, as AutoLFADS:
learning rate, dropout, coordinated-dropout rate, KL and L2 weights (`search` gives the ranges in
this LFADS's loss units). The member with the lowest validation NLL at the last generation is
returned. Ray runs locally, in one process tree: on Slurm the search is one job holding all its
cores and GPUs. Members draw their initial weights unseeded (Ray workers), so repeated searches
differ, as PBT runs do.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodiff.models.baselines.lfads import LFADS, lfads_from_config, poisson_nll

SEARCHED = ("lr", "dropout", "cd_rate", "kl_ic_scale", "l2_gen_scale")
LOG_SCALE = ("lr", "kl_ic_scale", "l2_gen_scale")


@dataclass(frozen=True, kw_only=True)
class AutoLFADSSettings:
    """PBT sizes, the searched ranges {name: [low, high]} and fixed LFADS `model` fields."""

    population: int
    generations: int
    epochs_per_generation: int
    batch_size: int
    grad_clip: float
    val_fraction: float
    search: dict[str, list[float]]
    model: dict[str, Any]
    long_samples: int = 0

    def __post_init__(self) -> None:
        if set(self.search) != set(SEARCHED):
            raise ValueError(
                f"ldns.autolfads search must give exactly {list(SEARCHED)}, "
                f"got {sorted(self.search)}"
            )
        bad = {k: v for k, v in self.search.items() if len(v) != 2 or not 0 <= v[0] < v[1]}
        if bad:
            raise ValueError(
                f"ldns.autolfads search ranges must be [low, high], 0 <= low < high: {bad}"
            )
        if self.population < 2 or self.generations < 1:
            raise ValueError("ldns.autolfads needs population >= 2 and generations >= 1")


def validation_nll(model: LFADS, spikes: torch.Tensor) -> float:
    """Poisson NLL per trial of spikes (B, T, N) under the posterior-mean rates, no dropout."""
    model.eval()
    with torch.no_grad():
        out = model(spikes, sample=False)
        return float(poisson_nll(out["log_rates"], spikes).sum() / len(spikes))


def clipped(hp: dict[str, Any], settings: AutoLFADSSettings) -> dict[str, float]:
    """Searched hyperparameters clipped to their ranges (PBT's ×1.2/×0.8 steps can leave them)."""
    return {k: float(np.clip(hp[k], *settings.search[k])) for k in SEARCHED}


def _build(n_neurons: int, settings: AutoLFADSSettings, hp: dict[str, float]) -> LFADS:
    """LFADS with the fixed model fields and the member's searched hyperparameters."""
    searched = {k: clipped(hp, settings)[k] for k in SEARCHED if k != "lr"}
    return lfads_from_config(n_neurons, settings.model | searched)


def _member(
    hp: dict[str, Any],
    train_x: torch.Tensor,
    val_x: torch.Tensor,
    settings: AutoLFADSSettings,
    seed: int,
    use_gpu: bool,
) -> None:
    """Ray Tune function trainable: one PBT member, one report (and checkpoint) per generation."""
    from ray import tune

    torch.set_num_threads(1)
    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    train_x, val_x = train_x.to(device), val_x.to(device)
    model = _build(train_x.shape[2], settings, hp).to(device)
    lr = clipped(hp, settings)["lr"]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step, generation = 0, 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # PBT exploit, or resume: weights from the checkpoint, new hp
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / "member.pt", weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, generation = state["step"], state["generation"]
        for group in optimizer.param_groups:
            group["lr"] = lr
    generator = torch.Generator().manual_seed(seed + generation)
    while True:
        model.train()
        for _ in range(settings.epochs_per_generation):
            order = torch.randperm(len(train_x), generator=generator).to(device)
            for start in range(0, len(order), settings.batch_size):
                loss, _ = model.loss(train_x[order[start : start + settings.batch_size]], step)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                step += 1
        generation += 1
        with tempfile.TemporaryDirectory() as folder:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "generation": generation,
                    "hp": clipped(hp, settings),
                },
                Path(folder) / "member.pt",
            )
            tune.report(
                {"val_nll": validation_nll(model, val_x), "generation": generation},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


def _domain(name: str, bounds: list[float]) -> Any:
    """The Ray Tune sampling domain of a searched hyperparameter."""
    from ray import tune

    return tune.loguniform(*bounds) if name in LOG_SCALE else tune.uniform(*bounds)


def run_pbt(
    spikes: np.ndarray,
    settings: AutoLFADSSettings,
    run_dir: str | Path,
    seed: int,
    num_cpus: int = 1,
    num_gpus: int = 0,
) -> tuple[LFADS, dict[str, Any]]:
    """Search LFADS hyperparameters by PBT on spikes (trials, T, N); returns (best model, info).

    A random `val_fraction` of the trials is held out for the validation NLL. The members share
    `num_cpus` cores and `num_gpus` GPUs (one core and num_gpus / population GPUs each). An
    interrupted search in run_dir/ray is resumed (unfinished members restart from their last
    checkpoint).
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    x = torch.as_tensor(np.asarray(spikes, np.float32))
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(settings.val_fraction * len(x)))
    val_x, train_x = x[order[:n_val]], x[order[n_val:]]
    storage = Path(run_dir).resolve() / "ray"
    space = {name: _domain(name, bounds) for name, bounds in settings.search.items()}
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=1,
        hyperparam_mutations=space,
        quantile_fraction=0.25,
        resample_probability=0.25,
        synch=True,
    )
    trainable = tune.with_resources(
        tune.with_parameters(
            _member,
            train_x=train_x,
            val_x=val_x,
            settings=settings,
            seed=seed,
            use_gpu=num_gpus > 0,
        ),
        {"cpu": 1, "gpu": num_gpus / settings.population},
    )
    ray.init(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=False,
        log_to_driver=False,
        ignore_reinit_error=True,
    )
    try:
        if tune.Tuner.can_restore(storage / "pbt"):
            tuner = tune.Tuner.restore(str(storage / "pbt"), trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(
                    scheduler=scheduler,
                    num_samples=settings.population,
                    metric="val_nll",
                    mode="min",
                    reuse_actors=False,
                ),
                run_config=tune.RunConfig(
                    name="pbt",
                    storage_path=str(storage),
                    verbose=0,
                    stop={"training_iteration": settings.generations},
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=4),
                ),
            )
        results = tuner.fit()
    finally:
        ray.shutdown()
    errors = [r.error for r in results if r.error is not None]
    if errors:
        raise RuntimeError(f"AutoLFADS: {len(errors)} PBT member(s) failed: {errors[0]}")
    best = results.get_best_result(metric="val_nll", mode="min", scope="last")
    with best.checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / "member.pt", weights_only=True)
    model = _build(x.shape[2], settings, state["hp"])
    model.load_state_dict(state["model"])
    frame = results.get_dataframe()
    info = {
        "hp": state["hp"],
        "val_nll": float(best.metrics["val_nll"]),
        "members_val_nll": [float(v) for v in frame["val_nll"]],
        "n_val": n_val,
        "generation": int(state["generation"]),
    }
    return model.eval(), info
