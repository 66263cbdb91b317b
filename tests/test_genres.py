"""Song genres: hand-checked cases on the real LFM-1b excerpt, and a naive dict-loop reference on random data."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec.genres import REASONS, UNKNOWN, map_track_genres, track_artist_counts, track_artist_pairs


def _rows(path):
    return [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n") if line]


@pytest.fixture(scope="module")
def excerpt(excerpt_dir):
    """The excerpt's files, parsed here with plain splitting (independent of songvec.lfm1b)."""
    artists = pd.DataFrame([(int(i), name) for i, name in _rows(excerpt_dir / "LFM-1b_artists.txt")],
                           columns=["artist_id", "artist_name"])
    artist_genres = pd.DataFrame([(row[0], [int(x) for x in row[1:] if x != ""])
                                  for row in _rows(excerpt_dir / "LFM-1b_artist_genres_allmusic.txt")],
                                 columns=["artist_name", "genre_ids"])
    genre_names = (excerpt_dir / "genres_allmusic.txt").read_text(encoding="utf-8").splitlines()
    events = pd.read_csv(excerpt_dir / "LFM-1b_LEs.txt", sep="\t", header=None,
                         names=["user_id", "artist_id", "album_id", "track_id", "timestamp"])
    track_artist = track_artist_pairs(events["track_id"].to_numpy(), events["artist_id"].to_numpy())
    return track_artist, artists, artist_genres, genre_names


def _genre_of_artist(table, artist_id):
    genres = table.loc[table["artist_id"] == artist_id, "genre"].unique()
    assert len(genres) == 1, (artist_id, genres)
    return genres[0]


def test_excerpt_hand_checked_artists(excerpt):
    track_artist, artists, artist_genres, genre_names = excerpt
    table, counts = map_track_genres(track_artist, artists, artist_genres, genre_names)
    # artists file line 1: "1 Megadeth"; genre file: "Megadeth 19 3" -> genres_allmusic.txt 0-based line 19
    assert genre_names[19] == "heavy metal"
    assert _genre_of_artist(table, 1) == "heavy metal"
    # "2 Lil Wayne"; "Lil Wayne 3 18 0" -> line 3 'rock'
    assert _genre_of_artist(table, 2) == "rock"
    # "3 Foo Fighters"; "Foo Fighters 16 15 18" -> 'alternative'
    assert _genre_of_artist(table, 3) == "alternative"
    # "34 Enslaved"; genre file line 34 "Enslaved<TAB>" has no genre
    assert _genre_of_artist(table, 34) == UNKNOWN
    # "117 Eddie, Mark" is not in the genre file
    assert _genre_of_artist(table, 117) == UNKNOWN
    # the excerpt's artists file stops at id 1000; events use higher ids
    assert _genre_of_artist(table, 1001) == UNKNOWN
    assert table.loc[table["artist_id"] == 1001, "artist_name"].isna().all()
    assert table.loc[table["artist_id"] == 1, "artist_name"].eq("Megadeth").all()
    # track 2 "Hangar 18" is by artist 1 (tracks file), track 4 "Mr. Carter" by artist 2
    assert table.set_index("track_id").loc[[2, 4], "genre"].tolist() == ["heavy metal", "rock"]

    assert counts["tracks"] == track_artist["track_id"].nunique() == len(table)
    assert counts["mapped"] + sum(counts[r] for r in REASONS) == counts["tracks"]
    assert counts["unknown_artist_id"] == table["artist_id"].gt(1000).sum() > 0
    assert counts["empty_genre_list"] > 0 and counts["unknown_artist_name"] > 0
    assert counts["unknown_genre_id"] == 0
    assert counts["duplicate_genre_names"] == 0 and counts["tracks_with_several_artists"] == 0
    assert table["track_id"].is_monotonic_increasing


