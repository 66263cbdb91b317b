"""Skip-gram Word2Vec with negative sampling on listening sequences (paper 4.1, Table 3), and its CBOW variant.

Each listening sequence is a sentence and each track a word (token ``str(track_id)``). Training uses
gensim's ``Word2Vec(sg=1, hs=0)`` (``architecture="cbow"``: ``sg=0``, the mean of the context vectors
predicts the centre song, :mod:`songvec.models`' ``word2vec_cbow``); :class:`Word2VecParams` holds the five
hyper-parameters the paper tunes, :class:`TrainingSettings` everything else.

Three things gensim does not do on its own:

- Long sequences. gensim's compiled trainer silently truncates every sentence to its first 10,000
  tokens (``MAX_SENTENCE_LEN``); LFM-1b sequences have a median length of 3,930 and a 75th
  percentile of 16,155. :class:`TokenChunks` therefore splits each sequence into consecutive chunks
  of at most ``max_sentence_tokens`` tokens, so every event is trained on. The only loss is the
  context across a chunk boundary (at most ``window`` pairs on either side of each cut).
- Time budget. The paper constrains every trial to about the training time of the default
  configuration (1.25x in 4.7; the budget itself is defined in :mod:`songvec.time_budget`). While
  gensim reads the corpus, and after each epoch, the total training time is projected from the share
  of tokens done; once it exceeds the budget the corpus stops yielding (the epoch ends early) and
  :class:`~songvec.time_budget.OverTimeBudget` is raised from the epoch-end callback. gensim runs
  each epoch in fresh threads that have all finished when the epoch-end callbacks run, so the
  exception leaves no thread behind (tested).
- Determinism. With ``workers=1`` and a fixed ``seed`` the vectors are bit-identical across runs and
  across ``PYTHONHASHSEED`` values: gensim 4.4 initialises vectors from ``numpy.random.default_rng(seed)``
  and uses the (salted) built-in ``hash`` only in its deprecated ``seeded_vector``; a stable
  ``hashfxn`` is passed anyway so that no code path of gensim can depend on the hash salt. With
  ``workers > 1`` the thread interleaving makes runs differ.

Memory. The corpus need not fit in memory: :class:`TokenChunks` reads a re-iterable source of
sequence batches (:class:`~songvec.sequences.SequenceFile`: a sequence file read batch by batch) once to count the
songs, then once per epoch as gensim trains, so memory holds one batch besides the model. The
vocabulary is built from those counts (``build_vocab_from_freq``) in the order of first occurrence,
which is exactly the vocabulary gensim's own scan would build, without its per-token Python loop; a
test checks the vectors equal those of a bare gensim call, and that a file read in many batches
gives the same vectors as the sequences in memory.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import gensim
import numpy as np
from gensim.models import KeyedVectors, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

from songvec import atomic
from songvec.progress import Progress
from songvec.sequences import Sequences, song_counts
from songvec.time_budget import CLOCKS, OverTimeBudget

_log = logging.getLogger(__name__)

ARCHITECTURES = {"skipgram": 1, "cbow": 0}
"""gensim's ``sg`` flag of each architecture (CBOW averages the context vectors: ``cbow_mean=1``)."""
GENSIM_MAX_SENTENCE_TOKENS = 10_000
"""gensim's compiled trainer keeps only the first 10,000 tokens of a sentence (MAX_SENTENCE_LEN)."""


