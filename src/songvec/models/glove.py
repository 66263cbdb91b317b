"""GloVe-style song vectors: weighted least squares on the global co-occurrence matrix (the MuSE seed).

MuSE ("Musical Semantic Embeddings", Lee & Sarvesh, Stanford CS 229 report) embeds songs with GloVe's
objective (Pennington et al., EMNLP 2014) on a global co-occurrence matrix M of songs, with one vector w_i and
one bias b_i per song (no separate context vectors: a song's co-occurrence is symmetric), minimising over the
ordered pairs i != j

    J = sum f(M_ij) (w_i . w_j + b_i + b_j - log M_ij)^2,   f(x) = min(1, (x / x_max)^weight_exponent)

(MuSE prints "+ log M", which would make songs that co-occur more dissimilar: GloVe's sign is used). M is:

- ``cooccurrence: window``: the counts of two songs at most ``window`` plays apart, weighted by distance
  (``harmonic``: 1 / d, GloVe's); or ``sequence``: the number of sequences holding both (MuSE's playlist
  membership; ``window`` is then unused);
- ``artist_augmentation``: plus 1 for every two songs of one artist (MuSE's artist playlists);
- ``laplace_smoothing``: plus 1 for every pair, the pairs that never co-occur included (MuSE): they then
  count with weight f(1) and target log 1 = 0. The V^2 pairs are never enumerated: their part of J and of
  its gradient is computed from the Gram matrix W^T W in O(V d^2) (:func:`loss_and_gradients`).

J is minimised by full-batch AdaGrad (MuSE uses batch gradient descent; AdaGrad is GloVe's step rule):
each epoch computes J and its exact gradient over every pair, then steps every parameter by
learning_rate x gradient / sqrt(1 + sum of its squared gradients so far). Deterministic for a seed (the
initial vectors: uniform in +-0.5 / d, GloVe's). One epoch costs about 3 d multiply-adds per
co-occurring pair (numba, one thread) and, with Laplace smoothing, 2 V d^2 more (BLAS).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from songvec import cooccurrence
from songvec.models.base import (Model, SeededSettings, TrainingClock, Vocabulary, cooccurrence_statistics,
                                 embedding_record, log_training, require_integers, trained_embedding,
                                 window_entries)
from songvec.progress import Progress
from songvec.training import TokenChunks

log = logging.getLogger(__name__)

COOCCURRENCES = ("window", "sequence")


@dataclasses.dataclass(frozen=True)
class GloveParams:
    """The tuned hyper-parameters.

    Attributes:
        vector_size: d.
        window: the most plays apart two songs co-occur (``cooccurrence: window``).
        x_max: co-occurrences of x_max and more weigh 1 in J.
        weight_exponent: GloVe's and MuSE's alpha, the exponent of the weighting f.
        learning_rate: AdaGrad's step size.
        epochs: full-batch steps.
    """

    vector_size: int = 100
    window: int = 5
    x_max: float = 10.0
    weight_exponent: float = 0.75
    learning_rate: float = 0.2
    epochs: int = 20

    def __post_init__(self):
        require_integers(self, ("vector_size", "window", "epochs"))
        for name in ("x_max", "learning_rate"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"GloveParams.{name} must be > 0, got {getattr(self, name)!r}")
        if not (math.isfinite(self.weight_exponent) and self.weight_exponent >= 0):
            raise ValueError(f"GloveParams.weight_exponent must be >= 0, got {self.weight_exponent!r}")


@dataclasses.dataclass(frozen=True)
class GloveSettings(SeededSettings):
    """Fixed settings (config ``model_config.glove.settings``): ``cooccurrence`` (one of
    :data:`COOCCURRENCES`), ``weighting`` of a pair by its distance (:data:`songvec.cooccurrence.WEIGHTINGS`),
    ``laplace_smoothing`` and ``artist_augmentation`` (module docstring), ``seed`` of the initial vectors,
    ``workers``: BLAS threads."""

    cooccurrence: str = "window"
    weighting: str = "harmonic"
    laplace_smoothing: bool = False
    artist_augmentation: bool = False
    seed: int = 0
    workers: int = 1

    def __post_init__(self):
        if self.cooccurrence not in COOCCURRENCES:
            raise ValueError(f"GloveSettings.cooccurrence must be one of {COOCCURRENCES}, got {self.cooccurrence!r}")
        cooccurrence.distance_weights(1, self.weighting)


@dataclasses.dataclass(frozen=True)
class Problem:
    """J of one co-occurrence matrix, ready to evaluate: the pairs i < j with a co-occurrence (``rows``,
    ``cols``: (P,) int64), their ``log_x`` and weight f(x) (``weight``), where x is the co-occurrence (plus 1
    under Laplace smoothing), ``smoothing`` = f(1) under Laplace smoothing (the weight of every other pair;
    0 without it) and ``n_songs``."""

    rows: np.ndarray
    cols: np.ndarray
    log_x: np.ndarray
    weight: np.ndarray
    smoothing: float
    n_songs: int

    @classmethod
    def of(cls, counts: sp.spmatrix, x_max: float, weight_exponent: float, laplace_smoothing: bool) -> "Problem":
        """The problem of the symmetric (V, V) co-occurrence matrix ``counts`` (its diagonal is ignored)."""
        upper = sp.triu(sp.csr_matrix(counts, dtype=np.float64), k=1).tocoo()
        x = upper.data + 1.0 if laplace_smoothing else upper.data
        keep = x > 0
        x = x[keep]
        weight = np.minimum(1.0, (x / x_max) ** weight_exponent)
        smoothing = min(1.0, (1.0 / x_max) ** weight_exponent) if laplace_smoothing else 0.0
        return cls(upper.row[keep].astype(np.int64), upper.col[keep].astype(np.int64), np.log(x), weight,
                   smoothing, counts.shape[0])


@numba.njit(cache=True, nogil=True)
def _pair_terms(rows, cols, log_x, weight, smoothing, vectors, biases, grad_vectors, grad_biases):
    """Half of the pairs' part of J (each pair i < j once), accumulating d(half)/dw / 2 into the gradients."""
    total = 0.0
    d = vectors.shape[1]
    for p in range(len(rows)):
        i, j = rows[p], cols[p]
        s = biases[i] + biases[j]
        for k in range(d):
            s += vectors[i, k] * vectors[j, k]
        r = s - log_x[p]
        total += weight[p] * r * r - smoothing * s * s
        g = weight[p] * r - smoothing * s
        for k in range(d):
            grad_vectors[i, k] += g * vectors[j, k]
            grad_vectors[j, k] += g * vectors[i, k]
        grad_biases[i] += g
        grad_biases[j] += g
    return total


