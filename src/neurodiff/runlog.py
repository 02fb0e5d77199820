"""Per-job logging: send a job's prints, warnings and log records to its log file."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path


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
    with open(path, "w", buffering=1) as fh, contextlib.redirect_stdout(fh), \
            contextlib.redirect_stderr(fh), warnings.catch_warnings():
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
