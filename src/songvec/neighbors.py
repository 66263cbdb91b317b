"""Exact cosine nearest neighbours: normalisation and blocked top-k search on top of BLAS.

:func:`top_k` computes the exact top-``k`` inner products of every query against every base row
(cosine similarity once the rows are L2-normalised with :func:`normalize`). The work is cut into
tiles of ``block_rows`` queries x ``block_cols`` base rows: each worker thread multiplies one tile
with single-threaded BLAS (``numpy.matmul``, float32) into a buffer small enough to stay in the
core's L2 cache, then a compiled scan (numba, ``nogil``, no fast-math) folds the tile into one
bounded heap of the ``k`` best candidates per query. Almost every score is rejected by a single
comparison against the query's current ``k``-th best, so the selection costs a small fraction of
the matrix product and the full ``(Q, N)`` similarity matrix never exists in memory.

Ordering is deterministic: decreasing score, ties broken by the smaller base index. Base tiles are
scanned in increasing index order and a candidate only enters the heap when its score is strictly
greater than the current ``k``-th best, which implements that tie-break exactly. Each score is
one single-threaded float32 BLAS dot product, so the result does not depend on ``threads``.
"Tie" means equal float32 scores: another float32 computation of the same products (a different
BLAS code path or tile shape) can differ in the last bit and so swap two neighbours whose true
similarities differ by less than float32 rounding (~1e-7).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

from songvec.progress import Progress

log = logging.getLogger(__name__)

_EMPTY = np.iinfo(np.int64).max  # index of an unfilled heap slot (worse than every real candidate)
_RUN = 64  # scores checked at once against the k-th best before the scalar heap updates
_blas_controller: ThreadpoolController | None = None


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm: (n, d) any real dtype -> new (n, d) float32 array.

    Zero rows stay zero (they have no direction; their cosine with anything is 0).
    Raises ``ValueError`` on non-finite values (or a norm beyond the float32 range).
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, d), got shape {vectors.shape}")
    out = np.array(vectors, dtype=np.float32, copy=True)
    norms = row_norms(out)
    if not np.isfinite(norms).all():
        raise ValueError("vectors contain NaN, infinite or too large (norm overflows float32) values")
    out /= np.where(norms > 0, norms, 1.0).astype(np.float32)[:, None]
    return out


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """(n,) L2 norm of every row of a 2-D array, in its precision, without an (n, d) temporary."""
    return np.sqrt(np.einsum("ij,ij->i", vectors, vectors))


def require_unit_rows(vectors: np.ndarray, name: str = "vectors", atol: float = 1e-3) -> None:
    """Raise ``ValueError`` unless every row of ``vectors`` has L2 norm 1 (within ``atol``) or 0."""
    norms = row_norms(np.asarray(vectors))
    bad = ~((np.abs(norms - 1.0) <= atol) | (norms == 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must have unit-length rows (use songvec.neighbors.normalize): "
                         f"{int(bad.sum())} rows are not, e.g. row {first} has norm {norms[first]:.6g}")


def top_k(queries: np.ndarray, base: np.ndarray, k: int, exclude: np.ndarray | None = None,
          block_rows: int = 128, block_cols: int = 2048, threads: int = 1,
          ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` base rows by inner product for every query.

    Args:
        queries: (Q, d) float32, L2-normalised rows (then the score is the cosine similarity).
        base: (N, d) float32, L2-normalised rows.
        k: neighbours per query. Clipped to ``N`` (with a warning) when larger.
        exclude: (Q,) int64 or None. ``exclude[i]`` is a base row never returned for query ``i``
            (the query song itself), or -1 for none.
        block_rows, block_cols: tile shape. Memory beyond the outputs:
            ``threads * block_rows * (block_cols * 4 + k * 12)`` bytes (default 2 x ~1.1 MiB);
            the default tile (1 MiB) fits a 1 MiB+ L2 cache.
        threads: worker threads; give the calling rule's ``threads`` (with 1, the search runs in the
            calling thread and no pool is made). BLAS is limited to one thread per call meanwhile
            (process-wide, through threadpoolctl).

    Returns:
        indices (Q, k) int64 and scores (Q, k) float32, each row by decreasing score, ties by
        increasing index. If exclusion leaves a query fewer than ``k`` candidates (only when
        ``k >= N``), its row ends with index -1 and score -inf.
    """
    queries = _as_matrix(queries, "queries")
    base = _as_matrix(base, "base")
    if queries.shape[1] != base.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} dimensions but base has {base.shape[1]}")
    k = _check_positive(k, "k")
    block_rows = _check_positive(block_rows, "block_rows")
    block_cols = _check_positive(block_cols, "block_cols")
    threads = _check_positive(threads, "threads")
    n_queries, n_base = len(queries), len(base)
    exclude = _check_exclude(exclude, n_queries, n_base)
    if k > n_base:
        log.warning("top_k: k=%d exceeds the %d base rows; returning %d neighbours", k, n_base, n_base)
        k = n_base

    indices = np.empty((n_queries, k), dtype=np.int64)
    scores = np.empty((n_queries, k), dtype=np.float32)
    if n_queries == 0 or k == 0:
        return indices, scores

    def search_block(start: int) -> int:
        stop = min(start + block_rows, n_queries)
        block = queries[start:stop]
        heap_scores = np.full((stop - start, k), -np.inf, dtype=np.float32)
        heap_indices = np.full((stop - start, k), _EMPTY, dtype=np.int64)
        tile = np.empty((stop - start, block_cols), dtype=np.float32)
        for col0 in range(0, n_base, block_cols):
            col1 = min(col0 + block_cols, n_base)
            np.matmul(block, base[col0:col1].T, out=tile[:, :col1 - col0])
            _fold_tile(tile, col1 - col0, col0, heap_scores, heap_indices, exclude[start:stop])
        _sort_heaps(heap_scores, heap_indices)
        scores[start:stop] = heap_scores
        indices[start:stop] = heap_indices
        return stop - start

    progress = Progress("top-k search", n_queries, "queries", log)
    starts = range(0, n_queries, block_rows)
    with _single_threaded_blas():
        if threads == 1:
            for start in starts:
                progress.update(search_block(start))
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="top_k") as pool:
                for done in pool.map(search_block, starts):
                    progress.update(done)
    progress.finish()
    unfilled = indices == _EMPTY
    if unfilled.any():
        indices[unfilled] = -1
    return indices, scores


