"""evaluate_embedding against a naive re-computation of every metric; the HPO evaluator's time rules."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import calinski_harabasz_score

from songvec.models import word2vec
from songvec.evaluation import EvaluationData, EvaluationSettings, configuration_evaluator, evaluate_embedding
from songvec.atomic import write_parquet
from songvec.sequences import Sequences, write_sequences
from songvec.time_budget import TimeBudget, TrialInfeasible
from songvec.training import TrainingSettings, Word2VecParams


def naive_hitrate(vectors, ids, pairs, k):
    """Brute force: rank every other song by cosine similarity (ties by row; a zero vector has similarity 0 with
    every song), skip OOV and self pairs."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros(vectors.shape), where=norms > 0)
    row = {int(t): i for i, t in enumerate(ids)}
    hits, gains = [], []
    for q, t in zip(pairs["query"], pairs["target"]):
        if q not in row or t not in row or q == t:
            continue
        sims = unit @ unit[row[q]]
        order = [j for j in sorted(range(len(ids)), key=lambda j: (-sims[j], j)) if j != row[q]][:k]
        rank = order.index(row[t]) + 1 if row[t] in order else 0
        hits.append(rank > 0)
        gains.append(1 / np.log2(rank + 1) if rank else 0.0)
    return np.mean(hits), np.mean(gains)


