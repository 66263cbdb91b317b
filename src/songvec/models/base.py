"""What every model shares: the interface, the vocabulary, the trained result and the budget clock.

A :class:`Model` turns the training sequences (a :class:`~songvec.training.TokenChunks`: the sequences,
re-read on every pass, with their songs counted once) and its hyper-parameters into song vectors (an
*embedding*, :class:`~songvec.training.TrainedModel`) or into a ranking of next songs for a query song (a
*ranking* baseline, :class:`~songvec.models.baselines.TrainedRanking`), each with a training record. The
evaluation, the HPO engine, the time budget and the tables only go through this interface.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from gensim.models import KeyedVectors

from songvec import cooccurrence
from songvec.time_budget import CLOCKS, OverTimeBudget
from songvec.training import TokenChunks, TrainedModel

KINDS = ("embedding", "ranking")
"""``embedding``: song vectors, evaluated on every metric; ``ranking``: a baseline that ranks next songs for
a query, evaluated on HitRate and NDCG only."""


@dataclasses.dataclass(frozen=True)
class Model:
    """One model behind the common interface.

    Attributes:
        name: its name in config ``models``.
        kind: one of :data:`KINDS`.
        params: frozen dataclass of the hyper-parameters a study tunes (its fields are the search space's
            names; all have defaults).
        settings: frozen dataclass of the fixed settings, with a classmethod ``from_config(section, seed,
            workers)``.
        train: ``train(corpus, params, settings, *, budget_seconds=None, clock="cpu", logger=None)`` ->
            the trained model (``TrainedModel`` or ``TrainedRanking``), raising
            :class:`~songvec.time_budget.OverTimeBudget` when its training is projected past
            ``budget_seconds`` on ``clock``.
        work: ``work(params, settings, statistics)`` -> the amounts of work of one whole training, by the
            name of the cost-model coefficient (CPU nanoseconds per unit) each is multiplied by
            (:meth:`predicted_seconds`; config ``model_config.<name>.cost_model``, ``hpo.cost_model`` for the
            skip-gram); ``statistics`` are :attr:`statistics`' of the training corpus.
        cost_terms: the names of those coefficients (the keys :attr:`work` returns).
        statistics: ``statistics(corpus, settings, largest)`` -> what :attr:`work` needs to know of the
            corpus (its tokens, the co-occurring pairs per window...), computed once per study worker;
            ``largest``: hyper-parameter -> the largest value the study can ask for.
        summary: one line for the README's model table.
        cooccurrence: its training holds a co-occurrence matrix of the songs within its window (memory:
            :mod:`songvec.cooccurrence`).
    """

    name: str
    kind: str
    params: type
    settings: type
    train: Callable[..., Any]
    work: Callable[[Any, Any, Mapping[str, Any]], dict[str, float]]
    cost_terms: tuple[str, ...]
    statistics: Callable[[TokenChunks, Any, Mapping[str, float]], Mapping[str, Any]]
    summary: str
    cooccurrence: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model {self.name}: kind must be one of {KINDS}, got {self.kind!r}")

    def predicted_seconds(self, params, settings, statistics: Mapping[str, Any],
                          coefficients: Mapping[str, float]) -> float:
        """Predicted CPU seconds of a training: the sum of each amount of :attr:`work` times its coefficient
        (CPU nanoseconds per unit, fitted by ``benchmarks/bench_cost_model.py``)."""
        work = self.work(params, settings, statistics)
        missing = sorted(set(work) - set(coefficients))
        if missing:
            raise ValueError(f"the cost model of {self.name} lacks the coefficient(s) {', '.join(missing)}")
        return sum(coefficients[name] * amount for name, amount in work.items()) * 1e-9

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(self.params))

    def parse_params(self, values: Mapping[str, Any], where: str = "parameters") -> Any:
        """``values`` as :attr:`params`; ValueError naming unknown or invalid ones (``where``: e.g. a config key)."""
        unknown = sorted(set(values) - set(self.param_names))
        if unknown:
            raise ValueError(f"{where}: {self.name} has no hyper-parameter {', '.join(map(repr, unknown))} "
                             f"(its hyper-parameters: {', '.join(self.param_names) or 'none'})")
        try:
            return self.params(**values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The songs a model gives a vector or a ranking: every song of the training sequences.

    Attributes:
        track_ids: (V,) int64, by decreasing plays (ties in order of first play), as gensim orders its
            vocabulary; row ``i`` of a model's vectors is track ``track_ids[i]``.
        counts: (V,) int64 plays of each.
        rows_of: lookup ``rows_of[track_id]`` = row, -1 for a track not in the vocabulary.
        artists: (V,) int64 artist of each song (its first play's; -1 unknown).
    """

    track_ids: np.ndarray
    counts: np.ndarray
    rows_of: np.ndarray
    artists: np.ndarray

    @classmethod
    def of(cls, corpus: TokenChunks, with_artists: bool = False) -> "Vocabulary":
        """The vocabulary of ``corpus`` (songs counted by its vocabulary pass); ``with_artists`` reads the
        sequences once more for each song's artist (else -1)."""
        order = np.argsort(-corpus.song_counts, kind="stable")
        track_ids, counts = corpus.song_ids[order], corpus.song_counts[order]
        rows_of = np.full(int(track_ids.max()) + 1 if len(track_ids) else 0, -1, dtype=np.int64)
        rows_of[track_ids] = np.arange(len(track_ids))
        artists = np.full(len(track_ids), -1, dtype=np.int64)
        if with_artists:
            seen = np.zeros(len(track_ids), dtype=bool)
            for batch in corpus.source:
                rows = rows_of[batch.tracks]
                first, where = np.unique(rows, return_index=True)
                new = ~seen[first]
                artists[first[new]] = batch.artists[where[new]]
                seen[first] = True
        return cls(track_ids, counts, rows_of, artists)

    def __len__(self) -> int:
        return len(self.track_ids)