def test_excerpt_repeated_names_and_bad_genre_id(excerpt):
    track_artist, artists, artist_genres, genre_names = excerpt
    extra = pd.DataFrame({"artist_name": ["Megadeth", "Enslaved", "Enslaved", "Lil Wayne", "Porcupine Tree"],
                          "genre_ids": [[0], [5, 1], [6], [], [1]]})
    # a row placed BEFORE the original: 'Foo Fighters' with an out-of-range id comes first
    first = pd.DataFrame({"artist_name": ["  Foo Fighters "], "genre_ids": [[20, 1]]})
    genres = pd.concat([first, artist_genres, extra], ignore_index=True)
    table, counts = map_track_genres(track_artist, artists, genres, genre_names)
    assert _genre_of_artist(table, 1) == "heavy metal"   # first row kept, later [0] ignored
    assert _genre_of_artist(table, 34) == "classical"    # empty first row skipped: first non-empty is [5, 1]
    assert _genre_of_artist(table, 2) == "rock"          # a later empty row changes nothing
    assert _genre_of_artist(table, 4) == "rock"          # 'Porcupine Tree 3 16' keeps id 3
    assert _genre_of_artist(table, 3) == UNKNOWN         # stripped name matches; first id 20 is not a genre
    foo_tracks = int((table["artist_id"] == 3).sum())
    assert counts["unknown_genre_id"] == foo_tracks > 0
    assert counts["duplicate_genre_names"] == 5
    assert counts["duplicate_genre_rows_ignored"] == 6
    with pytest.raises(ValueError, match="several rows"):
        map_track_genres(track_artist, artists, genres, genre_names, duplicate_names="error")


def test_track_with_several_artists_keeps_the_most_frequent_then_the_first():
    artists = pd.DataFrame({"artist_id": [1, 2, 3], "artist_name": ["A", "B", "C"]})
    genres = pd.DataFrame({"artist_name": ["A", "B", "C"], "genre_ids": [[0], [1], [2]]})
    track_artist = pd.DataFrame({"track_id": [7, 7, 8, 8, 9], "artist_id": [1, 2, 3, 1, 3],
                                 "n_events": [2, 5, 4, 4, 1]})
    table, counts = map_track_genres(track_artist, artists, genres, ["g0", "g1", "g2"])
    assert table.to_dict("list") == {"track_id": [7, 8, 9], "artist_id": [2, 3, 3],
                                     "artist_name": ["B", "C", "C"], "genre": ["g1", "g2", "g2"]}
    assert counts["tracks_with_several_artists"] == 2
    # without n_events every row counts once: the first row wins
    table, _ = map_track_genres(track_artist.drop(columns="n_events"), artists, genres, ["g0", "g1", "g2"])
    assert table["artist_id"].tolist() == [1, 3, 3]


def test_names_match_exactly_after_stripping():
    artists = pd.DataFrame({"artist_id": [1, 2, 3], "artist_name": [" Abba", "abba", "Abba\t"]})
    genres = pd.DataFrame({"artist_name": ["Abba  "], "genre_ids": [[1]]})
    table, counts = map_track_genres(pd.DataFrame({"track_id": [1, 2, 3], "artist_id": [1, 2, 3]}),
                                     artists, genres, ["x", "pop"])
    assert table["genre"].tolist() == ["pop", UNKNOWN, "pop"]
    assert counts["unknown_artist_name"] == 1


def test_bad_inputs_are_named():
    artists = pd.DataFrame({"artist_id": [1, 1], "artist_name": ["A", "B"]})
    genres = pd.DataFrame({"artist_name": ["A"], "genre_ids": [[0]]})
    tracks = pd.DataFrame({"track_id": [1], "artist_id": [1]})
    with pytest.raises(ValueError, match=r"artist ids repeat \(\[1\]"):
        map_track_genres(tracks, artists, genres, ["g"])
    with pytest.raises(ValueError, match="track_artist lacks the column"):
        map_track_genres(tracks.rename(columns={"artist_id": "artist"}), artists, genres, ["g"])
    with pytest.raises(ValueError, match="reserved name 'unknown' \\(line 1\\)"):
        map_track_genres(tracks, artists.head(1), genres, ["g", "unknown"])
    with pytest.raises(ValueError, match="duplicate_names"):
        map_track_genres(tracks, artists.head(1), genres, ["g"], duplicate_names="last")


