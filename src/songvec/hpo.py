"""Hyper-parameter optimisation of Word2Vec on Optuna (paper section 4, 4.2-4.4, 4.7).

The engine knows nothing about training or metrics: a worker calls ``evaluate(params) -> metrics``
(the caller wires training and the metrics into it) and turns the metrics into the objective.

Search space (paper Table 3) is data: :class:`SearchSpace` is built from a ``{name: {low, high,
type, log, default}}`` mapping that lives in config.yaml. The learning rate ``alpha`` is sampled on
a log scale (its range spans two decades, and a linear scale would put 90% of the trials above
0.01); the other parameters are sampled linearly, as the paper states no scale.

Objectives (paper eq. 1-2): ``HitRate``, ``VRCGenre``, ``VRCArtist`` and the scalarisations
``lambdaGenre(a)`` / ``lambdaArtist(a)`` = a * HitRate + (1 - a) * rVRC, all maximised. The
multi-objective study (:func:`run_pareto_worker`) maximises HitRate and VRCGenre jointly.

Several workers (processes, cluster jobs) may run on one study at once; all decisions are taken
from the shared storage, so all workers agree:

- Sampler: :class:`optuna.samplers.TPESampler` with ``n_startup_trials`` random trials first (the
  paper's 10 random iterations), ``multivariate=True`` and ``constant_liar=True``. The constant
  liar makes TPE treat the trials that other workers are still running as bad results, so
  concurrent workers do not all sample next to the same promising point. While the first
  ``n_random_trials`` trials are still running, other workers also sample at random, so up to
  ``n_random_trials + n_workers - 1`` trials may be random. The multi-objective study uses the
  same TPE sampler (MOTPE) rather than NSGA-II: with budgets of ~100 expensive trials, TPE is
  more sample-efficient than a genetic algorithm whose default population alone is 50 trials, and
  both studies then share random start-up, constant liar and seeding.
- Seeds: each trial gets a fresh sampler seeded from ``(seed, worker_index, k)`` through
  :class:`numpy.random.SeedSequence`, where ``k`` counts the earlier trials of the same worker
  index that count toward the budget. The parameters of a worker's k-th trial thus depend only on
  ``(seed, worker_index, k)`` and the finished trials (TPE ignores FAIL trials): a single worker
  is reproducible (given a deterministic ``evaluate``), also when it is killed and restarted any
  number of times, since the killed trial is failed (below) and its replacement is drawn from the
  same seed and history. Two workers never share a stream. With more than one worker the trial
  order depends on timing, and the history TPE sees differs between runs: results are not
  reproducible then.
- Budget: ``max_trials`` counts the trials that were or are being evaluated: RUNNING, COMPLETE,
  PRUNED (infeasible) and FAIL raised by ``evaluate``. Trials of killed workers and trials
  skipped for lack of budget are FAIL without an ``error`` attribute and do not count. A worker
  checks the budget before asking for a trial and again right after the trial was created
  (Optuna numbers trials atomically): a trial whose lower-numbered predecessors already fill the
  budget is not evaluated but recorded as FAIL with a ``skipped`` attribute (Optuna logs it as a
  failed trial). So at most ``max_trials`` trials are ever evaluated, and at most
  ``n_workers - 1`` skipped records are added when workers race at the end. Raising
  ``max_trials`` and restarting extends a finished study.
- Convergence: a study has converged when ``patience`` feasible completed trials (in trial-number
  order) have followed the last improvement, not counting the first ``n_random_trials`` finished
  trials, so the Bayesian phase always gets ``patience`` feasible trials; infeasible trials are
  bounded by ``max_trials`` only (most random draws from Table 3's ranges are too slow). An
  improvement is a feasible trial strictly better than all earlier feasible ones; for the
  multi-objective study, a feasible trial that no earlier feasible trial weakly dominates, which
  is exactly a trial that increases the hypervolume for any reference point dominated by all
  trials.
- Infeasible trials: ``evaluate`` raises :class:`TrialInfeasible` (e.g. training took more than
  1.25 x the default time, paper section 4.7). Such a trial has no metrics, so it is recorded as
  PRUNED (it never has a value and cannot be best) with ``user_attrs["infeasible"] = True``, the
  reason, and an Optuna constraint ``feasibility > 0``: TPE ranks trials with violated constraints
  below all feasible ones, so it learns to avoid configurations that are too slow to train.
  Feasible trials carry ``feasibility = 0``.
- Killed workers: a worker killed mid-trial leaves a RUNNING trial. A worker claims each trial
  (user attr ``worker`` = ``host:pid#worker_index``) as soon as Optuna created it, before
  sampling. When a worker starts, it fails at once the RUNNING trials claimed by its own
  ``worker_index``: the scheduler (Snakemake) never runs the same worker job twice at once, so
  they were left by a killed earlier life of this worker. It also fails RUNNING trials still
  unclaimed ``grace_period`` seconds after they started (waiting for the younger ones): their
  worker died between creating and claiming them, before their first heartbeat, so the
  heartbeat check below would keep them RUNNING forever. Trials of other workers are judged by
  heartbeat: every trial writes one every ``heartbeat_interval`` seconds; before each trial a
  worker marks RUNNING trials whose heartbeat is older than ``grace_period`` seconds as FAIL
  (``optuna.storages.fail_stale_trials``). RDB storages use Optuna's own heartbeat (database
  clock); journal files use the same protocol with the heartbeat written as a trial system
  attribute (wall clocks of the workers, which must be synchronised, e.g. by NTP, as for the
  unclaimed trials). The default grace period is 3 heartbeats. Completed trials are never
  touched. A killed trial is replaced by the same configuration when the same worker restarts
  (same seed, same history; the enqueued default configuration is enqueued again); a trial
  that failed in ``evaluate`` is not retried.
- Study definition: the objectives, the search space and the default metrics are stored in the
  study on first use; a worker with a different definition is refused (ValueError).

Storages (:func:`open_storage`): ``sqlite:///path.db`` (busy timeout of 60 s so concurrent
workers wait instead of failing with "database is locked"; SQLite must not sit on NFS), any other
SQLAlchemy URL (``postgresql://user@host/db``) for cluster runs, and ``journal:/path/file.log``: an
append-only log file that works on NFS thanks to :class:`optuna.storages.journal.
JournalFileSymlinkLock` (a lock by ``symlink()``, atomic on NFSv2 and later, and forcibly
released 30 s after a holder died: a worker killed while appending delays the others by 30 s).
Workers that open a new database together race to create its tables; :func:`open_storage`
retries, so they may start at the same time.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import os
import random
import re
import socket
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

Metrics = Mapping[str, float]
Evaluate = Callable[[dict[str, Any]], Metrics]

FEASIBILITY_CONSTRAINT = "feasibility"
SQLITE_BUSY_TIMEOUT_SECONDS = 60
_HEARTBEAT_ATTR = "songvec:heartbeat"
_DEFAULT_CONFIG_ATTR = "default_config"
_WORKER_ATTR = "worker"
_RDB_OPEN_ATTEMPTS = 5
SAMPLERS = ("tpe", "random")  # "random": pure random search, a baseline for TPE


class TrialInfeasible(Exception):
    """Raised by ``evaluate`` when a configuration violates a constraint (e.g. the time budget).

    ``reason`` is stored with the trial; ``violation`` (> 0) says how far the constraint is
    exceeded (e.g. 0.3 for 30% over the time budget) and orders infeasible trials for TPE.
    """

    def __init__(self, reason: str, violation: float = 1.0):
        if not violation > 0:
            raise ValueError(f"TrialInfeasible violation must be > 0, got {violation!r}")
        super().__init__(reason)
        self.reason = reason
        self.violation = float(violation)


class _SkippedTrial(Exception):
    """A trial created after the budget was used up: recorded as FAIL, never evaluated."""


# ----------------------------------------------------------------------------- search space

@dataclasses.dataclass(frozen=True)
class ParamRange:
    """One hyper-parameter: sampled in ``[low, high]`` (both included), as int or float.

    ``log``: sample uniformly in log space (needs ``low > 0``). ``default``: the library default
    (Word2Vec's), optional, used by ``enqueue_default``.
    """

    name: str
    low: float
    high: float
    type: str
    log: bool = False
    default: float | None = None

    def distribution(self) -> BaseDistribution:
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)


_RANGE_FIELDS = {"low", "high", "type", "log", "default"}


class SearchSpace:
    """The hyper-parameters tuned by a study, in a fixed order.

    Build it from config data with :meth:`from_dict`; :meth:`to_dict` gives the same data back.
    """

    def __init__(self, params: Sequence[ParamRange]):
        if not params:
            raise ValueError("search space is empty")
        self.params = tuple(params)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping[str, Any]]) -> "SearchSpace":
        """Parse ``{name: {"low": .., "high": .., "type": "int"|"float", "log": bool,
        "default": ..}}``; ``log`` (false) and ``default`` (none) are optional.

        Raises ValueError naming the parameter for: unknown fields, missing bounds, unknown
        type, ``low > high``, non-integer bounds of an int parameter, ``log`` with ``low <= 0``,
        a default outside ``[low, high]``.
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"search space must be a mapping of parameter name -> range, "
                             f"got {type(spec).__name__}")
        return cls([_parse_range(name, fields) for name, fields in spec.items()])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for p in self.params:
            fields: dict[str, Any] = {"low": p.low, "high": p.high, "type": p.type, "log": p.log}
            if p.default is not None:
                fields["default"] = p.default
            out[p.name] = fields
        return out

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample every parameter through ``trial`` and return ``{name: value}``."""
        params: dict[str, Any] = {}
        for p in self.params:
            if p.type == "int":
                params[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
            else:
                params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        return params

    def default_params(self) -> dict[str, Any]:
        """``{name: default}``; ValueError naming the parameters that have no default."""
        missing = [p.name for p in self.params if p.default is None]
        if missing:
            raise ValueError(f"search space parameters without a default: {missing}")
        return {p.name: (int(p.default) if p.type == "int" else float(p.default))
                for p in self.params}


def _parse_range(name: str, fields: Mapping[str, Any]) -> ParamRange:
    where = f"search space parameter {name!r}"
    if not isinstance(fields, Mapping):
        raise ValueError(f"{where}: expected a mapping with low/high/type, got {fields!r}")
    unknown = set(fields) - _RANGE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}; allowed {sorted(_RANGE_FIELDS)}")
    missing = {"low", "high", "type"} - set(fields)
    if missing:
        raise ValueError(f"{where}: missing fields {sorted(missing)}")
    kind, low, high = fields["type"], fields["low"], fields["high"]
    log_scale, default = fields.get("log", False), fields.get("default")
    if kind not in ("int", "float"):
        raise ValueError(f"{where}: type must be 'int' or 'float', got {kind!r}")
    if not isinstance(log_scale, bool):
        raise ValueError(f"{where}: log must be true or false, got {log_scale!r}")
    numbers = {"low": low, "high": high} | ({} if default is None else {"default": default})
    for field, value in numbers.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value):
            raise ValueError(f"{where}: {field} must be a finite number, got {value!r}")
        if kind == "int" and not float(value).is_integer():
            raise ValueError(f"{where}: {field} of an int parameter must be an integer, got {value!r}")
    if low > high:
        raise ValueError(f"{where}: low ({low}) > high ({high})")
    if log_scale and low <= 0:
        raise ValueError(f"{where}: log scale needs low > 0, got low={low}")
    if default is not None and not low <= default <= high:
        raise ValueError(f"{where}: default {default} outside [{low}, {high}]")
    cast = int if kind == "int" else float
    return ParamRange(name, cast(low), cast(high), kind, log_scale,
                      None if default is None else cast(default))


PAPER_SEARCH_SPACE = SearchSpace.from_dict({
    "vector_size": {"low": 25, "high": 200, "type": "int", "default": 100},
    "window": {"low": 1, "high": 40, "type": "int", "default": 5},
    "ns_exponent": {"low": -1.0, "high": 1.0, "type": "float", "default": 0.75},
    "negative": {"low": 1, "high": 100, "type": "int", "default": 5},
    "alpha": {"low": 0.001, "high": 0.1, "type": "float", "log": True, "default": 0.025},
})
"""Paper Table 3: gensim parameter names, ranges and Word2Vec defaults (alpha on a log scale)."""


# ----------------------------------------------------------------------------- objectives

_METRIC_KEYS = {"HitRate": "hitrate", "VRCGenre": "vrc_genre", "VRCArtist": "vrc_artist"}
_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_LAMBDA = re.compile(rf"^(?:lambda|λ)(Genre|Artist)(?:\(({_NUMBER})\)|-({_NUMBER}))$")
VALID_OBJECTIVE_FORMS = ("HitRate", "VRCGenre", "VRCArtist", "lambdaGenre(a)", "lambdaArtist(a)")


@dataclasses.dataclass(frozen=True)
class Objective:
    """A maximised objective computed from a trial's metrics.

    ``metric`` is "HitRate", "VRCGenre" or "VRCArtist". With ``alpha`` (only for the VRC
    metrics) the objective is the scalarisation of paper eq. 2:
    ``alpha * HitRate + (1 - alpha) * rVRC`` with ``rVRC = (VRC - VRC_default) / VRC_default``
    (eq. 1), where VRC_default is the metric of the default configuration.
    Metric keys: "hitrate" (the caller's average of in-set and out-of-set HitRate), "vrc_genre",
    "vrc_artist".
    """

    metric: str
    alpha: float | None = None
    direction = "maximize"

    def __post_init__(self):
        if self.metric not in _METRIC_KEYS:
            raise ValueError(f"unknown objective metric {self.metric!r}; valid: {list(_METRIC_KEYS)}")
        if self.alpha is not None:
            if self.metric == "HitRate":
                raise ValueError("a lambda objective combines HitRate with VRCGenre or VRCArtist")
            if not 0.0 <= self.alpha <= 1.0:
                raise ValueError(f"lambda weight alpha must be in [0, 1], got {self.alpha}")

    @classmethod
    def parse(cls, name: str) -> "Objective":
        """Parse "HitRate", "VRCGenre", "VRCArtist", "lambdaGenre(0.01)", "lambdaArtist(0.1)";
        the file-safe form "lambdaGenre-0.01" (:attr:`study_name`) and "λ" are accepted too."""
        if name in _METRIC_KEYS:
            return cls(name)
        match = _LAMBDA.match(name) if isinstance(name, str) else None
        if match is None:
            raise ValueError(f"unknown objective {name!r}; valid forms: "
                             f"{', '.join(VALID_OBJECTIVE_FORMS)} with a in [0, 1]")
        clustering, alpha = match.group(1), float(match.group(2) or match.group(3))
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"objective {name!r}: alpha must be in [0, 1], got {alpha}")
        return cls(f"VRC{clustering}", alpha)

    @property
    def name(self) -> str:
        """Canonical name, e.g. "HitRate" or "lambdaGenre(0.01)" (``parse(name)`` round-trips)."""
        if self.alpha is None:
            return self.metric
        return f"lambda{self.metric[3:]}({self.alpha!r})"

    @property
    def study_name(self) -> str:
        """File-name-safe form: "lambdaGenre-0.01"."""
        return self.name.replace("(", "-").replace(")", "")

    @property
    def needs_default_metrics(self) -> bool:
        return self.alpha is not None

    def value(self, metrics: Metrics, default_metrics: Metrics | None = None) -> float:
        """The objective for a trial's ``metrics`` (``default_metrics`` only for lambda)."""
        key = _METRIC_KEYS[self.metric]
        own = _metric(metrics, key, self.name, "trial")
        if self.alpha is None:
            return own
        if default_metrics is None:
            raise ValueError(f"objective {self.name} needs the default configuration's metrics")
        default = _metric(default_metrics, key, self.name, "default configuration")
        if not default > 0:
            raise ValueError(f"objective {self.name}: default {key} must be > 0 to compute the "
                             f"relative improvement, got {default}")
        hitrate = _metric(metrics, "hitrate", self.name, "trial")
        return self.alpha * hitrate + (1.0 - self.alpha) * (own - default) / default


def _metric(metrics: Metrics, key: str, objective: str, whose: str) -> float:
    if key not in metrics:
        raise ValueError(f"objective {objective} needs metric {key!r}; the {whose} metrics "
                         f"have {sorted(metrics)}")
    return float(metrics[key])


def _as_objective(objective: Objective | str) -> Objective:
    return objective if isinstance(objective, Objective) else Objective.parse(objective)


# ----------------------------------------------------------------------------- storage

class _TornTailJournalFileBackend(optuna.storages.journal.JournalFileBackend):
    """Journal file whose appends first cut off a torn last record.

    Optuna writes each batch of records with one ``write`` under the file lock; a worker killed in the
    middle of it leaves a last line without its newline. Optuna's reader skips such a last line, but
    the next append would glue its first record onto it and make a line that no reader can parse,
    losing the study. Here every append, under the same lock, first truncates the file after its last
    newline (logging the bytes dropped: the torn record never completed, so nothing acknowledged is lost).
    """

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        # Optuna 5.0's append_logs, with the torn-tail repair inside the lock
        with optuna.storages.journal._file.get_lock_file(self._lock):
            _drop_torn_tail(Path(self._file_path))
            text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
            with open(self._file_path, "ab") as f:
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())


