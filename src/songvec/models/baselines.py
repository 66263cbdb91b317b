"""Next-song baselines: a floor for HitRate and NDCG (they give no vectors: no VRC, HardNeg or coherence).

- ``popularity``: every query gets the most played songs of the training sequences (the query left out).
- ``transitions``: the songs that most often follow the query in the training sequences: song b follows a
  when it is played at most ``window`` plays after it (1: right after), each occurrence weighted by its
  distance (``weighting``, as :mod:`songvec.cooccurrence`); ties and, with ``fill: popularity``, the rest
  of the k slots go to the most played songs. Ludewig & Jannach (2018) found such item-to-item rules hard
  to beat for next-item prediction.

A trained baseline is a :class:`Ranking`, saved as one ``.npz`` file; its ``recommend`` gives the
evaluation (:func:`songvec.next_song.evaluate_pairs`) the k songs of a query, as the nearest neighbours of
an embedding do.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from songvec import atomic, cooccurrence
from songvec.models.base import (Model, TrainingClock, Vocabulary, embedding_record, require_integers,
                                 token_statistics)
from songvec.training import TokenChunks

log = logging.getLogger(__name__)

FILLS = ("popularity", "none")


@dataclasses.dataclass(frozen=True)
class PopularityParams:
    """The popularity baseline has no hyper-parameter."""


@dataclasses.dataclass(frozen=True)
class PopularitySettings:
    """Nor a setting."""

    @classmethod
    def from_config(cls, section: Mapping[str, Any], seed: int, workers: int | None = None) -> "PopularitySettings":
        return cls(**section)


@dataclasses.dataclass(frozen=True)
class TransitionsParams:
    """``window``: b follows a when it is played at most this many plays after a (1: right after)."""

    window: int = 1

    def __post_init__(self):
        require_integers(self, ("window",))


@dataclasses.dataclass(frozen=True)
class TransitionsSettings:
    """``weighting`` of a follower by its distance (:data:`songvec.cooccurrence.WEIGHTINGS`); ``fill``: what
    takes the slots the followers leave (one of :data:`FILLS`)."""

    weighting: str = "harmonic"
    fill: str = "popularity"

    @classmethod
    def from_config(cls, section: Mapping[str, Any], seed: int, workers: int | None = None) -> "TransitionsSettings":
        return cls(**section)

    def __post_init__(self):
        cooccurrence.distance_weights(1, self.weighting)
        if self.fill not in FILLS:
            raise ValueError(f"TransitionsSettings.fill must be one of {FILLS}, got {self.fill!r}")


@dataclasses.dataclass
class Ranking:
    """Ranked next songs of every song.

    Attributes:
        track_ids: (V,) int64, rows by decreasing plays (ties in order of first play): row order is the
            popularity order.
        followers: (V, V) CSR whose row a holds the songs that follow a, in ranked order (decreasing weight,
            ties by row: the more played first); no entry on the diagonal.
        fill: the k slots the followers leave go to the most played songs.
    """

    track_ids: np.ndarray
    followers: sp.csr_matrix
    fill: bool

    @property
    def n_rows(self) -> int:
        return len(self.track_ids)

    def recommend(self, rows: np.ndarray, k: int, threads: int = 1) -> np.ndarray:
        """(Q, k) int64 rows of the songs recommended after each query row (never the query itself), best
        first; -1 where fewer than k are known (``fill`` off)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full((len(rows), k), -1, dtype=np.int64)
        _recommend(self.followers.indptr.astype(np.int64), self.followers.indices.astype(np.int64), rows, k,
                   self.n_rows, self.fill, out)
        return out

    def save(self, path) -> None:
        """One ``.npz`` file, written atomically."""
        with atomic.atomic_path(Path(path), suffix=".npz") as tmp:
            np.savez(tmp, track_ids=self.track_ids, indptr=self.followers.indptr, indices=self.followers.indices,
                     data=self.followers.data, fill=np.array(self.fill))

    @classmethod
    def load(cls, path) -> "Ranking":
        with np.load(path) as file:
            n = len(file["track_ids"])
            followers = sp.csr_matrix((file["data"], file["indices"], file["indptr"]), shape=(n, n))
            return cls(file["track_ids"], followers, bool(file["fill"]))