class SeededSettings:
    """Mixin of a model's settings dataclass ending in fields ``seed`` and ``workers``: :meth:`from_config`
    reads its config section and takes the seed and thread count of the calling rule."""

    @classmethod
    def from_config(cls, section: Mapping[str, Any], seed: int, workers: int | None = None):
        return cls(**section, seed=seed, workers=workers or 1)


def require_integers(fields, names, minimum: int = 1) -> None:
    """ValueError naming ``Class.field`` unless each field of ``names`` of the dataclass ``fields`` is an integer
    (an integral float counts) >= ``minimum``: the check every model's hyper-parameters and settings share."""
    for name in names:
        value = getattr(fields, name)
        if int(value) != value or value < minimum:
            raise ValueError(f"{type(fields).__name__}.{name} must be an integer >= {minimum}, got {value!r}")


def token_statistics(corpus: TokenChunks, settings, largest: Mapping[str, float]) -> dict[str, Any]:
    """``tokens``: the statistics of a model whose work depends only on the corpus' size."""
    return {"tokens": corpus.n_tokens}


def cooccurrence_statistics(corpus: TokenChunks, settings, largest: Mapping[str, float]) -> dict[str, Any]:
    """``tokens``, ``songs`` and ``pairs_by_window`` (:func:`songvec.cooccurrence.pairs_by_window` up to the
    largest window the study can ask for) of the corpus: what the costs of co-occurrence models need."""
    vocabulary = Vocabulary.of(corpus)
    pairs = cooccurrence.pairs_by_window(corpus.source, vocabulary.rows_of, len(vocabulary), int(largest["window"]))
    return {"tokens": corpus.n_tokens, "songs": len(vocabulary), "pairs_by_window": pairs}


def window_entries(statistics: Mapping[str, Any], window: int) -> int:
    """Non-zero entries of the co-occurrence matrix of ``window`` (:func:`cooccurrence_statistics`)."""
    pairs = statistics["pairs_by_window"]
    return pairs[min(int(window), len(pairs)) - 1]


