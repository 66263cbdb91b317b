"""Next-song prediction (paper section 2.1): evaluation pairs, HitRate@k and NDCG@k.

A pair is (query, target): the target song was played right after the query song. The prediction
for a query is its ``k`` exact nearest neighbours by cosine similarity (the query song itself
excluded); the pair is a hit when the target is among them, at 1-based ``rank``, and then scores
NDCG = 1 / log2(rank + 1) (one relevant item, so the ideal DCG is 1).

- in-set pairs (:func:`mask_last`): the last song of every training sequence is removed from
  the training data; the pair is (second-to-last, last);
- out-of-set pairs (:func:`out_of_set_pairs`): every consecutive pair of every held-out
  (validation or test) sequence, or a seeded sample of them (:func:`sample_rows`) drawn before
  any pair is built, so that only the sampled pairs are ever held in memory.

Both read the sequences as a stream of batches (:func:`songvec.sequences.iter_sequences`), so
memory is bounded by one batch plus the pairs kept, whatever the data size.

Pair tables have the columns ``sequence`` (index of the sequence in the given stream of
:class:`~songvec.sequences.Sequences` batches, counted across batches), ``position`` (0-based
position of the target inside that sequence; the query is at ``position - 1``), ``query`` and
``target`` (track ids), all int64; in-set pairs also carry the ``user_id`` of their sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import numpy as np
import pandas as pd

from songvec.neighbors import require_unit_rows, top_k
from songvec.progress import Progress
from songvec.sequences import Sequences
from songvec.split import split_sequences

log = logging.getLogger(__name__)

PAIR_COLUMNS = ("sequence", "position", "query", "target")
OOV_POLICIES = ("skip", "miss")
SELF_PAIR_POLICIES = ("skip", "keep")
_RANK_CHUNK = 65_536  # pairs compared against their query's neighbour list at once (k * 8 B each)


def mask_last(batches: Iterable[Sequences], write: Callable[[Sequences], None],
              total_events: int | None = None) -> pd.DataFrame:
    """Remove the last event of every training sequence; return the in-set pairs.

    Args:
        batches: the training sequences in order, in batches of whole sequences
            (:func:`songvec.sequences.iter_sequences`; a one-element list for sequences in memory).
        write: called in order with the masked sequences of each batch that keeps any (e.g.
            ``SequenceWriter.write``): the sequences without their last event; sequences left
            empty (those of a single event) are dropped.
        total_events: events of the stream, for the progress ETA (``None``: no ETA).

    Returns:
        in_set_pairs: one (second-to-last, last) pair per sequence with at least 2 events, with
        :data:`PAIR_COLUMNS` (``sequence``: index in the whole stream) plus ``user_id``.
        ``pairs.attrs`` holds ``n_sequences`` and ``n_without_pair`` (sequences with fewer than 2
        events, which give no pair).

    Memory: one batch plus the pairs (40 bytes per sequence).
    """
    progress = Progress("mask last events", total_events, "events", log)
    frames, first = [], 0
    n_dropped = 0
    for train in batches:
        lengths = train.lengths
        ends = train.offsets[1:]
        keep_event = np.ones(train.n_events, dtype=bool)
        keep_event[ends[lengths > 0] - 1] = False
        kept_lengths = lengths - (lengths > 0)
        kept_sequences = kept_lengths > 0
        offsets = np.zeros(int(kept_sequences.sum()) + 1, dtype=np.int64)
        np.cumsum(kept_lengths[kept_sequences], out=offsets[1:])
        if len(offsets) > 1:
            write(Sequences(train.user_ids[kept_sequences], offsets, train.tracks[keep_event],
                            train.artists[keep_event], train.timestamps[keep_event]))

        with_pair = np.flatnonzero(lengths >= 2)
        last = ends[with_pair] - 1
        frames.append(_pair_frame(first + with_pair, lengths[with_pair] - 1, train.tracks[last - 1],
                                  train.tracks[last]).assign(user_id=train.user_ids[with_pair]))
        first += len(train)
        n_dropped += int((lengths == 1).sum())
        progress.update(train.n_events)
    progress.finish()
    pairs = pd.concat(frames, ignore_index=True) if frames else \
        _pair_frame(*[[]] * len(PAIR_COLUMNS)).assign(user_id=np.zeros(0, dtype=np.int64))
    n_without = first - len(pairs)
    pairs.attrs.update(n_sequences=first, n_without_pair=n_without)
    log.info("in-set pairs: %d from %d training sequences (%d sequences have fewer than 2 events "
             "and give none; %d single-event sequences leave the training data entirely)",
             len(pairs), first, n_without, n_dropped)
    return pairs


IN_SET_POLICIES = ("shared", "disjoint")


def in_set_pairs_by_split(pairs: pd.DataFrame, policy: str, seed: int) -> dict[str, pd.DataFrame]:
    """The in-set pairs of validation and of test (``{"valid": ..., "test": ...}``).

    ``policy="shared"``: both are every pair (the paper's reading: the pairs that pick a study's best
    trial are scored again in Table 4). ``"disjoint"``: a seeded half of the pairs (by
    :func:`songvec.split.split_sequences`; one pair per training sequence) for validation, the other half
    for test, so no test pair took part in choosing the configuration it scores. Rows keep their order.
    """
    if policy not in IN_SET_POLICIES:
        raise ValueError(f"in_set_pairs must be one of {IN_SET_POLICIES}, got {policy!r}")
    if policy == "shared":
        return {"valid": pairs.reset_index(drop=True), "test": pairs.reset_index(drop=True)}
    halves = split_sequences(len(pairs), {"valid": 0.5, "test": 0.5}, seed=seed)
    return {name: pairs.iloc[rows].reset_index(drop=True) for name, rows in halves.items()}


def scored_pairs(pairs: pd.DataFrame, song_ids: np.ndarray) -> int:
    """Pairs of ``pairs`` that count in the means under the default policies (``oov_policy="skip"``,
    ``self_pairs="skip"``): query and target both among ``song_ids`` (the training vocabulary) and distinct."""
    query, target = pairs["query"].to_numpy(np.int64), pairs["target"].to_numpy(np.int64)
    return int(np.count_nonzero(np.isin(query, song_ids) & np.isin(target, song_ids) & (query != target)))


def count_out_of_set_pairs(batches: Iterable[Sequences]) -> int:
    """Number of out-of-set pairs of a stream of held-out sequences (one per event after the first
    of each sequence), to draw :func:`sample_rows` before :func:`out_of_set_pairs`."""
    return sum(int(np.maximum(batch.lengths - 1, 0).sum()) for batch in batches)


def out_of_set_pairs(batches: Iterable[Sequences], rows: np.ndarray | None = None) -> pd.DataFrame:
    """The consecutive pairs (a_t, a_{t+1}) of every held-out sequence, in sequence order.

    Args:
        batches: the held-out sequences in order, in batches of whole sequences
            (:func:`songvec.sequences.iter_sequences`; a one-element list for sequences in memory).
        rows: sorted indices of the pairs to keep among all pairs in order (:func:`sample_rows`);
            ``None`` keeps every pair.

    Returns the kept pairs (``sequence``: index in the whole stream) with a fresh 0-based index.
    Memory: one batch plus 32 bytes per kept pair.
    """
    rows = None if rows is None else np.asarray(rows, dtype=np.int64)
    if rows is not None and np.any(np.diff(rows) <= 0):
        raise ValueError("rows must be sorted and distinct pair indices")
    frames, first, pairs_before, n_short = [], 0, 0, 0
    for heldout in batches:
        lengths = heldout.lengths
        sequence = np.repeat(np.arange(len(heldout), dtype=np.int64), np.maximum(lengths - 1, 0))
        is_first = np.zeros(heldout.n_events, dtype=bool)
        is_first[heldout.offsets[:-1][lengths > 0]] = True
        target_events = np.flatnonzero(~is_first)
        if rows is not None:
            low, high = np.searchsorted(rows, [pairs_before, pairs_before + len(target_events)])
            kept = rows[low:high] - pairs_before
            sequence, target_events = sequence[kept], target_events[kept]
        frames.append(_pair_frame(first + sequence, target_events - heldout.offsets[sequence],
                                  heldout.tracks[target_events - 1], heldout.tracks[target_events]))
        first += len(heldout)
        pairs_before += int(np.maximum(lengths - 1, 0).sum())
        n_short += int((lengths < 2).sum())
    if rows is not None and len(rows) and rows[-1] >= pairs_before:
        raise ValueError(f"rows go up to pair {rows[-1]} but the sequences give {pairs_before} pairs")
    pairs = pd.concat(frames, ignore_index=True) if frames else _pair_frame(*[[]] * len(PAIR_COLUMNS))
    log.info("out-of-set pairs: %d from %d held-out sequences (%d with fewer than 2 events)%s",
             pairs_before, first, n_short, "" if rows is None else f", {len(pairs)} kept")
    return pairs


def sampled_out_of_set_pairs(heldout: Iterable[Sequences], max_pairs: int | None,
                             seed: int) -> tuple[pd.DataFrame, int]:
    """:func:`out_of_set_pairs` of the re-iterable ``heldout`` (e.g. a
    :class:`songvec.sequences.SequenceFile`), sampled as :func:`sample_pairs` would sample them all.

    Two passes: the pairs are counted, the sample drawn (:func:`sample_rows`), and only the sampled
    pairs are built. Returns ``(pairs, number of pairs before sampling)``.
    """
    n_pairs = count_out_of_set_pairs(heldout)
    return out_of_set_pairs(heldout, sample_rows(n_pairs, max_pairs, seed)), n_pairs


def sample_rows(n_rows: int, max_rows: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded uniform sample of ``max_rows`` of ``n_rows`` rows without replacement.

    ``None`` (keep every row) when ``max_rows`` is ``None`` or at least ``n_rows``. The same
    (n_rows, max_rows, seed) always give the same indices.
    """
    if max_rows is None or max_rows >= n_rows:
        return None
    if int(max_rows) != max_rows or max_rows < 1:
        raise ValueError(f"max_pairs must be a positive integer or None, got {max_rows!r}")
    rows = np.sort(np.random.default_rng(seed).choice(n_rows, size=int(max_rows), replace=False))
    log.info("sampled %d of %d pairs (seed %d)", len(rows), n_rows, seed)
    return rows


