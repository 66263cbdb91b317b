"""Streaming ingest: the real excerpt, hand-counted filters, bounded memory, and a naive reference."""

from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec import lfm1b
from songvec.ingest import ingest_events
from songvec.lfm1b import Lfm1bFormatError
from songvec.sequences import COLUMNS, read_sequences

NOW = 1_500_000_000
MASK64 = 2 ** 64 - 1


def write_events(path, events):
    """events: iterable of (user, artist, album, track, timestamp) -> LFM-1b_LEs.txt text."""
    path.write_text("".join("\t".join(map(str, e)) + "\n" for e in events))
    return path


def read_output(path):
    table = pq.read_table(path)
    assert table.column_names == list(COLUMNS)
    return [tuple(row) for row in zip(*(table.column(c).to_pylist() for c in COLUMNS))]


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def naive_user_kept(user, fraction, seed):
    return fraction >= 1.0 or (splitmix64(user ^ splitmix64(seed)) >> 11) < int(fraction * 2 ** 53)


def naive_ingest(events, collapse=True, min_song_plays=1, user_fraction=1.0, seed=0):
    """Deliberately plain reference: lists and dicts, one event at a time.

    Returns (output rows (user, track, artist, timestamp), counts dict)."""
    sampled = [(i, e) for i, e in enumerate(events) if naive_user_kept(e[0], user_fraction, seed)]
    plays = Counter(e[3] for _, e in sampled)
    by_user = {}
    for i, (user, artist, _album, track, ts) in sampled:
        by_user.setdefault(user, []).append((ts, i, track, artist))
    rows, removed_rare, collapsed = [], 0, 0
    for user in sorted(by_user):
        previous = None
        for ts, _i, track, artist in sorted(by_user[user]):  # by timestamp, then file order
            if plays[track] < min_song_plays:
                removed_rare += 1
            elif collapse and track == previous:
                collapsed += 1
            else:
                rows.append((user, track, artist, ts))
                previous = track
    return rows, {"removed_by_user_sampling": len(events) - len(sampled),
                  "removed_by_min_song_plays": removed_rare, "consecutive_duplicates_collapsed": collapsed,
                  "events_written": len(rows), "users": len({r[0] for r in rows}),
                  "tracks": len({r[1] for r in rows})}


def read_excerpt_events(excerpt_dir):
    lines = (excerpt_dir / lfm1b.EVENTS_FILE).read_text().splitlines()
    return [tuple(int(x) for x in line.split("\t")) for line in lines]


# ---------------------------------------------------------------- the real excerpt

