"""Rule ldns_autolfads: LFADS searched by Ray Tune PBT; prior samples and posterior rates."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import atomic_path, write_json_atomic, write_npz
from neurodiff.models.baselines.autolfads import AutoLFADSSettings, run_pbt
from neurodiff.models.ldns.lfads_baseline import prior_samples
from neurodiff.models.ldns.settings import from_mapping
from neurodiff.runlog import snakemake_job
from neurodiff.train import select_device

with snakemake_job(snakemake) as log:
    settings = from_mapping(AutoLFADSSettings, snakemake.params.cfg, "ldns.autolfads")
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    on_gpu = select_device(snakemake.params.device).type == "cuda"
    gpus = snakemake.resources.gpu if on_gpu else 0  # shared by the PBT members
    model, info = run_pbt(
        ds.signals[train],
        settings,
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        num_cpus=snakemake.threads,
        num_gpus=gpus,
    )
    with atomic_path(snakemake.output.model) as tmp:
        torch.save(model.state_dict(), tmp)
    write_json_atomic(snakemake.output.search, info)
    arrays = prior_samples(
        model, len(train), ds.n_bins, torch.Generator().manual_seed(snakemake.params.seed)
    )
    with torch.no_grad():  # posterior-mean rates of the training trials: fit of AutoLFADS+sh
        posterior = model(torch.as_tensor(ds.signals[train]), sample=False)["rates"]
    arrays["posterior_rates"] = posterior.numpy()
    write_npz(snakemake.output.samples, arrays)
    log.info("AutoLFADS: %s; samples %s", info, {k: v.shape for k, v in arrays.items()})
