"""The models other than skip-gram: SPPMI by hand, the SVD against a dense one, GloVe's loss against a naive one,
the baselines against naive counts, and every model through the evaluation tests Word2Vec passes."""

import dataclasses
import math
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import calinski_harabasz_score
from test_evaluation import naive_hitrate

from songvec import cooccurrence, models
from songvec.evaluation import (EvaluationData, EvaluationSettings, configuration_evaluator, evaluate_saved,
                                evaluate_trained)
from songvec.models import glove, sppmi_svd
from songvec.models.baselines import TrainedRanking
from songvec.sequences import SequenceFile, Sequences, write_sequences
from songvec.time_budget import CostModel, OverTimeBudget, TimeBudget, TrialInfeasible, TrialPlan, context_pairs
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams

# --- SPPMI ------------------------------------------------------------------------------------------------------

#: songs A, B, C at rows 0, 1, 2; window 1, both directions: #(A,B) = 2, #(B,C) = 2, #(C,A) = 1
HAND = [[0, 1, 2], [0, 1], [1, 2], [2, 0]]


def test_sppmi_on_a_small_corpus_by_hand():
    counts = cooccurrence.window_counts([Sequences.from_track_lists(HAND)], np.arange(3), 3, 1).toarray()
    np.testing.assert_array_equal(counts, [[0, 2, 1], [2, 0, 2], [1, 2, 0]])  # row sums #A 3, #B 4, #C 3
    # cds 1: PMI(a, c) = log #(a, c) - log #(a) - log(#(c) / 10)
    plain = sppmi_svd.sppmi_matrix(sp.csr_matrix(counts), shift=1.0, cds=1.0).toarray()
    np.testing.assert_allclose(plain, [[0, math.log(2 / 3 / 0.4), math.log(1 / 3 / 0.3)],
                                       [math.log(2 / 4 / 0.3), 0, math.log(2 / 4 / 0.3)],
                                       [math.log(1 / 3 / 0.3), math.log(2 / 3 / 0.4), 0]])
    # cds 0.75: P(c) = #(c)^0.75 / (3^0.75 + 4^0.75 + 3^0.75); shift 1.5 subtracts log 1.5, keeps what stays > 0
    total = 2 * 3 ** 0.75 + 4 ** 0.75
    smoothed = sppmi_svd.sppmi_matrix(sp.csr_matrix(counts), shift=1.5, cds=0.75).toarray()
    a_b = math.log(2 / 3 / (4 ** 0.75 / total)) - math.log(1.5)
    b_a = math.log(2 / 4 / (3 ** 0.75 / total)) - math.log(1.5)
    a_c = math.log(1 / 3 / (3 ** 0.75 / total)) - math.log(1.5)
    assert a_b > 0 and b_a > 0 and a_c < 0
    np.testing.assert_allclose(smoothed, [[0, a_b, 0], [b_a, 0, b_a], [0, a_b, 0]])
    # cds < 0 with a song D that never co-occurs: D takes no share of the context distribution, and no warning
    with_d = sp.csr_matrix(np.pad(counts, ((0, 1), (0, 1))))
    total = 2 * 3 ** -0.5 + 4 ** -0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        negative = sppmi_svd.sppmi_matrix(with_d, shift=1.0, cds=-0.5).toarray()
    a_b = math.log(2 / 3 / (4 ** -0.5 / total))
    b_a = math.log(2 / 4 / (3 ** -0.5 / total))
    a_c = math.log(1 / 3 / (3 ** -0.5 / total))
    assert a_b > 0 and b_a > 0 and a_c < 0
    np.testing.assert_allclose(negative, [[0, a_b, 0, 0], [b_a, 0, b_a, 0], [0, a_b, 0, 0], [0, 0, 0, 0]])


def test_the_svd_reproduces_the_leading_singular_directions_of_the_sppmi_matrix():
    rng = np.random.default_rng(7)
    # four groups of 15 songs played in long runs: a few strong, well-separated singular values
    lists = [list(rng.choice(15, 30) + 15 * rng.integers(4)) for _ in range(200)]
    counts = cooccurrence.window_counts([Sequences.from_track_lists(lists)], np.arange(60), 60, 2)
    matrix = sppmi_svd.sppmi_matrix(counts, shift=1.0, cds=0.75)
    u, s, _ = np.linalg.svd(matrix.toarray())
    rank = 4
    assert s[rank - 1] / s[rank] > 1.5  # a gap: the leading subspace is well defined
    settings = sppmi_svd.SppmiSettings(svd_iterations=10, seed=3)
    vectors, singular = sppmi_svd.song_vectors(matrix, rank, eig=1.0, settings=settings)
    np.testing.assert_allclose(singular, s[:rank], rtol=1e-4)
    directions = vectors / singular  # U S^1 / S = U
    for i in range(rank):
        assert abs(float(directions[:, i] @ u[:, i])) == pytest.approx(1.0, abs=1e-3)
    # eig 0 gives U itself, eig 0.5 U S^0.5
    half, _ = sppmi_svd.song_vectors(matrix, rank, eig=0.5, settings=settings)
    np.testing.assert_allclose(half, vectors / np.sqrt(singular), rtol=1e-4, atol=1e-6)


