"""A plain events table (CSV, TSV or Parquet) as an event source of :func:`songvec.ingest.ingest_events`.

The table has one row per play (or per playlist entry) and a header naming its columns:

- listening events: ``user_id``, ``track_id``, ``timestamp`` (required);
- playlists: ``playlist_id``, ``track_id``, ``position`` instead (a playlist is one sequence, ordered by
  position; when both pairs are present the playlist columns define the sequences);
- optional: ``artist_id``, ``album_id`` (recognised, not read: no stage uses albums yet) and ``genre``
  (a genre name per row; several separated by ``|``, the first counts, as for LFM-1b).

``columns`` maps these names to the table's own (e.g. ``{"user_id": "user", "track_id": "song"}``).
The format comes from the file name: ``.csv``, ``.tsv`` / ``.tab`` / ``.txt`` (tab-separated, no quoting),
each optionally ``.gz``, or ``.parquet`` / ``.pq``.

Ids are non-negative integers or strings. Strings are mapped to dense integers in order of first
appearance (:class:`IdMap`; the maps are written beside the sequences, :meth:`EventsTable.write_keys`).
In a text table a column's kind is decided by its first value: integers if it is one, strings otherwise
(``ids="string"`` reads every id as a string); a later value of the other kind is a row with ids of
mixed types. In Parquet the column type decides. Timestamps are Unix seconds (integers or decimals,
floored) or ISO-8601 text (``2013-08-28T00:55:35``, a date, an offset or ``Z``; no offset means UTC),
again decided by the first value, or a Parquet timestamp/date column. Positions are non-negative integers.

A bad row (a required value missing, ids of mixed types, a negative id, an unparsable or impossible
timestamp, a bad position, a wrong number of fields) stops the reading with :class:`EventsTableError`
naming the file, the line (text tables; the row for Parquet), the column and the value, or with
``bad_rows="skip"`` is skipped and counted by reason in :attr:`EventsTable.report`. Repeated events are
found after sorting, by the ingest (:attr:`EventsTable.unique`): a row repeating an earlier row's user,
timestamp and track, or a playlist position given twice. An empty table is an error.

Memory: one chunk of the table, plus the string maps (about 150 bytes per distinct string id) and,
with a genre column, 4 bytes per track id.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from songvec import atomic
from songvec.lfm1b import EventChunk

log = logging.getLogger(__name__)

LISTENING = ("user_id", "track_id", "timestamp")
PLAYLISTS = ("playlist_id", "track_id", "position")
OPTIONAL = ("artist_id", "album_id", "genre")
NAMES = LISTENING + PLAYLISTS[:1] + PLAYLISTS[2:] + OPTIONAL
"""Every column name the reader knows (keys of ``columns``)."""
ID_COLUMNS = ("user_id", "playlist_id", "track_id", "artist_id", "album_id")
#: Reasons a row is skipped (``bad_rows="skip"``), in the order the checks run.
SKIP_REASONS = ("wrong_field_count", "missing_value", "mixed_id_types", "negative_id", "unparsable_timestamp",
                "impossible_timestamp", "bad_position")
MAX_EXAMPLES = 5
#: Genre values that mean "no genre" (compared case-insensitively): the pipeline's own word for it.
NO_GENRE = ("unknown",)
_MAX_ID = 2 ** 32  # track and artist ids index dense per-song arrays downstream
_INTEGER = re.compile(r"^-?[0-9]+$")
_DECIMAL = r"^[0-9]+(\.[0-9]*)?$"
_MAX_QUOTED_CHARS = 120
_MAX_TEXT_BLOCK = 16 * 1024 ** 2  # bytes of text Arrow parses at once: larger blocks measured no faster


class EventsTableError(ValueError):
    """The events table cannot be read as configured; the message names the file, line and column."""


@dataclass(frozen=True)
class TableLayout:
    """What the header of an events table says (read by :func:`read_layout`, nothing else is read).

    Attributes:
        path: the table.
        format: ``"csv"``, ``"tsv"`` or ``"parquet"``; ``gzip``: compressed text.
        columns: name the reader knows -> the table's column, for the columns present and used.
        header: every column of the table, in order.
        types: Parquet only: name -> Arrow type of the column.
    """

    path: str
    format: str
    gzip: bool
    columns: dict[str, str]
    header: tuple[str, ...]
    types: dict[str, pa.DataType] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"playlists"`` (sequences are playlists ordered by position) or ``"users"``."""
        return "playlists" if "playlist_id" in self.columns else "users"

    @property
    def sequence_column(self) -> str:
        return "playlist_id" if self.kind == "playlists" else "user_id"

    @property
    def order_column(self) -> str:
        return "position" if self.kind == "playlists" else "timestamp"

    @property
    def has_genres(self) -> bool:
        return "genre" in self.columns

    @property
    def has_artists(self) -> bool:
        return "artist_id" in self.columns

    def missing(self, name: str) -> str:
        """Why the table has no column ``name`` (``genre``, ``artist_id``), for messages."""
        return f"the events table {self.path} has no {name!r} column (its columns: {', '.join(self.header)})"


