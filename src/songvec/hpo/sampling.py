"""Samplers, their seeds and constraint-aware drawing (docs/hpo.md, "Sampler", "Seeds", "Constraint-aware
sampling").

:func:`make_sampler` is the one place that builds an Optuna sampler from its name (:data:`SAMPLERS`) and
settings; :class:`WorkerSampler` claims each new trial for its worker and samples it with a fresh sampler
seeded by :func:`trial_seed`, so that a worker's k-th trial depends only on the seed, the worker and the
history. Given a prediction of the constraint, it draws whole configurations until one is predicted
feasible; the rejected draws never become trials.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from songvec.hpo.trials import (DEFAULT_CONFIG_ATTR, RANDOM_FALLBACK_ATTR, REJECTED_DRAWS_ATTR, WORKER_ATTR,
                                counts_toward_budget, is_worker_trial)

log = logging.getLogger(__name__)

SAMPLER_SETTINGS: dict[str, dict[str, Any]] = {
    "tpe": {"multivariate": True, "constant_liar": True, "n_ei_candidates": 24, "max_proposals": 100},
    "gp": {"deterministic_objective": False, "max_proposals": 1},
    "random": {},
    "nsga2": {"population_size": 10, "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5,
              "max_proposals": 100},
}
"""Each sampler's settings and their defaults; config ``hpo.sampler_settings`` gives them for the workflow.
All but ``max_proposals`` are Optuna's arguments. ``tpe``: TPE after ``n_random_trials`` random trials
(multivariate, constant liar); ``gp``: Gaussian-process Bayesian optimisation (logEI, needs PyTorch) after
``n_random_trials`` random trials; ``random``: random search, a baseline; ``nsga2``: NSGA-II, whose first
generation of ``population_size`` trials is random (``n_random_trials`` does not apply).
``max_proposals``: with constraint-aware sampling, the proposals of the sampler's model predicted
infeasible after which a trial is drawn at random (:class:`WorkerSampler`); GP's is 1 because GPSampler
treats its own rejected proposal as a running trial (a pending point) and every further proposal costs a
q-batch acquisition optimisation, seconds to minutes of CPU."""
SAMPLERS = tuple(SAMPLER_SETTINGS)
MAX_DRAWS = 10_000
"""Draws tried for a configuration predicted feasible before the least violating one is taken (it then
becomes an infeasible trial)."""

Violation = Callable[[Mapping[str, Any]], float]
"""A deterministic prediction of a configuration's constraint: > 0 infeasible, <= 0 feasible."""


