"""The Snakemake workflow itself: DAG, lint, a whole run on the tiny demo, single targets, the real excerpt.

These run Snakemake as a user would (a subprocess, the clone's Snakefile, a fresh working directory).
"""

import json
import re
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
    # 7 objectives + the Pareto study + 3 scale studies, one worker each
    assert counts["hpo_worker"] == 11 and counts["hpo_summary"] == 11
    # default + 7 studies + 3 scale studies, 3 seeds each, + the HPO reference model (seed 42)
    assert counts["train_model"] == 34
    for rule in ("generate_demo", "ingest_events", "map_genres", "split_sequences", "dataset_statistics",
                 "mine_hard_negatives", "table4", "popularity_analysis", "coherence_vs_vrc",
                 "play_rate_analysis", "scale_table", "tradeoff_plot", "package_versions"):
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


@pytest.mark.slow
def test_tiny_run_accounts_for_every_event(tiny_run):
    ingest = json.loads((tiny_run / "data" / "ingest_summary.json").read_text())
    split = json.loads((tiny_run / "data" / "split" / "summary.json").read_text())
    table2 = pd.read_csv(tiny_run / "tables" / "table2.csv", index_col=0)
    assert ingest["events_read"] == ingest["events_written"] + ingest["consecutive_duplicates_collapsed"] \
        + ingest["removed_by_user_sampling"] + ingest["removed_by_min_song_plays"]
    assert sum(part["events"] for part in split.values()) == ingest["events_written"]
    assert float(table2.loc["events", "demo-tiny"]) == ingest["events_written"]
    assert float(table2.loc["sequences", "demo-tiny"]) == ingest["users"] == 100


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
