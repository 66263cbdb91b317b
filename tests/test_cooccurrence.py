"""Co-occurrence counts against hand-computed cases and naive loops, in any batching."""

import numpy as np
import pytest

from songvec import cooccurrence
from songvec.sequences import Sequences

TRACKS = [[10, 11, 12, 10], [12, 13], [11]]  # rows: 10 -> 0, 11 -> 1, 12 -> 2, 13 -> 3


def rows_of(n_tracks=20):
    lookup = np.full(n_tracks, -1, dtype=np.int64)
    lookup[[10, 11, 12, 13]] = [0, 1, 2, 3]
    return lookup


def naive_window(track_lists, lookup, n, window, weights, directed):
    counts = np.zeros((n, n))
    for tracks in track_lists:
        for i, a in enumerate(tracks):
            for d in range(1, window + 1):
                if i + d < len(tracks) and lookup[a] >= 0 and lookup[tracks[i + d]] >= 0 and a != tracks[i + d]:
                    counts[lookup[a], lookup[tracks[i + d]]] += weights[d - 1]
                    if not directed:
                        counts[lookup[tracks[i + d]], lookup[a]] += weights[d - 1]
    return counts


def test_window_counts_by_hand():
    seqs = [Sequences.from_track_lists(TRACKS)]
    forward = cooccurrence.window_counts(seqs, rows_of(), 4, window=2, directed=True).toarray()
    # 10->11, 11->12, 12->10 at distance 1; 10->12, 11->10 at 2; 12->13 at 1; (10, 10) never (no self pair)
    expected = np.zeros((4, 4))
    for a, b in [(0, 1), (1, 2), (2, 0), (0, 2), (1, 0), (2, 3)]:
        expected[a, b] += 1
    np.testing.assert_array_equal(forward, expected)
    both = cooccurrence.window_counts(seqs, rows_of(), 4, window=2, weighting="harmonic").toarray()
    assert both[0, 1] == both[1, 0] == 1 + 0.5  # 10->11 at 1, 11->10 at 2
    assert both[0, 0] == 0 and both[2, 3] == both[3, 2] == 1
    linear = cooccurrence.window_counts(seqs, rows_of(), 4, window=2, weighting="linear").toarray()
    assert linear[0, 2] == 1 + 0.5  # 12->10 at distance 1 (weight 1), 10->12 at distance 2 ((2 - 2 + 1) / 2)


@pytest.mark.parametrize("window, weighting, directed", [(1, "uniform", True), (3, "harmonic", False),
                                                        (5, "linear", False), (7, "uniform", True)])
def test_window_counts_equal_naive_loops_in_any_batching(window, weighting, directed, monkeypatch):
    rng = np.random.default_rng(window)
    lengths = rng.integers(0, 30, 60)
    track_lists = [list(rng.integers(0, 25, n)) for n in lengths]
    lookup = np.full(30, -1, dtype=np.int64)
    lookup[:22] = rng.permutation(22)  # tracks 22-29 are out of the vocabulary
    weights = cooccurrence.distance_weights(window, weighting)
    expected = naive_window(track_lists, lookup, 22, window, weights, directed)
    whole = Sequences.from_track_lists(track_lists)
    batches = [Sequences.from_track_lists(track_lists[i:i + 7]) for i in range(0, 60, 7)]
    monkeypatch.setattr(cooccurrence, "MAX_PAIRS", 50)  # sum the pairs into the matrix many times
    for source in ([whole], batches):
        got = cooccurrence.window_counts(source, lookup, 22, window, weighting, directed)
        np.testing.assert_allclose(got.toarray(), expected, rtol=1e-12)
        assert got.has_sorted_indices and not (got.data == 0).any() and not got.diagonal().any()


def test_pairs_by_window_count_the_entries_of_each_window(monkeypatch):
    rng = np.random.default_rng(3)
    track_lists = [list(rng.integers(0, 15, n)) for n in rng.integers(0, 25, 40)]
    lookup = np.arange(15)
    monkeypatch.setattr(cooccurrence, "MAX_PAIRS", 30)
    batches = [Sequences.from_track_lists(track_lists[i:i + 6]) for i in range(0, 40, 6)]
    found = cooccurrence.pairs_by_window(batches, lookup, 15, 9)
    assert len(found) == 9
    for window in range(1, 10):
        assert found[window - 1] == cooccurrence.window_counts(batches, lookup, 15, window).nnz


def test_group_and_sequence_counts_by_hand():
    # groups 0: songs {0, 1, 2}, 1: {1, 2} (song 2 twice), 5: {3}; a negative group or row is left out
    counts = cooccurrence.group_counts([0, 0, 0, 1, 1, 1, 5, -1, 0], [0, 1, 2, 1, 2, 2, 3, 0, -1], 4).toarray()
    expected = np.zeros((4, 4))
    expected[0, 1] = expected[1, 0] = expected[0, 2] = expected[2, 0] = 1
    expected[1, 2] = expected[2, 1] = 2
    np.testing.assert_array_equal(counts, expected)
    batches = [Sequences.from_track_lists(TRACKS[:2]), Sequences.from_track_lists(TRACKS[2:])]
    by_sequence = cooccurrence.sequence_counts(batches, rows_of(), 4).toarray()
    expected = np.zeros((4, 4))
    for a, b in [(0, 1), (0, 2), (1, 2), (2, 3)]:
        expected[a, b] = expected[b, a] = 1
    np.testing.assert_array_equal(by_sequence, expected)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="weighting must be one of"):
        cooccurrence.distance_weights(3, "cubic")
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        cooccurrence.window_counts([Sequences.from_track_lists(TRACKS)], rows_of(), 4, 0)
    with pytest.raises(ValueError, match="past the vocabulary"):
        cooccurrence.group_counts([0, 0], [0, 7], 4)