def _drop_torn_tail(path: Path) -> int:
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
        self.set_trial_system_attr(trial_id, _HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running
                if now - t.system_attrs.get(_HEARTBEAT_ATTR, now) > self.grace_period]

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
        backend = _TornTailJournalFileBackend(
            str(path), lock_obj=optuna.storages.journal.JournalFileSymlinkLock(str(path)))
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


def load_study(study_name: str, storage_url: str) -> optuna.Study:
    """Load an existing study (for summaries and plots) from a URL accepted by :func:`open_storage`."""
    return optuna.load_study(study_name=study_name, storage=open_storage(storage_url))


# ----------------------------------------------------------------------------- trial bookkeeping

def _counts_toward_budget(trial: FrozenTrial) -> bool:
    if trial.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "error" in trial.user_attrs


def _is_feasible_complete(trial: FrozenTrial) -> bool:
    return (trial.state == TrialState.COMPLETE
            and all(v <= 0.0 for v in trial.constraints.values()))


def _is_finished_evaluation(trial: FrozenTrial) -> bool:
    """COMPLETE, or PRUNED because infeasible: an evaluation that produced an outcome."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED)


def _signs(directions: Sequence[optuna.study.StudyDirection]) -> np.ndarray:
    """+1 for maximised objectives, -1 for minimised: ``values * signs`` is to be maximised."""
    return np.array([1.0 if d == optuna.study.StudyDirection.MAXIMIZE else -1.0 for d in directions])


def _trials_since_improvement(trials: Sequence[FrozenTrial],
                              directions: Sequence[optuna.study.StudyDirection],
                              n_random_trials: int) -> int:
    """Feasible completed trials (by number) after the last improvement, excluding the random phase.

    Infeasible trials do not count: most random draws from the paper's ranges are too slow to train,
    and counting them would end a study before it has explored the feasible region at all (they are
    bounded by ``max_trials`` instead)."""
    finished = sorted((t for t in trials if _is_finished_evaluation(t)), key=lambda t: t.number)
    signs = _signs(directions)
    seen = np.empty((0, len(signs)))
    last_improvement = -1
    for position, trial in enumerate(finished):
        if not _is_feasible_complete(trial):
            continue
        point = np.asarray(trial.values) * signs
        weakly_dominated = bool(np.any(np.all(seen >= point, axis=1)))
        if not weakly_dominated:
            last_improvement = position
        seen = np.vstack([seen, point])
    return sum(map(_is_feasible_complete, finished[max(last_improvement + 1, n_random_trials):]))


def _stop_reason(trials: Sequence[FrozenTrial], directions, *, max_trials: int,
                 patience: int | None, n_random_trials: int) -> str | None:
    used = sum(map(_counts_toward_budget, trials))
    if used >= max_trials:
        return f"budget used ({used}/{max_trials} trials)"
    if patience is not None:
        stale = _trials_since_improvement(trials, directions, n_random_trials)
        if stale >= patience:
            return f"converged ({stale} finished trials without improvement, patience {patience})"
    return None


def best_feasible_trial(study: optuna.Study) -> FrozenTrial:
    """The COMPLETE, feasible trial with the best value (lowest number among ties).

    Single-objective studies only; ValueError when no feasible trial has completed yet.
    """
    if len(study.directions) != 1:
        raise ValueError(f"study {study.study_name!r} has {len(study.directions)} objectives; "
                         "use pareto_front()")
    best = _best_of(study.get_trials(deepcopy=False), study.directions)
    if best is None:
        raise ValueError(f"study {study.study_name!r} has no feasible completed trial yet")
    return best


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible COMPLETE trials that no other feasible COMPLETE trial dominates, by number.

    Trials with identical values do not dominate each other: all of them are kept.
    """
    return _front_of(study.get_trials(deepcopy=False), study.directions)