# --- GloVe ------------------------------------------------------------------------------------------------------

def naive_glove_loss(counts, vectors, biases, x_max, alpha, laplace):
    """J over every ordered pair i != j, one at a time."""
    total = 0.0
    for i in range(len(counts)):
        for j in range(len(counts)):
            x = counts[i, j] + (1.0 if laplace else 0.0)
            if i == j or x <= 0:
                continue
            weight = min(1.0, (x / x_max) ** alpha)
            total += weight * (vectors[i] @ vectors[j] + biases[i] + biases[j] - math.log(x)) ** 2
    return total


@pytest.mark.parametrize("laplace", [False, True])
def test_glove_loss_and_gradients_equal_a_naive_implementation(laplace):
    rng = np.random.default_rng(1)
    counts = sp.random(7, 7, density=0.4, random_state=2, data_rvs=lambda n: rng.integers(1, 9, n)).toarray()
    counts = np.triu(counts, 1) + np.triu(counts, 1).T
    vectors, biases = rng.normal(size=(7, 3)) * 0.3, rng.normal(size=7) * 0.1
    problem = glove.Problem.of(sp.csr_matrix(counts), x_max=5.0, weight_exponent=0.75, laplace_smoothing=laplace)
    loss, grad_vectors, grad_biases = glove.loss_and_gradients(problem, vectors, biases)
    assert loss == pytest.approx(naive_glove_loss(counts, vectors, biases, 5.0, 0.75, laplace), rel=1e-12)
    step = 1e-6
    for (i, k) in [(0, 0), (3, 2), (6, 1)]:
        moved = vectors.copy()
        moved[i, k] += step
        numeric = (naive_glove_loss(counts, moved, biases, 5.0, 0.75, laplace) - loss) / step
        assert grad_vectors[i, k] == pytest.approx(numeric, rel=1e-4, abs=1e-5)
    moved = biases.copy()
    moved[4] += step
    numeric = (naive_glove_loss(counts, vectors, moved, 5.0, 0.75, laplace) - loss) / step
    assert grad_biases[4] == pytest.approx(numeric, rel=1e-4, abs=1e-5)


def test_glove_loss_decreases_at_every_epoch():
    rng = np.random.default_rng(4)
    lists = [list(rng.integers(0, 30, rng.integers(2, 25))) for _ in range(40)]
    counts = cooccurrence.window_counts([Sequences.from_track_lists(lists)], np.arange(30), 30, 3, "harmonic")
    for laplace in (False, True):
        problem = glove.Problem.of(counts, 10.0, 0.75, laplace)
        params = glove.GloveParams(vector_size=6, window=3, learning_rate=0.05, epochs=40)
        _, _, losses = glove.minimise(problem, params, seed=0)
        assert np.all(np.diff(losses) < 0), losses
        assert losses[-1] < 0.5 * losses[0]


def naive_glove_training(track_lists, window, params, seed, laplace):
    """GloVe trained one pair at a time: harmonic window counts by loops, songs by decreasing plays (ties by first
    play), the same seeded start, and AdaGrad on the loss and gradient summed over every ordered pair i != j."""
    plays = {}
    for tracks in track_lists:
        for t in tracks:
            plays[t] = plays.get(t, 0) + 1
    songs = sorted(plays, key=lambda t: -plays[t])  # stable: ties stay in order of first play
    row = {t: i for i, t in enumerate(songs)}
    n, d = len(songs), params.vector_size
    counts = np.zeros((n, n))
    for tracks in track_lists:
        for i, a in enumerate(tracks):
            for dist in range(1, window + 1):
                if i + dist < len(tracks) and tracks[i + dist] != a:
                    counts[row[a], row[tracks[i + dist]]] += 1 / dist
                    counts[row[tracks[i + dist]], row[a]] += 1 / dist
    rng = np.random.default_rng(seed)
    vectors, biases = (rng.random((n, d)) - 0.5) / d, np.zeros(n)
    squares_vectors, squares_biases = np.ones((n, d)), np.ones(n)
    losses = []
    for _ in range(params.epochs):
        loss, grad_vectors, grad_biases = 0.0, np.zeros((n, d)), np.zeros(n)
        for i in range(n):
            for j in range(n):
                x = counts[i, j] + (1.0 if laplace else 0.0)
                if i == j or x <= 0:
                    continue
                weight = min(1.0, (x / params.x_max) ** params.weight_exponent)
                r = vectors[i] @ vectors[j] + biases[i] + biases[j] - math.log(x)
                loss += weight * r * r
                grad_vectors[i] += 2 * weight * r * vectors[j]
                grad_vectors[j] += 2 * weight * r * vectors[i]
                grad_biases[i] += 2 * weight * r
                grad_biases[j] += 2 * weight * r
        losses.append(loss)
        squares_vectors += grad_vectors ** 2
        squares_biases += grad_biases ** 2
        vectors = vectors - params.learning_rate * grad_vectors / np.sqrt(squares_vectors)
        biases = biases - params.learning_rate * grad_biases / np.sqrt(squares_biases)
    return songs, vectors, losses