def sampler_settings(kind: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings of sampler ``kind``: :data:`SAMPLER_SETTINGS`'s defaults updated by ``settings``;
    ValueError naming an unknown sampler or setting."""
    if kind not in SAMPLER_SETTINGS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {kind!r}")
    unknown = sorted(set(settings or {}) - set(SAMPLER_SETTINGS[kind]))
    if unknown:
        raise ValueError(f"sampler {kind!r} has no setting {', '.join(map(repr, unknown))} (its settings: "
                         f"{', '.join(SAMPLER_SETTINGS[kind]) or 'none'})")
    return SAMPLER_SETTINGS[kind] | dict(settings or {})


def make_sampler(kind: str, n_random_trials: int, seed: int,
                 settings: Mapping[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """The sampler ``kind`` (one of :data:`SAMPLERS`) with ``seed``, ``n_random_trials`` random trials
    first where it has a start-up phase, and ``settings`` (see :func:`sampler_settings`)."""
    options = sampler_settings(kind, settings)
    options.pop("max_proposals", None)
    if kind == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_random_trials, seed=seed, **options)
    if kind == "gp":
        if importlib.util.find_spec("torch") is None:
            raise ImportError("sampler 'gp' (optuna.samplers.GPSampler) needs PyTorch: pip install -r "
                              "requirements-gp.txt (the CPU build; README, 'Samplers')")
        return optuna.samplers.GPSampler(n_startup_trials=n_random_trials, seed=seed, **options)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    return optuna.samplers.RandomSampler(seed=seed)


def trial_seed(seed: int, worker_index: int, k: int) -> int:
    """Sampler seed of the k-th budget-counted trial of a worker."""
    return int(np.random.SeedSequence([seed, worker_index, k]).generate_state(1)[0])


class WorkerSampler(optuna.samplers.BaseSampler):
    """One worker's sampler: claims each new trial for the worker, then samples it with a fresh
    sampler of ``kind`` seeded by :func:`trial_seed`.

    Optuna calls :meth:`before_trial` right after creating (or dequeuing) a trial, before any
    sampling; the other methods delegate to that trial's sampler. With ``predicted_violation``
    (constraint-aware sampling, docs/hpo.md), the whole configuration of ``distributions`` is drawn at
    once in :meth:`sample_relative` and drawn again, the sampler's random state advancing, while it is
    predicted infeasible; the rejected draws are counted on the trial
    (:data:`~songvec.hpo.trials.REJECTED_DRAWS_ATTR`). After the sampler setting ``max_proposals`` joint
    proposals of its model predicted infeasible, the trial draws at random instead, from a random sampler
    seeded from the trial's seed (:data:`~songvec.hpo.trials.RANDOM_FALLBACK_ATTR`). All of it is
    deterministic given the trial's seed and the history. The enqueued default configuration is not drawn.
    """

    def __init__(self, storage: optuna.storages.BaseStorage, kind: str, n_random_trials: int,
                 seed: int, worker_index: int, worker_label: str, settings: Mapping[str, Any] | None = None,
                 *, distributions: Mapping[str, BaseDistribution] | None = None,
                 predicted_violation: Violation | None = None):
        if predicted_violation is not None and not distributions:
            raise ValueError("constraint-aware sampling needs the search space's distributions")
        self.storage, self.kind, self.n_random_trials = storage, kind, n_random_trials
        self.seed, self.worker_index, self.worker_label = seed, worker_index, worker_label
        self.settings = sampler_settings(kind, settings)
        self.distributions, self.predicted_violation = dict(distributions or {}), predicted_violation
        self.trial_sampler: optuna.samplers.BaseSampler | None = None
        self.trial_seed: int | None = None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # FrozenTrial has no public storage id: see docs/hpo.md, "Optuna's private interfaces"
        self.storage.set_trial_user_attr(trial._trial_id, WORKER_ATTR, self.worker_label)
        k = sum(t.number < trial.number and is_worker_trial(t, self.worker_index)
                and counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
        self.trial_seed = trial_seed(self.seed, self.worker_index, k)
        self.trial_sampler = make_sampler(self.kind, self.n_random_trials, self.trial_seed, self.settings)
        self.trial_sampler.before_trial(study, trial)
        if isinstance(self.trial_sampler, optuna.samplers.NSGAIISampler):
            # NSGA-II lists a generation's parents in selection order when it selects them and in trial
            # order when it reads them back from its cache; the order decides the child. Reading them
            # first gives every trial the cached order, so a killed trial's replacement is the same child.
            generation = self.trial_sampler.get_trial_generation(study, trial)
            self.trial_sampler.get_parent_population(study, generation)

    def infer_relative_search_space(self, study, trial):
        if self.predicted_violation is None:
            return self.trial_sampler.infer_relative_search_space(study, trial)
        return self.distributions

    def sample_relative(self, study, trial, search_space):
        if self.predicted_violation is None:
            return self.trial_sampler.sample_relative(study, trial, search_space)
        if DEFAULT_CONFIG_ATTR in trial.user_attrs:  # enqueued: Optuna takes its fixed parameters
            return {}
        return self._feasible_configuration(study, trial)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.trial_sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self.trial_sampler.after_trial(study, trial, state, values)

    def _draw(self, study: optuna.Study, trial: FrozenTrial) -> tuple[dict[str, Any], bool]:
        """One whole configuration from the trial's sampler, as Optuna would sample it (its joint
        proposal, the other parameters one by one), and whether it is a joint proposal."""
        space = self.trial_sampler.infer_relative_search_space(study, trial)
        params = dict(self.trial_sampler.sample_relative(study, trial, space)) if space else {}
        proposed = bool(params)
        for name, distribution in self.distributions.items():
            if name not in params:
                params[name] = self.trial_sampler.sample_independent(study, trial, name, distribution)
        return params, proposed

    def _feasible_configuration(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        least: tuple[float, dict[str, Any]] = (math.inf, {})
        proposals = 0
        for rejected in range(MAX_DRAWS):
            params, proposed = self._draw(study, trial)
            violation = self.predicted_violation(params)
            if violation <= 0:
                break
            least = min(least, (violation, params), key=lambda pair: pair[0])
            proposals += proposed
            if proposed and proposals >= self.settings["max_proposals"]:
                self.storage.set_trial_user_attr(trial._trial_id, RANDOM_FALLBACK_ATTR,
                                                 {"rejected_proposals": proposals})
                self.trial_sampler = optuna.samplers.RandomSampler(seed=self.trial_seed ^ 0x5EED)
        else:
            rejected, params = MAX_DRAWS, least[1]
            log.warning("trial %d: none of %d draws of sampler %s is predicted feasible; evaluating the least "
                        "violating one (violation %.3g)", trial.number, MAX_DRAWS, self.kind, least[0])
        self.storage.set_trial_user_attr(trial._trial_id, REJECTED_DRAWS_ATTR, rejected)
        return params