def representative_trial(study: optuna.Study) -> FrozenTrial:
    """The one configuration to retrain from a study: the best feasible trial of a single-
    objective study; for a multi-objective study, the Pareto-optimal trial with the best first
    objective (HitRate by default; later objectives, then the lowest number, break ties).

    ValueError when no feasible trial has completed yet.
    """
    if len(study.directions) == 1:
        return best_feasible_trial(study)
    front = pareto_front(study)
    if not front:
        raise ValueError(f"study {study.study_name!r} has no feasible completed trial yet")
    signs = _signs(study.directions)
    return max(front, key=lambda t: (*(np.asarray(t.values) * signs), -t.number))


def _best_of(trials: Sequence[FrozenTrial], directions) -> FrozenTrial | None:
    feasible = [t for t in trials if _is_feasible_complete(t)]
    sign = _signs(directions)[0]
    return max(feasible, key=lambda t: (sign * t.value, -t.number), default=None)


def _front_of(trials: Sequence[FrozenTrial], directions) -> list[FrozenTrial]:
    feasible = sorted((t for t in trials if _is_feasible_complete(t)), key=lambda t: t.number)
    if not feasible:
        return []
    points = np.array([t.values for t in feasible]) * _signs(directions)
    dominated = [bool(np.any(np.all(points >= p, axis=1) & np.any(points > p, axis=1)))
                 for p in points]
    return [t for t, d in zip(feasible, dominated) if not d]


