"""Cost curve of the workflow's stages: wall time, throughput, peak memory and disk against input size.

Generates LFM-1b-format data at several sizes with :func:`songvec.demo_data.generate` and runs the
workflow's own scripts (``scripts/<rule>.py``, with the inputs, outputs and parameters of their rules)
of the data and embedding path, each in a fresh Python process so that its peak RSS is its own:

    ingest              ingest_events (text -> sequences.parquet, external sort)
    map_genres          map_genres
    split               split_sequences (98/1/1)
    prepare_evaluation  prepare_evaluation (masking, in-set and sampled out-of-set pairs)
    mine_hard_negatives  mine_hard_negatives (chi-squared bigram test)
    train_word2vec      train_model with ONE epoch (the table also gives 5 epochs)
    evaluate_embedding  evaluate_model on the validation pairs (with local coherence)

Every stage after ingest reads its sequences in batches of ``streaming.batch_events``, so its memory
should not grow with the events, only with the songs (vocabulary) where it keeps per-song state.

Every setting is the workflow default read from config.yaml (memory budgets, batch size, sampling, mining
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

STAGES = ("ingest", "map_genres", "split", "prepare_evaluation", "mine_hard_negatives",
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
# Each stage runs the workflow's own script (scripts/<rule>.py) in a fresh process, with the inputs,
# outputs and parameters its rule gives it, so what is measured is exactly what the workflow runs.
# Files keep the rule's names inside the work folder; "raw:" names a file of the generated data.

def stage_specs(config: dict) -> dict[str, dict]:
    """Stage -> the rule's script, input, output, params and threads (see workflow/rules/*.smk)."""
    source = config["genres"]["source"]
    batch_events = config["streaming"]["batch_events"]
    # bad_rows="skip": at LFM-1b's history lengths the demo generator dates the oldest plays of its
    # heaviest users before 2002, which the parser rejects as impossible; they are counted, not timed apart.
    ingest = dict(config["ingest"], bad_rows="skip")
    one_epoch = dict(config["word2vec"], epochs=1)  # the table also gives 5 epochs
    return {
        "ingest": dict(script="ingest_events", input={"events": "raw:LFM-1b_LEs.txt"},
                       output={"sequences": "sequences.parquet", "summary": "ingest_summary.json"},
                       params={"options": ingest, "seed": config["seed"]}),
        "map_genres": dict(script="map_genres",
                           input={"sequences": "sequences.parquet", "artists": "raw:LFM-1b_artists.txt",
                                  "artist_genres": f"raw:LFM-1b_artist_genres_{source}.txt",
                                  "genre_names": f"raw:genres_{source}.txt"},
                           output={"genres": "track_genres.parquet", "summary": "genre_summary.json"},
                           params={"batch_events": batch_events}),
        "split": dict(script="split_sequences", input={"sequences": "sequences.parquet"},
                      output={"train": "train.parquet", "valid": "valid.parquet", "test": "test.parquet",
                              "summary": "split_summary.json"},
                      params={"batch_events": batch_events, "fractions": config["split"], "seed": config["seed"]}),
        "prepare_evaluation": dict(
            script="prepare_evaluation",
            input={"train": "train.parquet", "valid": "valid.parquet", "test": "test.parquet"},
            output={"train_masked": "train_masked.parquet", "in_set": "in_set.parquet",
                    "valid": "valid_pairs.parquet", "test": "test_pairs.parquet", "summary": "pairs_summary.json"},
            params={"batch_events": batch_events, "max_pairs": config["evaluation"]["max_pairs"],
                    "seed": config["seed"]}),
        "mine_hard_negatives": dict(
            script="mine_hard_negatives", input={"train_masked": "train_masked.parquet"},
            output={"pairs": "hard_negatives.parquet", "summary": "hard_negatives_summary.json"},
            params={"batch_events": batch_events, "options": config["hard_negatives"]}),
        "train_word2vec": dict(
            script="train_model", input={"train_masked": "train_masked.parquet", "params": []},
            output={"vectors": "vectors.kv", "record": "record.json"},
            params={"batch_events": batch_events, "word2vec": one_epoch}, wildcards={"seed": config["seed"]},
            threads=config["word2vec"]["workers"]),
        "evaluate_embedding": dict(
            script="evaluate_model",
            input={"vectors": "vectors.kv", "in_set": "in_set.parquet", "out_of_set": "valid_pairs.parquet",
                   "genres": "track_genres.parquet", "hard_negatives": "hard_negatives.parquet",
                   "train_masked": "train_masked.parquet"},
            output={"metrics": "valid.json", "pairs": "valid_pairs_metrics.parquet",
                    "songs": "valid_songs.parquet"},
            params={"batch_events": batch_events, "evaluation": config["evaluation"], "seed": config["seed"]},
            wildcards={"setting": "default", "seed": config["seed"], "split": "valid"}, threads=2),
    }