@numba.njit(cache=True, nogil=True)
def _recommend(indptr, indices, queries, k, n_rows, fill, out):
    taken = np.zeros(n_rows, dtype=np.bool_)
    for qi in range(len(queries)):
        q = queries[qi]
        n = 0
        for p in range(indptr[q], indptr[q + 1]):
            if n == k:
                break
            out[qi, n] = indices[p]
            taken[indices[p]] = True
            n += 1
        r = 0
        while fill and n < k and r < n_rows:
            if r != q and not taken[r]:
                out[qi, n] = r
                n += 1
            r += 1
        for m in range(n):
            taken[out[qi, m]] = False


@dataclasses.dataclass
class TrainedRanking:
    """A trained baseline: its :class:`Ranking` and training record (as :class:`~songvec.training.TrainedModel`)."""

    ranking: Ranking
    record: dict


def ranked_rows(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``counts`` with each row's entries in ranked order: decreasing value, ties by column. Values equal to
    9 decimals are ties: distance weights such as 1/2 + 1/3 summed in another order differ in the last bit."""
    counts = sp.csr_matrix(counts)
    row = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    order = np.lexsort((counts.indices, -np.round(counts.data, 9), row))
    return sp.csr_matrix((counts.data[order], counts.indices[order], counts.indptr), shape=counts.shape)


def _train_popularity(corpus: TokenChunks, params: PopularityParams, settings: PopularitySettings, *,
                      budget_seconds: float | None = None, clock: str = "cpu", logger=None) -> TrainedRanking:
    timer = TrainingClock(budget_seconds, clock)
    vocabulary = Vocabulary.of(corpus)
    n = len(vocabulary)
    ranking = Ranking(vocabulary.track_ids, sp.csr_matrix((n, n), dtype=np.float64), fill=True)
    return TrainedRanking(ranking, embedding_record(params, settings, corpus, vocabulary, timer))


def _train_transitions(corpus: TokenChunks, params: TransitionsParams, settings: TransitionsSettings, *,
                       budget_seconds: float | None = None, clock: str = "cpu", logger=None) -> TrainedRanking:
    timer = TrainingClock(budget_seconds, clock)
    vocabulary = Vocabulary.of(corpus)
    counts = cooccurrence.window_counts(corpus.source, vocabulary.rows_of, len(vocabulary), params.window,
                                        settings.weighting, directed=True, logger=logger or log)
    ranking = Ranking(vocabulary.track_ids, ranked_rows(counts), fill=settings.fill == "popularity")
    timer.check(1, 1)
    record = embedding_record(params, settings, corpus, vocabulary, timer, follower_pairs=int(counts.nnz),
                              songs_without_followers=int((np.diff(counts.indptr) == 0).sum()))
    return TrainedRanking(ranking, record)


def _transitions_work(params: TransitionsParams, settings: TransitionsSettings,
                      statistics: Mapping[str, Any]) -> dict[str, float]:
    """Counting the followers (``per_count``: tokens x window) and ranking them, reading the sequences
    (``per_token``)."""
    return {"per_count": statistics["tokens"] * params.window, "per_token": statistics["tokens"]}


POPULARITY = Model(name="popularity", kind="ranking", params=PopularityParams, settings=PopularitySettings,
                   train=_train_popularity, work=lambda params, settings, statistics: {"per_token": statistics["tokens"]},
                   cost_terms=("per_token",), statistics=token_statistics, summary="the most played songs, the same for every query")
TRANSITIONS = Model(name="transitions", kind="ranking", params=TransitionsParams, settings=TransitionsSettings,
                    train=_train_transitions, work=_transitions_work,
                    cost_terms=("per_count", "per_token"), statistics=token_statistics,
                    cooccurrence=True,
                    summary="the songs that most often follow the query in training (within a window), then "
                            "the most played")
