"""The generated ``demo`` dataset: LFM-1b's file layout, determinism, and the structure the paper's metrics need."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec import demo_data
from songvec.demo_data import SIZES, DemoModel, DemoSize, crawl_order, generate, segment_cdf

SEED = 7
LE_COLUMNS = ["user_id", "artist_id", "album_id", "track_id", "timestamp"]
USERS_HEADER = "user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder, summary) of the tiny demo dataset."""
    out = tmp_path_factory.mktemp("demo_tiny")
    return out, generate(out, "tiny", seed=SEED)


def read_events(folder: Path) -> pd.DataFrame:
    """LFM-1b_LEs.txt in file order."""
    return pd.read_csv(folder / "LFM-1b_LEs.txt", sep="\t", header=None, names=LE_COLUMNS)


def chronological(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)


def consecutive(events: pd.DataFrame, column: str) -> np.ndarray:
    """(E - 1,) bool over chronological events of one user: same value as the previous event."""
    values, users = events[column].to_numpy(), events["user_id"].to_numpy()
    return (values[1:] == values[:-1])[users[1:] == users[:-1]]


def genre_rows(folder: Path, source: str) -> list[tuple[str, list[int]]]:
    lines = (folder / f"LFM-1b_artist_genres_{source}.txt").read_text(encoding="utf-8").splitlines()
    return [(fields[0], [int(g) for g in fields[1:-1]]) for fields in (line.split("\t") for line in lines)]


# ------------------------------------------------------------------------------------------- file layout


def check_layout(folder: Path, genre_sources) -> None:
    """Assert the LFM-1b file layout, line by line (the real excerpt must pass it too)."""
    def lines(name):
        text = (folder / name).read_text(encoding="utf-8")
        assert text.endswith("\n") and "\r" not in text, name
        return text[:-1].split("\n")

    integer = r"-?\d+"
    patterns = {
        "LFM-1b_LEs.txt": rf"\d+(\t\d+){{4}}",
        "LFM-1b_tracks.txt": r"\d+\t[^\t]+\t\d+",
        "LFM-1b_artists.txt": r"\d+\t[^\t]+",
        "LFM-1b_albums.txt": r"\d+\t[^\t]*\t\d+",  # album names may be empty
    }
    for name, pattern in patterns.items():
        for number, line in enumerate(lines(name), 1):
            assert re.fullmatch(pattern, line), f"{name}:{number}: {line!r}"
    users = lines("LFM-1b_users.txt")
    assert users[0] == USERS_HEADER
    for number, line in enumerate(users[1:], 2):
        assert re.fullmatch(rf"\d+\t[A-Z]{{0,2}}\t{integer}\t[mfn]?\t\d+\t\d+", line), f"users:{number}: {line!r}"
    for source in genre_sources:
        vocabulary = lines(f"genres_{source}.txt")
        assert all(re.fullmatch(r"[^\t]+", genre) for genre in vocabulary)
        for number, line in enumerate(lines(f"LFM-1b_artist_genres_{source}.txt"), 1):
            assert re.fullmatch(r"[^\t]+\t(\d+\t)*", line), f"artist genres {source}:{number}: {line!r}"
            assert all(int(g) < len(vocabulary) for g in line.split("\t")[1:-1]), f"{source}:{number}"


def test_layout_check_accepts_the_real_excerpt(excerpt_dir):
    check_layout(excerpt_dir, genre_sources=["allmusic"])


