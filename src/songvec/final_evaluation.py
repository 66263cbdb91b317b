"""Results of the final evaluation: each setting retrained with several seeds and evaluated on test.

A *setting* is the default configuration or the best configuration of one study. Its table value
of a metric is the mean over seeds; its per-item values (per pair for HitRate and NDCG, per song
for HardNeg) are averaged over seeds too, so that two settings can be compared with paired tests
on the same items (:mod:`songvec.significance`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from songvec import atomic

log = logging.getLogger(__name__)

#: Metrics shown in Tables 4 and 6.
TABLE_METRICS = ("hitrate", "ndcg", "hardneg", "vrc_genre", "vrc_artist")
#: Per-item values behind the paired tests: metric -> (file kind, column).
PER_ITEM = {"hitrate": ("pairs", "hit"), "ndcg": ("pairs", "ndcg"), "hardneg": ("songs", "hardneg")}


@dataclass
class SettingResult:
    """One setting over its seeds: ``metrics`` (metric -> mean over seeds), ``per_item``
    (metric -> (n,) float64 seed-averaged values), ``seeds`` used."""

    metrics: dict[str, float]
    per_item: dict[str, np.ndarray]
    seeds: int


def collect(settings: Sequence[str], seeds: Sequence[int], metrics_paths: Sequence[str],
            pairs_paths: Sequence[str], songs_paths: Sequence[str] | None) -> dict[str, SettingResult]:
    """Read the evaluation outputs of every setting x seed.

    The path lists are setting-major (all seeds of the first setting, then the next), as Snakemake's
    ``expand(setting=..., seed=...)`` produces them. ``songs_paths`` None: no per-song values (HardNeg),
    as for next-song baselines, which have none. Raises ``ValueError`` when the evaluated pairs or songs
    differ between seeds or settings: paired tests need the same items everywhere.
    """
    expected = len(settings) * len(seeds)
    files = {"metrics": metrics_paths, "pairs": pairs_paths} | ({} if songs_paths is None else {"songs": songs_paths})
    for name, paths in files.items():
        if len(paths) != expected:
            raise ValueError(f"{len(paths)} {name} files for {len(settings)} settings x {len(seeds)} seeds")
    per_item_kinds = {metric: kind_column for metric, kind_column in PER_ITEM.items()
                      if kind_column[0] in files}
    results, reference_items = {}, None
    for i, setting in enumerate(settings):
        block = slice(i * len(seeds), (i + 1) * len(seeds))
        metrics = [atomic.read_json(path) for path in metrics_paths[block]]
        frames = {"pairs": [_evaluated_pairs(path) for path in pairs_paths[block]]}
        if songs_paths is not None:
            frames["songs"] = [pd.read_parquet(path) for path in songs_paths[block]]
        items = {kind: [_item_keys(kind, frame) for frame in frames[kind]] for kind in frames}
        for kind, keys in items.items():
            reference = reference_items[kind] if reference_items else keys[0]
            if any(not np.array_equal(k, reference) for k in keys):
                raise ValueError(f"setting {setting}: the evaluated {kind} differ from those of the other "
                                 f"seeds or settings; paired tests need identical items")
        reference_items = reference_items or {kind: keys[0] for kind, keys in items.items()}
        per_item = {metric: np.mean([frame[column].to_numpy(np.float64) for frame in frames[kind]], axis=0)
                    for metric, (kind, column) in per_item_kinds.items()}
        means = {metric: float(np.mean([m[metric] if m[metric] is not None else np.nan for m in metrics]))
                 for metric in TABLE_METRICS}
        results[setting] = SettingResult(means, per_item, len(seeds))
    return results


def testable_metrics(results: dict[str, SettingResult], metrics: dict[str, str]) -> dict[str, str]:
    """The entries of ``metrics`` (metric -> direction) with at least 2 items in every setting: a paired
    t-test needs them (HardNeg has no item when no vocabulary song has a hard negative)."""
    kept = {m: d for m, d in metrics.items() if all(len(r.per_item[m]) >= 2 for r in results.values())}
    if len(kept) < len(metrics):
        log.warning("no paired test for %s: fewer than 2 items", sorted(set(metrics) - set(kept)))
    return kept


def _evaluated_pairs(path: str) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame[frame["evaluated"]].reset_index(drop=True)


def _item_keys(kind: str, frame: pd.DataFrame) -> np.ndarray:
    if kind == "pairs":
        return frame[["kind", "sequence", "position"]].astype(str).agg("/".join, axis=1).to_numpy()
    return frame["song"].to_numpy()
