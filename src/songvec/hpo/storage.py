"""Study storages: SQLite, any SQLAlchemy database, or a journal file; heartbeats (docs/hpo.md, "Storages").

:func:`open_storage` turns a URL into an Optuna storage whose running trials write heartbeats, so that
trials of killed workers can be failed (:func:`fail_stale_trials`); journal files get Optuna's
heartbeat protocol here and survive a writer killed mid-record.
"""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages._heartbeat import BaseHeartbeat  # private: see docs/hpo.md, "Optuna's private interfaces"
from optuna.trial import TrialState

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 60
HEARTBEAT_ATTR = "songvec:heartbeat"
_RDB_OPEN_ATTEMPTS = 5


class _TornTailRepairingLock(optuna.storages.journal.JournalFileSymlinkLock):
    """The journal's file lock; whoever acquires it first cuts off a torn last record.

    Optuna writes each batch of records with one ``write`` under this lock; a worker killed in the
    middle of it leaves a last line without its newline. Optuna's reader skips such a last line, but
    the next append would glue its first record onto it and make a line that no reader can parse,
    losing the study. Appends are the only holders of the lock, so repairing right after acquiring it
    repairs before every append, with no other writer at work (the bytes dropped are logged: the torn
    record never completed, so nothing acknowledged is lost).
    """

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path

    def acquire(self) -> bool:
        acquired = super().acquire()
        try:
            drop_torn_tail(self.path)
        except BaseException:
            self.release()  # the caller releases only after a successful acquire
            raise
        return acquired


def drop_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline; return (and log) the bytes removed."""
    if not path.exists():
        return 0
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        block = 1 << 16
        end = size
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - block)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    log.warning("%s: removed a torn last record of %d bytes left by a killed writer", path, size - keep)
    return size - keep


class _HeartbeatJournalStorage(optuna.storages.JournalStorage, BaseHeartbeat):
    """JournalStorage with Optuna's heartbeat protocol (which Optuna implements for RDB only).

    The heartbeat is a trial system attribute holding the worker's ``time.time()``.
    """

    def __init__(self, backend, heartbeat_interval: int, grace_period: int):
        super().__init__(backend)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running
                if now - t.system_attrs.get(HEARTBEAT_ATTR, now) > self.grace_period]

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None


def open_storage(url: str, *, heartbeat_interval: int = 60,
                 grace_period: int | None = None) -> optuna.storages.BaseStorage:
    """Open (creating if needed) the study storage at ``url``.

    ``sqlite:///path.db`` (parent folders are created), any SQLAlchemy URL
    (``postgresql://user:pw@host/db``), or ``journal:/path/file.log``. Running trials write a
    heartbeat every ``heartbeat_interval`` seconds and are failed as stale once their last
    heartbeat is older than ``grace_period`` seconds (default ``3 * heartbeat_interval``).
    """
    if not (isinstance(heartbeat_interval, int) and heartbeat_interval > 0):
        raise ValueError(f"heartbeat_interval must be a positive int (seconds), got {heartbeat_interval!r}")
    grace_period = 3 * heartbeat_interval if grace_period is None else grace_period
    if not (isinstance(grace_period, int) and grace_period > 0):
        raise ValueError(f"grace_period must be a positive int (seconds), got {grace_period!r}")
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
        if not path.name:
            raise ValueError(f"storage URL {url!r}: journal needs a file path, e.g. journal:hpo/study.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path), lock_obj=_TornTailRepairingLock(path))
        return _HeartbeatJournalStorage(backend, heartbeat_interval, grace_period)

    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as exc:
        raise ValueError(f"storage URL {url!r} is neither journal:/path/file.log nor a SQLAlchemy "
                         f"URL such as sqlite:///path.db or postgresql://user@host/db") from exc
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Workers that start together on a new database race to create its tables (Optuna does not
    # guard this): the losers fail with "table ... already exists" and succeed on a retry.
    for attempt in range(1, _RDB_OPEN_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                                  heartbeat_interval=heartbeat_interval,
                                                  grace_period=grace_period)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            if attempt == _RDB_OPEN_ATTEMPTS:
                raise
            log.warning("opening storage %s failed (attempt %d/%d, retrying): %s",
                        parsed.render_as_string(hide_password=True), attempt,
                        _RDB_OPEN_ATTEMPTS, exc.__class__.__name__)
            time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


def storage_location(url: str, study_name: str) -> str:
    """What to delete to start study ``study_name`` over: the folder of its SQLite or journal file, or the
    study in a shared database (the URL shown without its password)."""
    if url.startswith("journal:"):
        return f"the folder {Path(url[len('journal:'):]).parent}/"
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return f"the folder {Path(parsed.database).parent}/"
    shown = parsed.render_as_string(hide_password=True)
    return f"the study {study_name!r} from {shown} (optuna delete-study --study-name '{study_name}' --storage URL)"


def load_study(study_name: str, storage_url: str) -> optuna.Study:
    """Load an existing study (for summaries and plots) from a URL accepted by :func:`open_storage`."""
    return optuna.load_study(study_name=study_name, storage=open_storage(storage_url))


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the RUNNING trials whose heartbeat is older than the storage's grace period."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
