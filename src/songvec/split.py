"""Random partition of the sequences into train / validation / test (paper, section 3: 98/1/1).

Sequences are sampled without replacement: one seeded permutation of ``0..n-1`` is cut into
consecutive parts in the order of ``fractions``. Part sizes come from :func:`split_counts`:

1. Largest-remainder rounding, computed exactly with rational numbers (each fraction is read as its
   shortest decimal form, so 0.98 is exactly 49/50, then divided by their sum): every part gets
   ``floor(n * f)``, and the sequences left over go one each to the parts with the largest remainders
   ``n * f - floor(n * f)``, ties to the part listed first.
2. ``min_per_part``: when ``n`` is at least ``min_per_part`` times the number of parts with a non-zero
   fraction, each such part is raised to ``min_per_part`` by taking sequences one at a time from the
   currently largest part (ties to the part listed first). A part with fraction 0 stays empty.

When ``n`` is too small for that, some parts may stay empty: this is allowed and logged as a warning.

A sequence file larger than memory is split in two passes (:func:`split_file`):
:func:`sequence_user_ids` reads its ``user_id`` column alone (how many sequences, and whose),
:func:`split_sequences` draws the parts, then :func:`write_parts` routes each batch of
:func:`songvec.sequences.iter_sequences` to the parts' files. Memory: one batch plus a few bytes per
sequence, whatever the file size.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
from collections.abc import Iterable
from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pyarrow.parquet as pq

from songvec.progress import Progress
from songvec.sequences import (DEFAULT_BATCH_EVENTS, ROW_GROUP_EVENTS, Sequences, SequenceWriter, count_events,
                               iter_sequences)

log = logging.getLogger(__name__)

PAPER_FRACTIONS = MappingProxyType({"train": 0.98, "valid": 0.01, "test": 0.01})
"""Training / validation / test proportions of the paper."""

SUM_TOLERANCE = 1e-9


def split_counts(n_sequences: int, fractions: Mapping[str, float] = PAPER_FRACTIONS,
                 min_per_part: int = 1) -> dict[str, int]:
    """Number of sequences of each part (see the module docstring); the counts sum to ``n_sequences``."""
    if isinstance(n_sequences, bool) or int(n_sequences) != n_sequences or n_sequences < 0:
        raise ValueError(f"n_sequences must be a non-negative integer, got {n_sequences!r}")
    if isinstance(min_per_part, bool) or int(min_per_part) != min_per_part or min_per_part < 0:
        raise ValueError(f"min_per_part must be a non-negative integer, got {min_per_part!r}")
    n = int(n_sequences)
    names = _check_fractions(fractions)
    exact = [Fraction(repr(float(fractions[name]))) for name in names]  # 0.98 -> 49/50
    total = sum(exact)
    quotas = [n * f / total for f in exact]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(names)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[:n - sum(counts)]:
        counts[i] += 1

    nonzero = [i for i, f in enumerate(exact) if f > 0]
    if n >= min_per_part * len(nonzero):
        for i in nonzero:
            while counts[i] < min_per_part:
                donor = max(range(len(names)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return dict(zip(names, counts))


def split_sequences(n_sequences: int, fractions: Mapping[str, float] = PAPER_FRACTIONS, *, seed: int,
                    min_per_part: int = 1) -> dict[str, np.ndarray]:
    """Partition sequence indices ``0..n_sequences-1`` at random into the parts of ``fractions``.

    Args:
        n_sequences: number of sequences to split.
        fractions: part name -> proportion, each >= 0, summing to 1 (within 1e-9); order sets the cut order.
        seed: seed of ``numpy.random.default_rng``; the same arguments always give the same split.
        min_per_part: lowest size of each part with a non-zero fraction, when ``n_sequences`` allows.

    Returns:
        part name -> sorted (count,) int64 array of sequence indices; the parts are disjoint and cover all.
    """
    counts = split_counts(n_sequences, fractions, min_per_part)
    order = np.random.default_rng(seed).permutation(int(n_sequences)).astype(np.int64)
    bounds = np.cumsum([0] + list(counts.values()))
    parts = {name: np.sort(order[bounds[k]:bounds[k + 1]]) for k, name in enumerate(counts)}
    empty = [name for name, count in counts.items() if count == 0 and fractions[name] > 0]
    if empty:
        log.warning("split of %d sequences leaves part(s) %s empty (fractions %s)", n_sequences, empty,
                    dict(fractions))
    log.info("split of %d sequences: %s", n_sequences, counts)
    return parts


def sequence_user_ids(path: str | os.PathLike) -> np.ndarray:
    """(n,) int64 user of each of the ``n`` sequences of the sequence file at ``path``, in file order.

    Reads the ``user_id`` column alone, :data:`~songvec.sequences.ROW_GROUP_EVENTS` rows at a time
    (memory: 8 bytes per row read at once plus 8 per sequence). Raises ``ValueError`` naming the file
    when a user's events are not contiguous.
    """
    runs, previous = [], None
    for record_batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_EVENTS, columns=["user_id"]):
        users = record_batch.column(0).to_numpy()
        if not len(users):
            continue
        starts = np.r_[users[0] != previous, users[1:] != users[:-1]]
        runs.append(users[starts].astype(np.int64))
        previous = users[-1]
    user_ids = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
    if len(np.unique(user_ids)) != len(user_ids):
        raise ValueError(f"{path}: events must be grouped by user_id: a user appears in two separate runs")
    return user_ids


def write_parts(batches: Iterable[Sequences], parts: Mapping[str, np.ndarray],
                paths: Mapping[str, str | os.PathLike], n_sequences: int,
                total_events: int | None = None) -> dict[str, dict[str, int]]:
    """Write the sequences of each part to its own sequence file, reading ``batches`` once.

    Args:
        batches: ``n_sequences`` sequences in order, in batches of whole sequences
            (:func:`songvec.sequences.iter_sequences`; a one-element list for sequences in memory).
        parts: part name -> (m,) int indices in ``0..n_sequences-1`` (numbered across batches, in
            stream order) of the sequences of that part
            (e.g. :func:`split_sequences`); parts are disjoint. A sequence in no part is not written
            (their number is logged).
        paths: part name -> output file, for every part; each is written atomically (all of them are
            removed if anything fails).
        n_sequences: number of sequences of the stream (:func:`sequence_user_ids`).
        total_events: events of the stream, for the progress ETA (``None``: no ETA).

    Returns:
        part name -> ``{"sequences": ..., "events": ...}`` written to its file, each part holding its
        sequences in stream order (as ``Sequences.subset`` of the whole would).

    Raises ``ValueError`` when an index is out of range or in two parts, or when the stream does not
    hold ``n_sequences`` sequences. Memory: one batch plus 2 bytes per sequence.
    """
    missing = [name for name in parts if name not in paths]
    if missing:
        raise ValueError(f"no output path for the part(s) {missing}")
    part_of = np.full(n_sequences, -1, dtype=np.int16)
    for k, (name, indices) in enumerate(parts.items()):
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= n_sequences):
            raise ValueError(f"part {name!r} has sequence indices outside [0, {n_sequences})")
        if np.any(part_of[indices] >= 0) or len(np.unique(indices)) != len(indices):
            raise ValueError(f"part {name!r} repeats a sequence index or shares one with another part")
        part_of[indices] = k
    progress = Progress("split into parts", total_events, "events", log)
    first = 0
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(SequenceWriter(paths[name])) for name in parts]
        for batch in batches:
            labels = part_of[first:first + len(batch)]
            if len(labels) != len(batch):
                raise ValueError(f"the batches hold more than the {n_sequences} sequences expected")
            for k, writer in enumerate(writers):
                chosen = np.flatnonzero(labels == k)
                if len(chosen):
                    writer.write(batch.subset(chosen))
            first += len(batch)
            progress.update(batch.n_events)
        if first != n_sequences:
            raise ValueError(f"the batches hold {first} sequences, {n_sequences} expected")
    progress.finish()
    n_unassigned = int(np.count_nonzero(part_of < 0))
    if n_unassigned:
        log.info("%d of %d sequences are in no part: not written", n_unassigned, n_sequences)
    return {name: {"sequences": writer.n_sequences, "events": writer.n_events}
            for name, writer in zip(parts, writers)}


def split_file(path: str | os.PathLike, fractions: Mapping[str, float],
               paths: Mapping[str, str | os.PathLike], *, seed: int,
               batch_events: int = DEFAULT_BATCH_EVENTS) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """Split the sequence file at ``path`` with :func:`split_sequences` and write the parts named in
    ``paths`` (the other parts are drawn but not written), reading the file in batches.

    Returns ``(user_ids, parts, written)``: (n,) user of each sequence, part name -> sorted sequence
    indices, and for each written part ``{"sequences": ..., "events": ...}`` (:func:`write_parts`).
    """
    user_ids = sequence_user_ids(path)
    parts = split_sequences(len(user_ids), fractions, seed=seed)
    written = write_parts(iter_sequences(path, batch_events), {name: parts[name] for name in paths}, paths,
                          len(user_ids), total_events=count_events(path))
    return user_ids, parts, written


def _check_fractions(fractions: Mapping[str, float]) -> list[str]:
    if not fractions:
        raise ValueError("fractions is empty: give at least one part")
    for name, value in fractions.items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"fraction of part {name!r} must be a finite number, got {value!r}")
        if value < 0:
            raise ValueError(f"fraction of part {name!r} is negative: {value!r}")
    total = math.fsum(fractions.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"fractions must sum to 1 (within {SUM_TOLERANCE:g}), got {total!r}: {dict(fractions)}")
    return list(fractions)
