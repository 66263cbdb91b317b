import logging
import os
import tempfile
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec.hard_negatives import (
    SPILL_PREFIX, _merge_sorted_runs, chi2_statistic, count_bigrams, hard_negative_rate,
    mine_hard_negatives, sample_songs, songs_with_hard_negatives)
from songvec.sequences import Sequences

SPILL_COUNTS = ("n_batches", "n_partitions", "spilled_bytes")
"""Summary entries that describe how the mining ran, not its result."""


def naive_bigrams(track_lists):
    """Reference: Counter of unordered adjacent pairs, and the number of skipped self-repeats."""
    pairs, repeats = Counter(), 0
    for tracks in track_lists:
        for a, b in zip(tracks[:-1], tracks[1:]):
            if a == b:
                repeats += 1
            else:
                pairs[(min(a, b), max(a, b))] += 1
    return pairs, repeats


def naive_hard_negatives(track_lists, min_cooccurrence, chi2_factor):
    """Reference: per pair, the 2x2 table over bigram instances through scipy."""
    pairs, _ = naive_bigrams(track_lists)
    total = sum(pairs.values())
    containing = Counter()
    for (a, b), n in pairs.items():
        containing[a] += n
        containing[b] += n
    threshold = chi2_factor * sum(len(t) for t in track_lists)
    hard = {}
    for (a, b), n in pairs.items():
        if n < min_cooccurrence:
            continue
        table = [[n, containing[a] - n], [containing[b] - n, total - containing[a] - containing[b] + n]]
        if min(containing[a], containing[b]) == 0 or max(containing[a], containing[b]) == total:
            chi2 = 0.0
        else:
            chi2 = scipy.stats.chi2_contingency(table, correction=False).statistic
        if chi2 < threshold:
            hard[(a, b)] = (n, chi2)
    return hard


def as_counter(bigrams):
    return Counter({(a, b): n for a, b, n in zip(bigrams.song_a.tolist(), bigrams.song_b.tolist(),
                                                 bigrams.count.tolist())})


# --- bigram counting --------------------------------------------------------------------------

def test_bigrams_by_hand_skip_boundaries_and_self_repeats():
    # the 7 | 7 and 5 | 9 junctions between sequences are not bigrams; 3,3 is a self-repeat
    seqs = Sequences.from_track_lists([[5, 3, 3, 5, 7], [], [7, 5], [9]])
    bigrams = count_bigrams(seqs)
    assert bigrams.song_a.tolist() == [3, 5]
    assert bigrams.song_b.tolist() == [5, 7]
    assert bigrams.count.tolist() == [2, 2]
    assert bigrams.n_instances == 4
    assert bigrams.n_self_repeats == 1


