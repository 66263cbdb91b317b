import runpy
import struct
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from gensim.models import KeyedVectors
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from snakemake.iocontainers import Namedlist

from songvec import figures, hpo
from songvec.atomic import write_json, write_parquet
from songvec.hpo.trials import DEFAULT_CONFIG_ATTR
from songvec.popularity import popularity_buckets
from songvec.sequences import Sequences, write_sequences

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def assert_figure_files(png: Path, pdf: Path) -> tuple[int, int]:
    """Both files are complete PNG / PDF files, nothing temporary is left; returns the PNG size in pixels."""
    png_bytes, pdf_bytes = png.read_bytes(), pdf.read_bytes()
    assert png_bytes[:8] == b"\x89PNG\r\n\x1a\n" and png_bytes[-8:-4] == b"IEND"
    assert pdf_bytes[:5] == b"%PDF-" and pdf_bytes.rstrip().endswith(b"%%EOF")
    assert not list(png.parent.glob(".tmp-*"))
    width, height = struct.unpack(">II", png_bytes[16:24])
    assert 7 * figures.DPI <= width <= 10 * figures.DPI  # 7-10 inches wide at 150 dpi
    return width, height


# --- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [("lambdaGenre-0.01", "λGenre(0.01)"), ("lambdaArtist(0.1)", "λArtist(0.1)"),
                                         ("HitRate", "HitRate"), ("default", "default"),
                                         ("HitRate-sample0.01", "HitRate-sample0.01"),
                                         ("Pareto-HitRate-VRCGenre", "Pareto (HitRate, VRCGenre)")])
def test_display_name(name, shown):
    assert figures.display_name(name) == shown


# --- popularity ----------------------------------------------------------------------------------

def pair_frame(queries, targets, hits, evaluated=None):
    n = len(queries)
    return pd.DataFrame({"query": np.asarray(queries, np.int64), "target": np.asarray(targets, np.int64),
                         "evaluated": np.ones(n, bool) if evaluated is None else np.asarray(evaluated, bool),
                         "hit": np.asarray(hits, bool)})


def test_popularity_cells_by_hand():
    # plays: song 1 x6, song 2 x2, song 3 x1, song 4 x1 -> 2 buckets of 5 events: {1} and {2, 3, 4}
    train = [1, 1, 2, 1, 3, 1, 1, 2, 1, 4]
    default = pair_frame([1, 1, 2, 3, 4, 2], [1, 2, 3, 1, 4, 2], [1, 0, 1, 1, 0, 1], [1, 1, 1, 1, 1, 0])
    optimized = default.assign(hit=[1, 1, 1, 0, 1, 1], evaluated=[1, 1, 1, 1, 0, 1])
    plays = np.unique(train, return_counts=True)  # song ids and their play counts
    cells = figures.popularity_cells(*plays, {"default": default, "opt": optimized}, n_buckets=2,
                                     pairs_per_cell=100, seed=0)
    # evaluated by both: rows 0-3 -> (0,0): row 0; (0,1): row 1; (1,1): row 2; (1,0): row 3
    table = cells.set_index(["config", "query_bucket", "target_bucket"])
    assert table.loc[("default", 0, 0), ["n", "hits"]].tolist() == [1, 1]
    assert table.loc[("default", 0, 1), ["n", "hits"]].tolist() == [1, 0]
    assert table.loc[("default", 1, 0), ["n", "hits"]].tolist() == [1, 1]
    assert table.loc[("default", 1, 1), ["n", "hits"]].tolist() == [1, 1]
    assert table.loc[("opt", 0, 1), ["n", "hits"]].tolist() == [1, 1]
    assert table.loc[("opt", 1, 0), ["n", "hits"]].tolist() == [1, 0]
    assert cells.attrs == {"n_pairs_not_evaluated_by_all": 2, "n_pairs_unbucketed": 0}
    with_unplayed = figures.popularity_cells(*plays, {"default": pair_frame([1, 9], [2, 1], [1, 1])}, 2, 100, 0)
    assert with_unplayed.attrs["n_pairs_unbucketed"] == 1 and with_unplayed["n"].sum() == 1
    assert list(cells.columns[:3]) == ["config", "query_bucket", "target_bucket"] and len(cells) == 8


