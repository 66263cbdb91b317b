import numpy as np
import pyarrow.parquet as pq
import pytest

from songvec import sequences as sequences_module
from songvec.sequences import (MIN_DECODE_ROWS, SequenceWriter, Sequences, count_events, iter_sequences,
                               read_sequences, song_counts, track_id_bound, write_sequences)


def make():
    return Sequences.from_events([1, 1, 1, 5, 7, 7], [10, 11, 10, 12, 13, 10], [1, 1, 1, 2, 3, 1],
                                 [100, 200, 300, 100, 50, 60])


def test_csr_layout_by_hand():
    s = make()
    assert len(s) == 3 and s.n_events == 6
    assert s.user_ids.tolist() == [1, 5, 7]
    assert s.offsets.tolist() == [0, 3, 4, 6]
    assert s.track_sequence(2).tolist() == [13, 10]


def test_subset_keeps_events_of_chosen_sequences():
    sub = make().subset(np.array([2, 0]))
    assert sub.user_ids.tolist() == [1, 7]
    assert sub.offsets.tolist() == [0, 3, 5]
    assert sub.tracks.tolist() == [10, 11, 10, 13, 10]
    assert sub.timestamps.tolist() == [100, 200, 300, 50, 60]


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "s.parquet"
    write_sequences(path, make())
    back = read_sequences(path)
    for name in ("user_ids", "offsets", "tracks", "artists", "timestamps"):
        assert np.array_equal(getattr(back, name), getattr(make(), name))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_from_events_rejects_users_split_in_two_runs():
    with pytest.raises(ValueError, match="grouped by user_id"):
        Sequences.from_events([1, 2, 1], [1, 2, 3], [1, 1, 1], [1, 2, 3])


def test_from_track_lists_by_hand():
    s = Sequences.from_track_lists([[5, 6], [], [7]])
    assert s.offsets.tolist() == [0, 2, 2, 3] and s.tracks.tolist() == [5, 6, 7]
    assert s.user_ids.tolist() == [0, 1, 2] and s.lengths.tolist() == [2, 0, 1]


def random_sequences(lengths, seed=0) -> Sequences:
    rng = np.random.default_rng(seed)
    seqs = Sequences.from_track_lists([rng.integers(0, 500, n) for n in lengths])
    seqs.user_ids = seqs.user_ids * 3 + 1  # not the row index
    seqs.timestamps = np.arange(seqs.n_events, dtype=np.int64)
    return seqs