def table_format(path: str | os.PathLike) -> tuple[str, bool]:
    """``(format, gzip)`` of a table from its file name; an unknown extension raises EventsTableError."""
    name = Path(path).name.lower()
    compressed = name.endswith(".gz")
    stem = name.removesuffix(".gz")
    for fmt, suffixes in (("csv", (".csv",)), ("tsv", (".tsv", ".tab", ".txt")), ("parquet", (".parquet", ".pq"))):
        if stem.endswith(suffixes) and not (compressed and fmt == "parquet"):
            return fmt, compressed
    raise EventsTableError(f"{path}: unknown table format; name the file .csv, .tsv (either optionally .gz) "
                           f"or .parquet")


def read_layout(path: str | os.PathLike, columns: dict[str, str] | None = None) -> TableLayout:
    """Read only the header (text) or the schema (Parquet) of the table at ``path`` and check that the
    required columns are there. ``columns`` maps the names of :data:`NAMES` to the table's own; a name
    it gives must be in the table, the others are looked up under their own name."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(NAMES))
    if unknown:
        raise EventsTableError(f"events.columns: unknown name(s) {unknown}; known: {', '.join(NAMES)}")
    fmt, compressed = table_format(path)
    if not os.path.isfile(path):
        raise EventsTableError(f"{path}: no such file (events.path)")
    types = {}
    if fmt == "parquet":
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise EventsTableError(f"{path}: not a Parquet file: {error}") from None
        header = tuple(schema.names)
    else:
        header = _text_header(path, fmt, compressed)
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise EventsTableError(f"{path}: line 1: the header names {duplicated} more than once")
    present = {}
    for name in NAMES:
        column = columns.get(name, name)
        if column in header:
            present[name] = column
        elif name in columns:
            raise EventsTableError(f"{path}: events.columns.{name} is {column!r}, but the table has no such "
                                   f"column (its columns: {', '.join(header)})")
    required = PLAYLISTS if ("playlist_id" in present or "position" in present) else LISTENING
    missing = [name for name in required if name not in present]
    if missing:
        hint = " (a playlist table needs playlist_id, track_id and position)" if required == PLAYLISTS else \
            " (or playlist_id and position for playlists)"
        raise EventsTableError(f"{path}: required column(s) {', '.join(missing)} missing{hint}; the header has "
                               f"{', '.join(header) or 'no columns'}; map other names with events.columns")
    used = required + OPTIONAL
    present = {name: column for name, column in present.items() if name in used}
    shared = sorted({column for column in present.values() if list(present.values()).count(column) > 1})
    if shared:
        raise EventsTableError(f"{path}: events.columns gives column(s) {shared} to more than one name: "
                               f"{ {name: column for name, column in present.items() if column in shared} }")
    if fmt == "parquet":
        types = {name: schema.field(column).type for name, column in present.items()}
        for name, kind in types.items():
            if not _parquet_type_ok(name, kind):
                raise EventsTableError(f"{path}: column {present[name]!r} ({name}) has type {kind}, which "
                                       f"cannot hold {_WHAT[name]}")
    return TableLayout(str(path), fmt, compressed, present, header, types)


_WHAT = {"user_id": "ids", "playlist_id": "ids", "track_id": "ids", "artist_id": "ids", "album_id": "ids",
         "timestamp": "timestamps", "position": "positions", "genre": "genre names"}


def _parquet_type_ok(name: str, kind: pa.DataType) -> bool:
    if name in ID_COLUMNS:
        return pa.types.is_integer(kind) or _is_text(kind)
    if name == "timestamp":
        return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_timestamp(kind)
                or pa.types.is_date(kind) or _is_text(kind))
    if name == "position":
        return pa.types.is_integer(kind)
    return _is_text(kind) or (pa.types.is_list(kind) and _is_text(kind.value_type))


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _open_text(path, compressed: bool):
    return io.TextIOWrapper(gzip.open(path, "rb") if compressed else open(path, "rb"), encoding="utf-8",
                            errors="replace", newline="")


def _csv_dialect(fmt: str) -> dict:
    return {"delimiter": ","} if fmt == "csv" else {"delimiter": "\t", "quoting": csv.QUOTE_NONE}


def _text_header(path, fmt: str, compressed: bool) -> tuple[str, ...]:
    try:
        with _open_text(path, compressed) as file:
            header = next(csv.reader(file, **_csv_dialect(fmt)), None)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise EventsTableError(f"{path}: cannot be read: {error}") from None
    if not header or not any(name.strip() for name in header):
        raise EventsTableError(f"{path}: the table is empty (no header row)")
    return tuple(name.strip().lstrip("\ufeff") for name in header)


class IdMap:
    """Strings -> dense integer ids ``0, 1, ...`` in order of first appearance."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, values: pa.Array) -> np.ndarray:
        """(n,) int64 ids of ``values`` (strings, trimmed of surrounding white space); -1 for a missing or
        blank value. New strings get new ids."""
        encoded = pc.dictionary_encode(values)
        strings = pc.utf8_trim_whitespace(encoded.dictionary).to_pylist()  # the distinct values only
        ids = self.ids
        # known strings in one C-level pass; only the new ones (each string once overall) in Python
        codes = np.fromiter(map(ids.get, strings, itertools.repeat(-1)), dtype=np.int64, count=len(strings))
        for i in np.flatnonzero(codes < 0).tolist():
            if strings[i]:
                codes[i] = ids.setdefault(strings[i], len(ids))
        indices = pc.fill_null(encoded.indices, len(strings)).to_numpy(zero_copy_only=False)
        return np.append(codes, -1)[indices]

    def keys(self) -> list[str]:
        """The strings, id order (``keys()[i]`` has id ``i``)."""
        return list(self.ids)

    def key(self, value: int) -> str:
        return self.keys()[value] if 0 <= value < len(self.ids) else str(value)