def test_popularity_cells_match_naive_counting_and_sample_the_same_pairs():
    rng = np.random.default_rng(1)
    train = rng.zipf(1.6, 4000) % 300
    songs = np.unique(train)
    n_pairs = 3000
    pairs = pair_frame(rng.choice(songs, n_pairs), rng.choice(songs, n_pairs), rng.random(n_pairs) < 0.3,
                       rng.random(n_pairs) < 0.9)
    ids, counts = np.unique(train, return_counts=True)
    cells = figures.popularity_cells(ids, counts, {"a": pairs}, n_buckets=4, pairs_per_cell=10**6, seed=3)
    bucket = dict(zip(ids.tolist(), popularity_buckets(ids, counts, 4).tolist()))
    expected = {}
    for row in pairs[pairs["evaluated"]].itertuples():
        n, hits = expected.get((bucket[row.query], bucket[row.target]), (0, 0))
        expected[bucket[row.query], bucket[row.target]] = (n + 1, hits + int(row.hit))
    for row in cells.itertuples():
        assert (row.n, row.hits) == expected.get((row.query_bucket, row.target_bucket), (0, 0))

    # with sampling, identical hits under two names must give identical cells: the same pairs are drawn
    same = figures.popularity_cells(ids, counts, {"a": pairs, "b": pairs.copy()}, n_buckets=4, pairs_per_cell=5, seed=3)
    a, b = (same[same["config"] == name].drop(columns="config").reset_index(drop=True) for name in "ab")
    pd.testing.assert_frame_equal(a, b)
    assert (a["n"] == np.minimum(a["n_available"], 5)).all()


def test_popularity_cells_reject_misaligned_pairs():
    pairs = pair_frame([1, 2], [2, 1], [1, 0])
    with pytest.raises(ValueError, match="same \\(query, target\\)"):
        figures.popularity_cells([1, 2], [1, 2], {"a": pairs, "b": pairs.iloc[::-1]}, 2, 10, 0)
    with pytest.raises(ValueError, match="lack columns"):
        figures.popularity_cells([1, 2], [1, 2], {"a": pairs.drop(columns="evaluated")}, 2, 10, 0)


def test_popularity_cells_keep_empty_cells(tmp_path):
    # song 1 alone holds more than a bucket's share of the plays, so bucket 1 is empty
    train = [1] * 8 + [2, 3]
    pairs = pair_frame([1, 1, 2, 3, 2], [1, 3, 3, 2, 1], [1, 0, 1, 1, 0])
    cells = figures.popularity_cells(*np.unique(train, return_counts=True),
                                     {"default": pairs, "lambdaGenre(0.01)": pairs.assign(hit=True)}, 3, 10, 0)
    empty = cells[(cells["query_bucket"] == 1) | (cells["target_bucket"] == 1)]
    assert len(empty) == 10 and empty["n"].eq(0).all() and empty["hitrate"].isna().all()
    # the figure itself (with empty cells) is drawn in test_popularity_and_coherence_scripts
    with pytest.raises(ValueError, match="not in the popularity cells"):
        figures.popularity_figure(cells, "default", "HitRate", tmp_path / "q.png", tmp_path / "q.pdf")


# --- coherence against VRC -----------------------------------------------------------------------

def coherence_metrics(vrc_genre, vrc_artist, genre_mean, artist_mean):
    return {"vrc_genre": vrc_genre, "vrc_artist": vrc_artist,
            "genre_coherence": {"n": 500, "mean": genre_mean, "ci_low": genre_mean - 0.02,
                                "ci_high": genre_mean + 0.03, "std": 0.1, "n_nan": 0},
            "artist_coherence": {"n": 125, "mean": artist_mean, "ci_low": artist_mean - 0.01,
                                 "ci_high": artist_mean + 0.01, "std": 0.1, "n_nan": 0}}


