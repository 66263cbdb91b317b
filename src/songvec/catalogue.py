"""The track catalogue: each song of the sequences under the dataset's own id, with its name and artist.

The sequences and the embeddings know a song by an integer id: the dataset's own (LFM-1b, an events table
with integer ids) or a dense id mapped from a string (an events table with string ids; the map is written
by the ingest, :meth:`songvec.events_table.EventsTable.write_keys`). People know it by its own id and its
name. :func:`track_catalogue` joins the three (``data/tracks.parquet``), for the exported vectors and the
``neighbours`` command (:mod:`songvec.export`). Names come from LFM-1b's ``LFM-1b_tracks.txt`` /
``LFM-1b_artists.txt`` or from the optional names tables of an events table (:func:`read_names`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from songvec.events_table import EventsTableError, table_format

log = logging.getLogger(__name__)

CATALOGUE_COLUMNS = ("track_id", "track", "track_name", "artist_name")


def read_keys(folder: str | os.PathLike, column: str) -> pd.DataFrame | None:
    """The map ``id -> key`` of an id column the ingest read as strings (``<folder>/<column>.parquet``),
    or None when the column's ids were integers (the id is the key)."""
    path = Path(folder) / f"{column}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def read_names(path: str | os.PathLike, id_column: str, name_column: str,
               keys: pd.DataFrame | None = None) -> pd.DataFrame:
    """A names table (CSV/TSV/Parquet with a header, like the events table) -> ``id`` (int64), ``name``.

    ``keys``: the id column's map (:func:`read_keys`) when the events table's ids were strings: the
    table's ids are then looked up in it (names of ids the events never use are dropped, counted in the
    log); otherwise its ids must be integers. A missing column raises ``EventsTableError`` naming it.
    """
    fmt, _ = table_format(path)
    if fmt == "parquet":
        table = pq.read_table(path)
    else:
        try:
            table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(
                delimiter="," if fmt == "csv" else "\t", quote_char='"' if fmt == "csv" else False),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=False,
                                                     column_types={id_column: pa.string(), name_column: pa.string()}))
        except (pa.ArrowInvalid, OSError) as error:
            raise EventsTableError(f"{path}: cannot be read as a names table: {error}") from None
    missing = [column for column in (id_column, name_column) if column not in table.column_names]
    if missing:
        raise EventsTableError(f"{path}: names table without column(s) {missing} (its columns: "
                               f"{', '.join(table.column_names)})")
    frame = pd.DataFrame({"key": table[id_column].to_pylist(), "name": table[name_column].to_pylist()})
    frame["key"] = frame["key"].astype(str).str.strip()
    if keys is not None:
        ids = frame["key"].map(pd.Series(keys["id"].to_numpy(), index=keys["key"].to_numpy()))
    else:
        ids = pd.to_numeric(frame["key"], errors="coerce")
        bad = ids.isna() | (ids < 0)
        if bad.any():
            raise EventsTableError(f"{path}: {id_column} {frame['key'][bad].iloc[0]!r} is not a non-negative "
                                   f"integer, as the events table's ids are")
    unknown = int(ids.isna().sum())
    if unknown:
        log.info("%s: %d names of ids the events never use left out", path, unknown)
    frame = frame[ids.notna()].assign(id=ids[ids.notna()].astype(np.int64))
    return frame.drop_duplicates("id")[["id", "name"]].reset_index(drop=True)


def track_catalogue(track_genres: pd.DataFrame, track_names: pd.DataFrame | None = None,
                    track_keys: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per track of ``track_genres`` (:mod:`songvec.genres`' table: ``track_id``, ``artist_name``):
    ``track_id`` (int64, the id in sequences and vectors), ``track`` (the dataset's own id, as text),
    ``track_name`` and ``artist_name`` (None where unknown). ``track_names``: ``id, name``;
    ``track_keys``: the map of string track ids (:func:`read_keys`), None for integer ids."""
    tracks = track_genres[["track_id", "artist_name"]].copy()
    if track_keys is not None:
        key = pd.Series(track_keys["key"].to_numpy(), index=track_keys["id"].to_numpy())
        tracks["track"] = tracks["track_id"].map(key)
    else:
        tracks["track"] = tracks["track_id"].astype(str)
    if track_names is not None:
        names = track_names.drop_duplicates("id")
        tracks["track_name"] = tracks["track_id"].map(pd.Series(names["name"].to_numpy(), index=names["id"].to_numpy()))
    else:
        tracks["track_name"] = None
    tracks = tracks[list(CATALOGUE_COLUMNS)]
    return tracks.astype({"track": object, "track_name": object, "artist_name": object}).where(tracks.notna(), None)
