"""The Snakemake workflow itself: DAG, lint, a whole run on the tiny demo, single targets, the real excerpt.

These run Snakemake as a user would (a subprocess, the clone's Snakefile, a fresh working directory).
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from snakemake_runs import REPO, output_of, snakemake

TINY = REPO / "tests" / "workflow" / "tiny.yaml"


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Rule -> number of jobs from the 'Job stats' table of a dry run."""
    table = dry_run_output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_dry_run_on_a_fresh_clone_shows_the_whole_paper(tmp_path):
    counts = job_counts(output_of(snakemake(tmp_path, "-n")))
    # 7 objectives + the Pareto study + 3 scale studies, one worker each; and a HitRate study of each other
    # tunable model (CBOW, SPPMI-SVD, GloVe, transitions)
    assert counts["hpo_worker"] == 11 + 4 and counts["hpo_summary"] == 11 + 4
    # default + 7 studies + 3 scale studies, 3 seeds each, the HPO reference model (seed 42) and the scale
    # studies' references (the default on each subsample), and the 7 spaces of Fig. 1; and the other vector
    # models' default and tuned configuration, with the models table's one seed
    assert counts["train_model"] == 1 + 3 * 11 + 3 + 7 + 3 * 2
    assert counts["train_baseline"] == 1 + 2  # popularity; the transitions' default and tuned
    # on test: the 11 settings x 3 seeds, the 7 spaces and the 9 other models' rows; on validation: the HPO
    # reference
    assert counts["evaluate_model"] == 3 * 11 + 7 + 9 + 1
    for rule in ("generate_demo", "ingest_events", "map_genres", "split_sequences", "dataset_statistics",
                 "mine_hard_negatives", "table4", "popularity_analysis", "coherence_vs_vrc",
                 "play_rate_analysis", "scale_table", "tradeoff_plot", "package_versions", "models_table"):
        assert counts[rule] == 1, rule


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in output_of(result)