@pytest.mark.parametrize("laplace", [False, True])
def test_glove_trained_on_a_tiny_corpus_equals_a_naive_implementation(laplace):
    rng = np.random.default_rng(5)
    lists = [list(rng.integers(0, 12, rng.integers(2, 9))) for _ in range(10)]
    params = glove.GloveParams(vector_size=4, window=3, x_max=3.0, learning_rate=0.1, epochs=12)
    trained = models.get("glove").train(TokenChunks(Sequences.from_track_lists(lists)), params,
                                        glove.GloveSettings(laplace_smoothing=laplace, seed=9))
    songs, vectors, losses = naive_glove_training(lists, 3, params, 9, laplace)
    assert [int(k) for k in trained.wv.index_to_key] == songs
    np.testing.assert_allclose(trained.record["losses"], losses, rtol=1e-10)
    assert np.all(np.diff(losses) < 0)
    np.testing.assert_allclose(trained.wv.vectors, vectors, rtol=1e-5, atol=1e-6)  # saved as float32


def test_glove_artist_augmentation_adds_one_to_every_pair_of_an_artist():
    seqs = Sequences.from_events([0, 0, 1, 1], [10, 11, 12, 13], [5, 5, 5, 6], [0, 1, 0, 1])
    corpus = TokenChunks([seqs])
    vocabulary = models.Vocabulary.of(corpus, with_artists=True)
    params = glove.GloveParams(window=1)
    plain = glove.cooccurrence_matrix(corpus, vocabulary, params, glove.GloveSettings()).toarray()
    augmented = glove.cooccurrence_matrix(corpus, vocabulary, params,
                                          glove.GloveSettings(artist_augmentation=True)).toarray()
    row = {int(t): i for i, t in enumerate(vocabulary.track_ids)}
    difference = np.zeros((4, 4))
    for a, b in [(10, 11), (10, 12), (11, 12)]:  # artist 5's songs; 13 is alone on artist 6
        difference[row[a], row[b]] = difference[row[b], row[a]] = 1
    np.testing.assert_array_equal(augmented - plain, difference)
    no_artists = TokenChunks([Sequences.from_events([0, 0], [1, 2], [-1, -1], [0, 1])])  # artists unknown
    with pytest.raises(ValueError, match="artist_augmentation needs the artist"):
        glove.cooccurrence_matrix(no_artists, models.Vocabulary.of(no_artists, with_artists=True), params,
                                  glove.GloveSettings(artist_augmentation=True))


# --- baselines --------------------------------------------------------------------------------------------------

def naive_ranking(track_lists, query, k, window, weighting, fill):
    """Followers of ``query`` by weighted count, in exact fractions (ties: more plays, then first play), then the
    most played (uniform or harmonic weights)."""
    plays, first = {}, {}
    for tracks in track_lists:
        for t in tracks:
            first.setdefault(t, len(first))
            plays[t] = plays.get(t, 0) + 1
    popular = sorted(plays, key=lambda t: (-plays[t], first[t]))
    weights = [Fraction(1, d) if weighting == "harmonic" else Fraction(1) for d in range(1, window + 1)]
    follows = {}
    for tracks in track_lists:
        for i, a in enumerate(tracks):
            for d in range(1, window + 1):
                if a == query and i + d < len(tracks) and tracks[i + d] != query:
                    follows[tracks[i + d]] = follows.get(tracks[i + d], 0) + weights[d - 1]
    ranked = sorted(follows, key=lambda t: (-follows[t], popular.index(t)))[:k]
    if fill:
        ranked += [t for t in popular if t != query and t not in ranked][:k - len(ranked)]
    return ranked