def test_coherence_table_sorts_by_vrc_and_drops_incomplete_ones():
    metrics = {"default": coherence_metrics(500.0, 4.0, 0.30, 0.20),
               "HitRate": coherence_metrics(380.0, 3.5, 0.25, 0.18),
               "VRCArtist": coherence_metrics(1440.0, 94.0, 0.55, 0.70),
               "broken": coherence_metrics(None, 5.0, 0.4, 0.2)}
    table = figures.coherence_table(metrics)
    assert table["setting"].tolist() == ["HitRate", "default", "VRCArtist"]
    assert table.attrs["n_settings_incomplete"] == 1
    row = table.set_index("setting").loc["VRCArtist"]
    assert row[["vrc_genre", "genre_coherence", "genre_ci_low", "genre_ci_high", "genre_n"]].tolist() == \
        pytest.approx([1440.0, 0.55, 0.53, 0.58, 500])
    assert row[["vrc_artist", "artist_coherence", "artist_ci_low", "artist_ci_high", "artist_n"]].tolist() == \
        pytest.approx([94.0, 0.70, 0.69, 0.71, 125])
    without = {"x": {k: v for k, v in metrics["default"].items() if k != "artist_coherence"}}
    with pytest.raises(ValueError, match="no artist_coherence"):
        figures.coherence_table(without)