@dataclass(frozen=True)
class Word2VecParams:
    """The five Word2Vec hyper-parameters of Table 3, with the paper's defaults.

    Attributes:
        vector_size: d, embedding dimension (Table 3 range [25, 200]).
        window: L, maximum sliding-window length on each side (range [1, 40]).
        ns_exponent: alpha, exponent of the negative-sampling distribution: 0 uniform, > 0 favours
            popular songs, < 0 favours rare ones (range [-1, 1]).
        negative: N, number of negative samples per positive pair (range [1, 100]).
        alpha: lambda, initial learning rate, decayed linearly to ``TrainingSettings.min_alpha``
            (range [0.001, 0.1]).
    """

    vector_size: int = 100
    window: int = 5
    ns_exponent: float = 0.75
    negative: int = 5
    alpha: float = 0.025

    def __post_init__(self):
        for name in ("vector_size", "window", "negative"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"Word2VecParams.{name} must be an integer >= 1, got {value!r}")
        if not self.alpha > 0:
            raise ValueError(f"Word2VecParams.alpha (learning rate) must be > 0, got {self.alpha!r}")
        if not np.isfinite(self.ns_exponent):
            raise ValueError(f"Word2VecParams.ns_exponent must be finite, got {self.ns_exponent!r}")


@dataclass(frozen=True)
class TrainingSettings:
    """Word2Vec settings the paper does not tune (gensim's defaults unless stated).

    Attributes:
        epochs: passes over the corpus.
        min_count: songs with fewer occurrences are left out of the vocabulary (their events are
            skipped in training and counted in the training record).
        sample: down-sampling threshold for frequent songs (0 disables it).
        min_alpha: learning rate reached at the end of training.
        seed: seed of the vector initialisation and of gensim's sampling.
        workers: training threads; only ``workers=1`` gives reproducible vectors.
        batch_words: tokens per job handed to gensim's trainer threads (gensim's default 10,000);
            the time budget is checked between jobs, so smaller jobs stop an over-budget run sooner.
        max_sentence_tokens: sequences longer than this are split into chunks of at most this many
            tokens (at most 10,000, gensim's hard limit).
    """

    epochs: int = 5
    min_count: int = 1
    sample: float = 1e-3
    min_alpha: float = 1e-4
    seed: int = 0
    workers: int = 1
    max_sentence_tokens: int = GENSIM_MAX_SENTENCE_TOKENS
    batch_words: int = 10_000

    @classmethod
    def from_config(cls, word2vec: dict, seed: int, workers: int | None = None) -> "TrainingSettings":
        """Settings from the config's ``word2vec`` section (everything but ``defaults``) and a seed;
        ``workers``: the training threads of the calling rule (``snakemake.threads``, which Snakemake
        lowers to ``--cores`` when the rule asks for more), instead of ``word2vec.workers``."""
        settings = {key: value for key, value in word2vec.items() if key != "defaults"}
        return cls(**settings | ({} if workers is None else {"workers": workers}), seed=seed)

    def __post_init__(self):
        for name in ("epochs", "min_count", "workers", "max_sentence_tokens", "batch_words"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"TrainingSettings.{name} must be an integer >= 1, got {value!r}")
        if self.max_sentence_tokens > GENSIM_MAX_SENTENCE_TOKENS:
            raise ValueError(
                f"TrainingSettings.max_sentence_tokens={self.max_sentence_tokens} exceeds "
                f"{GENSIM_MAX_SENTENCE_TOKENS}: gensim would silently truncate longer sentences")
        if self.sample < 0 or self.min_alpha < 0:
            raise ValueError("TrainingSettings.sample and .min_alpha must be >= 0, "
                             f"got sample={self.sample!r}, min_alpha={self.min_alpha!r}")


