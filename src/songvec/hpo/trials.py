"""Trial bookkeeping: what a trial's state and attributes mean (docs/hpo.md, "Budget", "Convergence").

Which trials count toward ``max_trials``, when a study has converged, its best feasible trial, its
Pareto front and the one trial to retrain; the user attributes a worker writes on its trials.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

FEASIBILITY_CONSTRAINT = "feasibility"
"""Optuna constraint of every evaluated trial: the violation (> 0) when infeasible; when feasible, the
predicted slack (predicted time / budget - 1, <= 0) if the worker has a prediction, else 0."""
WORKER_ATTR = "worker"
"""User attribute claiming a trial for a worker: ``host:pid#worker_index``."""
DEFAULT_CONFIG_ATTR = "default_config"
"""User attribute of the enqueued default configuration's trials."""
REJECTED_DRAWS_ATTR = "rejected_draws"
"""User attribute: random draws rejected as predicted infeasible before the trial's configuration (they
never become trials)."""
RANDOM_FALLBACK_ATTR = "random_fallback"
"""User attribute of a trial drawn at random because its sampler's model kept proposing configurations
predicted infeasible: how many it proposed."""


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """RUNNING, COMPLETE, PRUNED (infeasible), or FAIL raised by ``evaluate``."""
    if trial.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "error" in trial.user_attrs


def fail_kind(trial: FrozenTrial) -> str | None:
    """Why a FAIL trial failed: "error" (in ``evaluate``), "skipped" (no budget left) or "stale" (killed)."""
    if trial.state != TrialState.FAIL:
        return None
    if "error" in trial.user_attrs:
        return "error"
    return "skipped" if "skipped" in trial.user_attrs else "stale"


def is_worker_trial(trial: FrozenTrial, worker_index: int) -> bool:
    """The trial was claimed by a worker with index ``worker_index`` (in any of its lives)."""
    return str(trial.user_attrs.get(WORKER_ATTR, "")).endswith(f"#{worker_index}")


def is_feasible_complete(trial: FrozenTrial) -> bool:
    return (trial.state == TrialState.COMPLETE
            and all(v <= 0.0 for v in trial.constraints.values()))


def is_finished_evaluation(trial: FrozenTrial) -> bool:
    """COMPLETE, or PRUNED because infeasible: an evaluation that produced an outcome."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED)


def signs(directions: Sequence[optuna.study.StudyDirection]) -> np.ndarray:
    """+1 for maximised objectives, -1 for minimised: ``values * signs`` is to be maximised."""
    return np.array([1.0 if d == optuna.study.StudyDirection.MAXIMIZE else -1.0 for d in directions])


def trials_since_improvement(trials: Sequence[FrozenTrial],
                             directions: Sequence[optuna.study.StudyDirection],
                             n_random_trials: int) -> int:
    """Feasible completed trials (by number) after the last improvement, excluding the random phase.

    Infeasible trials do not count: most random draws from the paper's ranges are too slow to train,
    and counting them would end a study before it has explored the feasible region at all (they are
    bounded by ``max_trials`` instead)."""
    finished = sorted((t for t in trials if is_finished_evaluation(t)), key=lambda t: t.number)
    direction_signs = signs(directions)
    seen = np.empty((0, len(direction_signs)))
    last_improvement = -1
    for position, trial in enumerate(finished):
        if not is_feasible_complete(trial):
            continue
        point = np.asarray(trial.values) * direction_signs
        weakly_dominated = bool(np.any(np.all(seen >= point, axis=1)))
        if not weakly_dominated:
            last_improvement = position
        seen = np.vstack([seen, point])
    return sum(map(is_feasible_complete, finished[max(last_improvement + 1, n_random_trials):]))


def stop_reason(trials: Sequence[FrozenTrial], directions, *, max_trials: int,
                patience: int | None, n_random_trials: int) -> str | None:
    """Why the study is done (budget used, or converged), or None while it is not."""
    used = sum(map(counts_toward_budget, trials))
    if used >= max_trials:
        return f"budget used ({used}/{max_trials} trials)"
    if patience is not None:
        stale = trials_since_improvement(trials, directions, n_random_trials)
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
    best = best_of(study.get_trials(deepcopy=False), study.directions)
    if best is None:
        raise ValueError(f"study {study.study_name!r} has no feasible completed trial yet")
    return best


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible COMPLETE trials that no other feasible COMPLETE trial dominates, by number.

    Trials with identical values do not dominate each other: all of them are kept.
    """
    return front_of(study.get_trials(deepcopy=False), study.directions)


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
    direction_signs = signs(study.directions)
    return max(front, key=lambda t: (*(np.asarray(t.values) * direction_signs), -t.number))


def best_of(trials: Sequence[FrozenTrial], directions) -> FrozenTrial | None:
    """The best feasible COMPLETE trial of a single-objective study (lowest number among ties)."""
    feasible = [t for t in trials if is_feasible_complete(t)]
    sign = signs(directions)[0]
    return max(feasible, key=lambda t: (sign * t.value, -t.number), default=None)


def front_of(trials: Sequence[FrozenTrial], directions) -> list[FrozenTrial]:
    """The non-dominated feasible COMPLETE trials, by number."""
    feasible = sorted((t for t in trials if is_feasible_complete(t)), key=lambda t: t.number)
    if not feasible:
        return []
    points = np.array([t.values for t in feasible]) * signs(directions)
    dominated = [bool(np.any(np.all(points >= p, axis=1) & np.any(points > p, axis=1)))
                 for p in points]
    return [t for t, d in zip(feasible, dominated) if not d]
