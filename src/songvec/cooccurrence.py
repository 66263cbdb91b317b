"""Co-occurrence counts of songs in listening sequences, as sparse matrices (models other than Word2Vec).

Songs are rows of a vocabulary: ``rows_of[track_id]`` is a track's row (-1: not in it; its events are left
out) and ``n_rows`` the vocabulary size. Two kinds of counts:

- :func:`window_counts`: pairs of songs at most ``window`` plays apart in one sequence, each weighted by
  its distance d (``uniform`` 1, ``linear`` (window - d + 1) / window: the share of Word2Vec's randomly
  shrunk windows that reach distance d, ``harmonic`` 1 / d: GloVe's). ``directed`` counts (a, b) only
  when b follows a (the transitions baseline); otherwise both orders (a symmetric matrix, as Word2Vec,
  SPPMI and GloVe see a context window).
- :func:`group_counts`: in how many groups (sequences: the MuSE seed's playlist co-occurrence; or artists:
  its artist augmentation) two songs are both found, each group counting a song once.

A song is never its own context: pairs of one song with itself (a song replayed within the window) are
dropped, so the diagonal is empty. Both read the sequences batch by batch (a re-iterable source of
:class:`~songvec.sequences.Sequences`, as :class:`~songvec.sequences.SequenceFile` gives); memory is the
matrix (about 12 bytes per non-zero entry) plus at most :data:`MAX_PAIRS` pairs (16 bytes each) at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from songvec.progress import Progress
from songvec.sequences import Sequences

log = logging.getLogger(__name__)

WEIGHTINGS = ("uniform", "linear", "harmonic")
MAX_PAIRS = 1 << 23
"""Pairs held in memory before they are summed into the matrix (16 bytes each: two int32 rows and a weight)."""


def distance_weights(window: int, weighting: str) -> np.ndarray:
    """(window,) weight of a pair at distance 1, 2, ..., ``window`` (one of :data:`WEIGHTINGS`)."""
    if int(window) != window or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    distances = np.arange(1, int(window) + 1, dtype=np.float64)
    if weighting == "uniform":
        return np.ones(int(window))
    if weighting == "linear":
        return (window - distances + 1) / window
    if weighting == "harmonic":
        return 1.0 / distances
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def window_counts(batches: Iterable[Sequences], rows_of: np.ndarray, n_rows: int, window: int,
                  weighting: str = "uniform", directed: bool = False,
                  logger: logging.Logger | None = None) -> sp.csr_matrix:
    """(n_rows, n_rows) float64 CSR of the weighted counts of song pairs at most ``window`` plays apart.

    Entry (a, b): the sum of the weights (:func:`distance_weights`) of the occurrences of b within
    ``window`` plays after a, plus, unless ``directed``, of a within ``window`` plays after b (so the
    matrix is symmetric). Sorted indices, no explicit zeros, empty diagonal.
    """
    weights = distance_weights(window, weighting)
    total = sp.csr_matrix((n_rows, n_rows), dtype=np.float64)
    progress = Progress(f"co-occurrence counts (window {window})", getattr(batches, "n_events", None), "events",
                        logger or log)
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_pending = 0
    for batch in batches:
        rows = _rows(batch.tracks, rows_of, n_rows)
        position = np.arange(batch.n_events) - np.repeat(batch.offsets[:-1], batch.lengths)
        remaining = np.repeat(batch.lengths, batch.lengths) - position - 1  # plays after each one in its sequence
        for distance in range(1, int(window) + 1):
            first = np.flatnonzero(remaining[:max(len(rows) - distance, 0)] >= distance)
            a, b = rows[first], rows[first + distance]
            kept = (a != b) & (a >= 0) & (b >= 0)
            if kept.any():
                pending.append((a[kept], b[kept], np.full(int(kept.sum()), weights[distance - 1])))
                n_pending += int(kept.sum())
            if n_pending >= MAX_PAIRS:
                total = total + _summed(pending, n_rows)
                pending, n_pending = [], 0
        progress.update(batch.n_events)
    if pending:
        total = total + _summed(pending, n_rows)
    progress.finish()
    counts = total if directed else total + total.T
    return _canonical(counts)


def group_counts(groups: np.ndarray, rows: np.ndarray, n_rows: int) -> sp.csr_matrix:
    """(n_rows, n_rows) float64 CSR: entry (a, b), a != b, is the number of distinct groups holding both
    songs a and b; ``groups`` and ``rows`` are (n,) int64 of the same length, one (group, song row) per
    membership (repeats count once; negative groups or rows are left out). Symmetric, empty diagonal."""
    groups, rows = np.asarray(groups, dtype=np.int64), np.asarray(rows, dtype=np.int64)
    if groups.shape != rows.shape:
        raise ValueError(f"groups and rows must have the same length, got {len(groups)} and {len(rows)}")
    kept = (groups >= 0) & (rows >= 0)
    groups, rows = groups[kept], rows[kept]
    if len(rows) and rows.max() >= n_rows:
        raise ValueError(f"song rows go up to {int(rows.max())}, past the vocabulary of {n_rows}")
    _, group_index = np.unique(groups, return_inverse=True)
    membership = sp.csr_matrix((np.ones(len(rows)), (group_index, rows)),
                               shape=(int(group_index.max()) + 1 if len(rows) else 0, n_rows))
    membership.data[:] = 1.0  # a song repeated in a group counts once
    counts = (membership.T @ membership).tocsr()
    counts.setdiag(0.0)
    return _canonical(counts)


def sequence_counts(batches: Iterable[Sequences], rows_of: np.ndarray, n_rows: int,
                    logger: logging.Logger | None = None) -> sp.csr_matrix:
    """:func:`group_counts` of the sequences: in how many sequences two songs are both played (the MuSE
    seed's playlist co-occurrence). Costs the sum over sequences of their distinct songs squared: meant for
    playlists and short histories, not for LFM-1b's histories of thousands of plays."""
    total = sp.csr_matrix((n_rows, n_rows), dtype=np.float64)
    progress = Progress("sequence co-occurrence counts", getattr(batches, "n_events", None), "events",
                        logger or log)
    for batch in batches:
        sequence = np.repeat(np.arange(len(batch), dtype=np.int64), batch.lengths)
        total = total + group_counts(sequence, _rows(batch.tracks, rows_of, n_rows), n_rows)
        progress.update(batch.n_events)
    progress.finish()
    return _canonical(total)


def pairs_by_window(batches: Iterable[Sequences], rows_of: np.ndarray, n_rows: int, max_window: int,
                    logger: logging.Logger | None = None) -> tuple[int, ...]:
    """The non-zero entries of :func:`window_counts` (not directed) for every window 1, 2, ..., ``max_window``
    in one pass: entry w-1 counts the ordered pairs (a, b), a != b, played at most w plays apart somewhere
    (what a model's cost per pass over the matrix grows with). Memory: 9 bytes per distinct pair within
    ``max_window``, plus at most :data:`MAX_PAIRS` pairs."""
    if int(max_window) != max_window or max_window < 1:
        raise ValueError(f"max_window must be an integer >= 1, got {max_window!r}")
    keys, distances = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8 if max_window < 128 else np.int32)
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    n_pending = 0
    progress = Progress(f"co-occurring pairs by window (up to {max_window})", getattr(batches, "n_events", None),
                        "events", logger or log)
    for batch in batches:
        rows = _rows(batch.tracks, rows_of, n_rows)
        position = np.arange(batch.n_events) - np.repeat(batch.offsets[:-1], batch.lengths)
        remaining = np.repeat(batch.lengths, batch.lengths) - position - 1
        for distance in range(1, int(max_window) + 1):
            first = np.flatnonzero(remaining[:max(len(rows) - distance, 0)] >= distance)
            a, b = rows[first], rows[first + distance]
            kept = (a != b) & (a >= 0) & (b >= 0)
            a, b = a[kept], b[kept]
            pending.append((np.minimum(a, b) * n_rows + np.maximum(a, b), np.full(len(a), distance, distances.dtype)))
            n_pending += len(a)
            if n_pending >= MAX_PAIRS:
                keys, distances = _nearest(keys, distances, pending)
                pending, n_pending = [], 0
        progress.update(batch.n_events)
    keys, distances = _nearest(keys, distances, pending)
    progress.finish()
    within = np.cumsum(np.bincount(distances, minlength=int(max_window) + 1)[1:])
    return tuple(int(2 * n) for n in within)