@pytest.mark.parametrize("window, weighting, fill", [(1, "harmonic", "popularity"), (3, "harmonic", "none"),
                                                    (2, "uniform", "popularity")])
def test_the_transitions_baseline_equals_a_naive_count(window, weighting, fill):
    rng = np.random.default_rng(window)
    lists = [list(rng.integers(0, 20, rng.integers(1, 15))) for _ in range(30)]
    trained = models.get("transitions").train(TokenChunks(Sequences.from_track_lists(lists)),
                                              models.get("transitions").params(window=window),
                                              models.get("transitions").settings(weighting, fill))
    ranking = trained.ranking
    for query in sorted({t for tracks in lists for t in tracks}):
        row = int(np.flatnonzero(ranking.track_ids == query)[0])
        got = [int(ranking.track_ids[r]) for r in ranking.recommend(np.array([row]), 8)[0] if r >= 0]
        assert got == naive_ranking(lists, query, 8, window, weighting, fill == "popularity"), query


def test_the_popularity_baseline_ranks_the_most_played_first():
    lists = [[5, 6, 5, 7], [7, 5, 8]]  # plays: 5 x3, 7 x2, 6 and 8 once (6 first)
    trained = models.get("popularity").train(TokenChunks(Sequences.from_track_lists(lists)),
                                             models.get("popularity").params(), models.get("popularity").settings())
    ranking = trained.ranking
    assert ranking.track_ids.tolist() == [5, 7, 6, 8]
    assert ranking.recommend(np.array([0, 2]), 3).tolist() == [[1, 2, 3], [0, 1, 3]]  # never the query
    assert ranking.recommend(np.array([1]), 5).tolist() == [[0, 2, 3, -1, -1]]  # only 3 other songs


# --- every model through the evaluation ---------------------------------------------------------------------------

SMALL = {"word2vec_sg": {"vector_size": 8, "window": 2, "negative": 2}, "word2vec_cbow": {"vector_size": 8, "window": 2},
         "sppmi_svd": {"vector_size": 8, "window": 2}, "glove": {"vector_size": 8, "window": 2, "epochs": 8},
         "popularity": {}, "transitions": {"window": 2}}
SETTINGS = {"word2vec_sg": {"epochs": 2}, "word2vec_cbow": {"epochs": 2}}


def small(name, seed=0):
    model = models.get(name)
    settings = model.settings.from_config(SETTINGS.get(name, {}), seed)
    return model, model.params(**SMALL[name]), settings


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(11)
    lists = [list(rng.zipf(1.6, rng.integers(2, 40)) % 50 + 100) for _ in range(40)]
    return Sequences.from_track_lists(lists)


@pytest.fixture(scope="module")
def data(corpus):
    rng = np.random.default_rng(12)
    ids = np.unique(corpus.tracks)
    pairs = pd.DataFrame({"query": rng.choice(ids, 40), "target": rng.choice(ids, 40)})
    pairs.loc[0, "target"] = 999  # out of vocabulary
    pairs.loc[1, "target"] = pairs.loc[1, "query"]  # a repeat play
    genres = pd.DataFrame({"track_id": ids, "artist_id": ids % 7, "genre": np.array(["rock", "pop", "jazz"])[ids % 3]})
    hard = pd.DataFrame({"song_a": ids[[0, 1]], "song_b": ids[[2, 3]]})
    return EvaluationData(pairs={"in_set": pairs.iloc[:20].reset_index(drop=True),
                                 "out_of_set": pairs.iloc[20:].reset_index(drop=True)},
                          track_genres=genres, hard_negatives=hard)


