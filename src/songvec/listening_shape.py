"""The shape of listening data: the statistics the demo dataset is calibrated to (issue: a demo like real data).

Computed from an ``LFM-1b_LEs.txt``-format file (the demo's or the real excerpt's) by the same code, so that
the two can be put side by side (``benchmarks/listening_shape.py``). Events are put in time order per user
(ties keep file order, as ingest does); a *play* is an event after collapsing back-to-back repeats of the
same track by the same user (ingest's default). Statistics (all floats):

- ``consecutive_repeat_share``: share of events, before collapsing, that repeat the user's previous track;
- ``plays_per_song``: plays / distinct songs; ``songs_played_1``, ``songs_played_2_4``,
  ``songs_played_5_19``, ``songs_played_20_plus``: shares of the distinct songs by their number of plays;
  ``gini_song_plays``: Gini coefficient of plays per song (0: every song as often; 1: one song has all);
- ``songs_per_artist``: distinct songs / distinct artists; ``gini_artist_plays``: Gini of plays per artist;
- ``length_p25_over_mean``, ``length_median_over_mean``, ``length_p75_over_mean``: quantiles of the plays
  per user divided by their mean (the paper's Table 2 in relative form);
- ``same_artist_transitions``, ``same_album_transitions``: shares of transitions (a play and the user's
  next play) staying with the artist, the album;
- ``relistened_plays``: share of plays of a song the user had played before;
- ``same_genre_transitions``: share of transitions keeping the genre (first genre of the artist, as the
  workflow maps it; transitions with an unknown genre left out); ``genre_lift_on_artist_change``: among
  transitions to another artist, the share keeping the genre minus the share a random pair of plays of the
  same user would (each user weighted by their transitions to another artist): how much more a listener's
  next artist shares the genre than their taste alone explains;
- ``target_played_once``: share of transitions whose target is a song played once in the whole data (no
  other play of it exists to learn it from); ``target_top1pct``: share of transitions whose target is
  among the 1% most played songs.

Everything is held in memory (24 bytes per event and a few arrays of that length): the tool is meant for
samples (the demo, an excerpt), not for the full LFM-1b.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from songvec import genres, lfm1b
from songvec.lfm1b import iter_event_chunks

STATISTICS = (
    "consecutive_repeat_share", "plays_per_song", "songs_played_1", "songs_played_2_4", "songs_played_5_19",
    "songs_played_20_plus", "gini_song_plays", "songs_per_artist", "gini_artist_plays",
    "length_p25_over_mean", "length_median_over_mean", "length_p75_over_mean", "same_artist_transitions",
    "same_album_transitions", "relistened_plays", "same_genre_transitions", "genre_lift_on_artist_change",
    "target_played_once", "target_top1pct",
)


@dataclass
class Plays:
    """Listening events in time order per user: (E,) int64 columns, users contiguous; ``genre`` is the
    genre id of each event's track (-1: unknown)."""

    user: np.ndarray
    track: np.ndarray
    artist: np.ndarray
    album: np.ndarray
    genre: np.ndarray


def read_plays(folder: str | os.PathLike, genre_source: str = "allmusic") -> Plays:
    """Every event of ``LFM-1b_LEs.txt`` in the LFM-1b-format ``folder`` (bad lines raise, naming the line),
    sorted by user then timestamp, ties kept in file order; genres mapped from the folder's
    ``genre_source`` genre files as the workflow maps them (:func:`songvec.genres.map_track_genres`)."""
    folder = Path(folder)
    chunks = list(iter_event_chunks(folder / "LFM-1b_LEs.txt"))
    if not chunks:
        raise ValueError(f"{folder / 'LFM-1b_LEs.txt'}: no listening events")
    column = {name: np.concatenate([getattr(c, name) for c in chunks])
              for name in ("user_id", "track_id", "artist_id", "album_id", "timestamp")}
    order = np.lexsort((column["timestamp"], column["user_id"]))
    track, artist = column["track_id"][order], column["artist_id"][order]
    names = lfm1b.read_genre_names(folder / f"genres_{source}.txt") if (source := genre_source) else []
    mapped, _ = genres.map_track_genres(genres.track_artist_pairs(track, artist),
                                        lfm1b.read_artists(folder / "LFM-1b_artists.txt"),
                                        lfm1b.read_artist_genres(folder / f"LFM-1b_artist_genres_{source}.txt"),
                                        names)
    genre_id = {name: i for i, name in enumerate(names)}
    by_track = pd.Series(mapped["genre"].map(genre_id).fillna(-1).to_numpy(np.int64), index=mapped["track_id"])
    return Plays(column["user_id"][order], track, artist, column["album_id"][order],
                 by_track.reindex(track).to_numpy())


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative ``values`` (n,): mean absolute difference over twice the mean."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return math.nan
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * x) / (n * x.sum()) - (n + 1.0) / n)


