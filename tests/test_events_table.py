"""Plain events tables: the real excerpt through both readers, ids, timestamps, playlists, genres, bad input."""

import gzip

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from songvec import lfm1b
from songvec.events_table import EventsTableError, IdMap, open_table, read_layout
from songvec.ingest import ingest_events
from songvec.sequences import read_sequences

NOW = 1_500_000_000


def ingest(path, out, columns=None, ids="auto", bad_rows="error", **options):
    table = open_table(path, columns, ids=ids, bad_rows=bad_rows, latest_timestamp=NOW)
    return table, ingest_events(table, out, **options)


def rows_of(path):
    sequences = read_sequences(path)
    users = np.repeat(sequences.user_ids, sequences.lengths)
    return list(zip(users.tolist(), sequences.tracks.tolist(), sequences.artists.tolist(),
                    sequences.timestamps.tolist()))


@pytest.fixture(scope="module")
def excerpt_frame(excerpt_dir):
    return pd.read_csv(excerpt_dir / lfm1b.EVENTS_FILE, sep="\t", header=None, names=list(lfm1b.EVENT_COLUMNS))


@pytest.fixture(scope="module")
def lfm1b_sequences(excerpt_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lfm1b") / "sequences.parquet"
    ingest_events(excerpt_dir / lfm1b.EVENTS_FILE, out)
    return out


# ---------------------------------------------------------------- the real excerpt, three ways

@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.tsv.gz"])
def test_excerpt_as_a_table_gives_byte_identical_sequences(excerpt_frame, lfm1b_sequences, tmp_path, name):
    path = tmp_path / name
    frame = excerpt_frame[["timestamp", "track_id", "user_id", "artist_id"]]  # another column order
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, sep="\t" if ".tsv" in name else ",")
    table, summary = ingest(path, tmp_path / "out.parquet", latest_timestamp=None)
    assert summary["events_read"] == summary["lines_read"] == 100_000
    assert summary["removed_as_repeated"] == 0 and summary["users"] == 17
    assert (tmp_path / "out.parquet").read_bytes() == lfm1b_sequences.read_bytes()
    assert table.kinds == {"user_id": "integer", "track_id": "integer", "artist_id": "integer", "timestamp": "unix"}