def naive_map(track_artist, artists, artist_genres, genre_names):
    """The documented rules, one dict loop at a time."""
    pair_totals = {}
    for row, (t, a, n) in enumerate(zip(track_artist.track_id, track_artist.artist_id, track_artist.n_events)):
        total, first_row = pair_totals.get((t, a), (0, row))
        pair_totals[(t, a)] = (total + n, first_row)
    best, artists_of = {}, {}
    for (t, a), (n, row) in pair_totals.items():
        artists_of.setdefault(t, set()).add(a)
        if t not in best or n > best[t][1] or (n == best[t][1] and row < best[t][2]):
            best[t] = (a, n, row)
    name_of = {a: name.strip() for a, name in zip(artists.artist_id, artists.artist_name)}
    genres_of, rows_of = {}, {}
    for name, ids in zip(artist_genres.artist_name, artist_genres.genre_ids):
        name = name.strip()
        rows_of[name] = rows_of.get(name, 0) + 1
        if name not in genres_of or (not genres_of[name] and len(ids)):
            genres_of[name] = list(ids)
    counts = dict.fromkeys(("mapped",) + REASONS, 0)
    out = []
    for t in sorted(best):
        a = best[t][0]
        name = name_of.get(a)
        if name is None:
            genre, reason = UNKNOWN, "unknown_artist_id"
        elif name not in genres_of:
            genre, reason = UNKNOWN, "unknown_artist_name"
        elif not genres_of[name]:
            genre, reason = UNKNOWN, "empty_genre_list"
        elif not 0 <= genres_of[name][0] < len(genre_names):
            genre, reason = UNKNOWN, "unknown_genre_id"
        else:
            genre, reason = genre_names[genres_of[name][0]], "mapped"
        counts[reason] += 1
        out.append((t, a, name, genre))
    counts["tracks"] = len(out)
    counts["tracks_with_several_artists"] = sum(len(s) > 1 for s in artists_of.values())
    counts["duplicate_genre_names"] = sum(n > 1 for n in rows_of.values())
    counts["duplicate_genre_rows_ignored"] = sum(n - 1 for n in rows_of.values())
    return pd.DataFrame(out, columns=["track_id", "artist_id", "artist_name", "genre"]), counts