def test_layout_check_rejects_a_genre_row_without_trailing_tab(excerpt_dir, tmp_path):
    for path in excerpt_dir.glob("*.txt"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    name = tmp_path / "LFM-1b_artist_genres_allmusic.txt"
    name.write_text("Megadeth\t19\t3\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="allmusic:1"):
        check_layout(tmp_path, genre_sources=["allmusic"])


def test_demo_has_the_layout_of_the_real_excerpt(tiny, excerpt_dir):
    folder, summary = tiny
    check_layout(folder, genre_sources=demo_data.GENRE_SOURCES)
    assert (folder / "genres_allmusic.txt").read_bytes() == (excerpt_dir / "genres_allmusic.txt").read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == summary["files"]


def test_ids_join_across_files(tiny):
    folder, summary = tiny
    events = read_events(folder)
    read = dict(sep="\t", header=None, keep_default_na=False)
    tracks = pd.read_csv(folder / "LFM-1b_tracks.txt", names=["track_id", "name", "artist_id"], **read)
    albums = pd.read_csv(folder / "LFM-1b_albums.txt", names=["album_id", "name", "artist_id"], **read)
    artists = pd.read_csv(folder / "LFM-1b_artists.txt", names=["artist_id", "name"], **read)
    users = pd.read_csv(folder / "LFM-1b_users.txt", sep="\t", keep_default_na=False)
    for table, key, n in [(tracks, "track_id", summary["tracks"]), (albums, "album_id", summary["albums"]),
                          (artists, "artist_id", summary["artists"])]:
        assert table[key].tolist() == list(range(1, n + 1))  # dense ids, file ordered by id
    # the artist of every event is the artist of its track and of its album
    assert (tracks.set_index("track_id").artist_id[events.track_id].to_numpy() == events.artist_id).all()
    assert (albums.set_index("album_id").artist_id[events.album_id].to_numpy() == events.artist_id).all()
    counts = events.user_id.value_counts()
    assert sorted(users.user_id) == sorted(counts.index) and len(users) == summary["users"]
    assert (users.set_index("user_id").playcount[counts.index] == counts).all()
    assert len(events) == summary["events"] and events.track_id.nunique() == summary["tracks_played"]


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    first = generate(tmp_path / "a", "tiny", seed=3)
    second = generate(tmp_path / "b", "tiny", seed=3)
    generate(tmp_path / "c", "tiny", seed=4)
    for name in first["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "LFM-1b_LEs.txt").read_bytes() != (tmp_path / "c" / "LFM-1b_LEs.txt").read_bytes()
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    assert not list(tmp_path.glob("*/.tmp-*"))


def test_custom_size_and_genre_source_subset(tmp_path):
    size = DemoSize(n_users=20, mean_length=50, n_genres=5, n_artists=40, n_tracks=200, n_duplicate_names=1,
                    block_size=30)
    summary = generate(tmp_path, size, seed=1, genre_sources=("allmusic",))
    assert (summary["users"], summary["artists"], summary["tracks"], summary["genres"]) == (20, 40, 200, 5)
    assert not (tmp_path / "genres_freebase.txt").exists() and set(summary["genre_noise"]) == {"allmusic"}
    check_layout(tmp_path, genre_sources=["allmusic"])


def test_long_histories_start_no_earlier_than_the_model_allows(tmp_path):
    """Long histories (mean 20,000 plays) must not date plays before start_unixtime."""
    size = DemoSize(n_users=12, mean_length=20000, n_genres=5, n_artists=40, n_tracks=2000, n_duplicate_names=0)
    generate(tmp_path, size, seed=3, genre_sources=("allmusic",))
    events = np.loadtxt(tmp_path / "LFM-1b_LEs.txt", dtype=np.int64, delimiter="\t", ndmin=2)
    assert events[:, 4].min() >= DemoModel().start_unixtime
    assert events[:, 4].max() <= DemoModel().end_unixtime


@pytest.mark.parametrize("call, message", [
    (lambda out: generate(out, "huge", seed=1), "unknown demo size 'huge'"),
    (lambda out: generate(out, "tiny", seed=1, genre_sources=("lastfm",)), "unknown genre_sources"),
    (lambda out: DemoModel(p_repeat=0.5), "must sum to 1"),
    (lambda out: DemoModel(p_skip=1.5), "p_skip must be a probability"),
    (lambda out: DemoSize(10, 10, 61, 100, 1000, 0), "n_genres must be in"),
    (lambda out: DemoSize(10, 10, 5, 4, 1000, 0), "n_genres <= n_artists <= n_tracks"),
    (lambda out: DemoSize(10, 10, 5, 10, 1000, 6), "n_duplicate_names"),
])
def test_bad_parameters_are_named(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tmp_path)


# ------------------------------------------------------------------------------ file order (blocks)


def test_events_come_in_interleaved_blocks_newest_first(tiny):
    folder, _ = tiny
    events = read_events(folder)
    users, stamps = events.user_id.to_numpy(), events.timestamp.to_numpy()
    run_start = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    run_end = np.r_[run_start[1:], len(users)]
    assert len(run_start) > events.user_id.nunique()  # some user's blocks are interleaved with another's
    assert not np.all(np.diff(stamps) <= 0) and not np.all(np.diff(stamps) >= 0)
    oldest_so_far = {}
    for start, end in zip(run_start, run_end):
        assert np.all(np.diff(stamps[start:end]) < 0)  # newest first inside a run
        user = users[start]
        assert stamps[start] < oldest_so_far.get(user, np.inf)  # a user's later runs are older
        oldest_so_far[user] = stamps[end - 1]


def naive_crawl_check(order, lengths, block_size):
    """A permutation in which every user's events appear newest first, and the file switches from one user
    to another only at a block boundary (counted in ``block_size`` events from the user's newest event)."""
    offsets = np.r_[0, np.cumsum(lengths)]
    owner = np.repeat(np.arange(len(lengths)), lengths)
    assert sorted(order.tolist()) == list(range(offsets[-1]))
    for user in range(len(lengths)):
        mine = [i for i in order.tolist() if owner[i] == user]
        assert mine == list(range(offsets[user + 1] - 1, offsets[user] - 1, -1))
    for position in range(1, len(order)):
        if owner[order[position]] != owner[order[position - 1]]:  # a switch happens only at a block boundary
            user = owner[order[position]]
            assert (offsets[user + 1] - 1 - order[position]) % block_size == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=8), st.integers(1, 9), st.integers(1, 4),
       st.integers(0, 2**32 - 1))
def test_crawl_order_against_naive_check(lengths, block_size, slots, seed):
    lengths = np.array(lengths, dtype=np.int64)
    order = crawl_order(np.random.default_rng(seed), np.r_[0, np.cumsum(lengths)], block_size, slots)
    naive_crawl_check(order, lengths, block_size)


def test_crawl_order_by_hand():
    # one slot: users crawled one after the other (random queue), each newest first
    order = crawl_order(np.random.default_rng(0), np.array([0, 3, 5]), block_size=2, slots=1)
    assert order.tolist() in ([2, 1, 0, 4, 3], [4, 3, 2, 1, 0])


# --------------------------------------------------------------------------------- sampling helpers


def test_segment_cdf_by_hand():
    cdf = segment_cdf(np.array([1.0, 3.0, 2.0, 2.0, 5.0]), np.array([0, 2, 2, 4, 5]))
    np.testing.assert_allclose(cdf, [0.25, 1.0, 0.5, 1.0, 1.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(0.01, 100.0), max_size=6), min_size=1, max_size=6))
