"""Listening sequences: one per user, ordered by time, in a compact CSR layout.

On disk a sequence file is Parquet with one row per listening event and the columns
``user_id, track_id, artist_id, timestamp`` (all int64, timestamp in Unix seconds), sorted by
``user_id`` groups (each user's events contiguous, by increasing ``timestamp``). In memory it is a :class:`Sequences`: flat event arrays plus offsets,
so that sequence ``i`` is ``tracks[offsets[i]:offsets[i + 1]]`` without any per-sequence object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from songvec import atomic

COLUMNS = ("user_id", "track_id", "artist_id", "timestamp")
SCHEMA = pa.schema([(name, pa.int64()) for name in COLUMNS])
#: Parquet encodings of sequence files: user ids and timestamps (grouped, sorted) as deltas, ids
#: byte-split, zstd. 2.5x smaller than the defaults, 2x faster to write, 3x faster to read.
PARQUET_OPTIONS = {"use_dictionary": False, "compression": "zstd", "compression_level": 1,
                   "column_encoding": {"user_id": "DELTA_BINARY_PACKED", "timestamp": "DELTA_BINARY_PACKED",
                                       "track_id": "BYTE_STREAM_SPLIT", "artist_id": "BYTE_STREAM_SPLIT"}}


@dataclass
class Sequences:
    """Play sequences in CSR form.

    Attributes (``n`` sequences, ``E`` events):
        user_ids: (n,) int64, the user of each sequence (each user once).
        offsets: (n + 1,) int64, sequence ``i`` spans events ``offsets[i]:offsets[i + 1]``.
        tracks, artists, timestamps: (E,) int64, per event, in time order inside each sequence.
    """

    user_ids: np.ndarray
    offsets: np.ndarray
    tracks: np.ndarray
    artists: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def n_events(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """(n,) int64: number of events of each sequence."""
        return np.diff(self.offsets)

    def track_sequence(self, i: int) -> np.ndarray:
        """Track ids of sequence ``i`` in time order (a view, not a copy)."""
        return self.tracks[self.offsets[i]:self.offsets[i + 1]]

    def subset(self, indices: np.ndarray) -> "Sequences":
        """The sequences at ``indices``, kept in their original order."""
        indices = np.sort(np.asarray(indices, dtype=np.int64))
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[indices]
        # event index of every kept event: start of its sequence + position inside it
        within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        events = np.repeat(starts, lengths) + within
        return Sequences(self.user_ids[indices], offsets, self.tracks[events],
                         self.artists[events], self.timestamps[events])

    @classmethod
    def from_events(cls, user_ids, track_ids, artist_ids, timestamps) -> "Sequences":
        """Build from event arrays grouped by user (each user's events contiguous, in time order)."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, user_ids[1:] != user_ids[:-1]]) if len(user_ids) else \
            np.zeros(0, dtype=np.int64)
        if len(np.unique(user_ids[starts])) != len(starts):
            raise ValueError("events must be grouped by user_id: a user appears in two separate runs")
        offsets = np.append(starts, len(user_ids)).astype(np.int64)
        return cls(user_ids[starts], offsets, np.asarray(track_ids, dtype=np.int64),
                   np.asarray(artist_ids, dtype=np.int64), np.asarray(timestamps, dtype=np.int64))

    @classmethod
    def from_track_lists(cls, track_lists) -> "Sequences":
        """Sequences ``0..n-1`` from lists of track ids (artists and timestamps zero); empty lists allowed."""
        lengths = [len(tracks) for tracks in track_lists]
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tracks = np.array([t for tracks in track_lists for t in tracks], dtype=np.int64)
        return cls(np.arange(len(lengths), dtype=np.int64), offsets, tracks, np.zeros_like(tracks),
                   np.zeros_like(tracks))

    def to_table(self) -> pa.Table:
        users = np.repeat(self.user_ids, self.lengths)
        return pa.table([users, self.tracks, self.artists, self.timestamps], schema=SCHEMA)


def read_sequences(path) -> Sequences:
    """Read a sequence Parquet file (see module docstring) into memory."""
    table = pq.read_table(path, columns=list(COLUMNS))
    cols = [table.column(name).to_numpy() for name in COLUMNS]
    return Sequences.from_events(*cols)


def write_sequences(path, sequences: Sequences) -> None:
    """Write ``sequences`` to ``path`` atomically."""
    with atomic.atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(sequences.to_table(), tmp, **PARQUET_OPTIONS)
