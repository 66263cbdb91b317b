"""Every metric of one embedding space, computed from the evaluation data in one place.

This is where the paper's metrics meet: next-song HitRate/NDCG@k on in-set and out-of-set pairs
(section 2.1, :mod:`songvec.next_song`), HardNeg (2.2, :mod:`songvec.hard_negatives`), VRC of
genre and artist groups and, on request, Local Genre/Artist Coherence (2.3 and 4.3,
:mod:`songvec.clustering`). HPO trials and the final evaluation call the same function, so a
number in an HPO study and in Table 4 mean the same thing.

Headline HitRate and NDCG are the unweighted average of their in-set and out-of-set means, as in
the paper ("We use the average in-set and out-of-set HitRate and NDCG values").
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from songvec import clustering, neighbors, next_song
from songvec.genres import UNKNOWN
from songvec.hard_negatives import hard_negative_rate, sample_songs, songs_with_hard_negatives
from songvec.sequences import DEFAULT_BATCH_EVENTS, Sequences, iter_sequences, song_counts
from songvec.time_budget import CLOCKS, OverTimeBudget, TimeBudget, TrialPlan
from songvec.models import MODELS, PAPER_MODEL, Model
from songvec.models.baselines import Ranking, TrainedRanking
from songvec.training import GENSIM_MAX_SENTENCE_TOKENS, TokenChunks, TrainedModel, load_vectors

log = logging.getLogger(__name__)

PAIR_KINDS = ("in_set", "out_of_set")
NO_ARTIST = -1  # artist label of a vocabulary song missing from the genre table


@dataclass(frozen=True)
class EvaluationSettings:
    """How the metrics are computed (config section ``evaluation``; see config.yaml for meanings)."""

    k: int = 100
    oov_policy: str = "skip"
    self_pairs: str = "skip"
    vrc_normalize: bool = True
    vrc_min_group_size: int = 2
    hardneg_songs: int | None = 2000
    coherence_neighbors: int = 50
    genre_coherence: Mapping[str, int] = field(
        default_factory=lambda: {"n_songs": 500, "min_plays": 10_000, "n_genres": 10})
    artist_coherence: Mapping[str, int] = field(
        default_factory=lambda: {"n_artists": 125, "min_artist_songs": 25, "songs_per_artist": 5})
    seed: int = 0

    @classmethod
    def from_config(cls, evaluation: Mapping[str, Any], seed: int) -> "EvaluationSettings":
        """Settings from the config's ``evaluation`` section and the master seed."""
        return cls(k=evaluation["k"], oov_policy=evaluation["oov_policy"],
                   self_pairs=evaluation["self_pairs"], vrc_normalize=evaluation["vrc"]["normalize"],
                   vrc_min_group_size=evaluation["vrc"]["min_group_size"],
                   hardneg_songs=evaluation["hardneg_songs"],
                   coherence_neighbors=evaluation["coherence"]["neighbors"],
                   genre_coherence=dict(evaluation["coherence"]["genre"]),
                   artist_coherence=dict(evaluation["coherence"]["artist"]), seed=seed)


@dataclass
class EvaluationData:
    """What an embedding is evaluated against.

    Attributes:
        pairs: kind ("in_set", "out_of_set") -> DataFrame with int64 ``query``, ``target``.
        track_genres: DataFrame ``track_id, artist_id, genre`` (genre "unknown" when unmapped).
        hard_negatives: DataFrame ``song_a, song_b`` of :func:`songvec.hard_negatives.mine_hard_negatives`.
        track_plays: Series track_id -> plays in the training sequences (coherence sampling).
    """

    pairs: dict[str, pd.DataFrame]
    track_genres: pd.DataFrame
    hard_negatives: pd.DataFrame
    track_plays: pd.Series | None = None

    @classmethod
    def load(cls, in_set, out_of_set, genres, hard_negatives, train=None,
             batch_events: int = DEFAULT_BATCH_EVENTS) -> "EvaluationData":
        """Read the Parquet files the workflow writes (``train``: sequences, for play counts).

        The play counts are summed over ``train`` read ``batch_events`` events at a time
        (:func:`songvec.sequences.iter_sequences`): memory about 24 bytes per distinct song plus a batch.
        """
        plays = None
        if train is not None:
            ids, counts = song_counts(iter_sequences(train, batch_events))
            by_id = np.argsort(ids)
            plays = pd.Series(counts[by_id], index=ids[by_id])
        return cls(pairs={"in_set": pd.read_parquet(in_set), "out_of_set": pd.read_parquet(out_of_set)},
                   track_genres=pd.read_parquet(genres, columns=["track_id", "artist_id", "genre"]),
                   hard_negatives=pd.read_parquet(hard_negatives, columns=["song_a", "song_b"]),
                   track_plays=plays)


