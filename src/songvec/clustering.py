"""How strongly artists and genres cluster in an embedding space (paper sections 2.3 and 4.3).

- :func:`variance_ratio`: the Variance Ratio Criterion (Calinski-Harabasz index) of the groups
  (artists or genres), the cheap proxy optimised by the hyper-parameter search;
- :func:`local_coherence`: for query songs, the fraction of their ``m`` exact nearest neighbours
  (cosine, query excluded) that share the query's label (Local Genre / Artist Coherence), with
  the section 4.3 samplers :func:`sample_genre_coherence_songs` and
  :func:`sample_artist_coherence_songs`, and :func:`coherence_summary` (mean and 95% CI).

Unknown labels: a row whose label is ``unknown_label`` (or missing: None/NaN) belongs to no group.
It is left out of the VRC, is never sampled or used as a coherence query, and as a neighbour it
counts as *different* from the query (it stays in the neighbour list, so the denominator is m).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from scipy import stats

from songvec import neighbors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VarianceRatio:
    """Calinski-Harabasz index and what it was computed on.

    Attributes:
        score: between / within dispersion x (n_points - n_groups) / (n_groups - 1).
        between: sum over groups of size x squared distance of the group mean to the overall mean.
        within: sum over points of the squared distance to their group mean.
        n_points, n_groups: points and groups that entered the index.
        n_unlabelled: points left out for an excluded (unknown) or missing label.
        n_small_groups, n_points_in_small_groups: groups below ``min_group_size``, left out.
    """

    score: float
    between: float
    within: float
    n_points: int
    n_groups: int
    n_unlabelled: int
    n_small_groups: int
    n_points_in_small_groups: int


def variance_ratio(vectors: np.ndarray, labels, *, normalize: bool, min_group_size: int = 1,
                   exclude_label="unknown") -> VarianceRatio:
    """Variance Ratio Criterion (Calinski-Harabasz index) of the groups given by ``labels``.

    Args:
        vectors: (n, d) float array, one row per song.
        labels: (n,) group of every row (artist or genre; any hashable values).
        normalize: scale rows to unit length first (the geometry of cosine similarity) or use
            the raw vectors. The caller's choice; the paper does not say.
        min_group_size: groups with fewer rows are left out (counted in the result).
        exclude_label: rows with this label (and rows with a missing label) are left out;
            None to keep every non-missing label.

    Same value as ``sklearn.metrics.calinski_harabasz_score`` on the retained rows (including its
    convention: 1.0 when the within dispersion is 0), computed in one compiled pass over the rows
    with float64 accumulators. Raises ``ValueError`` when fewer than 2 groups remain or when there
    are not more rows than groups.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"vectors must be a 2-D float array, got {vectors.dtype} {vectors.shape}")
    if normalize:
        vectors = vectors.astype(np.float32, copy=False)  # as neighbors.normalize, without a copy
    norms = neighbors.row_norms(vectors)
    if not np.isfinite(norms).all():
        raise ValueError("vectors contain NaN or infinite values")
    divisors = np.where(norms > 0, norms, 1).astype(vectors.dtype) if normalize else \
        np.ones(len(vectors), dtype=vectors.dtype)
    codes, n_labels = _label_codes(labels, exclude_label, len(vectors))
    n_unlabelled = int((codes < 0).sum())
    sizes = np.bincount(codes[codes >= 0], minlength=n_labels)
    kept_groups = sizes >= max(int(min_group_size), 1)
    small = (sizes > 0) & ~kept_groups
    # group index 0..n_groups-1 of every label code; the appended -1 serves code -1 (unlabelled)
    group_of_code = np.append(np.where(kept_groups, np.cumsum(kept_groups) - 1, -1), -1)
    groups = group_of_code[codes]
    n_groups = int(kept_groups.sum())
    n_points = int((groups >= 0).sum())
    if n_groups < 2 or n_points <= n_groups:
        raise ValueError(f"the variance ratio needs at least 2 groups and more rows than groups; "
                         f"got {n_points} rows in {n_groups} groups after leaving out "
                         f"{n_unlabelled} unlabelled rows and {int(small.sum())} groups smaller than "
                         f"min_group_size={min_group_size}")

    # Translation invariant: shift by one retained row so the sums of squares do not cancel.
    first = int(np.argmax(groups >= 0))
    shift = (vectors[first] / divisors[first]).astype(np.float64)
    sums, counts, total_square = _group_sums(vectors, divisors, groups, n_groups, shift)
    mean = sums.sum(axis=0) / n_points
    centroids = sums / counts[:, None]
    between = float((counts * ((centroids - mean) ** 2).sum(axis=1)).sum())
    within = max(float(total_square - (counts * (centroids ** 2).sum(axis=1)).sum()), 0.0)
    score = 1.0 if within == 0.0 else between * (n_points - n_groups) / (within * (n_groups - 1))
    return VarianceRatio(score=score, between=between, within=within, n_points=n_points,
                         n_groups=n_groups, n_unlabelled=n_unlabelled,
                         n_small_groups=int(small.sum()),
                         n_points_in_small_groups=int(sizes[small].sum()))


