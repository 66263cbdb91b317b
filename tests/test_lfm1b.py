"""LFM-1b readers: the real excerpt, hand-made malformed files, and a naive line-by-line reference."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec import lfm1b
from songvec.lfm1b import (EARLIEST_TIMESTAMP, Lfm1bFormatError, ParseReport, iter_event_chunks,
                           read_artist_genres, read_artists, read_genre_names, read_tracks)

NOW = 1_500_000_000  # latest_timestamp used by the malformed-input tests
COLUMNS_TEXT = "expected 5 tab-separated columns (user_id, artist_id, album_id, track_id, timestamp)"


def read_all(path, **kwargs):
    """All events of a file as (n, 5) int64, plus the report."""
    report = ParseReport(str(path))
    chunks = list(iter_event_chunks(path, report=report, **kwargs))
    columns = [np.concatenate([getattr(c, name) for c in chunks]) if chunks else np.zeros(0, np.int64)
               for name in lfm1b.EVENT_COLUMNS]
    return np.stack(columns, axis=1), report


def naive_parse(data: bytes, latest: int):
    """Deliberately plain reference: classify each line with str methods, in file order.

    Returns (events (n, 5) int64, skip counts by reason, number of lines)."""
    events, counts = [], dict.fromkeys(lfm1b.SKIP_REASONS, 0)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for raw in lines:
        text = raw.decode("utf-8", errors="replace")
        if text.endswith("\r"):
            text = text[:-1]
        fields = text.split("\t")
        if text.strip(" \t\r") == "":
            counts["blank_line"] += 1
        elif len(fields) != 5:
            counts["wrong_column_count"] += 1
        elif not all(re.fullmatch("-?[0-9]+", f) and int(f.lstrip("-")) < 2 ** 63 for f in fields):
            counts["non_numeric"] += 1
        elif any(f.startswith("-") for f in fields[:4]):
            counts["negative_id"] += 1
        elif not EARLIEST_TIMESTAMP <= int(fields[4]) <= latest:
            counts["impossible_timestamp"] += 1
        else:
            events.append([int(f) for f in fields])
    return np.array(events, dtype=np.int64).reshape(-1, 5), counts, len(lines)


# ---------------------------------------------------------------- the real excerpt

def test_excerpt_events_match_naive_parse_at_any_chunk_size(excerpt_dir):
    path = excerpt_dir / lfm1b.EVENTS_FILE
    events, report = read_all(path)
    assert report.lines == report.events == 100_000 and report.n_skipped == 0
    assert len(np.unique(events[:, 0])) == 17
    expected, counts, _ = naive_parse(path.read_bytes(), latest=2 ** 31)
    assert np.array_equal(events, expected) and sum(counts.values()) == 0
    small_chunks, _ = read_all(path, chunk_bytes=4096)  # ~600 chunk boundaries
    assert np.array_equal(small_chunks, expected)
    assert events[0].tolist() == [31435741, 2, 4, 4, 1385212958]  # first line, by eye


def test_excerpt_tracks_and_artists(excerpt_dir):
    tracks = read_tracks(excerpt_dir / lfm1b.TRACKS_FILE)
    assert len(tracks) == 1000 and list(tracks.columns) == ["track_id", "track_name", "artist_id"]
    assert tracks["track_id"].dtype == np.int64 and tracks["artist_id"].dtype == np.int64
    assert tracks.iloc[1].tolist() == [2, "Hangar 18", 1]
    assert tracks.iloc[3].tolist() == [4, "Mr. Carter (Featuring Jay-Z)", 2]
    assert tracks.iloc[-1].tolist() == [1000, "Black'n'Roll", 158]
    assert tracks.attrs["decode_errors"] == 0 and tracks.attrs["lines"] == 1000
    artists = read_artists(excerpt_dir / lfm1b.ARTISTS_FILE)
    assert len(artists) == 1000 and artists["artist_id"].tolist() == list(range(1, 1001))
    assert artists.iloc[0].tolist() == [1, "Megadeth"]
    assert artists.iloc[-1].tolist() == [1000, "ATB feat. Vanessa"]


def test_excerpt_genres(excerpt_dir):
    names = read_genre_names(excerpt_dir / lfm1b.GENRE_NAMES_FILES["allmusic"])
    assert len(names) == 20 and names[0] == "rnb" and names[3] == "rock" and names[19] == "heavy metal"
    genres = read_artist_genres(excerpt_dir / lfm1b.ARTIST_GENRES_FILES["allmusic"])
    assert len(genres) == 1000 and list(genres.columns) == ["artist_name", "genre_ids"]
    by_name = dict(zip(genres["artist_name"], genres["genre_ids"]))
    assert by_name["Megadeth"] == [19, 3]  # heavy metal, rock
    assert by_name["Lil Wayne"] == [3, 18, 0]
    assert by_name["Enslaved"] == [] and by_name["Virgin Snatch"] == []  # rows with no genre
    assert by_name["Pidżama Porno"] == [3, 16, 15]  # non-ASCII name
    assert genres["artist_name"].iloc[33] == "Enslaved"  # file order kept
    # naive reference: every genre id of the file, in order
    text = (excerpt_dir / lfm1b.ARTIST_GENRES_FILES["allmusic"]).read_text(encoding="utf-8")
    naive = [[int(x) for x in line.split("\t")[1:] if x] for line in text.splitlines()]
    assert genres["genre_ids"].tolist() == naive
    assert max(max(ids, default=0) for ids in naive) < len(names)


# ---------------------------------------------------------------- malformed events files

GOOD = "1\t2\t3\t4\t1300000000\n"
BAD_CASES = {
    # name: (file content, line of the first bad row, message after "<path>:<line>: ", skip counts)
    "wrong column count": (GOOD + "5\t6\t7\n" + GOOD, 2, COLUMNS_TEXT + ", found 3: '5\\t6\\t7'",
                           {"wrong_column_count": 1}),
    "extra column": (GOOD + "1\t2\t3\t4\t1300000000\t9\n", 2, COLUMNS_TEXT + ", found 6: "
                     "'1\\t2\\t3\\t4\\t1300000000\\t9'", {"wrong_column_count": 1}),
    "non-numeric id": (GOOD * 2 + "1\t2\tx3\t4\t1300000000\n", 3,
                       "album_id is not a 64-bit base-10 integer: 'x3': '1\\t2\\tx3\\t4\\t1300000000'",
                       {"non_numeric": 1}),
    "empty field": ("1\t\t3\t4\t1300000000\n", 1,
                    "artist_id is not a 64-bit base-10 integer: '': '1\\t\\t3\\t4\\t1300000000'",
                    {"non_numeric": 1}),
    "int64 overflow": ("99999999999999999999\t2\t3\t4\t1300000000\n", 1,
                       "user_id is not a 64-bit base-10 integer: '99999999999999999999': "
                       "'99999999999999999999\\t2\\t3\\t4\\t1300000000'", {"non_numeric": 1}),
    "invalid UTF-8": (b"1\t2\t3\t\xff4\t1300000000\n", 1,
                      "track_id is not a 64-bit base-10 integer: '\ufffd4': '1\\t2\\t3\\t\ufffd4\\t1300000000'",
                      {"non_numeric": 1}),
    "negative id": (GOOD + "1\t-2\t3\t4\t1300000000\n", 2, "negative artist_id -2: '1\\t-2\\t3\\t4\\t1300000000'",
                    {"negative_id": 1}),
    "timestamp before 2002": (GOOD + "1\t2\t3\t4\t1000\n", 2, "impossible timestamp 1000: outside "
                              "[1009843200 (2002-01-01), 1500000000 (2017-07-14)]: '1\\t2\\t3\\t4\\t1000'",
                              {"impossible_timestamp": 1}),
    "timestamp in the future": ("1\t2\t3\t4\t1500000001\n", 1, "impossible timestamp 1500000001: outside "
                                "[1009843200 (2002-01-01), 1500000000 (2017-07-14)]: "
                                "'1\\t2\\t3\\t4\\t1500000001'", {"impossible_timestamp": 1}),
    "negative timestamp": ("1\t2\t3\t4\t-5\n", 1, "impossible timestamp -5: outside [1009843200 (2002-01-01), "
                           "1500000000 (2017-07-14)]: '1\\t2\\t3\\t4\\t-5'", {"impossible_timestamp": 1}),
    "blank lines": (GOOD + "\n" + GOOD + " \t \r\n" + GOOD, 2, "blank line: ''", {"blank_line": 2}),
    "truncated last line": (GOOD + "1\t2\t3", 2, COLUMNS_TEXT + ", found 3: '1\\t2\\t3'",
                            {"wrong_column_count": 1}),
}


def write(tmp_path, content, name=lfm1b.EVENTS_FILE):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_row_raises_with_file_and_line(tmp_path, case):
    content, line, message, _ = BAD_CASES[case]
    path = write(tmp_path, content)
    with pytest.raises(Lfm1bFormatError) as error:
        read_all(path, latest_timestamp=NOW)
    assert str(error.value) == f"{path}:{line}: {message}"


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_row_is_skipped_and_counted(tmp_path, case):
    content, line, message, counts = BAD_CASES[case]
    path = write(tmp_path, content)
    events, report = read_all(path, latest_timestamp=NOW, bad_rows="skip")
    expected_counts = dict.fromkeys(lfm1b.SKIP_REASONS, 0) | counts
    assert report.skipped == expected_counts
    assert report.lines == report.events + sum(counts.values())
    assert report.examples[0] == f"{path}:{line}: {message}"
    naive_events, naive_counts, _ = naive_parse(path.read_bytes(), NOW)
    assert naive_counts == expected_counts and np.array_equal(events, naive_events)
    assert (events == [1, 2, 3, 4, 1300000000]).all()


def test_crlf_and_missing_final_newline_are_valid(tmp_path):
    path = write(tmp_path, "1\t2\t3\t4\t1300000000\r\n5\t6\t7\t8\t1300000001\r\n9\t10\t11\t12\t1300000002")
    events, report = read_all(path, latest_timestamp=NOW)
    assert events.tolist() == [[1, 2, 3, 4, 1300000000], [5, 6, 7, 8, 1300000001],
                               [9, 10, 11, 12, 1300000002]]
    assert report.lines == 3 and report.n_skipped == 0


def test_empty_file_is_zero_events(tmp_path):
    events, report = read_all(write(tmp_path, b""))
    assert events.shape == (0, 5) and report.lines == 0 and report.events == 0


def test_line_numbers_are_exact_across_chunks(tmp_path):
    lines = [f"{i}\t2\t3\t4\t{1300000000 + i}\n" for i in range(5000)]
    lines[3456] = "7\t2\t3\t4\n"
    path = write(tmp_path, "".join(lines))
    with pytest.raises(Lfm1bFormatError, match="^" + re.escape(f"{path}:3457: {COLUMNS_TEXT}, found 4: ")):
        read_all(path, chunk_bytes=1000, latest_timestamp=NOW)
    events, report = read_all(path, chunk_bytes=1000, latest_timestamp=NOW, bad_rows="skip")
    assert report.wrong_column_count == 1 and len(events) == 4999
    assert events[3455:3457, 0].tolist() == [3455, 3457]


def test_line_longer_than_chunk_is_read_whole(tmp_path):
    long_id = "0" * 5000 + "7"
    path = write(tmp_path, GOOD + f"{long_id}\t2\t3\t4\t1300000000\n" + GOOD)
    events, report = read_all(path, chunk_bytes=64, latest_timestamp=NOW, bad_rows="skip")
    assert report.non_numeric == 0 and events[:, 0].tolist() == [1, 7, 1]


def test_only_first_examples_are_kept_but_all_are_counted(tmp_path):
    path = write(tmp_path, "x\n" * 12 + GOOD)
    events, report = read_all(path, chunk_bytes=8, latest_timestamp=NOW, bad_rows="skip")
    assert report.wrong_column_count == 12 and len(events) == 1
    assert report.examples == [f"{path}:{i}: {COLUMNS_TEXT}, found 1: 'x'" for i in range(1, 6)]


def test_invalid_options_are_refused(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(ValueError, match="bad_rows"):
        read_all(path, bad_rows="ignore")


LINE_KINDS = st.sampled_from([
    "{u}\t{a}\t3\t{t}\t{ts}", "{u}\t{a}\t3\t{t}\t{ts}\r", "", " ", "{u}\t{a}\t{t}", "{u}\t-{a}\t3\t{t}\t{ts}",
    "{u}\t{a}\t3\t{t}\t{ts}\t", "{u}\ta{a}\t3\t{t}\t{ts}", "{u}\t{a}\t3\t{t}\t5", "{u}\t{a}\t3\t{t}\t-{ts}",
    "{u}\t{a}\t3\t{t}\t9{ts}", "{u}\t{a}\t3\t{t}\t{ts}\x00", "-\t{a}\t3\t{t}\t{ts}", "\t\t\t\t",
    "{u}\t{a}\t+3\t{t}\t{ts}", "{u}\t{a}\t3 \t{t}\t{ts}", "{u}\t{a}\t3\t{t}\t{ts}\r\r"])


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.tuples(LINE_KINDS, st.integers(0, 10 ** 12), st.integers(0, 99),
                                st.integers(1_100_000_000, 1_400_000_000)), max_size=40),
       final_newline=st.booleans(), chunk_bytes=st.integers(1, 300))
def test_random_lines_match_naive_parse(tmp_path_factory, lines, final_newline, chunk_bytes):
    text = "\n".join(kind.format(u=u, a=a, t=a + 1, ts=ts) for kind, u, a, ts in lines)
    if lines and final_newline:
        text += "\n"
    path = write(tmp_path_factory.mktemp("random"), text)
    events, report = read_all(path, chunk_bytes=chunk_bytes, latest_timestamp=NOW, bad_rows="skip")
    expected_events, expected_counts, n_lines = naive_parse(text.encode(), NOW)
    assert np.array_equal(events, expected_events)
    assert report.skipped == expected_counts and report.lines == n_lines


# ---------------------------------------------------------------- malformed name files

def test_names_are_not_csv_quoted_and_tabs_in_track_names_are_kept(tmp_path):
    path = write(tmp_path, '1\t"Heroes"\t7\n2\tA "B" C\t8\n3\tleft\tright\t9\n4\t\t10\n', lfm1b.TRACKS_FILE)
    tracks = read_tracks(path)
    assert tracks["track_name"].tolist() == ['"Heroes"', 'A "B" C', "left\tright", ""]
    assert tracks["artist_id"].tolist() == [7, 8, 9, 10]
    artists = read_artists(write(tmp_path, '5\t"Weird Al" Yankovic\n6\ta\tb\n', lfm1b.ARTISTS_FILE))
    assert artists["artist_name"].tolist() == ['"Weird Al" Yankovic', "a\tb"]


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    path = write(tmp_path, b"1\tMot\xf6rhead\r\n\n2\tok\n3\tbad \xff\xfe end\n4\tgenuine \xef\xbf\xbd\n",
                 lfm1b.ARTISTS_FILE)
    artists = read_artists(path)
    assert artists["artist_name"].tolist() == ["Mot\ufffdrhead", "ok", "bad \ufffd\ufffd end", "genuine \ufffd"]
    assert artists.attrs["decode_errors"] == 3  # the U+FFFD already in the file is not an error
    assert artists.attrs["first_decode_error_line"] == 1
    assert artists.attrs["blank_lines"] == 1 and artists.attrs["lines"] == 5


def test_artist_genres_edge_cases(tmp_path):
    path = write(tmp_path, "Megadeth\t19\t3\t\nNo Genre\t\nMegadeth\t3\r\n\nLast\t0\t7",
                 lfm1b.ARTIST_GENRES_FILES["freebase"])
    genres = read_artist_genres(path)
    assert genres["artist_name"].tolist() == ["Megadeth", "No Genre", "Megadeth", "Last"]  # repeats kept
    assert genres["genre_ids"].tolist() == [[19, 3], [], [3], [0, 7]]


def test_bad_ids_in_name_files_name_file_and_line(tmp_path):
    path = write(tmp_path, "1\tfine\t2\n\nx7\tname\t3\n", lfm1b.TRACKS_FILE)
    message = f"{path}:3: track_id is not a non-negative integer: 'x7'"
    with pytest.raises(Lfm1bFormatError, match="^" + re.escape(message)):
        read_tracks(path)
    path = write(tmp_path, "1\tno artist id\n", lfm1b.TRACKS_FILE)
    with pytest.raises(Lfm1bFormatError, match="^" + re.escape(f"{path}:1: too few tab-separated columns")):
        read_tracks(path)
    path = write(tmp_path, "Band\t3\tpop\t\n", lfm1b.ARTIST_GENRES_FILES["allmusic"])
    message = f"{path}:1: genre id is not a non-negative integer: 'pop'"
    with pytest.raises(Lfm1bFormatError, match="^" + re.escape(message)):
        read_artist_genres(path)


def test_genre_names_blank_line_inside_is_an_error(tmp_path):
    assert read_genre_names(write(tmp_path, "rnb\r\nrap\n\n", "genres_x.txt")) == ["rnb", "rap"]
    path = write(tmp_path, "rnb\n\nrap\n", "genres_y.txt")
    with pytest.raises(Lfm1bFormatError, match="^" + re.escape(f"{path}:2: blank genre name")):
        read_genre_names(path)


def test_empty_name_files(tmp_path):
    assert len(read_tracks(write(tmp_path, b"", lfm1b.TRACKS_FILE))) == 0
    assert len(read_artist_genres(write(tmp_path, b"", "g.txt"))) == 0
    assert read_genre_names(write(tmp_path, b"", "n.txt")) == []
