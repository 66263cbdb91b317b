"""The embedding spaces of Fig. 1 (section 4.3): distinct HPO trials spread over the VRC range the studies reached.

The paper plots Local Coherence against VRC for 5 embedding spaces "generated with different
hyper-parameters". Here the spaces are chosen among the feasible completed trials of the studies on the
whole training split (not the scale studies, which train on subsamples): trials with the same
hyper-parameters and epochs count once (every study evaluates the default configuration first), and of the
rest, :func:`spanning` picks ``n`` spread evenly over the logarithm of their validation VRC-genre, from the
lowest to the highest. Each chosen configuration is then retrained and evaluated on the test split like a study's best,
so no two points of the figure are the same vectors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

VRC_COLUMN = "metric_vrc_genre"


def spanning(values: pd.Series, n: int) -> list:
    """``n`` labels of ``values`` (label -> positive value) spread over its range on a log scale, from the
    lowest to the highest.

    Targets are ``n`` values evenly spaced in ``log(value)`` from the lowest to the highest; each target in
    turn takes the label not yet taken whose log-value is closest (ties: the lower value, then the label).
    So the lowest and the highest value are always in, the picks are distinct, and a range spanning orders
    of magnitude (VRC runs from ~1 for an untrained space to hundreds) is not crowded at its dense end as
    evenly spaced ranks would be. All labels when ``n >= len(values)``. Returned by increasing value.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 to span a range, got {n}")
    if values.isna().any() or (values <= 0).any():
        raise ValueError(f"values must be positive numbers; not so for {list(values.index[~(values > 0)])}")
    ranked = sorted(values.index, key=lambda label: (values[label], label))
    if n >= len(ranked):
        return ranked
    logs = np.log([values[label] for label in ranked])
    chosen: list[int] = []
    for target in np.linspace(logs[0], logs[-1], n):
        free = [i for i in range(len(ranked)) if i not in chosen]
        chosen.append(min(free, key=lambda i: (abs(logs[i] - target), i)))
    return [ranked[i] for i in sorted(chosen)]


def candidate_trials(trials_by_study: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Feasible completed trials with a positive validation VRC-genre, one per distinct configuration.

    ``trials_by_study``: study -> its ``trials.csv`` (:func:`songvec.hpo.trials_frame`). Returns one row
    per distinct (parameters, epochs), the first in study order then trial number, with the columns
    ``study``, ``number``, the ``param_*`` columns, ``epochs`` and ``vrc_genre``, indexed ``study#number``.
    """
    frames = []
    for study, trials in trials_by_study.items():
        done = trials[(trials["state"] == "COMPLETE") & ~trials["infeasible"].fillna(False).astype(bool)]
        if VRC_COLUMN not in done:
            continue
        done = done[np.isfinite(done[VRC_COLUMN].astype(float)) & (done[VRC_COLUMN].astype(float) > 0)]
        params = [c for c in done.columns if c.startswith("param_")]
        epochs = done["metric_epochs"] if "metric_epochs" in done else pd.Series(np.nan, index=done.index)
        frames.append(pd.DataFrame({"study": study, "number": done["number"].astype(int), **done[params],
                                    "epochs": epochs, "vrc_genre": done[VRC_COLUMN].astype(float)}))
    if not frames:
        return pd.DataFrame(columns=["study", "number", "epochs", "vrc_genre"])
    table = pd.concat(frames, ignore_index=True)
    params = sorted(c for c in table.columns if c.startswith("param_"))
    table = table.drop_duplicates(subset=params + ["epochs"], keep="first")
    return table.set_index(table["study"] + "#" + table["number"].astype(str))


def select_spaces(trials_by_study: Mapping[str, pd.DataFrame], n: int) -> list[dict]:
    """The ``n`` configurations of Fig. 1 (module docstring), in order of increasing validation VRC-genre.

    Each is a dict in the layout of a study's ``best.json``: ``study``, ``trial``, ``best_params``
    (parameter name -> value, ints as ints) and ``best_metrics`` (``vrc_genre`` on validation and, when the
    study trained fewer epochs than configured, ``epochs``). Raises ``ValueError`` when fewer than ``n``
    distinct configurations are available (name the studies' trial counts, so the fix is clear).
    """
    candidates = candidate_trials(trials_by_study)
    if len(candidates) < n:
        raise ValueError(f"Fig. 1 needs {n} distinct feasible configurations (analyses.coherence_spaces) but the "
                         f"studies {sorted(trials_by_study)} have {len(candidates)}: lower "
                         "analyses.coherence_spaces or let the studies run more trials")
    chosen = spanning(candidates["vrc_genre"], n)
    log.info("Fig. 1 spaces: %d of %d distinct feasible configurations, at VRC-genre %s", n, len(candidates),
             [round(candidates.loc[label, "vrc_genre"], 1) for label in chosen])
    spaces = []
    for label in chosen:
        row = candidates.loc[label]
        params = {name.removeprefix("param_"): _plain(row[name]) for name in candidates.columns
                  if name.startswith("param_") and not _missing(row[name])}
        metrics = {"vrc_genre": float(row["vrc_genre"])}
        if not _missing(row["epochs"]):
            metrics["epochs"] = int(row["epochs"])
        spaces.append({"study": row["study"], "trial": int(row["number"]), "best_params": params,
                       "best_metrics": metrics})
    return spaces


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    """A CSV cell as the int or float the search space drew."""
    value = float(value)
    return int(value) if value.is_integer() else value
