"""Readers for the LFM-1b files (Schedl, ICMR 2016; UGP genre files: Schedl & Ferwerda, 2017).

This is the one module that knows the file formats. All files are UTF-8 text, tab separated, one
record per line, no header, not CSV-quoted (a ``"`` in a name is just a character):

- ``LFM-1b_LEs.txt``: listening events ``user_id, artist_id, album_id, track_id, unix_timestamp``
  (about 1 billion rows, ~30 GB). Not chronological: blocks of ~1,000 events per user, newest
  first inside a block, users interleaved. Streamed by :func:`iter_event_chunks`.
- ``LFM-1b_tracks.txt``: ``track_id, track_name, artist_id`` (:func:`read_tracks`).
- ``LFM-1b_artists.txt``: ``artist_id, artist_name`` (:func:`read_artists`).
- ``genres_{freebase,allmusic}.txt``: one genre name per line; a genre's id is its 0-based line
  number (:func:`read_genre_names`).
- ``LFM-1b_artist_genres_{freebase,allmusic}.txt``: artist NAME, then its genre ids, each followed
  by a tab (:func:`read_artist_genres`).

Line numbers in messages are 1-based physical lines. CRLF line ends, a missing newline at the end
of the file and stray non-UTF-8 bytes in names are accepted (bad bytes become U+FFFD and are counted).
"""

from __future__ import annotations

import calendar
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Iterator

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

EVENTS_FILE = "LFM-1b_LEs.txt"
TRACKS_FILE = "LFM-1b_tracks.txt"
ARTISTS_FILE = "LFM-1b_artists.txt"
ARTIST_GENRES_FILES = {"freebase": "LFM-1b_artist_genres_freebase.txt",
                       "allmusic": "LFM-1b_artist_genres_allmusic.txt"}
GENRE_NAMES_FILES = {"freebase": "genres_freebase.txt", "allmusic": "genres_allmusic.txt"}

EVENT_COLUMNS = ("user_id", "artist_id", "album_id", "track_id", "timestamp")
#: Unix seconds of 2002-01-01 00:00 UTC, when Last.fm started: an event before it is impossible.
EARLIEST_TIMESTAMP = calendar.timegm((2002, 1, 1, 0, 0, 0))
#: Reasons a line of the events file is skipped, in the order they are checked.
SKIP_REASONS = ("blank_line", "wrong_column_count", "non_numeric", "negative_id", "impossible_timestamp")
#: How many bad rows a :class:`ParseReport` quotes (all of them are counted).
MAX_EXAMPLES = 5
DEFAULT_CHUNK_BYTES = 32 * 1024 ** 2
_MAX_QUOTED_CHARS = 200
_READ_BLOCK_BYTES = 64 * 1024 ** 2


class Lfm1bFormatError(ValueError):
    """A line of an LFM-1b file does not have the expected format; the message names file and line."""


@dataclass
class EventChunk:
    """Consecutive valid events of ``LFM-1b_LEs.txt``, in file order: five (n,) int64 columns.

    ``timestamp`` is in Unix seconds. ``first_line`` is the 1-based line number where the chunk's
    text starts (bad and blank lines inside the chunk are skipped, so rows do not map 1:1 to lines).
    """

    user_id: np.ndarray
    artist_id: np.ndarray
    album_id: np.ndarray
    track_id: np.ndarray
    timestamp: np.ndarray
    first_line: int

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass
class ParseReport:
    """Counts of what :func:`iter_event_chunks` read and skipped in one events file.

    ``bytes`` counts the text parsed so far (for progress); ``lines`` = ``events`` + the five skip
    counts. ``examples`` quotes the first :data:`MAX_EXAMPLES` skipped lines as
    ``"<file>:<line>: <what is wrong>: <text>"``.
    """

    path: str
    bytes: int = 0
    lines: int = 0
    events: int = 0
    blank_line: int = 0
    wrong_column_count: int = 0
    non_numeric: int = 0
    negative_id: int = 0
    impossible_timestamp: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> dict[str, int]:
        """Skipped line count per reason (keys: :data:`SKIP_REASONS`)."""
        return {reason: getattr(self, reason) for reason in SKIP_REASONS}

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


# Status codes of the parser kernel: 0 = valid event, k = SKIP_REASONS[k - 1].
_OK, _BLANK, _COLUMNS, _NON_NUMERIC, _NEGATIVE, _TIMESTAMP = range(6)
_INT64_MAX = np.iinfo(np.int64).max