def test_coherence_correlations_match_scipy_with_a_fisher_interval():
    rng = np.random.default_rng(2)
    metrics = {f"s{i}": coherence_metrics(*rng.uniform(1, 100, 2), *rng.uniform(0, 1, 2)) for i in range(7)}
    table = figures.coherence_table(metrics)
    found = figures.coherence_correlations(table)
    for kind in ("genre", "artist"):
        expected = stats.pearsonr(table[f"vrc_{kind}"], table[f"{kind}_coherence"])
        assert found[kind]["r"] == pytest.approx(expected.statistic)
        assert found[kind]["p"] == pytest.approx(expected.pvalue)
        assert found[kind]["n"] == 7
        # Fisher's z by hand: tanh(atanh(r) -+ 1.96 / sqrt(7 - 3))
        z = np.arctanh(expected.statistic)
        assert found[kind]["ci_low"] == pytest.approx(np.tanh(z - 1.959964 / 2), abs=1e-6)
        assert found[kind]["ci_high"] == pytest.approx(np.tanh(z + 1.959964 / 2), abs=1e-6)
        # scipy's own interval for the same r and n agrees
        ci = expected.confidence_interval(0.95)
        assert (found[kind]["ci_low"], found[kind]["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-9)
    three = figures.coherence_correlations(figures.coherence_table(dict(list(metrics.items())[:3])))
    assert np.isfinite(three["genre"]["r"]) and np.isnan(three["genre"]["ci_low"])
    two = figures.coherence_correlations(figures.coherence_table(dict(list(metrics.items())[:2])))
    assert np.isnan(two["genre"]["r"]) and two["genre"]["n"] == 2


# --- play rate -----------------------------------------------------------------------------------

OBJECTIVES = {"HitRate": "HitRate", "VRCGenre": "VRCGenre", "lambdaGenre-0.01": "lambdaGenre(0.01)",
              "lambdaArtist-0.1": "lambdaArtist(0.1)", "lambdaGenre-0.1": "lambdaGenre(0.1)"}


def best_json(hitrate):
    return {"study": "x", "trial": 3, "best_params": {}, "best_metrics": {"hitrate": hitrate, "vrc_genre": 500.0}}


def test_play_rate_roles_pick_the_lambda_study_with_the_highest_validation_hitrate():
    best = {"HitRate": best_json(0.50), "VRCGenre": best_json(0.60), "lambdaGenre-0.01": best_json(0.44),
            "lambdaArtist-0.1": best_json(0.46), "lambdaGenre-0.1": best_json(0.41)}
    assert figures.play_rate_roles(best, OBJECTIVES) == {"default": "default", "single": "HitRate",
                                                         "multi": "lambdaArtist-0.1"}
    best["lambdaGenre-0.01"] = best_json(0.46)  # a tie goes to the study listed first
    assert figures.play_rate_roles(best, OBJECTIVES)["multi"] == "lambdaGenre-0.01"
    with pytest.raises(ValueError, match="no HitRate study"):
        figures.play_rate_roles(best, {k: v for k, v in OBJECTIVES.items() if k != "HitRate"})
    # data with neither genres nor artists has no lambda study: no multi-objective role
    assert figures.play_rate_roles(best, {"HitRate": "HitRate"}) == {"default": "default", "single": "HitRate"}
    with pytest.raises(ValueError, match="no best_metrics.hitrate"):
        figures.play_rate_roles(best | {"lambdaGenre-0.1": {"best_metrics": None}}, OBJECTIVES)


def random_embeddings(rng, songs, dim=6):
    return rng.normal(size=(len(songs), dim)).astype(np.float32), np.asarray(songs, np.int64)


def random_rates(rng, n_songs=40, n_events=3000):
    from songvec.play_rate import transition_rates

    tracks = rng.zipf(1.5, n_events) % n_songs
    users = np.repeat(np.arange(10), n_events // 10)
    return transition_rates(Sequences.from_events(users, tracks, np.zeros(n_events), np.arange(n_events)))


def naive_correlation(rates, embeddings, min_transitions):
    """Pearson r between rate and cosine over pairs in every vocabulary, cosine by a plain loop."""
    result = {}
    vocabularies = [set(ids.tolist()) for _, ids in embeddings.values()]
    for setting, (vectors, ids) in embeddings.items():
        row = {t: i for i, t in enumerate(ids.tolist())}
        xs, ys = [], []
        for pair in rates.itertuples():
            if all(pair.song_a in v and pair.song_b in v for v in vocabularies) and pair.transitions >= min_transitions:
                u, w = vectors[row[pair.song_a]].astype(float), vectors[row[pair.song_b]].astype(float)
                xs.append(pair.rate)
                ys.append(u @ w / np.sqrt((u @ u) * (w @ w)))
        result[setting] = (stats.pearsonr(xs, ys).statistic, len(xs))
    return result


def test_play_rate_correlations_match_a_naive_loop_on_common_pairs():
    rng = np.random.default_rng(4)
    rates = random_rates(rng)
    embeddings = {"default": random_embeddings(rng, range(40)), "HitRate": random_embeddings(rng, range(3, 40)),
                  "lambdaGenre-0.01": random_embeddings(rng, range(0, 37))}
    roles = {"default": "default", "single": "HitRate", "multi": "lambdaGenre-0.01"}
    found = figures.play_rate_correlations(rates, embeddings, roles, frequent_min_transitions=5)
    assert found.columns.tolist() == ["role", "setting", "subset", "min_transitions", "pearson", "p_value", "n_pairs"]
    for threshold, subset in ((1, "all"), (5, "frequent")):
        expected = naive_correlation(rates, embeddings, threshold)
        for role, setting in roles.items():
            row = found[(found["role"] == role) & (found["subset"] == subset)].iloc[0]
            assert row["setting"] == setting and row["min_transitions"] == threshold
            assert row["pearson"] == pytest.approx(expected[setting][0], abs=1e-9)
            assert row["n_pairs"] == expected[setting][1]
    in_all = rates["song_a"].between(3, 36) & rates["song_b"].between(3, 36)
    assert found.attrs["n_pairs_not_in_all_vocabularies"] == int((~in_all).sum()) > 0
    with pytest.raises(ValueError, match="no embeddings given"):
        figures.play_rate_correlations(rates, {"default": embeddings["default"]}, roles, 5)


def test_table5_layout_with_paper_values():
    correlations = pd.DataFrame({
        "role": ["default", "default", "single", "single", "multi", "multi"],
        "setting": ["default", "default", "HitRate", "HitRate", "lambdaGenre-0.01", "lambdaGenre-0.01"],
        "subset": ["all", "frequent"] * 3, "min_transitions": [1, 5] * 3,
        "pearson": [0.1, 0.2, 0.11111, np.nan, 0.3, 0.4], "p_value": [0.01] * 6,
        "n_pairs": [1000, 20, 1000, 20, 1000, 19]})
    paper = {"all_pairs": {"default": 0.2055, "single": 0.2140, "multi": 0.2304},
             "frequent_pairs": {"default": 0.3335, "single": 0.3480, "multi": 0.3717}}
    table = figures.table5(correlations, paper)
    assert table.columns.tolist() == ["Pairs", "Default", "Default (paper)", "Single-obj (HitRate)",
                                      "Single-obj (paper)", "Multi-obj (λGenre(0.01))", "Multi-obj (paper)", "n pairs"]
    assert table.values.tolist() == [
        ["All pairs", "0.1000", "0.2055", "0.1111", "0.2140", "0.3000", "0.2304", "1,000"],
        ["Frequent pairs (≥ 5 transitions)", "0.2000", "0.3335", "-", "0.3480", "0.4000", "0.3717", "20 / 20 / 19"]]
    assert figures.table5(correlations).columns.tolist() == ["Pairs", "Default", "Single-obj (HitRate)",
                                                             "Multi-obj (λGenre(0.01))", "n pairs"]


def test_play_rate_bins_match_naive_binning(tmp_path):
    rng = np.random.default_rng(5)
    rates = random_rates(rng)
    vectors, ids = random_embeddings(rng, range(2, 40), dim=3)
    bins = figures.play_rate_bins(rates, vectors, ids)
    row = {t: i for i, t in enumerate(ids.tolist())}
    by_bin, skipped = {}, 0
    for pair in rates.itertuples():
        if pair.song_a not in row or pair.song_b not in row:
            skipped += 1
            continue
        u, w = vectors[row[pair.song_a]].astype(float), vectors[row[pair.song_b]].astype(float)
        by_bin.setdefault(int(np.rint(u @ w / np.linalg.norm(u) / np.linalg.norm(w) * 10)), []).append(pair.rate)
    assert bins["similarity_bin"].tolist() == pytest.approx([b / 10 for b in sorted(by_bin)])
    assert bins["n"].tolist() == [len(by_bin[b]) for b in sorted(by_bin)]
    assert bins["relative_rate"].to_numpy() == pytest.approx([np.mean(by_bin[b]) / np.mean(by_bin[0])
                                                              for b in sorted(by_bin)])
    assert bins.attrs["n_pairs_no_vector"] == skipped > 0


def test_play_rate_figure_without_a_zero_bin_is_reproducible(tmp_path):
    bins = pd.DataFrame({"similarity_bin": [0.3, 0.4], "mean_rate": [0.1, 0.2], "relative_rate": [np.nan, np.nan],
                         "n": [40, 3]})
    figures.play_rate_figure(bins, tmp_path / "r.png", tmp_path / "r.pdf")
    assert_figure_files(tmp_path / "r.png", tmp_path / "r.pdf")
    first = (tmp_path / "r.png").read_bytes(), (tmp_path / "r.pdf").read_bytes()
    figures.play_rate_figure(bins, tmp_path / "r.png", tmp_path / "r.pdf")
    assert ((tmp_path / "r.png").read_bytes(), (tmp_path / "r.pdf").read_bytes()) == first  # no creation date


# --- trade-off -----------------------------------------------------------------------------------

def make_study(objectives, trials):
    """In-memory Optuna study whose trials carry the user attributes the HPO workers store."""
    directions = ["maximize"] * len(objectives)
    study = optuna.create_study(directions=directions)
    study.set_user_attr("objectives", objectives)
    distributions = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for state, hitrate, vrc, infeasible, default in trials:
        metrics = {"hitrate": hitrate, "vrc_genre": vrc, "ndcg": 0.1}
        values = [hitrate, vrc][:len(objectives)] if state == "COMPLETE" else None
        attrs = {"infeasible": infeasible, DEFAULT_CONFIG_ATTR: default}
        if state == "COMPLETE":
            attrs["metrics"] = metrics
        study.add_trial(optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, state), values=values, params={"x": 0.5},
            distributions=distributions, user_attrs=attrs))
    return study


def trials_csv(study, tmp_path, name):
    path = tmp_path / f"{name}.csv"
    hpo.trials_frame(study).to_csv(path, index=False)
    return pd.read_csv(path)


def test_tradeoff_points_from_trials_csv_count_what_is_left_out(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    single = make_study(["HitRate"], [("COMPLETE", 0.30, 500.0, False, True), ("COMPLETE", 0.35, 450.0, False, False),
                                      ("PRUNED", 0.0, 0.0, True, False), ("FAIL", 0.0, 0.0, False, False)])
    pareto = make_study(["HitRate", "VRCGenre"], [("COMPLETE", 0.31, 900.0, False, False),
                                                  ("COMPLETE", 0.33, 700.0, False, False),
                                                  ("PRUNED", 0.0, 0.0, True, False), ("PRUNED", 0.0, 0.0, True, False)])
    trials = {"HitRate": trials_csv(single, tmp_path, "single"),
              "Pareto-HitRate-VRCGenre": trials_csv(pareto, tmp_path, "p")}
    assert "value_HitRate" in trials["Pareto-HitRate-VRCGenre"].columns
    points = figures.tradeoff_points(trials)
    assert points.values.tolist() == [["HitRate", 0, 0.30, 500.0, True], ["HitRate", 1, 0.35, 450.0, False],
                                      ["Pareto-HitRate-VRCGenre", 0, 0.31, 900.0, False],
                                      ["Pareto-HitRate-VRCGenre", 1, 0.33, 700.0, False]]
    assert points.attrs["excluded"] == {"HitRate": {"infeasible": 1, "not_complete": 1, "no_metrics": 0},
                                        "Pareto-HitRate-VRCGenre": {"infeasible": 2, "not_complete": 0,
                                                                    "no_metrics": 0}}
    # a COMPLETE trial flagged infeasible (as text, as a CSV may hold it) is still left out
    flagged = pd.DataFrame({"number": [0, 1, 2], "state": ["COMPLETE"] * 3, "infeasible": ["True", "False", None],
                            "metric_hitrate": [0.3, 0.4, None], "metric_vrc_genre": [1.0, 2.0, 3.0]})
    kept = figures.tradeoff_points({"s": flagged})
    assert kept["number"].tolist() == [1] and not kept["default_config"].any()
    assert kept.attrs["excluded"] == {"s": {"infeasible": 1, "not_complete": 0, "no_metrics": 1}}
    empty = figures.tradeoff_points({"VRCGenre": pd.DataFrame(columns=["number", "state", "value"])})
    assert len(empty) == 0 and empty.attrs["excluded"]["VRCGenre"] == {"infeasible": 0, "not_complete": 0,
                                                                       "no_metrics": 0}


def test_non_dominated_by_hand():
    points = pd.DataFrame({"hitrate": [0.3, 0.4, 0.2, 0.4, 0.35, 0.1], "vrc_genre": [900, 500, 950, 500, 400, 950]})
    front = figures.non_dominated(points)
    # (0.35, 400) is dominated by (0.4, 500); (0.1, 950) by (0.2, 950); the two equal (0.4, 500) both stay
    assert front.index.tolist() == [2, 0, 1, 3]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25))
