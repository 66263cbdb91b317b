"""Dataset statistics of the paper's Table 2 and their Markdown rendering.

Table 2 reports, per dataset: songs (distinct tracks), listening events, sequences and the sequence
length mean, 25th percentile, median and 75th percentile. Percentiles use numpy's default ``"linear"``
method (type 7 of Hyndman and Fan: linear interpolation between the two closest ranks), so they can be
fractional. A dataset without sequences has NaN length statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from songvec import tables
from songvec.sequences import Sequences, song_counts

PERCENTILE_METHOD = "linear"

STATISTICS = {
    "songs": "Songs",
    "events": "Events",
    "sequences": "Sequences",
    "length_mean": "Seq. length mean",
    "length_p25": "Seq. length 25th percentile",
    "length_median": "Seq. length median",
    "length_p75": "Seq. length 75th percentile",
}
"""Statistic key -> row label of the Markdown table, in table order."""


def sequence_statistics(batches: Iterable[Sequences]) -> dict:
    """Table 2 statistics of a stream of sequences: ``songs``, ``events``, ``sequences`` (ints) and the
    length statistics ``length_mean``, ``length_p25``, ``length_median``, ``length_p75`` (floats,
    events per sequence).

    ``batches``: the sequences in batches of whole sequences (:func:`songvec.sequences.iter_sequences`;
    a one-element list for sequences in memory). Memory: one batch, 8 bytes per sequence (its length)
    and about 24 bytes per distinct song (:func:`songvec.sequences.song_counts`).
    """
    lengths = []

    def tracking_lengths():
        for batch in batches:
            lengths.append(batch.lengths)
            yield batch

    song_ids, _ = song_counts(tracking_lengths())
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    if len(lengths):
        mean = float(lengths.mean())
        p25, median, p75 = (float(v) for v in np.percentile(lengths, [25, 50, 75], method=PERCENTILE_METHOD))
    else:
        mean = p25 = median = p75 = math.nan
    return {"songs": len(song_ids), "events": int(lengths.sum()), "sequences": len(lengths),
            "length_mean": mean, "length_p25": p25, "length_median": median, "length_p75": p75}


def statistics_table(rows: dict[str, dict]) -> pd.DataFrame:
    """Display table (strings) with one column per dataset (``rows``: dataset name -> statistics dict) and
    one row per statistic: those of :data:`STATISTICS` in that order, then any other key in first-seen order.

    Integers are printed in full with thousands separators, floats with one decimal, a missing or NaN value
    as ``-``.
    """
    if not rows:
        raise ValueError("statistics_table needs at least one dataset")
    keys = list(STATISTICS)
    for stats in rows.values():
        keys += [k for k in stats if k not in keys]
    table = {"Statistic": [STATISTICS.get(key, key) for key in keys]}
    table |= {name: [_format(stats.get(key)) for key in keys] for name, stats in rows.items()}
    return pd.DataFrame(table)


def statistics_markdown(rows: dict[str, dict]) -> str:
    """:func:`statistics_table` as a Markdown table."""
    return tables.to_markdown(statistics_table(rows))


def _format(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return tables.MISSING
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return f"{value:,.1f}"


SPLIT_ROWS = {
    "fraction": "Share of the sequences",
    "sequences": "Sequences (users)",
    "events": "Events",
    "in_set_pairs": "In-set pairs (one per training sequence)",
    "in_set_pairs_scored": "In-set pairs scored",
    "pairs_before_sampling": "Out-of-set pairs",
    "pairs": "Out-of-set pairs used (evaluation.max_pairs)",
    "pairs_scored": "Out-of-set pairs scored",
}
"""Row key -> label of the evaluation-split table (:func:`split_table`), in table order."""


def split_table(fractions: dict[str, float], split_summary: dict, pairs_summary: dict,
                sequence_unit: str = "user") -> pd.DataFrame:
    """Display table of the train / validation / test parts: their share, sequences and events (the
    ``split_sequences`` summary) and, for validation and test, the in-set and out-of-set next-song pairs (the
    ``prepare_evaluation`` summary). *Scored* pairs are those that count in HitRate/NDCG under the default
    policies: query and target in the training vocabulary, query != target. ``sequence_unit``: what one
    sequence is (``user``, ``playlist``), named in the sequences row."""
    columns = {"train": "Train", "valid": "Validation", "test": "Test"}
    labels = SPLIT_ROWS | {"sequences": f"Sequences ({sequence_unit}s)"}
    table = {"Part": list(labels.values())}
    for part, name in columns.items():
        values = {"fraction": f"{fractions[part]:.0%}", **{k: _format(v) for k, v in split_summary[part].items()}}
        if part != "train":
            values |= {key: _format(pairs_summary.get(f"{part}_{key}")) for key in SPLIT_ROWS
                       if f"{part}_{key}" in pairs_summary}
        table[name] = [values.get(key, tables.MISSING) for key in SPLIT_ROWS]
    return pd.DataFrame(table)
