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
"""

from __future__ import annotations

import logging
import math
import numbers
from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

import numpy as np

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
