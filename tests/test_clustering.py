import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import calinski_harabasz_score

from songvec.clustering import (coherence_summary, local_coherence, sample_artist_coherence_songs,
                                sample_genre_coherence_songs, variance_ratio)
from songvec.neighbors import normalize


def naive_variance_ratio(vectors, labels):
    """Calinski-Harabasz straight from its definition, one Python loop over the groups."""
    x = np.asarray(vectors, dtype=np.float64)
    overall = x.mean(axis=0)
    between = within = 0.0
    groups = sorted(set(labels))
    for group in groups:
        members = x[[label == group for label in labels]]
        centre = members.mean(axis=0)
        between += len(members) * float(((centre - overall) ** 2).sum())
        within += float(((members - centre) ** 2).sum())
    return between / within * (len(x) - len(groups)) / (len(groups) - 1)


def test_variance_ratio_by_hand():
    # groups {0, 2} and {10, 12}: overall mean 6, between 2*25 + 2*25 = 100, within 4 -> 100/4 * 2/1
    result = variance_ratio(np.array([[0.0], [2.0], [10.0], [12.0]]), ["a", "a", "b", "b"],
                            normalize=False)
    assert result.score == pytest.approx(50.0, rel=1e-12)
    assert (result.between, result.within) == (pytest.approx(100.0), pytest.approx(4.0))
    assert (result.n_points, result.n_groups) == (4, 2)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_variance_ratio_matches_sklearn_and_naive(normalize_first):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 12, 3000)
    vectors = (rng.standard_normal((3000, 20)) + rng.standard_normal((12, 20))[labels]).astype(np.float32)
    result = variance_ratio(vectors, labels, normalize=normalize_first)
    used = normalize(vectors) if normalize_first else vectors
    expected = calinski_harabasz_score(used.astype(np.float64), labels)
    assert result.score == pytest.approx(expected, rel=1e-6)
    assert result.score == pytest.approx(naive_variance_ratio(used, labels.tolist()), rel=1e-6)


def test_variance_ratio_far_from_origin_matches_sklearn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 500)
    vectors = 1e4 + rng.standard_normal((500, 3)) * 1e-2 + 1e-2 * labels[:, None]
    result = variance_ratio(vectors, labels, normalize=False)
    assert result.score == pytest.approx(calinski_harabasz_score(vectors, labels), rel=1e-6)


def test_variance_ratio_excludes_unknown_missing_and_small_groups():
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((40, 5))
    labels = np.array(["g1"] * 15 + ["g2"] * 12 + ["tiny"] * 2 + ["unknown"] * 6 + [None] * 5,
                      dtype=object)
    result = variance_ratio(vectors, labels, normalize=False, min_group_size=3)
    kept = slice(0, 27)
    assert result.score == pytest.approx(
        calinski_harabasz_score(vectors[kept], labels[kept].astype(str)), rel=1e-6)
    assert (result.n_points, result.n_groups, result.n_unlabelled) == (27, 2, 11)
    assert (result.n_small_groups, result.n_points_in_small_groups) == (1, 2)
    with_tiny = variance_ratio(vectors, labels, normalize=False, exclude_label=None)
    assert (with_tiny.n_groups, with_tiny.n_points, with_tiny.n_unlabelled) == (4, 35, 5)


def test_variance_ratio_rejects_degenerate_input():
    with pytest.raises(ValueError, match="at least 2 groups"):
        variance_ratio(np.ones((5, 2)), ["a"] * 4 + ["unknown"], normalize=False)
    with pytest.raises(ValueError, match="shape"):
        variance_ratio(np.ones((5, 2)), ["a", "b"], normalize=False)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_variance_ratio_matches_sklearn_and_is_translation_invariant(data):
    n = data.draw(st.integers(4, 40))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_labels = data.draw(st.integers(2, min(5, n - 1)))
    labels = np.r_[np.arange(n_labels), rng.integers(0, n_labels, n - n_labels)]
    vectors = rng.integers(-5, 6, (n, data.draw(st.integers(1, 4)))).astype(np.float64)
    expected = calinski_harabasz_score(vectors, labels)
    result = variance_ratio(vectors, labels, normalize=False)
    assert result.score == pytest.approx(expected, rel=1e-6)
    shifted = variance_ratio(vectors + 123.25, labels, normalize=False)
    assert shifted.score == pytest.approx(expected, rel=1e-6)


def circle(degrees):
    angles = np.radians(degrees)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def test_local_coherence_by_hand():
    vectors = circle([0, 10, 20, 90, 100, 180])
    genres = np.array(["rock", "rock", "pop", "pop", "unknown", "jazz"], dtype=object)
    # row 0: neighbours 1, 2, 3 -> rock, pop, pop -> 1/3
    # row 3 (90): neighbours 4 (unknown: different), 2 (70 deg away) -> 1/2
    # row 2 (20): neighbours 1, 0, 3 -> rock, rock, pop -> 1/3 at m=3
    assert local_coherence(vectors, genres, np.array([0]), m=3).tolist() == [pytest.approx(1 / 3)]
    assert local_coherence(vectors, genres, np.array([3]), m=2).tolist() == [0.5]
    result = local_coherence(vectors, genres, np.array([2, 4, 0]), m=3)
    assert result[0] == pytest.approx(1 / 3) and math.isnan(result[1])
    # m beyond the vocabulary: all 5 other rows; row 0 shares its genre with row 1 only
    assert local_coherence(vectors, genres, np.array([0]), m=50).tolist() == [pytest.approx(1 / 5)]