def output_of(trained):
    if isinstance(trained, TrainedRanking):
        return trained.ranking.track_ids, trained.ranking.followers.toarray()
    return np.asarray(trained.wv.index_to_key), trained.wv.vectors


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_trains_every_song_deterministically_in_any_batching(name, corpus, tmp_path):
    model, params, settings = small(name)
    first = model.train(TokenChunks(corpus), params, settings)
    again = model.train(TokenChunks(corpus), params, settings)
    write_sequences(tmp_path / "train.parquet", corpus)
    from_file = model.train(TokenChunks(SequenceFile(tmp_path / "train.parquet", batch_events=64)), params, settings)
    for other in (again, from_file):
        for got, expected in zip(output_of(other), output_of(first)):
            np.testing.assert_array_equal(got, expected)
    keys = output_of(first)[0]
    assert sorted(int(k) for k in keys) == sorted(np.unique(corpus.tracks).tolist())
    record = first.record
    assert record["n_events"] == corpus.n_events and record["vocabulary_size"] == len(keys)
    assert record["train_seconds"] >= 0 and record["train_cpu_seconds"] >= 0


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_saved_and_evaluated_gives_the_naive_metrics(name, corpus, data, tmp_path):
    model, params, settings = small(name)
    trained = model.train(TokenChunks(corpus), params, settings)
    path = tmp_path / models.ARTIFACTS[model.kind]
    models.save(trained, path, tmp_path / "record.json")
    evaluation = evaluate_saved(path, data, EvaluationSettings(k=5, hardneg_songs=None))
    direct = evaluate_trained(trained, data, EvaluationSettings(k=5, hardneg_songs=None))
    assert evaluation.metrics == direct.metrics
    for kind in ("in_set", "out_of_set"):
        if model.kind == "embedding":
            keys = np.asarray(trained.wv.index_to_key, dtype=np.int64)
            hitrate, ndcg = naive_hitrate(trained.wv.vectors, keys, data.pairs[kind], 5)
        else:
            lists = [corpus.track_sequence(i).tolist() for i in range(len(corpus))]
            hits, gains = [], []
            for q, t in zip(data.pairs[kind]["query"], data.pairs[kind]["target"]):
                if q not in trained.ranking.track_ids or t not in trained.ranking.track_ids or q == t:
                    continue
                ranked = naive_ranking(lists, q, 5, getattr(params, "window", 0), getattr(settings, "weighting", "uniform"),
                                       getattr(settings, "fill", "popularity") == "popularity")
                rank = ranked.index(t) + 1 if t in ranked else 0
                hits.append(rank > 0)
                gains.append(1 / np.log2(rank + 1) if rank else 0.0)
            hitrate, ndcg = np.mean(hits), np.mean(gains)
        assert evaluation.metrics[f"hitrate_{kind}"] == pytest.approx(hitrate)
        assert evaluation.metrics[f"ndcg_{kind}"] == pytest.approx(ndcg)
    if model.kind == "ranking":
        assert evaluation.metrics["vrc_genre"] is None and evaluation.metrics["hardneg"] is None
        assert evaluation.songs.empty
        return
    # VRC and HardNeg of the song vectors, as test_evaluation checks them for a Word2Vec space
    keys = np.asarray(trained.wv.index_to_key, dtype=np.int64)
    norms = np.linalg.norm(trained.wv.vectors.astype(np.float64), axis=1, keepdims=True)
    unit = np.divide(trained.wv.vectors, norms, out=np.zeros(trained.wv.vectors.shape), where=norms > 0)
    labels = data.track_genres.set_index("track_id").loc[keys]
    for metric, column in (("vrc_genre", "genre"), ("vrc_artist", "artist_id")):
        assert evaluation.metrics[metric] == pytest.approx(calinski_harabasz_score(unit, labels[column]), rel=1e-4)
    partners = {}
    for a, b in zip(data.hard_negatives["song_a"], data.hard_negatives["song_b"]):
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    sims = unit @ unit.T
    expected = []
    for song in sorted(partners):
        row = int(np.flatnonzero(keys == song)[0])
        order = [j for j in sorted(range(len(keys)), key=lambda j: (-sims[row, j], j)) if j != row][:5]
        expected.append(sum(keys[j] in partners[song] for j in order) / 5)
    assert evaluation.songs["song"].tolist() == sorted(partners)
    assert evaluation.songs["hardneg"].to_numpy() == pytest.approx(expected)


def test_per_pair_rows_are_the_same_for_every_model(corpus, data):
    frames = []
    for name in models.MODELS:
        model, params, settings = small(name)
        frames.append(evaluate_trained(model.train(TokenChunks(corpus), params, settings), data,
                                       EvaluationSettings(k=5)).pairs[["kind", "query", "target", "evaluated"]])
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])


@pytest.mark.parametrize("name", [name for name in models.MODELS if name != "popularity"])
def test_every_tunable_model_over_the_budget_is_an_infeasible_trial(name, corpus, data):
    model, params, settings = small(name)
    budget = TimeBudget(None, 1e-9, factor=1.0, relative=lambda p: 1.0)
    evaluate = configuration_evaluator(corpus, data, EvaluationSettings(k=5), settings, budget, model=model)
    with pytest.raises(TrialInfeasible, match="exceeds the budget"):
        evaluate(dataclasses.asdict(params))
    # predicted 10 x the budget, past a margin of 3: infeasible without training
    predicted = dataclasses.replace(budget, reference_seconds=1.0, prediction_margin=3.0, relative=lambda p: 10.0)
    with pytest.raises(TrialInfeasible, match="predicted training time"):
        configuration_evaluator(corpus, data, EvaluationSettings(k=5), settings, predicted, model=model)(
            dataclasses.asdict(params))
    metrics = configuration_evaluator(corpus, data, EvaluationSettings(k=5), settings, None, model=model)(
        dataclasses.asdict(params))
    assert 0 <= metrics["hitrate"] <= 1 and metrics["train_cpu_seconds"] >= 0
    assert ("epochs" in metrics) == (name.startswith("word2vec"))