@pytest.mark.parametrize("seed", range(8))
def test_matches_naive_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    pool = [f"artist {i}" for i in range(30)]
    padding = ["", " ", "\t", "  "]
    n_artists = 40
    artists = pd.DataFrame({"artist_id": rng.permutation(60)[:n_artists],
                            "artist_name": [rng.choice(padding) + rng.choice(pool) + rng.choice(padding)
                                            for _ in range(n_artists)]})
    n_rows = 45
    names = [rng.choice(pool[:24]) for _ in range(n_rows)]  # names 24..29 never get a row
    artist_genres = pd.DataFrame({  # names 20..23 only get empty rows, names 16..19 start with a bad id
        "artist_name": [rng.choice(padding) + name for name in names],
        "genre_ids": [[] if name in pool[20:24] else
                      [rng.choice([-1, 6, 7])] * (name in pool[16:20]) + list(rng.integers(-1, 8, rng.integers(0, 4)))
                      for name in names]})
    genre_names = [f"genre {i}" for i in range(6)]
    n_pairs = 300
    track_artist = pd.DataFrame({"track_id": rng.integers(0, 120, n_pairs), "artist_id": rng.integers(0, 60, n_pairs),
                                 "n_events": rng.integers(1, 4, n_pairs)})
    table, counts = map_track_genres(track_artist, artists, artist_genres, genre_names)
    expected, expected_counts = naive_map(track_artist, artists, artist_genres, genre_names)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert counts == expected_counts
    assert counts["tracks_with_several_artists"] > 0 and counts["duplicate_genre_names"] > 0
    assert all(counts[key] > 0 for key in ("mapped",) + REASONS), {k: counts[k] for k in REASONS}


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_genre_join_equals_the_naive_rules_on_any_small_input(data):
    names = st.sampled_from(["a", "b", " b", "c ", "d", "e"])
    artist_ids = data.draw(st.lists(st.integers(0, 9), min_size=1, max_size=8, unique=True))
    artists = pd.DataFrame({"artist_id": artist_ids, "artist_name": data.draw(
        st.lists(names, min_size=len(artist_ids), max_size=len(artist_ids)))})
    genre_rows = data.draw(st.lists(st.tuples(names, st.lists(st.integers(-1, 4), max_size=3)), max_size=8))
    artist_genres = pd.DataFrame({"artist_name": [n for n, _ in genre_rows],
                                  "genre_ids": [ids for _, ids in genre_rows]})
    pairs = data.draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 11), st.integers(1, 3)),
                               min_size=1, max_size=15))
    track_artist = pd.DataFrame(pairs, columns=["track_id", "artist_id", "n_events"])
    genre_names = ["g0", "g1", "g2", "g3"]
    table, counts = map_track_genres(track_artist, artists, artist_genres, genre_names)
    expected, expected_counts = naive_map(track_artist, artists, artist_genres, genre_names)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert counts == expected_counts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 4)), max_size=200),
       st.lists(st.integers(1, 40), max_size=12))
def test_track_artist_counts_of_batches_equal_one_call_on_all_events(events, cut_sizes):
    tracks = np.array([t for t, _ in events], dtype=np.int64)
    artists = np.array([a for _, a in events], dtype=np.int64)
    bounds = np.minimum(np.cumsum([0, *cut_sizes]), len(events)).tolist() + [len(events)]
    batches = [(tracks[a:b], artists[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    expected = track_artist_pairs(tracks, artists)
    pd.testing.assert_frame_equal(track_artist_counts(batches), expected, check_dtype=True)
    naive: dict[tuple[int, int], int] = {}
    for pair in events:
        naive[pair] = naive.get(pair, 0) + 1
    assert [tuple(row) for row in expected.itertuples(index=False)] == \
        [(t, a, n) for (t, a), n in sorted(naive.items())]


def test_table_genres_keep_the_track_genre_and_the_most_played_artist():
    from songvec.genres import table_track_genres

    track_artist = pd.DataFrame({"track_id": [1, 1, 2, 3], "artist_id": [7, 8, 8, -1], "n_events": [1, 3, 2, 4]})
    genres = pd.DataFrame({"track_id": [1, 3, 99], "genre": ["Rock", "Jazz", "Pop"]})
    names = pd.DataFrame({"artist_id": [8], "artist_name": [" The Eights "]})
    table, counts = table_track_genres(track_artist, genres, names)
    assert table.drop(columns="artist_name").to_dict("list") == {"track_id": [1, 2, 3], "artist_id": [8, 8, -1],
                                                                 "genre": ["Rock", UNKNOWN, "Jazz"]}
    assert table["artist_name"].tolist()[:2] == ["The Eights"] * 2 and table["artist_name"].isna().tolist()[2]
    assert counts == {"tracks": 3, "mapped": 2, "no_genre": 1, "tracks_with_several_artists": 1}
    table, counts = table_track_genres(track_artist)  # no genres, no names
    assert table["genre"].tolist() == [UNKNOWN] * 3 and table["artist_name"].isna().all()
    assert counts["mapped"] == 0 and counts["no_genre"] == 3
