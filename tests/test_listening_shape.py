"""The statistics the demo is calibrated to: by hand, against naive loops, on the real excerpt, and the demo
within its tolerances."""

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from songvec import demo_data
from songvec.listening_shape import (STATISTICS, TOLERANCES, Plays, comparison_table, cut_histories, gini,
                                     history_lengths, listening_statistics, read_plays, reference_statistics)

REPO = Path(__file__).resolve().parents[1]


def plays(users, tracks, artists=None, albums=None, genres=None):
    n = len(users)
    column = lambda values: np.asarray(values if values is not None else np.zeros(n), dtype=np.int64)
    return Plays(column(users), column(tracks), column(artists), column(albums),
                 column(genres if genres is not None else [-1] * n))


def test_statistics_by_hand():
    # user 0: a a b c a (the second a is a back-to-back repeat); user 1: c d
    events = plays(users=[0, 0, 0, 0, 0, 1, 1], tracks=[1, 1, 2, 3, 1, 3, 4], artists=[7, 7, 7, 8, 7, 8, 9],
                   albums=[70, 70, 70, 80, 71, 80, 90], genres=[0, 0, 0, 1, 0, 1, -1])
    s = listening_statistics(events)
    assert s["consecutive_repeat_share"] == pytest.approx(1 / 7)
    # plays after collapsing: u0: 1 2 3 1, u1: 3 4 -> song plays {1: 2, 2: 1, 3: 2, 4: 1}
    assert s["plays_per_song"] == pytest.approx(6 / 4)
    assert (s["songs_played_1"], s["songs_played_2_4"], s["songs_played_5_19"], s["songs_played_20_plus"]) == \
        pytest.approx((0.5, 0.5, 0.0, 0.0))
    assert s["gini_song_plays"] == pytest.approx(gini(np.array([2, 1, 2, 1])))
    assert s["songs_per_artist"] == pytest.approx(4 / 3)
    # transitions 1->2 (same artist 7, album 70), 2->3 (other), 3->1 (other), 3->4 (other)
    assert s["same_artist_transitions"] == pytest.approx(1 / 4)
    assert s["same_album_transitions"] == pytest.approx(1 / 4)
    assert s["relistened_plays"] == pytest.approx(1 / 6)  # the last play of song 1 by user 0
    # labelled transitions: 1->2 (0, 0 kept), 2->3 (0, 1), 3->1 (1, 0); 3->4 has an unknown genre
    assert s["same_genre_transitions"] == pytest.approx(1 / 3)
    # artist changes 2->3, 3->1 keep no genre; user 0's labelled plays 0 0 1 0: chance 3 * 2 / (4 * 3) = 0.5
    assert s["genre_lift_on_artist_change"] == pytest.approx(0 - 0.5)
    assert s["length_median_over_mean"] == pytest.approx(3 / 3)  # lengths 4 and 2 after collapsing: mean 3
    assert s["target_played_once"] == pytest.approx(2 / 4)  # targets 2 and 4 are played once
    assert set(s) == set(STATISTICS)


def test_gini_by_hand():
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n - 1) / n: one holds all
    assert gini(np.array([1, 3])) == pytest.approx(abs(1 - 3) * 2 / (2 * 2**2 * 2))