# ----------------------------------------------------------------------------- workers

class _TrialRunner:
    """The Optuna objective: budget check, sampling, ``evaluate`` and recording of one trial."""

    def __init__(self, objectives, evaluate, default_metrics, space, max_trials):
        self.objectives, self.evaluate, self.default_metrics = objectives, evaluate, default_metrics
        self.space, self.max_trials = space, max_trials

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        earlier = [t for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number]
        used = sum(map(_counts_toward_budget, earlier))
        if used >= self.max_trials:
            trial.set_user_attr("skipped", f"budget of {self.max_trials} trials already used")
            raise _SkippedTrial(f"trial {trial.number} not evaluated: {used} earlier trials "
                                f"already use the budget of {self.max_trials}")
        params = self.space.suggest(trial)
        start = time.perf_counter()
        try:
            metrics = self.evaluate(params)
            values = self._objective_values(metrics)
        except TrialInfeasible as exc:
            trial.set_user_attr("evaluate_seconds", time.perf_counter() - start)
            trial.set_user_attr("infeasible", True)
            trial.set_user_attr("infeasible_reason", exc.reason)
            trial.set_constraint(FEASIBILITY_CONSTRAINT, exc.violation)
            raise optuna.TrialPruned(f"infeasible: {exc.reason}") from exc
        except Exception as exc:
            trial.set_user_attr("error", repr(exc))
            raise
        trial.set_user_attr("evaluate_seconds", time.perf_counter() - start)
        trial.set_user_attr("metrics", {k: float(v) for k, v in metrics.items()})
        trial.set_user_attr("objectives", dict(zip((o.name for o in self.objectives), values)))
        trial.set_user_attr("infeasible", False)
        trial.set_constraint(FEASIBILITY_CONSTRAINT, 0.0)
        return values[0] if len(values) == 1 else values

    def _objective_values(self, metrics: Metrics) -> list[float]:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"evaluate must return a dict of metrics, got {type(metrics).__name__}")
        values = [o.value(metrics, self.default_metrics) for o in self.objectives]
        bad = [o.name for o, v in zip(self.objectives, values) if not math.isfinite(v)]
        if bad:
            raise ValueError(f"objectives {bad} are not finite for metrics {dict(metrics)}")
        return values


