"""Hard-negative mining with a chi-squared test on song bigrams, and the HardNeg metric (paper 2.2, the
task the paper calls false neighbour rejection).

A *bigram instance* is a pair of consecutive events ``(s_t, s_t+1)`` of one listening sequence with
``s_t != s_t+1``; it is counted unordered, as the pair ``{s_t, s_t+1}``. Pairs are never formed across
two sequences, and immediate self-repeats (``s_t == s_t+1``) are skipped and counted.

For every pair ``{a, b}`` the 2x2 contingency table over all ``n_total`` bigram instances is::

                         contains b           does not contain b
    contains a           n_ab                 n_a - n_ab
    does not contain a   n_b - n_ab           n_total - n_a - n_b + n_ab

with ``n_ab`` the instances of the pair itself (its co-occurrence count) and ``n_a`` the instances
containing ``a`` (with any other song). Under independence ``n_ab`` is expected to be about
``n_a * n_b / n_total``; the Pearson chi-squared statistic (no continuity correction) measures the
departure from it. A *hard negative* of a song is another song with high co-occurrence
(``n_ab >= min_cooccurrence``) whose chi-squared statistic is below ``chi2_factor`` times the number
of events (song occurrences) in the sequences: the paper's footnote 1 uses ``chi2_factor = 1e-7``
on 255B events. Such pairs follow each other often, but no more often than their popularity
predicts. HardNeg is the fraction of a song's top-k embedding neighbours that are its hard
negatives (the smaller the better).

Reading the threshold: the statistic equals ``n_total * phi**2`` (phi: the table's correlation
coefficient) and ``n_total`` is about the number of events, so ``chi2 < chi2_factor * events`` is
roughly ``phi**2 < chi2_factor``: a bound on the effect size that does not grow with the data. What
does depend on the size is the sampling noise: for an independent pair the statistic follows a
chi-squared law with one degree of freedom (mean 1), so on a small dataset a threshold far below 1
keeps only the few independent pairs that happen to land very close to their expected count.

Counting in bounded memory: a pair ``{a, b}`` (``a < b``, track ids in ``[0, 2**31)``) is the int64
key ``a << 31 | b``, so keys sort like ``(a, b)``. Each batch of sequences is reduced on its own to
sorted ``(key, count)`` *records* (one Numba pass writing a key per bigram instance, an in-place
sort, one run-length pass) while the per-song counts ``n_a`` are summed in a dense array. Records
stay in memory while they fit in the memory budget; beyond it they are spilled to disk in hash
partitions of the key, and each partition is merged (counts of equal keys summed) and tested on its
own. The result does not depend on the budget nor on the batches. Memory is given in
:func:`mine_hard_negatives`.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from songvec import atomic
from songvec.progress import Progress
from songvec.sequences import Sequences

_log = logging.getLogger(__name__)

PAIR_COLUMNS = ("song_a", "song_b", "cooccurrences", "chi2")
"""Columns of the hard-negative pairs table (see :func:`mine_hard_negatives`)."""

ID_BITS = 31
"""Bits of a track id in a pair key ``a << ID_BITS | b``: ids must lie in ``[0, 2**31)``."""
_ID_MASK = (1 << ID_BITS) - 1
RECORD_BYTES = 32
"""Memory budgeted per ``(key, count)`` record: 16 bytes, plus as much for the buffer that merges it."""
PARTITION_SLACK = 1.25
"""Partitions are sized for this many times the expected records, so that few need splitting again."""
DEFAULT_MEMORY_BUDGET_BYTES = 1 << 30
SPILL_PREFIX = ".tmp-bigram-spill-"
"""Name prefix of the spill folders; leftovers of a killed run are removed by the next run."""


@dataclass
class BigramCounts:
    """Unordered adjacent bigram counts (see the module docstring).

    Attributes:
        song_a, song_b: (P,) int64 track ids of each distinct pair, ``song_a < song_b``, sorted by
            ``(song_a, song_b)``.
        count: (P,) int64 instances of each pair.
        n_instances: total bigram instances (``count.sum()``).
        n_self_repeats: adjacent events with the same track, skipped.
    """

    song_a: np.ndarray
    song_b: np.ndarray
    count: np.ndarray
    n_instances: int
    n_self_repeats: int


def count_bigrams(seqs: Sequences) -> BigramCounts:
    """Count the unordered adjacent bigrams of all sequences of ``seqs`` (see the module docstring).

    Track ids must lie in ``[0, 2**31)`` (``ValueError`` otherwise). Memory: about 24 bytes per event.
    """
    records, n_self_repeats = _batch_records(seqs, batch_index=0)
    keys, counts = records[:, 0], records[:, 1]
    return BigramCounts(keys >> ID_BITS, keys & _ID_MASK, counts.copy(), int(counts.sum()), n_self_repeats)


def _batch_records(seqs: Sequences, batch_index: int) -> tuple[np.ndarray, int]:
    """``(records (R, 2), n_self_repeats)``: the rows ``(key, count)`` of the distinct pair keys of the
    bigram instances of ``seqs``, by increasing key, with their instances.

    Memory: 8 bytes per event plus 16 per distinct pair. ``batch_index`` only serves error messages.
    """
    offsets, tracks = seqs.offsets, np.asarray(seqs.tracks, dtype=np.int64)
    if (len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(tracks)
            or np.any(np.diff(offsets) < 0)):
        raise ValueError(f"batch {batch_index}: sequences have inconsistent offsets: need offsets[0] == 0, "
                         f"non-decreasing, offsets[-1] == number of events ({len(tracks)})")
    if len(tracks) and (tracks.min() < 0 or tracks.max() > _ID_MASK):
        event = int(np.flatnonzero((tracks < 0) | (tracks > _ID_MASK))[0])
        user = seqs.user_ids[np.searchsorted(offsets, event, side="right") - 1]
        raise ValueError(f"track id {tracks[event]} (user {user}, batch {batch_index}) is outside "
                         f"[0, 2**{ID_BITS}): a bigram key holds two track ids of {ID_BITS} bits")
    keys, n_self_repeats = _adjacent_pair_keys(tracks, offsets)
    keys.sort()
    return _run_lengths(keys), int(n_self_repeats)


@numba.njit(cache=True, nogil=True)
def _adjacent_pair_keys(ids, offsets):
    """Bigram instances of the track ids ``ids``, self-repeats left out.

    Returns ``(keys (n,), n_self_repeats)``: one unsorted key ``min(a, b) << 31 | max(a, b)`` per
    instance. ``offsets`` and the id range must be checked by the caller (no bounds checks).
    """
    keys = np.empty(max(len(ids) - 1, 0), dtype=np.int64)
    n_keys = 0
    n_self_repeats = 0
    for sequence in range(len(offsets) - 1):
        start, end = offsets[sequence], offsets[sequence + 1]
        if end - start < 2:
            continue
        previous = ids[start]
        for t in range(start + 1, end):
            current = ids[t]
            if current == previous:
                n_self_repeats += 1
                continue
            keys[n_keys] = (min(previous, current) << ID_BITS) | max(previous, current)
            n_keys += 1
            previous = current
    return keys[:n_keys], n_self_repeats


@numba.njit(cache=True, nogil=True)
def _run_lengths(sorted_keys):
    """(R, 2) int64 rows ``(key, count)``: the distinct values of a sorted int64 array and how often."""
    n_unique = 0
    for i in range(len(sorted_keys)):
        if i == 0 or sorted_keys[i] != sorted_keys[i - 1]:
            n_unique += 1
    records = np.empty((n_unique, 2), dtype=np.int64)
    run_start = 0
    run = 0
    for i in range(1, len(sorted_keys) + 1):
        if i == len(sorted_keys) or sorted_keys[i] != sorted_keys[i - 1]:
            records[run, 0], records[run, 1] = sorted_keys[i - 1], i - run_start
            run += 1
            run_start = i
    return records


@numba.njit(cache=True, nogil=True)
def _add_instances_containing(records, containing):
    """Add each record's count to both songs of its key in ``containing`` (indexed by track id)."""
    for r in range(len(records)):
        containing[records[r, 0] >> ID_BITS] += records[r, 1]
        containing[records[r, 0] & _ID_MASK] += records[r, 1]