def test_segment_cdf_against_naive(segments):
    weights = np.array([w for segment in segments for w in segment])
    offsets = np.r_[0, np.cumsum([len(s) for s in segments])]
    expected = []
    for segment in segments:
        running = 0.0
        for w in segment:
            running += w
            expected.append(running / sum(segment))
    cdf = segment_cdf(weights, offsets)
    np.testing.assert_allclose(cdf, expected, rtol=1e-9)
    assert all(cdf[end - 1] == 1.0 for start, end in zip(offsets[:-1], offsets[1:]) if end > start)


def test_draw_stays_in_its_segment_with_the_right_frequencies():
    offsets = np.array([0, 2, 5])
    cdf = segment_cdf(np.array([1.0, 3.0, 1.0, 1.0, 2.0]), offsets)
    segments = np.repeat([0, 1], 20_000)
    drawn = demo_data._draw(cdf, offsets, segments, np.random.default_rng(1))
    assert np.all((drawn >= offsets[segments]) & (drawn < offsets[segments + 1]))
    frequencies = np.bincount(drawn, minlength=5) / 20_000
    np.testing.assert_allclose(frequencies, [0.25, 0.75, 0.25, 0.25, 0.5], atol=0.015)


# ------------------------------------------------------------------------------ behavioural structure


