"""SPPMI-SVD: the closed-form rival of skip-gram (Levy & Goldberg, NeurIPS 2014; Levy, Goldberg & Dagan, TACL 2015).

Skip-gram with negative sampling implicitly factorises the PMI matrix of songs and their contexts shifted
by log N. Here that matrix is built and factorised explicitly:

1. counts #(a, c) of song c within ``window`` plays of song a (:func:`songvec.cooccurrence.window_counts`,
   both directions, weighted by distance as set in ``weighting``: ``linear`` is the share of Word2Vec's
   randomly shrunk windows that reach the distance);
2. PMI with context-distribution smoothing: PMI(a, c) = log #(a, c) - log #(a) - log P_cds(c), where #(a)
   = sum over c of #(a, c) and P_cds(c) = #(c)^cds / sum over c' of #(c')^cds (#(c): column sums);
3. shifted positive PMI: SPPMI(a, c) = max(PMI(a, c) - log shift, 0) (``shift`` plays Word2Vec's negative);
4. a truncated SVD SPPMI ~ U S V^T of rank ``vector_size`` (scikit-learn's randomized SVD, seeded) and the
   song vectors U S^eig (``eig``: eigenvalue weighting, 0.5 the symmetric split of Levy et al.).

Memory: the matrix (about 12 bytes per co-occurring pair, twice: counts and SPPMI) and the SVD's dense
(V, vector_size + oversamples) blocks. A song whose SPPMI row is empty gets a zero vector (it has no
direction: it is nobody's neighbour by more than 0).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits

from songvec import cooccurrence
from songvec.models.base import (Model, SeededSettings, TrainingClock, Vocabulary, cooccurrence_statistics,
                                 embedding_record, log_training, require_integers, trained_embedding,
                                 window_entries)
from songvec.training import TokenChunks

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SppmiParams:
    """The tuned hyper-parameters.

    Attributes:
        vector_size: d, rank of the SVD (at most the number of songs; clipped with a log line).
        window: L, the most plays apart two songs co-occur.
        shift: k, SPPMI subtracts log k (SGNS's negative samples; >= 1).
        cds: context-distribution smoothing exponent (Word2Vec's ns_exponent; 1 is plain PMI).
        eig: exponent of the singular values in the vectors U S^eig (0: U alone, 1: U S).
    """

    vector_size: int = 100
    window: int = 5
    shift: float = 5.0
    cds: float = 0.75
    eig: float = 0.5

    def __post_init__(self):
        require_integers(self, ("vector_size", "window"))
        if not (math.isfinite(self.shift) and self.shift >= 1):
            raise ValueError(f"SppmiParams.shift must be a number >= 1, got {self.shift!r}")
        for name in ("cds", "eig"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"SppmiParams.{name} must be finite, got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True)
class SppmiSettings(SeededSettings):
    """Fixed settings (config ``model_config.sppmi_svd.settings``).

    Attributes:
        weighting: of a pair by its distance (:data:`songvec.cooccurrence.WEIGHTINGS`).
        svd_iterations: power iterations of the randomized SVD (more: closer to the exact leading singular
            vectors, one sparse product each).
        svd_oversamples: extra random directions of the randomized SVD.
        seed: of the SVD's random projection.
        workers: BLAS threads (the rule's threads).
    """

    weighting: str = "linear"
    svd_iterations: int = 5
    svd_oversamples: int = 10
    seed: int = 0
    workers: int = 1

    def __post_init__(self):
        cooccurrence.distance_weights(1, self.weighting)
        require_integers(self, ("svd_iterations", "svd_oversamples"), minimum=0)


def sppmi_matrix(counts: sp.csr_matrix, shift: float, cds: float) -> sp.csr_matrix:
    """SPPMI of a (V, V) co-occurrence count matrix (module docstring, steps 2-3): CSR, float64, only the
    positive entries (an entry is positive only where the count is)."""
    counts = sp.csr_matrix(counts, dtype=np.float64)
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    column_sums = np.asarray(counts.sum(axis=0)).ravel()
    smoothed = np.zeros(len(column_sums))  # 0 for a song never seen as a context, whatever the sign of cds
    np.power(column_sums, cds, out=smoothed, where=column_sums > 0)
    context = smoothed / smoothed.sum()
    coo = counts.tocoo()
    values = np.log(coo.data) - np.log(row_sums[coo.row]) - np.log(context[coo.col]) - math.log(shift)
    positive = values > 0
    matrix = sp.csr_matrix((values[positive], (coo.row[positive], coo.col[positive])), shape=counts.shape)
    matrix.sort_indices()
    return matrix


def song_vectors(matrix: sp.csr_matrix, rank: int, eig: float, settings: SppmiSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(U S^eig, S)``: (V, rank) float32 song vectors and the (rank,) singular values of the truncated SVD
    of ``matrix`` (module docstring, step 4). Singular values of 0 give zero columns under any ``eig``."""
    with threadpool_limits(settings.workers):
        u, s, _ = randomized_svd(matrix.astype(np.float32), rank, n_oversamples=settings.svd_oversamples,
                                 n_iter=settings.svd_iterations, random_state=settings.seed)
    weights = np.where(s > 0, np.power(np.maximum(s, np.finfo(np.float32).tiny), eig), 0.0)
    return (u * weights).astype(np.float32), s


def train(corpus: TokenChunks, params: SppmiParams, settings: SppmiSettings, *, budget_seconds: float | None = None,
          clock: str = "cpu", logger: logging.Logger | None = None):
    """SPPMI-SVD vectors of every song of ``corpus`` (a :class:`~songvec.training.TokenChunks`). The
    budget is checked after counting (the SVD cannot be cut short) and at the end."""
    logger = logger or log
    vocabulary = Vocabulary.of(corpus)
    timer = TrainingClock(budget_seconds, clock)
    counts = cooccurrence.window_counts(corpus.source, vocabulary.rows_of, len(vocabulary), params.window,
                                        settings.weighting, logger=logger)
    matrix = sppmi_matrix(counts, params.shift, params.cds)
    rank = min(params.vector_size, max(len(vocabulary) - 1, 1))
    if rank < params.vector_size:
        logger.info("sppmi_svd: vector_size %d clipped to %d (the vocabulary has %d songs)", params.vector_size,
                    rank, len(vocabulary))
    timer.check(1, 1)
    vectors, singular = song_vectors(matrix, rank, params.eig, settings)
    timer.check(1, 1)
    record = embedding_record(params, settings, corpus, vocabulary, timer, rank=rank,
                              cooccurring_pairs=int(counts.nnz), sppmi_entries=int(matrix.nnz),
                              songs_without_sppmi=int((np.diff(matrix.indptr) == 0).sum()),
                              singular_values=singular.tolist())
    log_training(logger, "sppmi_svd", record)
    return trained_embedding(vocabulary, vectors, record)


def work(params: SppmiParams, settings: SppmiSettings, statistics: Mapping[str, Any]) -> dict[str, float]:
    """The work of a training: the window's weighted pairs counted (``per_count``: tokens x window), the
    randomized SVD's sparse multiply-adds (``per_svd``: about 2 iterations + 4 products of the co-occurrence
    matrix, an upper bound of the SPPMI's entries, with (V, l) blocks, l = d + oversamples) and its dense
    ones (``per_dense``: a normalisation of the (V, l) block after each of those products, V l^2 each), and
    what costs per token whatever the parameters (``per_token``: the vocabulary, reading the sequences)."""
    width = params.vector_size + settings.svd_oversamples
    entries = window_entries(statistics, params.window)
    products = 2 * settings.svd_iterations + 4
    return {"per_count": statistics["tokens"] * params.window, "per_svd": products * entries * width,
            "per_dense": products * statistics["songs"] * width * width, "per_token": statistics["tokens"]}


SPPMI_SVD = Model(name="sppmi_svd", kind="embedding", params=SppmiParams, settings=SppmiSettings, train=train,
                  work=work, cost_terms=("per_count", "per_svd", "per_dense", "per_token"), statistics=cooccurrence_statistics,
                  cooccurrence=True,
                  summary="shifted positive PMI of windowed co-occurrences, factorised by a truncated "
                          "(randomized) SVD")