@numba.njit(cache=True, nogil=True)
def _merge_sorted_runs(records):
    """Sort the (n, 2) rows ``(key, count)`` by key and sum the counts of equal keys, in place.

    The rows are cut into runs of increasing keys (a run ends before a key that is not larger than
    the previous one), merged pairwise until one run is left: ``O(n log runs)`` time, so a
    concatenation of a few sorted record arrays costs a few linear passes. Any input is accepted.
    Returns ``m``: ``records[:m]`` holds the distinct keys in increasing order with their summed
    counts. Uses a buffer of the same size (16 bytes per record).
    """
    n = len(records)
    n_runs = 1 if n else 0
    for i in range(1, n):
        if records[i, 0] <= records[i - 1, 0]:
            n_runs += 1
    if n_runs <= 1:
        return n
    bounds = np.empty(n_runs + 1, dtype=np.int64)
    run = 1
    bounds[0] = 0
    for i in range(1, n):
        if records[i, 0] <= records[i - 1, 0]:
            bounds[run] = i
            run += 1
    bounds[n_runs] = n
    source, target = records, np.empty_like(records)
    in_buffer = False
    out = 0
    while n_runs > 1:
        n_merged = (n_runs + 1) // 2
        merged_bounds = np.empty(n_merged + 1, dtype=np.int64)
        merged_bounds[0] = 0
        out = 0
        for pair in range(n_merged):
            a, a_end = bounds[2 * pair], bounds[2 * pair + 1]
            b = b_end = a_end
            if 2 * pair + 2 <= n_runs:
                b_end = bounds[2 * pair + 2]
            while a < a_end or b < b_end:
                if b == b_end or (a < a_end and source[a, 0] < source[b, 0]):
                    target[out, 0], target[out, 1] = source[a, 0], source[a, 1]
                    a += 1
                elif a == a_end or source[b, 0] < source[a, 0]:
                    target[out, 0], target[out, 1] = source[b, 0], source[b, 1]
                    b += 1
                else:
                    target[out, 0], target[out, 1] = source[a, 0], source[a, 1] + source[b, 1]
                    a += 1
                    b += 1
                out += 1
            merged_bounds[pair + 1] = out
        source, target = target, source
        in_buffer = not in_buffer
        bounds, n_runs = merged_bounds, n_merged
    if in_buffer:
        records[:out] = source[:out]
    return out