@dataclass
class TableReport:
    """Counts of what an :class:`EventsTable` read: ``lines`` (data rows read, header excluded),
    ``events`` (valid rows yielded), ``bytes`` (of the file consumed), ``skipped`` (rows per reason of
    :data:`SKIP_REASONS`) and ``examples`` (the first skipped rows, quoted with where they are)."""

    path: str
    bytes: int = 0
    lines: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    examples: list[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


@dataclass
class _Batch:
    """One converted batch: ``start`` (rows before it), the int64 columns (-1 = absent) and the
    reason code (index into SKIP_REASONS, + 1; 0 = valid) of every row, plus its genre codes."""

    start: int
    columns: dict[str, np.ndarray]
    bad: np.ndarray
    genres: np.ndarray | None


class EventsTable:
    """The events table at ``layout.path`` as an event source: :meth:`chunks` yields
    :class:`songvec.lfm1b.EventChunk` s (``user_id`` is the playlist for a playlist table, ``timestamp``
    the position), the same type :func:`songvec.lfm1b.iter_event_chunks` yields.

    Args:
        layout: :func:`read_layout`'s result.
        ids: ``"auto"`` (module docstring) or ``"string"`` (every id column is read as strings).
        bad_rows: ``"error"`` or ``"skip"``.
        latest_timestamp: timestamps after this Unix time are impossible (default: now).

    After the reading, :meth:`write_keys` saves the string maps and the genre of every track.
    """

    def __init__(self, layout: TableLayout, *, ids: str = "auto", bad_rows: str = "error",
                 latest_timestamp: int | None = None):
        if ids not in ("auto", "string"):
            raise ValueError(f"ids must be 'auto' or 'string', got {ids!r}")
        if bad_rows not in ("error", "skip"):
            raise ValueError(f"bad_rows must be 'error' or 'skip', got {bad_rows!r}")
        self.layout, self.ids, self.bad_rows = layout, ids, bad_rows
        self.path = layout.path
        self.size_bytes = os.path.getsize(layout.path)
        self.latest = int(time.time()) if latest_timestamp is None else int(latest_timestamp)
        if not 0 <= self.latest < 2 ** 32:
            raise ValueError(f"latest_timestamp must be in [0, 2**32), got {self.latest}")
        self.unique = "position" if layout.kind == "playlists" else "row"
        self.report = TableReport(self.path)
        self.kinds: dict[str, str] = {}  # column -> "integer" | "string" (ids), "unix" | "iso" (timestamp)
        self.maps: dict[str, IdMap] = {}
        self.genre_names = IdMap()
        self.track_genres = np.full(0, -1, dtype=np.int32)  # first genre code of each track id, -1: none
        self._several = np.zeros(0, dtype=bool)
        self._iso_casts = list(_ISO_CASTS)

    # ------------------------------------------------------------------ the event source
    def chunks(self, chunk_bytes: int) -> Iterator[EventChunk]:
        """The valid rows in table order, as chunks of about ``chunk_bytes`` of the file each."""
        for batch in self._batches(chunk_bytes):
            valid = batch.bad == 0
            if self.bad_rows == "error" and (self._invalid_rows or not valid.all()):
                raise self._first_error(batch)
            if not valid.all():
                self._bad_rows(batch)
            every = bool(valid.all())
            columns = batch.columns if every else {name: values[valid] for name, values in batch.columns.items()}
            if batch.genres is not None:
                self._note_genres(columns["track_id"], batch.genres if every else batch.genres[valid])
            self.report.events += int(valid.sum())
            if valid.any():
                yield EventChunk(user_id=columns[self.layout.sequence_column], artist_id=columns["artist_id"],
                                 album_id=columns["album_id"], track_id=columns["track_id"],
                                 timestamp=columns[self.layout.order_column], first_line=batch.start + 2)
        if self.report.lines == 0:
            raise EventsTableError(f"{self.path}: the table is empty (a header, no rows)")
        if self.report.events == 0:
            raise EventsTableError(f"{self.path}: the table has no valid rows ({self.report.lines} read, "
                                   f"all skipped: {self._skipped_text()})")
        if self.report.n_skipped:
            log.warning("%s: skipped %d of %d rows: %s; first: %s", self.path, self.report.n_skipped,
                        self.report.lines, self._skipped_text(), self.report.examples[:1])

    def repeated_event_error(self, user_id: int, timestamp: int, track_id: int) -> Exception:
        """Error for a repeated event found by the ingest, naming the lines where it is."""
        columns = self.layout.columns
        sequence, order = self.layout.sequence_column, self.layout.order_column
        rows = self._find_rows({sequence: user_id, order: timestamp}
                               | ({"track_id": track_id} if self.unique == "row" else {}), limit=2)
        where = " and ".join(self._where(row) for row in rows)
        if self.unique == "position":
            what = (f"playlist {self._key(sequence, user_id)!r} has position {timestamp} twice "
                    f"(columns {columns[sequence]!r}, {columns[order]!r})")
        else:
            what = (f"duplicate row: user {self._key(sequence, user_id)!r}, track "
                    f"{self._key('track_id', track_id)!r} at timestamp {timestamp} "
                    f"({_utc(timestamp)}) twice (columns {columns[sequence]!r}, {columns['track_id']!r}, "
                    f"{columns[order]!r})")
        return EventsTableError(f"{self.path}: {where}: {what}; remove one, or set ingest.bad_rows: skip to "
                                f"skip and count repeats")

    # ------------------------------------------------------------------ after the reading
    def write_keys(self, folder: str | os.PathLike) -> dict:
        """Write what the sequences do not hold into ``folder``: ``<column>.parquet`` (``id`` int64,
        ``key`` string) for each id column read as strings, and ``genres.parquet`` (``track_id``,
        ``genre``: the first genre of the track's first row with one) when the table has genres. Returns
        the manifest (also written as ``manifest.json``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for column, mapping in self.maps.items():
            keys = mapping.keys()
            atomic.write_parquet(folder / f"{column}.parquet",
                                 pa.table({"id": np.arange(len(keys), dtype=np.int64),
                                           "key": pa.array(keys, type=pa.string())}))
        if self.layout.has_genres:
            tracks = np.flatnonzero(self.track_genres >= 0)
            names = np.asarray(self.genre_names.keys(), dtype=object)
            atomic.write_parquet(folder / "genres.parquet",
                                 pa.table({"track_id": tracks.astype(np.int64),
                                           "genre": pa.array(names[self.track_genres[tracks]].tolist()
                                                             if len(tracks) else [], type=pa.string())}))
        manifest = {"path": self.path, "format": self.layout.format, "kind": self.layout.kind,
                    "columns": self.layout.columns, "ids": {c: k for c, k in self.kinds.items() if c in ID_COLUMNS},
                    "timestamps": self.kinds.get("timestamp"), "genres": len(self.genre_names),
                    "tracks_with_genre": int((self.track_genres >= 0).sum()),
                    "tracks_with_several_genres": int(self._several.sum())}
        atomic.write_json(folder / "manifest.json", manifest)
        return manifest

    # ------------------------------------------------------------------ reading and converting
    def _batches(self, chunk_bytes: int) -> Iterator[_Batch]:
        start = 0
        for record_batch, consumed in self._record_batches(chunk_bytes):
            n = record_batch.num_rows
            self.report.lines += n
            self.report.bytes = consumed
            bad = np.zeros(n, dtype=np.int8)
            columns = {}
            for name in (self.layout.sequence_column, "track_id", "artist_id"):
                columns[name] = self._ids(name, record_batch, bad, start)
            columns["album_id"] = np.full(n, -1, dtype=np.int64)  # recognised, not read: no stage uses albums
            order = self.layout.order_column
            columns[order] = (self._positions if order == "position" else self._timestamps)(record_batch, bad,
                                                                                            start)
            genres = self._genres(record_batch) if self.layout.has_genres else None
            yield _Batch(start, columns, bad, genres)
            start += n
        if self._invalid_rows and self.bad_rows == "error":  # met after the last batch
            raise self._first_error(_Batch(start, {}, np.zeros(0, dtype=np.int8), None))
        if self._invalid_rows:
            self._skip_invalid_rows()

    def _record_batches(self, chunk_bytes: int) -> Iterator[tuple[pa.RecordBatch, int]]:
        """The table's used columns as Arrow batches, with the bytes of the file consumed so far.

        Text is read with the column types its first row suggests (integer ids and Unix seconds are
        parsed by Arrow's threads, the fast path); should a later value not fit them, the reading
        goes on from the same row with every column as text, where the checks find the bad value.
        """
        layout = self.layout
        names = [column for name, column in layout.columns.items() if name != "album_id"]
        self._invalid_rows: list[str] = []
        if layout.format == "parquet":
            file = pq.ParquetFile(layout.path)
            total = max(file.metadata.num_rows, 1)
            done = 0
            for batch in file.iter_batches(batch_size=max(1024, chunk_bytes // 32), columns=names):
                done += batch.num_rows
                yield batch.rename_columns(self._canonical(batch.schema.names)), int(done / total * self.size_bytes)
            return
        delivered = 0
        for types in (self._text_types(), dict.fromkeys(names, pa.string())):
            self._invalid_rows.clear()  # the reading starts over: every malformed row is met again
            skip = delivered
            try:
                for batch, consumed in self._text_batches(chunk_bytes, types):
                    if skip:
                        cut = min(skip, batch.num_rows)
                        batch, skip = batch.slice(cut), skip - cut
                        if batch.num_rows == 0:
                            continue
                    delivered += batch.num_rows
                    yield batch.rename_columns(self._canonical(batch.schema.names)), consumed
                return
            except pa.ArrowInvalid as error:
                if all(kind == pa.string() for kind in types.values()):
                    raise EventsTableError(f"{layout.path}: cannot be parsed as {layout.format.upper()}: "
                                           f"{error}") from None
                log.info("%s: after data row %d a value does not fit the types of the first row (%s); "
                         "reading on with every column as text", layout.path, delivered, error)

    def _text_types(self) -> dict[str, pa.DataType]:
        """Arrow types for the used columns of a text table, from its first data row (and ``ids``)."""
        try:
            _, first = self._text_record(0)
        except LookupError:
            first = []
        values = dict(zip(self.layout.header, (value.strip() for value in first)))
        types = {}
        for name, column in self.layout.columns.items():
            value = values.get(column, "")
            if name in ID_COLUMNS and name != "album_id":
                kind = self.kinds[name] = "string" if self.ids == "string" or not _INTEGER.match(value or "0") \
                    else "integer"
                types[column] = pa.int64() if kind == "integer" else pa.string()
            elif name == "timestamp":
                kind = self.kinds[name] = "unix" if re.match(_DECIMAL, value) else "iso"
                types[column] = pa.int64() if _INTEGER.match(value) else pa.string()
            elif name == "position":
                types[column] = pa.int64()
            elif name == "genre":
                types[column] = pa.string()
        return types

    def _text_batches(self, chunk_bytes: int, types: dict[str, pa.DataType]
                      ) -> Iterator[tuple[pa.RecordBatch, int]]:
        def invalid(row) -> str:
            self._invalid_rows.append(row.text)
            return "skip"

        raw = pa.OSFile(self.path, "rb")  # its position is the progress (pyarrow reads it natively)
        try:
            stream = pa.CompressedInputStream(raw, "gzip") if self.layout.gzip else raw
            reader = pacsv.open_csv(
                stream, read_options=pacsv.ReadOptions(block_size=int(np.clip(chunk_bytes, 1 << 16, _MAX_TEXT_BLOCK)),
                                                       use_threads=False),  # the ingest's other thread has the other core
                parse_options=pacsv.ParseOptions(delimiter="," if self.layout.format == "csv" else "\t",
                                                 quote_char='"' if self.layout.format == "csv" else False,
                                                 ignore_empty_lines=False, invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(types),
                                                     strings_can_be_null=False))
            for batch in reader:
                yield batch, raw.tell()
        finally:
            raw.close()

    def _canonical(self, columns: list[str]) -> list[str]:
        by_column = {column: name for name, column in self.layout.columns.items()}
        return [by_column[column] for column in columns]

    def _column(self, batch: pa.RecordBatch, name: str) -> pa.Array | None:
        """The values of ``name`` (as in the table: text is trimmed where it is parsed), or None if absent."""
        if name not in self.layout.columns:
            return None
        values = batch.column(name)
        return values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values

    def _ids(self, name: str, batch: pa.RecordBatch, bad: np.ndarray, start: int) -> np.ndarray:
        values = self._column(batch, name)
        if values is None:
            return np.full(batch.num_rows, -1, dtype=np.int64)
        required = name not in OPTIONAL
        kind = self.kinds.get(name)
        if kind is None:
            kind = self.kinds[name] = self._id_kind(values)
        clean = _clean_integers(values)
        if kind == "integer" and clean is not None and (not len(clean) or (clean.min() >= 0 and clean.max() < _MAX_ID)):
            return clean  # the fast path: Arrow parsed valid integers
        if kind == "string":
            values = values if _is_text(values.type) else values.cast(pa.string())
            ids = self.maps.setdefault(name, IdMap()).encode(values)
            if required:
                _mark(bad, ids < 0, "missing_value")
            return ids
        if _is_text(values.type):
            ids, problems = _parse_integers(values)
            missing = problems == 1
            _mark(bad, problems == 2, "negative_id")
            _mark(bad, problems == 3, "mixed_id_types")
        else:
            ids = pc.fill_null(values, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            missing = pc.is_null(values).to_numpy(zero_copy_only=False)
            _mark(bad, ~missing & (ids < 0), "negative_id")
        if required:
            _mark(bad, missing, "missing_value")
        ids = np.where(missing | (ids < 0), -1, ids)
        too_large = ids >= _MAX_ID
        if too_large.any() and name in ("track_id", "artist_id"):
            row = int(np.flatnonzero(too_large)[0])
            raise EventsTableError(f"{self.path}: {self._where(start + row)}: {name} {int(ids[row])} in column "
                                   f"{self.layout.columns[name]!r} is 2**32 or more; per-song arrays are "
                                   f"indexed by these ids: set events.ids: string to map them to dense ids")
        return ids

    def _id_kind(self, values: pa.Array) -> str:
        if self.ids == "string" or (self.layout.format == "parquet" and _is_text(values.type)):
            return "string"
        if self.layout.format == "parquet":
            return "integer"
        return "integer" if _INTEGER.match(_first_text(values)) else "string"

    def _timestamps(self, batch: pa.RecordBatch, bad: np.ndarray, start: int) -> np.ndarray:
        values = self._column(batch, "timestamp")
        clean = _clean_integers(values)
        if clean is not None and (not len(clean) or (clean.min() >= 0 and clean.max() <= self.latest)):
            self.kinds.setdefault("timestamp", "unix")
            return clean  # the fast path: Arrow parsed possible Unix seconds
        if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
            self.kinds.setdefault("timestamp", "typed")
            seconds = pc.cast(values, pa.timestamp("s", tz=getattr(values.type, "tz", None)), safe=False)
            parsed = _floor_seconds(seconds.cast(pa.int64()))
        elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            self.kinds.setdefault("timestamp", "unix")
            parsed = _floor_seconds(values)
        else:
            kind = self.kinds.get("timestamp")
            if kind is None:
                kind = self.kinds["timestamp"] = "unix" if re.match(_DECIMAL, _first_text(values)) else "iso"
            parsed = _parse_unix(values) if kind == "unix" else _parse_iso(values, self._iso_casts)
        unparsable = np.isnan(parsed)
        _mark(bad, _missing(values), "missing_value")
        _mark(bad, unparsable, "unparsable_timestamp")
        _mark(bad, ~unparsable & ((parsed < 0) | (parsed > self.latest)), "impossible_timestamp")
        return np.where(unparsable, -1, parsed).astype(np.int64)

    def _positions(self, batch: pa.RecordBatch, bad: np.ndarray, start: int) -> np.ndarray:
        values = self._column(batch, "position")
        if _is_text(values.type):
            positions, problems = _parse_integers(values)
            _mark(bad, problems == 1, "missing_value")
            _mark(bad, problems > 1, "bad_position")
        else:
            positions = pc.fill_null(values, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            _mark(bad, pc.is_null(values).to_numpy(zero_copy_only=False), "missing_value")
            _mark(bad, positions < 0, "bad_position")
        _mark(bad, positions >= 2 ** 32, "bad_position")
        return positions

    def _genres(self, batch: pa.RecordBatch) -> np.ndarray:
        """(n,) int32 code of each row's first genre (-1: none)."""
        values = self._column(batch, "genre")
        if pa.types.is_list(values.type):
            first = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(values), 0), values,
                                               pa.scalar([None], type=values.type)), 0)
        else:
            first = pc.list_element(pc.split_pattern(values, "|", max_splits=1), 0)
        first = pc.utf8_trim_whitespace(first)
        first = pc.if_else(pc.is_in(pc.utf8_lower(first), pa.array(NO_GENRE)), pa.scalar(None, pa.string()), first)
        return self.genre_names.encode(first).astype(np.int32)

    def _note_genres(self, tracks: np.ndarray, genres: np.ndarray) -> None:
        if len(tracks):
            size = int(tracks.max()) + 1
            if size > len(self.track_genres):
                grown = max(size, 2 * len(self.track_genres))
                self.track_genres = np.append(self.track_genres, np.full(grown - len(self.track_genres), -1,
                                                                         dtype=np.int32))
                self._several = np.append(self._several, np.zeros(grown - len(self._several), dtype=bool))
            _first_labels(tracks, genres, self.track_genres, self._several)

    # ------------------------------------------------------------------ bad rows
    def _bad_rows(self, batch: _Batch) -> None:
        """Count the bad rows of ``batch`` by reason and quote the first ones (``bad_rows="skip"``)."""
        rows = np.flatnonzero(batch.bad)
        codes = np.bincount(batch.bad[rows], minlength=len(SKIP_REASONS) + 1)
        for code, reason in enumerate(SKIP_REASONS, start=1):
            self.report.skipped[reason] += int(codes[code])
        for row in rows[:MAX_EXAMPLES - len(self.report.examples)]:
            self.report.examples.append(self._describe(batch, int(row))[1])

    def _first_error(self, batch: _Batch) -> EventsTableError:
        """The error for the first bad row of ``batch`` or the first row with a wrong number of fields
        (which the text parser reports as it meets them, possibly a block ahead), whichever comes first."""
        errors = []
        if self._invalid_rows:
            line = self._first_malformed_line()
            found = len(next(csv.reader([self._invalid_rows[0]], **_csv_dialect(self.layout.format)), []))
            errors.append((line, f"{self.path}:{line}: expected {len(self.layout.header)} fields like the header, "
                                 f"found {found}: {_quote(self._invalid_rows[0])}"))
        bad = np.flatnonzero(batch.bad)
        if len(bad):
            errors.append(self._describe(batch, int(bad[0])))
        return EventsTableError(min(errors)[1])

    def _skip_invalid_rows(self) -> None:
        """Count the rows with a wrong number of fields, which the text parser set aside (``bad_rows="skip"``)."""
        expected = len(self.layout.header)
        self.report.skipped["wrong_field_count"] += len(self._invalid_rows)
        self.report.lines += len(self._invalid_rows)
        for text in self._invalid_rows[:MAX_EXAMPLES - len(self.report.examples)]:
            self.report.examples.append(f"{self.path}: expected {expected} fields like the header: {_quote(text)}")
        self._invalid_rows = []

    def _describe(self, batch: _Batch, row: int) -> tuple[int, str]:
        """(line or row number, message) of the bad row ``row`` of ``batch``."""
        reason = SKIP_REASONS[batch.bad[row] - 1]
        name = {"missing_value": None, "mixed_id_types": None, "negative_id": None,
                "unparsable_timestamp": "timestamp", "impossible_timestamp": "timestamp",
                "bad_position": "position"}[reason]
        number, where, values = self._raw_row(batch.start + row)
        if name is None:
            name = next(n for n in (self.layout.sequence_column, "track_id", "artist_id", self.layout.order_column)
                        if n in self.layout.columns and self._value_problem(n, values[n]) == reason)
        value = values[name]
        column = self.layout.columns[name]
        what = {"missing_value": f"no {name} in column {column!r}",
                "mixed_id_types": f"{name} {value!r} in column {column!r} is not an integer, but the column's "
                                  f"first id is (set events.ids: string to read every id as a string)",
                "negative_id": f"negative {name} {value!r} in column {column!r}",
                "unparsable_timestamp": f"timestamp {value!r} in column {column!r} is not "
                                        + ("Unix seconds" if self.kinds.get("timestamp") == "unix" else
                                           "an ISO-8601 date and time (e.g. 2013-08-28T00:55:35Z)"),
                "impossible_timestamp": f"impossible timestamp {value!r} in column {column!r}: outside "
                                        f"[1970-01-01, {_utc(self.latest)}]",
                "bad_position": f"position {value!r} in column {column!r} is not a non-negative integer"}[reason]
        return number, f"{self.path}: {where}: {what}"

    def _value_problem(self, name: str, value) -> str | None:
        if value is None or str(value).strip() == "":
            return "missing_value" if name not in OPTIONAL else None
        text = str(value).strip()
        if self.kinds.get(name) == "integer" and not _INTEGER.match(text):
            return "mixed_id_types"
        return "negative_id" if text.startswith("-") and _INTEGER.match(text) else None

    def _raw_row(self, row: int) -> tuple[int, str, dict]:
        """Where data row ``row`` (0-based, as read) is (its line or row number, and as text), and its
        values by name (error path: reads the table again)."""
        names = list(dict.fromkeys(self.layout.columns.values()))
        if self.layout.format == "parquet":
            table = pq.ParquetFile(self.path)
            offset = 0
            for group in range(table.num_row_groups):
                size = table.metadata.row_group(group).num_rows
                if row < offset + size:
                    values = table.read_row_group(group, columns=names).slice(row - offset, 1).to_pylist()[0]
                    break
                offset += size
            number, where = row + 1, f"row {row + 1}"
        else:
            number, record = self._text_record(row)
            values, where = dict(zip(self.layout.header, record)), f"line {number}"
        return number, where, {name: values.get(column) for name, column in self.layout.columns.items()}

    def _text_record(self, index: int) -> tuple[int, list[str]]:
        """The first line and the fields of well-formed data record ``index`` (0-based) of a text table."""
        expected = len(self.layout.header)
        with _open_text(self.path, self.layout.gzip) as file:
            reader = csv.reader(file, **_csv_dialect(self.layout.format))
            next(reader, None)
            line, seen = reader.line_num, 0
            for record in reader:
                first_line, line = line + 1, reader.line_num
                if len(record) in (0, expected):  # a blank line is a row of empty values
                    if seen == index:
                        return first_line, record + [""] * (expected - len(record))
                    seen += 1
        raise LookupError(f"{self.path} has no data record {index}")

    def _first_malformed_line(self) -> int:
        expected = len(self.layout.header)
        with _open_text(self.path, self.layout.gzip) as file:
            reader = csv.reader(file, **_csv_dialect(self.layout.format))
            next(reader, None)
            line = reader.line_num
            for record in reader:
                first_line, line = line + 1, reader.line_num
                if record and len(record) != expected:
                    return first_line
        return line

    def _where(self, row: int) -> str:
        """``line N`` (text) or ``row N`` (Parquet) of data row ``row`` (0-based, as read)."""
        return self._raw_row(row)[1]

    def _find_rows(self, wanted: dict[str, int], limit: int) -> list[int]:
        """Data rows (0-based) whose converted values equal ``wanted`` (error path: reads the table again)."""
        again = EventsTable(self.layout, ids=self.ids, bad_rows="skip", latest_timestamp=self.latest)
        found = []
        for batch in again._batches(1 << 24):
            match = batch.bad == 0
            for name, value in wanted.items():
                match &= batch.columns[name] == value
            found += (batch.start + np.flatnonzero(match)).tolist()
            if len(found) >= limit:
                break
        return found[:limit]

    def _key(self, name: str, value: int) -> str:
        return self.maps[name].key(value) if name in self.maps else str(value)

    def _skipped_text(self) -> str:
        return ", ".join(f"{count} {reason}" for reason, count in self.report.skipped.items() if count) or "none"