def test_bigrams_of_empty_and_single_event_sequences():
    assert count_bigrams(Sequences.from_track_lists([])).n_instances == 0
    bigrams = count_bigrams(Sequences.from_track_lists([[4], [], [4], [4, 4]]))
    assert len(bigrams.count) == 0 and bigrams.n_self_repeats == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=12), max_size=8),
       st.sampled_from([1, (2**31 - 1) // 6]))
def test_bigrams_match_naive_counter(track_lists, scale):
    # the second scale puts ids up to 2**31 - 2: both halves of a pair key use all 31 bits
    track_lists = [[scale * x for x in t] for t in track_lists]
    bigrams = count_bigrams(Sequences.from_track_lists(track_lists))
    expected, repeats = naive_bigrams(track_lists)
    assert as_counter(bigrams) == expected
    assert bigrams.n_self_repeats == repeats
    assert np.all(bigrams.song_a < bigrams.song_b)
    keys = list(zip(bigrams.song_a.tolist(), bigrams.song_b.tolist()))
    assert keys == sorted(keys)


def test_bigrams_match_naive_counter_on_larger_random_data():
    rng = np.random.default_rng(3)
    track_lists = [rng.zipf(1.5, rng.integers(0, 300)).tolist() for _ in range(60)]
    bigrams = count_bigrams(Sequences.from_track_lists(track_lists))
    expected, repeats = naive_bigrams(track_lists)
    assert as_counter(bigrams) == expected and bigrams.n_self_repeats == repeats


@pytest.mark.parametrize("bad_id", [-3, 2**31, 10**12])
def test_track_ids_outside_the_key_range_are_rejected(bad_id):
    with pytest.raises(ValueError, match=rf"track id {bad_id} \(user 1, batch 0\) is outside \[0, 2\*\*31\)"):
        count_bigrams(Sequences.from_track_lists([[1, 2], [5, bad_id, 5]]))
    batches = [Sequences.from_track_lists([[1, 2]]), Sequences.from_track_lists([[bad_id]])]
    with pytest.raises(ValueError, match=r"\(user 0, batch 1\) is outside"):
        mine_hard_negatives(batches, min_cooccurrence=1)


def test_inconsistent_offsets_are_rejected():
    seqs = Sequences.from_track_lists([[1, 2, 3]])
    seqs.offsets = np.array([0, 5], dtype=np.int64)
    with pytest.raises(ValueError, match="offsets"):
        count_bigrams(seqs)


# --- chi-squared ------------------------------------------------------------------------------

def test_chi2_by_hand():
    # table [[10, 20], [30, 40]]: 100 * (10*100 - 30*40)**2 / (30*70*40*60) = 4e6 / 5.04e6
    assert chi2_statistic(10, 30, 40, 100) == pytest.approx(4e6 / 5.04e6, rel=1e-12)
    # independence exactly: n_ab = n_a * n_b / n_total
    assert chi2_statistic(12, 30, 40, 100) == 0.0


def test_chi2_matches_scipy_on_random_tables():
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 8, size=(600, 4))
    cells[::7, 1] = 0      # sparse tables with zeros in different cells
    cells[::11, 2] = 0
    n_ab, n_a_only, n_b_only, rest = cells.T
    n_a, n_b, n_total = n_ab + n_a_only, n_ab + n_b_only, cells.sum(axis=1)
    got = chi2_statistic(n_ab, n_a, n_b, n_total)
    for i in range(len(cells)):
        table = [[n_ab[i], n_a_only[i]], [n_b_only[i], rest[i]]]
        if min(n_a[i], n_b[i]) == 0 or max(n_a[i], n_b[i]) == n_total[i]:
            assert got[i] == 0.0  # zero margin: defined as 0 (scipy raises on zero expected counts)
        else:
            want = scipy.stats.chi2_contingency(table, correction=False).statistic
            assert got[i] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_chi2_degenerate_tables_are_zero():
    assert chi2_statistic([0, 0, 5, 3], [0, 4, 5, 3], [3, 0, 7, 10], [10, 10, 7, 10]).tolist() == \
        [0.0, 0.0, 0.0, 0.0]


def test_chi2_rejects_impossible_tables():
    with pytest.raises(ValueError, match="inconsistent"):
        chi2_statistic(5, 3, 10, 20)  # n_ab > n_a
    with pytest.raises(ValueError, match="inconsistent"):
        chi2_statistic(1, 8, 8, 10)   # n_a + n_b - n_ab > n_total


# --- hard negatives ---------------------------------------------------------------------------

HAND_CORPUS = [[1, 2, 1, 2, 1], [3, 4, 5], [1, 3]]
# 10 events, 7 bigram instances: {1,2} x4, {3,4}, {4,5}, {1,3}; containing: 1:5, 2:4, 3:2, 4:2, 5:1
# chi2 = 7 * (n_ab*7 - n_a*n_b)**2 / (n_a (7-n_a) n_b (7-n_b)):
#   {1,2}: 7*64/120 = 3.7333   {3,4}: 63/100 = 0.63   {4,5}: 175/60 = 2.9167   {1,3}: 63/100 = 0.63


def one_sequence_batches(track_lists):
    return [Sequences.from_track_lists([tracks]) for tracks in track_lists]


def mine_in_memory(track_lists, min_cooccurrence, chi2_factor):
    return mine_hard_negatives(Sequences.from_track_lists(track_lists), min_cooccurrence, chi2_factor)


def mine_streamed_tiny_budget(track_lists, min_cooccurrence, chi2_factor):
    """One sequence per batch and a budget of about a tenth of the distinct pairs: many spills."""
    budget_records = max(2, len(naive_bigrams(track_lists)[0]) // 10)
    with tempfile.TemporaryDirectory() as spill_dir:
        result = mine_hard_negatives(one_sequence_batches(track_lists), min_cooccurrence, chi2_factor,
                                     memory_budget_bytes=32 * budget_records, spill_dir=spill_dir)
        assert os.listdir(spill_dir) == []
    assert result[1]["spilled_bytes"] > 0 and result[1]["n_partitions"] > 1
    return result


MINERS = pytest.mark.parametrize("mine", [mine_in_memory, mine_streamed_tiny_budget])


@MINERS
def test_hard_negatives_by_hand(mine):
    pairs, summary = mine(HAND_CORPUS, min_cooccurrence=1, chi2_factor=0.2)  # threshold 0.2 * 10 events = 2
    assert list(pairs.columns) == ["song_a", "song_b", "cooccurrences", "chi2"]
    assert pairs[["song_a", "song_b"]].values.tolist() == [[1, 3], [3, 4]]
    assert pairs["cooccurrences"].tolist() == [1, 1]
    assert pairs["chi2"].tolist() == pytest.approx([0.63, 0.63])
    assert summary["n_events"] == 10 and summary["n_bigram_instances"] == 7
    assert summary["n_distinct_pairs"] == 4 and summary["n_pairs_min_cooccurrence"] == 4
    assert summary["chi2_threshold"] == pytest.approx(2.0)
    assert summary["n_hard_negative_pairs"] == 2
    assert summary["n_songs_with_hard_negatives"] == 3  # songs 1, 3, 4
    assert summary["mean_hard_negatives_per_song"] == pytest.approx(4 / 3)


@MINERS
def test_hard_negatives_by_hand_cooccurrence_threshold(mine):
    pairs, summary = mine(HAND_CORPUS, min_cooccurrence=2, chi2_factor=0.2)
    assert len(pairs) == 0 and summary["n_pairs_min_cooccurrence"] == 1
    assert summary["mean_hard_negatives_per_song"] == 0.0
    pairs, _ = mine(HAND_CORPUS, min_cooccurrence=2, chi2_factor=0.4)  # threshold 4
    assert pairs.values.tolist() == [[1, 2, 4, pytest.approx(7 * 64 / 120)]]


@MINERS
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hard_negatives_match_naive_reference(mine, seed):
    rng = np.random.default_rng(seed)
    track_lists = [(rng.zipf(1.3, rng.integers(0, 200)) % 40).tolist() for _ in range(50)]
    pairs, summary = mine(track_lists, min_cooccurrence=3, chi2_factor=1e-3)
    expected = naive_hard_negatives(track_lists, 3, 1e-3)
    got = {(a, b): (n, c) for a, b, n, c in pairs.itertuples(index=False)}
    assert got.keys() == expected.keys()
    assert len(got) > 0  # the data must exercise the selection
    for key, (n, chi2) in expected.items():
        assert got[key][0] == n and got[key][1] == pytest.approx(chi2, rel=1e-9, abs=1e-12)
    assert summary["n_hard_negative_pairs"] == len(expected)


def test_mining_rejects_bad_parameters():
    seqs = Sequences.from_track_lists(HAND_CORPUS)
    with pytest.raises(ValueError, match="min_cooccurrence"):
        mine_hard_negatives(seqs, min_cooccurrence=0)
    with pytest.raises(ValueError, match="chi2_factor"):
        mine_hard_negatives(seqs, min_cooccurrence=1, chi2_factor=-1.0)
    with pytest.raises(ValueError, match="memory_budget_bytes"):
        mine_hard_negatives(seqs, min_cooccurrence=1, memory_budget_bytes=16)


# --- bounded memory: batches and spilled partitions -------------------------------------------

def zipf_track_lists(rng, n_sequences, n_songs, exponent=1.3, id_spread=1):
    """Sequences of Zipf-distributed songs (ids spread over ``[0, id_spread * n_songs)``)."""
    ids = np.sort(rng.choice(id_spread * n_songs, n_songs, replace=False))
    return [ids[(rng.zipf(exponent, rng.integers(0, 150)) - 1) % n_songs].tolist()
            for _ in range(n_sequences)]


def random_batches(track_lists, rng):
    """The sequences cut into consecutive batches of random sizes (empty batches included)."""
    cuts = np.sort(rng.integers(0, len(track_lists) + 1, size=rng.integers(0, 12)))
    bounds = [0, *cuts.tolist(), len(track_lists)]
    return [Sequences.from_track_lists(track_lists[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def assert_same_mining(streamed, in_memory):
    (pairs, summary), (want_pairs, want_summary) = streamed, in_memory
    pd.testing.assert_frame_equal(pairs, want_pairs, check_exact=True)
    assert {k: v for k, v in summary.items() if k not in SPILL_COUNTS} == \
        {k: v for k, v in want_summary.items() if k not in SPILL_COUNTS}


@pytest.mark.parametrize("seed", range(4))
def test_spilled_mining_equals_in_memory_mining(seed, tmp_path):
    rng = np.random.default_rng(seed)
    track_lists = zipf_track_lists(rng, 120, 300, id_spread=1000)
    in_memory = mine_hard_negatives(Sequences.from_track_lists(track_lists), 2, 1e-2)
    assert in_memory[1]["n_partitions"] == 1 and in_memory[1]["spilled_bytes"] == 0
    assert in_memory[1]["n_hard_negative_pairs"] > 20  # the data exercises the selection
    batches = random_batches(track_lists, rng)
    streamed = mine_hard_negatives(iter(batches), 2, 1e-2, memory_budget_bytes=32 * 300,
                                   spill_dir=tmp_path, total_events=sum(map(len, track_lists)))
    assert_same_mining(streamed, in_memory)
    assert streamed[1]["n_batches"] == len(batches)
    assert streamed[1]["n_partitions"] > 5 and streamed[1]["spilled_bytes"] > 0
    assert os.listdir(tmp_path) == []


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(16, 300), st.booleans())
def test_mining_does_not_depend_on_budget_nor_batches(seed, budget_records, known_total):
    rng = np.random.default_rng(seed)
    track_lists = zipf_track_lists(rng, int(rng.integers(0, 40)), 50)
    in_memory = mine_hard_negatives(Sequences.from_track_lists(track_lists), 1, 5e-3)
    with tempfile.TemporaryDirectory() as spill_dir:
        streamed = mine_hard_negatives(
            random_batches(track_lists, rng), 1, 5e-3, memory_budget_bytes=32 * budget_records,
            spill_dir=spill_dir, total_events=sum(map(len, track_lists)) if known_total else None)
        assert os.listdir(spill_dir) == []
    assert_same_mining(streamed, in_memory)


def test_partitions_grown_beyond_the_budget_are_split_again(tmp_path, caplog):
    # without total_events the partitions are sized from the first spill only: later batches
    # overfill them, and each one over the budget is split again with another hash
    rng = np.random.default_rng(7)
    track_lists = zipf_track_lists(rng, 200, 400)
    in_memory = mine_hard_negatives(Sequences.from_track_lists(track_lists), 2, 1e-2)
    with caplog.at_level(logging.INFO, logger="songvec.hard_negatives"):
        streamed = mine_hard_negatives(one_sequence_batches(track_lists), 2, 1e-2,
                                       memory_budget_bytes=32 * 500, spill_dir=tmp_path)
    assert "split into" in caplog.text and "beyond the budget" not in caplog.text
    assert_same_mining(streamed, in_memory)
    assert os.listdir(tmp_path) == []


def test_spill_folder_removed_after_an_error_mid_stream(tmp_path):
    track_lists = zipf_track_lists(np.random.default_rng(1), 60, 100)
    seen_spill_folders = []

    def failing_batches():
        yield from one_sequence_batches(track_lists)
        seen_spill_folders.extend(os.listdir(tmp_path))
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        mine_hard_negatives(failing_batches(), 1, 1e-3, memory_budget_bytes=32 * 50, spill_dir=tmp_path)
    assert len(seen_spill_folders) == 1 and seen_spill_folders[0].startswith(SPILL_PREFIX)
    assert os.listdir(tmp_path) == []


def test_leftover_spill_folders_of_a_killed_run_are_removed(tmp_path):
    leftover = tmp_path / f"{SPILL_PREFIX}killed"
    leftover.mkdir()
    (leftover / "p-0.keys").write_bytes(b"\0" * 8)
    (tmp_path / "hard_negatives.parquet").write_text("another output")
    mine_hard_negatives(Sequences.from_track_lists(HAND_CORPUS), 1, 0.2, spill_dir=tmp_path)
    assert os.listdir(tmp_path) == ["hard_negatives.parquet"]


@pytest.mark.parametrize("batches", [[], [Sequences.from_track_lists([])],
                                     [Sequences.from_track_lists([[3], [], [4, 4]])]])
def test_mining_empty_input(batches, tmp_path):
    pairs, summary = mine_hard_negatives(batches, 1, 0.1, memory_budget_bytes=32, spill_dir=tmp_path)
    assert list(pairs.columns) == ["song_a", "song_b", "cooccurrences", "chi2"] and len(pairs) == 0
    assert pairs.dtypes.tolist() == [np.int64, np.int64, np.int64, np.float64]
    assert summary["n_bigram_instances"] == summary["n_distinct_pairs"] == 0
    assert summary["n_songs_in_bigrams"] == summary["n_hard_negative_pairs"] == 0
    assert summary["n_batches"] == len(batches) and summary["spilled_bytes"] == 0
    assert summary["n_events"] == sum(b.n_events for b in batches)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 5)), max_size=15), max_size=6))