@numba.njit(nogil=True, cache=True)
def _group_sums(vectors, divisors, groups, n_groups, shift):
    """Per-group sums of ``vectors / divisors[:, None] - shift`` (float64; the division in the
    vectors' precision, as in ``neighbors.normalize``), group sizes, and the total sum of squares."""
    dim = vectors.shape[1]
    sums = np.zeros((n_groups, dim), dtype=np.float64)
    counts = np.zeros(n_groups, dtype=np.float64)
    total_square = 0.0
    for row in range(vectors.shape[0]):
        group = groups[row]
        if group < 0:
            continue
        counts[group] += 1.0
        for j in range(dim):
            value = np.float64(vectors[row, j] / divisors[row]) - shift[j]
            sums[group, j] += value
            total_square += value * value
    return sums, counts, total_square


def local_coherence(vectors: np.ndarray, labels_per_row, query_rows: np.ndarray, m: int = 50,
                    unknown_label="unknown", threads: int = 1) -> np.ndarray:
    """Fraction of each query's ``m`` nearest neighbours that share its label.

    Args:
        vectors: (V, d) float32 unit rows (:func:`songvec.neighbors.normalize`).
        labels_per_row: (V,) label of every row (primary genre or artist).
        query_rows: (Q,) int rows of the query songs.
        m: neighbours per query (the paper: 50), the query itself excluded.
        threads: worker threads of the neighbour search (the caller's rule's ``threads``).
        unknown_label: label meaning "unknown" (None: none). Neighbours with an unknown label
            count as different; a query with an unknown label gets NaN (counted in the log).

    Returns:
        (Q,) float64 fractions in [0, 1] (NaN for unknown-label queries). The denominator is the
        number of neighbours returned: m, or V - 1 when the vocabulary is smaller.
    """
    neighbors.require_unit_rows(vectors)
    query_rows = np.asarray(query_rows, dtype=np.int64)
    if len(query_rows) and (query_rows.min() < 0 or query_rows.max() >= len(vectors)):
        raise ValueError(f"query_rows must be rows in [0, {len(vectors)})")
    codes, _ = _label_codes(labels_per_row, unknown_label, len(vectors))
    known = codes[query_rows] >= 0
    fractions = np.full(len(query_rows), np.nan)
    if not known.all():
        log.warning("local coherence: %d of %d query songs have an unknown label and get NaN",
                    int((~known).sum()), len(query_rows))
    rows = query_rows[known]
    if len(rows):
        found, _ = neighbors.top_k(vectors[rows], vectors, m, exclude=rows, threads=threads)
        returned = found >= 0
        same = (codes[found] == codes[rows][:, None]) & returned
        with np.errstate(invalid="ignore"):  # a one-row vocabulary has no neighbours: NaN
            fractions[known] = same.sum(axis=1) / returned.sum(axis=1)
    return fractions


def sample_genre_coherence_songs(genres, plays: np.ndarray, *, min_plays: int, n_songs: int = 500,
                                 n_genres: int = 10, seed: int, unknown_label="unknown",
                                 ) -> pd.DataFrame:
    """Query songs for Local Genre Coherence (section 4.3): stratified by the most played genres.

    The ``n_genres`` genres with most plays (summed over all rows with that genre; ties: first
    appearance) are the strata; songs with at least ``min_plays`` plays are eligible. ``n_songs``
    are drawn uniformly without replacement, split equally over the strata; a stratum with too few
    eligible songs gives all of them and its shortfall is shared by the others (the most played
    genres first).

    Args:
        genres: (V,) primary genre of every vocabulary row.
        plays: (V,) play count of every row.

    Returns:
        DataFrame ``row`` (int64), ``genre``, ordered by genre rank then row.
    """
    plays = _check_plays(plays, len(genres))
    codes, n_labels = _label_codes(genres, unknown_label, len(plays))
    labelled = codes >= 0
    totals = np.bincount(codes[labelled], weights=plays[labelled], minlength=n_labels)
    top = np.argsort(-totals, kind="stable")[:n_genres]
    top = top[totals[top] > 0]
    if len(top) < n_genres:
        log.warning("genre coherence: only %d genres have plays (asked for the top %d)",
                    len(top), n_genres)
    eligible = labelled & (plays >= min_plays)
    pools = [np.flatnonzero(eligible & (codes == code)) for code in top]
    chosen = _stratified_draw(pools, n_songs, np.random.default_rng(seed), "genre coherence songs")
    genre_values = np.asarray(genres)
    rows = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    return pd.DataFrame({"row": rows.astype(np.int64), "genre": genre_values[rows]})