def naive_statistics(events: Plays) -> dict:
    """The same statistics by plain loops over the events."""
    rows = list(zip(*(getattr(events, c).tolist() for c in ("user", "track", "artist", "album", "genre"))))
    kept, repeats = [], 0
    for i, row in enumerate(rows):
        if i and row[0] == rows[i - 1][0] and row[1] == rows[i - 1][1]:
            repeats += 1
        else:
            kept.append(row)
    song_plays = Counter(r[1] for r in kept)
    seen, relistened, transitions = set(), 0, []
    for i, row in enumerate(kept):
        relistened += (row[0], row[1]) in seen
        seen.add((row[0], row[1]))
        if i and kept[i - 1][0] == row[0]:
            transitions.append((kept[i - 1], row))
    counts = sorted(song_plays.values())
    n = len(counts)
    mean_difference = sum(abs(a - b) for a in counts for b in counts) / n**2
    labelled = [(a, b) for a, b in transitions if a[4] >= 0 and b[4] >= 0]
    changes = [(a, b) for a, b in labelled if a[2] != b[2]]
    genres_of = defaultdict(list)
    for row in kept:
        if row[4] >= 0:
            genres_of[row[0]].append(row[4])

    def chance(user):
        g = genres_of[user]
        same = sum(1 for i in range(len(g)) for j in range(len(g)) if i != j and g[i] == g[j])
        return same / (len(g) * (len(g) - 1)) if len(g) > 1 else 0.0

    top = sorted(song_plays.values(), reverse=True)[max(n // 100, 1) - 1]
    return {
        "consecutive_repeat_share": repeats / len(rows),
        "plays_per_song": len(kept) / n,
        "songs_played_1": sum(c == 1 for c in counts) / n,
        "gini_song_plays": mean_difference / (2 * np.mean(counts)),
        "same_artist_transitions": np.mean([a[2] == b[2] for a, b in transitions]),
        "same_album_transitions": np.mean([a[3] == b[3] for a, b in transitions]),
        "relistened_plays": relistened / len(kept),
        "same_genre_transitions": np.mean([a[4] == b[4] for a, b in labelled]),
        "genre_lift_on_artist_change": np.mean([a[4] == b[4] for a, b in changes])
        - np.mean([chance(a[0]) for a, b in changes]),
        "target_played_once": np.mean([song_plays[b[1]] == 1 for a, b in transitions]),
        "target_top1pct": np.mean([song_plays[b[1]] >= top for a, b in transitions]),
    }


@pytest.mark.parametrize("seed", range(5))
def test_statistics_equal_naive_loops(seed):
    rng = np.random.default_rng(seed)
    n = 600
    users = np.sort(rng.integers(0, 12, n))
    tracks = rng.zipf(1.6, n) % 80
    artists = tracks // 4
    events = plays(users, tracks, artists, tracks // 2, np.where(rng.random(n) < 0.2, -1, artists % 3))
    fast, naive = listening_statistics(events), naive_statistics(events)
    for name, value in naive.items():
        assert fast[name] == pytest.approx(value, abs=1e-12), name


def test_cut_histories_by_hand():
    events = plays(users=[5, 5, 5, 5, 5, 9, 9, 9], tracks=range(8))
    cut = cut_histories(events, np.array([2, 3]))
    # user 5: pieces of 2 and 3; user 9: the cycle goes on with 2, then a last piece of 1
    assert cut.user.tolist() == [0, 0, 1, 1, 1, 2, 2, 3]
    assert cut.track.tolist() == list(range(8))
    assert history_lengths(cut).tolist() == [2, 3, 2, 1]
    with pytest.raises(ValueError, match="positive"):
        cut_histories(events, np.array([0]))


@pytest.fixture(scope="module")
def excerpt(excerpt_dir):
    return read_plays(excerpt_dir)


def test_excerpt_statistics_are_the_published_ones(excerpt):
    """The figures of ../shared/reference/lfm1b_facts.md, recomputed from the raw files."""
    s = listening_statistics(excerpt)
    assert len(excerpt.user) == 100_000 and len(np.unique(excerpt.user)) == 17
    assert s["plays_per_song"] == pytest.approx(89_165 / 29_331)
    assert (s["songs_played_1"], s["songs_played_2_4"], s["songs_played_5_19"], s["songs_played_20_plus"]) == \
        pytest.approx((0.54, 0.29, 0.15, 0.01), abs=0.005)
    assert s["same_artist_transitions"] == pytest.approx(0.64, abs=0.005)
    assert s["relistened_plays"] == pytest.approx(0.66, abs=0.01)


def test_relistening_grows_with_history_length(excerpt):
    short = listening_statistics(cut_histories(excerpt, np.array([50])))["relistened_plays"]
    long = listening_statistics(cut_histories(excerpt, np.array([2000])))["relistened_plays"]
    assert short < long < listening_statistics(excerpt)["relistened_plays"]


def test_the_default_demo_has_the_shape_of_real_listening(excerpt, tmp_path):
    """Every statistic of the workflow's demo (default size, seed 42) within its tolerance of real LFM-1b."""
    demo_data.generate(tmp_path, "default", 42, genre_sources=("allmusic",))
    demo = read_plays(tmp_path)
    table = comparison_table(listening_statistics(demo), reference_statistics(excerpt, history_lengths(demo)))
    outside = table[~table["within"]]
    assert outside.empty, f"outside tolerance:\n{outside.to_string()}"
    assert set(table["statistic"]) == set(TOLERANCES) == set(STATISTICS)


def test_the_command_prints_the_table(excerpt_dir):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "listening_shape.py"), "--excerpt",
                             str(excerpt_dir), "--size", "tiny", "--seed", "3"], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "| statistic | demo (tiny, seed 3) | real LFM-1b | tolerance | within |", result.stderr
    assert len(lines) == 2 + len(STATISTICS)
    assert result.returncode == (0 if all(line.endswith("| yes |") for line in lines[2:]) else 1)