def test_merge_sorted_runs_matches_counter(runs):
    # records as the spill writes them: runs of increasing distinct keys, then arbitrary order too
    runs = [sorted(dict(run).items()) for run in runs]
    records = [record for run in runs for record in run]
    want = Counter()
    for key, count in records:
        want[key] += count
    for order in (records, records[::-1]):
        merged = np.array(order, dtype=np.int64).reshape(-1, 2)
        n = _merge_sorted_runs(merged)
        assert merged[:n].tolist() == [[k, want[k]] for k in sorted(want)]


# --- HardNeg ----------------------------------------------------------------------------------

PAIRS = pd.DataFrame({"song_a": [1, 1, 3], "song_b": [2, 3, 4], "cooccurrences": [5, 5, 5],
                      "chi2": [0.1, 0.1, 0.1]})


def test_hard_negative_rate_by_hand():
    neighbors = np.array([[2, 3, 4, -1],   # query 1: 2 and 3 are hard negatives -> 2/4
                          [3, 1, 2, 5],    # query 4: only 3 -> 1/4
                          [1, 2, 3, 4],    # query 9: none
                          [4, 1, 7, 8]])   # query 3: 4 and 1 -> 2/4
    rates = hard_negative_rate(neighbors, np.array([1, 4, 9, 3]), PAIRS)
    assert rates.tolist() == [0.5, 0.25, 0.0, 0.5]