def sample_pairs(pairs: pd.DataFrame, max_pairs: int | None, seed: int) -> pd.DataFrame:
    """A seeded uniform sample of ``max_pairs`` rows without replacement, kept in their order.

    ``max_pairs=None`` (or at least ``len(pairs)``) keeps every pair. The result has a fresh
    0-based index; the rows are those of :func:`sample_rows` for ``len(pairs)``.
    """
    rows = sample_rows(len(pairs), max_pairs, seed)
    return pairs.reset_index(drop=True) if rows is None else pairs.iloc[rows].reset_index(drop=True)


class Recommender(Protocol):
    """What predicts next songs: ``n_rows`` songs, and ``recommend(rows, k, threads)``, the (Q, k) int64
    rows of the k songs predicted after each query row, best first, never the query itself (-1 pads a
    list shorter than k). :class:`CosineNeighbours` (an embedding) and
    :class:`songvec.models.baselines.Ranking` (a baseline) are the two kinds."""

    n_rows: int

    def recommend(self, rows: np.ndarray, k: int, threads: int = 1) -> np.ndarray: ...


class CosineNeighbours:
    """The paper's prediction: the k exact nearest neighbours by cosine similarity of (V, d) unit
    ``vectors`` (:func:`songvec.neighbors.normalize`), the query excluded."""

    def __init__(self, vectors: np.ndarray):
        require_unit_rows(vectors)
        self.vectors = vectors

    @property
    def n_rows(self) -> int:
        return len(self.vectors)

    def recommend(self, rows: np.ndarray, k: int, threads: int = 1) -> np.ndarray:
        neighbours, _ = top_k(self.vectors[rows], self.vectors, k, exclude=rows, threads=threads)
        return neighbours