class TokenChunks:
    """Re-iterable corpus: each sequence's tracks as a list of ``str`` tokens, in chunks.

    ``source`` is the training sequences: a :class:`Sequences` in memory, or a re-iterable source of
    :class:`Sequences` batches of whole sequences (a :class:`~songvec.sequences.SequenceFile`, a list), read again on
    every pass, so that memory holds one batch at a time. The constructor makes one counting pass
    over it (the vocabulary pass, logged with its rate); each later pass (one per epoch) yields, batch
    after batch, every sequence of length ``n`` as ``ceil(n / max_tokens)`` consecutive chunks (empty
    sequences yield nothing), so the tokens yielded per pass are exactly the source's events, in
    order, whatever the batching. Token strings are made once per distinct track and shared by all
    its occurrences; a source whose events change after the vocabulary pass is an error at the end
    of the pass that sees it.

    Memory, besides one batch: about 90 bytes per distinct track (token string, id, count) and a
    lookup of 8 bytes per track id up to the largest one (ids are assumed non-negative and dense,
    as LFM-1b's are).

    Attributes:
        song_ids: (V,) int64 distinct track ids, in order of first occurrence.
        song_counts: (V,) int64 occurrences of each of them.
        n_tokens: total tokens per pass (= events).
        n_sequences: sequences of the source (empty ones included, for a :class:`Sequences`).
        max_tokens: the longest chunk, in tokens.
        chunk_lengths: ``{length: count}`` of the chunks (gensim's sentences), for the cost model
            (:func:`songvec.time_budget.context_pairs`).
        vocabulary_pass_seconds: wall seconds of the vocabulary pass.
    """

    def __init__(self, source: Sequences | Iterable[Sequences], max_tokens: int = GENSIM_MAX_SENTENCE_TOKENS,
                 logger: logging.Logger | None = None):
        if int(max_tokens) != max_tokens or max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
        batches = (source,) if isinstance(source, Sequences) else source
        if isinstance(batches, Iterator):
            raise TypeError(f"TokenChunks reads its source once per epoch: it must be re-iterable (a Sequences, "
                            f"a SequenceFile, a list of batches), got the one-pass iterator {source!r}")
        self.source, self.max_tokens = batches, int(max_tokens)
        self.n_tokens = self.n_sequences = self._n_chunks = 0
        self.chunk_lengths: dict[int, int] = {}
        progress = Progress("word2vec vocabulary pass", getattr(source, "n_events", None), "events",
                            logger or _log)
        self.song_ids, self.song_counts = song_counts(self._counted(batches, progress))
        self.vocabulary_pass_seconds = progress.finish()
        if len(self.song_ids) and self.song_ids.min() < 0:
            raise ValueError(f"{self._name}: track ids must be >= 0, found {int(self.song_ids.min())}")
        self._token_of_id = np.full(int(self.song_ids.max()) + 1 if len(self.song_ids) else 0, None, dtype=object)
        self._token_of_id[self.song_ids] = [str(i) for i in self.song_ids.tolist()]

    def _counted(self, batches: Iterable[Sequences], progress: Progress) -> Iterator[Sequences]:
        """``batches`` unchanged, counting their sequences, events and chunks on the way."""
        for batch in batches:
            self.n_sequences += len(batch)
            self.n_tokens += batch.n_events
            starts, ends = _chunk_bounds(batch.offsets, self.max_tokens)
            self._n_chunks += len(starts)
            for length, count in zip(*np.unique(ends - starts, return_counts=True)):
                self.chunk_lengths[int(length)] = self.chunk_lengths.get(int(length), 0) + int(count)
            progress.update(batch.n_events)
            yield batch

    @property
    def _name(self) -> str:
        return str(getattr(self.source, "path", "the training sequences"))

    @property
    def tokens(self) -> np.ndarray:
        """(V,) object array of the token strings ``str(song_ids)``."""
        return self._token_of_id[self.song_ids]

    def __len__(self) -> int:
        """Number of chunks (sentences) per pass."""
        return self._n_chunks

    def __iter__(self) -> Iterator[list[str]]:
        token_of_id = self._token_of_id
        n_tokens = n_chunks = 0
        for batch in self.source:
            starts, ends = _chunk_bounds(batch.offsets, self.max_tokens)
            tracks = batch.tracks
            for start, end in zip(starts.tolist(), ends.tolist()):
                yield token_of_id[tracks[start:end]].tolist()
            n_tokens += batch.n_events
            n_chunks += len(starts)
        if (n_tokens, n_chunks) != (self.n_tokens, self._n_chunks):
            raise ValueError(f"{self._name} changed since the vocabulary pass: {n_tokens} events in {n_chunks} "
                             f"chunks now, {self.n_tokens} in {self._n_chunks} then")


