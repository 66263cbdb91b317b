"""Table 2 statistics: a hand-computed case, a naive reference on random data (in memory and read in
batches), and the Markdown table."""

import math

import numpy as np
import pytest

from songvec import dataset_stats
from songvec.dataset_stats import sequence_statistics, statistics_markdown
from songvec.sequences import Sequences, iter_sequences, write_sequences


def _sequences(track_lists):
    users = np.repeat(np.arange(len(track_lists)), [len(t) for t in track_lists])
    tracks = np.concatenate([np.asarray(t, dtype=np.int64) for t in track_lists]) if track_lists else []
    return Sequences.from_events(users, tracks, np.zeros(len(users)), np.arange(len(users)))


def test_statistics_by_hand():
    seqs = _sequences([[5], [5, 6], [7, 7, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    stats = sequence_statistics([seqs])
    # lengths 1, 2, 3, 10; linear percentile at rank (n - 1) * q: 0.75 -> 1.75, 1.5 -> 2.5, 2.25 -> 3 + 0.25 * 7
    assert stats == {"songs": 10, "events": 16, "sequences": 4, "length_mean": 4.0,
                     "length_p25": 1.75, "length_median": 2.5, "length_p75": 4.75}
    assert isinstance(stats["songs"], int) and isinstance(stats["length_p25"], float)


def test_empty_sequences_have_nan_lengths():
    stats = sequence_statistics([_sequences([])])
    assert (stats["songs"], stats["events"], stats["sequences"]) == (0, 0, 0)
    assert all(math.isnan(stats[k]) for k in ("length_mean", "length_p25", "length_median", "length_p75"))


def naive_percentile(values, q):
    """Hyndman-Fan type 7, written out."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@pytest.mark.parametrize("seed", range(5))
def test_matches_naive_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    track_lists = [list(rng.integers(0, 300, rng.integers(1, 60))) for _ in range(rng.integers(1, 40))]
    stats = sequence_statistics([_sequences(track_lists)])
    lengths = [len(t) for t in track_lists]
    assert stats["songs"] == len({t for tracks in track_lists for t in tracks})
    assert stats["events"] == sum(lengths) and stats["sequences"] == len(track_lists)
    assert stats["length_mean"] == pytest.approx(sum(lengths) / len(lengths))
    for key, q in (("length_p25", 25), ("length_median", 50), ("length_p75", 75)):
        assert stats[key] == pytest.approx(naive_percentile(lengths, q))


def test_batches_of_a_file_give_the_in_memory_statistics(tmp_path):
    rng = np.random.default_rng(9)
    lengths = np.where(rng.random(300) < 0.2, 1, rng.integers(2, 80, 300))
    track_lists = [list(rng.integers(0, 2000, n)) for n in lengths]
    seqs = _sequences(track_lists)
    write_sequences(tmp_path / "s.parquet", seqs)
    batched = sequence_statistics(iter_sequences(tmp_path / "s.parquet", 1024))
    assert batched == sequence_statistics([seqs])
    assert sum(1 for _ in iter_sequences(tmp_path / "s.parquet", 1024)) > 4 and batched["events"] > 5000
    assert batched["songs"] == len({t for tracks in track_lists for t in tracks})
    assert batched["length_median"] == pytest.approx(naive_percentile(lengths.tolist(), 50))
    empty = sequence_statistics([])  # no batch at all: as an empty dataset
    assert (empty["songs"], empty["events"], empty["sequences"]) == (0, 0, 0) and math.isnan(empty["length_mean"])


def test_markdown_table():
    rows = {"LFM-1b": {"songs": 31_000_000, "events": 1_000_000_000, "sequences": 120_000, "length_mean": 9044.25,
                       "length_p25": 1138.0, "length_median": 3930.5, "length_p75": 16155.0},
            "test split": {"songs": 3, "events": 4, "sequences": 0, "length_mean": math.nan, "extra": 2}}
    assert statistics_markdown(rows) == (
        "| Statistic | LFM-1b | test split |\n"
        "|---|---:|---:|\n"
        "| Songs | 31,000,000 | 3 |\n"
        "| Events | 1,000,000,000 | 4 |\n"
        "| Sequences | 120,000 | 0 |\n"
        "| Seq. length mean | 9,044.2 | - |\n"
        "| Seq. length 25th percentile | 1,138.0 | - |\n"
        "| Seq. length median | 3,930.5 | - |\n"
        "| Seq. length 75th percentile | 16,155.0 | - |\n"
        "| extra | - | 2 |\n")
    with pytest.raises(ValueError, match="at least one dataset"):
        statistics_markdown({})


def test_split_table_by_hand():
    split = {"train": {"sequences": 90, "events": 9000}, "valid": {"sequences": 5, "events": 480},
             "test": {"sequences": 5, "events": 520}}
    pairs = {"valid_in_set_pairs": 45, "valid_in_set_pairs_scored": 40, "valid_pairs_before_sampling": 475,
             "valid_pairs": 400, "valid_pairs_scored": 300, "test_in_set_pairs": 44, "test_in_set_pairs_scored": 41,
             "test_pairs_before_sampling": 515, "test_pairs": 400, "test_pairs_scored": 310}
    table = dataset_stats.split_table({"train": 0.9, "valid": 0.05, "test": 0.05}, split, pairs)
    assert table.columns.tolist() == ["Part", "Train", "Validation", "Test"]
    assert table["Part"].tolist() == list(dataset_stats.SPLIT_ROWS.values())
    assert table["Train"].tolist() == ["90%", "90", "9,000", "-", "-", "-", "-", "-"]
    assert table["Test"].tolist() == ["5%", "5", "520", "44", "41", "515", "400", "310"]
    playlists = dataset_stats.split_table({"train": 0.9, "valid": 0.05, "test": 0.05}, split, pairs, "playlist")
    assert playlists["Part"].tolist()[1] == "Sequences (playlists)" and table["Part"].tolist()[1] == "Sequences (users)"
