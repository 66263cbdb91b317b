"""One worker of a study: its settings and its trial loop (docs/hpo.md, the protocol in full).

:class:`WorkerSettings` holds how a worker runs (budget, patience, sampler, seeds, heartbeats, the
study's definition), built from the workflow config by :meth:`WorkerSettings.from_config`;
:func:`run_study_worker` and :func:`run_pareto_worker` run one worker until its study is done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from songvec import time_budget
from songvec.hpo.recovery import fail_abandoned_trials
from songvec.hpo.reporting import progress_line
from songvec.hpo.sampling import SAMPLERS, Violation, WorkerSampler, sampler_settings
from songvec.hpo.space import PAPER_SEARCH_SPACE, SearchSpace
from songvec.hpo.storage import fail_stale_trials, open_storage, storage_location
from songvec.hpo.trials import DEFAULT_CONFIG_ATTR, FEASIBILITY_CONSTRAINT, counts_toward_budget, stop_reason
from songvec.objectives import Metrics, Objective, as_objective
from songvec.time_budget import TrialInfeasible

log = logging.getLogger(__name__)

Evaluate = Callable[[dict[str, Any]], Metrics]


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """How one worker runs its study (docs/hpo.md explains each rule).

    Attributes:
        max_trials: trials evaluated at most ("Budget"); infeasible ones count.
        space: the hyper-parameters and their ranges.
        n_random_trials: random trials before TPE.
        patience: feasible trials without improvement after which the study has converged (None: never).
        seed: the study's sampler seed; each trial's sampler is seeded from it ("Seeds").
        worker_index: this worker among the study's workers (0, 1, ...); worker 0 enqueues the default.
        sampler: one of :data:`songvec.hpo.sampling.SAMPLERS`.
        sampler_settings: its settings (:data:`songvec.hpo.sampling.SAMPLER_SETTINGS` has the defaults).
        constrained_sampling: given a predicted constraint, draws predicted infeasible are redrawn before
            they become trials ("Constraint-aware sampling"); False: every draw is a trial.
        enqueue_default: worker 0 evaluates the defaults of ``space`` first.
        heartbeat_interval, grace_period: seconds between heartbeats of a running trial, and after the
            last one until it counts as killed (None: 3 heartbeats).
        evaluation_definition: JSON-able settings that decide what ``evaluate`` returns (training,
            evaluation, time constraint); a study created with others is refused ("Study definition").
    """

    max_trials: int
    space: SearchSpace = PAPER_SEARCH_SPACE
    n_random_trials: int = 10
    patience: int | None = None
    seed: int = 0
    worker_index: int = 0
    sampler: str = "tpe"
    sampler_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    constrained_sampling: bool = True
    enqueue_default: bool = False
    heartbeat_interval: int = 60
    grace_period: int | None = None
    evaluation_definition: Mapping[str, Any] | None = None

    def __post_init__(self):
        if not (isinstance(self.max_trials, int) and self.max_trials >= 1):
            raise ValueError(f"max_trials must be an int >= 1, got {self.max_trials!r}")
        if self.patience is not None and not (isinstance(self.patience, int) and self.patience >= 1):
            raise ValueError(f"patience must be None or an int >= 1, got {self.patience!r}")
        if not (isinstance(self.n_random_trials, int) and self.n_random_trials >= 0):
            raise ValueError(f"n_random_trials must be an int >= 0, got {self.n_random_trials!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        object.__setattr__(self, "sampler_settings", sampler_settings(self.sampler, self.sampler_settings))
        if not (isinstance(self.worker_index, int) and self.worker_index >= 0):
            raise ValueError(f"worker_index must be an int >= 0, got {self.worker_index!r}")

    @classmethod
    def from_config(cls, hpo: Mapping[str, Any], word2vec: Mapping[str, Any], evaluation: Mapping[str, Any], *,
                    seed: int, worker_index: int, pareto: bool = False,
                    model: Mapping[str, Any] | None = None) -> "WorkerSettings":
        """The settings of worker ``worker_index`` of a study seeded ``seed``, from the config sections
        ``hpo``, ``word2vec`` (the search space's defaults) and ``evaluation``; ``pareto``: the
        multi-objective study (its own ``hpo.pareto.max_trials`` and ``hpo.pareto.sampler``). ``model``: a
        study of another model than the paper's skip-gram, its options
        (:meth:`songvec.models.ModelOptions.as_dict`: name, defaults, search space, settings), tuned with
        ``hpo.other_models``' trials and the same sampler as the skip-gram's studies (``hpo.sampler``)."""
        time = {k: hpo[k] for k in time_budget.CONFIG_KEYS}
        if model is not None:
            other = hpo["other_models"]
            defaults, search_space = model["defaults"], model["search_space"]
            trials = {"max_trials": other["max_trials"], "n_random_trials": other["random_trials"],
                      "patience": other["patience"]}
            # what a trial's metrics depend on besides its parameters (the thread count aside)
            definition = {"model": {"name": model["name"], "defaults": defaults,
                                    "settings": {k: v for k, v in model["settings"].items() if k != "workers"},
                                    "cost_model": model["cost_model"]},
                          "evaluation": evaluation, "time": time}
        else:
            defaults, search_space = word2vec["defaults"], hpo["search_space"]
            trials = {"max_trials": hpo["pareto"]["max_trials"] if pareto else hpo["max_trials"],
                      "n_random_trials": hpo["random_trials"], "patience": hpo["patience"]}
            definition = {"word2vec": {k: v for k, v in word2vec.items() if k != "workers"},
                          "evaluation": evaluation, "time": time}
        space = {name: {**spec, "default": defaults[name]} for name, spec in search_space.items()}
        sampler = hpo["pareto"]["sampler"] if pareto else hpo["sampler"]
        return cls(
            **trials,
            space=SearchSpace.from_dict(space),
            seed=seed,
            worker_index=worker_index,
            sampler=sampler,
            sampler_settings=hpo["sampler_settings"].get(sampler, {}),
            constrained_sampling=hpo["constrained_sampling"],
            enqueue_default=hpo["enqueue_default"],
            heartbeat_interval=hpo["heartbeat_seconds"],
            evaluation_definition=definition,
        )

    @property
    def sampler_definition(self) -> dict[str, Any]:
        """What decides the configurations a seed gives (stored with the study, "Study definition")."""
        return {"sampler": self.sampler, "settings": dict(self.sampler_settings),
                "n_random_trials": self.n_random_trials, "constrained_sampling": self.constrained_sampling}

    @property
    def stopping_rules(self) -> dict[str, Any]:
        """The arguments of :func:`songvec.hpo.trials.stop_reason`."""
        return {"max_trials": self.max_trials, "patience": self.patience, "n_random_trials": self.n_random_trials}


def run_study_worker(study_name: str, storage_url: str, objective: Objective | str, evaluate: Evaluate,
                     default_metrics: Metrics | None = None, settings: WorkerSettings | None = None, *,
                     predicted_violation: Violation | None = None, logger: logging.Logger | None = None,
                     **options) -> None:
    """Run one worker of a single-objective study until the budget is used or it converged.

    Creates the study (maximising ``objective``) if needed, otherwise resumes it: stale RUNNING
    trials of killed workers are failed, every finished trial is kept. Any number of workers
    (distinct ``worker_index``) may run on one study at once. ``evaluate(params)`` returns the
    metrics dict or raises :class:`~songvec.time_budget.TrialInfeasible`; any other exception fails
    the trial and is re-raised. ``default_metrics`` are needed by lambda objectives.
    ``predicted_violation(params)``: a deterministic prediction of ``evaluate``'s constraint (> 0 when a
    configuration is predicted infeasible, e.g. :meth:`songvec.time_budget.TimeBudget.violation_predictor`):
    with ``constrained_sampling``, predicted-infeasible draws are redrawn before they become trials, and
    feasible trials carry the predicted slack as their constraint value ("Constraint-aware sampling").
    ``settings``: a :class:`WorkerSettings`; ``options`` are its fields (they replace those of
    ``settings``, or make the settings alone, e.g. ``max_trials=60, seed=1``).
    Each trial stores user attrs ``metrics``, ``objectives``, ``evaluate_seconds``,
    ``infeasible`` (+ ``infeasible_reason``), ``worker``, and ``rejected_draws`` when draws are checked.
    """
    _run_worker(study_name, storage_url, [as_objective(objective)], evaluate, default_metrics,
                _settings(settings, options), predicted_violation, logger or log)


def run_pareto_worker(study_name: str, storage_url: str, evaluate: Evaluate,
                      default_metrics: Metrics | None = None, settings: WorkerSettings | None = None, *,
                      objectives: Sequence[Objective | str] = ("HitRate", "VRCGenre"),
                      predicted_violation: Violation | None = None, logger: logging.Logger | None = None,
                      **options) -> None:
    """Run one worker of a multi-objective study (default: HitRate and VRCGenre, maximised).

    Same protocol as :func:`run_study_worker`; convergence (optional ``patience``) counts trials
    that did not enter the Pareto front, i.e. did not increase the hypervolume.
    """
    parsed = [as_objective(o) for o in objectives]
    if len(parsed) < 2 or len({o.name for o in parsed}) != len(parsed):
        raise ValueError(f"a Pareto study needs two or more distinct objectives, got {list(objectives)}")
    _run_worker(study_name, storage_url, parsed, evaluate, default_metrics, _settings(settings, options),
                predicted_violation, logger or log)


def _settings(settings: WorkerSettings | None, options: dict[str, Any]) -> WorkerSettings:
    return WorkerSettings(**options) if settings is None else dataclasses.replace(settings, **options)


def _run_worker(study_name: str, storage_url: str, objectives: list[Objective], evaluate: Evaluate,
                default_metrics: Metrics | None, settings: WorkerSettings, predicted_violation: Violation | None,
                logger: logging.Logger) -> None:
    if default_metrics is None and any(o.needs_default_metrics for o in objectives):
        raise ValueError(f"objectives {[o.name for o in objectives]} need default_metrics")
    default_metrics = None if default_metrics is None else {k: float(v) for k, v in default_metrics.items()}

    storage = open_storage(storage_url, heartbeat_interval=settings.heartbeat_interval,
                           grace_period=settings.grace_period)
    directions = [o.direction for o in objectives]
    probe = optuna.create_study(study_name=study_name, storage=storage, directions=directions,
                                load_if_exists=True)
    fail_stale_trials(probe)
    if [d.name.lower() for d in probe.directions] != directions:
        raise ValueError(f"study {study_name!r} has directions {probe.directions}, objectives "
                         f"{[o.name for o in objectives]} need {directions}")
    _check_study_definition(probe, {"objectives": [o.name for o in objectives],
                                    "search_space": settings.space.to_dict(), "default_metrics": default_metrics,
                                    "evaluation_definition": settings.evaluation_definition,
                                    "sampler_definition": settings.sampler_definition},
                            storage_location(storage_url, study_name))
    fail_abandoned_trials(probe, settings.worker_index, storage.grace_period, logger)
    n_stored = len(probe.get_trials(deepcopy=False))
    worker_label = f"{socket.gethostname()}:{os.getpid()}#{settings.worker_index}"
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=WorkerSampler(
        storage, settings.sampler, settings.n_random_trials, settings.seed, settings.worker_index, worker_label,
        settings.sampler_settings, distributions=settings.space.distributions(),
        predicted_violation=predicted_violation if settings.constrained_sampling else None))

    rules = settings.stopping_rules
    reason = stop_reason(study.get_trials(deepcopy=False), study.directions, **rules)
    if reason is not None:
        logger.info("study %s: nothing to do for worker %s: %s", study_name, worker_label, reason)
        return
    if settings.enqueue_default and settings.worker_index == 0:
        _enqueue_default(study, settings.space, logger)
    logger.info("study %s: worker %s starts (objectives %s, %d trials stored, sampler %s %s seeded per trial "
                "from seed %d, %s)", study_name, worker_label, [o.name for o in objectives], n_stored,
                settings.sampler, settings.sampler_settings, settings.seed,
                "draws predicted infeasible are redrawn" if predicted_violation and settings.constrained_sampling
                else "every draw is evaluated")
    reporter = _StopAndReport(rules, logger)
    runner = _TrialRunner(objectives, evaluate, default_metrics, settings.space, settings.max_trials,
                          predicted_violation)
    study.optimize(runner, callbacks=[reporter], catch=(_SkippedTrial,))
    logger.info("study %s: worker %s stops: %s", study_name, worker_label, reporter.reason)


class _SkippedTrial(Exception):
    """A trial created after the budget was used up: recorded as FAIL, never evaluated."""


class _TrialRunner:
    """The Optuna objective: budget check, sampling, ``evaluate`` and recording of one trial."""

    def __init__(self, objectives, evaluate, default_metrics, space, max_trials, predicted_violation):
        self.objectives, self.evaluate, self.default_metrics = objectives, evaluate, default_metrics
        self.space, self.max_trials, self.predicted_violation = space, max_trials, predicted_violation

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        earlier = [t for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number]
        used = sum(map(counts_toward_budget, earlier))
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
        # the predicted slack tells samplers that model the constraint (GP) where its boundary lies
        slack = 0.0 if self.predicted_violation is None else min(self.predicted_violation(params), 0.0)
        trial.set_constraint(FEASIBILITY_CONSTRAINT, slack)
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
                      trial.state.name, progress_line(study, trials, self.rules))
        self.reason = stop_reason(trials, study.directions, **self.rules)
        if self.reason is not None:
            study.stop()


def _enqueue_default(study: optuna.Study, space: SearchSpace, logger: logging.Logger) -> None:
    """Enqueue the default configuration unless a trial for it exists (FAIL ones are retried)."""
    if any(t.user_attrs.get(DEFAULT_CONFIG_ATTR) and t.state != TrialState.FAIL
           for t in study.get_trials(deepcopy=False)):
        return
    study.enqueue_trial(space.default_params(), user_attrs={DEFAULT_CONFIG_ATTR: True})
    logger.info("study %s: enqueued the default configuration %s", study.study_name,
                space.default_params())


def _check_study_definition(study: optuna.Study, expected: dict[str, Any], location: str) -> None:
    """Record the study's definition on first use; refuse to resume with a different one, in one line
    naming the first setting that changed and ``location`` (:func:`songvec.hpo.storage.storage_location`)."""
    stored = study.user_attrs
    changed = []
    for key, value in expected.items():
        if key not in stored:
            study.set_user_attr(key, value)
        else:
            changed += _differences(stored[key], json.loads(json.dumps(value)), key)
    if changed:
        key, before, now = changed[0]
        more = f" (and {len(changed) - 1} more setting{'s' * (len(changed) > 2)})" if len(changed) > 1 else ""
        why = " (the default configuration's validation metrics: the data, split or training differ)" \
            if key.startswith("default_metrics") else ""
        raise ValueError(f"study {study.study_name!r} was created with {key}={_short(before)}, this worker has "
                         f"{_short(now)}{why}{more}; its trials do not fit the new settings: delete {location} to "
                         f"start it over, or undo the change")


def _differences(before: Any, now: Any, key: str) -> list[tuple[str, Any, Any]]:
    """``(dotted key, before, now)`` of every leaf where two JSON values differ, in sorted key order."""
    if isinstance(before, dict) and isinstance(now, dict):
        return [difference for name in sorted(set(before) | set(now), key=str)
                for difference in _differences(before.get(name, _ABSENT), now.get(name, _ABSENT), f"{key}.{name}")]
    return [] if json.dumps(before, sort_keys=True) == json.dumps(now, sort_keys=True) else [(key, before, now)]


_ABSENT = "(absent)"


def _short(value: Any, limit: int = 40) -> str:
    text = value if value is _ABSENT else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."
