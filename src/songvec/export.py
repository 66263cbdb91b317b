"""The tuned embedding out: a model's vectors in gensim's word2vec text and binary formats and as Parquet,
keyed by the dataset's own track ids, and the nearest songs of a song (``python -m songvec neighbours``).

Word2vec formats (``KeyedVectors.load_word2vec_format``): a header ``<songs> <dimensions>``, then one
song per line (text) or record (binary): its id and its vector. An id holding white space (possible in an
events table) has it replaced by ``_`` there, since the formats separate fields by spaces; the Parquet
file keeps the id as it is. Parquet columns: ``track_id`` (int64 for integer ids, else string),
``track_name`` and ``artist_name`` (null where unknown), ``vector`` (fixed-size list of float32).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from gensim.models import KeyedVectors

from songvec import atomic, neighbors
from songvec.training import load_vectors

log = logging.getLogger(__name__)

FORMATS = {"text": ".txt", "binary": ".bin", "parquet": ".parquet"}
"""Export format -> file suffix."""
_SPACE = re.compile(r"\s")


def word2vec_key(track: str) -> str:
    """A track id as written in the word2vec formats (white space replaced by ``_``)."""
    return _SPACE.sub("_", track)


def export_vectors(vectors_path: str | os.PathLike, catalogue: pd.DataFrame,
                   paths: dict[str, str | os.PathLike]) -> dict:
    """Write the vectors of the gensim file ``vectors_path`` (:func:`songvec.training.save_model`) in each
    format of ``paths`` (a key of :data:`FORMATS` -> path), atomically.

    ``catalogue``: :func:`songvec.catalogue.track_catalogue` of the dataset (every vocabulary song must be
    in it). When its own ids are the integer ids themselves, the Parquet ``track_id`` is int64.
    Returns counts: ``songs``, ``dimensions``, ``named`` (songs with a name), ``ids_with_spaces``.
    """
    integer_ids = bool((catalogue["track"] == catalogue["track_id"].astype(str)).all())
    vectors, track_ids = load_vectors(vectors_path)
    rows = catalogue.set_index("track_id").reindex(track_ids)
    if rows["track"].isna().any():
        missing = track_ids[rows["track"].isna().to_numpy()][:5].tolist()
        raise ValueError(f"{vectors_path}: songs {missing} are not in the track catalogue")
    keys = rows["track"].astype(str).to_numpy()
    written = [word2vec_key(key) for key in keys]
    spaced = sum(key != text for key, text in zip(keys, written))
    if spaced:
        log.warning("%d track ids hold white space, written with '_' in the word2vec formats", spaced)
    for fmt, path in paths.items():
        if fmt == "parquet":
            atomic.write_parquet(path, pa.table({
                "track_id": pa.array(keys.astype(np.int64) if integer_ids else keys.tolist()),
                "track_name": pa.array(rows["track_name"].tolist(), type=pa.string()),
                "artist_name": pa.array(rows["artist_name"].tolist(), type=pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).ravel()),
                                                            vectors.shape[1])}))
        elif fmt in ("text", "binary"):
            exported = KeyedVectors(vectors.shape[1], dtype=np.float32)
            exported.add_vectors(written, vectors.astype(np.float32))
            exported.allocate_vecattrs(["count"], [np.int64])  # the formats order songs by count: keep ours
            exported.expandos["count"][:] = np.arange(len(written), 0, -1)
            with atomic.atomic_path(path) as tmp:
                exported.save_word2vec_format(str(tmp), binary=fmt == "binary")
        else:
            raise ValueError(f"unknown export format {fmt!r}; known: {list(FORMATS)}")
    named = int(rows["track_name"].notna().sum())
    log.info("exported %d songs x %d dimensions (%d with a name) to %s", len(keys), vectors.shape[1], named,
             ", ".join(map(str, paths.values())))
    return {"songs": len(keys), "dimensions": int(vectors.shape[1]), "named": named, "ids_with_spaces": spaced}


@dataclass
class ExportedVectors:
    """Exported vectors read back: ``tracks`` (n,) ids as text, ``vectors`` (n, d) float32, ``names``
    DataFrame ``track_name, artist_name`` indexed like ``tracks`` (None where unknown)."""

    tracks: np.ndarray
    vectors: np.ndarray
    names: pd.DataFrame


def read_exported(path: str | os.PathLike) -> ExportedVectors:
    """Read exported vectors in any format of :data:`FORMATS` (by suffix). Names come from the Parquet
    file: the file itself, or the one beside a word2vec file (same name, ``.parquet``) if it is there."""
    path = Path(path)
    parquet = path.with_suffix(FORMATS["parquet"])
    table = pd.read_parquet(parquet) if parquet.exists() else None
    if path.suffix == FORMATS["parquet"]:
        return ExportedVectors(table["track_id"].astype(str).to_numpy(), np.stack(table["vector"].to_numpy()),
                               table[["track_name", "artist_name"]])
    if path.suffix not in (FORMATS["text"], FORMATS["binary"]):
        raise ValueError(f"{path}: expected exported vectors ({', '.join(FORMATS.values())})")
    loaded = KeyedVectors.load_word2vec_format(str(path), binary=path.suffix == FORMATS["binary"])
    tracks = np.asarray(loaded.index_to_key, dtype=object)
    names = pd.DataFrame({"track_name": [None] * len(tracks), "artist_name": [None] * len(tracks)})
    if table is not None:
        by_key = table.assign(key=table["track_id"].astype(str).map(word2vec_key)).set_index("key")
        names = by_key.reindex(tracks)[["track_name", "artist_name"]].reset_index(drop=True)
    return ExportedVectors(tracks.astype(str), np.asarray(loaded.vectors), names)


def row_of(exported: ExportedVectors, track: str) -> int:
    """The row of song ``track`` (its id as given, or as written in the word2vec formats); ``KeyError`` if absent."""
    for key in (str(track), word2vec_key(str(track))):
        where = np.flatnonzero(exported.tracks == key)
        if len(where):
            return int(where[0])
    raise KeyError(f"track {track!r} is not among the {len(exported.tracks)} songs of these vectors")


def nearest(exported: ExportedVectors, track: str, k: int = 10) -> pd.DataFrame:
    """The ``k`` songs nearest to ``track`` by cosine similarity (the song itself left out): ``rank``,
    ``track_id``, ``similarity``, ``track_name``, ``artist_name``. An unknown id raises ``KeyError``."""
    unit = neighbors.normalize(exported.vectors)
    row = np.array([row_of(exported, track)])
    found, scores = neighbors.top_k(unit[row], unit, k, exclude=row)
    kept = found[0] >= 0
    rows = found[0][kept]
    return pd.DataFrame({"rank": np.arange(1, len(rows) + 1), "track_id": exported.tracks[rows],
                         "similarity": scores[0][kept].astype(np.float64),
                         "track_name": exported.names["track_name"].to_numpy()[rows],
                         "artist_name": exported.names["artist_name"].to_numpy()[rows]})


def describe_track(track: str, track_name, artist_name) -> str:
    """``id "name" by artist``, leaving out what is unknown."""
    text = str(track)
    if isinstance(track_name, str) and track_name:
        text += f' "{track_name}"'
    if isinstance(artist_name, str) and artist_name:
        text += f" by {artist_name}"
    return text