def _as_matrix(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    if array.dtype != np.float32:
        raise ValueError(f"{name} must be float32 (normalize() returns float32), got {array.dtype}")
    array = np.ascontiguousarray(array)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return array


def _check_positive(value, name: str) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_exclude(exclude, n_queries: int, n_base: int) -> np.ndarray:
    if exclude is None:
        return np.full(n_queries, -1, dtype=np.int64)
    exclude = np.asarray(exclude)
    if exclude.shape != (n_queries,) or not np.issubdtype(exclude.dtype, np.integer):
        raise ValueError(f"exclude must be an integer array of shape ({n_queries},), "
                         f"got {exclude.dtype} {exclude.shape}")
    if len(exclude) and (exclude.min() < -1 or exclude.max() >= n_base):
        raise ValueError(f"exclude values must be base rows in [0, {n_base}) or -1")
    return np.ascontiguousarray(exclude, dtype=np.int64)


class _single_threaded_blas:
    """Context manager: BLAS libraries use one thread inside (our own threads share the cores)."""

    def __enter__(self):
        global _blas_controller
        if _blas_controller is None:
            _blas_controller = ThreadpoolController()
        self._limit = _blas_controller.limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        self._limit.restore_original_limits()


@numba.njit(nogil=True, cache=True)
def _is_worse(score_a, index_a, score_b, index_b) -> bool:
    """Candidate a ranks after candidate b: lower score, or equal score and larger index."""
    return score_a < score_b or (score_a == score_b and index_a > index_b)


@numba.njit(nogil=True, cache=True)
def _sift_down(heap_scores, heap_indices, pos, size):
    """Restore the heap below ``pos`` (the root of a heap holds the worst candidate)."""
    score, index = heap_scores[pos], heap_indices[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _is_worse(heap_scores[child + 1], heap_indices[child + 1],
                                          heap_scores[child], heap_indices[child]):
            child += 1
        if not _is_worse(heap_scores[child], heap_indices[child], score, index):
            break
        heap_scores[pos], heap_indices[pos] = heap_scores[child], heap_indices[child]
        pos = child
    heap_scores[pos], heap_indices[pos] = score, index


@numba.njit(nogil=True, cache=True)
def _fold_tile(tile, n_cols, col0, heap_scores, heap_indices, exclude):
    """Fold the scores ``tile[:, :n_cols]`` of base rows ``col0...`` into the per-query heaps.

    Columns arrive in increasing base index, so "strictly greater than the current k-th best"
    is exactly "ranks before it" under the smaller-index tie-break. A vectorised count first
    skips every run of ``_RUN`` scores that has none above the threshold.
    """
    n_full = n_cols - n_cols % _RUN
    for row in range(tile.shape[0]):
        row_scores, row_indices, values = heap_scores[row], heap_indices[row], tile[row]
        threshold = row_scores[0]
        for start in range(0, n_full, _RUN):
            above = 0
            for j in range(_RUN):  # branch-free with a constant trip count: compiles to SIMD
                above += values[start + j] > threshold
            if above:
                threshold = _fold_run(values, start, start + _RUN, col0, exclude[row],
                                      row_scores, row_indices)
        threshold = _fold_run(values, n_full, n_cols, col0, exclude[row], row_scores, row_indices)


@numba.njit(nogil=True, cache=True)
def _fold_run(values, start, stop, col0, skip, row_scores, row_indices):
    """Push the scores ``values[start:stop]`` beating the heap root; return the new threshold."""
    threshold = row_scores[0]
    k = len(row_scores)
    for col in range(start, stop):
        score = values[col]
        if score > threshold and col0 + col != skip:
            row_scores[0], row_indices[0] = score, col0 + col
            _sift_down(row_scores, row_indices, 0, k)
            threshold = row_scores[0]
    return threshold


@numba.njit(nogil=True, cache=True)
def _sort_heaps(heap_scores, heap_indices):
    """Heap-sort every row in place into best-first order."""
    k = heap_scores.shape[1]
    for row in range(heap_scores.shape[0]):
        row_scores, row_indices = heap_scores[row], heap_indices[row]
        for size in range(k - 1, 0, -1):
            row_scores[0], row_scores[size] = row_scores[size], row_scores[0]
            row_indices[0], row_indices[size] = row_indices[size], row_indices[0]
            _sift_down(row_scores, row_indices, 0, size)