@numba.njit(cache=True, nogil=True)
def _parse_event_lines(buf, min_timestamp, max_timestamp, out, status_counts, bad_rows):
    """Parse the lines in ``buf`` (uint8 bytes, ending with a newline: the caller adds a missing one).

    Writes valid events column-wise into ``out`` (5, capacity) int64, adds the number of lines of
    each status to ``status_counts`` (6,), and records the first ``len(bad_rows)`` bad lines as
    rows ``(line index in buf, status, byte start, byte stop)``. Returns (events, lines, bad recorded).
    A line of five unsigned integers takes the fast path; anything else is re-read by
    :func:`_parse_general_line`, which classifies it.
    """
    n = buf.shape[0]
    fields = np.zeros(5, np.int64)
    i = 0
    n_lines = 0
    n_events = 0
    n_recorded = 0
    while i < n:
        start = i
        fast = True
        for column in range(5):
            value = 0
            first_digit = i
            c = buf[i]
            while 48 <= c <= 57:  # the final newline stops every scan inside buf
                value = value * 10 + (c - 48)
                i += 1
                c = buf[i]
            if i == first_digit or i - first_digit > 18:
                fast = False
                break
            if column < 4:
                if c != 9:
                    fast = False
                    break
            else:
                if c == 13:
                    i += 1
                    c = buf[i]
                if c != 10:
                    fast = False
                    break
            fields[column] = value
            i += 1
        if fast:
            status = _OK
            if fields[4] < min_timestamp or fields[4] > max_timestamp:
                status = _TIMESTAMP
        else:
            i = start
            while buf[i] != 10:
                i += 1
            i += 1
            status = _parse_general_line(buf[start:i - 1], min_timestamp, max_timestamp, fields)
        status_counts[status] += 1
        if status == _OK:
            for column in range(5):
                out[column, n_events] = fields[column]
            n_events += 1
        elif n_recorded < bad_rows.shape[0]:
            stop = i - 1
            if stop > start and buf[stop - 1] == 13:
                stop -= 1
            bad_rows[n_recorded, 0] = n_lines
            bad_rows[n_recorded, 1] = status
            bad_rows[n_recorded, 2] = start
            bad_rows[n_recorded, 3] = stop
            n_recorded += 1
        n_lines += 1
    return n_events, n_lines, n_recorded


@numba.njit(cache=True, nogil=True)
def _parse_general_line(line, min_timestamp, max_timestamp, fields):
    """Status of one line (uint8 bytes without its newline); fills ``fields`` (5,) if it is valid.

    Blank = only spaces, tabs and CRs. Otherwise checked in order: 5 tab-separated fields, each an
    optionally ``-`` signed base-10 integer fitting int64, no negative id, timestamp in range.
    """
    n = line.shape[0]
    if n > 0 and line[n - 1] == 13:
        n -= 1
    column = 0
    value = 0
    digits = 0
    negative = False
    non_numeric = False
    any_negative = False
    non_blank = False
    for k in range(n + 1):
        c = line[k] if k < n else 9  # a virtual tab closes the last field
        if 48 <= c <= 57:
            if value > (_INT64_MAX - (c - 48)) // 10:
                non_numeric = True
            else:
                value = value * 10 + (c - 48)
            digits += 1
            non_blank = True
        elif c == 9:
            if digits == 0:
                non_numeric = True
            if column < 5:
                fields[column] = -value if negative else value
            any_negative = any_negative or (negative and column < 4)
            column += 1
            value = 0
            digits = 0
            negative = False
        elif c == 45 and digits == 0 and not negative:
            negative = True
            non_blank = True
        else:
            non_numeric = True
            non_blank = non_blank or (c != 32 and c != 13)
    if not non_blank:
        return _BLANK
    if column != 5:
        return _COLUMNS
    if non_numeric:
        return _NON_NUMERIC
    if any_negative:
        return _NEGATIVE
    if fields[4] < min_timestamp or fields[4] > max_timestamp:
        return _TIMESTAMP
    return _OK