def test_rule_files_are_formatted_with_snakefmt():
    """snakefmt (pinned in requirements.txt, settings in pyproject.toml) would change nothing."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "--diff", *map(str, files)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"run snakefmt on the rule files:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    assert len(files) >= 5 and "would be changed" not in result.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("split: {train: 0.9, valid: 0.01, test: 0.01}\nhpo: {workrs: 2}\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "config key 'hpo.workrs' is unknown" in output_of(result)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow on the tiny demo (about two minutes on 2 cores); returns its results folder."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, "--cores", "2", "--configfile", str(TINY))
    return workdir / "results" / "demo-tiny"


@pytest.mark.slow
def test_tiny_run_builds_every_table_and_figure(tiny_run):
    for name in ("table2.md", "table4.md", "table4.tex", "table5.md", "table6.md", "table4_tests.csv"):
        assert (tiny_run / "tables" / name).stat().st_size > 0, name
    for name in ("popularity", "coherence_vs_vrc", "play_rate", "tradeoff"):
        assert (tiny_run / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tiny_run / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    table4 = pd.read_csv(tiny_run / "tables" / "table4.csv")
    assert table4["config"].tolist() == ["default", "HitRate", "VRCGenre", "lambdaGenre-0.01"]
    assert table4[["hitrate", "ndcg", "hardneg"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table4["ndcg"] <= table4["hitrate"]).all()
    # the models table: every model's default, and the tuned HitRate row of each model with something to tune
    models = pd.read_csv(tiny_run / "tables" / "models.csv")
    assert set(models["model"]) == {"word2vec_sg", "word2vec_cbow", "sppmi_svd", "glove", "popularity", "transitions"}
    assert set(models.loc[models["objective"] == "HitRate", "model"]) == set(models["model"]) - {"popularity"}
    assert models["hitrate"].between(0, 1).all() and (tiny_run / "tables" / "models.md").stat().st_size > 0
    assert (tiny_run / "figures" / "models.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_tiny_run_accounts_for_every_event(tiny_run):
    ingest = json.loads((tiny_run / "data" / "ingest_summary.json").read_text())
    split = json.loads((tiny_run / "data" / "split" / "summary.json").read_text())
    table2 = pd.read_csv(tiny_run / "tables" / "table2.csv", index_col=0)
    assert ingest["events_read"] == ingest["events_written"] + ingest["consecutive_duplicates_collapsed"] \
        + ingest["removed_by_user_sampling"] + ingest["removed_by_min_song_plays"]
    assert sum(part["events"] for part in split.values()) == ingest["events_written"]
    assert float(table2.loc["events", "demo-tiny"]) == ingest["events_written"]
    assert float(table2.loc["sequences", "demo-tiny"]) == ingest["users"] == 300


@pytest.mark.slow
def test_hpo_studies_record_their_trials(tiny_run):
    for study in ("HitRate", "VRCGenre", "lambdaGenre-0.01", "Pareto-HitRate-VRCGenre", "HitRate-sample0.5"):
        summary = json.loads((tiny_run / "hpo" / study / "summary.json").read_text())
        trials = pd.read_csv(tiny_run / "hpo" / study / "trials.csv")
        assert summary["budget_used"] <= 4 and len(trials) == summary["n_trials"] >= 1
        assert trials["number"].is_unique
    best = json.loads((tiny_run / "hpo" / "HitRate" / "best.json").read_text())
    default = json.loads((tiny_run / "metrics" / "default" / "seed-42" / "valid.json").read_text())
    # the default configuration is the first trial, so the best is at least as good on validation
    assert best["best_metrics"]["hitrate"] >= default["hitrate"] - 1e-12


@pytest.mark.slow
def test_one_figure_rebuilds_alone(tiny_run):
    workdir = tiny_run.parents[1]
    (tiny_run / "figures" / "popularity.png").unlink()
    target = "results/demo-tiny/figures/popularity.png"
    result = snakemake(workdir, "-n", "--configfile", str(TINY), "--", target)
    assert job_counts(output_of(result)) == {"popularity_analysis": 1}
    snakemake(workdir, "--cores", "1", "--configfile", str(TINY), "--", target)
    assert (tiny_run / "figures" / "popularity.png").exists()


@pytest.mark.slow
def test_report_builds(tiny_run):
    workdir = tiny_run.parents[1]
    snakemake(workdir, "--configfile", str(TINY), "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    for caption_words in ("Final evaluation on the test split", "HitRate by popularity bucket",
                          "Play-prediction PROXY", "package versions"):
        assert caption_words in html, caption_words


@pytest.mark.slow
def test_batch_size_changes_no_result(tiny_run, tmp_path):
    """The tiny run reads its sequences in batches of 1,024 events; here every file is one batch."""
    from songvec.training import load_vectors

    one_batch = tmp_path / "one-batch.yaml"
    one_batch.write_text("streaming: {batch_events: 100000000}\n")
    parquet = ["data/split/train.parquet", "data/split/valid.parquet", "data/split/test.parquet",
               "data/train_masked.parquet", "data/pairs/in_set.parquet", "data/pairs/valid.parquet",
               "data/pairs/test.parquet", "data/track_genres.parquet", "hard_negatives/pairs.parquet",
               "metrics/default/seed-42/valid_pairs.parquet"]
    json_files = ["data/split/summary.json", "data/pairs/summary.json", "data/genre_summary.json",
                  "metrics/default/seed-42/valid.json"]
    targets = [f"results/demo-tiny/{name}" for name in parquet + json_files + ["tables/table2.csv"]]
    snakemake(tmp_path, "--cores", "2", "--configfile", str(TINY), str(one_batch), "--", *targets)
    batched, whole = tiny_run, tmp_path / "results" / "demo-tiny"
    for name in parquet:
        pd.testing.assert_frame_equal(pd.read_parquet(batched / name), pd.read_parquet(whole / name), obj=name)
    for name in json_files:
        assert json.loads((batched / name).read_text()) == json.loads((whole / name).read_text()), name
    mining = [json.loads((folder / "hard_negatives/summary.json").read_text()) for folder in (batched, whole)]
    assert mining[0].pop("n_batches") > mining[1].pop("n_batches") == 1
    assert mining[0] == mining[1]
    assert (batched / "tables/table2.csv").read_text() == (whole / "tables/table2.csv").read_text()
    vectors = [load_vectors(folder / "models/default/seed-42/vectors.kv") for folder in (batched, whole)]
    assert (vectors[0][0] == vectors[1][0]).all() and (vectors[0][1] == vectors[1][1]).all()


def hpo_outcomes(results: Path) -> dict:
    """What the HPO studies decided, without what measures time: every study's trials (configurations,
    states, values, metrics, rejected draws), best configurations, and Table 4."""
    timing = ["datetime_start", "datetime_complete", "duration_seconds", "evaluate_seconds", "worker",
              "metric_train_seconds", "metric_train_cpu_seconds"]
    outcomes = {"table4": (results / "tables" / "table4.csv").read_text()}
    for study in sorted(path.name for path in (results / "hpo").iterdir()):
        trials = pd.read_csv(results / "hpo" / study / "trials.csv").drop(columns=timing)
        best = json.loads((results / "hpo" / study / "best.json").read_text())
        best["best_metrics"] = {k: v for k, v in best["best_metrics"].items() if k not in ("train_seconds",
                                                                                           "train_cpu_seconds")}
        outcomes[study] = (trials.to_csv(index=False), best)
    return outcomes


@pytest.mark.slow
def test_hpo_under_the_cost_model_gives_the_same_studies_with_another_process_loading_the_cpu(tiny_run, tmp_path):
    """hpo.time_measure: model (the default). The second run reuses the first run's data stages (their
    determinism is tested elsewhere) and redoes every study and Table 4 while a busy loop competes for the
    CPU: same trials, same best configurations, same Table 4."""
    second = tmp_path / "results" / "demo-tiny"
    for part in ("raw", "data", "hard_negatives"):
        shutil.copytree(tiny_run / part, second / part)
    for setting in ("models", "metrics"):
        for folder in (tiny_run / setting).glob("default*"):
            shutil.copytree(folder, second / setting / folder.name)
    studies = sorted(path.name for path in (tiny_run / "hpo").iterdir())
    targets = [f"results/demo-tiny/{name}" for name in ("tables/table4.csv",
                                                        *(f"hpo/{study}/best.json" for study in studies))]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        result = snakemake(tmp_path, "--cores", "2", "--configfile", str(TINY), "--", *targets)
    finally:
        busy.kill()
        busy.wait()
    assert "hpo_worker" in output_of(result)  # the studies did run again
    first, again = hpo_outcomes(tiny_run), hpo_outcomes(second)
    assert set(again) == set(first) and len(studies) >= 5
    for key in first:
        assert again[key] == first[key], key
    trials = pd.read_csv(tiny_run / "hpo" / "HitRate" / "trials.csv")
    assert trials["rejected_draws"].sum() > 0  # the time budget did reject draws: there was something to decide


def test_data_stage_on_the_real_excerpt(tmp_path, excerpt_dir):
    config = tmp_path / "excerpt.yaml"
    config.write_text(f"dataset: folder\nfolder: {{path: {excerpt_dir}}}\ngenres: {{source: allmusic}}\n")
    results = tmp_path / "results" / "lfm1b-excerpt"
    snakemake(tmp_path, "--cores", "1", "--configfile", str(config), "--",
              "results/lfm1b-excerpt/tables/table2.csv", "results/lfm1b-excerpt/data/genre_summary.json")
    ingest = json.loads((results / "data" / "ingest_summary.json").read_text())
    assert ingest["events_read"] == 100_000 and ingest["users"] == 17
    table2 = pd.read_csv(results / "tables" / "table2.csv", index_col=0)
    assert float(table2.loc["sequences", "lfm1b-excerpt"]) == 17
    assert float(table2.loc["events", "lfm1b-excerpt"]) == 100_000 - ingest["consecutive_duplicates_collapsed"]
    genres = json.loads((results / "data" / "genre_summary.json").read_text())
    # only the first 1,000 artists have names in the excerpt: most tracks' artists are unknown
    assert genres["tracks"] == genres["mapped"] + genres["unknown_artist_id"] + genres["unknown_artist_name"] \
        + genres["empty_genre_list"] + genres["unknown_genre_id"]
    assert genres["unknown_artist_id"] > genres["mapped"] > 0


def test_the_catalog_file_says_what_the_workflow_supports():
    """.snakemake-workflow-catalog.yml claims conda envs, no container and a report: each is checked."""
    import yaml

    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    stack = usage["software-stack-deployment"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment"} and usage["mandatory-flags"]["flags"] == []
    rules = "".join(path.read_text() for path in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    n_rules = len(re.findall(r"^rule \w+:", rules, re.M))
    assert stack["conda"] == (n_rules > 0 and len(re.findall(r"^    conda:", rules, re.M)) == n_rules)
    assert stack["apptainer"] == stack["apptainer+conda"] == ("container:" in rules + (REPO / "Snakefile").read_text())
    assert stack["report"] == ("report(" in rules)
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


# ----------------------------------------------------------------------------- your own data: events tables

def minimal_config(tmp_path: Path, name: str, text: str) -> Path:
    """A config file for --configfile after tiny.yaml: one HitRate study (+ the scale study), the rest as tiny."""
    path = tmp_path / f"{name}.yaml"
    path.write_text("hpo: {objectives: [HitRate]}\nanalyses: {popularity: {buckets: 3, pairs_per_cell: 50, "
                    "optimized: HitRate}}\n" + text)
    return path


def sequences_frame(results: Path) -> pd.DataFrame:
    return pd.read_parquet(results / "data" / "sequences.parquet")


@pytest.fixture(scope="module")
def plays_table(tiny_run, tmp_path_factory) -> Path:
    """The tiny demo's plays as a user's own table would be: string ids, ISO times, own column names, no
    genres and no artists, rows in time order across users (not grouped by user)."""
    events = sequences_frame(tiny_run).sort_values("timestamp", kind="stable")
    path = tmp_path_factory.mktemp("plays") / "my-plays.csv.gz"
    pd.DataFrame({"listener": "listener-" + events["user_id"].astype(str),
                  "song": "song:" + events["track_id"].astype(str),
                  "played_at": pd.to_datetime(events["timestamp"], unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")}
                 ).to_csv(path, index=False)
    return path


def plays_config(tmp_path: Path, table: Path, extra: str = "") -> Path:
    return minimal_config(tmp_path, "plays", f"dataset: events\nevents: {{path: {table}, columns: "
                                             f"{{user_id: listener, track_id: song, timestamp: played_at}}}}\n" + extra)


def test_genre_objectives_on_data_without_genres_stop_before_any_job(plays_table, tmp_path):
    config = plays_config(tmp_path, plays_table, "hpo: {objectives: [HitRate, VRCGenre, lambdaArtist(0.1)]}\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(TINY), str(config), check=False)
    output = output_of(result)
    assert result.returncode != 0 and "Job stats" not in output
    assert (f"config key 'hpo.objectives': VRCGenre needs genres, but the events table {plays_table} has no 'genre' "
            f"column (its columns: listener, song, played_at)") in output
    assert "config key 'hpo.objectives': lambdaArtist(0.1) needs artists, but" in output


@pytest.fixture(scope="module")
def demo_then_plays_then_demo(tiny_run, plays_table, tmp_path_factory) -> dict:
    """In the tiny run's clone: the plays table (no genres, no artists), then the tiny demo again."""
    workdir = tiny_run.parents[1]
    config = plays_config(tmp_path_factory.mktemp("plays-config"), plays_table)
    studies = sorted((tiny_run / "hpo").glob("*/study.db"))
    before = {db: (db.stat().st_mtime_ns, len(hpo_trials(db))) for db in studies}
    plays = snakemake(workdir, "--cores", "2", "--configfile", str(TINY), str(config))
    demo_again = snakemake(workdir, "--cores", "2", "--configfile", str(TINY))
    return {"workdir": workdir, "plays": workdir / "results" / "my-plays", "plays_output": output_of(plays),
            "demo_again_output": output_of(demo_again), "demo_studies_before": before}