def evaluate_pairs(vectors: np.ndarray | Recommender, key_index, pairs: pd.DataFrame, k: int = 100,
                   oov_policy: str = "skip", self_pairs: str = "skip", threads: int = 1,
                   ) -> tuple[pd.DataFrame, dict]:
    """HitRate@k and NDCG@k of next-song prediction by exact nearest neighbours (or another recommender).

    Args:
        vectors: (V, d) float32 unit rows (:func:`songvec.neighbors.normalize`), whose nearest
            neighbours are the prediction (:class:`CosineNeighbours`); or any :class:`Recommender`.
        key_index: track id -> row of ``vectors``: a mapping (e.g. gensim's ``key_to_index``;
            keys int or int-like str) or an int array ``lookup`` with ``lookup[track_id]`` the row
            or -1.
        pairs: table with int ``query`` and ``target`` columns (other columns are carried over).
        k: neighbours retrieved per query (the paper: 100).
        oov_policy: a pair whose query or target has no vector is out of vocabulary (OOV):
            "skip" leaves it out of the means, "miss" counts it as a miss.
        self_pairs: a pair with query == target (a repeated play) can never hit because the query
            itself is excluded from its neighbours: "skip" leaves it out of the means, "keep"
            counts it (as a miss). An OOV self pair follows both policies (left out if either skips).
        threads: worker threads of the neighbour search (the caller's rule's ``threads``).

    Returns:
        per_pair: the rows of ``pairs`` in the same order and index, plus ``in_vocab``,
            ``is_self``, ``evaluated`` (counted in the means), ``rank`` (1-based rank of the target
            among the query's k neighbours, 0 if absent), ``hit`` (0/1) and ``ndcg``. The rows do
            not depend on the model, so per-pair values of two models can be paired.
        summary: n_pairs, n_evaluated, n_oov, share_oov, n_self, share_self, hitrate, ndcg (means
            over the evaluated pairs; NaN when there are none), k, oov_policy, self_pairs.
    """
    if oov_policy not in OOV_POLICIES:
        raise ValueError(f"oov_policy must be one of {OOV_POLICIES}, got {oov_policy!r}")
    if self_pairs not in SELF_PAIR_POLICIES:
        raise ValueError(f"self_pairs must be one of {SELF_PAIR_POLICIES}, got {self_pairs!r}")
    missing = {"query", "target"} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs lack the column(s) {sorted(missing)}")
    recommender = CosineNeighbours(vectors) if isinstance(vectors, np.ndarray) else vectors
    queries = pairs["query"].to_numpy(dtype=np.int64)
    targets = pairs["target"].to_numpy(dtype=np.int64)
    query_rows = vocabulary_rows(key_index, queries, recommender.n_rows)
    target_rows = vocabulary_rows(key_index, targets, recommender.n_rows)

    in_vocab = (query_rows >= 0) & (target_rows >= 0)
    is_self = queries == targets
    evaluated = np.ones(len(pairs), dtype=bool)
    if oov_policy == "skip":
        evaluated &= in_vocab
    if self_pairs == "skip":
        evaluated &= ~is_self
    ranks = np.zeros(len(pairs), dtype=np.int64)
    searched = np.flatnonzero(evaluated & in_vocab & ~is_self)
    if len(searched):
        unique_rows, which = np.unique(query_rows[searched], return_inverse=True)
        neighbours = recommender.recommend(unique_rows, k, threads=threads)
        ranks[searched] = _target_ranks(neighbours, which, target_rows[searched])
    hits = (ranks > 0).astype(np.int64)
    ndcg = np.zeros(len(pairs), dtype=np.float64)
    ndcg[ranks > 0] = 1.0 / np.log2(ranks[ranks > 0] + 1.0)

    per_pair = pairs.copy()
    per_pair["in_vocab"] = in_vocab
    per_pair["is_self"] = is_self
    per_pair["evaluated"] = evaluated
    per_pair["rank"] = ranks
    per_pair["hit"] = hits
    per_pair["ndcg"] = ndcg
    n_pairs, n_evaluated = len(pairs), int(evaluated.sum())
    n_oov, n_self = int((~in_vocab).sum()), int(is_self.sum())
    summary = {
        "n_pairs": n_pairs,
        "n_evaluated": n_evaluated,
        "n_oov": n_oov,
        "share_oov": n_oov / n_pairs if n_pairs else float("nan"),
        "n_self": n_self,
        "share_self": n_self / n_pairs if n_pairs else float("nan"),
        "hitrate": float(hits[evaluated].mean()) if n_evaluated else float("nan"),
        "ndcg": float(ndcg[evaluated].mean()) if n_evaluated else float("nan"),
        "k": int(k),
        "oov_policy": oov_policy,
        "self_pairs": self_pairs,
    }
    if not n_evaluated:
        log.warning("next-song evaluation: none of the %d pairs could be evaluated", n_pairs)
    log.info("next-song evaluation: %d pairs, %d evaluated (%d out of vocabulary, policy %s; "
             "%d self pairs, policy %s): HitRate@%d %.4f, NDCG@%d %.4f", n_pairs, n_evaluated, n_oov,
             oov_policy, n_self, self_pairs, k, summary["hitrate"], k, summary["ndcg"])
    return per_pair, summary


