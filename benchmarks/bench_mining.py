"""Hard-negative mining (songvec.hard_negatives.mine_hard_negatives): speed and memory.

Prints, measured in one run on the same synthetic data:
  - in memory (one ``Sequences``, nothing spilled): the first call in the process (cold: its arrays
    touch fresh memory) and the best of ``--repeats`` further calls, as events/s (goal >= 8M
    events/s); the bare reference ``np.sort`` of one int64 key per event (the step no sort-based
    bigram count can skip) and the ratio mining time / sort time;
  - streamed from a sequence file with ``iter_sequences(path, --batch-events)`` (4M), each in a
    fresh child process so that its peak RSS is its own (best time of ``--repeats``): reading the
    batches only (the reader's cost), mining with a budget of ``--budget-gb`` (0.25: records
    spilled to disk) and with no limit (nothing spilled). For each: events/s, peak RSS (also above
    the reader's), partitions and bytes spilled; then the ratio of the mining times and whether
    the summaries agree.
Data: 20M events (``--small``: 2M, batches of 400K, budget 0.025 GB) in sequences of geometric
length (mean 2,000, LFM-1b-like), tracks drawn from a Zipf law (exponent 1) over 1M songs whose
ids are spread over [0, 5M).

    python benchmarks/bench_mining.py [--small]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from synthetic import zipf_sequences

from songvec.hard_negatives import mine_hard_negatives
from songvec.sequences import count_events, iter_sequences, write_sequences

MIN_COOCCURRENCE, CHI2_FACTOR = 5, 1e-5


def peak_rss_bytes() -> int:
    """Peak resident memory of this process's own address space (Linux ``VmHWM``; ``ru_maxrss``
    would carry the parent's peak over fork and exec)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def child(path: str, batch_events: int, budget_bytes: int | None) -> None:
    """Stream ``path`` (mine it unless ``budget_bytes`` is None) and print one JSON line of figures."""
    mine_hard_negatives(zipf_sequences(1000, 50, mean_length=100), MIN_COOCCURRENCE)  # numba cache load
    baseline = peak_rss_bytes()
    started = time.perf_counter()
    if budget_bytes is None:
        n_events, summary = sum(batch.n_events for batch in iter_sequences(path, batch_events)), {}
    else:
        with tempfile.TemporaryDirectory(dir=Path(path).parent) as spill_dir:
            _, summary = mine_hard_negatives(iter_sequences(path, batch_events), MIN_COOCCURRENCE,
                                             CHI2_FACTOR, memory_budget_bytes=budget_bytes,
                                             spill_dir=spill_dir, total_events=count_events(path))
        n_events = summary["n_events"]
    print(json.dumps({"seconds": time.perf_counter() - started, "events": n_events,
                      "baseline_rss": baseline, "peak_rss": peak_rss_bytes(), "summary": summary}))


def run_child(path: Path, batch_events: int, budget_bytes: int | None) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--batch-events", str(batch_events)]
    if budget_bytes is not None:
        command += ["--child-budget", str(budget_bytes)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_memory(seqs, repeats: int) -> None:
    n_events = seqs.n_events

    def mine():
        return mine_hard_negatives(seqs, MIN_COOCCURRENCE, CHI2_FACTOR)

    started = time.perf_counter()
    _, summary = mine()
    first = time.perf_counter() - started
    keys = np.random.default_rng(1).integers(0, 1 << 40, size=n_events)
    best_mine = best_sort = float("inf")
    for _ in range(repeats):  # alternate, so a load change on a shared machine hits both
        started = time.perf_counter()
        mine()
        best_mine = min(best_mine, time.perf_counter() - started)
        started = time.perf_counter()
        np.sort(keys)
        best_sort = min(best_sort, time.perf_counter() - started)
    print(f"summary: {summary}")
    print(f"in memory, first call: {first:.3f}s = {n_events / first / 1e6:.1f}M events/s")
    print(f"in memory, best of {repeats}: {best_mine:.3f}s = {n_events / best_mine / 1e6:.1f}M events/s "
          f"(goal >= 8M/s: {'met' if n_events / best_mine >= 8e6 else 'NOT met'})")
    print(f"bare np.sort of {n_events:,} int64 keys: {best_sort:.3f}s = "
          f"{n_events / best_sort / 1e6:.1f}M keys/s")
    print(f"ratio mining / bare sort: {best_mine / best_sort:.2f}")


def streamed(path: Path, batch_events: int, budget_gb: float, repeats: int) -> None:
    budgets = {"read batches only": None, f"budget {budget_gb:g} GB": int(budget_gb * 2**30),
               "no limit": 2**62}
    runs = {}
    for _ in range(repeats):  # alternate, so a load change on a shared machine hits all alike
        for name, budget in budgets.items():
            run = run_child(path, batch_events, budget)
            if name not in runs or run["seconds"] < runs[name]["seconds"]:
                runs[name] = run
    reader = runs["read batches only"]
    print(f"streamed, batches of {batch_events:,} events (best of {repeats}, each in a fresh process; "
          f"RSS after imports: {reader['baseline_rss'] / 2**20:.0f} MiB):")
    for name, run in runs.items():
        summary = run["summary"]
        spill = (f", {summary['n_partitions']} partitions, "
                 f"{summary['spilled_bytes'] / 2**20:.0f} MiB spilled" if summary else "")
        above_reader = (run["peak_rss"] - reader["peak_rss"]) / 2**20
        print(f"  {name:>18}: {run['seconds']:6.2f}s = {run['events'] / run['seconds'] / 1e6:5.1f}M "
              f"events/s, peak RSS {run['peak_rss'] / 2**20:6.0f} MiB ({above_reader:+.0f} MiB vs reader)"
              f"{spill}")
    budgeted, unlimited = runs[f"budget {budget_gb:g} GB"], runs["no limit"]
    print(f"ratio of mining times, budget {budget_gb:g} GB / no limit: "
          f"{budgeted['seconds'] / unlimited['seconds']:.2f}")
    results = [{k: v for k, v in run["summary"].items() if k not in ("n_partitions", "spilled_bytes")}
               for run in (budgeted, unlimited)]
    print(f"same summary with and without spilling: {results[0] == results[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="2M events instead of 20M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-events", type=int, help="default 4M (--small: 400K)")
    parser.add_argument("--budget-gb", type=float, help="default 0.25 (--small: 0.025)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-budget", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batch_events, args.child_budget)
        return
    n_events = 2_000_000 if args.small else 20_000_000
    batch_events = args.batch_events or n_events // 5
    budget_gb = args.budget_gb or (0.025 if args.small else 0.25)

    started = time.perf_counter()
    seqs = zipf_sequences(n_events, 1_000_000, mean_length=2000, id_spread=5)
    print(f"data: {seqs.n_events:,} events, {len(seqs):,} sequences "
          f"(made in {time.perf_counter() - started:.1f}s)")
    started = time.perf_counter()
    mine_hard_negatives(seqs.subset(np.arange(2)), min_cooccurrence=5)
    print(f"numba compile or cache load: {time.perf_counter() - started:.2f}s")
    in_memory(seqs, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sequences.parquet"
        write_sequences(path, seqs)
        del seqs
        streamed(path, batch_events, budget_gb, args.repeats)


if __name__ == "__main__":
    main()