@numba.njit(cache=True, nogil=True)
def _partition_of(key, n_partitions, salt):
    """Partition of a pair key: splitmix64 of ``key + salt * golden ratio``, modulo ``n_partitions``."""
    z = np.uint64(key) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z >> np.uint64(1)) % n_partitions


@numba.njit(cache=True, nogil=True)
def _partition_records(records, n_partitions, salt):
    """``(grouped (R, 2), starts (n_partitions + 1,))``: the records grouped by hash partition of their
    key, partition ``i`` at ``grouped[starts[i]:starts[i + 1]]``, in their original order."""
    starts = np.zeros(n_partitions + 1, dtype=np.int64)
    for r in range(len(records)):
        starts[_partition_of(records[r, 0], n_partitions, salt) + 1] += 1
    for p in range(n_partitions):
        starts[p + 1] += starts[p]
    fill = starts[:-1].copy()
    grouped = np.empty_like(records)
    for r in range(len(records)):
        p = _partition_of(records[r, 0], n_partitions, salt)
        grouped[fill[p], 0], grouped[fill[p], 1] = records[r, 0], records[r, 1]
        fill[p] += 1
    return grouped, starts


@dataclass
class _Partitions:
    """Hash partitions of records on disk: partition ``i`` is the file ``{name}-{i}`` of the spill
    folder (raw int64 rows ``key, count``), ``sizes[i]`` records.

    ``salt`` selects the hash (a partition split again uses another one); ``parent_records`` is the
    size of the partition these were split from (a partition is split again only if smaller).
    """

    name: str
    salt: int
    sizes: np.ndarray
    parent_records: int


