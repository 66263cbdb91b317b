import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec.figures import popularity_cells
from songvec.popularity import bucket_pair_hitrate, popularity_buckets, same_bucket_hitrate
from songvec.sequences import Sequences, iter_sequences, read_sequences, song_counts, write_sequences
from songvec.significance import proportion_ci


def naive_buckets(track_ids, counts, n_buckets):
    """Walk the songs from most to least played, keeping a running total of earlier plays."""
    ranked = sorted(zip(track_ids, counts), key=lambda tc: (-tc[1], tc[0]))
    total = sum(counts)
    bucket, before = {}, 0
    for track, count in ranked:
        share = before / total
        bucket[track] = min(int(share * n_buckets + 1e-12), n_buckets - 1)
        before += count
    return [bucket[t] for t in track_ids]


# --- popularity buckets --------------------------------------------------------------------------

def test_buckets_by_hand():
    # ranked: 1 (50 plays, 0 before), 2 (20, 50 before), 3 and 7 tie at 10 -> id 3 first (70 before),
    # 7 (80 before), 4 (5, 90 before), 5 (5, 95 before); shares before: 0, .5, .7, .8, .9, .95
    track_ids = [7, 2, 4, 1, 5, 3]
    counts = [10, 20, 5, 50, 5, 10]
    assert popularity_buckets(track_ids, counts).tolist() == [4, 2, 4, 0, 4, 3]
    # bucket 1 is empty: song 1 alone holds 50% of the plays


def test_buckets_hold_a_fifth_of_the_events_each_on_many_songs():
    rng = np.random.default_rng(0)
    counts = rng.permutation(np.round(1e5 / np.arange(1, 20001) ** 0.8).astype(np.int64))  # Zipf-like
    track_ids = rng.permutation(20000) + 100
    buckets = popularity_buckets(track_ids, counts)
    shares = np.bincount(buckets, weights=counts, minlength=5) / counts.sum()
    assert shares == pytest.approx([0.2] * 5, abs=counts.max() / counts.sum())
    sizes = np.bincount(buckets, minlength=5)
    assert sizes[0] == sizes.min() and (np.diff(sizes) > 0).all()  # bucket 0: fewest, most popular songs
    mean_count = np.bincount(buckets, weights=counts) / sizes
    assert (np.diff(mean_count) < 0).all()


@settings(max_examples=80, deadline=None)
@given(counts=st.lists(st.integers(0, 40), min_size=1, max_size=60), n_buckets=st.integers(1, 7),
       seed=st.integers(0, 99))
def test_buckets_match_naive_walk_and_do_not_depend_on_input_order(counts, n_buckets, seed):
    if sum(counts) == 0:
        counts[0] = 1
    track_ids = np.random.default_rng(seed).permutation(len(counts)) * 3
    buckets = popularity_buckets(track_ids, counts, n_buckets)
    assert buckets.tolist() == naive_buckets(track_ids.tolist(), counts, n_buckets)
    order = np.random.default_rng(seed + 1).permutation(len(counts))
    shuffled = popularity_buckets(track_ids[order], np.asarray(counts)[order], n_buckets)
    assert shuffled.tolist() == buckets[order].tolist()
    # along the ranking (more plays first, ties by id) buckets never go back to a more popular one
    ranking = np.lexsort((track_ids, -np.asarray(counts)))
    assert (np.diff(buckets[ranking]) >= 0).all()


def test_zero_play_songs_go_to_the_last_bucket():
    assert popularity_buckets([1, 2, 3], [5, 0, 5], n_buckets=3).tolist() == [0, 2, 1]


