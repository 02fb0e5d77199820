"""Rule benediff_frame_ae: frame autoencoder of one session's video, and the scaled codes."""

import numpy as np
import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import write_npz
from neurodiff.models.benediff.fit import (
    model_run_dir,
    save_frame_autoencoder,
    train_frame_autoencoder,
)
from neurodiff.models.benediff.settings import FrameAeSettings
from neurodiff.models.benediff.video import CodeScaler, decode_video, encode_video
from neurodiff.runlog import snakemake_job
from neurodiff.train import select_device

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    section = FrameAeSettings.from_config(snakemake.params.section)
    seed = snakemake.params.seed
    ds = read_tidy(snakemake.input[0])
    if ds.video is None:
        raise ValueError(f"{snakemake.input[0]}: no video; BeNeDiff needs behaviour video")
    train_idx, test_idx = ds.indices("train"), ds.indices("test")
    run_dir = model_run_dir(snakemake.output.model, "frame_ae", section, seed, ds.video.shape[1:])
    model = train_frame_autoencoder(
        ds.video[train_idx], section, seed, run_dir, snakemake.params.device
    )
    save_frame_autoencoder(snakemake.output.model, model, section)
    model.to(select_device(snakemake.params.device))
    codes = encode_video(model, ds.video)
    scaler = CodeScaler.fit(codes[train_idx])
    unit = scaler.to_unit(torch.from_numpy(codes)).numpy()
    write_npz(
        snakemake.output.codes,
        {
            "codes": unit.astype(np.float32),
            "low": scaler.low,
            "high": scaler.high,
            "split": ds.split.astype(str),
        },
    )
    test_video = ds.video[test_idx]
    mse = np.mean(
        (decode_video(model, torch.from_numpy(codes[test_idx])) / 255.0 - test_video / 255.0) ** 2
    )
    log.info("codes %s per frame; held-out pixel MSE %.5f", codes.shape[1:2] + codes.shape[3:], mse)
