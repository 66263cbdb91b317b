"""Stream listening events into the sequence Parquet format of :mod:`songvec.sequences`.

The events come from an *event source*: ``LFM-1b_LEs.txt`` (:class:`songvec.lfm1b.EventsFile`) or a
plain events table (:class:`songvec.events_table.EventsTable`); both yield
:class:`songvec.lfm1b.EventChunk` s in file order, and this module does not know which it reads.
LFM-1b's file holds about 1 billion events (~30 GB) and is not chronological (blocks of ~1,000
events per user, newest first inside a block, users interleaved), so the ingest is an external sort
by ``(user_id, timestamp)`` whose memory is bounded by ``memory_budget_bytes`` whatever the input size:

1. **Parse, sample and spill** (the only read of the input; the parser runs one chunk ahead in
   a background thread). Events of users outside the sample are dropped. With
   ``min_song_plays > 1`` plays per track are counted here: this pass doubles as the counting pass
   the filter needs (a track's total must be known before any of its events is written), so the
   30 GB text is read once. The events fill a run buffer that, when full, is grouped by user
   (stable, so file order is kept inside a user) and spilled as one ``.npy`` file per column
   (uint32 when the values fit) into a fresh temporary folder; the run's users and their offsets
   stay in memory (the user column itself is not spilled).
2. **Plan**: consecutive user-id ranges whose events fit the budget (a user is never split; one
   user larger than the budget gets a range of its own, over budget, with a warning).
3. **Sort and write**, range by range: each run's slice of the range is read (contiguous, since
   runs are grouped by user), events of tracks with fewer than ``min_song_plays`` plays are
   dropped, the range is sorted by ``(user, timestamp)`` with a stable sort, consecutive plays of
   the same track by the same user are collapsed into the first (earliest) one, and the events are
   appended to the Parquet output (a source may ask for repeated events to be removed first, see
   :class:`EventSource`) in row groups of exactly :data:`ROW_GROUP_EVENTS` rows, encoded
   by a background thread.

Output order: users by increasing id, each user's events by increasing timestamp, events with
equal timestamps in file order (runs are read in file order and every sort is stable). Row groups
do not depend on the budget, so the output is byte-identical for any ``memory_budget_bytes``. The
output is written under a temporary name and renamed at the end; the spill folder is new for
every call and removed on exit (a killed run leaves a ``.spill-*`` folder, which the next ingest of
the same output removes).
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from songvec import atomic
from songvec.atomic import atomic_path
from songvec.lfm1b import EventChunk, EventsFile
from songvec.progress import Progress
from songvec.sequences import COLUMNS, PARQUET_OPTIONS, SCHEMA

log = logging.getLogger(__name__)

#: Rows per Parquet row group of the output (fixed, so the file does not depend on the budget).
ROW_GROUP_EVENTS = 1 << 20
#: Bytes of working memory per buffered event, pass 1: 4 int64 columns + one grouped column.
_PASS1_BYTES_PER_EVENT = 40
#: Bytes per event, pass 2: 4 int64 columns read, sort key (+ its temporary), order, sort workspace,
#: 4 columns sorted.
_PASS2_BYTES_PER_EVENT = 96
_MIN_BATCH_EVENTS = 16
_MIN_CHUNK_BYTES = 256
_MAX_CHUNK_BYTES = 32 * 1024 ** 2
_SPILLED = ("track_id", "artist_id", "timestamp")
#: What pass 2 removes as repeated events (:attr:`EventSource.unique`), and its kernel's code.
UNIQUE_CODES = {None: 0, "row": 1, "position": 2}


class EventSource(Protocol):
    """What :func:`ingest_events` reads.

    Attributes:
        path: the file, for messages.
        size_bytes: its size, for the progress estimate.
        report: counts of what :meth:`chunks` read so far: ``lines``, ``events`` (valid rows
            yielded), ``bytes`` (of ``size_bytes`` consumed), ``skipped`` (rows per reason) and
            ``examples`` (messages quoting the first skipped rows).
        bad_rows: ``"error"`` or ``"skip"`` (also for the repeated events of pass 2).
        unique: None, or which repeated events pass 2 removes (after sorting, before collapsing):
            ``"row"``, a row with the same user, timestamp and track as an earlier one;
            ``"position"``, a row with the same user (playlist) and timestamp (position).
    """

    path: str
    size_bytes: int
    report: object
    bad_rows: str
    unique: str | None

    def chunks(self, chunk_bytes: int) -> Iterator[EventChunk]:
        """The valid events in file order, as chunks of about ``chunk_bytes`` of input each."""

    def repeated_event_error(self, user_id: int, timestamp: int, track_id: int) -> Exception:
        """The error for a repeated event (:attr:`unique`) under ``bad_rows="error"``, naming where it is."""


def ingest_events(events: str | os.PathLike | EventSource, out_path: str | os.PathLike, *,
                  consecutive_duplicates: str = "collapse", user_fraction: float = 1.0,
                  min_song_plays: int = 1, seed: int = 0, bad_rows: str = "error",
                  memory_budget_bytes: int = 2 * 1024 ** 3, tmp_dir: str | os.PathLike | None = None,
                  latest_timestamp: int | None = None) -> dict:
    """Convert the listening events of ``events`` into a sequence Parquet file at ``out_path``.

    Args:
        events: an :class:`EventSource`, or the path of an ``LFM-1b_LEs.txt`` (read by
            :class:`songvec.lfm1b.EventsFile` with ``bad_rows`` and ``latest_timestamp``; a source
            carries its own).
        consecutive_duplicates: ``"collapse"`` keeps only the first of consecutive plays of the same
            track by the same user (after sorting by time); ``"keep"`` keeps them all.
        user_fraction: fraction of users kept, in (0, 1]; user ``u`` is kept iff a hash of
            ``(u, seed)`` falls below it, so the choice depends neither on chunking nor on order.
        min_song_plays: drop the events of tracks with fewer plays than this in the sampled
            events (counted before collapsing repeats; the collapse can leave a kept track with
            fewer plays than this in the output).
        seed: integer in [0, 2**64) for the user sample.
        bad_rows: for a path, ``"error"`` (raise on the first bad line) or ``"skip"`` (count and
            skip), see :func:`songvec.lfm1b.iter_event_chunks`.
        memory_budget_bytes: working memory for events; the total peak is about this plus 1 byte
            per track id (distinct-track marker; 9 with ``min_song_plays > 1``: play counts), the
            interpreter and libraries (~300 MB) and two output row groups being written (~64 MB).
        tmp_dir: where the spill folder is created (default: the folder of ``out_path``). Needs
            12 bytes per sampled event of free space (24 with ids of 2**32 and above). Not to be
            shared with a concurrent ingest into a file of the same name (each removes the other's
            spill folder as left by a killed run).
        latest_timestamp: for a path, events after this Unix time are impossible (default: now).

    Returns:
        A JSON-able summary: ``lines_read``, ``events_read``, ``skipped`` (lines per reason),
        ``skipped_examples``, ``users_read``, ``removed_by_user_sampling``, ``users_sampled``,
        ``removed_by_min_song_plays``, ``tracks_below_min_song_plays``, ``removed_as_repeated``
        (repeated events a source asked to remove, under ``bad_rows="skip"``),
        ``consecutive_duplicates_collapsed``, ``users``, ``tracks``, ``events_written``,
        ``spill_runs``, ``user_ranges``, ``seconds``. Every event read is accounted for:
        ``events_read == events_written + removed_by_user_sampling + removed_by_min_song_plays
        + removed_as_repeated + consecutive_duplicates_collapsed``.
    """
    if consecutive_duplicates not in ("collapse", "keep"):
        raise ValueError(f"consecutive_duplicates must be 'collapse' or 'keep', "
                         f"got {consecutive_duplicates!r}")
    if not 0.0 < user_fraction <= 1.0:
        raise ValueError(f"user_fraction must be in (0, 1], got {user_fraction}")
    if int(min_song_plays) != min_song_plays or min_song_plays < 1:
        raise ValueError(f"min_song_plays must be a positive integer, got {min_song_plays}")
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
    source = events if hasattr(events, "chunks") else \
        EventsFile(events, bad_rows=bad_rows, latest_timestamp=latest_timestamp)
    started = time.perf_counter()
    plan = _MemoryPlan.from_budget(memory_budget_bytes)
    out_path = Path(out_path)
    spill_root = Path(tmp_dir) if tmp_dir is not None else out_path.parent
    spill_root.mkdir(parents=True, exist_ok=True)
    atomic.remove_leftovers(spill_root, f".spill-{out_path.name}-")
    spill_dir = Path(tempfile.mkdtemp(prefix=f".spill-{out_path.name}-", dir=spill_root))
    try:
        spill = _spill_runs(source, spill_dir, plan, user_fraction, seed, count_plays=min_song_plays > 1)
        summary = _write_sorted(spill, source, out_path, plan, consecutive_duplicates == "collapse",
                                int(min_song_plays))
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    report = spill.report
    summary = {"lines_read": report.lines, "events_read": report.events, "skipped": report.skipped,
               "skipped_examples": report.examples, "users_read": spill.users_read,
               "removed_by_user_sampling": spill.removed_by_user_sampling,
               "users_sampled": len(spill.user_ids), **summary, "spill_runs": len(spill.runs),
               "seconds": round(time.perf_counter() - started, 3)}
    accounted = (summary["events_written"] + summary["removed_by_user_sampling"]
                 + summary["removed_by_min_song_plays"] + summary["removed_as_repeated"]
                 + summary["consecutive_duplicates_collapsed"])
    assert accounted == report.events, f"ingest lost events: {accounted} accounted of {report.events}"
    log.info("ingest %s -> %s: %s", source.path, out_path, summary)
    return summary


@dataclass(frozen=True)
class _MemoryPlan:
    """How ``memory_budget_bytes`` is split: text per parser chunk, events per run and per range."""

    chunk_bytes: int
    run_events: int
    range_events: int

    @classmethod
    def from_budget(cls, budget: int) -> "_MemoryPlan":
        # parser: its text buffer plus up to 3 chunks of parsed columns (one being parsed, one
        # queued, one being consumed), each ~1.6x its text (40 bytes per ~25-byte line)
        chunk_bytes = int(np.clip(budget // 32, _MIN_CHUNK_BYTES, _MAX_CHUNK_BYTES))
        events_budget = budget - 6 * chunk_bytes
        minimum = 6 * _MIN_CHUNK_BYTES + _MIN_BATCH_EVENTS * _PASS1_BYTES_PER_EVENT
        if events_budget < _MIN_BATCH_EVENTS * _PASS1_BYTES_PER_EVENT:
            raise ValueError(f"memory_budget_bytes={budget} is too small (minimum {minimum})")
        return cls(chunk_bytes, events_budget // _PASS1_BYTES_PER_EVENT, budget // _PASS2_BYTES_PER_EVENT)


@dataclass
class _Run:
    """One spilled run: its users (sorted, unique) with event offsets, and one file per column."""

    user_ids: np.ndarray  # (k,) int64
    starts: np.ndarray  # (k + 1,) int64: user_ids[j]'s events are rows starts[j]:starts[j + 1]
    files: dict[str, Path]


@dataclass
class _Spill:
    """What pass 1 leaves for pass 2."""

    report: object  # the source's report (EventSource.report)
    runs: list[_Run]
    user_ids: np.ndarray  # (n,) int64, every sampled user, sorted
    user_events: np.ndarray  # (n,) int64, events of each sampled user
    plays: np.ndarray | None  # (max track id + 1,) int64 plays per track if counted, else None
    users_read: int
    removed_by_user_sampling: int


def _spill_runs(source: EventSource, spill_dir: Path, plan: _MemoryPlan, user_fraction: float, seed: int,
                count_plays: bool) -> _Spill:
    """Pass 1: parse (in a background thread), sample users, count plays, spill runs grouped by user."""
    report = source.report
    progress = Progress("ingest pass 1/2 (parse, sample, spill)", None, "events", log)
    buffer = _RunBuffer(plan.run_events, spill_dir)
    plays = np.zeros(1, dtype=np.int64) if count_plays else None
    users_read = np.zeros(0, dtype=np.int64)
    removed = 0
    for chunk in _in_background(source.chunks(plan.chunk_bytes)):
        heads = _run_heads(chunk.user_id)  # users come in blocks: per-block work is cheap
        block_users = chunk.user_id[heads]
        users_read = np.union1d(users_read, block_users)
        columns = (chunk.user_id, chunk.track_id, chunk.artist_id, chunk.timestamp)
        if user_fraction < 1.0:
            keep = np.repeat(_user_sample_mask(block_users, user_fraction, seed),
                             np.diff(np.append(heads, len(chunk))))
            columns = tuple(column[keep] for column in columns)
            removed += len(chunk) - len(columns[0])
        if count_plays:
            plays = _count_ids(plays, columns[1], "track_id")
        buffer.extend(columns)
        progress.total = report.events / max(report.bytes, 1) * source.size_bytes
        progress.update(len(chunk))
    buffer.flush()
    progress.total = progress.done
    progress.finish()
    runs = buffer.runs
    user_ids, inverse = np.unique(np.concatenate([run.user_ids for run in runs] or [np.zeros(0, np.int64)]),
                                  return_inverse=True)
    run_lengths = np.concatenate([np.diff(run.starts) for run in runs] or [np.zeros(0, np.int64)])
    user_events = np.zeros(len(user_ids), dtype=np.int64)
    np.add.at(user_events, inverse, run_lengths)
    return _Spill(report, runs, user_ids, user_events, plays, len(users_read), removed)


def _in_background(iterable, depth: int = 1):
    """Iterate ``iterable`` in a background thread that runs up to ``depth`` items ahead.

    Worth it when producing an item releases the GIL (the numba parser and file reads do), so
    parsing overlaps with the caller's work on the previous chunk. Exceptions are re-raised here.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message) -> bool:
        while not stop.is_set():
            try:
                items.put(message, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in iterable:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(("error", error))

    thread = threading.Thread(target=produce, name="ingest-parser", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


class _RunBuffer:
    """Collects sampled events and spills them as runs grouped by user when full."""

    def __init__(self, capacity: int, spill_dir: Path):
        self.capacity, self.spill_dir = capacity, spill_dir
        self.columns = np.empty((4, capacity), dtype=np.int64)  # user, track, artist, timestamp
        self.size = 0
        self.runs: list[_Run] = []

    def extend(self, columns: tuple[np.ndarray, ...]) -> None:
        done, n = 0, len(columns[0])
        while done < n:
            take = min(n - done, self.capacity - self.size)
            for row, column in enumerate(columns):
                self.columns[row, self.size:self.size + take] = column[done:done + take]
            self.size += take
            done += take
            if self.size == self.capacity:
                self.flush()

    def flush(self) -> None:
        """Spill the buffered events grouped by user (stably), whole blocks of one user at a time.

        Listening events come in blocks of one user, so ordering the blocks (not the events) is
        ~100x cheaper than a stable argsort of the events and gives the same order.
        """
        if self.size == 0:
            return
        users = self.columns[0, :self.size]
        heads = _run_heads(users)
        lengths = np.diff(np.append(heads, self.size))
        block_order = np.argsort(users[heads], kind="stable")
        starts, lengths = heads[block_order], lengths[block_order]
        block_users = users[starts]
        block_offsets = np.append(0, np.cumsum(lengths))
        user_heads = _run_heads(block_users)
        files = {}
        for row, name in enumerate(_SPILLED, start=1):
            values = self.columns[row, :self.size]
            grouped = np.empty(self.size, dtype=_spill_dtype(values))
            _copy_blocks(values, starts, lengths, grouped)
            files[name] = self.spill_dir / f"run{len(self.runs):06d}-{name}.npy"
            np.save(files[name], grouped)
        user_starts = np.append(block_offsets[user_heads], self.size)
        self.runs.append(_Run(block_users[user_heads], user_starts, files))
        self.size = 0


def _spill_dtype(values: np.ndarray) -> type:
    """The smallest of uint32, int32 (ids of -1: unknown artists) and int64 that holds ``values``."""
    low, high = int(values.min()), int(values.max())
    if 0 <= low and high < 2 ** 32:
        return np.uint32
    return np.int32 if -2 ** 31 <= low and high < 2 ** 31 else np.int64


@numba.njit(cache=True, nogil=True)
def _copy_blocks(values, starts, lengths, out):
    """``out`` = the blocks ``values[starts[b]:starts[b] + lengths[b]]`` one after the other
    (cast to ``out``'s dtype, which the caller checked can hold them)."""
    k = 0
    for b in range(len(starts)):
        start = starts[b]
        for j in range(lengths[b]):
            out[k] = values[start + j]
            k += 1


def _run_heads(values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal consecutive values starts ((k,) int64, [0] first if non-empty)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, values[1:] != values[:-1]])


def _user_sample_mask(user_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(n,) bool: user kept iff splitmix64(user_id xor splitmix64(seed)) / 2**64 < fraction."""
    seed_hash = _splitmix64(np.array([seed], dtype=np.uint64))[0]
    hashed = _splitmix64(user_ids.astype(np.uint64) ^ seed_hash)
    return (hashed >> np.uint64(11)) < np.uint64(int(fraction * 2 ** 53))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer (a bijective 64-bit mix) of each uint64, with wrap-around arithmetic."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _count_ids(counts: np.ndarray, ids: np.ndarray, name: str) -> np.ndarray:
    """Add one to ``counts[i]`` for every ``i`` in ``ids`` (non-negative), growing ``counts`` as needed.

    ``counts`` is dense (8 bytes per possible id): fine for LFM-1b, whose ids are dense (tracks up
    to ~32M); ids of 2**32 and above are refused with a clear message rather than a MemoryError.
    """
    if len(ids) == 0:
        return counts
    largest = int(ids.max())
    if largest >= 2 ** 32:
        raise ValueError(f"{name} {largest} is too large: per-{name} counts are a dense array, "
                         f"ids must be below 2**32")
    counts = _grown(counts, largest + 1)
    _add_counts(counts, ids)
    return counts


@numba.njit(cache=True, nogil=True)
def _add_counts(counts, ids):
    for i in ids:
        counts[i] += 1


def _write_sorted(spill: _Spill, source: EventSource, out_path: Path, plan: _MemoryPlan, collapse: bool,
                  min_song_plays: int) -> dict:
    """Pass 2: per user range, read the runs' slices, filter, sort, collapse and write."""
    plays = spill.plays if spill.plays is not None else np.zeros(0, dtype=np.int64)
    unique = UNIQUE_CODES[source.unique]
    written_tracks = np.zeros(1, dtype=bool)
    ranges = _user_ranges(spill.user_events, plan.range_events)
    largest = max((int(spill.user_events[first:stop].sum()) for first, stop in ranges), default=0)
    buffers = np.empty((len(_SPILLED) + 1, largest), dtype=np.int64)  # reused by every range
    sorted_events = np.empty((len(COLUMNS), largest), dtype=np.int64)
    progress = Progress("ingest pass 2/2 (sort, write)", int(spill.user_events.sum()), "events", log)
    removed_rare = removed_repeated = collapsed = written = users_written = 0
    with atomic_path(out_path, suffix=".parquet") as tmp:
        with _RowGroupWriter(tmp) as writer:
            for first, stop in ranges:
                range_users = spill.user_ids[first:stop]
                n_read = int(spill.user_events[first:stop].sum())
                rank, tracks, artists, timestamps = _read_range(spill.runs, range_users, buffers[:, :n_read])
                order = np.argsort((rank << 32) | timestamps, kind="stable")
                if n_read:
                    written_tracks = _grown(written_tracks, int(tracks.max()) + 1)
                n_out, n_users, n_rare, n_repeated, example = _emit_sorted(
                    order, rank, tracks, artists, timestamps, range_users, plays, min_song_plays, unique,
                    collapse, written_tracks, sorted_events)
                if n_repeated and source.bad_rows == "error":
                    raise source.repeated_event_error(*(int(value) for value in example))
                removed_rare += n_rare
                removed_repeated += n_repeated
                collapsed += n_read - n_rare - n_repeated - n_out
                users_written += n_users
                written += n_out
                writer.append(sorted_events[:, :n_out])
                progress.update(n_read)
    progress.finish()
    if len(ranges) and int(spill.user_events.max()) > plan.range_events:
        log.warning("one user has %d events, more than fit the memory budget (%d): it was sorted "
                    "alone, over budget", int(spill.user_events.max()), plan.range_events)
    if removed_repeated:
        log.warning("%s: skipped %d repeated events (same %s as an earlier row)", source.path, removed_repeated,
                    "user, timestamp and track" if source.unique == "row" else "playlist and position")
    below = int(((plays > 0) & (plays < min_song_plays)).sum())
    return {"removed_by_min_song_plays": removed_rare, "tracks_below_min_song_plays": below,
            "removed_as_repeated": removed_repeated, "consecutive_duplicates_collapsed": collapsed,
            "users": users_written, "tracks": int(written_tracks.sum()), "events_written": written,
            "user_ranges": len(ranges)}


@numba.njit(cache=True, nogil=True)
def _emit_sorted(order, rank, tracks, artists, timestamps, range_users, plays, min_song_plays, unique, collapse,
                 written_tracks, out):
    """Write the events in ``order`` to ``out`` (4, >= n) rows user_id, track_id, artist_id, timestamp.

    Drops, in this order: events of tracks with ``plays[track] < min_song_plays`` (only checked
    when ``min_song_plays > 1``); with ``unique`` 1 an event whose user, timestamp and track equal
    those of an earlier event, with ``unique`` 2 one whose user and timestamp do (``order`` sorts by
    user and timestamp, so such events are neighbours); then with ``collapse`` an event with the
    same user and track as the last event written. Sets ``written_tracks[track]`` for every written
    event. Returns (events written, users written, events dropped as rare, events dropped as
    repeated, (user_id, timestamp, track_id) of the first repeated event).
    """
    n_out = 0
    n_users = 0
    n_rare = 0
    n_repeated = 0
    example = (-1, -1, -1)
    last_rank = -1
    last_track = -1
    key_rank = -1  # user rank and timestamp of the previous event that was not rare
    key_time = -1
    key_start = 0  # position in order where the events with that (user, timestamp) start
    for position in range(len(order)):
        i = order[position]
        r = rank[i]
        track = tracks[i]
        if min_song_plays > 1 and plays[track] < min_song_plays:
            n_rare += 1
            continue
        same_key = r == key_rank and timestamps[i] == key_time
        if not same_key:
            key_rank, key_time, key_start = r, timestamps[i], position
        repeated = unique == 2 and same_key
        if unique == 1 and same_key:
            for j in range(key_start, position):  # a rare track never equals this one
                if tracks[order[j]] == track:
                    repeated = True
                    break
        if repeated:
            if n_repeated == 0:
                example = (range_users[r], timestamps[i], track)
            n_repeated += 1
            continue
        if r != last_rank:
            n_users += 1
        elif collapse and track == last_track:
            continue
        out[0, n_out] = range_users[r]
        out[1, n_out] = track
        out[2, n_out] = artists[i]
        out[3, n_out] = timestamps[i]
        written_tracks[track] = True
        last_rank = r
        last_track = track
        n_out += 1
    return n_out, n_users, n_rare, n_repeated, example


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` zero-padded to at least ``size`` entries (doubling, so growth is amortized)."""
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def _user_ranges(user_events: np.ndarray, range_events: int) -> list[tuple[int, int]]:
    """Split users (in id order) into consecutive ``[first, stop)`` ranges of at most
    ``range_events`` events each (a user with more events gets a range of its own)."""
    ranges, first, total = [], 0, 0
    for index, events in enumerate(user_events.tolist()):
        if total + events > range_events and index > first:
            ranges.append((first, index))
            first, total = index, 0
        total += events
    if first < len(user_events):
        ranges.append((first, len(user_events)))
    return ranges


def _read_range(runs: list[_Run], range_users: np.ndarray, out: np.ndarray) -> list[np.ndarray]:
    """Every run's events of the (sorted) ``range_users``, concatenated in run order into ``out``.

    ``out`` is (4, n) int64 with n the range's event count; returns its rows [rank, track_id,
    artist_id, timestamp] (file order inside each user). ``rank`` is the user's index in
    ``range_users``, so ``(rank << 32) | timestamp`` is a sort key.
    """
    rank = out[0]
    filled = 0
    for run in runs:
        first = np.searchsorted(run.user_ids, range_users[0], side="left")
        stop = np.searchsorted(run.user_ids, range_users[-1], side="right")
        if first == stop:
            continue
        begin, end = run.starts[first], run.starts[stop]
        size = end - begin
        rank[filled:filled + size] = np.repeat(np.searchsorted(range_users, run.user_ids[first:stop]),
                                               np.diff(run.starts[first:stop + 1]))
        for row, name in enumerate(_SPILLED, start=1):
            out[row, filled:filled + size] = np.load(run.files[name], mmap_mode="r")[begin:end]
        filled += size
    assert filled == out.shape[1], (filled, out.shape)
    return list(out)


class _RowGroupWriter:
    """Appends event columns to a Parquet file in row groups of exactly ROW_GROUP_EVENTS rows.

    A full row group is encoded and written by a background thread (Arrow releases the GIL)
    while the next one fills the other of two buffers.
    """

    def __init__(self, path: Path):
        self.writer = pq.ParquetWriter(path, SCHEMA, **PARQUET_OPTIONS)
        self.buffers = [np.empty((len(COLUMNS), ROW_GROUP_EVENTS), dtype=np.int64) for _ in range(2)]
        self.in_flight: list[Future | None] = [None, None]
        self.current = self.size = 0
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")

    def append(self, events: np.ndarray) -> None:
        """Append ``events`` (4, n) int64, rows in :data:`songvec.sequences.COLUMNS` order."""
        done, n = 0, events.shape[1]
        while done < n:
            take = min(n - done, ROW_GROUP_EVENTS - self.size)
            self.buffers[self.current][:, self.size:self.size + take] = events[:, done:done + take]
            self.size += take
            done += take
            if self.size == ROW_GROUP_EVENTS:
                self._submit()

    def _submit(self) -> None:
        table = pa.table(list(self.buffers[self.current][:, :self.size]), schema=SCHEMA)
        self.in_flight[self.current] = self.thread.submit(self.writer.write_table, table)
        self.current, self.size = 1 - self.current, 0
        if self.in_flight[self.current] is not None:  # the other buffer may still be being written
            self.in_flight[self.current].result()

    def __enter__(self) -> "_RowGroupWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                if self.size:
                    self._submit()
                for future in self.in_flight:
                    if future is not None:
                        future.result()  # re-raises a failed write
        finally:
            self.thread.shutdown(wait=True)
            self.writer.close()
