import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec.neighbors import normalize, require_unit_rows, top_k


def naive_top_k(queries, base, k, exclude):
    """Sort every (score, index) pair in Python: decreasing score, then increasing index."""
    indices, scores = [], []
    for i, query in enumerate(queries.astype(np.float64)):
        candidates = [(-float(query @ row), j) for j, row in enumerate(base.astype(np.float64))
                      if exclude is None or j != exclude[i]]
        best = sorted(candidates)[:k]
        indices.append([j for _, j in best])
        scores.append([-s for s, _ in best])
    return indices, scores  # lists of lists: rows may be shorter than k


def integer_vectors(rng, n, d, low=-3, high=4):
    """Small-integer float32 vectors: every dot product is exact in float32, many scores tie."""
    return rng.integers(low, high, size=(n, d)).astype(np.float32)


def test_normalize_unit_rows_zero_rows_stay_zero_input_untouched():
    vectors = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    before = vectors.copy()
    out = normalize(vectors)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], rtol=1e-7)
    assert np.array_equal(vectors, before)
    with pytest.raises(ValueError, match="NaN"):
        normalize(np.array([[1.0, np.nan]]))


def test_require_unit_rows():
    require_unit_rows(normalize(np.array([[3.0, 4.0], [0.0, 0.0]])))
    with pytest.raises(ValueError, match="row 1 has norm 2"):
        require_unit_rows(np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32))


def test_by_hand_order_ties_and_exclusion():
    base = np.array([[1, 0], [0, 1], [1, 0], [1, 1], [-1, 0]], dtype=np.float32)
    queries = np.array([[1, 0], [2, 1]], dtype=np.float32)
    # query 0 scores: 1, 0, 1, 1, -1 -> ties 0 < 2 < 3, then 1, then 4; row 2 excluded
    # query 1 scores: 2, 1, 2, 3, -2
    indices, scores = top_k(queries, base, 3, exclude=np.array([2, -1]))
    assert indices.tolist() == [[0, 3, 1], [3, 0, 2]]
    assert scores.tolist() == [[1, 1, 0], [3, 2, 2]]
    assert indices.dtype == np.int64 and scores.dtype == np.float32


@pytest.mark.parametrize("block_rows, block_cols, threads", [(128, 2048, 1), (7, 13, 2), (1, 1, 1),
                                                             (50, 64, 3)])
def test_matches_naive_on_integer_data_with_ties(block_rows, block_cols, threads):
    rng = np.random.default_rng(3)
    base = integer_vectors(rng, 300, 5)
    queries = np.vstack([base[:20], integer_vectors(rng, 10, 5)])
    exclude = np.r_[np.arange(20), np.full(10, -1)]
    indices, scores = top_k(queries, base, 25, exclude=exclude, block_rows=block_rows,
                            block_cols=block_cols, threads=threads)
    ref_indices, ref_scores = naive_top_k(queries, base, 25, exclude)
    assert indices.tolist() == ref_indices
    assert scores.tolist() == ref_scores
    assert not (indices == exclude[:, None]).any()


def test_matches_float64_reference_on_continuous_data():
    rng = np.random.default_rng(11)
    base = normalize(rng.standard_normal((2000, 32)))
    rows = rng.choice(2000, 100, replace=False)
    indices, scores = top_k(base[rows], base, 50, exclude=rows, block_rows=16, block_cols=300)
    sims = base[rows].astype(np.float64) @ base.T.astype(np.float64)
    sims[np.arange(100), rows] = -np.inf
    ref = np.argsort(-sims, axis=1, kind="stable")[:, :50]
    np.testing.assert_allclose(scores, np.take_along_axis(sims, ref, axis=1), atol=1e-6)
    # positions whose reference score is well separated from its neighbours must agree exactly
    ref_scores = np.take_along_axis(sims, ref, axis=1)
    gaps = np.minimum(np.abs(np.diff(ref_scores, axis=1, prepend=np.inf)),
                      np.abs(np.diff(ref_scores, axis=1, append=-np.inf)))
    separated = gaps > 1e-5
    assert separated.mean() > 0.99
    assert np.array_equal(indices[separated], ref[separated])


def test_k_at_least_n_is_graceful(caplog):
    base = np.eye(4, dtype=np.float32)
    # k = N - 1 with exclusion: every other row exactly once
    indices, scores = top_k(base, base, 3, exclude=np.arange(4))
    assert sorted(indices[2].tolist()) == [0, 1, 3]
    # k = N with exclusion: one slot cannot be filled -> -1 / -inf; without exclusion it is
    indices, scores = top_k(base[:2], base, 4, exclude=np.array([1, -1]))
    assert indices.tolist() == [[0, 2, 3, -1], [1, 0, 2, 3]]  # row 1 scores 1, the others 0
    assert scores[0, 3] == -np.inf and np.isfinite(scores[1]).all()
    with caplog.at_level(logging.WARNING, logger="songvec.neighbors"):
        indices, _ = top_k(base, base, 10)
    assert indices.shape == (4, 4) and "exceeds" in caplog.text


def test_empty_queries():
    indices, scores = top_k(np.zeros((0, 3), np.float32), np.eye(3, dtype=np.float32), 2)
    assert indices.shape == (0, 2) and scores.shape == (0, 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(queries=np.zeros((2, 3))), "float32"),
    (dict(queries=np.zeros((2, 4), np.float32)), "dimensions"),
    (dict(exclude=np.array([0, 5])), r"\[0, 5\)"),
    (dict(exclude=np.array([0])), "shape"),
    (dict(k=0), "k must be"),
    (dict(queries=np.full((2, 3), np.nan, np.float32)), "NaN"),
])
def test_rejects_bad_input(kwargs, message):
    arguments = dict(queries=np.zeros((2, 3), np.float32), base=np.eye(5, 3, dtype=np.float32), k=2)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        top_k(**arguments)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_matches_naive(data):
    n_base = data.draw(st.integers(1, 40))
    n_queries = data.draw(st.integers(1, 8))
    d = data.draw(st.integers(1, 4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    base = integer_vectors(rng, n_base, d, -2, 3)
    queries = integer_vectors(rng, n_queries, d, -2, 3)
    exclude = rng.integers(-1, n_base, n_queries)
    k = data.draw(st.integers(1, n_base))
    block_rows = data.draw(st.integers(1, 9))
    block_cols = data.draw(st.integers(1, 45))
    indices, scores = top_k(queries, base, k, exclude=exclude, block_rows=block_rows,
                            block_cols=block_cols, threads=data.draw(st.integers(1, 3)))
    ref_indices, ref_scores = naive_top_k(queries, base, k, exclude)
    for i in range(n_queries):
        n_found = len(ref_indices[i])
        assert indices[i, :n_found].tolist() == ref_indices[i]
        assert scores[i, :n_found].tolist() == ref_scores[i]
        assert (indices[i, n_found:] == -1).all() and (scores[i, n_found:] == -np.inf).all()
