import numpy as np

from songvec.sequences import Sequences, read_sequences, write_sequences


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
    import pytest
    with pytest.raises(ValueError, match="grouped by user_id"):
        Sequences.from_events([1, 2, 1], [1, 2, 3], [1, 1, 1], [1, 2, 3])


def test_from_track_lists_by_hand():
    s = Sequences.from_track_lists([[5, 6], [], [7]])
    assert s.offsets.tolist() == [0, 2, 2, 3] and s.tracks.tolist() == [5, 6, 7]
    assert s.user_ids.tolist() == [0, 1, 2] and s.lengths.tolist() == [2, 0, 1]