def vocabulary_rows(key_index, track_ids: np.ndarray, n_rows: int) -> np.ndarray:
    """Rows of ``track_ids`` in a vocabulary of ``n_rows`` vectors; -1 where a track has none.

    ``key_index`` is a mapping track id -> row (int or int-like str keys) or an int lookup array
    (``lookup[track_id]`` = row or -1). Vectorised: no per-track Python work on the ids.
    """
    track_ids = np.asarray(track_ids, dtype=np.int64)
    rows = np.full(len(track_ids), -1, dtype=np.int64)
    if isinstance(key_index, Mapping):
        keys = np.fromiter((int(key) for key in key_index.keys()), dtype=np.int64,
                           count=len(key_index))
        values = np.fromiter(key_index.values(), dtype=np.int64, count=len(key_index))
        order = np.argsort(keys)
        keys, values = keys[order], values[order]
        if len(keys):
            pos = np.minimum(np.searchsorted(keys, track_ids), len(keys) - 1)
            found = keys[pos] == track_ids
            rows[found] = values[pos[found]]
    else:
        lookup = np.asarray(key_index)
        if lookup.ndim != 1 or not np.issubdtype(lookup.dtype, np.integer):
            raise ValueError("key_index must be a mapping or a 1-D integer lookup array")
        values = lookup
        inside = (track_ids >= 0) & (track_ids < len(lookup))
        rows[inside] = lookup[track_ids[inside]]
    if len(values) and (values.min() < -1 or values.max() >= n_rows):
        raise ValueError(f"key_index maps tracks to rows outside [0, {n_rows}) (the vector rows)")
    return rows


def _target_ranks(neighbours: np.ndarray, which: np.ndarray, target_rows: np.ndarray) -> np.ndarray:
    """1-based position of ``target_rows[i]`` in ``neighbours[which[i]]``, 0 where absent."""
    ranks = np.zeros(len(which), dtype=np.int64)
    for start in range(0, len(which), _RANK_CHUNK):
        stop = start + _RANK_CHUNK
        match = neighbours[which[start:stop]] == target_rows[start:stop, None]
        found = match.any(axis=1)
        ranks[start:stop] = np.where(found, match.argmax(axis=1) + 1, 0)
    return ranks


def _pair_frame(sequence, position, query, target) -> pd.DataFrame:
    columns = (sequence, position, query, target)
    return pd.DataFrame({name: np.asarray(values, dtype=np.int64)
                         for name, values in zip(PAIR_COLUMNS, columns)})