def keyed_vectors(track_ids: np.ndarray, vectors: np.ndarray) -> KeyedVectors:
    """gensim ``KeyedVectors`` of (V, d) ``vectors`` keyed by ``str(track_id)``, in row order, float32 (the
    workflow's vector files: :func:`songvec.training.save_model`)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    wv = KeyedVectors(vectors.shape[1], dtype=np.float32)
    wv.add_vectors([str(t) for t in np.asarray(track_ids).tolist()], vectors)
    return wv


class TrainingClock:
    """The time of one training (models other than Word2Vec, whose budget lives in :mod:`songvec.training`):
    wall and CPU seconds since the start, and the budget held on ``clock``.

    :meth:`check` projects the whole training after ``done`` of ``total`` steps (epochs) and raises
    :class:`OverTimeBudget` when the projection passes ``budget_seconds`` (None: no budget). The rate of the
    remaining steps is that of the steps after the first: the first pays one-off costs (GloVe's first epoch
    on the demo: 0.34 s against 0.13 s for the next ones, first touch of its gradient arrays), so projecting
    from it put the GloVe default at 8.9 s, over a 6.9 s budget it trains within in 4.2 s. What ran before
    the first step (counting) is never extrapolated.
    """

    def __init__(self, budget_seconds: float | None = None, clock: str = "cpu"):
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
        self.budget_seconds, self.clock = budget_seconds, CLOCKS[clock]
        self.start_wall, self.start_cpu = time.perf_counter(), time.process_time()
        self.start = self.clock.now()
        self.first_step_end: float | None = None

    def elapsed(self) -> float:
        """Seconds on the budget's clock since the start."""
        return self.clock.now() - self.start

    def check(self, done: int, total: int) -> None:
        """Raise :class:`OverTimeBudget` when the training, ``done`` of ``total`` steps so far, is projected
        past the budget: the time so far plus the remaining steps at the mean rate of steps 2 to ``done``
        (after the first step alone: the time so far)."""
        if self.budget_seconds is None or done <= 0:
            return
        elapsed = self.elapsed()
        if done == 1:
            self.first_step_end = elapsed
        projected = elapsed
        if 1 < done < total:
            rate = elapsed / done if self.first_step_end is None else \
                (elapsed - self.first_step_end) / (done - 1)
            projected += rate * (total - done)
        if projected > self.budget_seconds:
            raise OverTimeBudget(projected, self.budget_seconds, elapsed, done)

    def record(self) -> dict[str, Any]:
        """The training record's timing fields (those of :func:`songvec.training.train_word2vec`)."""
        return {"train_seconds": time.perf_counter() - self.start_wall,
                "train_cpu_seconds": time.process_time() - self.start_cpu,
                "time_budget_seconds": self.budget_seconds, "budget_clock": self.clock.name}


def embedding_record(params, settings, corpus: TokenChunks, vocabulary: Vocabulary, clock: TrainingClock,
                     **extra) -> dict[str, Any]:
    """The training record of an embedding or ranking model other than Word2Vec (same core fields)."""
    return {"params": dataclasses.asdict(params), "settings": dataclasses.asdict(settings),
            "n_sequences": corpus.n_sequences, "n_events": corpus.n_tokens, "n_songs": len(corpus.song_ids),
            "vocabulary_size": len(vocabulary), **extra, **clock.record()}


def trained_embedding(vocabulary: Vocabulary, vectors: np.ndarray, record: dict) -> TrainedModel:
    return TrainedModel(keyed_vectors(vocabulary.track_ids, vectors), record)


def log_training(logger: logging.Logger, name: str, record: Mapping[str, Any]) -> None:
    logger.info("%s trained in %.1fs (%.1f CPU s): %d songs, params %s", name, record["train_seconds"],
                record["train_cpu_seconds"], record["vocabulary_size"], record["params"])