def test_non_dominated_matches_naive_pairwise_check(values):
    points = pd.DataFrame(values, columns=["hitrate", "vrc_genre"], dtype=float)
    expected = [i for i, (x, y) in enumerate(values)
                if not any(a >= x and b >= y and (a > x or b > y) for a, b in values)]
    front = figures.non_dominated(points)
    assert sorted(front.index) == expected
    assert front["hitrate"].is_monotonic_increasing and front["vrc_genre"].is_monotonic_decreasing


def test_best_points_skip_studies_without_a_best_trial():
    best = figures.best_points({"HitRate": best_json(0.45), "VRCGenre": {"study": "VRCGenre", "best_metrics": None}})
    assert best.values.tolist() == [["HitRate", 3, 0.45, 500.0]]


def test_tradeoff_figure_without_pareto_study_or_best_trials(tmp_path):
    rng = np.random.default_rng(6)
    points = pd.DataFrame({"study": "HitRate", "number": np.arange(15), "hitrate": rng.uniform(0.3, 0.45, 15),
                           "vrc_genre": rng.uniform(400, 1500, 15), "default_config": np.arange(15) == 0})
    best = figures.best_points({})
    figures.tradeoff_figure(points, best, tmp_path / "t.png", tmp_path / "t.pdf",
                            pareto_study="Pareto-HitRate-VRCGenre")
    assert_figure_files(tmp_path / "t.png", tmp_path / "t.pdf")
    # the full figure (several studies, stars, Pareto front) is drawn in test_play_rate_and_tradeoff_scripts


