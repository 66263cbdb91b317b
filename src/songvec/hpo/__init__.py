"""Hyper-parameter optimisation of Word2Vec on Optuna (paper sections 4, 4.2-4.4, 4.7).

The engine knows nothing about training or metrics: a worker calls ``evaluate(params) -> metrics`` and
turns the metrics into the objectives. docs/hpo.md explains the protocol (sampler, seeds, budget,
convergence, infeasible trials, killed workers, storages) and lists the modules of this package. The
objectives (:mod:`songvec.objectives`) and the time budget (:mod:`songvec.time_budget`) live outside
it, free of Optuna; they are re-exported here.
"""

from songvec.hpo.reporting import study_summary, trials_frame
from songvec.hpo.sampling import SAMPLERS, make_sampler
from songvec.hpo.space import PAPER_SEARCH_SPACE, ParamRange, SearchSpace
from songvec.hpo.storage import SQLITE_BUSY_TIMEOUT_SECONDS, load_study, open_storage
from songvec.hpo.trials import FEASIBILITY_CONSTRAINT, best_feasible_trial, pareto_front, representative_trial
from songvec.hpo.worker import WorkerSettings, run_pareto_worker, run_study_worker
from songvec.objectives import VALID_OBJECTIVE_FORMS, Objective
from songvec.time_budget import TrialInfeasible

__all__ = [
    "FEASIBILITY_CONSTRAINT", "PAPER_SEARCH_SPACE", "SAMPLERS", "SQLITE_BUSY_TIMEOUT_SECONDS",
    "VALID_OBJECTIVE_FORMS", "Objective", "ParamRange", "SearchSpace", "TrialInfeasible", "WorkerSettings",
    "best_feasible_trial", "load_study", "make_sampler", "open_storage", "pareto_front", "representative_trial",
    "run_pareto_worker", "run_study_worker", "study_summary", "trials_frame",
]