def loss_and_gradients(problem: Problem, vectors: np.ndarray, biases: np.ndarray
                       ) -> tuple[float, np.ndarray, np.ndarray]:
    """J (module docstring) and its gradients with respect to ``vectors`` (V, d) and ``biases`` (V,).

    The co-occurring pairs are summed one by one; under Laplace smoothing every ordered pair i != j also
    adds f(1) s_ij^2 (s_ij = w_i . w_j + b_i + b_j) minus that of the co-occurring ones (counted above with
    their own weight), where the sum over all pairs is, with G = W^T W, u = W^T 1, v = W^T b:
    ||G||^2 + 4 u.v + 2 V sum b^2 + 2 (sum b)^2 less the diagonal's sum of s_ii^2.
    """
    grad_vectors = np.zeros(vectors.shape, dtype=np.float64)
    grad_biases = np.zeros(len(biases), dtype=np.float64)
    half = _pair_terms(problem.rows, problem.cols, problem.log_x, problem.weight, problem.smoothing, vectors,
                       biases, grad_vectors, grad_biases)
    loss, grad_vectors, grad_biases = 2.0 * half, 4.0 * grad_vectors, 4.0 * grad_biases
    if problem.smoothing:
        w, b = vectors.astype(np.float64), biases.astype(np.float64)
        gram, u, v = w.T @ w, w.sum(axis=0), w.T @ b
        diagonal = np.einsum("ij,ij->i", w, w) + 2.0 * b
        everything = float((gram * gram).sum() + 4.0 * u @ v + 2.0 * len(b) * (b @ b) + 2.0 * b.sum() ** 2)
        loss += problem.smoothing * (everything - float(diagonal @ diagonal))
        grad_vectors += 4.0 * problem.smoothing * (w @ gram + np.outer(b, u) + v[None, :] - diagonal[:, None] * w)
        grad_biases += 4.0 * problem.smoothing * (w @ u + len(b) * b + b.sum() - diagonal)
    return loss, grad_vectors, grad_biases


@numba.njit(cache=True, nogil=True)
def _adagrad_step(values, gradients, squares, learning_rate):
    """AdaGrad on flat (n,) arrays, in place."""
    for i in range(len(values)):
        squares[i] += gradients[i] * gradients[i]
        values[i] -= learning_rate * gradients[i] / math.sqrt(squares[i])