def sample_artist_coherence_songs(artists, plays: np.ndarray, *, n_artists: int = 125,
                                  min_artist_songs: int = 25, songs_per_artist: int = 5,
                                  n_strata: int = 5, seed: int, unknown_label=None) -> pd.DataFrame:
    """Query songs for Local Artist Coherence (section 4.3): artists stratified by popularity.

    Artists with at least ``min_artist_songs`` rows (songs in the vocabulary) are eligible (rows
    whose artist is ``unknown_label`` or missing belong to no artist). Their popularity is the
    sum of their songs' plays; they are ranked by it (ties: first appearance) and cut into
    ``n_strata`` equal-count strata (quintiles by default; stratum 0 = most played). ``n_artists``
    are drawn without replacement, split equally over the strata (shortfalls shared as in
    :func:`sample_genre_coherence_songs`), then ``songs_per_artist`` songs of each, uniformly
    without replacement.

    Returns:
        DataFrame ``row`` (int64), ``artist``, ``stratum`` (int64), ordered by stratum, artist
        (first appearance order), row.
    """
    plays = _check_plays(plays, len(artists))
    if songs_per_artist > min_artist_songs:
        raise ValueError(f"songs_per_artist={songs_per_artist} exceeds min_artist_songs="
                         f"{min_artist_songs}: an eligible artist might not have enough songs")
    codes, n_labels = _label_codes(artists, unknown_label, len(plays))
    labelled = codes >= 0
    song_counts = np.bincount(codes[labelled], minlength=n_labels)
    popularity = np.bincount(codes[labelled], weights=plays[labelled], minlength=n_labels)
    eligible = np.flatnonzero(song_counts >= min_artist_songs)
    by_popularity = eligible[np.argsort(-popularity[eligible], kind="stable")]
    strata = np.arange(len(by_popularity)) * n_strata // max(len(by_popularity), 1)
    pools = [by_popularity[strata == s] for s in range(n_strata)]
    rng = np.random.default_rng(seed)
    chosen = _stratified_draw(pools, n_artists, rng, "artist coherence artists")
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_labels))
    rows, stratum = [], []
    for s, artist_codes in enumerate(chosen):
        for code in artist_codes:
            songs = order[starts[code]:starts[code] + song_counts[code]]
            rows.append(np.sort(rng.choice(songs, size=songs_per_artist, replace=False)))
            stratum.append(np.full(songs_per_artist, s, dtype=np.int64))
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    stratum = np.concatenate(stratum) if stratum else np.zeros(0, dtype=np.int64)
    return pd.DataFrame({"row": rows.astype(np.int64), "artist": np.asarray(artists)[rows],
                         "stratum": stratum})


def coherence_summary(values: np.ndarray, groups=None, confidence: float = 0.95) -> dict:
    """Mean and Student-t confidence interval of per-query coherence values.

    With ``groups`` (e.g. the artist of each query) the values are first averaged per group and
    the interval is over groups. NaN values (unknown-label queries) are left out and counted.
    Returns n, n_nan, mean, std, ci_low, ci_high.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = ~np.isnan(values)
    if groups is not None:
        frame = pd.DataFrame({"value": values[finite], "group": np.asarray(groups)[finite]})
        units = frame.groupby("group", sort=False)["value"].mean().to_numpy()
    else:
        units = values[finite]
    n = len(units)
    mean = float(units.mean()) if n else float("nan")
    std = float(units.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "n_nan": int((~finite).sum()), "mean": mean, "std": std,
            "ci_low": mean - half, "ci_high": mean + half}


def _label_codes(labels, exclude_label, n_rows: int) -> tuple[np.ndarray, int]:
    """(n,) int64 codes 0..n_labels-1 in order of first appearance; -1 for missing/excluded."""
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},) (one per vector row), got {labels.shape}")
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    if exclude_label is not None:
        excluded = pd.Index(uniques).get_indexer([exclude_label])[0]
        if excluded >= 0:
            codes[codes == excluded] = -1
    return codes, len(uniques)


def _check_plays(plays, n_rows: int) -> np.ndarray:
    plays = np.asarray(plays)
    if plays.shape != (n_rows,) or not np.issubdtype(plays.dtype, np.number):
        raise ValueError(f"plays must be a numeric array of shape ({n_rows},), got {plays.shape}")
    if (plays < 0).any():
        raise ValueError("plays must be non-negative counts")
    return plays.astype(np.float64)


def _stratified_draw(pools: list[np.ndarray], total: int, rng: np.random.Generator,
                     what: str) -> list[np.ndarray]:
    """Draw ``total`` items split equally over ``pools`` (uniformly, without replacement).

    Pools too small to fill their share give everything; the remaining quota is spread evenly
    over the others, the earlier pools taking the remainder of an uneven split.
    """
    sizes = np.array([len(pool) for pool in pools], dtype=np.int64)
    quota = np.zeros(len(pools), dtype=np.int64)
    open_pools = sizes > 0
    left = min(int(total), int(sizes.sum()))
    while left > 0:
        indices = np.flatnonzero(open_pools)
        share = np.full(len(indices), left // len(indices))
        share[:left % len(indices)] += 1
        room = sizes[indices] - quota[indices]
        share = np.minimum(share, room)
        quota[indices] += share
        left -= int(share.sum())
        open_pools = quota < sizes
    if quota.sum() < total:
        log.warning("%s: only %d available for the %d requested (per stratum: %s)", what,
                    int(quota.sum()), total, sizes.tolist())
    log.info("%s: drew %s per stratum from %s eligible", what, quota.tolist(), sizes.tolist())
    return [np.sort(rng.choice(pool, size=int(q), replace=False)) if q else pool[:0]
            for pool, q in zip(pools, quota)]