def test_local_coherence_matches_naive():
    rng = np.random.default_rng(4)
    vectors = normalize(rng.standard_normal((120, 8)))
    artists = rng.integers(0, 6, 120)
    rows = rng.choice(120, 30, replace=False)
    result = local_coherence(vectors, artists, rows, m=10, unknown_label=None)
    expected = []
    for q in rows:
        scores = vectors.astype(np.float64) @ vectors[q].astype(np.float64)
        nearest = sorted((j for j in range(120) if j != q), key=lambda j: (-scores[j], j))[:10]
        expected.append(np.mean([artists[j] == artists[q] for j in nearest]))
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    assert 0 < result.mean() < 1


def test_sample_genre_coherence_songs_strata_and_shortfall():
    genres = np.array(["A"] * 10 + ["B"] * 10 + ["C"] * 5 + ["D"] * 3 + ["unknown"] * 2, dtype=object)
    plays = np.r_[[100] * 10, [50] * 7, [1] * 3, [10] * 5, [5] * 3, [1000] * 2]
    # genre plays: A 1000, B 353, C 50, D 15 (unknown never counts). Eligible (>= 10 plays):
    # A 10, B 7, C 5. Quotas for 20 songs over 3 genres: 7, 7, 6 -> C gives its 5 -> A takes 1 more.
    sample = sample_genre_coherence_songs(genres, plays, min_plays=10, n_songs=20, n_genres=3, seed=1)
    assert sample["genre"].value_counts().to_dict() == {"A": 8, "B": 7, "C": 5}
    assert sample["genre"].tolist() == ["A"] * 8 + ["B"] * 7 + ["C"] * 5
    assert sample["row"].is_unique and (plays[sample["row"]] >= 10).all()
    assert (genres[sample["row"]] == sample["genre"]).all()
    again = sample_genre_coherence_songs(genres, plays, min_plays=10, n_songs=20, n_genres=3, seed=1)
    assert sample.equals(again)
    other = sample_genre_coherence_songs(genres, plays, min_plays=10, n_songs=20, n_genres=3, seed=2)
    assert not sample.equals(other)
    everything = sample_genre_coherence_songs(genres, plays, min_plays=10, n_songs=99, n_genres=3, seed=1)
    assert len(everything) == 22


def test_sample_artist_coherence_songs_popularity_strata():
    # artists 0..9 have 6 songs (plays per song = artist + 1), artists 10, 11 only 3 songs
    artists = np.r_[np.repeat(np.arange(10), 6), [10] * 3, [11] * 3]
    plays = np.r_[np.repeat(np.arange(1, 11), 6), [500] * 6]
    sample = sample_artist_coherence_songs(artists, plays, n_artists=5, min_artist_songs=5,
                                           songs_per_artist=3, n_strata=5, seed=0)
    assert len(sample) == 15 and sample["row"].is_unique
    assert (artists[sample["row"]] == sample["artist"]).all()
    per_artist = sample.groupby("artist")["stratum"].agg(["size", "first"])
    assert (per_artist["size"] == 3).all() and len(per_artist) == 5
    # quintiles of the 10 eligible artists by popularity: stratum 0 = {9, 8}, ..., stratum 4 = {1, 0}
    for artist, stratum in per_artist["first"].items():
        assert stratum == (9 - artist) // 2
    assert sorted(per_artist["first"]) == [0, 1, 2, 3, 4]
    # an "unknown artist" label (-1 here) with many popular songs is never an artist
    with_unknown = sample_artist_coherence_songs(np.r_[artists, [-1] * 9], np.r_[plays, [900] * 9],
                                                 n_artists=5, min_artist_songs=5, songs_per_artist=3,
                                                 n_strata=5, seed=0, unknown_label=-1)
    assert with_unknown.equals(sample)
    with pytest.raises(ValueError, match="songs_per_artist"):
        sample_artist_coherence_songs(artists, plays, min_artist_songs=2, songs_per_artist=3, seed=0)


def test_coherence_summary_by_hand():
    summary = coherence_summary(np.array([0.2, 0.4, np.nan, 0.6]))
    half = 4.302652729911275 * 0.2 / math.sqrt(3)  # t(0.975, 2 df) x std / sqrt(n)
    assert (summary["n"], summary["n_nan"]) == (3, 1)
    assert summary["mean"] == pytest.approx(0.4) and summary["std"] == pytest.approx(0.2)
    assert summary["ci_low"] == pytest.approx(0.4 - half) and summary["ci_high"] == pytest.approx(0.4 + half)
    grouped = coherence_summary(np.array([0.2, 0.4, 0.6, 0.8]), groups=["a", "a", "b", "b"])
    assert grouped["n"] == 2 and grouped["mean"] == pytest.approx(0.5)
    assert grouped["std"] == pytest.approx(math.sqrt(0.08))


def test_variance_ratio_normalize_equals_prenormalized_input():
    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((200, 7)) * rng.uniform(0.1, 10, (200, 1))
    vectors[3] = 0.0
    labels = rng.integers(0, 3, 200)
    inline = variance_ratio(vectors, labels, normalize=True)
    assert inline == variance_ratio(normalize(vectors), labels, normalize=False)
    assert inline.score != pytest.approx(variance_ratio(vectors, labels, normalize=False).score)