@dataclass
class EmbeddingEvaluation:
    """Metrics of one embedding space.

    Attributes:
        metrics: JSON-able dict: ``hitrate``, ``ndcg`` (in-set/out-of-set average), the same per kind
            (``hitrate_in_set`` ...), pair counts and OOV shares per kind, ``hardneg``, ``vrc_genre``,
            ``vrc_artist`` and, with coherence, ``genre_coherence`` / ``artist_coherence`` summaries
            (mean and 95% CI) with their per-query values.
        pairs: per-pair results of every kind (column ``kind``), in an order that does not depend on
            the model, so two models' rows can be paired.
        songs: per-song HardNeg values (``song``, ``hardneg``) of the sampled songs.
    """

    metrics: dict
    pairs: pd.DataFrame
    songs: pd.DataFrame


def evaluate_embedding(vectors: np.ndarray, track_ids: np.ndarray, data: EvaluationData,
                       settings: EvaluationSettings, *, coherence: bool = False,
                       threads: int = 1) -> EmbeddingEvaluation:
    """All metrics of the embedding ``vectors`` (V, d) whose row ``i`` is track ``track_ids[i]``; the
    neighbour searches run ``threads`` threads (the calling rule's ``threads``)."""
    unit = neighbors.normalize(vectors)
    lookup = _row_lookup(track_ids)
    metrics, per_pair = _next_song(next_song.CosineNeighbours(unit), lookup, data, settings, threads)

    genres, artists = _labels(track_ids, data.track_genres)
    vrc_space = unit if settings.vrc_normalize else np.asarray(vectors, dtype=np.float32)
    for name, labels, unknown in (("genre", genres, UNKNOWN), ("artist", artists, NO_ARTIST)):
        metrics |= _variance_ratio(name, vrc_space, labels, unknown, settings.vrc_min_group_size)

    songs = _hard_negative_rates(unit, track_ids, lookup, data.hard_negatives, settings, threads)
    metrics["hardneg"] = float(songs["hardneg"].mean()) if len(songs) else float("nan")
    metrics["hardneg_songs"] = len(songs)

    if coherence:
        metrics |= _coherence(unit, track_ids, genres, artists, data, settings, threads)
    log.info("metrics: HitRate %.4f (in-set %.4f, out-of-set %.4f), NDCG %.4f, HardNeg %.4f, "
             "VRC genre %s, VRC artist %s", metrics["hitrate"], metrics["hitrate_in_set"],
             metrics["hitrate_out_of_set"], metrics["ndcg"], metrics["hardneg"], metrics["vrc_genre"],
             metrics["vrc_artist"])
    return EmbeddingEvaluation(metrics, per_pair, songs)


def evaluate_ranking(ranking: Ranking, data: EvaluationData, settings: EvaluationSettings, *,
                     threads: int = 1) -> EmbeddingEvaluation:
    """The metrics of a next-song baseline (:class:`songvec.models.baselines.Ranking`): HitRate and NDCG as
    :func:`evaluate_embedding` computes them, on the same pairs; it has no vectors, so its VRC and HardNeg
    are None (no song is sampled for HardNeg) and it has no coherence."""
    metrics, per_pair = _next_song(ranking, _row_lookup(ranking.track_ids), data, settings, threads)
    metrics |= {"vrc_genre": None, "vrc_artist": None, "hardneg": None, "hardneg_songs": 0}
    log.info("metrics: HitRate %.4f (in-set %.4f, out-of-set %.4f), NDCG %.4f (a ranking: no VRC, HardNeg)",
             metrics["hitrate"], metrics["hitrate_in_set"], metrics["hitrate_out_of_set"], metrics["ndcg"])
    return EmbeddingEvaluation(metrics, per_pair, pd.DataFrame({"song": np.zeros(0, np.int64),
                                                                "hardneg": np.zeros(0)}))


def evaluate_trained(trained: TrainedModel | TrainedRanking, data: EvaluationData, settings: EvaluationSettings,
                     *, coherence: bool = False, threads: int = 1) -> EmbeddingEvaluation:
    """:func:`evaluate_embedding` of a trained embedding, :func:`evaluate_ranking` of a trained baseline."""
    if isinstance(trained, TrainedRanking):
        return evaluate_ranking(trained.ranking, data, settings, threads=threads)
    return evaluate_embedding(trained.wv.vectors, np.asarray(trained.wv.index_to_key, dtype=np.int64), data,
                              settings, coherence=coherence, threads=threads)