def test_the_training_clock_projects_from_the_steps_after_the_first():
    """Counting 0.5 s, a slow first epoch (1 s) and 0.4 s epochs after it: 20 epochs fit a 10 s budget."""
    now = [0.0]
    timer = models.base.TrainingClock(10.0, "cpu")
    timer.clock, timer.start = dataclasses.replace(timer.clock, now=lambda: now[0]), 0.0
    now[0] = 1.5
    timer.check(1, 20)  # the mean of the first epoch would project 0.5 + 20 x 1 = 20.5 s
    now[0] = 1.9
    timer.check(2, 20)  # 1.9 + 18 x 0.4 = 9.1 s
    now[0] = 3.0  # epoch 3 took 1.1 s: (3.0 - 1.5) / 2 = 0.75 s an epoch, 3.0 + 17 x 0.75 = 15.75 s
    with pytest.raises(OverTimeBudget, match="projected training time 15.8s exceeds the budget of 10s"):
        timer.check(3, 20)
    now[0] = 10.5  # a single step is held to the budget by the time it took
    with pytest.raises(OverTimeBudget, match="10.5s exceeds"):
        timer.check(1, 1)
    unlimited = models.base.TrainingClock(None, "cpu")
    unlimited.check(1, 20)


STATISTICS = {"tokens": 1000, "songs": 100, "pairs_by_window": tuple(range(2000, 42000, 2000)),
              "pairs": (1.5, 2.5, 3.25, 4.0, 4.5)}
"""Corpus statistics of the work checks: 1000 tokens, 100 songs, 2000 x window co-occurring entries, context
pairs per token 1.5 ... 4.5 at windows 1 ... 5 (window + 1 beyond)."""


def test_each_models_work_by_hand():
    w2v = TrainingSettings(epochs=3)
    params = Word2VecParams(vector_size=10, window=2, negative=4)  # 2.5 pairs a token, 5 samples each
    passes = 1000 * 3
    assert models.get("word2vec_sg").work(params, w2v, STATISTICS) == pytest.approx(
        {"per_sample_dim": 2.5 * 5 * 10 * passes, "per_sample": 2.5 * 5 * passes, "per_token": passes})
    assert models.get("word2vec_cbow").work(params, w2v, STATISTICS) == pytest.approx(
        {"per_context_dim": 2.5 * 10 * passes, "per_sample_dim": 5 * 10 * passes, "per_sample": 5 * passes,
         "per_token": passes})
    wide = dataclasses.replace(params, window=9)  # past the corpus' statistics: window + 1 pairs
    assert models.get("word2vec_cbow").work(wide, w2v, STATISTICS)["per_context_dim"] == 10 * 10 * passes
    sppmi = sppmi_svd.SppmiParams(vector_size=20, window=3)
    assert sppmi_svd.work(sppmi, sppmi_svd.SppmiSettings(svd_iterations=2, svd_oversamples=5), STATISTICS) == \
        {"per_count": 3000, "per_svd": (2 * 2 + 4) * 6000 * 25, "per_dense": (2 * 2 + 4) * 100 * 25 * 25,
         "per_token": 1000}
    params = glove.GloveParams(vector_size=10, window=2, epochs=7)
    plain = glove.work(params, glove.GloveSettings(), STATISTICS)
    assert plain == {"per_count": 2000, "per_pair_dim": 7 * 1.5 * 4000 * 10, "per_parameter": 7 * 100 * 11,
                     "per_laplace": 0.0, "per_token": 1000}
    smoothed = glove.work(params, glove.GloveSettings(laplace_smoothing=True), STATISTICS)
    assert smoothed == {**plain, "per_laplace": 7 * 2 * 100 * 10 * 10}
    sequence = glove.work(params, glove.GloveSettings(cooccurrence="sequence"), {**STATISTICS, "sequence_entries": 500})
    assert sequence["per_count"] == 500 and sequence["per_pair_dim"] == 7 * 1.5 * 500 * 10
    transitions = models.get("transitions")
    assert transitions.work(transitions.params(window=4), None, STATISTICS) == {"per_count": 4000, "per_token": 1000}
    assert models.get("popularity").work(models.get("popularity").params(), None, STATISTICS) == {"per_token": 1000}
    for model in models.MODELS.values():  # each names its coefficients
        assert set(model.work(model.params(), small(model.name)[2], STATISTICS)) == set(model.cost_terms)


