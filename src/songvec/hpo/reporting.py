"""What a study holds, for people: its summary, one row per trial, and progress lines (docs/hpo.md).

:func:`study_summary` (``summary.json``) and :func:`trials_frame` (``trials.csv``) are what rule
hpo_summary writes; :func:`progress_line` is what a worker logs after every trial.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from songvec.hpo.trials import (DEFAULT_CONFIG_ATTR, RANDOM_FALLBACK_ATTR, REJECTED_DRAWS_ATTR, WORKER_ATTR,
                                best_of, counts_toward_budget, fail_kind, front_of, is_finished_evaluation,
                                trials_since_improvement)


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """JSON-ready summary: objectives, trial counts by state, infeasible/failed counts, the random draws
    rejected as predicted infeasible (never trials) and the trials drawn at random instead of by the
    sampler's model, the best trial (single objective) or the Pareto front, and the
    wall time (first start to last end)."""
    trials = study.get_trials(deepcopy=False)
    fails = Counter(filter(None, map(fail_kind, trials)))
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
        "budget_used": sum(map(counts_toward_budget, trials)),
        "n_rejected_draws": sum(t.user_attrs.get(REJECTED_DRAWS_ATTR, 0) for t in trials),
        "n_random_fallback": sum(RANDOM_FALLBACK_ATTR in t.user_attrs for t in trials),
        "first_start": min(starts).isoformat() if starts else None,
        "last_end": max(ends).isoformat() if ends else None,
        "wall_time_seconds": (max(ends) - min(starts)).total_seconds() if starts and ends else None,
        "search_space": study.user_attrs.get("search_space"),
        "default_metrics": study.user_attrs.get("default_metrics"),
        "sampler": study.user_attrs.get("sampler_definition"),
    }
    if len(study.directions) == 1:
        best = best_of(trials, study.directions)
        summary |= dict.fromkeys(["best_trial_number", "best_value", "best_params", "best_metrics"])
        if best is not None:
            summary |= {"best_trial_number": best.number, "best_value": best.value,
                        "best_params": best.params, "best_metrics": best.user_attrs.get("metrics")}
    else:
        summary["pareto_front"] = [
            {"number": t.number, "values": t.values, "params": t.params,
             "metrics": t.user_attrs.get("metrics")} for t in front_of(trials, study.directions)]
    return summary


def trials_frame(study: optuna.Study):
    """One row per trial (``pandas.DataFrame``): number, state, start/end, duration_seconds,
    value (``value_<objective>`` for several objectives), ``param_*``, ``metric_*``,
    evaluate_seconds, infeasible, infeasible_reason, fail_kind (error/stale/skipped), rejected_draws,
    random_fallback (bool), worker.

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
                "fail_kind": fail_kind(t), "error": t.user_attrs.get("error"),
                "default_config": bool(t.user_attrs.get(DEFAULT_CONFIG_ATTR)),
                "rejected_draws": t.user_attrs.get(REJECTED_DRAWS_ATTR),
                "random_fallback": RANDOM_FALLBACK_ATTR in t.user_attrs,
                "worker": t.user_attrs.get(WORKER_ATTR)}
        rows.append(row)
    seen = dict.fromkeys(key for row in rows for key in row)
    params = [f"param_{name}" for name in study.user_attrs.get("search_space") or {}]
    params += [c for c in seen if c.startswith("param_") and c not in params]
    metrics = [c for c in seen if c.startswith("metric_")]
    head = ["number", "state", "datetime_start", "datetime_complete", "duration_seconds", *value_columns]
    tail = ["evaluate_seconds", "infeasible", "infeasible_reason", "fail_kind", "error", "default_config",
            "rejected_draws", "random_fallback", "worker"]
    frame = pd.DataFrame(rows, columns=head + params + metrics + tail)
    return frame.sort_values("number", ignore_index=True)


def progress_line(study: optuna.Study, trials: Sequence[FrozenTrial], rules: dict) -> str:
    """Budget used, best value or front size, rate and ETA, and patience of a study (``rules``:
    ``max_trials``, ``patience``, ``n_random_trials``)."""
    used = sum(map(counts_toward_budget, trials))
    text = f"{used}/{rules['max_trials']} trials used"
    if len(study.directions) == 1:
        best = best_of(trials, study.directions)
        if best is not None:
            text += f", best {best.value:.6g} (trial {best.number})"
    else:
        text += f", Pareto front of {len(front_of(trials, study.directions))} trials"
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    finished = sum(map(is_finished_evaluation, trials))
    if starts and finished:
        hours = (datetime.datetime.now() - min(starts)).total_seconds() / 3600
        rate = finished / max(hours, 1e-9)
        eta = max(rules["max_trials"] - used, 0) / rate
        text += f", {rate:.1f} trials/h, ETA {eta:.1f} h by max_trials"
    if rules["patience"] is not None:
        stale = trials_since_improvement(trials, study.directions, rules["n_random_trials"])
        text += f", {stale}/{rules['patience']} trials without improvement"
    return text