def _nearest(keys: np.ndarray, distances: np.ndarray, pending: list[tuple[np.ndarray, np.ndarray]]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pair keys with their smallest distance, of ``keys``/``distances`` and the ``pending`` ones."""
    keys = np.concatenate([keys, *(p[0] for p in pending)])
    distances = np.concatenate([distances, *(p[1] for p in pending)])
    order = np.lexsort((distances, keys))
    keys, distances = keys[order], distances[order]
    first = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    return keys[first], distances[first]


def _rows(tracks: np.ndarray, rows_of: np.ndarray, n_rows: int) -> np.ndarray:
    """(E,) int64 vocabulary row of each event's track, -1 when it has none."""
    rows = np.full(len(tracks), -1, dtype=np.int64)
    inside = (tracks >= 0) & (tracks < len(rows_of))
    rows[inside] = rows_of[tracks[inside]]
    if len(rows) and rows.max() >= n_rows:
        raise ValueError(f"rows_of maps tracks to rows past the vocabulary of {n_rows}")
    return rows


def _summed(pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_rows: int) -> sp.csr_matrix:
    """The pending (a, b, weight) pairs summed into a CSR matrix (duplicates added)."""
    index = np.int32 if n_rows < 2 ** 31 else np.int64
    a = np.concatenate([p[0] for p in pending]).astype(index)
    b = np.concatenate([p[1] for p in pending]).astype(index)
    return sp.coo_matrix((np.concatenate([p[2] for p in pending]), (a, b)), shape=(n_rows, n_rows)).tocsr()


def _canonical(counts: sp.spmatrix) -> sp.csr_matrix:
    counts = sp.csr_matrix(counts, dtype=np.float64)
    counts.eliminate_zeros()
    counts.sort_indices()
    return counts
