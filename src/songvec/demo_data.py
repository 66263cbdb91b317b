"""The ``demo`` dataset: listening histories drawn from a seeded generative model, written in LFM-1b's format.

The full LFM-1b (about 8 GB) can no longer be downloaded from its official page, so the workflow's default
dataset is generated. :func:`generate` writes the same files, with the same layout, as the real dataset and
its User Genre Profile (UGP) genre files, so the ingest stage cannot tell them apart:

- ``LFM-1b_LEs.txt``: ``user_id artist_id album_id track_id unix_timestamp``, no header. Like the real file it
  is NOT chronological: each user's events, newest first, are cut into blocks of ``DemoSize.block_size``
  events, and the blocks of a few users at a time are interleaved (as a crawler with a few parallel
  workers would have written them).
- ``LFM-1b_tracks.txt`` (track_id, track_name, artist_id), ``LFM-1b_albums.txt`` (album_id, album_name,
  artist_id), ``LFM-1b_artists.txt`` (artist_id, artist_name), all without header, ordered by id.
- ``LFM-1b_users.txt``: header row ``user_id country age gender playcount registered_unixtime``; missing values
  as in the real file (empty country, age -1, gender ``n`` or empty).
- For each genre source (``freebase``, ``allmusic``): ``genres_<source>.txt`` (one genre per line, id = 0-based
  line number) and ``LFM-1b_artist_genres_<source>.txt`` (artist NAME, then genre ids, each field followed by
  a tab). AllMusic is the coarse vocabulary (the real 20 AllMusic genres); every Freebase-like genre belongs
  to one of them.

The generative model has the structure the paper's metrics measure, calibrated to the shape of real LFM-1b
listening (:mod:`songvec.listening_shape`; ``benchmarks/listening_shape.py`` prints the demo's statistics
beside the real excerpt's):

- catalogue: genres -> artists -> albums -> tracks. Genre, artist (within genre) and track (within artist)
  popularity follow Zipf laws over a catalogue far larger than what is played, so that, as in real samples
  of LFM-1b, half the songs played are played once and a few take a large share of the plays;
- listeners: a Dirichlet mixture over a few taste genres and a log-normal history length, capped (LFM-1b's
  Table 2 in relative form: 25th percentile, median and 75th percentile at 0.13, 0.43 and 1.8 x the mean);
- histories: sessions (geometric length; gaps of hours/days between sessions, one track duration of about
  3-5 minutes inside them) that resume a song the user played before or start on a taste genre, mostly at
  the first track of an album; then at each step repeat the track, continue the album in order, stay on the
  artist, replay an earlier play (re-listening), move to another artist of the genre, jump to a taste genre,
  or (rarely) jump to a globally popular track. Those global jumps put popular songs next to each other by
  chance: the false neighbours of the chi-squared test;
- genre labels: each artist's true genres, with noise in the UGP files: a wrong first genre for some artists,
  empty genre rows, artists missing from the file, repeated rows, and a few distinct artists sharing a name.

Everything is drawn from one ``numpy.random.Generator`` seeded with ``seed``: the same seed and parameters give
byte-identical files. The per-event walk runs in a Numba kernel that only consumes pre-drawn uniforms.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from songvec import atomic

log = logging.getLogger(__name__)

GENRE_SOURCES = ("freebase", "allmusic")

#: The 20 AllMusic genres of the LFM-1b UGP files, in their file order (id = position).
ALLMUSIC_GENRES = ("rnb", "rap", "electronic", "rock", "new age", "classical", "reggae", "blues", "country",
                   "world", "folk", "easy listening", "jazz", "vocal", "children's", "punk", "alternative",
                   "spoken word", "pop", "heavy metal")

#: Fine (Freebase-like) genres of each AllMusic family, families in the order they are taken into use.
FINE_GENRES = {
    "rock": ("rock music", "indie rock", "hard rock", "progressive rock"),
    "pop": ("pop music", "synthpop", "dance-pop", "indie pop"),
    "electronic": ("electronic music", "house music", "techno", "drum and bass"),
    "rap": ("hip hop music", "gangsta rap", "alternative hip hop", "trip hop"),
    "heavy metal": ("heavy metal", "death metal", "black metal", "thrash metal"),
    "alternative": ("alternative rock", "grunge", "shoegaze", "post-punk"),
    "jazz": ("jazz", "smooth jazz", "bebop", "jazz fusion"),
    "folk": ("folk music", "indie folk", "folk rock", "americana"),
    "punk": ("punk rock", "pop punk", "hardcore punk", "ska punk"),
    "rnb": ("rhythm and blues", "soul music", "funk", "contemporary r&b"),
    "country": ("country", "bluegrass", "alternative country", "country rock"),
    "blues": ("blues", "blues rock", "delta blues", "electric blues"),
    "reggae": ("reggae", "dub", "ska", "dancehall"),
    "classical": ("classical music", "baroque music", "opera", "contemporary classical"),
    "world": ("world music", "latin music", "bossa nova", "flamenco"),
    "new age": ("new-age music", "ambient music", "meditation music", "space music"),
    "easy listening": ("easy listening", "lounge music", "exotica", "beautiful music"),
    "vocal": ("vocal music", "a cappella", "traditional pop", "crooner"),
    "children's": ("children's music", "lullaby", "nursery rhymes", "educational music"),
    "spoken word": ("spoken word", "comedy", "audiobook", "poetry"),
}
FINE_GENRES_PER_FAMILY = 3  # fine genres share a family three at a time, so AllMusic stays coarser

# moves of the listening walk (numbered 0-6 in this order by the kernel _walk); probabilities DemoModel.p_<move>
MOVES = ("repeat", "album_next", "same_artist", "history", "same_genre", "taste_genre", "global_popular")


@dataclass(frozen=True)
class DemoSize:
    """How big the generated dataset is.

    ``n_events`` is about ``n_users * mean_length``; track, artist and genre counts are exact.
    """

    n_users: int
    mean_length: float  # mean listening events per user
    n_genres: int  # fine (Freebase-like) genres; AllMusic families = ceil(n_genres / 3)
    n_artists: int
    n_tracks: int
    n_duplicate_names: int  # pairs of distinct artists given the same name
    block_size: int = 1000  # events per block in LFM-1b_LEs.txt (the real file uses about 1,000)

    def __post_init__(self):
        max_genres = FINE_GENRES_PER_FAMILY * len(FINE_GENRES)
        if not 1 <= self.n_genres <= max_genres:
            raise ValueError(f"DemoSize.n_genres must be in [1, {max_genres}], got {self.n_genres}")
        if not self.n_genres <= self.n_artists <= self.n_tracks:
            raise ValueError("DemoSize needs n_genres <= n_artists <= n_tracks, got "
                             f"{self.n_genres}, {self.n_artists}, {self.n_tracks}")
        if self.n_users < 1 or self.mean_length < 1 or self.block_size < 1:
            raise ValueError("DemoSize.n_users, mean_length and block_size must be >= 1")
        if not 0 <= 2 * self.n_duplicate_names <= self.n_artists:
            raise ValueError(f"DemoSize.n_duplicate_names must be in [0, n_artists / 2], "
                             f"got {self.n_duplicate_names}")


SIZES = {
    # The catalogue grows with the users, so that every size has about the same shape (plays per song,
    # share of songs played once, ...); the shape is calibrated at the default size.
    # unit tests: ~27k events; small blocks so that users span several interleaved blocks
    "tiny": DemoSize(n_users=300, mean_length=90, n_genres=12, n_artists=6_900, n_tracks=54_000,
                     n_duplicate_names=3, block_size=250),
    "small": DemoSize(n_users=1_000, mean_length=90, n_genres=20, n_artists=23_000, n_tracks=180_000,
                      n_duplicate_names=5),
    # the workflow default: ~220k events of 2,600 users; with the 84/8/8 split of the demo (config split:
    # auto), validation and test hold 208 users and about 15,000 pairs each
    "default": DemoSize(n_users=2_600, mean_length=85, n_genres=30, n_artists=56_000, n_tracks=440_000,
                        n_duplicate_names=8),
    # 2.5 times the default: more power, 2.5 times the training time
    "large": DemoSize(n_users=6_000, mean_length=90, n_genres=36, n_artists=138_000, n_tracks=1_075_000,
                      n_duplicate_names=10),
}


@dataclass(frozen=True)
class DemoModel:
    """Behavioural and noise parameters of the generative model (the defaults are the ``demo`` dataset).

    The popularity, session and move parameters are calibrated so that the ``default`` size has the shape
    of real LFM-1b listening (``benchmarks/listening_shape.py`` prints both; the README shows the table).
    """

    # popularity (Zipf exponents of genre, of artist within genre, of track within artist)
    genre_zipf: float = 0.94
    artist_zipf: float = 0.95
    track_zipf: float = 0.42
    mean_album_tracks: float = 12.6
    p_untitled_album: float = 0.05  # empty album name, as 6% of the rows of the real albums file
    # listeners
    max_taste_genres: int = 2
    taste_concentration: float = 0.441  # Dirichlet parameter of the taste mixture
    length_sigma: float = 1.97  # sigma of log(history length): LFM-1b's p75 / p25 = 14
    length_cap: float = 6.4  # longest history / median one (LFM-1b capped long histories)
    min_length: int = 2
    # sessions: first event of a session, then one move per event (p_<move> sum to 1)
    mean_session_length: float = 17.0
    p_session_history: float = 0.44  # session resumes a song the user played before (else: a taste genre)
    p_album_start: float = 0.95  # session starts at track 1 of the song's album
    p_repeat: float = 0.095
    p_album_next: float = 0.515
    p_same_artist: float = 0.07
    p_history: float = 0.1499  # a song the user played before, drawn by how often they played it
    p_same_genre: float = 0.0817
    p_taste_genre: float = 0.0289
    p_global_popular: float = 0.0595
    # time (seconds)
    track_seconds_median: float = 230.0
    p_skip: float = 0.06  # next track starts after 2-40 s instead of the track's duration
    session_gap_hours_median: float = 10.0
    end_unixtime: int = 1_404_172_800  # 2014-07-01, near the end of LFM-1b's collection period
    start_unixtime: int = 1_104_537_600  # 2005-01-01: no generated play is older
    # genre-label noise in the UGP files (drawn independently per source)
    mean_extra_genres: float = 1.5
    p_wrong_first_genre: float = 0.10
    p_no_genre: float = 0.08
    p_missing_from_genre_file: float = 0.03
    p_duplicate_genre_row: float = 0.02
    # file order: number of users whose blocks are interleaved at a time
    crawler_slots: int = 4

    def __post_init__(self):
        total = sum(self.move_probabilities)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"DemoModel move probabilities p_{'/p_'.join(MOVES)} must sum to 1, got {total}")
        if self.min_length < 1:
            raise ValueError(f"DemoModel.min_length must be >= 1, got {self.min_length}")
        for f in fields(self):
            if f.name.startswith("p_") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"DemoModel.{f.name} must be a probability, got {getattr(self, f.name)}")

    @property
    def move_probabilities(self) -> tuple[float, ...]:
        return tuple(getattr(self, f"p_{move}") for move in MOVES)


@dataclass
class Catalogue:
    """Genres, artists, albums and tracks, with internal 0-based indices.

    Tracks are numbered artist by artist, album by album, in album order, so an artist's tracks are
    ``artist_offsets[a]:artist_offsets[a + 1]`` and the next track on the album of ``t`` is ``t + 1`` when
    ``track_album[t + 1] == track_album[t]``. External (file) ids are the separate ``*_ids`` permutations.
    """

    genre_names: list[str]  # (G,) fine genres
    genre_family: np.ndarray  # (G,) index into ALLMUSIC_GENRES
    genre_weight: np.ndarray  # (G,) popularity, sums to 1
    artist_names: list[str]  # (A,)
    artist_genres: list[list[int]]  # (A,) true fine genres, primary first
    artist_weight: np.ndarray  # (A,) popularity inside its primary genre
    artist_offsets: np.ndarray  # (A + 1,) track ranges
    album_artist: np.ndarray  # (B,)
    album_first_track: np.ndarray  # (B,)
    album_names: list[str]
    track_album: np.ndarray  # (T,)
    track_artist: np.ndarray  # (T,)
    track_weight: np.ndarray  # (T,) popularity inside its artist
    track_seconds: np.ndarray  # (T,) duration
    track_names: list[str]
    artist_ids: np.ndarray  # (A,) file ids, 1-based, shuffled
    album_ids: np.ndarray  # (B,)
    track_ids: np.ndarray  # (T,)

    @property
    def artist_primary_genre(self) -> np.ndarray:
        return np.array([genres[0] for genres in self.artist_genres], dtype=np.int64)


@dataclass
class Listeners:
    """Users' genre tastes and history lengths; tastes as CSR arrays (``taste_offsets``: n_users + 1)."""

    user_ids: np.ndarray  # (U,) file ids, sparse and increasing like LFM-1b's
    lengths: np.ndarray  # (U,) events per user
    taste_offsets: np.ndarray
    taste_genres: np.ndarray
    taste_weights: np.ndarray  # sums to 1 per user


