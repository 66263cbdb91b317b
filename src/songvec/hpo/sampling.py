"""Samplers and their seeds (docs/hpo.md, "Sampler" and "Seeds").

:func:`make_sampler` is the one place that builds an Optuna sampler from its name (:data:`SAMPLERS`);
:class:`WorkerSampler` claims each new trial for its worker and samples it with a fresh sampler seeded
by :func:`trial_seed`, so that a worker's k-th trial depends only on the seed, the worker and history.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from songvec.hpo.trials import WORKER_ATTR, counts_toward_budget, is_worker_trial

SAMPLERS = ("tpe", "random")
"""``tpe``: TPE after ``n_random_trials`` random trials; ``random``: pure random search, a baseline."""


def make_sampler(kind: str, n_random_trials: int, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler ``kind`` (one of :data:`SAMPLERS`) with ``seed``."""
    if kind == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_random_trials, multivariate=True,
                                          constant_liar=True, seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {kind!r}")


def trial_seed(seed: int, worker_index: int, k: int) -> int:
    """Sampler seed of the k-th budget-counted trial of a worker."""
    return int(np.random.SeedSequence([seed, worker_index, k]).generate_state(1)[0])


class WorkerSampler(optuna.samplers.BaseSampler):
    """One worker's sampler: claims each new trial for the worker, then samples it with a fresh
    sampler of ``kind`` seeded by :func:`trial_seed`.

    Optuna calls :meth:`before_trial` right after creating (or dequeuing) a trial, before any
    sampling; the other methods delegate to that trial's sampler.
    """

    def __init__(self, storage: optuna.storages.BaseStorage, kind: str, n_random_trials: int,
                 seed: int, worker_index: int, worker_label: str):
        self.storage, self.kind, self.n_random_trials = storage, kind, n_random_trials
        self.seed, self.worker_index, self.worker_label = seed, worker_index, worker_label
        self.trial_sampler: optuna.samplers.BaseSampler | None = None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # FrozenTrial has no public storage id: see docs/hpo.md, "Optuna's private interfaces"
        self.storage.set_trial_user_attr(trial._trial_id, WORKER_ATTR, self.worker_label)
        k = sum(t.number < trial.number and is_worker_trial(t, self.worker_index)
                and counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
        self.trial_sampler = make_sampler(self.kind, self.n_random_trials,
                                          trial_seed(self.seed, self.worker_index, k))
        self.trial_sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self.trial_sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.trial_sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.trial_sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self.trial_sampler.after_trial(study, trial, state, values)
