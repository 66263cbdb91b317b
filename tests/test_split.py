"""Train/valid/test split: hand-checked counts, determinism, a naive count reference and property tests;
the split of a sequence file in batches against the in-memory split and a naive per-sequence one."""

import logging
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from songvec import split
from songvec.sequences import Sequences, iter_sequences, read_sequences, write_sequences
from songvec.split import (PAPER_FRACTIONS, sequence_user_ids, split_counts, split_file, split_sequences,
                           write_parts)


@pytest.mark.parametrize("n, expected", [
    (0, (0, 0, 0)), (1, (1, 0, 0)), (2, (2, 0, 0)),
    (3, (1, 1, 1)),        # 2.94/0.03/0.03 -> 2/0/0 +1 to train (0.94); then valid, test raised to 1 from train
    (10, (8, 1, 1)),       # 9.8 -> 9, r=1 to train (0.8 > 0.1) -> 10/0/0; min 1 each -> 8/1/1
    (99, (97, 1, 1)),      # 97.02/0.99/0.99: floors 97/0/0, two left -> valid, test
    (100, (98, 1, 1)),
    (150, (147, 2, 1)),    # 147/1.5/1.5: one left, tie -> valid (listed first)
    (120_000, (117_600, 1_200, 1_200)),
])
def test_paper_counts_by_hand(n, expected):
    assert tuple(split_counts(n).values()) == expected


def test_min_per_part_zero_and_zero_fraction():
    assert split_counts(10, min_per_part=0) == {"train": 10, "valid": 0, "test": 0}
    assert split_counts(5, {"a": 0.0, "b": 1.0}) == {"a": 0, "b": 5}
    assert split_counts(7, {"a": 0.7, "b": 0.1, "c": 0.2}, min_per_part=2) == {"a": 3, "b": 2, "c": 2}
    # 5 * (0.7, 0.1, 0.2) = 3.5/0.5/1: tie -> 'a' gets the leftover -> 4/0/1, then 'b' raised to 1 from 'a'
    assert split_counts(5, {"a": 0.7, "b": 0.1, "c": 0.2}) == {"a": 3, "b": 1, "c": 1}
    assert split_counts(5, {"a": 0.7, "b": 0.1, "c": 0.2}, min_per_part=0) == {"a": 4, "b": 0, "c": 1}


def test_split_is_deterministic_disjoint_and_complete():
    a = split_sequences(1000, seed=3)
    b = split_sequences(1000, seed=3)
    c = split_sequences(1000, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert {k: len(v) for k, v in a.items()} == {"train": 980, "valid": 10, "test": 10}
    together = np.concatenate(list(a.values()))
    assert np.array_equal(np.sort(together), np.arange(1000))
    assert all(v.dtype == np.int64 and np.all(np.diff(v) > 0) for v in a.values())


def test_split_is_a_uniform_sample():
    """Over many seeds each index lands in 'test' about 1% of the time, whatever its position."""
    hits = np.zeros(200)
    for seed in range(1000):
        hits[split_sequences(200, seed=seed)["test"]] += 1
    # 2 test sequences of 200 per seed: expected 10 hits per index over 1000 seeds
    assert hits.sum() == 2000
    assert hits[:100].sum() == pytest.approx(1000, rel=0.15) and hits[100:].sum() == pytest.approx(1000, rel=0.15)


def test_tiny_split_warns_but_is_allowed(caplog):
    with caplog.at_level(logging.WARNING, logger="songvec.split"):
        parts = split_sequences(2, seed=0)
    assert [len(p) for p in parts.values()] == [2, 0, 0]
    assert "['valid', 'test'] empty" in caplog.text


@pytest.mark.parametrize("fractions, message", [
    ({"train": 0.98, "valid": 0.01, "test": 0.02}, "sum to 1"),
    ({"train": 1.01, "valid": -0.01}, "'valid' is negative"),
    ({"train": float("nan"), "valid": 1.0}, "'train' must be a finite number"),
    ({}, "empty"),
])
def test_bad_fractions_are_named(fractions, message):
    with pytest.raises(ValueError, match=message):
        split_sequences(10, fractions, seed=0)


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="n_sequences"):
        split_counts(-1)
    with pytest.raises(ValueError, match="min_per_part"):
        split_counts(10, min_per_part=-1)


def test_sum_tolerance():
    assert sum(split_counts(10, {"a": 0.5, "b": 0.5 + 5e-10}).values()) == 10
    with pytest.raises(ValueError, match="sum to 1"):
        split_counts(10, {"a": 0.5, "b": 0.5 + 5e-9})


