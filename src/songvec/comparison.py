"""The models table: every model's default and tuned configurations on test, against the skip-gram default.

One row per (model, objective) (:func:`model_rows`): the test HitRate and NDCG with their 95% confidence
intervals over the test pairs, VRC genre and artist (None for a ranking baseline, which has no vectors),
the training CPU seconds (the time budget's clock, mean over the seeds) and, for a tuned row, its study's
trials and wall time. Significance marks come from :func:`songvec.significance.reference_marks`; the
table is rendered by :func:`songvec.tables.models_table` and drawn by :func:`songvec.figures.models_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from songvec.final_evaluation import SettingResult
from songvec.significance import mean_ci

#: The per-pair metrics the table tests (direction of improvement).
TESTED = {"hitrate": "greater", "ndcg": "greater"}
#: Columns of :func:`model_rows`, in order.
COLUMNS = ("config", "model", "kind", "objective", "hitrate", "hitrate_low", "hitrate_high", "ndcg", "ndcg_low",
           "ndcg_high", "vrc_genre", "vrc_artist", "n_pairs", "train_cpu_seconds", "trials", "feasible_trials",
           "study_wall_seconds")


def model_rows(settings: Mapping[str, Mapping[str, Any]], results: Mapping[str, SettingResult],
               records: Mapping[str, Sequence[Mapping[str, Any]]],
               summaries: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The table's numbers, one row per setting in the order of ``settings``.

    ``settings``: setting -> ``{"model", "kind", "objective"}`` (objective None for a default);
    ``results``: setting -> its :class:`~songvec.final_evaluation.SettingResult` on test; ``records``:
    setting -> the training records of its seeds; ``summaries``: tuned setting -> its study's summary
    (:func:`songvec.hpo.study_summary`).
    """
    rows = []
    for setting, about in settings.items():
        result = results[setting]
        row: dict[str, Any] = {"config": setting, **about}
        for metric in TESTED:
            values = result.per_item[metric]
            mean, low, high = mean_ci(values) if len(values) >= 2 else (result.metrics[metric], np.nan, np.nan)
            row |= {metric: result.metrics[metric], f"{metric}_low": low, f"{metric}_high": high}
        ranking = about["kind"] == "ranking"
        row |= {"vrc_genre": None if ranking else result.metrics["vrc_genre"],
                "vrc_artist": None if ranking else result.metrics["vrc_artist"],
                "n_pairs": len(result.per_item["hitrate"]),
                "train_cpu_seconds": float(np.mean([r["train_cpu_seconds"] for r in records[setting]]))}
        summary = summaries.get(setting)
        row |= {"trials": None if summary is None else summary["budget_used"],
                "feasible_trials": None if summary is None else
                summary["n_trials_by_state"]["COMPLETE"],
                "study_wall_seconds": None if summary is None else summary["wall_time_seconds"]}
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))