def _first_text(values: pa.Array) -> str:
    """The first non-blank value of text ``values``, trimmed ("" if none)."""
    for start in range(0, len(values), 1024):
        texts = pc.utf8_trim_whitespace(values.slice(start, 1024)).to_pylist()
        first = next((text for text in texts if text), None)
        if first is not None:
            return first
    return ""


def _missing(values: pa.Array) -> np.ndarray:
    """(n,) bool: null, or blank text."""
    missing = pc.is_null(values)
    if _is_text(values.type):
        missing = pc.or_(missing, pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0))
    return missing.to_numpy(zero_copy_only=False)


def _mark(bad: np.ndarray, rows: np.ndarray, reason: str) -> None:
    """Give ``rows`` (a bool mask) without a reason yet the reason ``reason``."""
    if rows.any():
        bad[(bad == 0) & rows] = SKIP_REASONS.index(reason) + 1


def _clean_integers(values: pa.Array) -> np.ndarray | None:
    """(n,) int64 of an integer column without nulls (no copy for int64), else None."""
    if not pa.types.is_integer(values.type) or values.null_count:
        return None
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _parse_integers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integers of text ``values``: (n,) int64 (-1 where not one) and a problem code per value:
    0 ok, 1 missing, 2 negative, 3 not an integer."""
    try:
        parsed = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)
        problems = np.where(parsed < 0, 2, 0).astype(np.int8)
        return np.where(parsed < 0, -1, parsed), problems
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = pc.utf8_trim_whitespace(values)
    empty = pc.equal(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    integer = pc.match_substring_regex(text, r"^-?[0-9]{1,18}$").to_numpy(zero_copy_only=False)
    parsed = np.full(len(values), -1, dtype=np.int64)
    if integer.any():
        parsed[integer] = pc.cast(pc.filter(text, pa.array(integer)), pa.int64()).to_numpy(zero_copy_only=False)
    problems = np.where(empty, 1, np.where(~integer, 3, np.where(parsed < 0, 2, 0))).astype(np.int8)
    return np.where(problems == 0, parsed, -1), problems


def _floor_seconds(values: pa.Array) -> np.ndarray:
    """(n,) float64 seconds of numeric ``values``, floored (NaN where missing)."""
    return np.floor(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False))


def _parse_unix(values: pa.Array) -> np.ndarray:
    """(n,) float64 Unix seconds of text ``values`` (floored; NaN where not a number)."""
    try:
        return pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values = pc.utf8_trim_whitespace(values)
    number = pc.match_substring_regex(values, _DECIMAL).to_numpy(zero_copy_only=False)
    parsed = np.full(len(values), np.nan)
    if number.any():
        parsed[number] = np.floor(pc.cast(pc.filter(values, pa.array(number)), pa.float64())
                                  .to_numpy(zero_copy_only=False))
    return parsed


#: Arrow's fast ISO-8601 casts: naive (taken as UTC), or with an offset or Z (whole seconds, or fractions).
_ISO_CASTS = [pa.timestamp("s"), pa.timestamp("s", tz="UTC"), pa.timestamp("ns", tz="UTC")]


def _parse_iso(values: pa.Array, casts: list[pa.DataType]) -> np.ndarray:
    """(n,) float64 Unix seconds of ISO-8601 text ``values`` (no offset: UTC; NaN where unparsable).

    Tries Arrow's casts in the order of ``casts`` and moves the one that worked to the front (a failing
    cast costs a full parse, and a table keeps one form throughout), then the same on the values trimmed
    of white space; mixed forms go through pandas.
    """
    for trimmed in (False, True):
        if trimmed:
            values = pc.utf8_trim_whitespace(values)
        for kind in list(casts):
            try:
                parsed = pc.cast(values, kind).cast(pa.int64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            casts.remove(kind)
            casts.insert(0, kind)
            return np.floor(parsed / 10 ** 9) if kind.unit == "ns" else parsed.astype(np.float64)
    parsed = pd.to_datetime(pd.Series(values.to_pandas(), dtype=object), format="ISO8601", utc=True,
                            errors="coerce")
    seconds = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) // 10 ** 9
    return np.where(parsed.isna().to_numpy(), np.nan, seconds.astype(np.float64))


def _utc(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _quote(text: str) -> str:
    return repr(text if len(text) <= _MAX_QUOTED_CHARS else text[:_MAX_QUOTED_CHARS] + "...")


@numba.njit(cache=True, nogil=True)
def _first_labels(tracks, labels, first, several):
    """``first[t]``: the label of track ``t``'s first labelled row; ``several[t]``: another label seen later."""
    for i in range(len(tracks)):
        label = labels[i]
        if label < 0:
            continue
        t = tracks[i]
        if first[t] < 0:
            first[t] = label
        elif first[t] != label:
            several[t] = True


def open_table(path: str | os.PathLike, columns: dict[str, str] | None = None, **options) -> EventsTable:
    """:class:`EventsTable` of the table at ``path`` (``options``: its keyword arguments)."""
    return EventsTable(read_layout(path, columns), **options)