# --- the workflow scripts, run on small files as Snakemake would ----------------------------------

class FakeSnakemake:
    def __init__(self, tmp_path, input, output, params):
        self.input, self.output, self.params = (Namedlist(fromdict=d) for d in (input, output, params))
        self.log = Namedlist([str(tmp_path / "job.log")])
        self.threads = 1


def run_script(name, tmp_path, input, output, params):
    runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": FakeSnakemake(tmp_path, input, output, params)})


def figure_outputs(tmp_path, name):
    return {"png": str(tmp_path / f"{name}.png"), "pdf": str(tmp_path / f"{name}.pdf")}


def test_popularity_and_coherence_scripts(tmp_path):
    rng = np.random.default_rng(7)
    n_events = 2000
    tracks = np.where(rng.random(n_events) < 0.5, 0, rng.integers(1, 200, n_events))  # song 0: half of all plays
    write_sequences(tmp_path / "train.parquet", Sequences.from_events(np.repeat(np.arange(20), 100), tracks,
                                                                      np.zeros(n_events), np.arange(n_events)))
    n_pairs = 500
    pairs = pair_frame(rng.choice(tracks, n_pairs), rng.choice(tracks, n_pairs), rng.random(n_pairs) < 0.3)
    write_parquet(tmp_path / "d.parquet", pairs)
    write_parquet(tmp_path / "o.parquet", pairs.assign(hit=rng.random(n_pairs) < 0.4))
    run_script("popularity_analysis.py", tmp_path,
               {"train_masked": str(tmp_path / "train.parquet"), "default_pairs": str(tmp_path / "d.parquet"),
                "optimized_pairs": str(tmp_path / "o.parquet")},
               {"table": str(tmp_path / "pop.csv"), **figure_outputs(tmp_path, "pop")},
               {"batch_events": 1024, "options": {"buckets": 5, "pairs_per_cell": 50, "optimized": "lambdaGenre(0.01)"},
                "optimized": "lambdaGenre(0.01)", "seed": 0, "k": 100})
    cells = pd.read_csv(tmp_path / "pop.csv")
    assert set(cells["config"]) == {"default", "lambdaGenre(0.01)"} and len(cells) == 50
    assert cells["n"].eq(0).any()  # bucket 1 is empty: song 0 alone holds its share
    assert_figure_files(tmp_path / "pop.png", tmp_path / "pop.pdf")

    studies = ["HitRate", "VRCGenre", "lambdaGenre-0.01"]
    spaces, paths = [], []
    for i, study in enumerate(studies):
        spaces.append(str(tmp_path / f"space-{i + 1}.json"))
        write_json(spaces[-1], {"study": study, "trial": 10 + i, "best_params": {}, "best_metrics": {}})
        paths.append(str(tmp_path / f"space-{i + 1}-test.json"))
        write_json(paths[-1], coherence_metrics(300.0 - 100.0 * i, 3.0 + i, 0.2 + 0.05 * i, 0.1 + 0.02 * i))
    run_script("coherence_vs_vrc.py", tmp_path, {"spaces": spaces, "metrics": paths},
               {"table": str(tmp_path / "coh.csv"), **figure_outputs(tmp_path, "coh")}, {})
    assert pd.read_csv(tmp_path / "coh.csv")["setting"].tolist() == [
        "space 3: λGenre(0.01)", "space 2: VRCGenre", "space 1: HitRate"]
    assert_figure_files(tmp_path / "coh.png", tmp_path / "coh.pdf")