def iter_event_chunks(path: str | os.PathLike, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                      bad_rows: str = "error", latest_timestamp: int | None = None,
                      report: ParseReport | None = None) -> Iterator[EventChunk]:
    """Stream ``LFM-1b_LEs.txt`` as :class:`EventChunk` s of about ``chunk_bytes`` of text each.

    Memory is bounded by ``chunk_bytes`` whatever the file size: about 2.6x it is resident (the
    text buffer, and the parsed columns: 40 bytes per ~25-byte line). A line is valid when it has
    exactly 5 tab-separated base-10 integers, no negative id and a timestamp in
    ``[EARLIEST_TIMESTAMP, latest_timestamp]`` (default: now).

    ``bad_rows="error"`` raises :class:`Lfm1bFormatError` at the first invalid or blank line, naming
    file, 1-based line and the problem; ``"skip"`` skips it and counts it by reason in ``report``
    (a :class:`ParseReport` you pass in to read the counts; they are final once the iterator is exhausted).
    An empty file yields nothing (zero events is valid, and logged as a warning).
    """
    if bad_rows not in ("error", "skip"):
        raise ValueError(f"bad_rows must be 'error' or 'skip', got {bad_rows!r}")
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    latest = int(time.time()) if latest_timestamp is None else int(latest_timestamp)
    report = report if report is not None else ParseReport(str(path))
    max_recorded = 1 if bad_rows == "error" else MAX_EXAMPLES
    with open(path, "rb") as file:
        for text in _complete_line_blocks(file, chunk_bytes):
            buf = np.frombuffer(text, dtype=np.uint8)
            out = np.empty((5, len(buf) // 10 + 1), dtype=np.int64)  # a valid line has >= 10 bytes
            status_counts = np.zeros(6, dtype=np.int64)
            recorded = np.zeros((max_recorded, 4), dtype=np.int64)
            n_events, n_lines, n_recorded = _parse_event_lines(buf, EARLIEST_TIMESTAMP, latest, out,
                                                               status_counts, recorded)
            first_line = report.lines + 1
            for line_index, status, start, stop in recorded[:n_recorded].tolist():
                message = _describe_bad_event_line(path, first_line + line_index, status,
                                                   bytes(text[start:stop]), latest)
                if bad_rows == "error":
                    raise Lfm1bFormatError(message)
                if len(report.examples) < MAX_EXAMPLES:
                    report.examples.append(message)
            report.bytes += len(buf)
            report.lines += n_lines
            report.events += n_events
            for status, reason in enumerate(SKIP_REASONS, start=1):
                setattr(report, reason, getattr(report, reason) + int(status_counts[status]))
            if n_events:
                yield EventChunk(*out[:, :n_events], first_line=first_line)
    if report.events == 0:
        log.warning("%s: no valid listening events (%d lines read)", path, report.lines)
    if report.n_skipped:
        log.warning("%s: skipped %d of %d lines: %s; first: %s", path, report.n_skipped, report.lines,
                    report.skipped, report.examples[:1])


class EventsFile:
    """``LFM-1b_LEs.txt`` as an event source of :func:`songvec.ingest.ingest_events`.

    ``bad_rows`` and ``latest_timestamp`` as for :func:`iter_event_chunks`; ``report`` is the
    :class:`ParseReport` of the reading (a source is read once). LFM-1b events are never removed as repeated
    (``unique`` is None): the file's own rows are taken as they are.
    """

    unique = None

    def __init__(self, path: str | os.PathLike, *, bad_rows: str = "error", latest_timestamp: int | None = None):
        self.path, self.bad_rows = str(path), bad_rows
        self.latest = int(time.time()) if latest_timestamp is None else int(latest_timestamp)
        if self.latest >= 2 ** 32:
            raise ValueError(f"latest_timestamp must be below 2**32 (year 2106), got {self.latest}")
        self.size_bytes = os.path.getsize(path)
        self.report = ParseReport(self.path)

    def chunks(self, chunk_bytes: int) -> Iterator[EventChunk]:
        return iter_event_chunks(self.path, chunk_bytes=chunk_bytes, bad_rows=self.bad_rows,
                                 latest_timestamp=self.latest, report=self.report)

    def repeated_event_error(self, user_id: int, timestamp: int, track_id: int) -> Exception:
        raise AssertionError("LFM-1b events are never checked for repeats")


def _complete_line_blocks(file, chunk_bytes: int) -> Iterator[memoryview]:
    """Yield successive views of about ``chunk_bytes`` of whole lines, each ending with a newline.

    A missing newline at the end of the file is added to the last block.
    A line longer than ``chunk_bytes`` is yielded whole. The view is only valid until the next
    iteration (the buffer is reused).
    """
    buffer = bytearray(chunk_bytes + 1)  # + 1: room for a missing final newline
    carried = 0
    while True:
        if carried == len(buffer) - 1:  # one line longer than the buffer: grow it
            grown = bytearray(2 * len(buffer))
            grown[:carried] = buffer[:carried]
            buffer = grown
        n_read = file.readinto(memoryview(buffer)[carried:len(buffer) - 1])
        filled = carried + n_read
        if n_read == 0:
            if filled:  # the last line has no newline: add one, so every block ends with one
                buffer[filled] = 10
                yield memoryview(buffer)[:filled + 1]
            return
        cut = buffer.rfind(b"\n", 0, filled) + 1
        if cut == 0:
            carried = filled
            continue
        yield memoryview(buffer)[:cut]
        buffer[:filled - cut] = buffer[cut:filled]
        carried = filled - cut


def _describe_bad_event_line(path, line_number: int, status: int, raw: bytes, latest: int) -> str:
    """The error message for one bad line (only runs on the error path, so plain Python is fine)."""
    text = raw.decode("utf-8", errors="replace")
    fields = text.split("\t")
    if status == _BLANK:
        what = "blank line"
    elif status == _COLUMNS:
        what = (f"expected {len(EVENT_COLUMNS)} tab-separated columns "
                f"({', '.join(EVENT_COLUMNS)}), found {len(fields)}")
    elif status == _NON_NUMERIC:
        name, value = next((name, value) for name, value in zip(EVENT_COLUMNS, fields)
                           if not _is_int64(value))
        what = f"{name} is not a 64-bit base-10 integer: {value!r}"
    elif status == _NEGATIVE:
        name, value = next((name, value) for name, value in zip(EVENT_COLUMNS, fields)
                           if value.startswith("-"))
        what = f"negative {name} {value}"
    else:
        what = (f"impossible timestamp {fields[4]}: outside [{EARLIEST_TIMESTAMP} (2002-01-01), "
                f"{latest} ({time.strftime('%Y-%m-%d', time.gmtime(latest))})]")
    quoted = text if len(text) <= _MAX_QUOTED_CHARS else text[:_MAX_QUOTED_CHARS] + "..."
    return f"{path}:{line_number}: {what}: {quoted!r}"


def _is_int64(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and abs(int(text)) <= _INT64_MAX


@dataclass
class _Lines:
    """The non-blank lines of a text file (Arrow strings, no line ends) with their 1-based numbers."""

    path: str
    text: pa.StringArray
    numbers: np.ndarray
    attrs: dict

    def where(self, index: int) -> str:
        """``"<file>:<line>"`` of the ``index``-th kept line."""
        return f"{self.path}:{int(self.numbers[index])}"

    def quote(self, index: int) -> str:
        return repr(self.text[index].as_py()[:_MAX_QUOTED_CHARS])


def read_tracks(path: str | os.PathLike) -> pd.DataFrame:
    """``LFM-1b_tracks.txt`` -> DataFrame(track_id int64, track_name str, artist_id int64), file order.

    The name is everything between the first and the last tab (so a tab inside a name is kept).
    Blank lines are skipped; decoding statistics are in ``df.attrs`` (see :func:`_read_lines`).
    """
    lines = _read_lines(path)
    layout = "track_id, track_name, artist_id"
    track_id, rest = _split_at_tab(lines, lines.text, layout, reverse=False)
    track_name, artist_id = _split_at_tab(lines, rest, layout, reverse=True)
    frame = pd.DataFrame({"track_id": _to_ids(lines, track_id, "track_id"),
                          "track_name": track_name.to_pandas(),
                          "artist_id": _to_ids(lines, artist_id, "artist_id")})
    frame.attrs.update(lines.attrs)
    return frame


def read_artists(path: str | os.PathLike) -> pd.DataFrame:
    """``LFM-1b_artists.txt`` -> DataFrame(artist_id int64, artist_name str), file order.

    The name is everything after the first tab. Blank lines are skipped; decoding statistics are
    in ``df.attrs``.
    """
    lines = _read_lines(path)
    artist_id, artist_name = _split_at_tab(lines, lines.text, "artist_id, artist_name", reverse=False)
    frame = pd.DataFrame({"artist_id": _to_ids(lines, artist_id, "artist_id"),
                          "artist_name": artist_name.to_pandas()})
    frame.attrs.update(lines.attrs)
    return frame


def read_genre_names(path: str | os.PathLike) -> list[str]:
    """``genres_*.txt`` -> genre names; genre id ``g`` is ``names[g]`` (its 0-based line number).

    A blank line would shift every later id, so one before the last name is an error.
    """
    lines = _read_lines(path, keep_blank=True)
    names = lines.text.to_pylist()
    while names and not names[-1].strip():
        names.pop()
    for index, name in enumerate(names):
        if not name.strip():
            raise Lfm1bFormatError(f"{lines.where(index)}: blank genre name (a genre id is its line number)")
    return names


def read_artist_genres(path: str | os.PathLike) -> pd.DataFrame:
    """``LFM-1b_artist_genres_*.txt`` -> DataFrame(artist_name str, genre_ids list[int]), file order.

    Each line is the artist name, then its genre ids (0-based ids into :func:`read_genre_names`),
    each followed by a tab. An artist without genres gets ``[]``; repeated names are all kept (the
    caller decides); ids are returned as read, so ids beyond the genre list are the caller's to
    detect. Blank lines are skipped; decoding statistics are in ``df.attrs``.
    """
    lines = _read_lines(path)
    names, genre_ids = [], []
    for index, line in enumerate(lines.text.to_pylist()):
        name, *ids = line.split("\t")
        if ids and ids[-1] == "":
            ids.pop()  # the trailing tab
        bad = [value for value in ids if not (value.isascii() and value.isdigit())]
        if bad:
            raise Lfm1bFormatError(f"{lines.where(index)}: genre id is not a non-negative integer: "
                                   f"{bad[0]!r} in {lines.quote(index)}")
        names.append(name)
        genre_ids.append([int(value) for value in ids])
    frame = pd.DataFrame({"artist_name": pd.Series(names, dtype=str),
                          "genre_ids": pd.Series(genre_ids, dtype=object)})
    frame.attrs.update(lines.attrs)
    return frame


def _read_lines(path, keep_blank: bool = False) -> _Lines:
    """The lines of a text file, without line ends (LF or CRLF; the last may lack its newline).

    Invalid UTF-8 becomes U+FFFD, never an error. Blank (whitespace-only) lines are dropped unless
    ``keep_blank``. ``attrs`` holds ``path``, ``lines`` (physical lines), ``blank_lines`` (dropped),
    ``decode_errors`` (U+FFFD characters inserted) and ``first_decode_error_line`` (1-based or None).
    """
    pieces, numbers = [], []
    n_lines = decode_errors = 0
    first_error_line = None
    with open(path, "rb") as file:
        for block in _complete_line_blocks(file, _READ_BLOCK_BYTES):
            raw = bytes(block)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                decode_errors += text.count(_REPLACEMENT) - raw.count(_REPLACEMENT.encode())
                if first_error_line is None:
                    first_error_line = n_lines + 1 + _first_undecodable_line(raw)
            split = text.split("\n")
            if text.endswith("\n"):
                split.pop()
            array = pc.utf8_rtrim(pa.array(split, type=pa.string()), characters="\r")
            keep = np.ones(len(split), dtype=bool) if keep_blank else \
                pc.utf8_length(pc.utf8_trim_whitespace(array)).to_numpy(zero_copy_only=False) > 0
            pieces.append(array.filter(pa.array(keep)))
            numbers.append(n_lines + 1 + np.flatnonzero(keep))
            n_lines += len(split)
    text = pa.chunked_array(pieces, type=pa.string()).combine_chunks() if pieces else \
        pa.array([], type=pa.string())
    line_numbers = np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)
    if decode_errors:
        log.warning("%s: %d invalid UTF-8 sequences replaced by U+FFFD (first on line %d)",
                    path, decode_errors, first_error_line)
    attrs = {"path": str(path), "lines": n_lines, "blank_lines": n_lines - len(line_numbers),
             "decode_errors": decode_errors, "first_decode_error_line": first_error_line}
    return _Lines(str(path), text, line_numbers, attrs)


_REPLACEMENT = "\ufffd"


def _first_undecodable_line(raw: bytes) -> int:
    """0-based index of the first line of ``raw`` that is not valid UTF-8."""
    for index, line in enumerate(raw.split(b"\n")):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return index
    raise AssertionError("no undecodable line although the block failed to decode")


def _split_at_tab(lines: _Lines, values: pa.StringArray, layout: str,
                  reverse: bool) -> tuple[pa.StringArray, pa.StringArray]:
    """Split each value at its first (or, if ``reverse``, last) tab; a value without a tab is an error."""
    parts = pc.split_pattern(values, "\t", max_splits=1, reverse=reverse)
    short = np.flatnonzero(pc.list_value_length(parts).to_numpy(zero_copy_only=False) < 2)
    if len(short):
        index = int(short[0])
        raise Lfm1bFormatError(f"{lines.where(index)}: too few tab-separated columns "
                               f"(expected {layout}): {lines.quote(index)}")
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


def _to_ids(lines: _Lines, values: pa.StringArray, name: str) -> np.ndarray:
    """Parse non-negative integer ids; anything else is an error naming the first bad line."""
    valid = pc.match_substring_regex(values, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
    if not valid.all():
        index = int(np.flatnonzero(~valid)[0])
        raise Lfm1bFormatError(f"{lines.where(index)}: {name} is not a non-negative integer: "
                               f"{values[index].as_py()!r} in {lines.quote(index)}")
    return pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)