class _RuleJob:
    """The ``snakemake`` object a rule's script sees: input, output, params, wildcards, log, threads."""

    def __init__(self, spec: dict, raw: Path, work: Path, log: Path):
        from snakemake.iocontainers import Namedlist

        def located(value):
            if isinstance(value, list):
                return [located(v) for v in value]
            return str(raw / value[4:]) if value.startswith("raw:") else str(work / value)

        self.input = Namedlist(fromdict={k: located(v) for k, v in spec["input"].items()})
        self.output = Namedlist(fromdict={k: located(v) for k, v in spec["output"].items()})
        self.params = Namedlist(fromdict=spec["params"])
        self.wildcards = Namedlist(fromdict={k: str(v) for k, v in spec.get("wildcards", {}).items()})
        self.log = Namedlist([str(log)])
        self.threads = spec.get("threads", 1)


def stage_events(stage: str, work: Path) -> int:
    """Events the stage reads: LFM-1b_LEs.txt rows for ingest, else its sequence input's rows."""
    from songvec.sequences import count_events

    if stage == "ingest":
        return json.loads((work / "ingest_summary.json").read_text())["events_read"]
    sequences = {"map_genres": "sequences.parquet", "split": "sequences.parquet",
                 "prepare_evaluation": "train.parquet"}.get(stage, "train_masked.parquet")
    return count_events(work / sequences)


def stage_counts(stage: str, work: Path) -> dict:
    """What the stage produced, from its own outputs (a few numbers for the table)."""
    def load(name):
        return json.loads((work / name).read_text())

    if stage == "ingest":
        summary = load("ingest_summary.json")
        return {"events_written": summary["events_written"], "users": summary["users"],
                "tracks": summary["tracks"], "skipped_rows": sum(summary["skipped"].values())}
    if stage == "mine_hard_negatives":
        summary = load("hard_negatives_summary.json")
        return {"distinct_pairs": summary["n_distinct_pairs"], "hard_negative_pairs": summary["n_hard_negative_pairs"],
                "spilled_bytes": summary["spilled_bytes"]}
    if stage == "train_word2vec":
        record = load("record.json")
        return {"vocabulary": record["vocabulary_size"], "vocab_seconds": record["vocab_seconds"],
                "train_seconds": record["train_seconds"],
                "effective_words_per_second": record["effective_words_per_second"]}
    if stage == "evaluate_embedding":
        metrics = load("valid.json")
        return {"vocabulary": metrics["vocabulary_size"], "hitrate": metrics["hitrate"],
                "queries": metrics["n_pairs_in_set"] + metrics["n_pairs_out_of_set"] + metrics["hardneg_songs"]}
    return {}


def run_stage_here(stage: str, raw: Path, work: Path) -> None:
    """Child process: run one stage's script, print one JSON line with its measurements."""
    import runpy

    import songvec.evaluation  # noqa: F401  (imports outside the measured region: the baseline RSS)
    import songvec.ingest  # noqa: F401

    spec = stage_specs(workflow_config())[stage]
    job = _RuleJob(spec, raw, work, work / "logs" / f"{stage}.log")
    base_rss = _memory_status("VmRSS")
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    runpy.run_path(str(REPO / "scripts" / f"{spec['script']}.py"), init_globals={"snakemake": job},
                   run_name="__main__")
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall_seconds": wall,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
                      "peak_rss_bytes": _memory_status("VmHWM"), "base_rss_bytes": base_rss,
                      "events": stage_events(stage, work), **stage_counts(stage, work)}))


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
    outputs = stage_specs(workflow_config())[stage]["output"].values()
    row["output_bytes"] = sum((work / name).stat().st_size for name in outputs
                              if name.endswith((".parquet", ".kv")))
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
    import matplotlib.ticker

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
        sizes = sorted({r["size_events"] for r in rows})
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(sizes, [f"{size / 1e6:.3g}M" for size in sizes])  # the measured sizes
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