@pytest.fixture
def space():
    rng = np.random.default_rng(4)
    n = 60
    ids = np.arange(100, 100 + n)
    genre = np.array(["rock", "pop", "jazz"])[np.arange(n) % 3]
    vectors = rng.normal(size=(n, 8)).astype(np.float32) + 3 * (np.arange(n) % 3)[:, None]
    pairs = pd.DataFrame({"query": rng.choice(ids, 40), "target": rng.choice(ids, 40)})
    pairs.loc[0, "target"] = 999  # out of vocabulary
    pairs.loc[1, "target"] = pairs.loc[1, "query"]  # a repeat play
    genres = pd.DataFrame({"track_id": ids, "artist_id": np.arange(n) // 4, "genre": genre})
    genres.loc[5, "genre"] = "unknown"
    hard = pd.DataFrame({"song_a": ids[[0, 0, 3]], "song_b": ids[[1, 2, 9]]})
    data = EvaluationData(pairs={"in_set": pairs.iloc[:20].reset_index(drop=True),
                                 "out_of_set": pairs.iloc[20:].reset_index(drop=True)},
                          track_genres=genres, hard_negatives=hard)
    return vectors, ids, data


def test_every_metric_equals_a_naive_recomputation(space):
    vectors, ids, data = space
    settings = EvaluationSettings(k=10, hardneg_songs=None, vrc_min_group_size=1)
    result = evaluate_embedding(vectors, ids, data, settings)
    m = result.metrics
    for kind in ("in_set", "out_of_set"):
        hitrate, ndcg = naive_hitrate(vectors, ids, data.pairs[kind], 10)
        assert m[f"hitrate_{kind}"] == pytest.approx(hitrate) and m[f"ndcg_{kind}"] == pytest.approx(ndcg)
    assert m["hitrate"] == pytest.approx((m["hitrate_in_set"] + m["hitrate_out_of_set"]) / 2)
    assert m["share_oov_in_set"] == pytest.approx(1 / 20) and m["share_self_in_set"] == pytest.approx(1 / 20)

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    known = data.track_genres["genre"].to_numpy() != "unknown"
    assert m["vrc_genre"] == pytest.approx(calinski_harabasz_score(unit[known], data.track_genres["genre"][known]),
                                           rel=1e-5)
    assert m["vrc_artist"] == pytest.approx(calinski_harabasz_score(unit, data.track_genres["artist_id"]), rel=1e-5)

    # HardNeg: songs 100, 101, 102, 103, 109 have hard negatives; share of their 10 neighbours that are
    sims = unit @ unit.T
    partners = {100: {101, 102}, 101: {100}, 102: {100}, 103: {109}, 109: {103}}
    expected = []
    for song in sorted(partners):
        row = song - 100
        order = [j for j in sorted(range(len(ids)), key=lambda j: (-sims[row, j], j)) if j != row][:10]
        expected.append(sum(ids[j] in partners[song] for j in order) / 10)
    assert result.songs["song"].tolist() == sorted(partners)
    assert result.songs["hardneg"].to_numpy() == pytest.approx(expected)
    assert m["hardneg"] == pytest.approx(np.mean(expected))


def test_per_pair_rows_do_not_depend_on_the_model(space):
    vectors, ids, data = space
    settings = EvaluationSettings(k=10)
    first = evaluate_embedding(vectors, ids, data, settings).pairs
    second = evaluate_embedding(vectors[::-1].copy(), ids[::-1].copy(), data, settings).pairs
    assert first[["kind", "query", "target", "evaluated"]].equals(second[["kind", "query", "target", "evaluated"]])


def test_a_configuration_predicted_far_over_budget_is_infeasible_without_training(space, monkeypatch):
    vectors, ids, data = space
    seqs = Sequences.from_events(np.repeat([1, 2], 30), np.tile(ids[:30], 2), np.zeros(60), np.arange(60))
    trained = []
    monkeypatch.setattr(word2vec, "train_word2vec", lambda *a, **k: trained.append(a) or 1 / 0)
    evaluate = configuration_evaluator(seqs, data, EvaluationSettings(k=5), TrainingSettings(epochs=1),
                                       TimeBudget(Word2VecParams(), 1.0, factor=1.25, prediction_margin=3.0))
    with pytest.raises(TrialInfeasible, match="predicted training time"):
        evaluate({"vector_size": 200, "window": 40, "ns_exponent": 0.5, "negative": 100, "alpha": 0.01})
    assert not trained
    # within the margin the configuration is trained (here: the stub fails, showing it was called)
    with pytest.raises(ZeroDivisionError):
        evaluate({"vector_size": 100, "window": 6, "ns_exponent": 0.5, "negative": 5, "alpha": 0.01})
    assert len(trained) == 1


def test_a_real_training_over_budget_becomes_an_infeasible_trial(space):
    vectors, ids, data = space
    rng = np.random.default_rng(0)
    seqs = Sequences.from_events(np.repeat(np.arange(20), 500), rng.choice(ids, 10_000), np.zeros(10_000),
                                 np.arange(10_000))
    evaluate = configuration_evaluator(seqs, data, EvaluationSettings(k=5), TrainingSettings(epochs=3),
                                       TimeBudget(Word2VecParams(), 1e-6, factor=1.0))
    with pytest.raises(TrialInfeasible, match="exceeds the budget"):
        evaluate({"vector_size": 20, "window": 2, "ns_exponent": 0.5, "negative": 2, "alpha": 0.01})
    metrics = configuration_evaluator(seqs, data, EvaluationSettings(k=5), TrainingSettings(epochs=1), None)(
        {"vector_size": 20, "window": 2, "ns_exponent": 0.5, "negative": 2, "alpha": 0.01})
    assert 0 <= metrics["hitrate"] <= 1 and metrics["train_seconds"] > 0


def test_the_reference_configuration_is_never_held_to_the_budget(space):
    vectors, ids, data = space
    rng = np.random.default_rng(1)
    seqs = Sequences.from_events(np.repeat(np.arange(10), 200), rng.choice(ids, 2000), np.zeros(2000),
                                 np.arange(2000))
    reference = Word2VecParams(vector_size=16, window=2, negative=2)
    evaluate = configuration_evaluator(seqs, data, EvaluationSettings(k=5), TrainingSettings(epochs=2),
                                       TimeBudget(reference, 1.0, factor=1e-6, prediction_margin=3.0))
    metrics = evaluate({"vector_size": 16, "window": 2, "ns_exponent": 0.75, "negative": 2, "alpha": 0.025})
    assert metrics["train_cpu_seconds"] > 0
    with pytest.raises(TrialInfeasible, match="predicted training time"):  # same cost, other exponent
        evaluate({"vector_size": 16, "window": 2, "ns_exponent": 0.5, "negative": 2, "alpha": 0.025})


def test_load_counts_training_plays_in_batches(space, tmp_path):
    _, ids, data = space
    rng = np.random.default_rng(2)
    lengths = np.where(rng.random(300) < 0.2, 1, rng.integers(2, 80, 300))
    tracks = rng.choice(np.r_[ids, [7, 5000]], lengths.sum())
    write_sequences(tmp_path / "train.parquet", Sequences.from_events(np.repeat(np.arange(300), lengths), tracks,
                                                                      np.zeros(len(tracks)), np.arange(len(tracks))))
    paths = {name: tmp_path / f"{name}.parquet" for name in ("in_set", "out_of_set", "genres", "hard_negatives")}
    for name, frame in (("in_set", data.pairs["in_set"]), ("out_of_set", data.pairs["out_of_set"]),
                        ("genres", data.track_genres), ("hard_negatives", data.hard_negatives)):
        write_parquet(paths[name], frame)
    naive = {}
    for track in tracks.tolist():
        naive[track] = naive.get(track, 0) + 1
    expected = pd.Series(dict(sorted(naive.items())))
    for batch_events in (1024, 10**6):
        loaded = EvaluationData.load(*paths.values(), train=tmp_path / "train.parquet", batch_events=batch_events)
        pd.testing.assert_series_equal(loaded.track_plays, expected)
        assert loaded.track_plays.index.is_monotonic_increasing and loaded.track_plays.dtype == np.int64
    assert EvaluationData.load(*paths.values()).track_plays is None


def test_data_without_genres_or_artists_leaves_only_the_vrc_undefined(space):
    """An events table without genre and artist columns: every song's genre is unknown and its artist -1."""
    vectors, ids, data = space
    labelled = evaluate_embedding(vectors, ids, data, EvaluationSettings(hardneg_songs=None)).metrics
    data.track_genres = data.track_genres.assign(genre="unknown", artist_id=-1)
    metrics = evaluate_embedding(vectors, ids, data, EvaluationSettings(hardneg_songs=None)).metrics
    assert metrics["vrc_genre"] is None and metrics["vrc_artist"] is None
    assert metrics["vrc_genre_groups"] == metrics["vrc_artist_groups"] == 0
    for key in ("hitrate", "ndcg", "hardneg", "hitrate_in_set", "n_pairs_out_of_set"):
        assert metrics[key] == labelled[key], key
    one_genre = data.track_genres.assign(genre="rock")  # one group: no variance ratio either
    data.track_genres = one_genre
    assert evaluate_embedding(vectors, ids, data, EvaluationSettings(hardneg_songs=None)).metrics["vrc_genre"] is None