def test_predicted_seconds_sum_each_work_times_its_coefficient():
    settings = sppmi_svd.SppmiSettings()
    params = sppmi_svd.SppmiParams()
    coefficients = {"per_count": 2.0, "per_svd": 0.5, "per_dense": 0.25, "per_token": 10.0}
    work = sppmi_svd.work(params, settings, STATISTICS)
    expected = (2.0 * work["per_count"] + 0.5 * work["per_svd"] + 0.25 * work["per_dense"]
                + 10.0 * work["per_token"]) * 1e-9
    assert models.get("sppmi_svd").predicted_seconds(params, settings, STATISTICS, coefficients) == \
        pytest.approx(expected)
    with pytest.raises(ValueError, match="lacks the coefficient.s. per_svd"):
        models.get("sppmi_svd").predicted_seconds(params, settings, STATISTICS, {"per_count": 1, "per_dense": 1, "per_token": 1})
    # the skip-gram's is config hpo.cost_model's prediction per token and epoch, times tokens x epochs
    fitted = {"per_sample_dim": 0.92, "per_sample": 136.0, "per_token": 3.0}
    w2v, params = TrainingSettings(epochs=5), Word2VecParams(window=3, negative=7, vector_size=40)
    assert models.get("word2vec_sg").predicted_seconds(params, w2v, STATISTICS, fitted) == pytest.approx(
        CostModel(**fitted).cost(params, STATISTICS["pairs"]) * 1000 * 5 * 1e-9)


def _budget_options(measure):
    hpo = {"time_budget_factor": 1.25, "time_measure": measure, "time_constraint": "reject", "prediction_margin": 3.0,
           "cost_model": {"per_sample_dim": 1.0, "per_sample": 100.0, "per_token": 0.0},
           "search_space": {"window": {"type": "int", "low": 1, "high": 8}}}
    reference = models.ModelOptions("word2vec_sg", dataclasses.asdict(Word2VecParams()), hpo["search_space"],
                                    {"epochs": 5}, hpo["cost_model"])
    found = models.ModelOptions("glove", {"vector_size": 20, "window": 3, "epochs": 10},
                                {"window": {"type": "int", "low": 1, "high": 8}}, {},
                                {"per_count": 40.0, "per_pair_dim": 8.0, "per_parameter": 16.0, "per_laplace": 4.0,
                                 "per_token": 200.0})
    return hpo, reference, found


def test_another_models_budget_is_its_cost_model_against_the_skipgram_defaults(corpus):
    chunks = TokenChunks(corpus)
    hpo, reference, found = _budget_options("model")
    settings = glove.GloveSettings()
    budget = models.time_budget(found, reference, hpo, {"train_cpu_seconds": 8.0}, chunks, settings)
    assert budget.reference is None and budget.clock == "model"
    # by hand: the skip-gram default's predicted seconds on this corpus, and GloVe's
    pairs = context_pairs(chunks.chunk_lengths, 5)
    skipgram = CostModel(**hpo["cost_model"]).cost(Word2VecParams(), pairs) * chunks.n_tokens * 5 * 1e-9
    statistics = glove.statistics(chunks, settings, {"window": 8})
    default = glove.GloveParams(vector_size=20, window=3, epochs=10)
    work = glove.work(default, settings, statistics)
    own = sum(found.cost_model[name] * amount for name, amount in work.items()) * 1e-9
    assert budget.relative_time(default) == pytest.approx(own / skipgram)
    assert budget.plan(default, None) == TrialPlan(None, None, "cpu")  # within: no measured budget
    costly = dataclasses.replace(default, vector_size=200, epochs=50, window=8)
    assert budget.relative_time(default) < 1.25 < budget.relative_time(costly)  # decided before any training
    with pytest.raises(TrialInfeasible, match="the cost model predicts"):
        budget.plan(costly, None)
    predictor = budget.violation_predictor(None, models.get("glove").parse_params)
    assert predictor(dataclasses.asdict(costly)) > 0 >= predictor(dataclasses.asdict(default))
    # the same decisions whatever the measured time of the skip-gram default (time_measure: model)
    slower = models.time_budget(found, reference, hpo, {"train_cpu_seconds": 80.0}, chunks, settings)
    assert slower.relative_time(costly) == budget.relative_time(costly)
    # cpu: the same prediction, and the training is held to 1.25 x the measured 8 s
    cpu = models.time_budget(found, reference, {**hpo, "time_measure": "cpu"}, {"train_cpu_seconds": 8.0}, chunks,
                             settings)
    assert cpu.relative_time(costly) == budget.relative_time(costly)
    assert cpu.plan(default, None) == TrialPlan(None, 10.0, "cpu")
    # CBOW has the skip-gram's parameters, but its default is not the reference: it is planned, not exempted
    cbow = models.ModelOptions("word2vec_cbow", reference.defaults, {}, {"epochs": 5},
                               {"per_context_dim": 1.0, "per_sample_dim": 1.0, "per_sample": 100.0, "per_token": 0.0})
    cbow_budget = models.time_budget(cbow, reference, {**hpo, "time_measure": "cpu"}, {"train_cpu_seconds": 8.0},
                                     chunks, TrainingSettings(epochs=5))
    assert cbow_budget.plan(Word2VecParams(), 5) == TrialPlan(5, 10.0, "cpu")
    # the skip-gram's own budget is the config's, exactly as without other models
    own = models.time_budget(reference, reference, hpo, {"train_cpu_seconds": 8.0}, chunks)
    assert own == TimeBudget.from_config(hpo, Word2VecParams(), {"train_cpu_seconds": 8.0}, chunks.chunk_lengths)
    assert own.plan(Word2VecParams(), 5).budget_seconds is None


