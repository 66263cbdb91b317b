import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from songvec.play_rate import pair_cosine, rate_by_similarity, similarity_correlation, transition_rates
from songvec.sequences import Sequences


def make_sequences(track_lists, timestamps=None):
    users, tracks, times = [], [], []
    for user, seq in enumerate(track_lists):
        users += [user] * len(seq)
        tracks += list(seq)
        times += list(timestamps[user]) if timestamps else list(range(len(seq)))
    return Sequences.from_events(users, tracks, [0] * len(tracks), times)


def naive_rates(track_lists):
    transitions, plays = Counter(), Counter()
    for seq in track_lists:
        for a, b in zip(seq[:-1], seq[1:]):
            if a != b:
                transitions[a, b] += 1
                plays[a] += 1
    return {pair: (n, plays[pair[0]], n / plays[pair[0]]) for pair, n in transitions.items()}


# --- transition rates ----------------------------------------------------------------------------

def test_transition_rates_by_hand():
    # user 0: 1 2 1 2 3 -> 1>2, 2>1, 1>2, 2>3; user 1: 2 1 1 2 -> 2>1, 1>1 (self-repeat), 1>2.
    # The 3 -> 2 step between the two users is no transition.
    rates = transition_rates(make_sequences([[1, 2, 1, 2, 3], [2, 1, 1, 2]]))
    assert rates.values.tolist() == [[1, 2, 3, 3, 1.0], [2, 1, 2, 3, 2 / 3], [2, 3, 1, 3, 1 / 3]]
    assert list(rates.columns) == ["song_a", "song_b", "transitions", "plays_a", "rate"]
    assert rates.attrs == {"n_self_repeats": 1, "n_session_breaks": 0}


def test_session_gap_splits_transitions():
    seqs = make_sequences([[1, 2, 3, 1]], timestamps=[[0, 100, 5000, 5100]])
    rates = transition_rates(seqs, max_gap_seconds=1800)
    assert rates[["song_a", "song_b"]].values.tolist() == [[1, 2], [3, 1]]
    assert rates.attrs["n_session_breaks"] == 1
    assert len(transition_rates(seqs)) == 3


def test_transition_rates_on_empty_and_single_event_sequences():
    rates = transition_rates(make_sequences([[5], [], [7]]))
    assert len(rates) == 0 and list(rates.columns) == ["song_a", "song_b", "transitions", "plays_a", "rate"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=15), min_size=1, max_size=6))
def test_transition_rates_match_naive_counting(track_lists):
    rates = transition_rates(make_sequences(track_lists))
    expected = naive_rates(track_lists)
    got = {(r.song_a, r.song_b): (r.transitions, r.plays_a, r.rate) for r in rates.itertuples()}
    assert got.keys() == expected.keys()
    for pair, (n, plays, rate) in expected.items():
        assert got[pair][:2] == (n, plays) and got[pair][2] == pytest.approx(rate)
    # rates of one song sum to 1
    if len(rates):
        assert np.allclose(rates.groupby("song_a")["rate"].sum(), 1.0)


# --- cosine and correlation ----------------------------------------------------------------------

def test_pair_cosine_by_hand():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]])
    key_index = {10: 0, 20: 1, 30: 2, 40: 3}
    rates = pd.DataFrame({"song_a": [10, 10, 20, 99, 40], "song_b": [30, 20, 30, 10, 10]})
    cosine = pair_cosine(rates, vectors, key_index)
    assert cosine[:3] == pytest.approx([1 / math.sqrt(2), 0.0, 1 / math.sqrt(2)])
    assert np.isnan(cosine[3]) and np.isnan(cosine[4])  # unknown song, zero vector


def random_setup(seed, n_songs=40, n_seqs=30):
    rng = np.random.default_rng(seed)
    lists = [rng.integers(0, n_songs, rng.integers(2, 60)).tolist() for _ in range(n_seqs)]
    rates = transition_rates(make_sequences(lists))
    vectors = rng.normal(size=(n_songs, 8))
    key_index = {song: row for row, song in enumerate(range(n_songs - 5))}  # 5 songs without vector
    return rates, vectors, key_index