class _PairRecords:
    """The (R, 2) ``(key, count)`` records of a stream of batches, in memory up to ``max_records``,
    spilled to hash partitions on disk beyond (see :meth:`add`); :meth:`merged` then merges them.

    The spill folder (prefix :data:`SPILL_PREFIX`) is made in ``spill_dir`` (``None``: the system's
    temporary folder) at the first spill; :meth:`close` removes it.
    """

    def __init__(self, max_records: int, spill_dir, total_events: int | None):
        self.max_records, self.spill_dir, self.total_events = max_records, spill_dir, total_events
        self.buffered: list[np.ndarray] = []
        self.n_buffered = 0
        self.buffered_events = 0
        self.folder: Path | None = None
        self.top: _Partitions | None = None
        self.spilled_bytes = 0
        self.n_partitions = 0

    def add(self, records: np.ndarray, n_events: int) -> None:
        """Buffer the records of one batch of ``n_events`` events. When they would not fit beside the
        buffer within ``max_records``, the buffer is merged into one run and spilled first (a batch
        with more records than that is spilled at once).

        At the first spill the number of partitions is set so that each is expected to hold
        ``max_records / PARTITION_SLACK`` records: the merged records of the events so far are
        extrapolated to ``total_events`` (when unknown, to the buffer itself; a partition that grows
        beyond ``max_records`` is then split again at the end, one more read and write).
        """
        if self.buffered and self.n_buffered + len(records) > self.max_records:
            self._spill_buffer()
        self.buffered.append(records)
        self.n_buffered += len(records)
        self.buffered_events += n_events
        if self.n_buffered > self.max_records:
            self._spill_buffer()

    def merged(self) -> Iterator[np.ndarray]:
        """Per partition, its (m, 2) merged records: distinct keys, increasing, with summed counts.

        Every key is in exactly one partition. Nothing spilled: one partition, the buffer. Each
        merge holds at most ``max_records`` records (and as many in its buffer): a larger partition
        is split again, slice by slice, with another hash, unless that split left it whole (very few
        distinct keys: merged anyway, with a warning).
        """
        if self.top is None:
            self.n_partitions = 1
            yield self._merged_buffer()
            return
        self._spill_buffer()
        _log.info("merging %d partitions of %d records (%.3g GB spilled)", len(self.top.sizes),
                  int(self.top.sizes.sum()), self.spilled_bytes / 1e9)
        progress = Progress("merging spilled partitions", len(self.top.sizes), "partitions", _log)
        for part in range(len(self.top.sizes)):
            yield from self._merged_partition(self.top, part)
            progress.update()
        progress.finish()

    def close(self) -> None:
        """Remove the spill folder, if any."""
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)

    def _new_partitions(self, name: str, expected_records: float, salt: int,
                        parent_records: int) -> _Partitions:
        if self.folder is None:
            if self.spill_dir is not None:
                Path(self.spill_dir).mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=self.spill_dir))
        n_partitions = max(2, math.ceil(PARTITION_SLACK * expected_records / self.max_records))
        return _Partitions(name, salt, np.zeros(n_partitions, dtype=np.int64), parent_records)

    def _merged_buffer(self) -> np.ndarray:
        """The buffered records merged into one run (m, 2); empties the buffer."""
        records = self.buffered[0] if len(self.buffered) == 1 else \
            np.concatenate(self.buffered or [np.zeros((0, 2), dtype=np.int64)])
        self.buffered.clear()
        self.n_buffered = 0
        return records[:_merge_sorted_runs(records)]

    def _spill_buffer(self) -> None:
        if not self.buffered:
            return
        events, self.buffered_events = self.buffered_events, 0
        records = self._merged_buffer()
        if self.top is None:
            growth = self.total_events / events if self.total_events and events else 1.0
            self.top = self._new_partitions("p", len(records) * max(growth, 1.0), salt=0,
                                            parent_records=sys.maxsize)
            _log.info("bigram records exceed the budget of %d records: spilling to %d partitions in %s",
                      self.max_records, len(self.top.sizes), self.folder)
        self._append(self.top, records)

    def _path(self, partitions: _Partitions, part: int) -> Path:
        return self.folder / f"{partitions.name}-{part}"

    def _append(self, partitions: _Partitions, records: np.ndarray) -> None:
        grouped, starts = _partition_records(records, len(partitions.sizes), partitions.salt)
        for part in np.flatnonzero(np.diff(starts)):
            with open(self._path(partitions, part), "ab") as file:
                grouped[starts[part]:starts[part + 1]].tofile(file)
        partitions.sizes += np.diff(starts)
        self.spilled_bytes += grouped.nbytes

    def _read(self, partitions: _Partitions, part: int, start: int = 0, n: int = -1) -> np.ndarray:
        return np.fromfile(self._path(partitions, part), dtype=np.int64, count=2 * n if n >= 0 else -1,
                           offset=16 * start).reshape(-1, 2)

    def _merged_partition(self, partitions: _Partitions, part: int) -> Iterator[np.ndarray]:
        n_records = int(partitions.sizes[part])
        if n_records == 0:
            return
        if self.max_records < n_records < partitions.parent_records:
            children = self._new_partitions(f"{partitions.name}-{part}", n_records, partitions.salt + 1,
                                            n_records)
            for start in range(0, n_records, self.max_records):  # each slice merged: fewer records
                records = self._read(partitions, part, start, self.max_records)
                self._append(children, records[:_merge_sorted_runs(records)])
            self._path(partitions, part).unlink()
            _log.info("partition %s-%d: %d records, more than the budget of %d: split into %d",
                      partitions.name, part, n_records, self.max_records, len(children.sizes))
            for child in range(len(children.sizes)):
                yield from self._merged_partition(children, child)
            return
        if n_records > self.max_records:
            _log.warning("partition %s-%d: %d records merged beyond the budget of %d records: hashing "
                         "cannot split it (very few distinct pair keys)",
                         partitions.name, part, n_records, self.max_records)
        records = self._read(partitions, part)
        self._path(partitions, part).unlink()
        self.n_partitions += 1
        yield records[:_merge_sorted_runs(records)]


