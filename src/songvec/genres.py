"""Song-level genres: each song gets the first genre of its artist (LFM-1b, paper section 3), or the
genre its events table gives it (:func:`table_track_genres`, also for data without genres).

LFM-1b has no song genres. The paper maps each song to "the first Freebase artist genre from the
LFM-1b User Genre Profile dataset". The UGP artist-genre file is keyed by artist NAME, so the chain is::

    track_id -> artist_id (listening events) -> artist_name (LFM-1b_artists.txt)
             -> first genre id of that name (LFM-1b_artist_genres_*.txt) -> genre name (genres_*.txt, id = line number)

Rules where the paper is silent (each case is counted in the returned summary, nothing is dropped):

- Names are matched exactly (case-sensitive) after stripping surrounding whitespace in both files.
- A name present on several rows of the genre file (``duplicate_names="first"``): the first row, in file
  order, whose genre list is not empty is used; if every row of that name is empty, the name has an empty
  genre list. ``duplicate_names="error"`` raises instead.
- Several artist ids may share one name in the artists file; they all receive that name's genre.
- A track listened with several artist ids keeps the artist with the most events (column ``n_events`` when
  given, else every row counts once); ties go to the row that comes first in ``track_artist``, which is the
  smallest artist id for the table of :func:`track_artist_counts` (whatever the batching).
- A track whose chain breaks gets the genre :data:`UNKNOWN`. Reasons, checked in this order: its artist id
  is not in the artists file; the name is not in the genre file; the name's genre list is empty; the first
  genre id is not a line of the genre-name list. A first id that is invalid is not replaced by a later one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
"""Genre given to a track whose artist has no usable first genre."""

REASONS = ("unknown_artist_id", "unknown_artist_name", "empty_genre_list", "unknown_genre_id")
"""Why a track is :data:`UNKNOWN`, in the order the reasons are checked."""

DUPLICATE_POLICIES = ("first", "error")


def map_track_genres(track_artist: pd.DataFrame, artists: pd.DataFrame, artist_genres: pd.DataFrame,
                     genre_names: list[str], duplicate_names: str = "first") -> tuple[pd.DataFrame, dict]:
    """Map every track to its artist's first genre.

    Args:
        track_artist: columns ``track_id, artist_id`` (ints), optionally ``n_events`` (events of that
            pair); one row per distinct pair seen in the listening events (see :func:`track_artist_pairs`).
        artists: columns ``artist_id, artist_name`` (LFM-1b_artists.txt); ids must be unique.
        artist_genres: columns ``artist_name, genre_ids`` (a list of ints per row, possibly empty), in file order.
        genre_names: genre names; genre id ``i`` is ``genre_names[i]``.
        duplicate_names: ``"first"`` or ``"error"`` for names repeated in ``artist_genres`` (module docstring).

    Returns:
        ``(table, counts)``. ``table`` has one row per distinct track, sorted by ``track_id``, with columns
        ``track_id, artist_id`` (int64), ``artist_name`` (None when the id is not in ``artists``) and
        ``genre`` (a genre name or :data:`UNKNOWN`). ``counts`` holds ``tracks``, ``mapped``, one entry per
        :data:`REASONS` (these sum to ``tracks``), ``tracks_with_several_artists``, ``duplicate_genre_names``
        (names on more than one row of ``artist_genres``) and ``duplicate_genre_rows_ignored``.
    """
    _require_columns(track_artist, "track_artist", ("track_id", "artist_id"))
    _require_columns(artists, "artists", ("artist_id", "artist_name"))
    _require_columns(artist_genres, "artist_genres", ("artist_name", "genre_ids"))
    if duplicate_names not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicate_names must be one of {DUPLICATE_POLICIES}, got {duplicate_names!r}")
    if UNKNOWN in genre_names:
        raise ValueError(f"genre_names contains the reserved name {UNKNOWN!r} (line {genre_names.index(UNKNOWN)})")

    tracks, several_artists = _one_artist_per_track(track_artist)
    names = _artist_names(artists)
    first_genre, duplicate_counts = _first_genre_by_name(artist_genres, duplicate_names)

    table = tracks.merge(names, on="artist_id", how="left")
    table = table.merge(first_genre, on="artist_name", how="left")
    known_id = table["artist_id"].isin(names["artist_id"]).to_numpy()
    known_name = known_id & table["has_genre"].notna().to_numpy()
    has_genre = known_name & table["has_genre"].fillna(False).astype(bool).to_numpy()
    first_id = table["first_genre_id"].fillna(-1).astype(np.int64).to_numpy()
    valid_id = has_genre & (first_id >= 0) & (first_id < len(genre_names))

    genre_lookup = np.asarray(list(genre_names) + [UNKNOWN], dtype=object)
    genre = genre_lookup[np.where(valid_id, first_id, len(genre_names))]
    artist_name = table["artist_name"].astype(object).where(known_id, None)
    result = pd.DataFrame({"track_id": table["track_id"].to_numpy(np.int64),
                           "artist_id": table["artist_id"].to_numpy(np.int64),
                           "artist_name": artist_name.to_numpy(), "genre": genre})

    counts = {"tracks": len(result), "mapped": int(valid_id.sum()),
              "unknown_artist_id": int((~known_id).sum()),
              "unknown_artist_name": int((known_id & ~known_name).sum()),
              "empty_genre_list": int((known_name & ~has_genre).sum()),
              "unknown_genre_id": int((has_genre & ~valid_id).sum()),
              "tracks_with_several_artists": several_artists, **duplicate_counts}
    log.info("track genres: %d of %d tracks mapped; unknown by reason: %s; %d tracks with several artists; "
             "%d duplicate names in the genre file", counts["mapped"], counts["tracks"],
             {r: counts[r] for r in REASONS}, several_artists, duplicate_counts["duplicate_genre_names"])
    return result, counts


def table_track_genres(track_artist: pd.DataFrame, track_genre: pd.DataFrame | None = None,
                       artists: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """The table of :func:`map_track_genres` for data whose genres, if any, are given per track.

    Args:
        track_artist: as for :func:`map_track_genres` (each track keeps its artist with the most events;
            artist id -1, "unknown", when the data has no artists).
        track_genre: ``track_id, genre`` (an events table's first genre of each track); None when the
            data has no genres. Tracks absent from it get :data:`UNKNOWN`.
        artists: ``artist_id, artist_name`` (an artist-names table), or None.

    Returns:
        ``(table, counts)``: columns ``track_id, artist_id, artist_name, genre`` sorted by ``track_id``;
        ``counts`` holds ``tracks``, ``mapped`` (tracks with a genre), ``no_genre`` and
        ``tracks_with_several_artists``.
    """
    _require_columns(track_artist, "track_artist", ("track_id", "artist_id"))
    tracks, several_artists = _one_artist_per_track(track_artist)
    if track_genre is not None:
        _require_columns(track_genre, "track_genre", ("track_id", "genre"))
        tracks = tracks.merge(track_genre[["track_id", "genre"]], on="track_id", how="left")
    else:
        tracks["genre"] = None
    tracks["genre"] = tracks["genre"].astype(object).where(tracks["genre"].notna(), UNKNOWN)
    names = _artist_names(artists) if artists is not None else pd.DataFrame({"artist_id": [], "artist_name": []})
    tracks = tracks.merge(names.astype({"artist_id": np.int64}), on="artist_id", how="left")
    result = pd.DataFrame({"track_id": tracks["track_id"].to_numpy(np.int64),
                           "artist_id": tracks["artist_id"].to_numpy(np.int64),
                           "artist_name": tracks["artist_name"].to_numpy(dtype=object),
                           "genre": tracks["genre"].to_numpy(dtype=object)})
    mapped = int((result["genre"] != UNKNOWN).sum())
    counts = {"tracks": len(result), "mapped": mapped, "no_genre": len(result) - mapped,
              "tracks_with_several_artists": several_artists}
    log.info("track genres: %d of %d tracks have a genre from the table%s; %d tracks with several artists",
             mapped, len(result), "" if track_genre is not None else " (the data has no genres)", several_artists)
    return result, counts


def track_artist_pairs(track_ids: np.ndarray, artist_ids: np.ndarray) -> pd.DataFrame:
    """Distinct ``(track_id, artist_id)`` pairs of event arrays (E,) with their ``n_events`` count,
    sorted by ``(track_id, artist_id)``."""
    events = pd.DataFrame({"track_id": np.asarray(track_ids, dtype=np.int64),
                           "artist_id": np.asarray(artist_ids, dtype=np.int64)})
    return events.groupby(["track_id", "artist_id"], sort=True).size().rename("n_events").reset_index()


def track_artist_counts(batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """:func:`track_artist_pairs` of a stream of ``(track_ids, artist_ids)`` event batches.

    The same table as one call on all events, whatever the batching. Per-batch tables are merged
    whenever they hold more rows than the merged table so far (and at the end), so memory is about
    two tables of distinct pairs (~50 bytes per pair) plus one batch, and the merging cost stays
    linear in the rows produced.
    """
    merged = track_artist_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64))
    pending, pending_rows = [], 0
    for track_ids, artist_ids in batches:
        pending.append(track_artist_pairs(track_ids, artist_ids))
        pending_rows += len(pending[-1])
        if pending_rows > len(merged):
            merged, pending, pending_rows = _merge_pair_counts([merged, *pending]), [], 0
    return _merge_pair_counts([merged, *pending]) if pending else merged


def _merge_pair_counts(tables: list[pd.DataFrame]) -> pd.DataFrame:
    counts = pd.concat(tables, ignore_index=True).groupby(["track_id", "artist_id"], sort=True)["n_events"]
    return counts.sum().reset_index()


def _require_columns(frame: pd.DataFrame, what: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it has {list(frame.columns)}")


def _one_artist_per_track(track_artist: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per track: its artist with the most events, ties to the earliest row."""
    pairs = pd.DataFrame({"track_id": track_artist["track_id"].to_numpy(np.int64),
                          "artist_id": track_artist["artist_id"].to_numpy(np.int64)})
    pairs["n_events"] = (track_artist["n_events"].to_numpy(np.int64) if "n_events" in track_artist
                         else np.ones(len(pairs), dtype=np.int64))
    pairs["row"] = np.arange(len(pairs))
    # the same pair on several rows adds up; it keeps the position of its first row
    pairs = pairs.groupby(["track_id", "artist_id"], sort=False).agg(n_events=("n_events", "sum"),
                                                                      row=("row", "min")).reset_index()
    several = int((pairs["track_id"].value_counts() > 1).sum())
    best = pairs.sort_values(["track_id", "n_events", "row"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("track_id", keep="first")
    return best[["track_id", "artist_id"]].reset_index(drop=True), several


def _artist_names(artists: pd.DataFrame) -> pd.DataFrame:
    ids = artists["artist_id"].to_numpy(np.int64)
    duplicated = pd.Series(ids).duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise ValueError(f"artists: artist ids repeat ({np.unique(ids[duplicated])[:10].tolist()} ...); "
                         "each id must name one artist")
    names = artists["artist_name"].fillna("").astype(str).str.strip()
    return pd.DataFrame({"artist_id": ids, "artist_name": names.to_numpy()})


def _first_genre_by_name(artist_genres: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, dict]:
    """One row per stripped name: ``has_genre`` and ``first_genre_id`` (meaningful when ``has_genre``)."""
    genre_lists = artist_genres["genre_ids"].tolist()
    has_genre = np.fromiter((len(ids) > 0 for ids in genre_lists), dtype=bool, count=len(genre_lists))
    first_id = np.fromiter((int(ids[0]) if len(ids) else -1 for ids in genre_lists), dtype=np.int64,
                           count=len(genre_lists))
    names = artist_genres["artist_name"].fillna("").astype(str).str.strip()
    rows = pd.DataFrame({"artist_name": names.to_numpy(),
                         "has_genre": has_genre, "first_genre_id": first_id})
    repeated = rows["artist_name"].duplicated(keep=False)
    n_duplicate_names = int(rows.loc[repeated, "artist_name"].nunique())
    if n_duplicate_names and policy == "error":
        examples = rows.loc[repeated, "artist_name"].drop_duplicates().head(5).tolist()
        raise ValueError(f"artist_genres: {n_duplicate_names} artist names occur on several rows, e.g. {examples}")
    # rows with a genre first (stable, so file order is kept inside each group), then the first row per name
    ordered = rows.sort_values("has_genre", ascending=False, kind="stable")
    chosen = ordered.drop_duplicates("artist_name", keep="first")
    counts = {"duplicate_genre_names": n_duplicate_names, "duplicate_genre_rows_ignored": len(rows) - len(chosen)}
    return chosen.reset_index(drop=True), counts