def test_similarity_correlation_matches_scipy_and_naive_numpy():
    rates, vectors, key_index = random_setup(0)
    result = similarity_correlation(rates, vectors, key_index, min_transitions=1, frequent_min_transitions=2)
    cos_naive = []
    for r in rates.itertuples():
        if r.song_a in key_index and r.song_b in key_index:
            u, v = vectors[key_index[r.song_a]], vectors[key_index[r.song_b]]
            cos_naive.append((u @ v / np.sqrt((u @ u) * (v @ v)), r.rate, r.transitions))
    cos_naive = np.array(cos_naive)
    assert result["n_pairs_all"] == len(cos_naive)
    assert result["n_pairs_no_vector"] == len(rates) - len(cos_naive) > 0
    assert result["pearson_all"] == pytest.approx(np.corrcoef(cos_naive[:, 0], cos_naive[:, 1])[0, 1])
    assert result["p_value_all"] == pytest.approx(stats.pearsonr(cos_naive[:, 0], cos_naive[:, 1]).pvalue)
    frequent = cos_naive[cos_naive[:, 2] >= 2]
    assert result["n_pairs_frequent"] == len(frequent) > 2
    assert result["pearson_frequent"] == pytest.approx(np.corrcoef(frequent[:, 0], frequent[:, 1])[0, 1])


def test_similarity_correlation_min_transitions_and_counts():
    rates, vectors, key_index = random_setup(1)
    result = similarity_correlation(rates, vectors, key_index, min_transitions=2, frequent_min_transitions=3)
    assert result["n_pairs_rare"] == int((rates["transitions"] < 2).sum())
    assert result["n_pairs_all"] + result["n_pairs_no_vector"] + result["n_pairs_rare"] == len(rates)


def test_perfectly_related_rates_give_correlation_one():
    rates = pd.DataFrame({"song_a": [0, 0, 1], "song_b": [1, 2, 2], "transitions": [5, 5, 5], "plays_a": [10, 10, 5],
                          "rate": [0.2, 0.4, 0.6]})
    angles = np.array([0.0, 0.5, 1.3])  # unit vectors at these angles (radians)
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    cosine = pair_cosine(rates, vectors, {0: 0, 1: 1, 2: 2})
    assert cosine == pytest.approx(np.cos([0.5, 1.3, 0.8]))
    rates["rate"] = 0.1 + 0.5 * cosine  # rates exactly linear in the similarity
    result = similarity_correlation(rates, vectors, {0: 0, 1: 1, 2: 2}, frequent_min_transitions=100)
    assert result["pearson_all"] == pytest.approx(1.0)
    assert result["n_pairs_frequent"] == 0 and np.isnan(result["pearson_frequent"])


def test_key_type_mismatch_is_reported():
    rates, vectors, key_index = random_setup(2)
    with pytest.raises(ValueError, match="key type str"):
        similarity_correlation(rates, vectors, {str(k): v for k, v in key_index.items()})


# --- rate by similarity bin ----------------------------------------------------------------------

def test_rate_by_similarity_by_hand():
    rates = pd.DataFrame({"rate": [0.2, 0.4, 0.9, 0.5, 1.0]})
    table = rate_by_similarity(rates, [0.04, -0.04, 0.12, 0.26, np.nan])
    assert table["similarity_bin"].tolist() == [0.0, 0.1, 0.3]
    assert table["mean_rate"].tolist() == pytest.approx([0.3, 0.9, 0.5])
    assert table["relative_rate"].tolist() == pytest.approx([1.0, 3.0, 5 / 3])
    assert table["n"].tolist() == [2, 1, 1]
    assert table.attrs["n_pairs_no_vector"] == 1


def test_rate_by_similarity_without_a_zero_bin_gives_nan_relative_rates():
    table = rate_by_similarity(pd.DataFrame({"rate": [0.2, 0.4]}), [0.5, 0.71], bin_width=0.25)
    assert table["similarity_bin"].tolist() == [0.5, 0.75]
    assert table["relative_rate"].isna().all()
    with pytest.raises(ValueError, match="one value per row"):
        rate_by_similarity(pd.DataFrame({"rate": [0.2, 0.4]}), [0.5])
