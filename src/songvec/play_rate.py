"""Play-rate PROXY for the play-prediction analysis (paper section 4.6, Table 5, Fig. 3).

The paper measures how often an algorithmic play that follows an organic one lasts at least 30
seconds, on proprietary radio/autoplay logs. LFM-1b has neither skips nor the organic/algorithmic
distinction, so this module uses a clearly different, openly available stand-in: the **transition
rate** of an ordered song pair ``(a, b)`` in held-out listening sequences,

    rate(a, b) = (plays of a immediately followed by b) / (plays of a immediately followed by any other song)

i.e. the empirical probability that the next *different* song after ``a`` is ``b``. Self-repeats
(``a`` followed by ``a``) are excluded from numerator and denominator, so the rates of one ``a``
sum to 1. Table 5's analog is the Pearson correlation between this rate and the cosine similarity of
the two songs' embeddings; Fig. 3's analog is the mean rate by similarity bin.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from songvec.sequences import Sequences

log = logging.getLogger(__name__)

RATE_COLUMNS = ["song_a", "song_b", "transitions", "plays_a", "rate"]


def transition_rates(seqs: Sequences, max_gap_seconds: float | None = None) -> pd.DataFrame:
    """Transition rate of every ordered pair of different songs that follow each other in ``seqs``.

    A transition is two consecutive events of one sequence; it crosses no sequence boundary. With
    ``max_gap_seconds`` set, events more than that many seconds apart are not a transition (a
    session break; LFM-1b has one sequence per user spanning years). Self-repeats are left out.

    Returns one row per pair, sorted by ``(song_a, song_b)``: ``transitions`` (int64), ``plays_a``
    (plays of ``song_a`` followed by a different song in the same session, int64) and
    ``rate = transitions / plays_a``. ``result.attrs`` holds the counts of consecutive event pairs
    that were left out: ``n_self_repeats`` and ``n_session_breaks``.
    """
    starts_sequence = np.zeros(seqs.n_events, dtype=bool)
    starts_sequence[seqs.offsets[:-1][seqs.lengths > 0]] = True
    follows = ~starts_sequence[1:]  # event i + 1 continues the sequence of event i
    song_a, song_b = seqs.tracks[:-1], seqs.tracks[1:]
    n_session_breaks = 0
    if max_gap_seconds is not None:
        if max_gap_seconds < 0:
            raise ValueError(f"max_gap_seconds must be >= 0, got {max_gap_seconds}")
        in_session = np.diff(seqs.timestamps) <= max_gap_seconds
        n_session_breaks = int((follows & ~in_session).sum())
        follows &= in_session
    repeat = song_a == song_b
    n_self_repeats = int((follows & repeat).sum())
    keep = follows & ~repeat

    pairs = pd.DataFrame({"song_a": song_a[keep], "song_b": song_b[keep]})
    counts = pairs.groupby(["song_a", "song_b"], sort=True).size()
    result = counts.rename("transitions").reset_index()
    result["transitions"] = result["transitions"].astype(np.int64)
    result["plays_a"] = result.groupby("song_a")["transitions"].transform("sum").astype(np.int64)
    result["rate"] = result["transitions"] / result["plays_a"]
    result = result[RATE_COLUMNS]
    result.attrs.update(n_self_repeats=n_self_repeats, n_session_breaks=n_session_breaks)
    log.info("transition rates: %d ordered pairs from %d transitions (%d self-repeats and %d session breaks left out)",
             len(result), int(keep.sum()), n_self_repeats, n_session_breaks)
    return result


def pair_cosine(rates: pd.DataFrame, vectors: np.ndarray, key_index: Mapping, chunk_size: int = 65536) -> np.ndarray:
    """(P,) float64 cosine similarity of ``song_a`` and ``song_b`` for every row of ``rates``.

    ``vectors``: (V, d) embedding matrix; ``key_index``: track id -> row of ``vectors`` (gensim's
    ``KeyedVectors.key_to_index``). NaN where either song is not in ``key_index`` or has a zero vector.
    Computed ``chunk_size`` pairs at a time, in float64, so memory stays at two (chunk_size, d) blocks.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a (V, d) matrix, got shape {vectors.shape}")
    index = pd.Index(list(key_index.keys()))
    rows = np.asarray(list(key_index.values()), dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(vectors)):
        raise ValueError(f"key_index points outside the {len(vectors)} rows of vectors")
    row_a = index.get_indexer(rates["song_a"].to_numpy())
    row_b = index.get_indexer(rates["song_b"].to_numpy())
    found = np.flatnonzero((row_a >= 0) & (row_b >= 0))
    cosine = np.full(len(rates), np.nan)
    for start in range(0, len(found), chunk_size):
        pairs = found[start:start + chunk_size]
        u = vectors[rows[row_a[pairs]]].astype(np.float64)
        v = vectors[rows[row_b[pairs]]].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine[pairs] = np.einsum("ij,ij->i", u, v) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    return np.where(np.isfinite(cosine), cosine, np.nan)