class _StopAndReport:
    """Callback after each trial: log global progress and stop when budget or patience say so."""

    def __init__(self, rules: dict, logger: logging.Logger):
        self.rules, self.log = rules, logger
        self.reason: str | None = None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        trials = study.get_trials(deepcopy=False)
        self.log.info("study %s: trial %d %s | %s", study.study_name, trial.number,
                      trial.state.name, _progress_line(study, trials, self.rules))
        self.reason = _stop_reason(trials, study.directions, **self.rules)
        if self.reason is not None:
            study.stop()


def _progress_line(study: optuna.Study, trials: Sequence[FrozenTrial], rules: dict) -> str:
    used = sum(map(_counts_toward_budget, trials))
    text = f"{used}/{rules['max_trials']} trials used"
    if len(study.directions) == 1:
        best = _best_of(trials, study.directions)
        if best is not None:
            text += f", best {best.value:.6g} (trial {best.number})"
    else:
        text += f", Pareto front of {len(_front_of(trials, study.directions))} trials"
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    finished = sum(map(_is_finished_evaluation, trials))
    if starts and finished:
        hours = (datetime.datetime.now() - min(starts)).total_seconds() / 3600
        rate = finished / max(hours, 1e-9)
        eta = max(rules["max_trials"] - used, 0) / rate
        text += f", {rate:.1f} trials/h, ETA {eta:.1f} h by max_trials"
    if rules["patience"] is not None:
        stale = _trials_since_improvement(trials, study.directions, rules["n_random_trials"])
        text += f", {stale}/{rules['patience']} trials without improvement"
    return text