def minimise(problem: Problem, params: GloveParams, seed: int, timer: TrainingClock | None = None,
             logger: logging.Logger | None = None) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Full-batch AdaGrad on J for ``params.epochs`` epochs from seeded initial vectors; returns the
    (V, d) float64 vectors, (V,) biases and J before each epoch's step. ``timer`` holds the whole training
    (its counting included) to its budget after every epoch."""
    rng = np.random.default_rng(seed)
    vectors = (rng.random((problem.n_songs, params.vector_size)) - 0.5) / params.vector_size
    biases = np.zeros(problem.n_songs)
    squares_vectors, squares_biases = np.ones_like(vectors), np.ones_like(biases)
    progress = Progress("glove epochs", params.epochs, "epochs", logger or log, every=0.0)
    losses = []
    for epoch in range(params.epochs):
        loss, grad_vectors, grad_biases = loss_and_gradients(problem, vectors, biases)
        losses.append(loss)
        _adagrad_step(vectors.reshape(-1), grad_vectors.reshape(-1), squares_vectors.reshape(-1),
                      params.learning_rate)
        _adagrad_step(biases, grad_biases, squares_biases, params.learning_rate)
        progress.update(1)
        if timer is not None:
            timer.check(epoch + 1, params.epochs)
    return vectors, biases, losses


def cooccurrence_matrix(corpus: TokenChunks, vocabulary: Vocabulary, params: GloveParams, settings: GloveSettings,
                        logger: logging.Logger | None = None) -> sp.csr_matrix:
    """M of the module docstring (before Laplace smoothing): window or sequence co-occurrence counts, plus
    the artist augmentation."""
    if settings.cooccurrence == "window":
        counts = cooccurrence.window_counts(corpus.source, vocabulary.rows_of, len(vocabulary), params.window,
                                            settings.weighting, logger=logger)
    else:
        counts = cooccurrence.sequence_counts(corpus.source, vocabulary.rows_of, len(vocabulary), logger=logger)
    if settings.artist_augmentation:
        if (vocabulary.artists < 0).all():
            raise ValueError("glove: artist_augmentation needs the artist of the songs, and the training "
                             "sequences have none (config key 'model_config.glove.settings.artist_augmentation')")
        counts = counts + cooccurrence.group_counts(vocabulary.artists, np.arange(len(vocabulary)), len(vocabulary))
    return counts


def train(corpus: TokenChunks, params: GloveParams, settings: GloveSettings, *, budget_seconds: float | None = None,
          clock: str = "cpu", logger: logging.Logger | None = None):
    """GloVe vectors of every song of ``corpus`` (a :class:`~songvec.training.TokenChunks`)."""
    logger = logger or log
    vocabulary = Vocabulary.of(corpus, with_artists=settings.artist_augmentation)
    timer = TrainingClock(budget_seconds, clock)
    counts = cooccurrence_matrix(corpus, vocabulary, params, settings, logger)
    problem = Problem.of(counts, params.x_max, params.weight_exponent, settings.laplace_smoothing)
    with threadpool_limits(settings.workers):
        vectors, _, losses = minimise(problem, params, settings.seed, timer, logger)
    record = embedding_record(params, settings, corpus, vocabulary, timer, cooccurring_pairs=int(counts.nnz),
                              losses=losses)
    log_training(logger, "glove", record)
    return trained_embedding(vocabulary, vectors, record)


def work(params: GloveParams, settings: GloveSettings, statistics: Mapping[str, Any]) -> dict[str, float]:
    """The work of a training: counting (``per_count``: tokens x window; the matrix's entries with sequence
    co-occurrence, where every pair of a sequence is counted) and, over the epochs, 3 d
    multiply-adds per co-occurring pair (``per_pair_dim``: half the matrix's entries), the AdaGrad step
    (``per_parameter``: V (d + 1) parameters), with Laplace smoothing its dense part (``per_laplace``: 2 V d^2
    multiply-adds), and what costs per token whatever the parameters (``per_token``)."""
    entries = statistics["sequence_entries"] if settings.cooccurrence == "sequence" else \
        window_entries(statistics, params.window)
    songs, d, epochs = statistics["songs"], params.vector_size, params.epochs
    counted = entries if settings.cooccurrence == "sequence" else statistics["tokens"] * params.window
    return {"per_count": counted,
            "per_pair_dim": epochs * 1.5 * entries * d, "per_parameter": epochs * songs * (d + 1),
            "per_laplace": epochs * 2 * songs * d * d if settings.laplace_smoothing else 0.0,
            "per_token": statistics["tokens"]}


def statistics(corpus: TokenChunks, settings: GloveSettings, largest: Mapping[str, float]) -> dict[str, Any]:
    """:func:`~songvec.models.base.cooccurrence_statistics`, or with sequence co-occurrence the entries of
    its matrix."""
    if settings.cooccurrence == "window":
        return cooccurrence_statistics(corpus, settings, largest)
    vocabulary = Vocabulary.of(corpus)
    entries = cooccurrence.sequence_counts(corpus.source, vocabulary.rows_of, len(vocabulary)).nnz
    return {"tokens": corpus.n_tokens, "songs": len(vocabulary), "sequence_entries": int(entries)}


GLOVE = Model(name="glove", kind="embedding", params=GloveParams, settings=GloveSettings, train=train, work=work,
              cost_terms=("per_count", "per_pair_dim", "per_parameter", "per_laplace", "per_token"),
              statistics=statistics,
              cooccurrence=True,
              summary="GloVe / MuSE: weighted least squares on the global co-occurrence matrix (window or "
                      "whole-sequence counts, optional Laplace smoothing and artist augmentation), full-batch "
                      "AdaGrad")
