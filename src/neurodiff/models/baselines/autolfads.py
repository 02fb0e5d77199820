"""AutoLFADS (Keshtkaran et al. 2022, Nature Methods): LFADS tuned by population-based training.

The search is Ray Tune's `PopulationBasedTraining` (the engine lfads-torch's `run_pbt.py` uses):
`population` LFADS models train side by side; after every generation of `steps_per_generation`
Adam steps (over shuffled passes of the training trials, the last batch of a pass smaller) each
reports its validation Poisson NLL, the worst quantile copies the weights of the best
(exploit) and perturbs or resamples their hyperparameters (explore). Searched, as AutoLFADS:
learning rate, dropout, coordinated-dropout rate, KL and L2 weights (`search` gives the ranges in
this LFADS's loss units). The member with the lowest validation NLL at the last generation is
returned. Ray runs locally, in one process tree: on Slurm the search is one job holding all its
cores and GPUs. Members draw their initial weights unseeded (Ray workers), so repeated searches
differ, as PBT runs do.

Faults: the experiment folder is `run_dir/ray/pbt-<hash of settings, seed and training data>`, so
a search with other settings or data starts its own experiment and never restores (or deletes)
another's; a killed search is restored with `Tuner.restore` (finished generations are not
retrained); the driver holds `neurodiff.train.RunLock` on `run_dir`, so two searches never share
the folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodiff.config import config_hash
from neurodiff.models.baselines.lfads import LFADS, lfads_from_config, poisson_nll
from neurodiff.train import RunLock, data_digest

log = logging.getLogger(__name__)

SEARCHED = ("lr", "dropout", "cd_rate", "kl_ic_scale", "l2_gen_scale")
LOG_SCALE = ("lr", "kl_ic_scale", "l2_gen_scale")


@dataclass(frozen=True, kw_only=True)
class AutoLFADSSettings:
    """PBT sizes, the searched ranges {name: [low, high]} and fixed LFADS `model` fields."""

    population: int
    generations: int
    steps_per_generation: int
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
    order, position = torch.empty(0, dtype=torch.long), 0
    while True:
        model.train()
        for _ in range(settings.steps_per_generation):
            if position >= len(order):  # start a new shuffled pass over the training trials
                order, position = torch.randperm(len(train_x), generator=generator).to(device), 0
            rows = order[position : position + settings.batch_size]
            position += settings.batch_size
            loss, _ = model.loss(train_x[rows], step)
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


def resumable_pbt() -> type:
    """Ray Tune's synchronous `PopulationBasedTraining`, fixed to resume a restored search.

    Ray 2.60 gives every trial added on `Tuner.restore` a fresh state (no training time) while
    the restored trials report times from their checkpoints on, and its next synchronisation
    point starts again at the first generation: after the first perturbation following a
    restore, no trial is ever "behind" the next synchronisation point, so none is scheduled and
    the search stalls for good ("No trial is running ..."). Here a restored trial's state starts
    at its last reported time, and the next synchronisation point follows the least restored
    time (members killed a generation apart catch up to it). Searches that are not restored are
    scheduled exactly as by the parent class.
    """
    from ray.tune.schedulers import PopulationBasedTraining

    class ResumablePBT(PopulationBasedTraining):
        def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
            super().on_trial_add(tune_controller, trial)
            done = (trial.last_result or {}).get(self._time_attr)
            if done:  # a trial restored after an interruption
                state = self._trial_state[trial]
                state.last_train_time = state.last_perturbation_time = done
                # the last synchronisation all members passed is the least restored time
                # (members killed a generation apart catch up to the next one); computed from
                # the trials themselves, so no state carries over from an earlier restore
                attr = self._time_attr
                times = [done] + [
                    t.last_result[attr]
                    for t in tune_controller.get_trials()
                    if (t.last_result or {}).get(attr)
                ]
                first = max(self._perturbation_interval, self._burn_in_period)
                self._next_perturbation_sync = max(first, min(times) + self._perturbation_interval)

    return ResumablePBT


def _domain(name: str, bounds: list[float]) -> Any:
    """The Ray Tune sampling domain of a searched hyperparameter."""
    from ray import tune

    return tune.loguniform(*bounds) if name in LOG_SCALE else tune.uniform(*bounds)


def experiment_name(
    settings: AutoLFADSSettings, seed: int, train_x: torch.Tensor, val_x: torch.Tensor
) -> str:
    """The Ray experiment's folder name: `pbt-` and a hash of settings, seed and the data."""
    record = {
        "settings": dataclasses.asdict(settings),
        "seed": seed,
        "data": data_digest(train_x, val_x),
    }
    return f"pbt-{config_hash(record)}"


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
    interrupted search of the same settings, seed and data is resumed (unfinished members restart
    from their last checkpoint); `info["resumed"]` says whether it was.
    """
    environ = dict(os.environ)  # ray and ray.init set variables (RAY_AUTH_MODE...): put back
    import ray
    from ray import tune

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    x = torch.as_tensor(np.asarray(spikes, np.float32))
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(settings.val_fraction * len(x)))
    val_x, train_x = x[order[:n_val]], x[order[n_val:]]
    storage = Path(run_dir).resolve() / "ray"
    name = experiment_name(settings, seed, train_x, val_x)
    space = {name: _domain(name, bounds) for name, bounds in settings.search.items()}
    scheduler = resumable_pbt()(
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
    lock = RunLock(run_dir)
    lock.acquire()
    ray.init(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=False,
        log_to_driver=False,
        ignore_reinit_error=True,
    )
    try:
        resumed = tune.Tuner.can_restore(storage / name)
        if resumed:
            log.info("AutoLFADS: resuming the interrupted search %s", storage / name)
            tuner = tune.Tuner.restore(str(storage / name), trainable, resume_errored=True)
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
                    name=name,
                    storage_path=str(storage),
                    verbose=0,
                    stop={"training_iteration": settings.generations},
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=4),
                ),
            )
        results = tuner.fit()
    finally:
        ray.shutdown()
        lock.release()
        os.environ.clear()
        os.environ.update(environ)
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
        "experiment": name,
        "resumed": resumed,
    }
    return model.eval(), info