def hpo_trials(db: Path) -> list:
    from songvec import hpo

    return hpo.load_study(db.parent.name, f"sqlite:///{db}").get_trials(deepcopy=False)


@pytest.mark.slow
def test_a_table_without_genres_or_artists_runs_the_hitrate_study_and_table4(demo_then_plays_then_demo):
    results = demo_then_plays_then_demo["plays"]
    table4 = (results / "tables" / "table4.md").read_text()
    header, _, *rows = table4.splitlines()
    assert len(rows) == 2 and rows[1].startswith("| single | HitRate |")
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[header.strip("|").split("|").index(" VRCGenre ")] == "n/a (no genres in the data)"
        assert cells[header.strip("|").split("|").index(" VRCArtist ")] == "n/a (no artists in the data)"
    assert "n/a (no genres in the data)" in (results / "tables" / "table6.md").read_text()
    assert sorted(path.name for path in (results / "hpo").iterdir()) == [
        "HitRate", "HitRate-sample0.5", "glove-HitRate", "sppmi_svd-HitRate", "transitions-HitRate",
        "word2vec_cbow-HitRate"]
    assert not (results / "figures" / "tradeoff.png").exists()  # its axis is VRC-genre
    # string ids were mapped to dense ids, the maps kept beside the sequences
    songs = pd.read_parquet(results / "data" / "table" / "track_id.parquet")
    assert songs["key"].str.startswith("song:").all() and songs["id"].tolist() == list(range(len(songs)))