def test_play_rate_and_tradeoff_scripts(tmp_path):
    rng = np.random.default_rng(8)
    n_events = 3000
    tracks = rng.zipf(1.5, n_events) % 50
    write_sequences(tmp_path / "test.parquet", Sequences.from_events(np.repeat(np.arange(10), 300), tracks,
                                                                     np.zeros(n_events), np.arange(n_events)))
    objectives = {"HitRate": "HitRate", "lambdaGenre-0.01": "lambdaGenre(0.01)",
                  "lambdaArtist-0.1": "lambdaArtist(0.1)"}
    settings_ = ["default", *objectives]
    models = []
    for setting in settings_:
        keyed = KeyedVectors(4)
        keyed.add_vectors(list(range(50)), rng.normal(size=(50, 4)).astype(np.float32))
        models.append(str(tmp_path / f"{setting}.kv"))
        keyed.save(models[-1], separately=[])
    best = []
    for study, hitrate in zip(objectives, (0.5, 0.40, 0.42)):
        best.append(str(tmp_path / f"{study}.json"))
        write_json(best[-1], best_json(hitrate))
    paper = tmp_path / "paper.yaml"
    paper.write_text("table5:\n  all_pairs: {default: 0.2055, single: 0.2140, multi: 0.2304}\n"
                     "  frequent_pairs: {default: 0.3335, single: 0.3480, multi: 0.3717}\n")
    run_script("play_rate_analysis.py", tmp_path,
               {"test": str(tmp_path / "test.parquet"), "models": models, "best": best, "paper": str(paper)},
               {"csv": str(tmp_path / "t5.csv"), "markdown": str(tmp_path / "t5.md"), "html": str(tmp_path / "t5.html"),
                "bins": str(tmp_path / "bins.csv"), **figure_outputs(tmp_path, "rate")},
               {"settings": settings_, "studies": objectives, "frequent": 5, "max_gap_seconds": None})
    correlations = pd.read_csv(tmp_path / "t5.csv")
    assert correlations.loc[correlations["role"] == "multi", "setting"].unique().tolist() == ["lambdaArtist-0.1"]
    markdown = (tmp_path / "t5.md").read_text()
    assert "Multi-obj (λArtist(0.1))" in markdown and "0.3717" in markdown
    assert pd.read_csv(tmp_path / "bins.csv").columns.tolist() == ["similarity_bin", "mean_rate", "relative_rate", "n"]
    assert_figure_files(tmp_path / "rate.png", tmp_path / "rate.pdf")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = [*objectives, "Pareto-HitRate-VRCGenre"]
    trials = []
    for study in studies:
        names = ["HitRate", "VRCGenre"] if study.startswith("Pareto") else [objectives[study]]
        made = make_study(names, [("COMPLETE", *rng.uniform([0.3, 400], [0.45, 1500]), False, i == 0)
                                  for i in range(6)] + [("PRUNED", 0.0, 0.0, True, False)])
        trials.append(str(tmp_path / f"{study}.csv"))
        hpo.trials_frame(made).to_csv(trials[-1], index=False)
    write_json(tmp_path / "pareto_best.json", best_json(0.4))
    run_script("tradeoff_plot.py", tmp_path, {"trials": trials, "best": best + [str(tmp_path / "pareto_best.json")]},
               figure_outputs(tmp_path, "trade"),
               {"studies": studies, "objectives": objectives, "pareto_study": "Pareto-HitRate-VRCGenre", "k": 100})
    assert_figure_files(tmp_path / "trade.png", tmp_path / "trade.pdf")
    assert "4 infeasible" in (tmp_path / "job.log").read_text()