def _chunk_bounds(offsets: np.ndarray, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(C,) start and end event indices of the chunks of every non-empty sequence, in order."""
    lengths = np.diff(offsets)
    n_chunks = -(-lengths // max_tokens)
    first_chunk = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(n_chunks, out=first_chunk[1:])
    sequence_of_chunk = np.repeat(np.arange(len(lengths)), n_chunks)
    chunk_in_sequence = np.arange(first_chunk[-1]) - first_chunk[sequence_of_chunk]
    starts = offsets[sequence_of_chunk] + chunk_in_sequence * max_tokens
    ends = np.minimum(starts + max_tokens, offsets[sequence_of_chunk + 1])
    return starts, ends


class _BudgetedCorpus:
    """The corpus as gensim reads it, with the time budget checked between chunks.

    Once a quarter of one epoch's share of the budget has passed, the projected ``train()`` time,
    ``elapsed / (epochs done + share of this epoch's tokens handed to gensim) * epochs``, is compared
    with the budget after every chunk; when it is over, the corpus stops yielding, the epoch ends
    early and :class:`_EpochMonitor` raises :class:`OverTimeBudget`. A configuration ten times slower
    than the budget is thus stopped within a fraction of an epoch instead of after a whole one.
    gensim queues a few jobs ahead of its trainer, so the projection errs on the side of continuing.

    An error while reading the corpus (e.g. a sequence file that became unreadable) also ends the
    epoch and is raised again by :class:`_EpochMonitor`: gensim reads the corpus in a thread whose
    exception would otherwise leave ``train()`` waiting forever for the rest of the epoch.
    ``read_seconds`` sums the wall seconds spent producing chunks (reading and tokenising; gensim
    does it in its producer thread, alongside the training).
    """

    def __init__(self, corpus: TokenChunks, epochs: int, budget_seconds: float | None, clock):
        self.corpus, self.epochs, self.budget_seconds, self.clock = corpus, epochs, budget_seconds, clock
        self.start: float | None = None
        self.epochs_done = 0
        self.over_budget: tuple[float, float] | None = None  # (projected, elapsed) seconds when stopped
        self.read_error: Exception | None = None
        self.read_seconds = 0.0

    def __len__(self) -> int:
        return len(self.corpus)

    def __iter__(self):
        chunks = iter(self.corpus)
        fed = 0
        while True:
            asked = time.perf_counter()
            try:
                chunk = next(chunks, None)
            except Exception as error:
                self.read_error = error
                return
            finally:
                self.read_seconds += time.perf_counter() - asked
            if chunk is None:
                return
            if self.budget_seconds is not None:
                elapsed = self.clock() - self.start
                if elapsed > 0.25 * self.budget_seconds / self.epochs:
                    done = self.epochs_done + fed / self.corpus.n_tokens
                    projected = elapsed / done * self.epochs if done > 0 else math.inf
                    if projected > self.budget_seconds:
                        self.over_budget = (projected, elapsed)
                        return
            fed += len(chunk)
            yield chunk


class _EpochMonitor(CallbackAny2Vec):
    """Logs rate and ETA after every epoch; raises the corpus's read error, or :class:`OverTimeBudget`
    when projected over budget."""

    def __init__(self, corpus: _BudgetedCorpus, logger: logging.Logger):
        self.corpus, self.logger = corpus, logger
        self.epochs, self.budget_seconds = corpus.epochs, corpus.budget_seconds
        self.tokens_per_epoch = corpus.corpus.n_tokens
        self.epochs_completed = 0

    def on_train_begin(self, model):
        self.progress = Progress("word2vec training", self.epochs * self.tokens_per_epoch, "tokens",
                                 self.logger, every=0.0)
        self.corpus.start = self.corpus.clock()

    def on_epoch_end(self, model):
        if self.corpus.read_error is not None:
            raise self.corpus.read_error
        if self.corpus.over_budget is not None:
            projected, elapsed = self.corpus.over_budget
            raise OverTimeBudget(projected, self.budget_seconds, elapsed, self.epochs_completed)
        self.epochs_completed += 1
        self.corpus.epochs_done = self.epochs_completed
        self.progress.update(self.tokens_per_epoch)
        if self.budget_seconds is None:
            return
        elapsed = self.corpus.clock() - self.corpus.start
        projected = elapsed / self.epochs_completed * self.epochs
        if projected > self.budget_seconds:
            raise OverTimeBudget(projected, self.budget_seconds, elapsed, self.epochs_completed)


def stable_hash(text: str) -> int:
    """CRC-32 of the UTF-8 text: a ``hashfxn`` for gensim that does not depend on PYTHONHASHSEED."""
    return zlib.crc32(text.encode("utf-8"))


@dataclass
class TrainedModel:
    """Trained song vectors and what is known about their training.

    ``wv``: gensim ``KeyedVectors`` keyed by ``str(track_id)``. ``record``: JSON-able dict with the
    params and settings, timings in seconds (``vocab_seconds`` from the call's start to gensim's
    vocabulary built, ``vocabulary_pass_seconds`` for the corpus's counting pass, done once per
    :class:`TokenChunks` and possibly before the call, ``train_seconds`` for ``train()`` alone,
    ``corpus_read_seconds`` the part of it spent producing chunks in gensim's reader thread,
    ``total_seconds`` for the whole call), word counts and rates (``effective_words`` after
    down-sampling and ``min_count``, ``raw_words``), vocabulary size and what ``min_count`` left out.
    """

    wv: KeyedVectors
    record: dict


def train_word2vec(corpus: Sequences | Iterable[Sequences] | TokenChunks, params: Word2VecParams = Word2VecParams(),
                   settings: TrainingSettings = TrainingSettings(), *,
                   time_budget_seconds: float | None = None, budget_clock: str = "cpu",
                   architecture: str = "skipgram", logger: logging.Logger | None = None) -> TrainedModel:
    """Train skip-gram Word2Vec with negative sampling on the track sequences of ``corpus``
    (``architecture="cbow"``: continuous bag of words, the mean of the context).

    ``corpus``: the training sequences as a :class:`Sequences` in memory, a re-iterable source of
    batches (a :class:`~songvec.sequences.SequenceFile`, read again on every epoch, so memory holds one batch and the
    model), or a :class:`TokenChunks` of either with ``max_tokens == settings.max_sentence_tokens``,
    to share its vocabulary pass between trainings. All three give the same vectors.

    ``time_budget_seconds`` bounds the ``train()`` time (vocabulary building excluded), measured by
    ``budget_clock``: "cpu" (this process's CPU seconds, ``record["train_cpu_seconds"]``: what the
    configuration costs, unaffected by other processes sharing the cores) or "wall"
    (``record["train_seconds"]``). While gensim reads the corpus and after each epoch the total is
    projected from the share of tokens done; over the budget, :class:`OverTimeBudget` is raised (also
    after the last epoch). ``logger`` receives the per-epoch progress lines (default: this module's).
    """
    if budget_clock not in CLOCKS:
        raise ValueError(f"budget_clock must be one of {sorted(CLOCKS)}, got {budget_clock!r}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}")
    log = logger or _log
    started = time.perf_counter()
    if not isinstance(corpus, TokenChunks):
        corpus = TokenChunks(corpus, settings.max_sentence_tokens, logger=log)
    elif corpus.max_tokens != settings.max_sentence_tokens:
        raise ValueError(f"train_word2vec: the TokenChunks were cut at max_tokens={corpus.max_tokens}, the "
                         f"settings ask for max_sentence_tokens={settings.max_sentence_tokens}")
    if corpus.n_tokens == 0:
        raise ValueError("train_word2vec: the sequences hold no event")
    model = Word2Vec(
        sg=ARCHITECTURES[architecture], hs=0, vector_size=params.vector_size, window=params.window,
        ns_exponent=params.ns_exponent, negative=params.negative, alpha=params.alpha,
        min_alpha=settings.min_alpha, epochs=settings.epochs, min_count=settings.min_count,
        sample=settings.sample, seed=settings.seed, workers=settings.workers, batch_words=settings.batch_words,
        hashfxn=stable_hash)
    model.build_vocab_from_freq(dict(zip(corpus.tokens.tolist(), corpus.song_counts.tolist())),
                                corpus_count=len(corpus))
    vocab_seconds = time.perf_counter() - started
    below_min_count = corpus.song_counts < settings.min_count
    log.info("word2vec: %d sequences in %d chunks, %d tokens, %d songs (%d below min_count=%d, "
             "%d of their tokens skipped); params %s", corpus.n_sequences, len(corpus), corpus.n_tokens,
             len(corpus.song_ids), int(below_min_count.sum()), settings.min_count,
             int(corpus.song_counts[below_min_count].sum()), asdict(params))

    budgeted = _BudgetedCorpus(corpus, settings.epochs, time_budget_seconds, CLOCKS[budget_clock].now)
    monitor = _EpochMonitor(budgeted, log)
    train_started, train_cpu_started = time.perf_counter(), time.process_time()
    effective_words, raw_words = model.train(budgeted, total_examples=len(corpus),
                                             epochs=settings.epochs, callbacks=[monitor])
    train_seconds = time.perf_counter() - train_started
    train_cpu_seconds = time.process_time() - train_cpu_started
    total_seconds = time.perf_counter() - started
    record = {
        "params": asdict(params),
        "settings": asdict(settings),
        "gensim_version": gensim.__version__,
        "n_sequences": corpus.n_sequences,
        "n_chunks": len(corpus),
        "n_events": corpus.n_tokens,
        "n_songs": len(corpus.song_ids),
        "vocabulary_size": len(model.wv),
        "n_songs_below_min_count": int(below_min_count.sum()),
        "n_events_below_min_count": int(corpus.song_counts[below_min_count].sum()),
        "epochs_completed": monitor.epochs_completed,
        "effective_words": int(effective_words),
        "raw_words": int(raw_words),
        "vocab_seconds": vocab_seconds,
        "vocabulary_pass_seconds": corpus.vocabulary_pass_seconds,
        "corpus_read_seconds": budgeted.read_seconds,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "total_seconds": total_seconds,
        "effective_words_per_second": effective_words / train_seconds,
        "raw_words_per_second": raw_words / train_seconds,
        "time_budget_seconds": time_budget_seconds,
        "budget_clock": budget_clock,
    }
    log.info("word2vec trained in %.1fs (train %.1fs): %.0f effective words/s, vocabulary %d",
             total_seconds, train_seconds, record["effective_words_per_second"], len(model.wv))
    return TrainedModel(model.wv, record)


def save_model(vectors_path, model: TrainedModel, record_path=None) -> None:
    """Write the vectors (gensim ``KeyedVectors.save``, one file) and the JSON record, atomically.

    ``record_path`` defaults to ``vectors_path`` with the suffix ``.json``. All arrays are pickled
    into the single vectors file (no ``.npy`` side files), so the file appears under its final name
    complete or not at all.
    """
    vectors_path = Path(vectors_path)
    record_path = Path(record_path) if record_path is not None else vectors_path.with_suffix(".json")
    if record_path == vectors_path:
        raise ValueError(f"record_path must differ from vectors_path ({vectors_path})")
    with atomic.atomic_path(vectors_path) as tmp:
        model.wv.save(str(tmp), separately=[])
    atomic.write_json(record_path, model.record)


def load_vectors(vectors_path) -> tuple[np.ndarray, np.ndarray]:
    """Read vectors written by :func:`save_model`.

    Returns ``(vectors, track_ids)``: (V, d) float32 and (V,) int64, row ``i`` is track ``track_ids[i]``
    (gensim's vocabulary order: decreasing frequency).
    """
    wv = KeyedVectors.load(str(vectors_path))
    try:
        track_ids = np.array(wv.index_to_key, dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{vectors_path}: keys are not integer track ids ({error})") from None
    return np.asarray(wv.vectors, dtype=np.float32), track_ids
