"""Logging set-up for the workflow's scripts: one log file per job, also echoed to stderr.

Snakemake deletes a job's log file before it runs the job again, so the log of an attempt that was
killed or failed would be lost on the rerun; :func:`logged` keeps it as ``<log>.previous``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

UNFINISHED_SUFFIX = ".unfinished"
PREVIOUS_SUFFIX = ".previous"


@contextlib.contextmanager
def logged(log_path: str | Path, name: str = "songvec") -> Iterator[logging.Logger]:
    """Send every ``songvec`` (and warnings) log record to ``log_path`` and stderr for the block's duration.

    An exception escaping the block is written to the log with its traceback before it propagates, so the
    job's log file says why the job failed.

    Until the block ends successfully the log file has a second name, ``<log>.unfinished`` (a hard link,
    so no byte is written twice). A SIGKILL skips every clean-up and an exception leaves it on purpose:
    when the job starts again, an ``.unfinished`` log left by the earlier attempt is renamed
    ``<log>.previous`` (replacing an older one) and the new log says so.
    """
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    unfinished = path.with_name(path.name + UNFINISHED_SUFFIX)
    previous = path.with_name(path.name + PREVIOUS_SUFFIX)
    kept = unfinished.exists()
    if kept:
        os.replace(unfinished, previous)
    path.unlink(missing_ok=True)  # Snakemake has removed it; outside Snakemake it may share .previous's inode
    handlers = [logging.FileHandler(path, mode="w", encoding="utf-8"), logging.StreamHandler(sys.stderr)]
    try:
        os.link(path, unfinished)
    except OSError:  # a file system without hard links: the log of a killed attempt is not kept
        unfinished = None
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    logger = logging.getLogger(name)
    if kept:
        logger.warning("an earlier attempt of this job was killed or failed; its log is kept in %s", previous)
    try:
        yield logger
    except BaseException:
        logger.exception("job failed")
        raise
    else:
        if unfinished is not None:
            unfinished.unlink(missing_ok=True)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