@pytest.mark.slow
def test_datasets_side_by_side_neither_block_nor_mix_and_finished_studies_are_reused(tiny_run,
                                                                                    demo_then_plays_then_demo):
    run = demo_then_plays_then_demo
    # the demo's sequences, under their string keys, are the plays table's
    demo, plays = sequences_frame(tiny_run), sequences_frame(run["plays"])
    keys = {column: pd.read_parquet(run["plays"] / "data" / "table" / f"{column}.parquet").set_index("id")["key"]
            for column in ("user_id", "track_id")}
    mapped = sorted(zip(keys["user_id"][plays["user_id"]].str.removeprefix("listener-").astype(int),
                        keys["track_id"][plays["track_id"]].str.removeprefix("song:").astype(int),
                        plays["timestamp"]))
    assert mapped == sorted(zip(demo["user_id"], demo["track_id"], demo["timestamp"]))
    # the demo again: nothing to do, its studies untouched
    assert "Nothing to be done" in run["demo_again_output"] and "hpo_worker" not in run["demo_again_output"]
    for db, (mtime, n_trials) in run["demo_studies_before"].items():
        assert db.stat().st_mtime_ns == mtime and len(hpo_trials(db)) == n_trials, db
    # each dataset's HitRate study holds its own trials, measured against its own default
    for results in (tiny_run, run["plays"]):
        study = (results / "hpo" / "HitRate" / "study.db")
        from songvec import hpo

        stored = hpo.load_study("HitRate", f"sqlite:///{study}").user_attrs["default_metrics"]
        own = json.loads((results / "metrics" / "default" / "seed-42" / "valid.json").read_text())
        assert stored["hitrate"] == own["hitrate"]
    assert "refused" not in run["plays_output"] and "was created with" not in run["plays_output"]