def naive_counts(n, fractions, min_per_part):
    """Largest remainder written out: floors, then one leftover at a time to the largest remainder."""
    names = list(fractions)
    weights = [Fraction(str(fractions[k])) for k in names]
    quota = {k: n * w / sum(weights) for k, w in zip(names, weights)}
    counts = {k: int(quota[k]) for k in names}
    while sum(counts.values()) < n:
        best = None
        for k in names:
            if counts[k] == int(quota[k]) and (best is None or quota[k] - counts[k] > quota[best] - counts[best]):
                best = k
        counts[best] += 1
    positive = [k for k in names if fractions[k] > 0]
    if n >= min_per_part * len(positive):
        for k in positive:
            while counts[k] < min_per_part:
                largest = names[0]
                for j in names:
                    if counts[j] > counts[largest]:
                        largest = j
                counts[largest] -= 1
                counts[k] += 1
    return counts


fraction_lists = st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda w: sum(w) > 0)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 3000), weights=fraction_lists, min_per_part=st.integers(0, 3))
def test_counts_match_naive_reference(n, weights, min_per_part):
    fractions = {f"part{i}": w / sum(weights) for i, w in enumerate(weights)}
    fractions[f"part{len(weights) - 1}"] = 1.0 - sum(list(fractions.values())[:-1])
    if fractions[f"part{len(weights) - 1}"] < 0:
        fractions[f"part{len(weights) - 1}"] = 0.0
    counts = split_counts(n, fractions, min_per_part)
    assert counts == naive_counts(n, fractions, min_per_part)
    assert sum(counts.values()) == n


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 500), weights=fraction_lists, seed=st.integers(0, 2**32 - 1))
def test_split_properties(n, weights, seed):
    fractions = {f"p{i}": Fraction(w, sum(weights)) for i, w in enumerate(weights)}
    fractions = {k: float(v) for k, v in fractions.items()}
    if abs(sum(fractions.values()) - 1) > 1e-9:
        return
    parts = split_sequences(n, fractions, seed=seed, min_per_part=0)
    sizes = {k: len(v) for k, v in parts.items()}
    # disjoint and complete
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(n))
    # each part within one of its exact share; deterministic
    for k, w in zip(fractions, weights):
        assert abs(sizes[k] - n * w / sum(weights)) < 1
    again = split_sequences(n, fractions, seed=seed, min_per_part=0)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    # with the guarantee, every non-zero part is filled whenever n allows
    guaranteed = split_counts(n, fractions, 1)
    if n >= sum(w > 0 for w in weights):
        assert all(guaranteed[k] >= 1 for k, w in zip(fractions, weights) if w > 0)


def test_paper_fractions_are_read_only():
    with pytest.raises(TypeError):
        PAPER_FRACTIONS["train"] = 0.5


# --- splitting a sequence file in batches --------------------------------------------------------

