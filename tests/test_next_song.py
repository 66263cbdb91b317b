import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec import next_song
from songvec.neighbors import normalize
from songvec.next_song import (count_out_of_set_pairs, evaluate_pairs, mask_last, out_of_set_pairs,
                               sample_pairs, sample_rows, sampled_out_of_set_pairs, vocabulary_rows)
from songvec.sequences import Sequences, iter_sequences, write_sequences


def sequences_of(track_lists):
    users, tracks = [], []
    for user, seq in enumerate(track_lists):
        users += [user] * len(seq)
        tracks += seq
    n = len(tracks)
    return Sequences.from_events(users, tracks, [t // 10 for t in tracks], np.arange(n))


def random_sequences(rng, n_users=30, n_tracks=40):
    return sequences_of([rng.integers(0, n_tracks, rng.integers(1, 12)).tolist()
                         for _ in range(n_users)])


def masked_and_pairs(batches):
    """mask_last with the masked batches collected in a list."""
    masked = []
    pairs = mask_last(batches, masked.append)
    return masked, pairs


def test_mask_last_by_hand():
    train = sequences_of([[10, 11, 12], [13], [14, 15]])
    (masked,), pairs = masked_and_pairs([train])
    assert masked.user_ids.tolist() == [0, 2]
    assert [masked.track_sequence(i).tolist() for i in range(len(masked))] == [[10, 11], [14]]
    assert masked.artists.tolist() == [1, 1, 1] and masked.timestamps.tolist() == [0, 1, 4]
    assert pairs.to_dict("list") == {"sequence": [0, 2], "position": [2, 1], "query": [11, 14],
                                     "target": [12, 15], "user_id": [0, 2]}
    assert pairs.attrs == {"n_sequences": 3, "n_without_pair": 1}


def test_mask_last_counts_sequences_across_batches(caplog):
    # the sequences of test_mask_last_by_hand in three batches, and an empty one: a batch of only
    # single-event sequences writes nothing
    batches = [sequences_of([[10, 11, 12]]), sequences_of([[13]]), sequences_of([]), sequences_of([[14, 15]])]
    batches[1].user_ids += 1
    batches[3].user_ids += 2
    with caplog.at_level("INFO", logger="songvec.next_song"):
        masked, pairs = masked_and_pairs(batches)
    assert [m.user_ids.tolist() for m in masked] == [[0], [2]]
    assert pairs.to_dict("list")["sequence"] == [0, 2] and pairs["user_id"].tolist() == [0, 2]
    assert pairs.attrs == {"n_sequences": 3, "n_without_pair": 1}
    assert "in-set pairs: 2 from 3 training sequences (1 sequences have fewer than 2 events" in caplog.text
    assert "1 single-event sequences leave the training data" in caplog.text
    masked, pairs = masked_and_pairs([sequences_of([[5]])])
    assert masked == [] and len(pairs) == 0 and list(pairs.columns) == ["sequence", "position", "query",
                                                                       "target", "user_id"]
    masked, pairs = masked_and_pairs([])
    assert masked == [] and len(pairs) == 0 and pairs.attrs == {"n_sequences": 0, "n_without_pair": 0}


def test_out_of_set_pairs_by_hand():
    pairs = out_of_set_pairs([sequences_of([[1, 2, 3], [4], [5, 5, 6]])])
    assert pairs.to_dict("list") == {"sequence": [0, 0, 2, 2], "position": [1, 2, 1, 2],
                                     "query": [1, 2, 5, 5], "target": [2, 3, 5, 6]}
    assert all(pairs[c].dtype == np.int64 for c in pairs.columns)


def test_pairs_match_naive_loops_on_random_sequences():
    rng = np.random.default_rng(5)
    seqs = random_sequences(rng)
    every, last, remaining = [], [], []
    for i in range(len(seqs)):
        tracks = seqs.track_sequence(i).tolist()
        every += [(i, t, tracks[t - 1], tracks[t]) for t in range(1, len(tracks))]
        if len(tracks) >= 2:
            last.append((i, len(tracks) - 1, tracks[-2], tracks[-1]))
        if len(tracks) > 1:
            remaining.append(tracks[:-1])
    assert list(out_of_set_pairs([seqs]).itertuples(index=False, name=None)) == every
    (masked,), pairs = masked_and_pairs([seqs])
    assert list(pairs.drop(columns="user_id").itertuples(index=False, name=None)) == last
    assert [masked.track_sequence(i).tolist() for i in range(len(masked))] == remaining


def test_sample_pairs_seeded_ordered_subset():
    pairs = out_of_set_pairs([random_sequences(np.random.default_rng(1), n_users=60)])
    sample = sample_pairs(pairs, 25, seed=3)
    assert len(sample) == 25 and sample.index.tolist() == list(range(25))
    assert sample.equals(sample_pairs(pairs, 25, seed=3))
    assert not sample.equals(sample_pairs(pairs, 25, seed=4))
    keys = list(pairs.itertuples(index=False, name=None))
    positions = [keys.index(row) for row in sample.itertuples(index=False, name=None)]
    assert positions == sorted(set(positions))  # distinct rows, original order
    assert sample_pairs(pairs, None, seed=0).equals(pairs)
    assert len(sample_pairs(pairs, 10**9, seed=0)) == len(pairs)
    with pytest.raises(ValueError, match="max_pairs"):
        sample_pairs(pairs, 0, seed=0)


def random_sequence_file(path, rng, n_users=300):
    """Several thousand events; sequence lengths 1 to ~80 (a fifth of them single events)."""
    lengths = np.where(rng.random(n_users) < 0.2, 1, rng.integers(2, 80, n_users))
    users = np.repeat(rng.choice(10**6, n_users, replace=False), lengths)
    tracks = rng.integers(0, 500, len(users))
    seqs = Sequences.from_events(users, tracks, tracks // 5, np.arange(len(users)) * 7)
    write_sequences(path, seqs)
    return seqs


def concatenated(batches):
    """One Sequences of consecutive batches (the masked training data as a reader would see it)."""
    lengths = np.concatenate([b.lengths for b in batches])
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    return Sequences(np.concatenate([b.user_ids for b in batches]), offsets,
                     *(np.concatenate([getattr(b, f) for b in batches]) for f in ("tracks", "artists", "timestamps")))


def test_batched_pairs_equal_one_batch_and_naive_loops(tmp_path):
    rng = np.random.default_rng(12)
    seqs = random_sequence_file(tmp_path / "s.parquet", rng)
    assert seqs.n_events > 5000 and (seqs.lengths == 1).any()
    every, last, remaining = [], [], []
    for i in range(len(seqs)):
        tracks = seqs.track_sequence(i).tolist()
        every += [(i, t, tracks[t - 1], tracks[t]) for t in range(1, len(tracks))]
        if len(tracks) >= 2:
            last.append((i, len(tracks) - 1, tracks[-2], tracks[-1], int(seqs.user_ids[i])))
            remaining.append((int(seqs.user_ids[i]), tracks[:-1]))

    batched = list(iter_sequences(tmp_path / "s.parquet", 1024))
    assert len(batched) > 4
    masked, in_set = masked_and_pairs(batched)
    one_masked, one_in_set = masked_and_pairs([seqs])
    pd.testing.assert_frame_equal(in_set, one_in_set)
    assert list(in_set.itertuples(index=False, name=None)) == last
    whole = concatenated(masked)
    assert [(int(whole.user_ids[i]), whole.track_sequence(i).tolist()) for i in range(len(whole))] == remaining
    for field in ("user_ids", "offsets", "tracks", "artists", "timestamps"):
        assert np.array_equal(getattr(whole, field), getattr(one_masked[0], field))

    out_of_set = out_of_set_pairs(batched)
    pd.testing.assert_frame_equal(out_of_set, out_of_set_pairs([seqs]))
    assert list(out_of_set.itertuples(index=False, name=None)) == every
    assert count_out_of_set_pairs(batched) == count_out_of_set_pairs([seqs]) == len(every)

    # sampling the pair indices before building the pairs keeps the rows sample_pairs keeps
    for max_pairs, seed in ((1, 0), (37, 1), (len(every) - 1, 2), (len(every), 3), (None, 4)):
        rows = sample_rows(len(every), max_pairs, seed)
        expected = sample_pairs(out_of_set, max_pairs, seed)
        pd.testing.assert_frame_equal(out_of_set_pairs(batched, rows), expected)
        assert expected.equals(sample_pairs(out_of_set_pairs([seqs]), max_pairs, seed))
        sampled, n_before = sampled_out_of_set_pairs(batched, max_pairs, seed)
        pd.testing.assert_frame_equal(sampled, expected)
        assert n_before == len(every)


def test_sample_rows_by_hand_and_bad_rows():
    assert sample_rows(10, None, 0) is None and sample_rows(10, 10, 0) is None
    rows = sample_rows(10, 4, 7)
    assert rows.tolist() == sorted(np.random.default_rng(7).choice(10, 4, replace=False).tolist())
    seqs = sequences_of([[1, 2, 3], [4, 5]])  # pairs 0: (1, 2), 1: (2, 3), 2: (4, 5)
    assert out_of_set_pairs([seqs], np.array([0, 2]))[["query", "target"]].values.tolist() == [[1, 2], [4, 5]]
    with pytest.raises(ValueError, match="sorted and distinct"):
        out_of_set_pairs([seqs], np.array([2, 0]))
    with pytest.raises(ValueError, match="up to pair 3 but the sequences give 3 pairs"):
        out_of_set_pairs([seqs], np.array([1, 3]))
    with pytest.raises(ValueError, match="max_pairs"):
        sample_rows(10, 2.5, 0)


def circle_space():
    """Unit vectors at known angles: track 100 + i sits at ANGLES[i] degrees.

    Seen from track 100 (0 deg) the neighbours rank: 101 and 105 (both 10 deg, an exact tie:
    101 first by smaller row), then 102 (30), 103 (55), 104 (100).
    """
    angles = np.radians([0, 10, 30, 55, 100, 10])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    vectors[5] = vectors[1]
    return vectors, {100 + i: i for i in range(6)}


def pairs_of(rows):
    return pd.DataFrame(rows, columns=["query", "target"])


def test_evaluate_pairs_by_hand():
    vectors, key_index = circle_space()
    pairs = pairs_of([(100, 101), (100, 105), (100, 103), (100, 104), (100, 100), (100, 999),
                      (102, 103)])
    per_pair, summary = evaluate_pairs(vectors, key_index, pairs, k=4)
    # from 102 (30 deg): 101 and 105 (20 deg away) tie -> ranks 1, 2; 103 (25 away) rank 3
    assert per_pair["rank"].tolist() == [1, 2, 4, 0, 0, 0, 3]
    assert per_pair["hit"].tolist() == [1, 1, 1, 0, 0, 0, 1]
    expected_ndcg = [1.0, 1 / math.log2(3), 1 / math.log2(5), 0, 0, 0, 0.5]
    np.testing.assert_allclose(per_pair["ndcg"], expected_ndcg)
    assert per_pair["in_vocab"].tolist() == [True] * 5 + [False, True]
    assert per_pair["is_self"].tolist() == [False] * 4 + [True, False, False]
    assert per_pair["evaluated"].tolist() == [True] * 4 + [False, False, True]
    assert summary["n_pairs"] == 7 and summary["n_evaluated"] == 5
    assert summary["n_oov"] == 1 and summary["n_self"] == 1
    assert summary["share_oov"] == pytest.approx(1 / 7) and summary["share_self"] == pytest.approx(1 / 7)
    assert summary["hitrate"] == pytest.approx(4 / 5)
    assert summary["ndcg"] == pytest.approx(sum(expected_ndcg) / 5)


def test_evaluate_pairs_policies():
    vectors, key_index = circle_space()
    pairs = pairs_of([(100, 101), (100, 100), (100, 999), (999, 101)])
    for oov, self_, n_eval, hitrate in [("skip", "skip", 1, 1.0), ("miss", "skip", 3, 1 / 3),
                                        ("skip", "keep", 2, 0.5), ("miss", "keep", 4, 0.25)]:
        per_pair, summary = evaluate_pairs(vectors, key_index, pairs, k=2, oov_policy=oov,
                                           self_pairs=self_)
        assert (summary["n_evaluated"], summary["hitrate"]) == (n_eval, hitrate), (oov, self_)
        assert per_pair["rank"].tolist() == [1, 0, 0, 0]
    with pytest.raises(ValueError, match="oov_policy"):
        evaluate_pairs(vectors, key_index, pairs, oov_policy="drop")
    with pytest.raises(ValueError, match="self_pairs"):
        evaluate_pairs(vectors, key_index, pairs, self_pairs="drop")


def test_evaluate_pairs_nothing_evaluable_gives_nan():
    vectors, key_index = circle_space()
    _, summary = evaluate_pairs(vectors, key_index, pairs_of([(7, 8)]), k=2)
    assert summary["n_evaluated"] == 0 and math.isnan(summary["hitrate"])


def test_key_index_forms_agree_and_extra_columns_kept():
    vectors, key_index = circle_space()
    pairs = pd.DataFrame({"sequence": [4, 4, 9], "position": [1, 2, 5],
                          "query": [100, 101, 103], "target": [102, 999, 104]})
    pairs.index = [10, 11, 12]
    lookup = np.full(110, -1, dtype=np.int64)
    for track, row in key_index.items():
        lookup[track] = row
    as_strings = {str(track): row for track, row in key_index.items()}
    results = [evaluate_pairs(vectors, index, pairs, k=3)[0] for index in (key_index, lookup, as_strings)]
    assert results[0].equals(results[1]) and results[0].equals(results[2])
    assert results[0].index.tolist() == [10, 11, 12]
    assert results[0][["sequence", "position"]].equals(pairs[["sequence", "position"]])
    assert vocabulary_rows(lookup, np.array([-5, 100, 105, 109, 500]), 6).tolist() == [-1, 0, 5, -1, -1]


def test_evaluate_pairs_rejects_bad_input():
    vectors, key_index = circle_space()
    with pytest.raises(ValueError, match="unit-length"):
        evaluate_pairs(vectors * 2, key_index, pairs_of([(100, 101)]))
    with pytest.raises(ValueError, match="rows outside"):
        evaluate_pairs(vectors, {100: 0, 101: 6}, pairs_of([(100, 101)]))
    with pytest.raises(ValueError, match="column"):
        evaluate_pairs(vectors, key_index, pd.DataFrame({"query": [100]}))


def naive_evaluate(vectors, key_index, pairs, k):
    """Per pair: rank the whole vocabulary by float64 cosine (index breaks ties), drop the query."""
    ranks = []
    for query, target in zip(pairs["query"], pairs["target"]):
        if query not in key_index or target not in key_index or query == target:
            ranks.append(None)
            continue
        q = key_index[query]
        scores = vectors.astype(np.float64) @ vectors[q].astype(np.float64)
        order = sorted((j for j in range(len(vectors)) if j != q), key=lambda j: (-scores[j], j))
        top = order[:k]
        ranks.append(top.index(key_index[target]) + 1 if key_index[target] in top else 0)
    return ranks


def test_evaluate_pairs_matches_naive_on_random_space():
    rng = np.random.default_rng(8)
    vectors = normalize(rng.standard_normal((80, 6)))
    track_ids = rng.choice(10_000, 80, replace=False)
    key_index = {int(t): i for i, t in enumerate(track_ids)}
    seqs = sequences_of([rng.choice(np.r_[track_ids, [1, 2]], rng.integers(2, 15)).tolist()
                         for _ in range(40)])
    pairs = out_of_set_pairs([seqs])
    per_pair, summary = evaluate_pairs(vectors, key_index, pairs, k=10)
    ranks = naive_evaluate(vectors, key_index, pairs, k=10)
    evaluated = [r is not None for r in ranks]
    assert per_pair["evaluated"].tolist() == evaluated
    assert per_pair["rank"][evaluated].tolist() == [r for r in ranks if r is not None]
    hits = [r > 0 for r in ranks if r is not None]
    assert summary["hitrate"] == pytest.approx(np.mean(hits))
    assert summary["ndcg"] == pytest.approx(np.mean([1 / math.log2(r + 1) if r else 0.0
                                                     for r in ranks if r is not None]))
    assert 0 < summary["hitrate"] < 1 and summary["n_oov"] > 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k_small=st.integers(1, 8), extra=st.integers(0, 20))
def test_property_ranks_consistent_across_k(seed, k_small, extra):
    """The top-k list is a prefix of the top-K list: a rank r <= k is the same at k and K >= k."""
    rng = np.random.default_rng(seed)
    vectors = normalize(rng.integers(-2, 3, (30, 3)))
    key_index = {100 + i: i for i in range(30)}
    pairs = pairs_of(rng.integers(100, 132, (40, 2)).tolist())
    small, small_summary = evaluate_pairs(vectors, key_index, pairs, k=k_small)
    large, large_summary = evaluate_pairs(vectors, key_index, pairs, k=k_small + extra)
    expected = np.where(large["rank"] <= k_small, large["rank"], 0)
    assert small["rank"].tolist() == expected.tolist()
    assert small_summary["hitrate"] <= large_summary["hitrate"] or small_summary["n_evaluated"] == 0


def test_in_set_pairs_shared_or_disjoint_halves():
    pairs = pd.DataFrame({"sequence": np.arange(11), "position": 5, "query": np.arange(11) + 100,
                          "target": np.arange(11) + 200, "user_id": np.arange(11) * 7})
    shared = next_song.in_set_pairs_by_split(pairs, "shared", seed=3)
    assert shared["valid"].equals(pairs) and shared["test"].equals(pairs)
    disjoint = next_song.in_set_pairs_by_split(pairs, "disjoint", seed=3)
    valid, test = disjoint["valid"], disjoint["test"]
    # 11 pairs: largest remainder gives the extra one to the first part listed (valid)
    assert (len(valid), len(test)) == (6, 5)
    assert sorted(valid["sequence"].tolist() + test["sequence"].tolist()) == list(range(11))
    assert valid["sequence"].is_monotonic_increasing and test["sequence"].is_monotonic_increasing
    again = next_song.in_set_pairs_by_split(pairs, "disjoint", seed=3)
    assert again["valid"].equals(valid)
    other = next_song.in_set_pairs_by_split(pairs, "disjoint", seed=4)
    assert not other["valid"].equals(valid)
    with pytest.raises(ValueError, match="in_set_pairs must be one of"):
        next_song.in_set_pairs_by_split(pairs, "half", seed=3)


def test_scored_pairs_count_vocabulary_non_self_pairs():
    pairs = pd.DataFrame({"query": [1, 2, 3, 4, 5], "target": [2, 2, 9, 1, 3]})
    # (1,2) in vocab; (2,2) self; (3,9) target out; (4,1) query out; (5,3) in vocab
    assert next_song.scored_pairs(pairs, np.array([1, 2, 3, 5])) == 2
