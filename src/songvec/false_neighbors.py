"""False-neighbour mining with a chi-squared test on song bigrams, and the HardNeg metric (paper 2.2).

A *bigram instance* is a pair of consecutive events ``(s_t, s_t+1)`` of one listening sequence with
``s_t != s_t+1``; it is counted unordered, as the pair ``{s_t, s_t+1}``. Pairs are never formed across
two sequences, and immediate self-repeats (``s_t == s_t+1``) are skipped and counted.

For every pair ``{a, b}`` the 2x2 contingency table over all ``n_total`` bigram instances is::

                         contains b           does not contain b
    contains a           n_ab                 n_a - n_ab
    does not contain a   n_b - n_ab           n_total - n_a - n_b + n_ab

with ``n_ab`` the instances of the pair itself (its co-occurrence count) and ``n_a`` the instances
containing ``a`` (with any other song). Under independence ``n_ab`` is expected to be about
``n_a * n_b / n_total``; the Pearson chi-squared statistic (no continuity correction) measures the
departure from it. A *hard negative* of a song is another song with high co-occurrence
(``n_ab >= min_cooccurrence``) whose chi-squared statistic is below ``chi2_factor`` times the number
of events (song occurrences) in the sequences: the paper's footnote 1 uses ``chi2_factor = 1e-7``
on 255B events. Such pairs follow each other often, but no more often than their popularity
predicts. HardNeg is the fraction of a song's top-k embedding neighbours that are its hard
negatives (the smaller the better).

Reading the threshold: the statistic equals ``n_total * phi**2`` (phi: the table's correlation
coefficient) and ``n_total`` is about the number of events, so ``chi2 < chi2_factor * events`` is
roughly ``phi**2 < chi2_factor``: a bound on the effect size that does not grow with the data. What
does depend on the size is the sampling noise: for an independent pair the statistic follows a
chi-squared law with one degree of freedom (mean 1), so on a small dataset a threshold far below 1
keeps only the few independent pairs that happen to land very close to their expected count.

Cost: counting is one Numba pass that writes one int64 key per bigram instance, an in-place sort
of the keys and one pass over them; memory about 8 bytes per event plus 32 bytes per distinct pair
(and 8 bytes per id of the track-id range when ids are dense, see :func:`_song_codes`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from songvec.sequences import Sequences

_log = logging.getLogger(__name__)

PAIR_COLUMNS = ("song_a", "song_b", "cooccurrences", "chi2")
"""Columns of the hard-negative pairs table (see :func:`mine_hard_negatives`)."""


@dataclass
class BigramCounts:
    """Unordered adjacent bigram counts (see the module docstring).

    Attributes:
        song_a, song_b: (P,) int64 track ids of each distinct pair, ``song_a < song_b``, sorted by
            ``(song_a, song_b)``.
        count: (P,) int64 instances of each pair.
        n_instances: total bigram instances (``count.sum()``).
        n_self_repeats: adjacent events with the same track, skipped.
    """

    song_a: np.ndarray
    song_b: np.ndarray
    count: np.ndarray
    n_instances: int
    n_self_repeats: int


def count_bigrams(seqs: Sequences) -> BigramCounts:
    """Count the unordered adjacent bigrams of all sequences of ``seqs`` (see the module docstring)."""
    song_ids, lo, hi, count, n_self_repeats = _count_pair_codes(seqs)
    return BigramCounts(song_ids[lo], song_ids[hi], count, int(count.sum()), n_self_repeats)


def _count_pair_codes(seqs: Sequences):
    """Bigram counts on song codes.

    Returns ``(song_ids (V,), lo (P,), hi (P,), count (P,), n_self_repeats)`` where pair ``p`` is
    ``{song_ids[lo[p]], song_ids[hi[p]]}`` with ``lo[p] < hi[p]``, sorted by ``(lo, hi)``.
    ``song_ids`` is increasing but may hold ids absent from ``seqs`` (see :func:`_song_codes`).
    """
    offsets = seqs.offsets
    if (len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(seqs.tracks)
            or np.any(np.diff(offsets) < 0)):
        raise ValueError("sequences have inconsistent offsets: need offsets[0] == 0, non-decreasing, "
                         f"offsets[-1] == number of events ({len(seqs.tracks)})")
    ids, base, song_ids = _song_codes(seqs.tracks)
    shift = max(len(song_ids) - 1, 1).bit_length()
    keys, n_self_repeats = _adjacent_pair_keys(ids, offsets, base, shift)
    keys.sort()
    lo, hi, count = _run_lengths(keys, shift)
    return song_ids, lo, hi, count, int(n_self_repeats)


MAX_CODES = 1 << 31
"""Most song codes whose pair key ``lo << 31 | hi`` fits in int64."""


def _song_codes(track_ids: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """``(ids, base, song_ids)`` such that event ``t`` has song code ``ids[t] - base`` and track id
    ``song_ids[ids[t] - base]``.

    When the id range is at most about twice the number of events, codes are the ids shifted by the
    smallest id (no lookup, ``song_ids`` is the whole range, including ids that never occur);
    otherwise the ids are compacted with ``np.unique`` (slower, sort-based).
    """
    track_ids = np.asarray(track_ids, dtype=np.int64)
    if len(track_ids) == 0:
        return track_ids, 0, track_ids
    smallest, largest = int(track_ids.min()), int(track_ids.max())
    span = largest - smallest + 1
    if span <= min(2 * len(track_ids) + (1 << 20), MAX_CODES):
        return track_ids, smallest, np.arange(smallest, largest + 1, dtype=np.int64)
    song_ids, codes = np.unique(track_ids, return_inverse=True)
    if len(song_ids) > MAX_CODES:
        raise ValueError(f"{len(song_ids)} distinct tracks: more than {MAX_CODES} are not supported")
    return codes.reshape(-1).astype(np.int64, copy=False), 0, song_ids


@numba.njit(cache=True, nogil=True)
def _adjacent_pair_keys(ids, offsets, base, shift):
    """Bigram instances of the codes ``ids - base``, self-repeats left out.

    Returns ``(keys (n,), n_self_repeats)``: one unsorted key ``min(a, b) << shift | max(a, b)`` per
    instance. ``offsets`` must be checked by the caller (no bounds checks).
    """
    keys = np.empty(max(len(ids) - 1, 0), dtype=np.int64)
    n_keys = 0
    n_self_repeats = 0
    for sequence in range(len(offsets) - 1):
        start, end = offsets[sequence], offsets[sequence + 1]
        if end - start < 2:
            continue
        previous = ids[start] - base
        for t in range(start + 1, end):
            current = ids[t] - base
            if current == previous:
                n_self_repeats += 1
                continue
            keys[n_keys] = (min(previous, current) << shift) | max(previous, current)
            n_keys += 1
            previous = current
    return keys[:n_keys], n_self_repeats


@numba.njit(cache=True, nogil=True)
def _run_lengths(sorted_keys, shift):
    """``(lo, hi, counts)`` of the distinct keys ``lo << shift | hi`` of a sorted int64 array."""
    n_unique = 0
    for i in range(len(sorted_keys)):
        if i == 0 or sorted_keys[i] != sorted_keys[i - 1]:
            n_unique += 1
    lo = np.empty(n_unique, dtype=np.int64)
    hi = np.empty(n_unique, dtype=np.int64)
    counts = np.zeros(n_unique, dtype=np.int64)
    mask = (1 << shift) - 1
    run = -1
    for i in range(len(sorted_keys)):
        if i == 0 or sorted_keys[i] != sorted_keys[i - 1]:
            run += 1
            lo[run] = sorted_keys[i] >> shift
            hi[run] = sorted_keys[i] & mask
        counts[run] += 1
    return lo, hi, counts


@numba.njit(cache=True, nogil=True)
def _instances_containing(lo, hi, count, n_codes):
    """(n_codes,) int64: bigram instances containing each song code (a pair counts for both songs)."""
    containing = np.zeros(n_codes, dtype=np.int64)
    for p in range(len(count)):
        containing[lo[p]] += count[p]
        containing[hi[p]] += count[p]
    return containing


def chi2_statistic(n_ab, n_a, n_b, n_total) -> np.ndarray:
    """Pearson chi-squared statistic (no continuity correction) of 2x2 tables, vectorised.

    The table of each pair is ``[[n_ab, n_a - n_ab], [n_b - n_ab, n_total - n_a - n_b + n_ab]]``
    (see the module docstring: ``n_total`` bigram instances, ``n_a`` / ``n_b`` instances containing
    ``a`` / ``b``, ``n_ab`` instances of the pair), which gives the closed form
    ``n_total * (n_ab * n_total - n_a * n_b)**2 / (n_a * (n_total - n_a) * n_b * (n_total - n_b))``.
    A table with a zero margin (``n_a`` or ``n_b`` equal to 0 or to ``n_total``) has an undefined
    statistic (scipy raises); it is defined here as 0: such a table carries no evidence against
    independence. Computed in float64: exact while ``n_ab * n_total`` and ``n_a * n_b`` stay below
    2**53 (about 9e15), correctly rounded beyond. Inputs broadcast;
    returns float64 of the broadcast shape. Raises ``ValueError`` if a cell would be negative.
    """
    n_ab, n_a, n_b, n_total = (np.asarray(x, dtype=np.float64) for x in (n_ab, n_a, n_b, n_total))
    if np.any(n_ab < 0) or np.any(n_ab > np.minimum(n_a, n_b)) or np.any(n_a + n_b - n_ab > n_total):
        raise ValueError("chi2_statistic: inconsistent counts, need 0 <= n_ab <= min(n_a, n_b) and "
                         "n_a + n_b - n_ab <= n_total")
    denominator = n_a * (n_total - n_a) * n_b * (n_total - n_b)
    numerator = n_total * (n_ab * n_total - n_a * n_b) ** 2
    degenerate = denominator == 0
    return np.where(degenerate, 0.0, numerator / np.where(degenerate, 1.0, denominator))


def mine_hard_negatives(seqs: Sequences, min_cooccurrence: int,
                        chi2_factor: float = 1e-7) -> tuple[pd.DataFrame, dict]:
    """Hard-negative song pairs of ``seqs``: co-occurrence >= ``min_cooccurrence`` and chi2 below
    ``chi2_factor * seqs.n_events``.

    Returns ``(pairs, summary)``. ``pairs`` has one row per hard-negative pair with the columns
    ``song_a < song_b`` (int64 track ids), ``cooccurrences`` (int64 bigram instances of the pair)
    and ``chi2`` (float64), sorted by ``(song_a, song_b)``; a pair makes each song a hard negative
    of the other. ``summary`` counts: events, sequences, bigram instances, skipped self-repeats,
    distinct pairs, pairs at or above the co-occurrence threshold, the chi2 threshold, hard-negative
    pairs, songs with at least one hard negative and their mean number of hard negatives.
    """
    if int(min_cooccurrence) != min_cooccurrence or min_cooccurrence < 1:
        raise ValueError(f"min_cooccurrence must be an integer >= 1, got {min_cooccurrence!r}")
    if not chi2_factor >= 0:
        raise ValueError(f"chi2_factor must be >= 0, got {chi2_factor!r}")
    song_ids, lo, hi, count, n_self_repeats = _count_pair_codes(seqs)
    n_instances = int(count.sum())
    containing = _instances_containing(lo, hi, count, len(song_ids))
    frequent = np.flatnonzero(count >= min_cooccurrence)
    chi2 = chi2_statistic(count[frequent], containing[lo[frequent]], containing[hi[frequent]],
                          n_instances)
    threshold = chi2_factor * seqs.n_events
    hard = chi2 < threshold
    chosen = frequent[hard]
    pairs = pd.DataFrame(dict(zip(PAIR_COLUMNS, (song_ids[lo[chosen]], song_ids[hi[chosen]],
                                                 count[chosen], chi2[hard]))))
    n_songs_with_hard = len(songs_with_hard_negatives(pairs))
    summary = {
        "n_events": int(seqs.n_events),
        "n_sequences": len(seqs),
        "n_songs_in_bigrams": int(np.count_nonzero(containing)),
        "n_bigram_instances": n_instances,
        "n_self_repeats_skipped": n_self_repeats,
        "n_distinct_pairs": len(count),
        "min_cooccurrence": int(min_cooccurrence),
        "n_pairs_min_cooccurrence": len(frequent),
        "chi2_factor": float(chi2_factor),
        "chi2_threshold": float(threshold),
        "n_hard_negative_pairs": len(pairs),
        "n_songs_with_hard_negatives": n_songs_with_hard,
        "mean_hard_negatives_per_song": 2 * len(pairs) / n_songs_with_hard if n_songs_with_hard else 0.0,
    }
    _log.info("hard negatives: %d events, %d bigram instances (%d self-repeats skipped), %d distinct "
              "pairs, %d with >= %d co-occurrences, %d with chi2 < %.4g: %d songs, %.1f each",
              summary["n_events"], n_instances, n_self_repeats, len(count), len(frequent),
              min_cooccurrence, len(pairs), threshold, n_songs_with_hard,
              summary["mean_hard_negatives_per_song"])
    return pairs, summary


def songs_with_hard_negatives(pairs: pd.DataFrame) -> np.ndarray:
    """(V,) sorted distinct track ids appearing in ``pairs`` (songs with at least one hard negative)."""
    return np.unique(np.concatenate([pairs["song_a"].to_numpy(np.int64),
                                     pairs["song_b"].to_numpy(np.int64)]))


def hard_negative_rate(neighbor_ids, query_ids, pairs: pd.DataFrame) -> np.ndarray:
    """(S,) float64: fraction of each query song's ``k`` neighbours that are its hard negatives.

    ``neighbor_ids``: (S, k) int64 track ids of the top-k neighbours of each query (padding such as
    -1 is never a hard negative and still counts in the denominator ``k``); ``query_ids``: (S,) int64;
    ``pairs``: the hard-negative pairs of :func:`mine_hard_negatives` (unordered). HardNeg is the
    mean of the result; the per-query values serve paired significance tests.
    """
    neighbor_ids = np.asarray(neighbor_ids, dtype=np.int64)
    query_ids = np.asarray(query_ids, dtype=np.int64)
    if neighbor_ids.ndim != 2 or query_ids.shape != neighbor_ids.shape[:1]:
        raise ValueError(f"neighbor_ids must be (S, k) and query_ids (S,), got {neighbor_ids.shape} "
                         f"and {query_ids.shape}")
    if neighbor_ids.shape[1] == 0:
        raise ValueError("neighbor_ids has no neighbour column (k = 0)")
    songs = songs_with_hard_negatives(pairs)
    if len(songs) == 0:
        return np.zeros(len(query_ids))
    n_songs = len(songs)
    pair_keys = np.sort(np.searchsorted(songs, pairs["song_a"].to_numpy(np.int64)) * n_songs
                        + np.searchsorted(songs, pairs["song_b"].to_numpy(np.int64)))
    query = np.broadcast_to(query_ids[:, None], neighbor_ids.shape)
    lo_ids, hi_ids = np.minimum(query, neighbor_ids), np.maximum(query, neighbor_ids)
    lo = np.minimum(np.searchsorted(songs, lo_ids), n_songs - 1)
    hi = np.minimum(np.searchsorted(songs, hi_ids), n_songs - 1)
    keys = lo * n_songs + hi
    position = np.minimum(np.searchsorted(pair_keys, keys), len(pair_keys) - 1)
    is_hard = (songs[lo] == lo_ids) & (songs[hi] == hi_ids) & (pair_keys[position] == keys)
    return is_hard.mean(axis=1)


def sample_songs(candidates, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` distinct track ids drawn uniformly without replacement from ``candidates``, sorted.

    All distinct candidates are returned when there are at most ``n``.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    distinct = np.unique(np.asarray(candidates, dtype=np.int64))
    if len(distinct) <= n:
        return distinct
    return np.sort(np.random.default_rng(seed).choice(distinct, size=int(n), replace=False))