def random_sequence_file(path, rng, n_users=300):
    """Several thousand events; sequence lengths 1 to ~80 (a fifth of them single events); user ids
    not in file order."""
    lengths = np.where(rng.random(n_users) < 0.2, 1, rng.integers(2, 80, n_users))
    users = np.repeat(rng.choice(10**6, n_users, replace=False), lengths)
    tracks = rng.integers(0, 500, len(users))
    write_sequences(path, Sequences.from_events(users, tracks, tracks // 5, np.arange(len(users)) * 7))
    return read_sequences(path)


def naive_part(sequences, indices):
    """The sequences at ``indices`` gathered one at a time, as (user, tracks, artists, timestamps) tuples."""
    rows = []
    for i in sorted(indices):
        span = slice(sequences.offsets[i], sequences.offsets[i + 1])
        rows.append((int(sequences.user_ids[i]), sequences.tracks[span].tolist(),
                     sequences.artists[span].tolist(), sequences.timestamps[span].tolist()))
    return rows


def as_rows(sequences):
    return naive_part(sequences, range(len(sequences)))


def test_sequence_user_ids_by_hand(tmp_path, monkeypatch):
    users = [7, 7, 3, 3, 3, 9, 5, 5]
    write_sequences(tmp_path / "s.parquet", Sequences.from_events(users, range(8), range(8), range(8)))
    assert sequence_user_ids(tmp_path / "s.parquet").tolist() == [7, 3, 9, 5]
    monkeypatch.setattr(split, "ROW_GROUP_EVENTS", 3)  # reads of 3 rows: user 3 straddles two of them
    assert sequence_user_ids(tmp_path / "s.parquet").tolist() == [7, 3, 9, 5]
    write_sequences(tmp_path / "empty.parquet", Sequences.from_track_lists([]))
    assert sequence_user_ids(tmp_path / "empty.parquet").tolist() == []


def test_sequence_user_ids_reject_a_user_in_two_runs(tmp_path):
    import pyarrow.parquet as pq

    from songvec.sequences import SCHEMA
    pq.write_table(Sequences.from_events([1, 2], [0, 0], [0, 0], [0, 0]).to_table().cast(SCHEMA)
                   .take([0, 1, 0]), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="bad.parquet: .*two separate runs"):
        sequence_user_ids(tmp_path / "bad.parquet")


def test_write_parts_in_batches_equals_one_batch_and_naive(tmp_path):
    rng = np.random.default_rng(11)
    sequences = random_sequence_file(tmp_path / "all.parquet", rng)
    assert sequences.n_events > 5000 and (sequences.lengths == 1).any()
    n = len(sequences)
    assert sequence_user_ids(tmp_path / "all.parquet").tolist() == sequences.user_ids.tolist()
    parts = split_sequences(n, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed=5)
    results = {}
    for name, batches in (("batched", iter_sequences(tmp_path / "all.parquet", 1024)), ("one", [sequences])):
        paths = {part: tmp_path / f"{name}-{part}.parquet" for part in parts}
        summary = write_parts(batches, parts, paths, n, total_events=sequences.n_events)
        results[name] = {part: read_sequences(path) for part, path in paths.items()}
        assert summary == {part: {"sequences": len(parts[part]), "events": int(sequences.lengths[parts[part]].sum())}
                           for part in parts}
    for part, indices in parts.items():
        expected = naive_part(sequences, indices)
        assert as_rows(results["batched"][part]) == expected
        assert as_rows(results["one"][part]) == expected


def test_write_parts_skips_and_counts_sequences_in_no_part(tmp_path, caplog):
    sequences = Sequences.from_track_lists([[1, 2], [3], [4, 5, 6], [7]])
    with caplog.at_level(logging.INFO, logger="songvec.split"):
        summary = write_parts([sequences], {"sample": np.array([2, 0])}, {"sample": tmp_path / "s.parquet"}, 4)
    assert summary == {"sample": {"sequences": 2, "events": 5}}
    assert as_rows(read_sequences(tmp_path / "s.parquet")) == naive_part(sequences, [0, 2])
    assert "2 of 4 sequences are in no part" in caplog.text


@pytest.mark.parametrize("parts, n_sequences, message", [
    ({"a": np.array([0, 1]), "b": np.array([1])}, 3, "'b' repeats a sequence index or shares one"),
    ({"a": np.array([0, 0])}, 3, "'a' repeats"),
    ({"a": np.array([3])}, 3, "outside \\[0, 3\\)"),
    ({"a": np.array([0])}, 2, "more than the 2 sequences"),
    ({"a": np.array([0])}, 4, "hold 3 sequences, 4 expected"),
])
def test_write_parts_rejects_bad_parts_and_leaves_no_file(tmp_path, parts, n_sequences, message):
    sequences = Sequences.from_track_lists([[1], [2, 3], [4]])
    with pytest.raises(ValueError, match=message):
        write_parts([sequences], parts, {name: tmp_path / f"{name}.parquet" for name in parts}, n_sequences)
    assert list(tmp_path.iterdir()) == []


def test_write_parts_needs_a_path_per_part(tmp_path):
    with pytest.raises(ValueError, match="no output path for the part\\(s\\) \\['b'\\]"):
        write_parts([], {"a": np.array([], dtype=np.int64), "b": np.array([], dtype=np.int64)},
                    {"a": tmp_path / "a.parquet"}, 0)


def test_split_file_writes_the_named_parts_of_split_sequences(tmp_path):
    sequences = random_sequence_file(tmp_path / "all.parquet", np.random.default_rng(12))
    fractions = {"sample": 0.3, "rest": 0.7}
    user_ids, parts, written = split_file(tmp_path / "all.parquet", fractions, {"sample": tmp_path / "s.parquet"},
                                          seed=4, batch_events=1024)
    expected = split_sequences(len(sequences), fractions, seed=4)
    assert user_ids.tolist() == sequences.user_ids.tolist()
    assert {name: part.tolist() for name, part in parts.items()} == \
        {name: part.tolist() for name, part in expected.items()}
    assert as_rows(read_sequences(tmp_path / "s.parquet")) == naive_part(sequences, expected["sample"])
    assert written == {"sample": {"sequences": len(expected["sample"]),
                                  "events": int(sequences.lengths[expected["sample"]].sum())}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.parquet", "s.parquet"]  # "rest" not written
