"""Cost curve of the workflow's stages: wall time, throughput, peak memory and disk against input size.

Generates LFM-1b-format data at several sizes with :func:`songvec.demo_data.generate` and runs every stage
of the data and embedding path through the package functions the workflow's scripts call, each stage in a
fresh Python process so that its peak RSS is its own:

    ingest              songvec.ingest.ingest_events (text -> sequences.parquet, external sort)
    map_genres          songvec.genres.track_artist_pairs + map_track_genres
    split               read_sequences + songvec.split.split_sequences + write_sequences (98/1/1)
    prepare_evaluation  songvec.next_song.mask_last / out_of_set_pairs / sample_pairs
    mine_false_neighbors songvec.false_neighbors.mine_hard_negatives
    train_word2vec      songvec.training.train_word2vec with ONE epoch (the table also gives 5 epochs)
    evaluate_embedding  songvec.evaluation.evaluate_embedding as in one HPO trial (no coherence)

Every setting is the workflow default read from config.yaml (ingest memory budget, sampling, mining
thresholds, Word2Vec defaults, k = 100 ...). The data keep LFM-1b's shape as the size grows: a mean of
9,044 events per user (so users grow with events) and a catalogue of 32M * (E / 1.088e9) ** 0.75 tracks
(Heaps' law calibrated on LFM-1b's 32M tracks at 1.088B events), 10 tracks per artist.

For each stage it prints wall time, events/s, peak RSS and the bytes it wrote, then the fitted growth
exponent (least-squares slope against log events of log time, log stage memory = peak RSS above the
idle process, and log bytes written) and the extrapolation to 1B events from the largest size, both as
that power law and linearly in events. It writes cost_curve.csv (one row per size x stage),
cost_fit.csv (one row per stage) and cost_curve.png to --out (default benchmarks/out/, git-ignored).

    /work/venv/bin/python benchmarks/bench_cost_curve.py [--small] [--sizes 1000000 5000000 20000000]
        [--out benchmarks/out] [--tmp-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from songvec import atomic, demo_data  # noqa: E402

STAGES = ("ingest", "map_genres", "split", "prepare_evaluation", "mine_false_neighbors",
          "train_word2vec", "evaluate_embedding")
LFM1B_EVENTS = 1.088e9  # Schedl 2016: 1,088,161,692 events, 32,291,134 tracks, 120,322 users
LFM1B_TRACKS = 32.3e6
LFM1B_EVENTS_PER_USER = 9_044  # Table 2 of the paper: mean sequence length
HEAPS_EXPONENT = 0.75
TARGET_EVENTS = 1e9
TRAIN_EPOCHS = 5  # config word2vec.epochs: the 5-epoch time is vocabulary + 5 x the measured epoch
WARM_UP_EVENTS = 30_000  # a first, unreported pass compiles and caches every Numba kernel


def demo_size(n_events: int) -> demo_data.DemoSize:
    """A DemoSize of about ``n_events`` events with LFM-1b's events per user and catalogue growth."""
    n_tracks = max(1_000, int(LFM1B_TRACKS * (n_events / LFM1B_EVENTS) ** HEAPS_EXPONENT))
    return demo_data.DemoSize(n_users=max(3, round(n_events / LFM1B_EVENTS_PER_USER)),
                              mean_length=min(LFM1B_EVENTS_PER_USER, n_events / 3), n_genres=60,
                              n_artists=n_tracks // 10, n_tracks=n_tracks, n_duplicate_names=10)


def workflow_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- stages (child process)
# Each takes the raw folder, the work folder and the workflow config, writes what the workflow's rule
# writes (under the same names) and returns a few counts. They mirror scripts/<rule>.py.

def stage_ingest(raw: Path, work: Path, config: dict) -> dict:
    from songvec.ingest import ingest_events

    options = config["ingest"]
    # bad_rows="skip": at LFM-1b's history lengths the demo generator dates the oldest plays of its
    # heaviest users before 2002, which the parser rejects as impossible; they are counted, not timed apart.
    summary = ingest_events(raw / "LFM-1b_LEs.txt", work / "sequences.parquet",
                            consecutive_duplicates=options["consecutive_duplicates"],
                            user_fraction=options["user_fraction"], min_song_plays=options["min_song_plays"],
                            seed=config["seed"], bad_rows="skip",
                            memory_budget_bytes=int(options["memory_budget_gb"] * 1024 ** 3))
    return {"events": summary["events_read"], "events_written": summary["events_written"],
            "skipped_rows": sum(summary["skipped"].values()), "users": summary["users"],
            "tracks": summary["tracks"]}


def stage_map_genres(raw: Path, work: Path, config: dict) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    from songvec import genres, lfm1b

    source = config["genres"]["source"]
    events = pq.ParquetFile(work / "sequences.parquet")
    track_artist = pd.concat(
        genres.track_artist_pairs(batch.column("track_id").to_numpy(), batch.column("artist_id").to_numpy())
        for batch in events.iter_batches(columns=["track_id", "artist_id"], batch_size=10_000_000))
    table, counts = genres.map_track_genres(
        track_artist, lfm1b.read_artists(raw / "LFM-1b_artists.txt"),
        lfm1b.read_artist_genres(raw / f"LFM-1b_artist_genres_{source}.txt"),
        lfm1b.read_genre_names(raw / f"genres_{source}.txt"))
    atomic.write_parquet(work / "track_genres.parquet", table)
    return {"events": events.metadata.num_rows, "tracks": counts["tracks"], "mapped": counts["mapped"]}


def stage_split(raw: Path, work: Path, config: dict) -> dict:
    from songvec.sequences import read_sequences, write_sequences
    from songvec.split import split_sequences

    sequences = read_sequences(work / "sequences.parquet")
    parts = split_sequences(len(sequences), dict(config["split"]), seed=config["seed"])
    for name, indices in parts.items():
        write_sequences(work / f"{name}.parquet", sequences.subset(indices))
    return {"events": sequences.n_events, "users": len(sequences)}


def stage_prepare_evaluation(raw: Path, work: Path, config: dict) -> dict:
    from songvec import next_song
    from songvec.sequences import read_sequences, write_sequences

    max_pairs, seed = config["evaluation"]["max_pairs"], config["seed"]
    train = read_sequences(work / "train.parquet")
    masked, in_set = next_song.mask_last(train)
    in_set = next_song.sample_pairs(in_set.assign(user_id=train.user_ids[in_set["sequence"]]),
                                    max_pairs["in_set"], seed)
    write_sequences(work / "train_masked.parquet", masked)
    atomic.write_parquet(work / "in_set.parquet", in_set)
    counts = {"events": train.n_events, "in_set_pairs": len(in_set)}
    for split in ("valid", "test"):
        pairs = next_song.out_of_set_pairs(read_sequences(work / f"{split}.parquet"))
        atomic.write_parquet(work / f"{split}_pairs.parquet",
                             next_song.sample_pairs(pairs, max_pairs["out_of_set"], seed))
        counts[f"{split}_pairs_before_sampling"] = len(pairs)
    return counts


def stage_mine_false_neighbors(raw: Path, work: Path, config: dict) -> dict:
    from songvec.false_neighbors import mine_hard_negatives
    from songvec.sequences import read_sequences

    options = config["false_neighbors"]
    pairs, summary = mine_hard_negatives(read_sequences(work / "train_masked.parquet"),
                                         options["min_cooccurrence"], options["chi2_factor"])
    atomic.write_parquet(work / "hard_negatives.parquet", pairs)
    return {"events": summary["n_events"], "distinct_pairs": summary["n_distinct_pairs"],
            "hard_negative_pairs": summary["n_hard_negative_pairs"]}


def stage_train_word2vec(raw: Path, work: Path, config: dict) -> dict:
    from songvec.sequences import read_sequences
    from songvec.training import TrainingSettings, Word2VecParams, save_model, train_word2vec

    word2vec = config["word2vec"]
    settings = {k: v for k, v in word2vec.items() if k != "defaults"} | {"epochs": 1}
    model = train_word2vec(read_sequences(work / "train_masked.parquet"), Word2VecParams(**word2vec["defaults"]),
                           TrainingSettings(**settings, seed=config["seed"]))
    save_model(work / "vectors.kv", model, work / "record.json")
    record = model.record
    return {"events": record["n_events"], "vocabulary": record["vocabulary_size"],
            "vocab_seconds": record["vocab_seconds"], "train_seconds": record["train_seconds"],
            "effective_words_per_second": record["effective_words_per_second"]}


def stage_evaluate_embedding(raw: Path, work: Path, config: dict) -> dict:
    import pyarrow.parquet as pq

    from songvec.evaluation import EvaluationData, EvaluationSettings, evaluate_embedding
    from songvec.training import load_vectors

    data = EvaluationData.load(work / "in_set.parquet", work / "valid_pairs.parquet",
                               work / "track_genres.parquet", work / "hard_negatives.parquet")
    vectors, track_ids = load_vectors(work / "vectors.kv")
    settings = EvaluationSettings.from_config(config["evaluation"], config["seed"])
    metrics = evaluate_embedding(vectors, track_ids, data, settings).metrics  # as configuration_evaluator
    return {"events": pq.ParquetFile(work / "train_masked.parquet").metadata.num_rows,
            "vocabulary": len(track_ids), "queries": metrics["n_pairs_in_set"] + metrics["n_pairs_out_of_set"]
            + metrics["hardneg_songs"], "hitrate": metrics["hitrate"]}


STAGE_OUTPUTS = {
    "ingest": ["sequences.parquet"],
    "map_genres": ["track_genres.parquet"],
    "split": ["train.parquet", "valid.parquet", "test.parquet"],
    "prepare_evaluation": ["train_masked.parquet", "in_set.parquet", "valid_pairs.parquet", "test_pairs.parquet"],
    "mine_false_neighbors": ["hard_negatives.parquet"],
    "train_word2vec": ["vectors.kv", "record.json"],
    "evaluate_embedding": [],
}


def run_stage_here(stage: str, raw: Path, work: Path) -> None:
    """Child process: run one stage, print one JSON line with its measurements."""
    import songvec.evaluation  # noqa: F401  (imports outside the measured region: the baseline RSS)
    import songvec.ingest  # noqa: F401

    config = workflow_config()
    base_rss = _memory_status("VmRSS")
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    counts = globals()[f"stage_{stage}"](raw, work, config)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall_seconds": wall,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
                      "peak_rss_bytes": _memory_status("VmHWM"), "base_rss_bytes": base_rss, **counts}))


