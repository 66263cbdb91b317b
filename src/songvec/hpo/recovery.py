"""Trials left RUNNING by killed workers (docs/hpo.md, "Killed workers").

At its start a worker fails the RUNNING trials no live worker can own; trials of other workers are
judged by their heartbeat (:func:`songvec.hpo.storage.fail_stale_trials`).
"""

from __future__ import annotations

import datetime
import logging
import time

import optuna
from optuna.trial import TrialState

from songvec.hpo.trials import WORKER_ATTR, is_worker_trial


def fail_abandoned_trials(study: optuna.Study, worker_index: int, grace_period: int,
                          logger: logging.Logger) -> None:
    """Fail the RUNNING trials that no live worker can own: those claimed by ``worker_index`` (left
    by a killed earlier life of this worker) and those still unclaimed ``grace_period`` seconds after
    they started (this waits for the younger ones)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    own = [t for t in running if is_worker_trial(t, worker_index)]
    unclaimed = [t for t in running if WORKER_ATTR not in t.user_attrs]
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
                     if t.number in candidates and WORKER_ATTR not in t.user_attrs]
    for trial in own + unclaimed:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if own or unclaimed:
        logger.warning("study %s: failed running trials %s of a killed earlier run of worker #%d "
                       "and %s never claimed by a worker; they do not count toward the budget",
                       study.study_name, [t.number for t in own], worker_index,
                       [t.number for t in unclaimed])
