"""Popularity buckets and HitRate by (query, target) popularity bucket (paper section 4.5, Fig. 2 and 4).

Songs are split into ``n_buckets`` buckets that each account for an equal share of all listening
events: bucket 0 holds the few most played songs that make up the first 1/n of the plays, the last
bucket the long tail of rarely played songs that make up the last 1/n.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd

from songvec.significance import proportion_ci

log = logging.getLogger(__name__)

CELL_COLUMNS = ["query_bucket", "target_bucket", "n_available", "n", "hits", "hitrate", "ci_low", "ci_high"]


def popularity_buckets(track_ids, play_counts, n_buckets: int = 5) -> np.ndarray:
    """(V,) int64 popularity bucket of each song, in the order of ``track_ids``.

    ``track_ids``: (V,) distinct song ids; ``play_counts``: (V,) number of listening events of each
    song (non-negative integers, at least one positive).

    Songs are ranked by decreasing play count, ties broken by increasing track id (so the result does
    not depend on the input order). A song goes to the bucket that contains the cumulative share of
    events of all songs ranked *before* it: with ``before`` that number of events and ``total`` all
    events, ``bucket = floor(before * n_buckets / total)`` (computed in exact integer arithmetic).
    So the most played song is always in bucket 0, a song that straddles a boundary stays in the
    bucket where its plays start, and a bucket can be empty when one song alone holds more than a
    bucket's share. Songs with zero plays come last and go to the last bucket (their number is logged).
    """
    track_ids = np.asarray(track_ids)
    counts = np.asarray(play_counts)
    if track_ids.ndim != 1 or counts.shape != track_ids.shape:
        raise ValueError(f"track_ids and play_counts must be 1-D and equally long, got shapes "
                         f"{track_ids.shape} and {counts.shape}")
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    if not np.issubdtype(counts.dtype, np.integer):
        if not np.all(np.isfinite(counts)) or np.any(counts != np.round(counts)):
            raise ValueError("play_counts must be whole numbers of listening events")
    counts = counts.astype(np.int64)
    if np.any(counts < 0):
        raise ValueError(f"play_counts has {int((counts < 0).sum())} negative values")
    total = int(counts.sum())
    if total == 0:
        raise ValueError("play_counts sum to zero: no listening events to split into buckets")
    if len(np.unique(track_ids)) != len(track_ids):
        raise ValueError("track_ids must be distinct (one play count per song)")

    order = np.lexsort((track_ids, -counts))  # last key first: decreasing count, then increasing id
    before = np.cumsum(counts[order]) - counts[order]
    ranked_bucket = np.minimum(before * n_buckets // total, n_buckets - 1)
    buckets = np.empty(len(track_ids), dtype=np.int64)
    buckets[order] = ranked_bucket
    n_unplayed = int((counts == 0).sum())
    if n_unplayed:
        log.info("popularity buckets: %d songs with zero plays put in the last bucket %d", n_unplayed, n_buckets - 1)
    return buckets


def bucket_pair_hitrate(per_pair: pd.DataFrame, bucket_of, n_per_cell: int, seed: int, n_buckets: int = 5,
                        level: float = 0.95) -> pd.DataFrame:
    """HitRate by (query bucket, target bucket), on up to ``n_per_cell`` sampled pairs per cell.

    ``per_pair``: one row per evaluated (query, target) test pair with columns ``query``, ``target``
    (track ids) and ``hit`` (bool or 0/1: the target is among the query's top-k neighbours).
    ``bucket_of``: track id -> bucket (a mapping or a ``pandas.Series`` indexed by track id), e.g. from
    :func:`popularity_buckets`. Pairs whose query or target has no bucket are not used; their number
    is logged and stored in ``result.attrs["n_pairs_unbucketed"]``.

    In every cell, ``n_per_cell`` pairs are drawn without replacement (all of them when the cell has
    fewer; the paper samples 1k per bucket pair). The draw depends only on ``seed`` and on the row
    order of ``per_pair``, never on ``hit``: two embeddings evaluated on the same pairs in the same
    order are compared on the same sample.

    Returns all ``n_buckets ** 2`` cells with columns ``query_bucket, target_bucket, n_available``
    (pairs in the cell), ``n`` (pairs sampled), ``hits``, ``hitrate`` and the Wilson interval
    ``ci_low, ci_high`` at ``level`` (NaN for empty cells).
    """
    missing = {"query", "target", "hit"} - set(per_pair.columns)
    if missing:
        raise ValueError(f"per_pair lacks columns {sorted(missing)} (has {list(per_pair.columns)})")
    if n_per_cell < 1:
        raise ValueError(f"n_per_cell must be >= 1, got {n_per_cell}")
    hit = per_pair["hit"].to_numpy()
    if not np.all(np.isin(hit, (0, 1))):
        raise ValueError("per_pair['hit'] must be boolean or 0/1")
    buckets = pd.Series(bucket_of) if not isinstance(bucket_of, pd.Series) else bucket_of
    if not buckets.index.is_unique:
        raise ValueError("bucket_of gives more than one bucket for some track ids")
    bucket_values = buckets.to_numpy()
    if len(buckets) and (bucket_values.min() < 0 or bucket_values.max() >= n_buckets):
        raise ValueError(f"bucket_of has buckets outside [0, {n_buckets - 1}]")
    query_at = buckets.index.get_indexer(per_pair["query"].to_numpy())
    target_at = buckets.index.get_indexer(per_pair["target"].to_numpy())
    known = (query_at >= 0) & (target_at >= 0)
    n_unbucketed = int((~known).sum())
    if n_unbucketed:
        log.info("bucket_pair_hitrate: %d of %d pairs have a query or target without a bucket; not used",
                 n_unbucketed, len(per_pair))

    n_cells = n_buckets * n_buckets
    cell = np.full(len(per_pair), n_cells, dtype=np.int64)  # n_cells: no cell
    cell[known] = bucket_values[query_at[known]].astype(np.int64) * n_buckets + bucket_values[target_at[known]]
    rng = np.random.default_rng(seed)
    order = np.argsort(cell.astype(np.min_scalar_type(n_cells)), kind="stable")  # rows grouped by cell
    bounds = np.searchsorted(cell[order], np.arange(n_cells + 1))
    available = np.diff(bounds)
    sampled = []
    for c in range(n_cells):
        members = order[bounds[c]:bounds[c + 1]]
        sampled.append(members if len(members) <= n_per_cell else rng.choice(members, n_per_cell, replace=False))
    sampled = np.concatenate(sampled)

    n = np.bincount(cell[sampled], minlength=n_cells)
    hits = np.bincount(cell[sampled], weights=hit[sampled].astype(np.float64), minlength=n_cells).astype(np.int64)
    hitrate, low, high = proportion_ci(hits, n, level)
    result = pd.DataFrame({"query_bucket": np.repeat(np.arange(n_buckets), n_buckets),
                           "target_bucket": np.tile(np.arange(n_buckets), n_buckets),
                           "n_available": available, "n": n, "hits": hits,
                           "hitrate": hitrate, "ci_low": low, "ci_high": high}, columns=CELL_COLUMNS)
    result.attrs["n_pairs_unbucketed"] = n_unbucketed
    return result


def same_bucket_hitrate(cells_by_config: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """HitRate of pairs whose query and target share a bucket, per configuration (Fig. 2c / 4c).

    ``cells_by_config``: configuration name -> the result of :func:`bucket_pair_hitrate`.
    Returns the diagonal cells in long form: ``config, bucket, n, hits, hitrate, ci_low, ci_high``.
    """
    parts = []
    for config, cells in cells_by_config.items():
        diagonal = cells[cells["query_bucket"] == cells["target_bucket"]]
        parts.append(pd.DataFrame({"config": config, "bucket": diagonal["query_bucket"].to_numpy(),
                                   "n": diagonal["n"].to_numpy(), "hits": diagonal["hits"].to_numpy(),
                                   "hitrate": diagonal["hitrate"].to_numpy(),
                                   "ci_low": diagonal["ci_low"].to_numpy(), "ci_high": diagonal["ci_high"].to_numpy()}))
    if not parts:
        raise ValueError("cells_by_config is empty")
    return pd.concat(parts, ignore_index=True)
