import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gensim.models import Word2Vec

from songvec.sequences import Sequences
from songvec.training import (
    OverTimeBudget, TokenChunks, TrainingSettings, Word2VecParams, load_vectors, save_model,
    train_word2vec)

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
    one_epoch = train_word2vec(seqs, SMALL, TrainingSettings(epochs=1)).record["train_seconds"]
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