@pytest.fixture(scope="module")
def excerpt_ingest(excerpt_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("excerpt") / "sequences.parquet"
    return out, ingest_events(excerpt_dir / lfm1b.EVENTS_FILE, out)


def test_excerpt_counts_before_filtering(excerpt_ingest):
    _, summary = excerpt_ingest
    assert summary["events_read"] == summary["lines_read"] == 100_000
    assert summary["users_read"] == summary["users_sampled"] == summary["users"] == 17
    assert sum(summary["skipped"].values()) == 0 and summary["removed_by_user_sampling"] == 0


def test_excerpt_sequences_are_chronological_although_the_file_is_not(excerpt_dir, excerpt_ingest):
    out, summary = excerpt_ingest
    raw = np.array(read_excerpt_events(excerpt_dir))
    assert (np.diff(raw[raw[:, 0] == 31435741, 4]) < 0).mean() > 0.9  # the file is newest first
    sequences = read_sequences(out)  # also checks every user's events are contiguous
    assert len(sequences) == 17 and sequences.n_events == summary["events_written"]
    assert sequences.user_ids.tolist() == sorted(set(raw[:, 0].tolist()))
    for i in range(len(sequences)):
        span = slice(sequences.offsets[i], sequences.offsets[i + 1])
        assert (np.diff(sequences.timestamps[span]) >= 0).all()


def test_excerpt_collapsed_duplicates_match_naive_count(excerpt_dir, excerpt_ingest):
    out, summary = excerpt_ingest
    rows, counts = naive_ingest(read_excerpt_events(excerpt_dir))
    assert summary["consecutive_duplicates_collapsed"] == counts["consecutive_duplicates_collapsed"] == 10_835
    assert summary["tracks"] == counts["tracks"] and summary["events_written"] == 100_000 - 10_835
    assert read_output(out) == rows


def test_tiny_memory_budget_gives_byte_identical_output(excerpt_dir, excerpt_ingest, tmp_path):
    out, summary = excerpt_ingest
    small = tmp_path / "small.parquet"
    small_summary = ingest_events(excerpt_dir / lfm1b.EVENTS_FILE, small, memory_budget_bytes=128 * 1024,
                                  tmp_dir=tmp_path / "spill")
    assert small_summary["spill_runs"] > 20 and small_summary["user_ranges"] > 10
    assert summary["spill_runs"] == 1 and summary["user_ranges"] == 1
    assert small.read_bytes() == out.read_bytes()
    assert list((tmp_path / "spill").iterdir()) == []  # spill folder removed


def test_user_fraction_is_deterministic_and_matches_the_hash(excerpt_dir, tmp_path):
    path = excerpt_dir / lfm1b.EVENTS_FILE
    users = {}
    for name, seed, budget in (("a", 3, 2 ** 31), ("b", 3, 256 * 1024), ("c", 4, 2 ** 31)):
        out = tmp_path / f"{name}.parquet"
        summary = ingest_events(path, out, user_fraction=0.5, seed=seed, memory_budget_bytes=budget)
        users[name] = read_sequences(out).user_ids.tolist()
        assert summary["users_sampled"] == len(users[name])
        all_users = sorted({e[0] for e in read_excerpt_events(excerpt_dir)})
        assert users[name] == [u for u in all_users if naive_user_kept(u, 0.5, seed)]
    assert users["a"] == users["b"]  # independent of chunking and partitioning
    assert users["a"] != users["c"] and 0 < len(users["a"]) < 17


def test_user_fraction_keeps_about_that_fraction_of_many_users(tmp_path):
    events = [(u, 1, 1, 1, 1_300_000_000) for u in range(2000)]
    summary = ingest_events(write_events(tmp_path / "le.txt", events), tmp_path / "o.parquet",
                            user_fraction=0.25, seed=11)
    assert 400 <= summary["users_sampled"] <= 600  # binomial(2000, 0.25): mean 500, sd 19


# ---------------------------------------------------------------- hand-made cases

def test_min_song_plays_and_collapse_by_hand(tmp_path):
    # user 1 (file order, newest first): A B A X A ; user 2: X B ; plays: A=3, B=2, X=2, C=1
    events = [(1, 9, 0, 10, 1_300_000_050), (1, 9, 0, 30, 1_300_000_040), (1, 9, 0, 10, 1_300_000_030),
              (1, 9, 0, 11, 1_300_000_020), (1, 9, 0, 10, 1_300_000_010),
              (2, 8, 0, 30, 1_300_000_001), (2, 8, 0, 11, 1_300_000_002), (2, 7, 0, 99, 1_300_000_003)]
    path = write_events(tmp_path / "le.txt", events)
    out = tmp_path / "o.parquet"
    summary = ingest_events(path, out, min_song_plays=3)  # only A (track 10) survives
    assert read_output(out) == [(1, 10, 9, 1_300_000_010)]  # A A A collapsed into the earliest
    assert summary["removed_by_min_song_plays"] == 5 and summary["tracks_below_min_song_plays"] == 3
    assert summary["consecutive_duplicates_collapsed"] == 2 and summary["users"] == 1
    summary = ingest_events(path, out, min_song_plays=2)  # C (99) goes
    assert read_output(out) == [(1, 10, 9, 1_300_000_010), (1, 11, 9, 1_300_000_020),
                                (1, 10, 9, 1_300_000_030), (1, 30, 9, 1_300_000_040),
                                (1, 10, 9, 1_300_000_050), (2, 30, 8, 1_300_000_001),
                                (2, 11, 8, 1_300_000_002)]
    assert summary["removed_by_min_song_plays"] == 1 and summary["consecutive_duplicates_collapsed"] == 0
    assert summary["tracks"] == 3 and summary["events_written"] == 7


def test_equal_timestamps_keep_file_order_and_keep_mode(tmp_path):
    events = [(5, 1, 1, 3, 1_300_000_000), (5, 1, 1, 1, 1_300_000_000), (5, 1, 1, 1, 1_300_000_000),
              (5, 1, 1, 2, 1_299_999_999)]
    path = write_events(tmp_path / "le.txt", events)
    summary = ingest_events(path, tmp_path / "keep.parquet", consecutive_duplicates="keep")
    assert [r[1] for r in read_output(tmp_path / "keep.parquet")] == [2, 3, 1, 1]
    assert summary["consecutive_duplicates_collapsed"] == 0
    summary = ingest_events(path, tmp_path / "collapse.parquet")
    assert [r[1] for r in read_output(tmp_path / "collapse.parquet")] == [2, 3, 1]
    assert summary["consecutive_duplicates_collapsed"] == 1


def test_bad_rows_skip_and_error(tmp_path):
    path = tmp_path / "le.txt"
    path.write_text("1\t1\t1\t1\t1300000000\n\n1\t1\t1\tx\t1300000001\n2\t2\t2\t2\t1300000002")
    summary = ingest_events(path, tmp_path / "o.parquet", bad_rows="skip")
    assert summary["skipped"] == {"blank_line": 1, "wrong_column_count": 0, "non_numeric": 1,
                                  "negative_id": 0, "impossible_timestamp": 0}
    assert summary["lines_read"] == 4 and summary["events_read"] == summary["events_written"] == 2
    assert summary["skipped_examples"][0] == f"{path}:2: blank line: ''"
    with pytest.raises(Lfm1bFormatError, match="le.txt:2: blank line"):
        ingest_events(path, tmp_path / "failed.parquet")
    assert not (tmp_path / "failed.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["le.txt", "o.parquet"]  # no temp or spill left


def test_empty_file_gives_an_empty_sequence_file(tmp_path):
    (tmp_path / "le.txt").write_bytes(b"")
    summary = ingest_events(tmp_path / "le.txt", tmp_path / "o.parquet")
    assert summary["events_read"] == summary["events_written"] == summary["users"] == 0
    sequences = read_sequences(tmp_path / "o.parquet")
    assert len(sequences) == 0 and sequences.n_events == 0


def test_leftovers_of_a_killed_run_are_not_read_and_are_removed(tmp_path):
    stale = tmp_path / ".spill-o.parquet-killed"
    stale.mkdir()
    (stale / "run000000-track_id.npy").write_bytes(b"garbage")
    (tmp_path / ".tmp-o.parquet-killed.parquet").write_bytes(b"half a file")
    other = tmp_path / ".spill-other.parquet-killed"  # another output's: untouched
    other.mkdir()
    path = write_events(tmp_path / "le.txt", [(1, 1, 1, 7, 1_300_000_000)])
    ingest_events(path, tmp_path / "o.parquet")
    assert read_output(tmp_path / "o.parquet") == [(1, 7, 1, 1_300_000_000)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".spill-other.parquet-killed", "le.txt", "o.parquet"]


def test_invalid_parameters_are_refused(tmp_path):
    path = write_events(tmp_path / "le.txt", [(1, 1, 1, 7, 1_300_000_000)])
    for kwargs, message in (({"user_fraction": 0.0}, "user_fraction"), ({"min_song_plays": 0}, "min_song_plays"),
                            ({"consecutive_duplicates": "drop"}, "consecutive_duplicates"),
                            ({"memory_budget_bytes": 2000}, "memory_budget_bytes"), ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=message):
            ingest_events(path, tmp_path / "o.parquet", **kwargs)


# ---------------------------------------------------------------- property: every event accounted for

EVENT = st.tuples(st.integers(0, 12), st.integers(0, 3), st.just(0), st.integers(0, 6),
                  st.integers(1_300_000_000, 1_300_000_020))


@settings(max_examples=40, deadline=None)
@given(events=st.lists(EVENT, max_size=90), collapse=st.booleans(), min_song_plays=st.integers(1, 4),
       user_fraction=st.sampled_from([1.0, 0.6]), seed=st.integers(0, 3),
       budget=st.sampled_from([4096, 2 ** 30]))
def test_random_events_are_all_accounted_for(tmp_path_factory, events, collapse, min_song_plays,
                                             user_fraction, seed, budget):
    folder = tmp_path_factory.mktemp("property")
    path = write_events(folder / "le.txt", events)
    summary = ingest_events(path, folder / "o.parquet", consecutive_duplicates="collapse" if collapse else "keep",
                            min_song_plays=min_song_plays, user_fraction=user_fraction, seed=seed,
                            memory_budget_bytes=budget)
    rows, counts = naive_ingest(events, collapse, min_song_plays, user_fraction, seed)
    assert summary["events_read"] == len(events)
    assert (summary["events_written"] + summary["removed_by_user_sampling"] + summary["removed_by_min_song_plays"]
            + summary["consecutive_duplicates_collapsed"]) == len(events)
    assert {key: summary[key] for key in counts} == counts
    assert read_output(folder / "o.parquet") == rows
    if budget == 4096 and user_fraction == 1.0:  # 40 events per run, 64 per range
        assert summary["spill_runs"] == -(-len(events) // 40)
        if len(events) > 64 and max(Counter(e[0] for e in events).values()) <= 32:
            assert summary["user_ranges"] >= 2
