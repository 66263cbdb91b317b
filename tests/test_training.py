import dataclasses
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gensim.models import Word2Vec
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec.evaluation import EvaluationData, EvaluationSettings, configuration_evaluator
from songvec.sequences import SequenceFile, Sequences, write_sequences
from songvec.time_budget import OverTimeBudget, TimeBudget, TrialInfeasible
from songvec.training import (
    TokenChunks, TrainingSettings, Word2VecParams, load_vectors, save_model, train_word2vec)

SMALL = Word2VecParams(vector_size=8, window=3, negative=3)
QUICK = TrainingSettings(epochs=2)


def random_sequences(seed=0, n_sequences=40, vocabulary=300) -> Sequences:
    rng = np.random.default_rng(seed)
    return Sequences.from_track_lists([(rng.zipf(1.4, rng.integers(1, 400)) % vocabulary).tolist()
                           for _ in range(n_sequences)])


# --- corpus -----------------------------------------------------------------------------------

def test_token_chunks_split_long_sequences_without_losing_tokens():
    seqs = Sequences.from_track_lists([list(range(25)), [], [7] * 10, [3, 1, 2]])
    corpus = TokenChunks(seqs, max_tokens=10)
    chunks = list(corpus)
    assert [len(c) for c in chunks] == [10, 10, 5, 10, 3]
    assert len(corpus) == 5 and corpus.n_tokens == seqs.n_events
    assert sum(chunks[:3], []) == [str(i) for i in range(25)]
    assert chunks[4] == ["3", "1", "2"]
    assert list(corpus) == chunks  # re-iterable: a second pass yields the same corpus
    assert corpus.song_ids.tolist()[:3] == [0, 1, 2] and corpus.song_counts[7] == 11


def test_token_chunks_total_tokens_equal_events_on_random_data():
    rng = np.random.default_rng(1)
    seqs = Sequences.from_track_lists([rng.integers(0, 50, rng.integers(0, 80)).tolist() for _ in range(30)])
    for max_tokens in (1, 7, 10_000):
        chunks = list(TokenChunks(seqs, max_tokens))
        assert sum(len(c) for c in chunks) == seqs.n_events
        assert max(len(c) for c in chunks) <= max_tokens
        assert [int(t) for c in chunks for t in c] == seqs.tracks.tolist()


def test_long_sequence_is_trained_on_every_token():
    # one 25,000-event sequence: gensim alone trains on its first 10,000 tokens only
    tracks = np.arange(25_000) % 500
    seqs = Sequences.from_track_lists([tracks.tolist()])
    settings = TrainingSettings(epochs=1, sample=0.0)
    model = train_word2vec(seqs, SMALL, settings)
    assert model.record["effective_words"] == 25_000
    assert model.record["n_chunks"] == 3


def test_bare_gensim_truncates_a_long_sentence():
    """The premise of the splitting: gensim reports only 10,000 effective words of 25,000."""
    tokens = [str(t) for t in np.arange(25_000) % 500]
    model = Word2Vec(vector_size=8, window=3, negative=3, sg=1, hs=0, min_count=1, sample=0.0,
                     workers=1, seed=0)
    model.build_vocab([tokens])
    effective, raw = model.train([tokens], total_examples=1, epochs=1)
    assert (effective, raw) == (10_000, 25_000)


def naive_chunks(track_lists, max_tokens):
    """Reference: every list cut into consecutive pieces of max_tokens, as str tokens."""
    return [[str(t) for t in tracks[i:i + max_tokens]] for tracks in track_lists
            for i in range(0, len(tracks), max_tokens)]


def naive_vocabulary(track_lists):
    """Reference: distinct tracks in order of first occurrence and their plays (a dict keeps the order)."""
    counts = {}
    for tracks in track_lists:
        for t in tracks:
            counts[t] = counts.get(t, 0) + 1
    return list(counts), list(counts.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=25), min_size=1, max_size=12),
       st.integers(1, 9), st.data())