def similarity_correlation(rates: pd.DataFrame, vectors: np.ndarray, key_index: Mapping, min_transitions: int = 1,
                           frequent_min_transitions: int = 100) -> dict:
    """Pearson correlation between transition rate and embedding cosine similarity (Table 5 analog).

    Pairs with fewer than ``min_transitions`` transitions are not used; of the rest, those with a song
    missing from ``key_index`` (or a zero vector) are skipped and counted. "Frequent" pairs are the
    used pairs with at least ``frequent_min_transitions`` transitions (the paper: >= 100 occurrences).

    Returns ``pearson_all, p_value_all, n_pairs_all, pearson_frequent, p_value_frequent,
    n_pairs_frequent`` (NaN correlation when a subset has fewer than 2 pairs or a constant column),
    ``n_pairs_rare`` (below ``min_transitions``), ``n_pairs_no_vector``, and the two thresholds.
    """
    if min_transitions < 1 or frequent_min_transitions < 1:
        raise ValueError(f"min_transitions ({min_transitions}) and frequent_min_transitions "
                         f"({frequent_min_transitions}) must be >= 1")
    enough = rates["transitions"].to_numpy() >= min_transitions
    used = rates[enough]
    cosine = pair_cosine(used, vectors, key_index)
    has_vector = ~np.isnan(cosine)
    n_no_vector = int((~has_vector).sum())
    if len(used) and not has_vector.any():
        sample = next(iter(key_index), None)
        raise ValueError(f"none of the {len(used)} pairs has both songs in key_index: key type "
                         f"{type(sample).__name__} vs song id type {used['song_a'].dtype}")
    rate = used["rate"].to_numpy()[has_vector]
    cosine = cosine[has_vector]
    frequent = used["transitions"].to_numpy()[has_vector] >= frequent_min_transitions
    result = {"min_transitions": min_transitions, "frequent_min_transitions": frequent_min_transitions,
              "n_pairs_rare": int((~enough).sum()), "n_pairs_no_vector": n_no_vector}
    for name, subset in (("all", slice(None)), ("frequent", frequent)):
        r, p = _pearson(rate[subset], cosine[subset])
        result.update({f"pearson_{name}": r, f"p_value_{name}": p, f"n_pairs_{name}": int(len(rate[subset]))})
    log.info("rate-similarity correlation: r=%.4f on %d pairs, r=%.4f on %d frequent pairs "
             "(%d rare, %d without vector)",
             result["pearson_all"], result["n_pairs_all"], result["pearson_frequent"], result["n_pairs_frequent"],
             result["n_pairs_rare"], n_no_vector)
    return result


def rate_by_similarity(rates: pd.DataFrame, cos, bin_width: float = 0.1) -> pd.DataFrame:
    """Mean transition rate by cosine-similarity bin, relative to the bin at similarity 0.0 (Fig. 3).

    ``cos``: (P,) cosine similarity of each row of ``rates`` (:func:`pair_cosine`; NaN rows are skipped
    and counted in ``result.attrs["n_pairs_no_vector"]``). Similarities are rounded to the nearest
    multiple of ``bin_width`` (0.1: "quantized to the first decimal"). ``mean_rate`` is the unweighted
    mean over the pairs of a bin; ``relative_rate = mean_rate / mean_rate(bin 0.0)``, NaN when the
    bin 0.0 is empty or has a zero mean rate (then a warning is logged).
    Returns ``similarity_bin, mean_rate, relative_rate, n`` sorted by bin.
    """
    cos = np.asarray(cos, dtype=np.float64)
    if cos.shape != (len(rates),):
        raise ValueError(f"cos must have one value per row of rates ({len(rates)}), got shape {cos.shape}")
    if not bin_width > 0:
        raise ValueError(f"bin_width must be > 0, got {bin_width}")
    valid = ~np.isnan(cos)
    bin_index = np.rint(cos[valid] / bin_width).astype(np.int64)
    grouped = pd.DataFrame({"bin": bin_index, "rate": rates["rate"].to_numpy()[valid]}).groupby("bin")["rate"]
    table = grouped.agg(["mean", "size"])
    decimals = max(0, -int(np.floor(np.log10(bin_width))) + 1)
    reference = table["mean"].get(0, np.nan)
    if not reference > 0:
        log.warning("rate_by_similarity: the similarity-0.0 bin is empty or has zero rate; relative rates are NaN")
        reference = np.nan
    result = pd.DataFrame({"similarity_bin": np.round(table.index.to_numpy() * bin_width, decimals),
                           "mean_rate": table["mean"].to_numpy(),
                           "relative_rate": table["mean"].to_numpy() / reference,
                           "n": table["size"].to_numpy().astype(np.int64)})
    result.attrs["n_pairs_no_vector"] = int((~valid).sum())
    return result


def _pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan"), float("nan")
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)