def _make_sampler(kind: str, n_random_trials: int, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_random_trials, multivariate=True,
                                          constant_liar=True, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _trial_seed(seed: int, worker_index: int, k: int) -> int:
    """Sampler seed of the k-th budget-counted trial of a worker."""
    return int(np.random.SeedSequence([seed, worker_index, k]).generate_state(1)[0])


def _is_worker_trial(trial: FrozenTrial, worker_index: int) -> bool:
    return str(trial.user_attrs.get(_WORKER_ATTR, "")).endswith(f"#{worker_index}")


class _WorkerSampler(optuna.samplers.BaseSampler):
    """One worker's sampler: claims each new trial for the worker, then samples it with a fresh
    TPE or random sampler seeded by :func:`_trial_seed` (see "Seeds" in the module docstring).

    Optuna calls :meth:`before_trial` right after creating (or dequeuing) a trial, before any
    sampling; the other methods delegate to that trial's sampler.
    """

    def __init__(self, storage: optuna.storages.BaseStorage, kind: str, n_random_trials: int,
                 seed: int, worker_index: int, worker_label: str):
        self.storage, self.kind, self.n_random_trials = storage, kind, n_random_trials
        self.seed, self.worker_index, self.worker_label = seed, worker_index, worker_label
        self.trial_sampler: optuna.samplers.BaseSampler | None = None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.storage.set_trial_user_attr(trial._trial_id, _WORKER_ATTR, self.worker_label)
        k = sum(t.number < trial.number and _is_worker_trial(t, self.worker_index)
                and _counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
        self.trial_sampler = _make_sampler(self.kind, self.n_random_trials,
                                           _trial_seed(self.seed, self.worker_index, k))
        self.trial_sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self.trial_sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.trial_sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.trial_sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self.trial_sampler.after_trial(study, trial, state, values)


def _check_study_attrs(study: optuna.Study, expected: dict[str, Any]) -> None:
    """Record the study's definition on first use; refuse to resume with a different one."""
    stored = study.user_attrs
    for key, value in expected.items():
        if key not in stored:
            study.set_user_attr(key, value)
        elif json.dumps(stored[key], sort_keys=True) != json.dumps(value, sort_keys=True):
            raise ValueError(f"study {study.study_name!r} was created with {key}={stored[key]!r}; "
                             f"this worker has {key}={value!r}. Its completed trials do not fit the new "
                             f"definition: delete the study's storage to start it over, or use another "
                             f"study name.")


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _fail_abandoned_trials(study: optuna.Study, storage: optuna.storages.BaseStorage,
                           worker_index: int, grace_period: int, logger: logging.Logger) -> None:
    """At a worker's start, fail the RUNNING trials that no live worker can own: those claimed by
    ``worker_index`` (left by a killed earlier life of this worker) and those still unclaimed
    ``grace_period`` seconds after they started (this waits for the younger ones)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    own = [t for t in running if _is_worker_trial(t, worker_index)]
    unclaimed = [t for t in running if _WORKER_ATTR not in t.user_attrs]
    if unclaimed:
        youngest = max(t.datetime_start for t in unclaimed)
        wait = grace_period - (datetime.datetime.now() - youngest).total_seconds()
        if wait > 0:
            logger.info("study %s: waiting %.1fs to see whether unclaimed running trials %s get "
                        "claimed", study.study_name, wait, [t.number for t in unclaimed])
            time.sleep(wait)
        still_running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        candidates = {t.number for t in unclaimed}
        unclaimed = [t for t in still_running
                     if t.number in candidates and _WORKER_ATTR not in t.user_attrs]
    for trial in own + unclaimed:
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    if own or unclaimed:
        logger.warning("study %s: failed running trials %s of a killed earlier run of worker #%d "
                       "and %s never claimed by a worker; they do not count toward the budget",
                       study.study_name, [t.number for t in own], worker_index,
                       [t.number for t in unclaimed])


def _run_worker(study_name: str, storage_url: str, objectives: list[Objective], evaluate: Evaluate,
                default_metrics: Metrics | None, *, space: SearchSpace, n_random_trials: int,
                max_trials: int, patience: int | None, seed: int, worker_index: int, sampler: str,
                enqueue_default: bool, heartbeat_interval: int, grace_period: int | None,
                evaluation_definition: Mapping[str, Any] | None, logger: logging.Logger | None) -> None:
    logger = logger or log
    if not (isinstance(max_trials, int) and max_trials >= 1):
        raise ValueError(f"max_trials must be an int >= 1, got {max_trials!r}")
    if patience is not None and not (isinstance(patience, int) and patience >= 1):
        raise ValueError(f"patience must be None or an int >= 1, got {patience!r}")
    if not (isinstance(n_random_trials, int) and n_random_trials >= 0):
        raise ValueError(f"n_random_trials must be an int >= 0, got {n_random_trials!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if not (isinstance(worker_index, int) and worker_index >= 0):
        raise ValueError(f"worker_index must be an int >= 0, got {worker_index!r}")
    if default_metrics is None and any(o.needs_default_metrics for o in objectives):
        raise ValueError(f"objectives {[o.name for o in objectives]} need default_metrics")
    default_metrics = None if default_metrics is None else {k: float(v) for k, v in default_metrics.items()}

    storage = open_storage(storage_url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    directions = [o.direction for o in objectives]
    probe = optuna.create_study(study_name=study_name, storage=storage, directions=directions,
                                load_if_exists=True)
    _fail_stale_trials(probe)
    if [d.name.lower() for d in probe.directions] != directions:
        raise ValueError(f"study {study_name!r} has directions {probe.directions}, objectives "
                         f"{[o.name for o in objectives]} need {directions}")
    _check_study_attrs(probe, {"objectives": [o.name for o in objectives],
                               "search_space": space.to_dict(), "default_metrics": default_metrics,
                               "evaluation_definition": evaluation_definition})
    _fail_abandoned_trials(probe, storage, worker_index, storage.grace_period, logger)
    n_stored = len(probe.get_trials(deepcopy=False))
    worker_label = f"{socket.gethostname()}:{os.getpid()}#{worker_index}"
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=_WorkerSampler(
        storage, sampler, n_random_trials, seed, worker_index, worker_label))

    rules = {"max_trials": max_trials, "patience": patience, "n_random_trials": n_random_trials}
    reason = _stop_reason(study.get_trials(deepcopy=False), study.directions, **rules)
    if reason is not None:
        logger.info("study %s: nothing to do for worker %s: %s", study_name, worker_label, reason)
        return
    if enqueue_default and worker_index == 0:
        _enqueue_default(study, space, logger)
    logger.info("study %s: worker %s starts (objectives %s, %d trials stored, sampler %s seeded "
                "per trial from seed %d)", study_name, worker_label, [o.name for o in objectives],
                n_stored, sampler, seed)
    reporter = _StopAndReport(rules, logger)
    runner = _TrialRunner(objectives, evaluate, default_metrics, space, max_trials)
    study.optimize(runner, callbacks=[reporter], catch=(_SkippedTrial,))
    logger.info("study %s: worker %s stops: %s", study_name, worker_label, reporter.reason)


def _enqueue_default(study: optuna.Study, space: SearchSpace, logger: logging.Logger) -> None:
    """Enqueue the default configuration unless a trial for it exists (FAIL ones are retried)."""
    if any(t.user_attrs.get(_DEFAULT_CONFIG_ATTR) and t.state != TrialState.FAIL
           for t in study.get_trials(deepcopy=False)):
        return
    study.enqueue_trial(space.default_params(), user_attrs={_DEFAULT_CONFIG_ATTR: True})
    logger.info("study %s: enqueued the default configuration %s", study.study_name,
                space.default_params())


def run_study_worker(study_name: str, storage_url: str, objective: Objective | str,
                     evaluate: Evaluate, default_metrics: Metrics | None = None, *,
                     max_trials: int, space: SearchSpace = PAPER_SEARCH_SPACE,
                     n_random_trials: int = 10, patience: int | None = None, seed: int = 0,
                     worker_index: int = 0, sampler: str = "tpe", enqueue_default: bool = False,
                     heartbeat_interval: int = 60, grace_period: int | None = None,
                     evaluation_definition: Mapping[str, Any] | None = None,
                     logger: logging.Logger | None = None) -> None:
    """Run one worker of a single-objective study until the budget is used or it converged.

    Creates the study (maximising ``objective``) if needed, otherwise resumes it: stale RUNNING
    trials of killed workers are failed, every finished trial is kept. Any number of workers
    (distinct ``worker_index``) may run on one study at once. ``evaluate(params)`` returns the
    metrics dict or raises :class:`TrialInfeasible`; any other exception fails the trial and is
    re-raised. ``default_metrics`` are needed by lambda objectives. ``enqueue_default``: worker 0
    evaluates the defaults of ``space`` first (counted in the budget and the random phase).
    Each trial stores user attrs ``metrics``, ``objectives``, ``evaluate_seconds``,
    ``infeasible`` (+ ``infeasible_reason``), ``worker``.

    The study records its definition when created (objectives, search space, default metrics and
    ``evaluation_definition``: JSON-able settings that decide what ``evaluate`` returns, e.g. training
    and evaluation settings and the time constraint); a worker whose definition differs raises
    ``ValueError`` naming the key instead of resuming a study whose trials no longer fit.
    """
    _run_worker(study_name, storage_url, [_as_objective(objective)], evaluate, default_metrics,
                space=space, n_random_trials=n_random_trials, max_trials=max_trials,
                patience=patience, seed=seed, worker_index=worker_index, sampler=sampler,
                enqueue_default=enqueue_default, heartbeat_interval=heartbeat_interval,
                grace_period=grace_period, evaluation_definition=evaluation_definition, logger=logger)


def run_pareto_worker(study_name: str, storage_url: str, evaluate: Evaluate,
                      default_metrics: Metrics | None = None, *, max_trials: int,
                      objectives: Sequence[Objective | str] = ("HitRate", "VRCGenre"),
                      space: SearchSpace = PAPER_SEARCH_SPACE, n_random_trials: int = 10,
                      patience: int | None = None, seed: int = 0, worker_index: int = 0,
                      sampler: str = "tpe", enqueue_default: bool = False,
                      heartbeat_interval: int = 60, grace_period: int | None = None,
                      evaluation_definition: Mapping[str, Any] | None = None,
                      logger: logging.Logger | None = None) -> None:
    """Run one worker of a multi-objective study (default: HitRate and VRCGenre, maximised).

    Same protocol as :func:`run_study_worker`; convergence (optional ``patience``) counts trials
    that did not enter the Pareto front, i.e. did not increase the hypervolume.
    """
    parsed = [_as_objective(o) for o in objectives]
    if len(parsed) < 2 or len({o.name for o in parsed}) != len(parsed):
        raise ValueError(f"a Pareto study needs two or more distinct objectives, got {list(objectives)}")
    _run_worker(study_name, storage_url, parsed, evaluate, default_metrics, space=space,
                n_random_trials=n_random_trials, max_trials=max_trials, patience=patience,
                seed=seed, worker_index=worker_index, sampler=sampler,
                enqueue_default=enqueue_default, heartbeat_interval=heartbeat_interval,
                grace_period=grace_period, evaluation_definition=evaluation_definition, logger=logger)


# ----------------------------------------------------------------------------- reporting

def _fail_kind(trial: FrozenTrial) -> str | None:
    if trial.state != TrialState.FAIL:
        return None
    if "error" in trial.user_attrs:
        return "error"
    return "skipped" if "skipped" in trial.user_attrs else "stale"


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """JSON-ready summary: objectives, trial counts by state, infeasible/failed counts, the best
    trial (single objective) or the Pareto front, and the wall time (first start to last end)."""
    trials = study.get_trials(deepcopy=False)
    fails = Counter(filter(None, map(_fail_kind, trials)))
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    summary: dict[str, Any] = {
        "study_name": study.study_name,
        "objectives": study.user_attrs.get("objectives"),
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": len(trials),
        "n_trials_by_state": {s.name: sum(t.state == s for t in trials) for s in TrialState},
        "n_infeasible": sum(bool(t.user_attrs.get("infeasible")) for t in trials),
        "n_failed_error": fails["error"],
        "n_failed_stale": fails["stale"],
        "n_skipped": fails["skipped"],
        "budget_used": sum(map(_counts_toward_budget, trials)),
        "first_start": min(starts).isoformat() if starts else None,
        "last_end": max(ends).isoformat() if ends else None,
        "wall_time_seconds": (max(ends) - min(starts)).total_seconds() if starts and ends else None,
        "search_space": study.user_attrs.get("search_space"),
        "default_metrics": study.user_attrs.get("default_metrics"),
    }
    if len(study.directions) == 1:
        best = _best_of(trials, study.directions)
        summary |= dict.fromkeys(["best_trial_number", "best_value", "best_params", "best_metrics"])
        if best is not None:
            summary |= {"best_trial_number": best.number, "best_value": best.value,
                        "best_params": best.params, "best_metrics": best.user_attrs.get("metrics")}
    else:
        summary["pareto_front"] = [
            {"number": t.number, "values": t.values, "params": t.params,
             "metrics": t.user_attrs.get("metrics")} for t in _front_of(trials, study.directions)]
    return summary


def trials_frame(study: optuna.Study):
    """One row per trial (``pandas.DataFrame``): number, state, start/end, duration_seconds,
    value (``value_<objective>`` for several objectives), ``param_*``, ``metric_*``,
    evaluate_seconds, infeasible, infeasible_reason, fail_kind (error/stale/skipped), worker.

    The columns come in this order whatever the trials: parameters in search-space order, metrics
    in the order of the first trial that has them (a killed first trial changes nothing)."""
    import pandas as pd

    names = study.user_attrs.get("objectives") or [f"{i}" for i in range(len(study.directions))]
    value_columns = ["value"] if len(names) == 1 else [f"value_{n}" for n in names]
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {
            "number": t.number, "state": t.state.name,
            "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete,
            "duration_seconds": (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_start and t.datetime_complete else None,
        }
        row |= dict(zip(value_columns, t.values or [None] * len(value_columns)))
        row |= {f"param_{k}": v for k, v in t.params.items()}
        row |= {f"metric_{k}": v for k, v in (t.user_attrs.get("metrics") or {}).items()}
        row |= {"evaluate_seconds": t.user_attrs.get("evaluate_seconds"),
                "infeasible": t.user_attrs.get("infeasible"),
                "infeasible_reason": t.user_attrs.get("infeasible_reason"),
                "fail_kind": _fail_kind(t), "error": t.user_attrs.get("error"),
                "default_config": bool(t.user_attrs.get(_DEFAULT_CONFIG_ATTR)),
                "worker": t.user_attrs.get(_WORKER_ATTR)}
        rows.append(row)
    seen = dict.fromkeys(key for row in rows for key in row)
    params = [f"param_{name}" for name in study.user_attrs.get("search_space") or {}]
    params += [c for c in seen if c.startswith("param_") and c not in params]
    metrics = [c for c in seen if c.startswith("metric_")]
    head = ["number", "state", "datetime_start", "datetime_complete", "duration_seconds", *value_columns]
    tail = ["evaluate_seconds", "infeasible", "infeasible_reason", "fail_kind", "error", "default_config",
            "worker"]
    frame = pd.DataFrame(rows, columns=head + params + metrics + tail)
    return frame.sort_values("number", ignore_index=True)
