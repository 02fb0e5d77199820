"""Per-job logging and provenance: output to the job's log file, its record beside its outputs."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neurodiff.provenance import (
    as_mapping,
    input_lineage,
    job_record,
    remove_sidecars,
    write_sidecars,
)


@contextlib.contextmanager
def logged_job(log_path: str | os.PathLike | None, name: str) -> Iterator[logging.Logger]:
    """Redirect stdout/stderr and logging to `log_path` for the duration of a job."""
    logger = logging.getLogger(f"neurodiff.{name}")
    if log_path is None:
        yield logger
        return
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with (
        open(path, "w", buffering=1) as fh,
        contextlib.redirect_stdout(fh),
        contextlib.redirect_stderr(fh),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("default")
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logger.info("job %s on %s (python %s)", name, platform.node(), sys.version.split()[0])
        try:
            yield logger
        except BaseException:
            logger.exception("job %s failed after %.1f s", name, time.time() - start)
            raise
        else:
            logger.info("job %s finished in %.1f s", name, time.time() - start)
        finally:
            root.removeHandler(handler)


@contextlib.contextmanager
def snakemake_job(smk: Any) -> Iterator[logging.Logger]:
    """Run a rule script's body logged to its log file; on success write provenance sidecars.

    `smk` is the script's `snakemake` object (.log, .rule, .input, .output, .params,
    .wildcards, .config). Nothing is written beside the outputs if the body raises.
    """
    with logged_job(smk.log[0], smk.rule) as log:
        started = datetime.now(UTC)
        outputs = [str(path) for path in smk.output]
        remove_sidecars(outputs)
        lineage = input_lineage(str(path) for path in smk.input)
        yield log
        finished = datetime.now(UTC)
        record = job_record(
            rule=smk.rule,
            wildcards=as_mapping(smk.wildcards),
            params=as_mapping(smk.params),
            config=smk.config,
            lineage=lineage,
            outputs=outputs,
            started=started,
            finished=finished,
        )
        written = write_sidecars(record, outputs)
        log.info("provenance: %s", ", ".join(map(str, written)))