def assert_same(a: Sequences, b: Sequences):
    for name in ("user_ids", "offsets", "tracks", "artists", "timestamps"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def concatenated(batches) -> Sequences:
    users = np.concatenate([np.repeat(b.user_ids, b.lengths) for b in batches])
    return Sequences.from_events(users, *(np.concatenate([getattr(b, name) for b in batches])
                                          for name in ("tracks", "artists", "timestamps")))


@pytest.mark.parametrize("batch_events", [1, 1500, 5000, 10 ** 6])
def test_iter_sequences_yields_whole_sequences_in_order(tmp_path, monkeypatch, batch_events):
    monkeypatch.setattr(sequences_module, "ROW_GROUP_EVENTS", 2048)  # several row groups
    lengths = [1, 900, 30, 7000, 2, 2, 1200, 4096, 1, 300] * 3  # 7000 > every batch size but the last
    seqs = random_sequences(lengths)
    path = tmp_path / "s.parquet"
    write_sequences(path, seqs)
    assert pq.ParquetFile(path).metadata.num_row_groups == -(-seqs.n_events // 2048)
    batches = list(iter_sequences(path, batch_events))
    assert_same(concatenated(batches), seqs)
    # memory bound: a batch never exceeds the batch size plus one sequence plus one decoded block
    block = min(max(batch_events, MIN_DECODE_ROWS), 2048)
    for batch in batches:
        assert batch.n_events <= max(batch_events, block) + max(lengths) + block
    if batch_events >= seqs.n_events:
        assert len(batches) == 1
    else:
        assert len(batches) > 1


def test_iter_sequences_names_the_file_when_a_user_comes_back_in_a_later_batch(tmp_path):
    seqs = random_sequences([3000, 3000, 3000])
    seqs.user_ids = np.array([1, 2, 1])
    path = tmp_path / "s.parquet"
    pq.write_table(seqs.to_table(), path)
    with pytest.raises(ValueError, match=r"s\.parquet: events must be grouped by user_id"):
        list(iter_sequences(path, 2000))
    with pytest.raises(ValueError, match=r"s\.parquet: events must be grouped by user_id"):
        list(iter_sequences(path, 10 ** 6))  # within one batch


def test_iter_sequences_of_an_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "empty.parquet"
    write_sequences(path, Sequences.from_track_lists([]))
    assert list(iter_sequences(path)) == [] and count_events(path) == 0


def test_iter_sequences_rejects_a_batch_size_below_one(tmp_path):
    with pytest.raises(ValueError, match="batch_events must be an integer >= 1"):
        next(iter_sequences(tmp_path / "any.parquet", 0))


def test_sequence_writer_appends_batches_and_counts(tmp_path):
    seqs = random_sequences([5, 0, 9, 4, 1])
    path = tmp_path / "out.parquet"
    with SequenceWriter(path) as writer:
        writer.write(seqs.subset(np.array([0, 1])))
        writer.write(seqs.subset(np.array([2, 3, 4])))
        assert not path.exists()  # appears only once complete
    assert (writer.n_sequences, writer.n_events) == (4, 19)  # the empty sequence has no row
    assert count_events(path) == 19
    assert_same(read_sequences(path), seqs.subset(np.array([0, 2, 3, 4])))


def test_sequence_writer_leaves_nothing_when_the_block_fails(tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError, match="stop"):
        with SequenceWriter(path) as writer:
            writer.write(random_sequences([5, 5]))
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_song_counts_by_hand():
    batches = [Sequences.from_track_lists([[7, 3, 7], [9]]), Sequences.from_track_lists([[3, 1], [9, 9, 2]])]
    ids, counts = song_counts(batches)
    assert ids.tolist() == [7, 3, 9, 1, 2] and counts.tolist() == [2, 2, 3, 1, 1]
    ids, counts = song_counts([])
    assert ids.tolist() == [] and counts.tolist() == []


def test_song_counts_of_batches_equal_a_naive_count_of_the_whole():
    rng = np.random.default_rng(3)
    seqs = Sequences.from_track_lists([rng.zipf(1.3, rng.integers(0, 300)) % 5000 for _ in range(200)])
    naive: dict[int, int] = {}
    for track in seqs.tracks.tolist():
        naive[track] = naive.get(track, 0) + 1  # dicts keep first-insertion order
    cuts = np.sort(rng.choice(np.arange(1, 200), 12, replace=False))
    batches = [seqs.subset(np.arange(a, b)) for a, b in zip([0, *cuts], [*cuts, 200])]
    for stream in (batches, [seqs]):
        ids, counts = song_counts(stream)
        assert ids.tolist() == list(naive) and counts.tolist() == list(naive.values())


def test_track_id_bound_from_the_footer(tmp_path, monkeypatch):
    monkeypatch.setattr(sequences_module, "ROW_GROUP_EVENTS", 1000)
    seqs = random_sequences([700, 900, 650])
    seqs.tracks[1234] = 99_999  # in the second row group
    path = tmp_path / "s.parquet"
    write_sequences(path, seqs)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert track_id_bound(path) == 100_000
    pq.write_table(seqs.to_table(), path, write_statistics=False)
    assert track_id_bound(path) == 100_000  # read from the column
    write_sequences(path, Sequences.from_track_lists([]))
    assert track_id_bound(path) == 0