def evaluate_saved(path, data: EvaluationData, settings: EvaluationSettings, *, coherence: bool = False,
                   threads: int = 1) -> EmbeddingEvaluation:
    """The metrics of a model saved by :func:`songvec.models.save`: vectors (``.kv``, with ``coherence`` on
    request) or a baseline's ranking (``.npz``)."""
    if str(path).endswith(".npz"):
        return evaluate_ranking(Ranking.load(path), data, settings, threads=threads)
    vectors, track_ids = load_vectors(path)
    return evaluate_embedding(vectors, track_ids, data, settings, coherence=coherence, threads=threads)


def _next_song(recommender: next_song.Recommender, lookup: np.ndarray, data: EvaluationData,
               settings: EvaluationSettings, threads: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """HitRate and NDCG of every kind of pair and their averages (the headline values), with the per-pair
    rows of every kind (column ``kind``)."""
    metrics: dict[str, Any] = {"vocabulary_size": int(recommender.n_rows)}
    per_pair = []
    for kind in PAIR_KINDS:
        rows, summary = next_song.evaluate_pairs(recommender, lookup, data.pairs[kind], k=settings.k,
                                                 oov_policy=settings.oov_policy,
                                                 self_pairs=settings.self_pairs, threads=threads)
        per_pair.append(rows.assign(kind=kind))
        for key in ("hitrate", "ndcg", "n_pairs", "n_evaluated", "share_oov", "share_self"):
            metrics[f"{key}_{kind}"] = summary[key]
    metrics["hitrate"] = float(np.mean([metrics[f"hitrate_{kind}"] for kind in PAIR_KINDS]))
    metrics["ndcg"] = float(np.mean([metrics[f"ndcg_{kind}"] for kind in PAIR_KINDS]))
    return metrics, pd.concat(per_pair, ignore_index=True)


def _variance_ratio(name: str, vectors: np.ndarray, labels: np.ndarray, unknown, min_group_size: int) -> dict:
    """``vrc_<name>`` (None when undefined: fewer than 2 groups of ``min_group_size`` labelled songs, as
    on data without genres or artists) with its group and point counts."""
    known = labels != unknown
    sizes = pd.Series(labels[known]).value_counts()
    n_groups = int((sizes >= max(min_group_size, 1)).sum())
    if n_groups < 2 or int(sizes[sizes >= max(min_group_size, 1)].sum()) <= n_groups:
        log.warning("VRC %s is undefined: %d of %d vocabulary songs have a %s, in %d groups of at least %d "
                    "songs (2 are needed)", name, int(known.sum()), len(labels), name, n_groups, min_group_size)
        return {f"vrc_{name}": None, f"vrc_{name}_groups": n_groups, f"vrc_{name}_points": 0}
    vrc = clustering.variance_ratio(vectors, labels, normalize=False, min_group_size=min_group_size,
                                    exclude_label=unknown)
    return {f"vrc_{name}": vrc.score, f"vrc_{name}_groups": vrc.n_groups, f"vrc_{name}_points": vrc.n_points}


def _row_lookup(track_ids: np.ndarray) -> np.ndarray:
    """Dense lookup array: ``lookup[track_id]`` = vector row, or -1."""
    track_ids = np.asarray(track_ids, dtype=np.int64)
    lookup = np.full(int(track_ids.max()) + 1 if len(track_ids) else 0, -1, dtype=np.int64)
    lookup[track_ids] = np.arange(len(track_ids))
    return lookup


def _labels(track_ids: np.ndarray, track_genres: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(V,) primary genre (str, "unknown" if unmapped) and (V,) artist id (-1 if unknown) per row."""
    table = track_genres.set_index("track_id").reindex(np.asarray(track_ids, dtype=np.int64))
    missing = int(table["genre"].isna().sum())
    if missing:
        log.warning("%d vocabulary songs have no row in the genre table: genre unknown", missing)
    genres = table["genre"].fillna(UNKNOWN).to_numpy(dtype=object)
    artists = table["artist_id"].fillna(NO_ARTIST).to_numpy(dtype=np.int64)
    return genres, artists


def _hard_negative_rates(unit, track_ids, lookup, hard_negatives, settings, threads) -> pd.DataFrame:
    """HardNeg per sampled song with at least one hard negative and a vector."""
    candidates = songs_with_hard_negatives(hard_negatives)
    candidates = candidates[(candidates < len(lookup))]
    candidates = candidates[lookup[candidates] >= 0]
    songs = candidates if settings.hardneg_songs is None else \
        sample_songs(candidates, settings.hardneg_songs, settings.seed)
    if len(songs) == 0:
        log.warning("HardNeg: no vocabulary song has a hard negative; HardNeg is undefined (NaN)")
        return pd.DataFrame({"song": np.zeros(0, np.int64), "hardneg": np.zeros(0)})
    rows = lookup[songs]
    found, _ = neighbors.top_k(unit[rows], unit, settings.k, exclude=rows, threads=threads)
    neighbour_ids = np.where(found >= 0, np.asarray(track_ids, dtype=np.int64)[np.maximum(found, 0)], -1)
    rates = hard_negative_rate(neighbour_ids, songs, hard_negatives)
    return pd.DataFrame({"song": songs, "hardneg": rates})


def _coherence(unit, track_ids, genres, artists, data, settings, threads) -> dict:
    """Local Genre and Artist Coherence (section 4.3) with their per-query values."""
    if data.track_plays is None:
        raise ValueError("local coherence needs the training play counts (EvaluationData.track_plays)")
    plays = data.track_plays.reindex(np.asarray(track_ids, dtype=np.int64)).fillna(0).to_numpy()
    m = settings.coherence_neighbors
    genre_songs = clustering.sample_genre_coherence_songs(genres, plays, seed=settings.seed,
                                                          unknown_label=UNKNOWN, **settings.genre_coherence)
    genre_values = clustering.local_coherence(unit, genres, genre_songs["row"].to_numpy(), m,
                                              unknown_label=UNKNOWN, threads=threads)
    artist_songs = clustering.sample_artist_coherence_songs(artists, plays, seed=settings.seed,
                                                            unknown_label=NO_ARTIST, **settings.artist_coherence)
    artist_values = clustering.local_coherence(unit, artists, artist_songs["row"].to_numpy(), m,
                                               unknown_label=NO_ARTIST, threads=threads)
    return {
        "genre_coherence": clustering.coherence_summary(genre_values),
        "artist_coherence": clustering.coherence_summary(artist_values, groups=artist_songs["artist"]),
        "genre_coherence_values": genre_values.tolist(),
        "artist_coherence_values": artist_values.tolist(),
        "artist_coherence_artists": artist_songs["artist"].tolist(),
    }


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics dict (summaries, lists and undefined values left out)."""
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def configuration_evaluator(train: Sequences | Iterable[Sequences] | TokenChunks, data: EvaluationData,
                            settings: EvaluationSettings, training, budget: TimeBudget | None = None, *,
                            model: Model | None = None, threads: int = 1, logger: logging.Logger | None = None):
    """``evaluate(params) -> metrics`` for the HPO engine: train ``model`` (:mod:`songvec.models`; None: the
    paper's skip-gram Word2Vec) on ``train`` with the hyper-parameters ``params`` and its settings
    ``training`` (for Word2Vec a :class:`~songvec.training.TrainingSettings`), then compute the metrics on
    ``data`` with ``threads`` threads.

    ``train``: the training sequences in memory or a re-iterable source of batches (a
    :class:`songvec.sequences.SequenceFile`, never loaded whole: read again on every epoch). Its
    vocabulary pass is made here, once for all the evaluations (:class:`songvec.training.TokenChunks`),
    unless it is already a ``TokenChunks``.

    ``budget`` (:class:`songvec.time_budget.TimeBudget`) plans each training (its epochs, or
    :class:`~songvec.time_budget.TrialInfeasible` by the cost model before any training) and bounds its
    time; a training projected over the budget raises ``TrialInfeasible`` too. None: no time limit.

    The returned metrics are the scalar ones of :func:`evaluate_trained` plus the training seconds
    on every clock and, for a model with epochs in its settings (Word2Vec), ``epochs`` (those trained).
    """
    model = model or MODELS[PAPER_MODEL]
    corpus = train if isinstance(train, TokenChunks) else \
        TokenChunks(train, getattr(training, "max_sentence_tokens", GENSIM_MAX_SENTENCE_TOKENS), logger=logger)
    epochs = getattr(training, "epochs", None)

    def evaluate(params: Mapping[str, Any]) -> dict:
        params = model.parse_params(params)
        plan = budget.plan(params, epochs) if budget is not None else TrialPlan(epochs, None)
        trial_training = training if plan.epochs == epochs else dataclasses.replace(training, epochs=plan.epochs)
        try:
            trained = model.train(corpus, params, trial_training, budget_seconds=plan.budget_seconds,
                                  clock=plan.clock, logger=logger)
        except OverTimeBudget as over:
            raise over.as_infeasible() from over
        result = evaluate_trained(trained, data, settings, threads=threads)
        return (scalar_metrics(result.metrics) | {clock.record_key: trained.record[clock.record_key]
                                                  for clock in CLOCKS.values()}
                | ({"epochs": trial_training.epochs} if epochs is not None else {}))

    return evaluate
