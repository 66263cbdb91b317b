"""Synthetic listening sequences shared by the benchmarks (not a test fixture: sizes are large)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a clone, uninstalled
from songvec.sequences import Sequences  # noqa: E402


def zipf_sequences(n_events: int, n_songs: int, mean_length: int, id_spread: int = 1, seed: int = 0) -> Sequences:
    """``n_events`` plays in sequences of geometric length (mean ``mean_length``), tracks drawn from a
    Zipf law (exponent 1) over ``n_songs`` songs whose ids are spread over ``[0, id_spread * n_songs)``."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_songs + 1)
    cdf = np.cumsum(weights / weights.sum())
    song_ids = np.sort(rng.choice(id_spread * n_songs, size=n_songs, replace=False)) if id_spread > 1 \
        else np.arange(n_songs)
    tracks = song_ids[np.minimum(np.searchsorted(cdf, rng.random(n_events)), n_songs - 1)].astype(np.int64)
    lengths = rng.geometric(1 / mean_length, size=2 * n_events // mean_length + 10)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    offsets = np.append(offsets[offsets < n_events], n_events).astype(np.int64)
    zeros = np.zeros(n_events, dtype=np.int64)
    return Sequences(np.arange(len(offsets) - 1), offsets, tracks, zeros, zeros)