def _plays_per_id(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct ids, plays of each, play count of each event's id)."""
    unique, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    return counts, counts[inverse]


def listening_statistics(events: Plays) -> dict[str, float]:
    """The statistics of the module docstring, keyed as :data:`STATISTICS`."""
    user, track = events.user, events.track
    same_user = np.r_[False, user[1:] == user[:-1]]
    repeat = same_user & np.r_[False, track[1:] == track[:-1]]
    keep = ~repeat
    plays = Plays(user[keep], track[keep], events.artist[keep], events.album[keep], events.genre[keep])
    song_plays, event_song_plays = _plays_per_id(plays.track)
    artist_plays, _ = _plays_per_id(plays.artist)
    _, user_first, lengths = np.unique(plays.user, return_index=True, return_counts=True)

    transition = np.r_[False, plays.user[1:] == plays.user[:-1]]  # the play has a predecessor of its user
    target = np.flatnonzero(transition)
    top = np.sort(song_plays)[::-1][max(len(song_plays) // 100, 1) - 1]  # plays of the 1%-th most played
    # a play is a re-listen when the (user, track) pair occurred at an earlier play
    pair_order = np.lexsort((np.arange(len(plays.track)), plays.track, plays.user))
    u, t = plays.user[pair_order], plays.track[pair_order]
    relistened = np.r_[False, (u[1:] == u[:-1]) & (t[1:] == t[:-1])]
    mean_length = lengths.mean()
    p25, median, p75 = np.percentile(lengths, [25, 50, 75])
    return {
        "consecutive_repeat_share": float(repeat.mean()),
        "plays_per_song": float(len(plays.track) / len(song_plays)),
        "songs_played_1": float(np.mean(song_plays == 1)),
        "songs_played_2_4": float(np.mean((song_plays >= 2) & (song_plays <= 4))),
        "songs_played_5_19": float(np.mean((song_plays >= 5) & (song_plays <= 19))),
        "songs_played_20_plus": float(np.mean(song_plays >= 20)),
        "gini_song_plays": gini(song_plays),
        "songs_per_artist": float(len(song_plays) / len(artist_plays)),
        "gini_artist_plays": gini(artist_plays),
        "length_p25_over_mean": float(p25 / mean_length),
        "length_median_over_mean": float(median / mean_length),
        "length_p75_over_mean": float(p75 / mean_length),
        "same_artist_transitions": float(np.mean(plays.artist[target] == plays.artist[target - 1])),
        "same_album_transitions": float(np.mean(plays.album[target] == plays.album[target - 1])),
        "relistened_plays": float(relistened.mean()),
        **_genre_transitions(plays, target),
        "target_played_once": float(np.mean(event_song_plays[target] == 1)),
        "target_top1pct": float(np.mean(event_song_plays[target] >= top)),
    }


def _genre_transitions(plays: Plays, target: np.ndarray) -> dict[str, float]:
    """``same_genre_transitions`` and ``genre_lift_on_artist_change`` of the transitions into ``target``."""
    genre = plays.genre
    known = target[(genre[target] >= 0) & (genre[target - 1] >= 0)]
    kept = genre[known] == genre[known - 1]
    change = plays.artist[known] != plays.artist[known - 1]
    # chance a random pair of distinct labelled plays of a user shares the genre: sum_g c(c-1) / (n(n-1))
    labelled = genre >= 0
    users, user_of = np.unique(plays.user[labelled], return_inverse=True)
    pair_counts = pd.Series(1, index=pd.MultiIndex.from_arrays([user_of, genre[labelled]])).groupby(level=[0, 1]).sum()
    n = np.bincount(user_of, minlength=len(users)).astype(np.float64)
    same = np.bincount(pair_counts.index.get_level_values(0),
                       weights=(pair_counts * (pair_counts - 1)).to_numpy(np.float64), minlength=len(users))
    chance = np.divide(same, n * (n - 1), out=np.zeros_like(same), where=n > 1)
    weights = np.bincount(np.searchsorted(users, plays.user[known[change]]), minlength=len(users))
    return {"same_genre_transitions": float(kept.mean()),
            "genre_lift_on_artist_change": float(kept[change].mean() - np.average(chance, weights=weights))}


def cut_histories(events: Plays, lengths: np.ndarray) -> Plays:
    """``events`` with every user's history cut into consecutive pieces of the given ``lengths`` (events,
    taken in order and cycled; a user's last piece may be shorter), each piece a user of its own.

    Re-listening grows with the length of a history: the excerpt's users have ~5,000 events each, a demo's
    far fewer. Cut to the demo's history lengths, the excerpt gives the re-listening of real users over
    histories as long as the demo's."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if not len(lengths) or lengths.min() < 1:
        raise ValueError("lengths must be a non-empty array of positive integers")
    starts = np.flatnonzero(np.r_[True, events.user[1:] != events.user[:-1]])
    piece = np.empty(len(events.user), dtype=np.int64)
    n_pieces, k = 0, 0
    for start, stop in zip(starts, np.r_[starts[1:], len(events.user)]):
        at = start
        while at < stop:
            end = min(at + int(lengths[k % len(lengths)]), stop)
            piece[at:end] = n_pieces
            n_pieces, k, at = n_pieces + 1, k + 1, end
    return Plays(piece, events.track, events.artist, events.album, events.genre)


@dataclass(frozen=True)
class Tolerance:
    """How far a statistic may be from its reference and still have the shape of real data."""

    value: float
    relative: bool  # ``value`` is a share of the reference (else: absolute)

    def accepts(self, observed: float, reference: float) -> bool:
        allowed = self.value * abs(reference) if self.relative else self.value
        return abs(observed - reference) <= allowed + 1e-12


TOLERANCES = {
    "consecutive_repeat_share": Tolerance(0.03, False),
    "plays_per_song": Tolerance(0.25, True),
    "songs_played_1": Tolerance(0.06, False),
    "songs_played_2_4": Tolerance(0.06, False),
    "songs_played_5_19": Tolerance(0.06, False),
    "songs_played_20_plus": Tolerance(0.015, False),
    "gini_song_plays": Tolerance(0.06, False),
    "songs_per_artist": Tolerance(0.25, True),
    "gini_artist_plays": Tolerance(0.06, False),
    "length_p25_over_mean": Tolerance(0.25, True),
    "length_median_over_mean": Tolerance(0.15, True),
    "length_p75_over_mean": Tolerance(0.15, True),
    "same_artist_transitions": Tolerance(0.08, False),
    "same_album_transitions": Tolerance(0.08, False),
    "relistened_plays": Tolerance(0.08, False),
    "same_genre_transitions": Tolerance(0.06, False),
    "genre_lift_on_artist_change": Tolerance(0.04, False),
    "target_played_once": Tolerance(0.05, False),
    "target_top1pct": Tolerance(0.05, False),
}
"""Tolerance of each statistic of :data:`STATISTICS` around its reference."""

LFM1B_LENGTHS = {"length_mean": 9044.0, "length_p25": 1138.0, "length_median": 3930.0, "length_p75": 16155.0}
"""Sequence lengths of LFM-1b in the paper's Table 2 (the excerpt holds the first 100,000 lines of the events
file, which cuts its users' histories, so its own lengths say nothing about LFM-1b's)."""


def reference_statistics(excerpt: Plays, lengths: np.ndarray) -> dict[str, float]:
    """What each statistic is on real data, for data whose histories have ``lengths`` events:

    the excerpt's statistics, except re-listening, taken on the excerpt's histories cut to ``lengths``
    (:func:`cut_histories`), and the length quantiles over the mean, taken from LFM-1b's Table 2."""
    reference = listening_statistics(excerpt)
    reference["relistened_plays"] = listening_statistics(cut_histories(excerpt, lengths))["relistened_plays"]
    mean = LFM1B_LENGTHS["length_mean"]
    for name in ("p25", "median", "p75"):
        reference[f"length_{name}_over_mean"] = LFM1B_LENGTHS[f"length_{name}"] / mean
    return reference


def history_lengths(events: Plays) -> np.ndarray:
    """(users,) events of each user's history, in user order."""
    return np.diff(np.r_[np.flatnonzero(np.r_[True, events.user[1:] != events.user[:-1]]), len(events.user)])


def comparison_table(observed: dict[str, float], reference: dict[str, float]) -> pd.DataFrame:
    """One row per statistic of :data:`STATISTICS`: ``statistic``, ``observed``, ``reference``,
    ``tolerance`` (as text: ``±0.06`` or ``±25%``) and ``within`` (bool, :data:`TOLERANCES`)."""
    rows = []
    for name in STATISTICS:
        tolerance = TOLERANCES[name]
        rows.append({"statistic": name, "observed": observed[name], "reference": reference[name],
                     "tolerance": f"±{tolerance.value:.0%}" if tolerance.relative else f"±{tolerance.value:g}",
                     "within": tolerance.accepts(observed[name], reference[name])})
    return pd.DataFrame(rows)