def test_hard_negative_rate_without_pairs_is_zero():
    empty = PAIRS.iloc[:0]
    assert hard_negative_rate(np.array([[1, 2]]), np.array([3]), empty).tolist() == [0.0]


def test_hard_negative_rate_matches_naive_loop():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 60, 300)
    b = rng.integers(0, 60, 300)
    keep = a < b
    pairs = pd.DataFrame({"song_a": a[keep], "song_b": b[keep]}).drop_duplicates()
    hard = {frozenset(p) for p in pairs.itertuples(index=False)}
    queries = rng.integers(0, 70, 200)
    neighbors = rng.integers(-1, 70, (200, 10))
    want = [np.mean([frozenset((q, n)) in hard for n in row]) for q, row in zip(queries, neighbors)]
    got = hard_negative_rate(neighbors, queries, pairs)
    assert got.tolist() == pytest.approx(want)
    assert 0 < got.mean() < 1


def test_hard_negative_rate_rejects_bad_shapes():
    with pytest.raises(ValueError, match="neighbor_ids"):
        hard_negative_rate(np.array([1, 2]), np.array([1, 2]), PAIRS)


def test_songs_with_hard_negatives_and_sampling():
    assert songs_with_hard_negatives(PAIRS).tolist() == [1, 2, 3, 4]
    candidates = np.array([7, 3, 3, 9, 1, 12, 5])
    sample = sample_songs(candidates, 3, seed=4)
    assert len(sample) == 3 and len(set(sample.tolist())) == 3
    assert set(sample.tolist()) <= set(candidates.tolist())
    assert sample.tolist() == sorted(sample.tolist())
    assert np.array_equal(sample, sample_songs(candidates, 3, seed=4))
    assert sample_songs(candidates, 10, seed=0).tolist() == [1, 3, 5, 7, 9, 12]
    with pytest.raises(ValueError, match="n must be"):
        sample_songs(candidates, -1, seed=0)