def chi2_statistic(n_ab, n_a, n_b, n_total) -> np.ndarray:
    """Pearson chi-squared statistic (no continuity correction) of 2x2 tables, vectorised.

    The table of each pair is ``[[n_ab, n_a - n_ab], [n_b - n_ab, n_total - n_a - n_b + n_ab]]``
    (see the module docstring: ``n_total`` bigram instances, ``n_a`` / ``n_b`` instances containing
    ``a`` / ``b``, ``n_ab`` instances of the pair), which gives the closed form
    ``n_total * (n_ab * n_total - n_a * n_b)**2 / (n_a * (n_total - n_a) * n_b * (n_total - n_b))``.
    A table with a zero margin (``n_a`` or ``n_b`` equal to 0 or to ``n_total``) has an undefined
    statistic (scipy raises); it is defined here as 0: such a table carries no evidence against
    independence. Computed in float64: exact while ``n_ab * n_total`` and ``n_a * n_b`` stay below
    2**53 (about 9e15), correctly rounded beyond. Inputs broadcast;
    returns float64 of the broadcast shape. Raises ``ValueError`` if a cell would be negative.
    """
    n_ab, n_a, n_b, n_total = (np.asarray(x, dtype=np.float64) for x in (n_ab, n_a, n_b, n_total))
    if np.any(n_ab < 0) or np.any(n_ab > np.minimum(n_a, n_b)) or np.any(n_a + n_b - n_ab > n_total):
        raise ValueError("chi2_statistic: inconsistent counts, need 0 <= n_ab <= min(n_a, n_b) and "
                         "n_a + n_b - n_ab <= n_total")
    denominator = n_a * (n_total - n_a) * n_b * (n_total - n_b)
    numerator = n_total * (n_ab * n_total - n_a * n_b) ** 2
    degenerate = denominator == 0
    return np.where(degenerate, 0.0, numerator / np.where(degenerate, 1.0, denominator))