def test_buckets_reject_bad_input():
    with pytest.raises(ValueError, match="distinct"):
        popularity_buckets([1, 1], [3, 4])
    with pytest.raises(ValueError, match="negative"):
        popularity_buckets([1, 2], [3, -4])
    with pytest.raises(ValueError, match="sum to zero"):
        popularity_buckets([1, 2], [0, 0])
    with pytest.raises(ValueError, match="equally long"):
        popularity_buckets([1, 2], [1])
    with pytest.raises(ValueError, match="whole numbers"):
        popularity_buckets([1, 2], [1.5, 2.0])


# --- HitRate by bucket pair ----------------------------------------------------------------------

def test_bucket_pair_hitrate_by_hand():
    bucket_of = {10: 0, 11: 0, 20: 1}
    per_pair = pd.DataFrame({"query": [10, 11, 10, 20, 20, 99],
                             "target": [11, 10, 20, 10, 11, 10],
                             "hit": [True, False, True, True, True, True]})
    cells = bucket_pair_hitrate(per_pair, bucket_of, n_per_cell=100, seed=0, n_buckets=2)
    assert cells[["query_bucket", "target_bucket"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert cells["n"].tolist() == [2, 1, 2, 0]
    assert cells["n_available"].tolist() == [2, 1, 2, 0]
    assert cells["hits"].tolist() == [1, 1, 2, 0]
    assert cells["hitrate"].tolist()[:3] == [0.5, 1.0, 1.0] and np.isnan(cells["hitrate"].iloc[3])
    assert cells.attrs["n_pairs_unbucketed"] == 1  # query 99 has no bucket
    low, high = proportion_ci(1, 2)[1:]
    assert (cells.loc[0, "ci_low"], cells.loc[0, "ci_high"]) == pytest.approx((low, high))


def random_pairs(rng, n_pairs=3000, n_songs=200):
    songs = np.arange(n_songs) + 1000
    per_pair = pd.DataFrame({"query": rng.choice(songs, n_pairs), "target": rng.choice(songs, n_pairs),
                             "hit": rng.random(n_pairs) < 0.3})
    bucket_of = pd.Series(rng.integers(0, 5, n_songs), index=songs)
    return per_pair, bucket_of


def test_bucket_pair_hitrate_without_sampling_matches_groupby():
    rng = np.random.default_rng(5)
    per_pair, bucket_of = random_pairs(rng)
    cells = bucket_pair_hitrate(per_pair, bucket_of, n_per_cell=10**6, seed=1)
    naive = per_pair.assign(qb=per_pair["query"].map(bucket_of), tb=per_pair["target"].map(bucket_of)) \
        .groupby(["qb", "tb"])["hit"].agg(["mean", "size"])
    for row in cells.itertuples():
        assert row.hitrate == pytest.approx(naive.loc[(row.query_bucket, row.target_bucket), "mean"])
        assert row.n == naive.loc[(row.query_bucket, row.target_bucket), "size"]


def test_sampling_is_seeded_capped_and_shared_between_embeddings():
    rng = np.random.default_rng(6)
    per_pair, bucket_of = random_pairs(rng)
    cells = bucket_pair_hitrate(per_pair, bucket_of, n_per_cell=40, seed=3)
    assert (cells["n"] == np.minimum(40, cells["n_available"])).all()
    assert (cells["n_available"] > 40).any()
    again = bucket_pair_hitrate(per_pair, bucket_of, n_per_cell=40, seed=3)
    pd.testing.assert_frame_equal(cells, again)
    # a second embedding with the opposite hits on the same pairs: same sample, so hits add up to n
    flipped = bucket_pair_hitrate(per_pair.assign(hit=~per_pair["hit"]), bucket_of, n_per_cell=40, seed=3)
    assert (cells["hits"] + flipped["hits"] == cells["n"]).all()
    other_seed = bucket_pair_hitrate(per_pair, bucket_of, n_per_cell=40, seed=4)
    assert not cells["hits"].equals(other_seed["hits"])


def test_bucket_pair_hitrate_rejects_bad_input():
    per_pair = pd.DataFrame({"query": [1], "target": [2], "hit": [2]})
    with pytest.raises(ValueError, match="0/1"):
        bucket_pair_hitrate(per_pair, {1: 0, 2: 0}, 10, 0)
    with pytest.raises(ValueError, match="lacks columns"):
        bucket_pair_hitrate(per_pair.drop(columns="hit"), {1: 0, 2: 0}, 10, 0)
    with pytest.raises(ValueError, match="outside"):
        bucket_pair_hitrate(per_pair.assign(hit=1), {1: 0, 2: 5}, 10, 0)


def test_same_bucket_hitrate_takes_the_diagonal_of_each_configuration():
    rng = np.random.default_rng(8)
    per_pair, bucket_of = random_pairs(rng)
    default = bucket_pair_hitrate(per_pair, bucket_of, n_per_cell=50, seed=0)
    tuned = bucket_pair_hitrate(per_pair.assign(hit=True), bucket_of, n_per_cell=50, seed=0)
    diagonal = same_bucket_hitrate({"default": default, "tuned": tuned})
    assert diagonal["config"].tolist() == ["default"] * 5 + ["tuned"] * 5
    assert diagonal["bucket"].tolist() == list(range(5)) * 2
    expected = default[default.query_bucket == default.target_bucket]["hitrate"].tolist()
    assert diagonal["hitrate"].tolist()[:5] == expected
    assert diagonal["hitrate"].tolist()[5:] == [1.0] * 5


def test_popularity_cells_from_play_counts_of_batches(tmp_path):
    """The workflow's route (play counts summed over batches of the training file, first-occurrence
    order) gives the buckets and cells of counting every event at once, and of a naive count."""
    rng = np.random.default_rng(3)
    lengths = np.where(rng.random(300) < 0.2, 1, rng.integers(2, 80, 300))
    tracks = rng.zipf(1.4, lengths.sum()) % 400
    write_sequences(tmp_path / "train.parquet", Sequences.from_events(np.repeat(np.arange(300), lengths), tracks,
                                                                      np.zeros(len(tracks)), np.arange(len(tracks))))
    song_ids, plays = song_counts(iter_sequences(tmp_path / "train.parquet", 1024))
    naive = {}
    for track in read_sequences(tmp_path / "train.parquet").tracks.tolist():
        naive[track] = naive.get(track, 0) + 1
    assert dict(zip(song_ids.tolist(), plays.tolist())) == naive
    songs = np.array(sorted(naive))
    buckets = dict(zip(songs.tolist(), naive_buckets(songs.tolist(), [naive[t] for t in songs.tolist()], 4)))
    assert dict(zip(song_ids.tolist(), popularity_buckets(song_ids, plays, 4).tolist())) == buckets

    n_pairs = 2000
    pairs = pd.DataFrame({"query": rng.choice(songs, n_pairs), "target": rng.choice(songs, n_pairs),
                          "evaluated": rng.random(n_pairs) < 0.9, "hit": rng.random(n_pairs) < 0.3})
    cells = popularity_cells(song_ids, plays, {"a": pairs}, n_buckets=4, pairs_per_cell=50, seed=1)
    pd.testing.assert_frame_equal(cells, popularity_cells(*np.unique(tracks, return_counts=True), {"a": pairs},
                                                          n_buckets=4, pairs_per_cell=50, seed=1))
    full = popularity_cells(song_ids, plays, {"a": pairs}, n_buckets=4, pairs_per_cell=10**6, seed=1)
    evaluated = pairs[pairs["evaluated"]]
    for row in full.itertuples():
        in_cell = evaluated[(evaluated["query"].map(buckets) == row.query_bucket)
                            & (evaluated["target"].map(buckets) == row.target_bucket)]
        assert (row.n, row.hits) == (len(in_cell), int(in_cell["hit"].sum()))
    with pytest.raises(ValueError, match="song_ids is empty"):
        popularity_cells([], [], {"a": pairs}, 4, 50, 1)