def _memory_status(field: str) -> int:
    """Bytes of ``field`` in /proc/self/status. VmHWM (peak RSS) starts afresh at exec, unlike ru_maxrss,
    which Linux carries over from the forking parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status (this benchmark needs Linux)")


def generate_here(n_events: int, raw: Path) -> None:
    """Child process: generate the data of one size, print the generator's summary as JSON."""
    print(json.dumps(demo_data.generate(raw, demo_size(n_events), seed=workflow_config()["seed"])))


# ----------------------------------------------------------------------------- driver

def run_child(*args: str) -> dict:
    """Run this file with ``args`` in a fresh process; return the JSON of its last output line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
               PYTHONHASHSEED="0")
    result = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_stage(stage: str, raw: Path, work: Path) -> dict:
    row = run_child("--run-stage", stage, "--raw", str(raw), "--work", str(work))
    row["output_bytes"] = sum((work / name).stat().st_size for name in STAGE_OUTPUTS[stage])
    return row


def measure_size(n_events: int, folder: Path, report: bool = True) -> list[dict]:
    raw, work = folder / "raw", folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary = run_child("--generate", str(n_events), "--raw", str(raw))
    text_bytes = (raw / "LFM-1b_LEs.txt").stat().st_size
    if report:
        print(f"\n{summary['events']:,} events, {summary['users']:,} users, {summary['tracks_played']:,} tracks "
              f"played, LFM-1b_LEs.txt {text_bytes / 1e6:,.0f} MB, generated in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for stage in STAGES:
        row = {"size_events": summary["events"], "stage": stage, **run_stage(stage, raw, work)}
        row["events_per_second"] = row["events"] / row["wall_seconds"]
        if stage == "ingest":
            row["input_bytes"] = text_bytes
        rows.append(row)
        if report:
            print(f"  {stage:<22} {row['wall_seconds']:8.1f} s {row['events_per_second']:>12,.0f} ev/s "
                  f"peak RSS {row['peak_rss_bytes'] / 2 ** 30:6.2f} GiB (base {row['base_rss_bytes'] / 2 ** 30:.2f}) "
                  f"wrote {row['output_bytes'] / 1e6:8.1f} MB", flush=True)
    shutil.rmtree(raw)
    shutil.rmtree(work)
    return rows


def fit_growth(rows: list[dict]) -> list[dict]:
    """Per stage: log-log slopes of time and peak RSS against events, and the 1B-event extrapolation."""
    fits = []
    for stage in STAGES:
        points = sorted((r for r in rows if r["stage"] == stage), key=lambda r: r["size_events"])
        events = np.array([r["size_events"] for r in points], dtype=float)
        seconds = np.array([r["wall_seconds"] for r in points])
        peak = np.array([r["peak_rss_bytes"] for r in points], dtype=float)
        stage_memory = np.maximum(peak - np.array([r["base_rss_bytes"] for r in points]), 1.0)
        written = np.array([r["output_bytes"] for r in points], dtype=float)
        largest = points[-1]
        scale = TARGET_EVENTS / events[-1]
        time_slope = _slope(events, seconds)
        memory_slope = _slope(events, stage_memory)
        output_slope = _slope(events, np.maximum(written, 1.0))
        fit = {"stage": stage, "sizes": len(points), "time_exponent": time_slope,
               "memory_exponent": memory_slope,
               "seconds_at_largest": seconds[-1], "peak_rss_gib_at_largest": peak[-1] / 2 ** 30,
               # power law from the largest size; linear in events as the optimistic bound
               "seconds_1B_power_law": seconds[-1] * scale ** time_slope,
               "seconds_1B_linear": seconds[-1] * scale,
               "stage_memory_gib_1B_power_law": stage_memory[-1] * scale ** memory_slope / 2 ** 30,
               "stage_memory_gib_1B_linear": stage_memory[-1] * scale / 2 ** 30,
               "output_exponent": output_slope,
               "output_gb_1B_power_law": written[-1] * scale ** output_slope / 1e9}
        if stage == "train_word2vec":
            epoch = largest["train_seconds"]  # train() alone; the rest is reading, vocabulary, saving
            fit["seconds_at_largest_5_epochs"] = seconds[-1] + (TRAIN_EPOCHS - 1) * epoch
            fit["seconds_1B_5_epochs_linear"] = (seconds[-1] + (TRAIN_EPOCHS - 1) * epoch) * scale
        if stage == "ingest":
            fit["input_gb_1B_linear"] = largest["input_bytes"] * scale / 1e9
        fits.append(fit)
    return fits


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic.write_text(path, buffer.getvalue())


def plot(path: Path, rows: list[dict], fits: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(12, 4.8))
    for stage, fit in zip(STAGES, fits):
        points = sorted((r for r in rows if r["stage"] == stage), key=lambda r: r["size_events"])
        events = [r["size_events"] for r in points]
        ax_time.plot(events, [r["wall_seconds"] for r in points], "o-",
                     label=f"{stage} (slope {fit['time_exponent']:.2f})")
        ax_memory.plot(events, [r["peak_rss_bytes"] / 2 ** 30 for r in points], "o-",
                       label=f"{stage} (slope {fit['memory_exponent']:.2f})")
    for ax, what in ((ax_time, "wall time (s)"), (ax_memory, "peak RSS of the stage process (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("listening events")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax_time.set_title("Time per stage (Word2Vec: 1 epoch)")
    ax_memory.set_title("Peak memory per stage (slope of RSS above the idle process)")
    fig.suptitle(f"songvec cost curve, {os.cpu_count()} cores")
    fig.tight_layout()
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def print_fits(fits: list[dict]) -> None:
    print(f"\n{'stage':<22} {'time exp':>8} {'mem exp':>8} {'s @1B (power)':>14} {'s @1B (linear)':>14} "
          f"{'GiB @1B (power)':>15} {'GiB @1B (lin)':>13} {'out exp':>7} {'out GB @1B':>10}")
    for f in fits:
        print(f"{f['stage']:<22} {f['time_exponent']:>8.2f} {f['memory_exponent']:>8.2f} "
              f"{f['seconds_1B_power_law']:>14,.0f} {f['seconds_1B_linear']:>14,.0f} "
              f"{f['stage_memory_gib_1B_power_law']:>15,.1f} {f['stage_memory_gib_1B_linear']:>13,.1f} "
              f"{f['output_exponent']:>7.2f} {f['output_gb_1B_power_law']:>10,.1f}")
    train = next(f for f in fits if f["stage"] == "train_word2vec")
    print(f"train_word2vec, {TRAIN_EPOCHS} epochs: {train['seconds_at_largest_5_epochs']:,.0f} s at the largest "
          f"size, {train['seconds_1B_5_epochs_linear']:,.0f} s at 1B events (linear in tokens)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000],
                        help="event counts to measure (default: 1M 5M 20M)")
    parser.add_argument("--small", action="store_true", help="quick run: 200k and 1M events")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out",
                        help="folder for cost_curve.csv, cost_fit.csv, cost_curve.png")
    parser.add_argument("--tmp-dir", default=None, help="where data are generated (default: system temp)")
    parser.add_argument("--run-stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_stage:
        run_stage_here(args.run_stage, args.raw, args.work)
        return
    if args.generate:
        generate_here(args.generate, args.raw)
        return

    sizes = [200_000, 1_000_000] if args.small else sorted(args.sizes)
    folder = Path(tempfile.mkdtemp(prefix="bench-cost-curve-", dir=args.tmp_dir))
    try:
        measure_size(WARM_UP_EVENTS, folder / "warm-up", report=False)
        rows = [row for n in sizes for row in measure_size(n, folder / f"events-{n}")]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    fits = fit_growth(rows)
    print_fits(fits)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "cost_curve.csv", rows)
    write_csv(args.out / "cost_fit.csv", fits)
    plot(args.out / "cost_curve.png", rows, fits)
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end (other processes share "
          f"the cores); wrote {args.out}/cost_curve.csv, cost_fit.csv, cost_curve.png")


if __name__ == "__main__":
    main()