def resolve_size(size: DemoSize | str) -> DemoSize:
    """``size`` itself, or the preset ``SIZES[size]``."""
    if isinstance(size, DemoSize):
        return size
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; expected one of {sorted(SIZES)} or a DemoSize")
    return SIZES[size]


def generate(out_dir, size: DemoSize | str, seed: int, genre_sources=GENRE_SOURCES,
             model: DemoModel = DemoModel()) -> dict:
    """Generate the ``demo`` dataset into ``out_dir`` (LFM-1b file names and layout, see module docstring).

    Every file is written atomically. Returns a JSON-ready summary: counts of users, events, artists,
    albums, tracks; sequence length mean/p25/median/p75; share of plays of the top 1% of played tracks;
    per genre source the vocabulary size and the noise counts (artists with a wrong first genre, without
    genres, missing from the file, repeated rows); the files written; the generation time in seconds.
    """
    started = time.perf_counter()
    size = resolve_size(size)
    unknown = set(genre_sources) - set(GENRE_SOURCES)
    if unknown:
        raise ValueError(f"unknown genre_sources {sorted(unknown)}; expected a subset of {GENRE_SOURCES}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)

    catalogue = make_catalogue(rng, size, model)
    listeners = make_listeners(rng, size, model, catalogue)
    user_offsets = _offsets(listeners.lengths)
    session_start = _session_starts(rng, user_offsets, model.mean_session_length)
    tracks = listen(rng, catalogue, listeners, user_offsets, session_start, model)
    timestamps = _timestamps(rng, catalogue, tracks, user_offsets, session_start, model)
    order = crawl_order(rng, user_offsets, size.block_size, model.crawler_slots)

    files = _write_catalogue(out_dir, catalogue)
    files.append(_write_users(out_dir, rng, listeners, timestamps, user_offsets))
    files.append(_write_events(out_dir, catalogue, listeners, tracks, timestamps, order))
    genre_noise = {}
    # one generator per source, so that a source's noise never depends on which other sources are written
    genre_rngs = dict(zip(GENRE_SOURCES, rng.spawn(len(GENRE_SOURCES))))
    for source in genre_sources:
        genre_noise[source] = _write_genres(out_dir, genre_rngs[source], catalogue, source, model)
        files += [f"genres_{source}.txt", f"LFM-1b_artist_genres_{source}.txt"]

    lengths = listeners.lengths
    plays = np.sort(np.bincount(tracks))[::-1]
    plays = plays[plays > 0]
    summary = {
        "seed": int(seed), "size": asdict(size),
        "users": len(lengths), "events": int(lengths.sum()), "genres": len(catalogue.genre_names),
        "artists": len(catalogue.artist_ids), "albums": len(catalogue.album_ids),
        "tracks": len(catalogue.track_ids), "tracks_played": len(plays),
        "length_mean": float(lengths.mean()), "length_p25": float(np.percentile(lengths, 25)),
        "length_median": float(np.median(lengths)), "length_p75": float(np.percentile(lengths, 75)),
        "length_max": int(lengths.max()),
        "top1pct_tracks_play_share": float(plays[:len(plays) // 100].sum() / plays.sum()),
        "duplicate_artist_names": size.n_duplicate_names,
        "genre_noise": genre_noise, "files": sorted(files),
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("demo dataset (seed %d): %d users, %d events, %d tracks, %d artists in %.2f s -> %s", seed,
             summary["users"], summary["events"], summary["tracks"], summary["artists"], summary["seconds"],
             out_dir)
    return summary


# ---------------------------------------------------------------------------------------------- catalogue


def _zipf_weights(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """(n,) weights ``rank ** -exponent`` with ranks in random order."""
    return (rng.permutation(n) + 1.0) ** -exponent


def _offsets(counts) -> np.ndarray:
    """(n + 1,) int64 CSR offsets of segments of sizes ``counts``."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def segment_cdf(weights: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Cumulative distribution of ``weights`` inside each segment ``offsets[i]:offsets[i + 1]``.

    Returns (len(weights),) float64 rising to exactly 1.0 at the end of every non-empty segment, so that
    ``lo + searchsorted(cdf[lo:hi], u, side="right")`` samples index ``j`` with probability ∝ weights[j].
    """
    weights = np.asarray(weights, dtype=np.float64)
    counts = np.diff(offsets)
    before = np.concatenate(([0.0], np.cumsum(weights)))
    start = np.repeat(before[offsets[:-1]], counts)
    total = np.repeat(before[offsets[1:]] - before[offsets[:-1]], counts)
    cdf = (before[1:] - start) / total
    cdf[offsets[1:][counts > 0] - 1] = 1.0
    return cdf


def _genre_vocabulary(n_genres: int) -> tuple[list[str], np.ndarray]:
    """Fine genre names and their AllMusic family, families taken into use ``FINE_GENRES_PER_FAMILY`` at a time."""
    families = list(FINE_GENRES)[:math.ceil(n_genres / FINE_GENRES_PER_FAMILY)]
    names, family = [], []
    for g in range(n_genres):
        f = families[g % len(families)]
        names.append(FINE_GENRES[f][g // len(families)])
        family.append(ALLMUSIC_GENRES.index(f))
    return names, np.array(family, dtype=np.int64)


def make_catalogue(rng: np.random.Generator, size: DemoSize, model: DemoModel) -> Catalogue:
    """Draw genres, artists (each genre has one at least), albums and tracks with Zipf popularities."""
    n_genres, n_artists, n_tracks = size.n_genres, size.n_artists, size.n_tracks
    genre_names, genre_family = _genre_vocabulary(n_genres)
    genre_weight = _zipf_weights(rng, n_genres, model.genre_zipf)
    genre_weight /= genre_weight.sum()
    primary = np.concatenate([np.arange(n_genres), rng.choice(n_genres, n_artists - n_genres, p=genre_weight)])
    artist_genres = _artist_genres(rng, primary, genre_family, genre_weight, model.mean_extra_genres)
    artist_weight = _zipf_weights(rng, n_artists, model.artist_zipf)

    # tracks per artist: one each, the rest shared in proportion to sqrt(popularity)
    share = np.sqrt(artist_weight)
    tracks_per_artist = 1 + rng.multinomial(n_tracks - n_artists, share / share.sum())
    artist_offsets = _offsets(tracks_per_artist)
    track_artist = np.repeat(np.arange(n_artists), tracks_per_artist)
    # albums: a new album starts at an artist's first track, and elsewhere with probability 1/mean size
    album_start = rng.random(n_tracks) < 1.0 / model.mean_album_tracks
    album_start[artist_offsets[:-1]] = True
    track_album = np.cumsum(album_start) - 1
    album_first_track = np.flatnonzero(album_start)
    # hit tracks: Zipf ranks in random order inside each artist
    rank_key = np.lexsort((rng.random(n_tracks), track_artist))
    rank = np.empty(n_tracks, dtype=np.int64)
    rank[rank_key] = np.arange(n_tracks) - artist_offsets[track_artist[rank_key]]
    track_weight = (rank + 1.0) ** -model.track_zipf
    track_seconds = np.clip(np.rint(model.track_seconds_median * rng.lognormal(0.0, 0.35, n_tracks)), 45, 900)

    n_albums = len(album_first_track)
    album_names = _titles(rng, n_albums, max_words=3)
    for b in np.flatnonzero(rng.random(n_albums) < model.p_untitled_album).tolist():
        album_names[b] = ""
    return Catalogue(
        genre_names=genre_names, genre_family=genre_family, genre_weight=genre_weight,
        artist_names=_artist_names(rng, n_artists, size.n_duplicate_names), artist_genres=artist_genres,
        artist_weight=artist_weight, artist_offsets=artist_offsets,
        album_artist=track_artist[album_first_track], album_first_track=album_first_track,
        album_names=album_names, track_album=track_album, track_artist=track_artist,
        track_weight=track_weight, track_seconds=track_seconds.astype(np.int64),
        track_names=_titles(rng, n_tracks, max_words=4),
        artist_ids=rng.permutation(n_artists) + 1, album_ids=rng.permutation(n_albums) + 1,
        track_ids=rng.permutation(n_tracks) + 1)


def _artist_genres(rng, primary, genre_family, genre_weight, mean_extra) -> list[list[int]]:
    """True genre list of every artist: its primary genre, then extra genres (mostly of the same family)."""
    n_extra = rng.poisson(mean_extra, len(primary))
    same_family = rng.random(n_extra.sum()) < 0.7
    candidates = rng.choice(len(genre_weight), n_extra.sum(), p=genre_weight)
    shift = rng.integers(0, 1 << 30, n_extra.sum())
    family_members = [np.flatnonzero(genre_family == f) for f in range(len(ALLMUSIC_GENRES))]
    result, k = [], 0
    for a, g in enumerate(primary.tolist()):
        genres = [g]
        for _ in range(n_extra[a]):
            members = family_members[genre_family[g]]
            extra = int(members[shift[k] % len(members)]) if same_family[k] else int(candidates[k])
            if extra not in genres:
                genres.append(extra)
            k += 1
        result.append(genres)
    return result


# ------------------------------------------------------------------------------------------------- names

_ONSETS = ("b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p", "pr",
           "r", "s", "sh", "sl", "st", "t", "tr", "v", "w", "z", "")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "nd", "st", "th", "x")
_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü"}
# artist name patterns ("{}" = one generated word) and their probabilities
_ARTIST_PATTERNS = ("{}", "{} {}", "The {}s", "{} & the {}s", "DJ {}", "{} {} {}")
_ARTIST_PATTERN_P = (0.42, 0.28, 0.10, 0.07, 0.05, 0.08)


def _words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` pronounceable capitalised words of 1-3 syllables, 2% of them with an accented vowel."""
    n_syllables = rng.choice(np.array([1, 2, 3]), n, p=[0.3, 0.5, 0.2])
    total = int(n_syllables.sum())
    onsets = rng.integers(len(_ONSETS), size=total).tolist()
    vowels = rng.integers(len(_VOWELS), size=total).tolist()
    codas = rng.integers(len(_CODAS), size=total).tolist()
    syllables = [_ONSETS[a] + _VOWELS[b] + _CODAS[c] for a, b, c in zip(onsets, vowels, codas)]
    ends = np.cumsum(n_syllables).tolist()
    accented = (rng.random(n) < 0.02).tolist()
    words = []
    for start, end, accent in zip([0] + ends[:-1], ends, accented):
        word = "".join(syllables[start:end])
        if accent:  # accent the first accentable vowel
            at = next((i for i, c in enumerate(word) if c in _ACCENTS), None)
            word = word if at is None else word[:at] + _ACCENTS[word[at]] + word[at + 1:]
        words.append(word.capitalize())
    return words


def _titles(rng: np.random.Generator, n: int, max_words: int) -> list[str]:
    """``n`` track or album titles of 1 to ``max_words`` words (titles may repeat, as real ones do)."""
    n_words = rng.integers(1, max_words + 1, n)
    words = _words(rng, int(n_words.sum()))
    ends = np.cumsum(n_words).tolist()
    return [" ".join(words[start:end]) for start, end in zip([0] + ends[:-1], ends)]


def _artist_names(rng: np.random.Generator, n: int, n_duplicates: int) -> list[str]:
    """``n`` artist names, unique (also ignoring case) except ``n_duplicates`` deliberate pairs."""
    names = [None] * n
    taken: set[str] = set()
    todo = np.arange(n)
    while len(todo):
        patterns = rng.choice(len(_ARTIST_PATTERNS), len(todo), p=_ARTIST_PATTERN_P).tolist()
        words = iter(_words(rng, sum(_ARTIST_PATTERNS[p].count("{}") for p in patterns)))
        retry = []
        for i, p in zip(todo.tolist(), patterns):
            pattern = _ARTIST_PATTERNS[p]
            name = pattern.format(*(next(words) for _ in range(pattern.count("{}"))))
            if name.casefold() in taken:
                retry.append(i)
            else:
                taken.add(name.casefold())
                names[i] = name
        todo = np.array(retry, dtype=np.int64)
    pairs = rng.choice(n, 2 * n_duplicates, replace=False).reshape(-1, 2)
    for original, copy in pairs.tolist():
        names[copy] = names[original]
    return names


# --------------------------------------------------------------------------------------------- listeners


def make_listeners(rng: np.random.Generator, size: DemoSize, model: DemoModel, catalogue: Catalogue) -> Listeners:
    """Draw every user's taste genres (Dirichlet weights) and history length.

    Taste genres are drawn without replacement by genre popularity. History lengths are log-normal with
    ``model.length_sigma``, capped at ``model.length_cap`` times their median, then scaled to the mean
    ``size.mean_length`` (at least ``model.min_length``).
    """
    n_users, n_genres = size.n_users, len(catalogue.genre_names)
    n_taste = np.minimum(1 + rng.binomial(model.max_taste_genres - 1, 0.35, n_users), n_genres)
    taste_offsets = _offsets(n_taste)
    # Efraimidis-Spirakis: the k smallest Exp(1) / weight keys are a weighted sample without replacement
    ranked = np.argsort(rng.exponential(size=(n_users, n_genres)) / catalogue.genre_weight, axis=1)
    taste_genres = ranked[np.arange(n_genres) < n_taste[:, None]]
    gamma = rng.gamma(model.taste_concentration, size=len(taste_genres)) + 1e-3  # no taste genre gets ~0
    taste_weights = gamma / np.repeat(np.add.reduceat(gamma, taste_offsets[:-1]), n_taste)

    raw = np.minimum(rng.lognormal(0.0, model.length_sigma, n_users), model.length_cap)
    lengths = np.maximum(np.rint(raw * size.mean_length / raw.mean()), model.min_length).astype(np.int64)
    user_ids = np.cumsum(rng.integers(1, 40_000, n_users))
    return Listeners(user_ids=user_ids, lengths=lengths, taste_offsets=taste_offsets, taste_genres=taste_genres,
                     taste_weights=taste_weights)


def _draw(cdf: np.ndarray, offsets: np.ndarray, segments: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per entry of ``segments``, drawn inside ``offsets[s]:offsets[s + 1]`` from the segment CDF."""
    segment_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    drawn = np.searchsorted(segment_of + cdf, segments + rng.random(len(segments)), side="right")
    return np.minimum(drawn, offsets[segments + 1] - 1)


def _session_starts(rng: np.random.Generator, user_offsets: np.ndarray, mean_session_length: float) -> np.ndarray:
    """(E,) bool: event starts a session (each user's first event, and elsewhere w.p. 1/mean length)."""
    starts = rng.random(int(user_offsets[-1])) < 1.0 / mean_session_length
    starts[user_offsets[:-1]] = True
    return starts


# ------------------------------------------------------------------------------------------ listening walk


def listen(rng: np.random.Generator, catalogue: Catalogue, listeners: Listeners, user_offsets: np.ndarray,
           session_start: np.ndarray, model: DemoModel) -> np.ndarray:
    """(E,) int64 internal track index of every event, users one after the other, in time order."""
    primary = catalogue.artist_primary_genre
    genre_order = np.argsort(primary, kind="stable")
    genre_artist_offsets = _offsets(np.bincount(primary, minlength=len(catalogue.genre_names)))
    uniforms = rng.random((int(user_offsets[-1]), 5))
    return _walk(
        user_offsets, session_start, uniforms, np.cumsum(model.move_probabilities),
        model.p_session_history, model.p_album_start,
        listeners.taste_offsets, listeners.taste_genres,
        segment_cdf(listeners.taste_weights, listeners.taste_offsets),
        genre_artist_offsets, genre_order,
        segment_cdf(catalogue.artist_weight[genre_order], genre_artist_offsets),
        catalogue.artist_offsets, segment_cdf(catalogue.track_weight, catalogue.artist_offsets),
        catalogue.track_artist, catalogue.track_album, catalogue.album_first_track, primary,
        segment_cdf(catalogue.track_weight * catalogue.artist_weight[catalogue.track_artist],
                    np.array([0, len(catalogue.track_weight)])))


@numba.njit(cache=True)
def _pick(cdf, lo, hi, u):
    """Index in ``lo:hi`` drawn from the segment CDF ``cdf[lo:hi]`` with the uniform ``u``."""
    return min(lo + np.searchsorted(cdf[lo:hi], u, side="right"), hi - 1)


@numba.njit(cache=True)
def _taste_track(user, u, taste_offsets, taste_genres, taste_cdf, genre_artist_offsets, genre_artists,
                 genre_artist_cdf, artist_offsets, artist_track_cdf):
    """A track of the user's taste: a taste genre, an artist of it by popularity, a track of the artist by
    popularity (uniforms ``u[1]``, ``u[2]``, ``u[3]``)."""
    genre = taste_genres[_pick(taste_cdf, taste_offsets[user], taste_offsets[user + 1], u[1])]
    artist = genre_artists[_pick(genre_artist_cdf, genre_artist_offsets[genre], genre_artist_offsets[genre + 1],
                                 u[2])]
    return _pick(artist_track_cdf, artist_offsets[artist], artist_offsets[artist + 1], u[3])


@numba.njit(cache=True)
def _walk(user_offsets, session_start, uniforms, move_cdf, p_session_history, p_album_start,
          taste_offsets, taste_genres, taste_cdf, genre_artist_offsets, genre_artists, genre_artist_cdf,
          artist_offsets, artist_track_cdf, track_artist, track_album, album_first_track, artist_genre,
          global_track_cdf):
    """One track per event: session starts, then the moves of ``MOVES`` (uniforms (E, 5) are consumed as
    0: move or session kind, 1: genre or earlier play, 2: artist in genre, 3: track, 4: album start).

    A session resumes an earlier play of the user (with ``p_session_history``, once the user has one) or
    starts on a track of a taste genre; either way it starts at the first track of that track's album with
    ``p_album_start``. The ``history`` move replays a uniformly drawn earlier play, so a song comes back in
    proportion to how often the user has played it already."""
    n_tracks = len(track_artist)
    tracks = np.empty(len(session_start), dtype=np.int64)
    for user in range(len(user_offsets) - 1):
        first = user_offsets[user]
        track = -1
        for e in range(first, user_offsets[user + 1]):
            u = uniforms[e]
            if session_start[e]:
                if e > first and u[0] < p_session_history:
                    track = tracks[first + int(u[1] * (e - first))]
                else:
                    track = _taste_track(user, u, taste_offsets, taste_genres, taste_cdf, genre_artist_offsets,
                                         genre_artists, genre_artist_cdf, artist_offsets, artist_track_cdf)
                if u[4] < p_album_start:
                    track = album_first_track[track_album[track]]
                tracks[e] = track
                continue
            move = np.searchsorted(move_cdf, u[0], side="right")
            artist = track_artist[track]
            if move == 0:  # repeat
                pass
            elif move == 1 and track + 1 < n_tracks and track_album[track + 1] == track_album[track]:
                track += 1  # album_next
            elif move <= 2:  # same_artist (and album_next at the album's end)
                track = _pick(artist_track_cdf, artist_offsets[artist], artist_offsets[artist + 1], u[3])
            elif move == 3:  # history
                track = tracks[first + int(u[1] * (e - first))]
            elif move == 4:  # same_genre
                genre = artist_genre[artist]
                artist = genre_artists[_pick(genre_artist_cdf, genre_artist_offsets[genre],
                                             genre_artist_offsets[genre + 1], u[2])]
                track = _pick(artist_track_cdf, artist_offsets[artist], artist_offsets[artist + 1], u[3])
            elif move == 5:  # taste_genre
                track = _taste_track(user, u, taste_offsets, taste_genres, taste_cdf, genre_artist_offsets,
                                     genre_artists, genre_artist_cdf, artist_offsets, artist_track_cdf)
            else:  # global_popular
                track = _pick(global_track_cdf, 0, n_tracks, u[3])
            tracks[e] = track
    return tracks


def _timestamps(rng, catalogue, tracks, user_offsets, session_start, model) -> np.ndarray:
    """(E,) int64 Unix seconds, increasing inside each user: the previous track's duration between events of
    a session (2-40 s after a skip), a log-normal gap of at least 30 minutes before a session; each user's
    last event falls in the 180 days before ``model.end_unixtime``. A history too long to fit after
    ``model.start_unixtime`` has its gaps scaled down so that it starts there (heavy users of long
    histories would otherwise date plays before Last.fm existed, which ingest rejects)."""
    n_events, first_event, lengths = len(tracks), user_offsets[:-1], np.diff(user_offsets)
    previous_duration = catalogue.track_seconds[np.r_[0, tracks[:-1]]]
    gap = np.where(rng.random(n_events) < model.p_skip, rng.integers(2, 41, n_events), previous_duration)
    session_gap = np.rint(model.session_gap_hours_median * 3600.0 * rng.lognormal(0.0, 1.2, n_events))
    gap = np.where(session_start, np.maximum(session_gap, 1800), gap).astype(np.int64)
    gap[first_event] = 0
    elapsed = np.cumsum(gap)
    elapsed -= np.repeat(elapsed[first_event], lengths)  # seconds since the user's first event
    last = model.end_unixtime - rng.integers(0, 180 * 86400, len(lengths))
    span = elapsed[user_offsets[1:] - 1]
    scale = np.minimum(1.0, (last - model.start_unixtime) / np.maximum(span, 1))
    elapsed = np.floor(elapsed * np.repeat(scale, lengths)).astype(np.int64)
    return np.repeat(last - elapsed[user_offsets[1:] - 1], lengths) + elapsed


def crawl_order(rng: np.random.Generator, user_offsets: np.ndarray, block_size: int, slots: int) -> np.ndarray:
    """(E,) permutation of the events into LFM-1b's file order.

    Each user's events, newest first, are cut into blocks of ``block_size``; ``slots`` users are crawled at a
    time, the next block always coming from a random one of them; a finished user frees its slot for the next
    user in a random queue. So blocks of different users interleave, and a user's blocks go from newest to
    oldest.
    """
    lengths = np.diff(user_offsets)
    queue = rng.permutation(len(lengths)).tolist()[::-1]
    picks = rng.random(int(np.ceil(lengths / block_size).sum()) + 1).tolist()[::-1]
    active, next_end, pieces = [], {}, []
    while queue or active:
        while queue and len(active) < slots:
            user = queue.pop()
            if lengths[user]:
                active.append(user)
                next_end[user] = int(user_offsets[user + 1])
        if not active:
            break
        user = active[int(picks.pop() * len(active))]
        end = next_end[user]
        start = max(end - block_size, int(user_offsets[user]))
        pieces.append(np.arange(end - 1, start - 1, -1))
        next_end[user] = start
        if start == user_offsets[user]:
            active.remove(user)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


# ------------------------------------------------------------------------------------------------- files


def _write_tsv(path: Path, columns: dict, header: bool = False) -> None:
    """Tab-separated file of ``columns`` (name -> (n,) values), one row per line, never quoted (a value with
    a tab, newline or quote raises)."""
    with atomic.atomic_path(path) as tmp:
        pa_csv.write_csv(pa.table(columns), tmp, pa_csv.WriteOptions(
            include_header=header, delimiter="\t", eol="\n", quoting_style="none", quoting_header="none"))


def _write_catalogue(out_dir: Path, catalogue: Catalogue) -> list[str]:
    """Artists, albums and tracks files, ordered by id."""
    artists = np.argsort(catalogue.artist_ids)
    _write_tsv(out_dir / "LFM-1b_artists.txt", {
        "artist_id": catalogue.artist_ids[artists], "artist_name": [catalogue.artist_names[a] for a in artists]})
    albums = np.argsort(catalogue.album_ids)
    _write_tsv(out_dir / "LFM-1b_albums.txt", {
        "album_id": catalogue.album_ids[albums], "album_name": [catalogue.album_names[b] for b in albums],
        "artist_id": catalogue.artist_ids[catalogue.album_artist[albums]]})
    tracks = np.argsort(catalogue.track_ids)
    _write_tsv(out_dir / "LFM-1b_tracks.txt", {
        "track_id": catalogue.track_ids[tracks], "track_name": [catalogue.track_names[t] for t in tracks],
        "artist_id": catalogue.artist_ids[catalogue.track_artist[tracks]]})
    return ["LFM-1b_artists.txt", "LFM-1b_albums.txt", "LFM-1b_tracks.txt"]


_COUNTRIES = ("US", "UK", "", "SE", "DE", "FI", "NL", "NO", "CA", "AU", "PL", "ES", "BR", "RU", "FR", "IT", "JP")
_COUNTRY_P = np.array([26, 12, 11, 6, 6, 5, 5, 3, 3, 3, 2, 2, 4, 4, 3, 3, 2], dtype=float)
_GENDERS = ("m", "f", "n", "")
_GENDER_P = (0.71, 0.10, 0.14, 0.05)


def _write_users(out_dir: Path, rng, listeners: Listeners, timestamps, user_offsets) -> str:
    """Users file; playcount = the user's number of events, registration before the first event."""
    n = len(listeners.user_ids)
    country = rng.choice(len(_COUNTRIES), n, p=_COUNTRY_P / _COUNTRY_P.sum())
    gender = rng.choice(len(_GENDERS), n, p=_GENDER_P)
    _write_tsv(out_dir / "LFM-1b_users.txt", {
        "user_id": listeners.user_ids, "country": [_COUNTRIES[c] for c in country],
        "age": np.where(rng.random(n) < 0.22, -1, rng.integers(15, 60, n)),
        "gender": [_GENDERS[g] for g in gender], "playcount": listeners.lengths,
        "registered_unixtime": timestamps[user_offsets[:-1]] - rng.integers(3600, 3 * 365 * 86400, n)},
        header=True)
    return "LFM-1b_users.txt"


def _write_events(out_dir: Path, catalogue, listeners, tracks, timestamps, order) -> str:
    ordered = tracks[order]
    _write_tsv(out_dir / "LFM-1b_LEs.txt", {
        "user_id": np.repeat(listeners.user_ids, listeners.lengths)[order],
        "artist_id": catalogue.artist_ids[catalogue.track_artist[ordered]],
        "album_id": catalogue.album_ids[catalogue.track_album[ordered]], "track_id": catalogue.track_ids[ordered],
        "timestamp": timestamps[order]})
    return "LFM-1b_LEs.txt"


def _write_genres(out_dir: Path, rng, catalogue: Catalogue, source: str, model: DemoModel) -> dict:
    """Write the genre list and the (noisy) artist genre file of ``source``; return the noise counts."""
    if source == "freebase":
        vocabulary = catalogue.genre_names
        true_lists = catalogue.artist_genres
        popularity = catalogue.genre_weight
    else:
        vocabulary = list(ALLMUSIC_GENRES)
        true_lists = [list(dict.fromkeys(catalogue.genre_family[genres].tolist()))
                      for genres in catalogue.artist_genres]
        popularity = np.bincount(catalogue.genre_family, weights=catalogue.genre_weight,
                                 minlength=len(ALLMUSIC_GENRES))
    n_artists = len(true_lists)
    missing = rng.random(n_artists) < model.p_missing_from_genre_file
    empty = rng.random(n_artists) < model.p_no_genre
    wrong = (rng.random(n_artists) < model.p_wrong_first_genre) & ~empty & ~missing
    wrong_genre = rng.choice(len(vocabulary), n_artists, p=popularity / popularity.sum())
    repeated = (rng.random(n_artists) < model.p_duplicate_genre_row) & ~missing
    repeat_position = rng.random(n_artists)
    n_wrong = 0
    rows = []  # (position key, name, genre ids)
    for a in np.argsort(catalogue.artist_ids).tolist():
        if missing[a]:
            continue
        genres = [] if empty[a] else list(true_lists[a])
        if wrong[a] and wrong_genre[a] != genres[0]:
            genres = [int(wrong_genre[a])] + [g for g in genres if g != wrong_genre[a]]
            n_wrong += 1
        rows.append((len(rows), catalogue.artist_names[a], genres))
        if repeated[a]:  # the same name again, later in the file, with its genres in another order
            rows.append((len(rows) + repeat_position[a] * n_artists, catalogue.artist_names[a], genres[::-1]))
    rows.sort(key=lambda row: row[0])
    text = "".join(name + "\t" + "".join(f"{g}\t" for g in genres) + "\n" for _, name, genres in rows)
    atomic.write_text(out_dir / f"genres_{source}.txt", "".join(f"{name}\n" for name in vocabulary))
    atomic.write_text(out_dir / f"LFM-1b_artist_genres_{source}.txt", text)
    return {"genres": len(vocabulary), "genres_used": len({g for lst in true_lists for g in lst}),
            "rows": len(rows), "wrong_first_genre": n_wrong, "without_genres": int((empty & ~missing).sum()),
            "missing_artists": int(missing.sum()), "repeated_rows": int(repeated.sum())}