def test_token_chunks_of_any_batching_equal_a_naive_chunking(track_lists, max_tokens, data):
    cuts = sorted(data.draw(st.sets(st.integers(1, len(track_lists) - 1), max_size=4))) if len(track_lists) > 1 else []
    bounds = [0, *cuts, len(track_lists)]
    batches = [Sequences.from_track_lists(track_lists[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    corpus = TokenChunks(batches, max_tokens)
    expected = naive_chunks(track_lists, max_tokens)
    assert list(corpus) == expected and list(corpus) == expected  # a second pass yields the same
    assert len(corpus) == len(expected) and corpus.n_tokens == sum(map(len, track_lists))
    assert corpus.n_sequences == len(track_lists)
    ids, counts = naive_vocabulary(track_lists)
    assert corpus.song_ids.tolist() == ids and corpus.song_counts.tolist() == counts
    assert corpus.tokens.tolist() == [str(i) for i in ids]
    lengths = [len(chunk) for chunk in expected]
    assert corpus.chunk_lengths == {n: lengths.count(n) for n in set(lengths)}


def test_token_chunks_reject_a_one_pass_iterator():
    with pytest.raises(TypeError, match="re-iterable"):
        TokenChunks(iter([random_sequences()]))
    with pytest.raises(ValueError, match="track ids must be >= 0"):
        TokenChunks(Sequences.from_track_lists([[3, -1]]))


# --- training ---------------------------------------------------------------------------------

def test_training_equals_a_bare_gensim_call():
    seqs = random_sequences()
    model = train_word2vec(seqs, SMALL, QUICK)
    sentences = list(TokenChunks(seqs))
    bare = Word2Vec(sentences, vector_size=8, window=3, negative=3, ns_exponent=0.75, alpha=0.025,
                    sg=1, hs=0, min_count=1, sample=1e-3, min_alpha=1e-4, epochs=2, workers=1, seed=0)
    assert model.wv.index_to_key == bare.wv.index_to_key
    assert np.array_equal(model.wv.vectors, bare.wv.vectors)


def test_training_record():
    seqs = random_sequences()
    settings = TrainingSettings(epochs=2, min_count=3)
    record = train_word2vec(seqs, SMALL, settings).record
    counts = np.bincount(seqs.tracks)
    rare = (counts > 0) & (counts < 3)
    assert record["n_events"] == seqs.n_events and record["n_sequences"] == len(seqs)
    assert record["n_songs"] == np.count_nonzero(counts)
    assert record["n_songs_below_min_count"] == np.count_nonzero(rare) > 0
    assert record["n_events_below_min_count"] == counts[rare].sum()
    assert record["vocabulary_size"] == record["n_songs"] - record["n_songs_below_min_count"]
    assert record["raw_words"] == 2 * seqs.n_events
    assert 0 < record["effective_words"] < record["raw_words"]
    assert record["epochs_completed"] == 2
    assert 0 < record["train_seconds"] <= record["total_seconds"]
    assert record["params"] == {"vector_size": 8, "window": 3, "ns_exponent": 0.75, "negative": 3,
                                "alpha": 0.025}
    assert record["settings"]["min_count"] == 3


def test_training_is_deterministic():
    seqs = random_sequences(seed=2)
    first = train_word2vec(seqs, SMALL, QUICK).wv
    second = train_word2vec(seqs, SMALL, QUICK).wv
    other_seed = train_word2vec(seqs, SMALL, TrainingSettings(epochs=2, seed=1)).wv
    assert np.array_equal(first.vectors, second.vectors)
    assert not np.array_equal(first.vectors, other_seed.vectors)


HASHSEED_SCRIPT = """
import hashlib, numpy as np
from songvec.sequences import Sequences
from songvec.training import TrainingSettings, Word2VecParams, train_word2vec
rng = np.random.default_rng(0)
tracks = (rng.zipf(1.4, 3000) % 200).astype(np.int64)
offsets = np.array([0, 1000, 2200, 3000])
zeros = np.zeros_like(tracks)
seqs = Sequences(np.arange(3), offsets, tracks, zeros, zeros)
wv = train_word2vec(seqs, Word2VecParams(vector_size=8), TrainingSettings(epochs=2)).wv
print(hashlib.sha256(wv.vectors.tobytes() + " ".join(wv.index_to_key).encode()).hexdigest())
"""


def test_training_does_not_depend_on_pythonhashseed():
    src = str(Path(__file__).resolve().parents[1] / "src")
    runs = []
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed,
                   PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
        runs.append(subprocess.Popen([sys.executable, "-c", HASHSEED_SCRIPT], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
    digests = [out.strip() for out, _ in outputs]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


# --- time budget ------------------------------------------------------------------------------

def test_tiny_budget_stops_within_the_first_epoch_without_leaving_threads():
    seqs = random_sequences()
    threads_before = set(threading.enumerate())
    with pytest.raises(OverTimeBudget) as stopped:
        train_word2vec(seqs, SMALL, TrainingSettings(epochs=5), time_budget_seconds=1e-6)
    assert stopped.value.epochs_completed == 0
    assert stopped.value.budget_seconds == 1e-6
    assert stopped.value.projected_seconds > 1e-6
    copy = pickle.loads(pickle.dumps(stopped.value))
    assert (copy.projected_seconds, copy.epochs_completed) == (stopped.value.projected_seconds, 0)
    deadline = time.monotonic() + 5
    left = [t for t in threading.enumerate() if t not in threads_before]
    for thread in left:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    assert not [t for t in left if t.is_alive()]


def test_budget_exceeded_mid_epoch_ends_the_epoch_early():
    """With one epoch of budget spread over 5 epochs, a run stops inside an epoch, not after it."""
    seqs = random_sequences()
    settings = TrainingSettings(epochs=5)
    one_epoch = train_word2vec(seqs, SMALL, TrainingSettings(epochs=1)).record["train_cpu_seconds"]
    with pytest.raises(OverTimeBudget) as stopped:
        train_word2vec(seqs, SMALL, settings, time_budget_seconds=one_epoch)
    assert stopped.value.projected_seconds > one_epoch
    assert stopped.value.epochs_completed <= 1


def test_ample_budget_trains_all_epochs():
    record = train_word2vec(random_sequences(), SMALL, QUICK, time_budget_seconds=3600).record
    assert record["epochs_completed"] == 2 and record["time_budget_seconds"] == 3600


# --- parameters, saving -----------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("vector_size", 0), ("window", 0), ("negative", 0),
                                          ("window", 2.5), ("alpha", 0.0)])
def test_bad_params_are_rejected_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        Word2VecParams(**{field: value})


def test_sentences_longer_than_gensim_limit_are_rejected():
    with pytest.raises(ValueError, match="max_sentence_tokens"):
        TrainingSettings(max_sentence_tokens=20_000)
    with pytest.raises(ValueError, match="epochs"):
        TrainingSettings(epochs=0)


def test_save_and_load_round_trip(tmp_path):
    model = train_word2vec(random_sequences(), SMALL, QUICK)
    path = tmp_path / "out" / "vectors.kv"
    save_model(path, model)
    assert sorted(p.name for p in path.parent.iterdir()) == ["vectors.json", "vectors.kv"]
    vectors, track_ids = load_vectors(path)
    assert vectors.dtype == np.float32 and track_ids.dtype == np.int64
    assert np.array_equal(vectors, model.wv.vectors)
    assert track_ids.tolist() == [int(k) for k in model.wv.index_to_key]
    assert json.loads((path.parent / "vectors.json").read_text()) == model.record
    other = train_word2vec(random_sequences(seed=1), SMALL, QUICK)
    save_model(path, other, record_path=tmp_path / "record.json")  # replaces the vectors file
    assert np.array_equal(load_vectors(path)[0], other.wv.vectors)
    assert json.loads((tmp_path / "record.json").read_text()) == other.record
    assert not [p for p in tmp_path.rglob(".tmp*")]


def test_empty_sequences_are_rejected():
    with pytest.raises(ValueError, match="no event"):
        train_word2vec(Sequences.from_track_lists([[], []]), SMALL, QUICK)


def test_settings_from_the_config_section():
    word2vec = {"defaults": {"vector_size": 100}, "epochs": 3, "min_count": 2, "sample": 0.0, "min_alpha": 1e-4,
                "workers": 1, "max_sentence_tokens": 5000, "batch_words": 1000}
    settings = TrainingSettings.from_config(word2vec, seed=7)
    assert (settings.epochs, settings.min_count, settings.batch_words, settings.seed) == (3, 2, 1000, 7)


# --- training from a sequence file ------------------------------------------------------------

def long_sequences(seed=0) -> Sequences:
    """~8,000 events in 40 sequences of 1..399 events: with max_sentence_tokens=50 most are split."""
    return random_sequences(seed=seed)


SPLIT = TrainingSettings(epochs=2, max_sentence_tokens=50)
TIMINGS = ("seconds", "per_second")


def test_a_file_read_in_many_batches_trains_the_same_vectors_as_memory(tmp_path):
    seqs = long_sequences()
    write_sequences(tmp_path / "train.parquet", seqs)
    source = SequenceFile(tmp_path / "train.parquet", batch_events=1024)
    assert len(list(source)) >= 5 and source.n_events == seqs.n_events
    in_memory = train_word2vec(seqs, SMALL, SPLIT)
    from_file = train_word2vec(source, SMALL, SPLIT)
    assert from_file.wv.index_to_key == in_memory.wv.index_to_key
    assert np.array_equal(from_file.wv.vectors, in_memory.wv.vectors)
    assert from_file.record["n_chunks"] > len(seqs)  # sequences were split
    assert {k: v for k, v in from_file.record.items() if not k.endswith(TIMINGS)} == \
        {k: v for k, v in in_memory.record.items() if not k.endswith(TIMINGS)}
    assert 0 <= from_file.record["corpus_read_seconds"] <= from_file.record["train_seconds"]


def test_a_file_corpus_is_re_iterable_and_chunked_as_in_memory(tmp_path):
    seqs = long_sequences(seed=3)
    write_sequences(tmp_path / "train.parquet", seqs)
    from_file = TokenChunks(SequenceFile(tmp_path / "train.parquet", 1024), max_tokens=50)
    in_memory = TokenChunks(seqs, max_tokens=50)
    first = list(from_file)
    assert first == list(from_file) == list(in_memory)
    assert first == naive_chunks([seqs.track_sequence(i).tolist() for i in range(len(seqs))], 50)
    assert (len(from_file), from_file.n_tokens) == (len(in_memory), in_memory.n_tokens)
    assert np.array_equal(from_file.song_ids, in_memory.song_ids)
    assert np.array_equal(from_file.song_counts, in_memory.song_counts)


def test_a_prebuilt_corpus_is_reused_and_must_match_the_settings():
    corpus = TokenChunks(long_sequences(), max_tokens=50)
    assert np.array_equal(train_word2vec(corpus, SMALL, SPLIT).wv.vectors,
                          train_word2vec(long_sequences(), SMALL, SPLIT).wv.vectors)
    with pytest.raises(ValueError, match="max_sentence_tokens=10000"):
        train_word2vec(corpus, SMALL, QUICK)


def test_a_file_changed_after_the_vocabulary_pass_is_an_error(tmp_path):
    path = tmp_path / "train.parquet"
    write_sequences(path, long_sequences())
    corpus = TokenChunks(SequenceFile(path, 1024))
    write_sequences(path, long_sequences(seed=1))
    with pytest.raises(ValueError, match="train.parquet changed since the vocabulary pass"):
        list(corpus)


class FailingSource:
    """Batches of ``seqs``; every pass after the first ``passes`` raises OSError midway."""

    def __init__(self, seqs, passes):
        self.seqs, self.passes = seqs, passes

    def __iter__(self):
        half = len(self.seqs) // 2
        yield self.seqs.subset(np.arange(half))
        if self.passes == 0:
            raise OSError("disk gone")
        self.passes -= 1
        yield self.seqs.subset(np.arange(half, len(self.seqs)))


def test_a_read_error_during_an_epoch_is_raised_instead_of_hanging_gensim():
    outcome = []
    worker = threading.Thread(daemon=True, target=lambda: outcome.append(
        pytest.raises(OSError, train_word2vec, FailingSource(long_sequences(), passes=2), SMALL, SPLIT)))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "train_word2vec hung after the corpus raised"
    assert outcome and "disk gone" in str(outcome[0].value)


def test_the_vocabulary_pass_is_logged_with_its_events_and_rate(caplog, tmp_path):
    write_sequences(tmp_path / "train.parquet", long_sequences())
    with caplog.at_level(logging.INFO, logger="songvec.training"):
        corpus = TokenChunks(SequenceFile(tmp_path / "train.parquet", 1024))
    lines = [r.getMessage() for r in caplog.records if "vocabulary pass" in r.getMessage()]
    assert lines and f"{corpus.n_tokens:,}/{corpus.n_tokens:,} (100.0%) events" in lines[-1]
    assert "events/s" in lines[-1]


class CountingSource:
    """A source that counts its passes."""

    def __init__(self, source):
        self.source, self.passes = source, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.source)


def test_hpo_evaluator_on_a_file_gives_the_in_memory_metrics_with_one_vocabulary_pass(tmp_path):
    seqs = long_sequences(seed=5)
    write_sequences(tmp_path / "train.parquet", seqs)
    rng = np.random.default_rng(5)
    ids = np.unique(seqs.tracks)
    pairs = pd.DataFrame({"query": rng.choice(ids, 60), "target": rng.choice(ids, 60)})
    data = EvaluationData(
        pairs={"in_set": pairs.iloc[:30].reset_index(drop=True), "out_of_set": pairs.iloc[30:].reset_index(drop=True)},
        track_genres=pd.DataFrame({"track_id": ids, "artist_id": ids // 7, "genre": np.array(["a", "b", "c"])[ids % 3]}),
        hard_negatives=pd.DataFrame({"song_a": ids[:5], "song_b": ids[5:10]}))
    source = CountingSource(SequenceFile(tmp_path / "train.parquet", 1024))
    common = (data, EvaluationSettings(k=5), SPLIT, None)
    from_file, in_memory = configuration_evaluator(source, *common), configuration_evaluator(seqs, *common)
    assert source.passes == 1
    for params in ({"vector_size": 8, "window": 3, "ns_exponent": 0.75, "negative": 3, "alpha": 0.025},
                   {"vector_size": 12, "window": 1, "ns_exponent": -0.5, "negative": 7, "alpha": 0.05}):
        file_metrics, memory_metrics = from_file(params), in_memory(params)
        assert {k: v for k, v in file_metrics.items() if not k.endswith(TIMINGS)} == \
            {k: v for k, v in memory_metrics.items() if not k.endswith(TIMINGS)}
        assert file_metrics["hitrate"] > 0
    assert source.passes == 1 + 2 * SPLIT.epochs  # one vocabulary pass, then one pass per epoch


# --- epochs scaled to the time budget (hpo.time_constraint: scale_epochs) ----------------------

def test_scaled_epochs_train_costlier_configurations_shorter(tmp_path):
    seqs = long_sequences(seed=6)
    rng = np.random.default_rng(6)
    ids = np.unique(seqs.tracks)
    pairs = pd.DataFrame({"query": rng.choice(ids, 40), "target": rng.choice(ids, 40)})
    data = EvaluationData(
        pairs={"in_set": pairs.iloc[:20].reset_index(drop=True), "out_of_set": pairs.iloc[20:].reset_index(drop=True)},
        track_genres=pd.DataFrame({"track_id": ids, "artist_id": ids // 7, "genre": np.array(["a", "b"])[ids % 2]}),
        hard_negatives=pd.DataFrame({"song_a": ids[:5], "song_b": ids[5:10]}))
    training = TrainingSettings(epochs=4, max_sentence_tokens=50)
    reference = Word2VecParams(vector_size=8, window=3, negative=3)
    reference_seconds = 100.0  # a generous budget: only the cost model decides the epochs here
    evaluate = configuration_evaluator(seqs, data, EvaluationSettings(k=5), training,
                                       TimeBudget(reference, reference_seconds, constraint="scale_epochs"))
    as_dict = lambda p: dataclasses.asdict(p)  # noqa: E731
    assert evaluate(as_dict(reference))["epochs"] == 4
    assert evaluate(as_dict(Word2VecParams(vector_size=16, window=3, negative=3)))["epochs"] == 2  # 2x: 5/2
    assert evaluate(as_dict(Word2VecParams(vector_size=4, window=3, negative=3)))["epochs"] == 4
    with pytest.raises(TrialInfeasible, match="one epoch costs 6 x the reference's"):
        evaluate(as_dict(Word2VecParams(vector_size=48, window=3, negative=3)))
    # without scaling, the same costly configuration trains every epoch (the budget is generous)
    unscaled = configuration_evaluator(seqs, data, EvaluationSettings(k=5), training,
                                       TimeBudget(reference, reference_seconds, constraint="reject"))
    assert unscaled(as_dict(Word2VecParams(vector_size=16, window=3, negative=3)))["epochs"] == 4