def test_history_lengths_are_heavy_tailed_and_match_the_summary(tiny):
    folder, summary = tiny
    lengths = read_events(folder).user_id.value_counts().to_numpy()
    size, model = SIZES["tiny"], DemoModel()
    assert abs(lengths.mean() - size.mean_length) < 0.02 * size.mean_length
    assert np.median(lengths) < 0.8 * lengths.mean()  # median < mean, like LFM-1b's Table 2
    assert lengths.min() >= model.min_length and lengths.max() > 3 * lengths.mean()
    assert summary["length_median"] == np.median(lengths)
    assert summary["length_p25"] == np.percentile(lengths, 25)
    assert summary["length_p75"] == np.percentile(lengths, 75)


def test_a_few_tracks_take_a_large_share_of_plays(tiny):
    folder, summary = tiny
    plays = np.sort(read_events(folder).track_id.value_counts().to_numpy())[::-1]
    top = plays[:len(plays) // 100].sum() / plays.sum()
    assert top == pytest.approx(summary["top1pct_tracks_play_share"])
    assert top > 0.05  # five times the share of a uniform popularity (the real excerpt: 0.16 over 17 users)
    # popularity bucket 0 of section 4.5 (the most played tracks making 20% of the plays) is a few tracks
    bucket0 = np.searchsorted(np.cumsum(plays), 0.2 * plays.sum()) + 1
    assert bucket0 < 0.05 * len(plays)


def test_sessions_stay_on_artist_and_genre_more_than_chance(tiny):
    folder, _ = tiny
    events = chronological(read_events(folder))
    rng = np.random.default_rng(0)
    shuffled = events.copy()
    shuffled["artist_id"] = events.groupby("user_id").artist_id.transform(lambda a: rng.permutation(a.to_numpy()))
    same_artist, chance = consecutive(events, "artist_id").mean(), consecutive(shuffled, "artist_id").mean()
    assert same_artist > 0.5 and same_artist > 3 * chance
    # genre: the first freebase genre of the artist's genre row (artists without genres left out)
    artist_names = pd.read_csv(folder / "LFM-1b_artists.txt", sep="\t", header=None, names=["id", "name"],
                               keep_default_na=False).set_index("id").name
    first_genre = {}
    for name, genres in genre_rows(folder, "freebase"):
        if genres:
            first_genre.setdefault(name, genres[0])
    for table in (events, shuffled):
        table["genre"] = artist_names[table.artist_id].map(first_genre).fillna(-1).to_numpy()
    same_user = events.user_id.to_numpy()[1:] == events.user_id.to_numpy()[:-1]
    def labelled(table):  # (E - 1,) bool: both events of the transition have a genre
        genre = table.genre.to_numpy()
        return ((genre[1:] >= 0) & (genre[:-1] >= 0))[same_user]

    known = labelled(events)
    kept = consecutive(events, "genre")[known]
    kept_by_chance = consecutive(shuffled, "genre")[labelled(shuffled)]
    assert kept.mean() > kept_by_chance.mean() + 0.2
    # (how often a change of artist keeps the genre is calibrated to the real excerpt: tests/test_listening_shape.py)
    # users have genre tastes: a user's random pair of plays shares its genre far more than two random plays
    genres = events.genre.to_numpy()
    genres = genres[genres >= 0]
    across_users = np.mean(genres == rng.permutation(genres))
    assert kept_by_chance.mean() > 2 * across_users


def test_there_are_repeats_and_replays(tiny):
    folder, _ = tiny
    events = chronological(read_events(folder))
    duplicates = consecutive(events, "track_id").mean()
    assert 0.02 < duplicates < 0.3
    replayed = events.duplicated(["user_id", "track_id"]).mean()  # plays of a track the user played before
    assert replayed > 0.3


def test_time_gaps_make_sessions(tiny):
    folder, _ = tiny
    events = chronological(read_events(folder))
    same_user = events.user_id.to_numpy()[1:] == events.user_id.to_numpy()[:-1]
    gaps = np.diff(events.timestamp.to_numpy())[same_user]
    assert gaps.min() >= 1
    assert 150 <= np.median(gaps) <= 330  # one track, 3-5 minutes
    assert 0.02 < np.mean(gaps > 1800) < 0.2  # session breaks
    assert np.percentile(gaps, 99) > 6 * 3600  # breaks of hours to days
    assert events.timestamp.max() <= DemoModel().end_unixtime


def test_genre_files_are_noisy_and_names_repeat(tiny):
    folder, summary = tiny
    artists = pd.read_csv(folder / "LFM-1b_artists.txt", sep="\t", header=None, names=["id", "name"],
                          keep_default_na=False)
    assert artists.name.duplicated().sum() == SIZES["tiny"].n_duplicate_names == summary["duplicate_artist_names"]
    first_used = {}
    for source in demo_data.GENRE_SOURCES:
        rows, noise = genre_rows(folder, source), summary["genre_noise"][source]
        names = [name for name, _ in rows]
        assert len(rows) == noise["rows"] > 0
        # empty rows: one per artist drawn without genres, plus their repeated rows
        empty_names = {name for name, genres in rows if not genres}
        assert noise["without_genres"] > 0 and len(empty_names) <= noise["without_genres"]
        assert len(set(artists.name) - set(names)) > 0 and noise["missing_artists"] > 0
        assert pd.Series(names).duplicated().sum() >= noise["repeated_rows"] > 0
        assert noise["wrong_first_genre"] > 0
        first_used[source] = {genres[0] for _, genres in rows if genres}
    assert len(first_used["allmusic"]) < len(first_used["freebase"])  # AllMusic is the coarser vocabulary


def test_word2vec_puts_same_artist_songs_closer_than_random_pairs(tiny):
    gensim = pytest.importorskip("gensim")
    folder, _ = tiny
    events = chronological(read_events(folder))
    sentences = [list(map(str, tracks)) for _, tracks in events.groupby("user_id").track_id]
    # 20 epochs: half the songs are played once, and 5 epochs at the default learning rate barely move them
    model = gensim.models.Word2Vec(sentences, vector_size=32, window=5, sg=1, negative=5, epochs=20, workers=1,
                                   min_count=1, seed=1)
    vectors = model.wv.vectors / np.linalg.norm(model.wv.vectors, axis=1, keepdims=True)
    track_artist = events.drop_duplicates("track_id").set_index("track_id").artist_id
    artist = track_artist[[int(w) for w in model.wv.index_to_key]].to_numpy()
    rng = np.random.default_rng(0)
    first, second = rng.integers(0, len(artist), (2, 20_000))
    distinct = first != second
    same = (artist[first] == artist[second]) & distinct
    by_artist = pd.Series(np.arange(len(artist))).groupby(artist)
    pairs = np.array([idx.to_numpy()[:2] for _, idx in by_artist if len(idx) >= 2])
    cosine = lambda i, j: np.einsum("ij,ij->i", vectors[i], vectors[j])
    random_mean = cosine(first[distinct & ~same], second[distinct & ~same]).mean()
    assert cosine(pairs[:, 0], pairs[:, 1]).mean() > random_mean + 0.05