@pytest.mark.slow
def test_exported_vectors_load_with_gensim_and_pandas_and_the_neighbours_command(demo_then_plays_then_demo):
    from gensim.models import KeyedVectors

    vectors = demo_then_plays_then_demo["plays"] / "vectors"
    text = KeyedVectors.load_word2vec_format(str(vectors / "HitRate.txt"))
    binary = KeyedVectors.load_word2vec_format(str(vectors / "HitRate.bin"), binary=True)
    frame = pd.read_parquet(vectors / "HitRate.parquet")
    assert text.index_to_key == binary.index_to_key == frame["track_id"].tolist()
    assert text.index_to_key[0].startswith("song:")  # the table's own ids
    matrix = __import__("numpy").stack(frame["vector"].to_numpy())
    assert matrix.shape == binary.vectors.shape and (matrix == binary.vectors).all()
    assert abs(text.vectors - binary.vectors).max() < 1e-6  # text: printed decimals
    song = text.index_to_key[0]
    result = subprocess.run([sys.executable, "-m", "songvec", "neighbours", "--vectors", str(vectors / "HitRate.bin"),
                             "--track", song, "-k", "10"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"The 10 songs nearest to {song} ") and len(lines) == 11
    expected = [key for key, _ in binary.most_similar(song, topn=10)]
    assert [line.split()[2] for line in lines[1:]] == expected


@pytest.fixture(scope="module")
def playlists_table(tiny_run, tmp_path_factory) -> Path:
    """The tiny demo's listening histories cut into playlists of 25 songs, rows shuffled, positions from 1,
    with artists and genres ('|'-separated: the first counts)."""
    events = sequences_frame(tiny_run)
    genres = pd.read_parquet(tiny_run / "data" / "track_genres.parquet").set_index("track_id")["genre"]
    position = events.groupby("user_id").cumcount()
    frame = pd.DataFrame({"playlist_id": "u" + events["user_id"].astype(str) + "-" + (position // 25).astype(str),
                          "position": position % 25 + 1, "track_id": events["track_id"],
                          "artist_id": events["artist_id"],
                          "genre": genres.reindex(events["track_id"]).to_numpy() + "|Other"})
    path = tmp_path_factory.mktemp("playlists") / "playlists.parquet"
    frame.sample(frac=1.0, random_state=0).to_parquet(path, index=False)
    return path


@pytest.mark.slow
def test_a_playlist_table_runs_the_workflow_and_the_report_says_playlists(playlists_table, tmp_path):
    config = minimal_config(tmp_path, "playlists", f"dataset: events\nevents: {{path: {playlists_table}}}\n")
    snakemake(tmp_path, "--cores", "2", "--configfile", str(TINY), str(config))
    results = tmp_path / "results" / "playlists"
    sequences = sequences_frame(results)
    n_playlists = pd.read_parquet(playlists_table)["playlist_id"].nunique()
    assert sequences["user_id"].nunique() == n_playlists
    assert sequences.groupby("user_id")["timestamp"].apply(lambda p: p.is_monotonic_increasing).all()
    table2 = pd.read_csv(results / "tables" / "table2.csv", index_col=0)
    assert float(table2.loc["sequences", "playlists"]) == n_playlists
    assert "| Sequences (playlists) |" in (results / "tables" / "table2.md").read_text()
    table4 = pd.read_csv(results / "tables" / "table4.csv")
    assert table4["vrc_genre"].notna().all() and table4["vrc_artist"].notna().all()  # from the table's labels
    assert (results / "figures" / "tradeoff.png").exists()
    snakemake(tmp_path, "--configfile", str(TINY), str(config), "--report", "report.html")
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert re.search(r"sequences \(one per(\s|\\n)+playlist\)", html)  # the caption (JSON-escaped line break)


def excerpt_as_events_table(excerpt_dir: Path, path: Path) -> None:
    """The real excerpt as one events table: its five columns plus each row's genres, the '|'-joined AllMusic
    genres of the track's artist (the artist it is played with most; its name's first row with genres)."""
    from songvec import lfm1b

    events = pd.read_csv(excerpt_dir / lfm1b.EVENTS_FILE, sep="\t", header=None, names=list(lfm1b.EVENT_COLUMNS))
    plays = events.groupby(["track_id", "artist_id"]).size().rename("n").reset_index()
    artist_of = plays.sort_values(["track_id", "n", "artist_id"], ascending=[True, False, True]) \
        .drop_duplicates("track_id").set_index("track_id")["artist_id"]
    names = lfm1b.read_artists(excerpt_dir / lfm1b.ARTISTS_FILE).set_index("artist_id")["artist_name"].str.strip()
    genre_names = lfm1b.read_genre_names(excerpt_dir / lfm1b.GENRE_NAMES_FILES["allmusic"])
    rows = lfm1b.read_artist_genres(excerpt_dir / lfm1b.ARTIST_GENRES_FILES["allmusic"])
    rows = rows.assign(artist_name=rows["artist_name"].str.strip())
    rows = rows[rows["genre_ids"].map(len) > 0].drop_duplicates("artist_name")
    genres_of_name = rows.set_index("artist_name")["genre_ids"].map(
        lambda ids: "|".join(genre_names[i] for i in ids) if ids[0] < len(genre_names) else "")
    track_genres = artist_of.map(names).map(genres_of_name).fillna("")
    events["genre"] = events["track_id"].map(track_genres)
    events.to_csv(path, index=False)


def test_the_excerpt_as_an_events_table_gives_the_folder_path_results_bit_for_bit(excerpt_dir, tmp_path):
    table = tmp_path / "excerpt-events.csv"
    excerpt_as_events_table(excerpt_dir, table)
    common = ("split: {train: 0.8, valid: 0.1, test: 0.1}\ngenres: {source: allmusic}\n"
              "evaluation: {max_pairs: {in_set: null, out_of_set: 2000}, hardneg_songs: 300, coherence: {neighbors: 20, "
              "genre: {n_songs: 60, min_plays: 5, n_genres: 5}, artist: {n_artists: 10, min_artist_songs: 5, "
              "songs_per_artist: 3}}}\nword2vec: {epochs: 2}\n")
    configs = {"lfm1b-excerpt": f"dataset: folder\nfolder: {{path: {excerpt_dir}}}\n",
               "excerpt-events": f"dataset: events\nevents: {{path: {table}}}\n"}
    outputs = ["data/sequences.parquet", "data/split/train.parquet", "data/split/valid.parquet",
               "data/split/test.parquet", "data/track_genres.parquet", "metrics/default/seed-42/valid.json",
               "metrics/default/seed-42/test.json", "metrics/default/seed-42/test_pairs.parquet"]
    for name, text in configs.items():
        config = tmp_path / f"{name}.yaml"
        config.write_text(common + text)
        snakemake(tmp_path, "--cores", "2", "--configfile", str(config), "--",
                  *[f"results/{name}/{output}" for output in outputs])
    folder, events = (tmp_path / "results" / name for name in configs)
    for output in [*outputs, *(path.relative_to(folder) for path in (folder / "data" / "pairs").glob("*.parquet"))]:
        if str(output).endswith(".json"):
            assert json.loads((events / output).read_text()) == json.loads((folder / output).read_text()), output
        elif str(output).endswith("track_genres.parquet"):  # names differ: the table has none
            columns = ["track_id", "artist_id", "genre"]
            pd.testing.assert_frame_equal(pd.read_parquet(events / output, columns=columns),
                                          pd.read_parquet(folder / output, columns=columns))
        else:
            assert (events / output).read_bytes() == (folder / output).read_bytes(), output
    metrics = json.loads((folder / "metrics/default/seed-42/test.json").read_text())
    assert metrics["vrc_genre"] is not None and metrics["vrc_genre_groups"] >= 2  # genres took part