def test_string_ids_and_iso_timestamps_give_the_same_sequences_under_their_keys(excerpt_frame, lfm1b_sequences,
                                                                               tmp_path):
    frame = excerpt_frame.assign(
        user_id="user-" + excerpt_frame["user_id"].astype(str), track_id="t" + excerpt_frame["track_id"].astype(str),
        timestamp=pd.to_datetime(excerpt_frame["timestamp"], unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    path = tmp_path / "strings.csv"
    frame.to_csv(path, index=False)
    table, _ = ingest(path, tmp_path / "out.parquet")
    keys = table.write_keys(tmp_path / "keys")
    assert keys["ids"] == {"user_id": "string", "track_id": "string", "artist_id": "integer"}
    users = pd.read_parquet(tmp_path / "keys" / "user_id.parquet")
    tracks = pd.read_parquet(tmp_path / "keys" / "track_id.parquet")
    assert users["id"].tolist() == list(range(17)) and len(tracks) == 29_331
    # the first user in the file gets id 0, and so on
    assert users["key"].tolist() == list(dict.fromkeys(frame["user_id"]))
    user_key, track_key = users.set_index("id")["key"], tracks.set_index("id")["key"]
    mapped = sorted((int(user_key[u].removeprefix("user-")), int(track_key[t][1:]), a, ts)
                    for u, t, a, ts in rows_of(tmp_path / "out.parquet"))
    assert mapped == sorted(rows_of(lfm1b_sequences))


def test_column_names_are_remapped(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("when,who,song,singer\n1300000002,7,3,9\n1300000001,7,4,9\n")
    table, summary = ingest(path, tmp_path / "o.parquet",
                            {"timestamp": "when", "user_id": "who", "track_id": "song", "artist_id": "singer"})
    assert rows_of(tmp_path / "o.parquet") == [(7, 4, 9, 1300000001), (7, 3, 9, 1300000002)]
    with pytest.raises(EventsTableError, match=r"events.columns.user_id is 'person', but the table has no such "
                                               r"column \(its columns: when, who, song, singer\)"):
        read_layout(path, {"user_id": "person", "track_id": "song", "timestamp": "when"})


# ---------------------------------------------------------------- ids and timestamps

def test_id_map_is_dense_in_order_of_first_appearance():
    import pyarrow as pa

    ids = IdMap()
    assert ids.encode(pa.array(["b", "a", "b", "", None])).tolist() == [0, 1, 0, -1, -1]
    assert ids.encode(pa.array(["c", "a"])).tolist() == [2, 1]
    assert ids.keys() == ["b", "a", "c"]


@pytest.mark.parametrize("text, seconds", [
    ("2013-08-28T00:55:35", 1377651335), ("2013-08-28 00:55:35", 1377651335), ("2013-08-28T00:55:35Z", 1377651335),
    ("2013-08-28T02:55:35+02:00", 1377651335), ("2013-08-28T00:55:35.900Z", 1377651335), ("2013-08-28", 1377648000),
])
def test_iso_timestamps_of_every_form_are_utc_seconds(tmp_path, text, seconds):
    path = tmp_path / "t.csv"
    path.write_text(f"user_id,track_id,timestamp\n1,1,{text}\n1,2,2013-08-28T00:00:00\n")
    ingest(path, tmp_path / "o.parquet")
    assert rows_of(tmp_path / "o.parquet")[-1 if seconds > 1377648000 else 0] == (1, 1, -1, seconds)


def test_unix_seconds_may_be_decimals_and_are_floored(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("user_id\ttrack_id\ttimestamp\n1\t1\t1300000000.9\n1\t2\t1300000000\n")
    ingest(path, tmp_path / "o.parquet")
    assert rows_of(tmp_path / "o.parquet") == [(1, 1, -1, 1300000000), (1, 2, -1, 1300000000)]


# ---------------------------------------------------------------- playlists

def test_a_playlist_table_orders_by_position(tmp_path):
    path = tmp_path / "playlists.csv"
    path.write_text("playlist_id,position,track_id,user_id\nmix,2,c,u\nmix,0,a,u\nrock,5,a,v\nmix,1,b,u\n")
    table, summary = ingest(path, tmp_path / "o.parquet")
    assert table.layout.kind == "playlists" and table.unique == "position"
    assert rows_of(tmp_path / "o.parquet") == [(0, 1, -1, 0), (0, 2, -1, 1), (0, 0, -1, 2), (1, 1, -1, 5)]
    assert summary["users"] == 2


def test_a_repeated_position_is_an_error_naming_both_lines_or_skipped_and_counted(tmp_path):
    path = tmp_path / "playlists.csv"
    path.write_text("playlist_id,position,track_id\nmix,0,a\nmix,1,b\nrock,0,a\nmix,1,c\n")
    with pytest.raises(EventsTableError, match=r"playlists.csv: line 3 and line 5: playlist 'mix' has position 1 "
                                               r"twice \(columns 'playlist_id', 'position'\)"):
        ingest(path, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()
    _, summary = ingest(path, tmp_path / "o.parquet", bad_rows="skip")
    assert summary["removed_as_repeated"] == 1 and summary["events_written"] == 3
    assert rows_of(tmp_path / "o.parquet")[:2] == [(0, 0, -1, 0), (0, 1, -1, 1)]  # the first row is kept


# ---------------------------------------------------------------- genres

def test_first_genre_of_the_first_labelled_row_counts(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("user_id,track_id,timestamp,genre\n1,10,1300000000,\n1,10,1300000001,Rock | Pop\n"
                    "1,11,1300000002,unknown\n1,10,1300000003,Jazz\n2,12,1300000004,Pop|Rock\n")
    table, _ = ingest(path, tmp_path / "o.parquet")
    manifest = table.write_keys(tmp_path / "keys")
    genres = pd.read_parquet(tmp_path / "keys" / "genres.parquet")
    assert genres.to_dict("list") == {"track_id": [10, 12], "genre": ["Rock", "Pop"]}
    assert manifest["tracks_with_several_genres"] == 1 and manifest["genres"] == 3


# ---------------------------------------------------------------- bad input

def test_a_required_column_missing_is_named_with_the_header(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track,timestamp\n1,2,1300000000\n")
    with pytest.raises(EventsTableError, match=r"plays.csv: required column\(s\) track_id missing .* the header has "
                                               r"user_id, track, timestamp; map other names with events.columns"):
        read_layout(path)
    path.write_text("playlist_id,track_id\np,1\n")
    with pytest.raises(EventsTableError, match=r"position missing \(a playlist table needs"):
        read_layout(path)


def test_an_unparsable_timestamp_names_line_column_and_value(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp\n1,2,2013-08-28T00:55:35\n1,3,yesterday\n")
    with pytest.raises(EventsTableError, match=r"plays.csv: line 3: timestamp 'yesterday' in column 'timestamp' is "
                                               r"not an ISO-8601 date and time"):
        ingest(path, tmp_path / "o.parquet")
    table, summary = ingest(path, tmp_path / "o.parquet", bad_rows="skip")
    assert summary["skipped"]["unparsable_timestamp"] == 1 and summary["events_written"] == 1
    assert summary["skipped_examples"] == [f"{path}: line 3: timestamp 'yesterday' in column 'timestamp' is not "
                                           f"an ISO-8601 date and time (e.g. 2013-08-28T00:55:35Z)"]


def test_an_impossible_timestamp_is_a_bad_row(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp\n1,2,1300000000\n1,3,1600000000\n")
    with pytest.raises(EventsTableError, match=r"line 3: impossible timestamp '1600000000'"):
        ingest(path, tmp_path / "o.parquet")


@pytest.mark.parametrize("content, message", [
    (b"", "the table is empty (no header row)"),
    (b"user_id,track_id,timestamp\n", "the table is empty (a header, no rows)"),
])
def test_an_empty_table_is_an_error(tmp_path, content, message):
    path = tmp_path / "plays.csv"
    path.write_bytes(content)
    with pytest.raises(EventsTableError, match=f"plays.csv: {message}".replace("(", r"\(").replace(")", r"\)")):
        ingest(path, tmp_path / "o.parquet")


def test_ids_of_mixed_types_name_the_line_and_the_fix(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp\n1,2,1300000000\n1,2b,1300000001\n")
    with pytest.raises(EventsTableError, match=r"line 3: track_id '2b' in column 'track_id' is not an integer, but "
                                               r"the column's first id is \(set events.ids: string"):
        ingest(path, tmp_path / "o.parquet")
    table, summary = ingest(path, tmp_path / "o.parquet", ids="string")
    assert summary["events_written"] == 2 and table.write_keys(tmp_path / "k")["ids"]["track_id"] == "string"
    assert pd.read_parquet(tmp_path / "k" / "track_id.parquet")["key"].tolist() == ["2", "2b"]


def test_mixed_types_across_chunks_are_found_too(tmp_path):
    """The first row says integers, so Arrow parses them; the text reading takes over after the blocks
    already read (64 KiB each), without reading a row twice."""
    path = tmp_path / "plays.csv"
    n = 6000  # > 64 KiB of rows
    rows = "".join(f"{u},{u},{1_300_000_000 + u}\n" for u in range(1, n + 1))
    path.write_text("user_id,track_id,timestamp\n" + rows + "x,1,1300000000\n1,,1300000001\n\n")
    table = open_table(path, latest_timestamp=NOW)
    with pytest.raises(EventsTableError, match=rf"line {n + 2}: user_id 'x' in column 'user_id' is not an integer"):
        list(table.chunks(1))
    table = open_table(path, latest_timestamp=NOW, bad_rows="skip")
    chunks = list(table.chunks(1))
    assert len(chunks) >= 2 and np.concatenate([c.user_id for c in chunks]).tolist() == list(range(1, n + 1))
    assert table.report.lines == n + 3 and table.report.events == n
    assert {k: v for k, v in table.report.skipped.items() if v} == {"mixed_id_types": 1, "missing_value": 2}


def test_duplicate_rows_are_an_error_or_skipped_and_counted(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp\nu,a,1300000000\nu,b,1300000000\nv,a,1300000000\nu,a,1300000000\n")
    with pytest.raises(EventsTableError, match=r"plays.csv: line 2 and line 5: duplicate row: user 'u', track 'a' "
                                               r"at timestamp 1300000000 \(2011-03-13 07:06:40 UTC\) twice"):
        ingest(path, tmp_path / "o.parquet")
    _, summary = ingest(path, tmp_path / "o.parquet", bad_rows="skip", consecutive_duplicates="keep")
    assert summary["removed_as_repeated"] == 1 and summary["events_written"] == 3
    # two tracks at the same second are not duplicates: both kept, in file order
    assert [row[1] for row in rows_of(tmp_path / "o.parquet")] == [0, 1, 0]


def test_missing_values_and_wrong_field_counts(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp,artist_id\n1,2,1300000000,\n,3,1300000001,4\n1,4\n\n"
                    "1,5,1300000002,5\n")
    with pytest.raises(EventsTableError, match=r"plays.csv: line 3: no user_id in column 'user_id'"):
        ingest(path, tmp_path / "o.parquet")
    _, summary = ingest(path, tmp_path / "o.parquet", bad_rows="skip")
    assert summary["skipped"]["missing_value"] == 2  # line 3 and the blank line 5
    assert summary["skipped"]["wrong_field_count"] == 1 and summary["lines_read"] == 5
    assert rows_of(tmp_path / "o.parquet") == [(1, 2, -1, 1300000000), (1, 5, 5, 1300000002)]
    path.write_text("user_id,track_id,timestamp\n1,2,1300000000\n1,4\n")
    with pytest.raises(EventsTableError, match=r"plays.csv:3: expected 3 fields like the header, found 2: '1,4'"):
        ingest(path, tmp_path / "o.parquet")


def test_a_missing_timestamp_and_a_malformed_last_line(tmp_path):
    path = tmp_path / "plays.tsv"
    path.write_text("user_id\ttrack_id\ttimestamp\n1\t2\t2013-08-28\n1\t3\t \n")
    with pytest.raises(EventsTableError, match=r"plays.tsv: line 3: no timestamp in column 'timestamp'"):
        ingest(path, tmp_path / "o.parquet")
    path.write_text("user_id\ttrack_id\ttimestamp\n1\t2\t2013-08-28\n1\t3\n")
    with pytest.raises(EventsTableError, match=r"plays.tsv:3: expected 3 fields like the header, found 2"):
        ingest(path, tmp_path / "o.parquet")


def test_negative_ids_and_bad_positions(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp\n1,-2,1300000000\n")
    with pytest.raises(EventsTableError, match=r"line 2: negative track_id '-2'"):
        ingest(path, tmp_path / "o.parquet")
    path = tmp_path / "playlists.parquet"
    pd.DataFrame({"playlist_id": [1, 1], "track_id": [1, 2], "position": [0, -1]}).to_parquet(path)
    with pytest.raises(EventsTableError, match=r"playlists.parquet: row 2: position -1 in column 'position' is not "
                                               r"a non-negative integer"):
        ingest(path, tmp_path / "o.parquet")


def test_unknown_formats_and_not_a_table(tmp_path):
    with pytest.raises(EventsTableError, match=r"plays.xlsx: unknown table format"):
        read_layout(tmp_path / "plays.xlsx")
    with pytest.raises(EventsTableError, match=r"plays.csv: no such file \(events.path\)"):
        read_layout(tmp_path / "plays.csv")
    (tmp_path / "plays.parquet").write_text("user_id,track_id,timestamp\n")
    with pytest.raises(EventsTableError, match=r"plays.parquet: not a Parquet file"):
        read_layout(tmp_path / "plays.parquet")
    with gzip.open(tmp_path / "plays.csv.gz", "wt") as file:
        file.write("user_id,track_id\n")
    with pytest.raises(EventsTableError, match=r"required column\(s\) timestamp missing"):
        read_layout(tmp_path / "plays.csv.gz")


def test_parquet_types_are_checked_at_the_header(tmp_path):
    path = tmp_path / "plays.parquet"
    pd.DataFrame({"user_id": [1.5], "track_id": [1], "timestamp": [1300000000]}).to_parquet(path)
    with pytest.raises(EventsTableError, match=r"column 'user_id' \(user_id\) has type double, which cannot hold ids"):
        read_layout(path)


def test_parquet_timestamp_columns_and_string_ids(tmp_path):
    path = tmp_path / "plays.parquet"
    pd.DataFrame({"user_id": ["a", "a"], "track_id": ["x", "y"],
                  "timestamp": pd.to_datetime(["2013-08-28 00:55:35", "2013-08-28 00:55:34"], utc=True)}
                 ).to_parquet(path)
    table, _ = ingest(path, tmp_path / "o.parquet")
    assert rows_of(tmp_path / "o.parquet") == [(0, 1, -1, 1377651334), (0, 0, -1, 1377651335)]
    assert table.kinds["timestamp"] == "typed" and table.kinds["user_id"] == "string"