def test_another_models_study_under_the_cost_model_is_reproducible_and_trains_only_what_fits(corpus, data, tmp_path):
    """hpo_worker's path for GloVe with time_measure: model: two runs of the same seed give the same trials,
    and constraint-aware sampling evaluates only configurations predicted within the budget."""
    from songvec import hpo

    hpo_section, reference, found = _budget_options("model")
    found = dataclasses.replace(found, defaults={"vector_size": 8, "window": 2, "epochs": 8},
                                search_space={"vector_size": {"type": "int", "low": 4, "high": 200},
                                              "window": {"type": "int", "low": 1, "high": 8},
                                              "epochs": {"type": "int", "low": 2, "high": 100}})
    hpo_section |= {"other_models": {"max_trials": 5, "random_trials": 3, "patience": 5}, "enqueue_default": True,
                    "heartbeat_seconds": 10, "sampler": "tpe", "constrained_sampling": True,
                    "sampler_settings": {"tpe": {"max_proposals": 20}}}
    chunks, settings = TokenChunks(corpus), glove.GloveSettings()
    budget = models.time_budget(found, reference, hpo_section, {"train_cpu_seconds": 1.0}, chunks, settings)
    predictor = budget.violation_predictor(None, found.model.parse_params)
    runs = []
    for run in ("a", "b"):
        url = f"journal:{tmp_path}/{run}/hpo.log"
        worker = hpo.WorkerSettings.from_config(hpo_section, {}, {"k": 5}, seed=4, worker_index=0,
                                                model=found.as_dict())
        evaluate = configuration_evaluator(chunks, data, EvaluationSettings(k=5), settings, budget, model=found.model)
        hpo.run_study_worker("glove-HitRate", url, "HitRate", evaluate, None, worker, predicted_violation=predictor)
        study = hpo.load_study("glove-HitRate", url)
        runs.append([(t.params, t.values, t.state) for t in study.get_trials()])
    assert runs[0] == runs[1] and len(runs[0]) == 5
    assert hpo.study_summary(study)["n_rejected_draws"] > 0  # the budget did have draws to refuse
    assert all(predictor(params) <= 0 for params, _, _ in runs[0])  # nothing predicted over the budget trained
    assert runs[0][0][0] == found.defaults  # the default first


def test_model_options_read_each_models_part_of_the_config():
    import yaml
    from conftest import REPO
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    cbow = models.options(config, "word2vec_cbow")
    assert cbow.settings["epochs"] == config["word2vec"]["epochs"] and cbow.tunable
    assert isinstance(cbow.training_settings(1, workers=1), TrainingSettings)
    assert not models.options(config, "popularity").tunable
    glove_options = models.options(config, "glove")
    assert glove_options.largest()["window"] == config["model_config"]["glove"]["search_space"]["window"]["high"]
    assert glove_options.default_params() == glove.GloveParams(**config["model_config"]["glove"]["defaults"])
    with pytest.raises(ValueError, match="unknown model 'bert'"):
        models.get("bert")
    with pytest.raises(ValueError, match="glove has no hyper-parameter 'depth'"):
        models.get("glove").parse_params({"depth": 3})