def mine_hard_negatives(batches: Iterable[Sequences] | Sequences, min_cooccurrence: int,
                        chi2_factor: float = 1e-7, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
                        spill_dir=None, total_events: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Hard-negative song pairs: co-occurrence >= ``min_cooccurrence`` and chi2 below
    ``chi2_factor * n_events`` (see the module docstring).

    Args:
        batches: the sequences, as an iterable of :class:`Sequences` batches holding whole sequences
            (e.g. :func:`songvec.sequences.iter_sequences`; bigrams never cross batches), or one
            :class:`Sequences`. Track ids must lie in ``[0, 2**31)`` (``ValueError`` otherwise).
        memory_budget_bytes: memory for the pair records, :data:`RECORD_BYTES` (32) per record held:
            beyond ``memory_budget_bytes // 32`` records they are spilled to disk (16 bytes each).
            The result is the same for every budget.
        spill_dir: folder of the spill folder (removed at the end, also on error; leftovers of a
            killed run, named :data:`SPILL_PREFIX`..., are removed at the start: give a folder this
            job owns, such as its output's). ``None``: the system's temporary folder, not cleaned.
        total_events: events expected in ``batches`` (e.g. :func:`songvec.sequences.count_events`),
            for the progress ETA and the number of partitions; ``None`` if unknown.

    Returns ``(pairs, summary)``. ``pairs`` has one row per hard-negative pair with the columns
    ``song_a < song_b`` (int64 track ids), ``cooccurrences`` (int64 bigram instances of the pair)
    and ``chi2`` (float64), sorted by ``(song_a, song_b)``; a pair makes each song a hard negative
    of the other. ``summary`` counts: events, sequences, bigram instances, skipped self-repeats,
    distinct pairs, pairs at or above the co-occurrence threshold, the chi2 threshold, hard-negative
    pairs, songs with at least one hard negative and their mean number of hard negatives; batches,
    partitions merged (1 when nothing was spilled) and bytes spilled (re-splits included).

    Memory, the sum of:
        - per event of the largest batch: the batch as read (see ``iter_sequences``), 8 bytes per
          bigram key and 16 per distinct pair of the batch (at most 24 per event);
        - the records: at most ``memory_budget_bytes``: up to ``memory_budget_bytes // 32`` records
          of 16 bytes are buffered, and twice that while they are merged (at a spill, at the end,
          per partition); a single batch with more distinct pairs than that is merged at once;
        - per-song counts: 8 bytes per track id up to the largest id (2x while the array grows),
          e.g. 0.25 GB for LFM-1b's ids below 32M;
        - the hard-negative pairs found: about 60 bytes each (arrays and the table).
    Disk: 16 bytes per record spilled (the distinct pairs of the batches buffered between two
    spills: at most 16 bytes per event). Time: one sort of each batch's keys, ``log2`` of the runs
    passes to merge them (a run per batch in the buffer, a run per spill in a partition), and one
    write and read of the spilled records (two for a partition split again).
    """
    if int(min_cooccurrence) != min_cooccurrence or min_cooccurrence < 1:
        raise ValueError(f"min_cooccurrence must be an integer >= 1, got {min_cooccurrence!r}")
    if not chi2_factor >= 0:
        raise ValueError(f"chi2_factor must be >= 0, got {chi2_factor!r}")
    if int(memory_budget_bytes) != memory_budget_bytes or memory_budget_bytes < RECORD_BYTES:
        raise ValueError(f"memory_budget_bytes must be an integer >= {RECORD_BYTES}, "
                         f"got {memory_budget_bytes!r}")
    if isinstance(batches, Sequences):
        batches = [batches]
    if spill_dir is not None:
        atomic.remove_leftovers(spill_dir, SPILL_PREFIX)
    records = _PairRecords(int(memory_budget_bytes) // RECORD_BYTES, spill_dir, total_events)
    try:
        stream = _count_stream(batches, records, total_events)
        threshold = chi2_factor * stream.n_events
        pairs, n_distinct, n_frequent = _select_hard_pairs(records, stream.containing, stream.n_instances,
                                                           min_cooccurrence, threshold)
    finally:
        records.close()
    n_songs_with_hard = len(songs_with_hard_negatives(pairs))
    summary = {
        "n_events": stream.n_events,
        "n_sequences": stream.n_sequences,
        "n_songs_in_bigrams": int(np.count_nonzero(stream.containing)),
        "n_bigram_instances": stream.n_instances,
        "n_self_repeats_skipped": stream.n_self_repeats,
        "n_distinct_pairs": n_distinct,
        "min_cooccurrence": int(min_cooccurrence),
        "n_pairs_min_cooccurrence": n_frequent,
        "chi2_factor": float(chi2_factor),
        "chi2_threshold": float(threshold),
        "n_hard_negative_pairs": len(pairs),
        "n_songs_with_hard_negatives": n_songs_with_hard,
        "mean_hard_negatives_per_song": 2 * len(pairs) / n_songs_with_hard if n_songs_with_hard else 0.0,
        "n_batches": stream.n_batches,
        "n_partitions": records.n_partitions,
        "spilled_bytes": records.spilled_bytes,
    }
    _log.info("hard negatives: %d events, %d bigram instances (%d self-repeats skipped), %d distinct "
              "pairs, %d with >= %d co-occurrences, %d with chi2 < %.4g: %d songs, %.1f each",
              stream.n_events, stream.n_instances, stream.n_self_repeats, n_distinct, n_frequent,
              min_cooccurrence, len(pairs), threshold, n_songs_with_hard,
              summary["mean_hard_negatives_per_song"])
    return pairs, summary


@dataclass
class _StreamCounts:
    """Totals of the bigram stream; ``containing`` (I,) int64: instances containing each track id."""

    containing: np.ndarray
    n_events: int = 0
    n_sequences: int = 0
    n_batches: int = 0
    n_instances: int = 0
    n_self_repeats: int = 0


def _count_stream(batches: Iterable[Sequences], records: _PairRecords,
                  total_events: int | None) -> _StreamCounts:
    """Reduce each batch to records (handed to ``records``) and sum the per-song and total counts."""
    stream = _StreamCounts(np.zeros(0, dtype=np.int64))
    progress = Progress("counting bigrams", total_events, "events", _log)
    for seqs in batches:
        batch_records, n_self_repeats = _batch_records(seqs, stream.n_batches)
        if len(batch_records):
            id_range = int(seqs.tracks.max()) + 1
            if id_range > len(stream.containing):
                stream.containing = np.concatenate(
                    [stream.containing, np.zeros(id_range - len(stream.containing), dtype=np.int64)])
            _add_instances_containing(batch_records, stream.containing)
            records.add(batch_records, seqs.n_events)
        stream.n_events += seqs.n_events
        stream.n_sequences += len(seqs)
        stream.n_batches += 1
        stream.n_instances += int(batch_records[:, 1].sum())
        stream.n_self_repeats += n_self_repeats
        progress.update(seqs.n_events)
    progress.finish()
    return stream


def _select_hard_pairs(records: _PairRecords, containing: np.ndarray, n_instances: int,
                       min_cooccurrence: int, threshold: float) -> tuple[pd.DataFrame, int, int]:
    """``(pairs, n_distinct_pairs, n_pairs_min_cooccurrence)`` over the merged partitions."""
    found = [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))]
    n_distinct = n_frequent = 0
    for merged in records.merged():
        n_distinct += len(merged)
        keys, counts = merged[merged[:, 1] >= min_cooccurrence].T
        n_frequent += len(keys)
        chi2 = chi2_statistic(counts, containing[keys >> ID_BITS], containing[keys & _ID_MASK],
                              n_instances)
        hard = chi2 < threshold
        found.append((keys[hard], counts[hard], chi2[hard]))
    keys, counts, chi2 = (np.concatenate(column) for column in zip(*found))
    order = np.argsort(keys)
    keys = keys[order]
    pairs = pd.DataFrame(dict(zip(PAIR_COLUMNS, (keys >> ID_BITS, keys & _ID_MASK, counts[order],
                                                 chi2[order]))))
    return pairs, n_distinct, n_frequent


def songs_with_hard_negatives(pairs: pd.DataFrame) -> np.ndarray:
    """(V,) sorted distinct track ids appearing in ``pairs`` (songs with at least one hard negative)."""
    return np.unique(np.concatenate([pairs["song_a"].to_numpy(np.int64),
                                     pairs["song_b"].to_numpy(np.int64)]))


def hard_negative_rate(neighbor_ids, query_ids, pairs: pd.DataFrame) -> np.ndarray:
    """(S,) float64: fraction of each query song's ``k`` neighbours that are its hard negatives.

    ``neighbor_ids``: (S, k) int64 track ids of the top-k neighbours of each query (padding such as
    -1 is never a hard negative and still counts in the denominator ``k``); ``query_ids``: (S,) int64;
    ``pairs``: the hard-negative pairs of :func:`mine_hard_negatives` (unordered). HardNeg is the
    mean of the result; the per-query values serve paired significance tests.
    """
    neighbor_ids = np.asarray(neighbor_ids, dtype=np.int64)
    query_ids = np.asarray(query_ids, dtype=np.int64)
    if neighbor_ids.ndim != 2 or query_ids.shape != neighbor_ids.shape[:1]:
        raise ValueError(f"neighbor_ids must be (S, k) and query_ids (S,), got {neighbor_ids.shape} "
                         f"and {query_ids.shape}")
    if neighbor_ids.shape[1] == 0:
        raise ValueError("neighbor_ids has no neighbour column (k = 0)")
    songs = songs_with_hard_negatives(pairs)
    if len(songs) == 0:
        return np.zeros(len(query_ids))
    n_songs = len(songs)
    pair_keys = np.sort(np.searchsorted(songs, pairs["song_a"].to_numpy(np.int64)) * n_songs
                        + np.searchsorted(songs, pairs["song_b"].to_numpy(np.int64)))
    query = np.broadcast_to(query_ids[:, None], neighbor_ids.shape)
    lo_ids, hi_ids = np.minimum(query, neighbor_ids), np.maximum(query, neighbor_ids)
    lo = np.minimum(np.searchsorted(songs, lo_ids), n_songs - 1)
    hi = np.minimum(np.searchsorted(songs, hi_ids), n_songs - 1)
    keys = lo * n_songs + hi
    position = np.minimum(np.searchsorted(pair_keys, keys), len(pair_keys) - 1)
    is_hard = (songs[lo] == lo_ids) & (songs[hi] == hi_ids) & (pair_keys[position] == keys)
    return is_hard.mean(axis=1)


def sample_songs(candidates, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` distinct track ids drawn uniformly without replacement from ``candidates``, sorted.

    All distinct candidates are returned when there are at most ``n``.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    distinct = np.unique(np.asarray(candidates, dtype=np.int64))
    if len(distinct) <= n:
        return distinct
    return np.sort(np.random.default_rng(seed).choice(distinct, size=int(n), replace=False))
