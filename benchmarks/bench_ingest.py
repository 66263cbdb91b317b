"""Throughput and peak memory of ``songvec.ingest.ingest_events`` on a synthetic LFM-1b_LEs.txt.

Generates N events with the real file's structure (blocks of ~1,000 events per user, newest first
inside a block, a user's blocks newest to oldest, users interleaved; Zipf-like track popularity and
a few consecutive repeats), then runs the ingest twice in fresh processes: on the first N/4 events
and on all N, so the peak RSS of both runs shows whether memory stays flat as the input grows.
Also times the bare parser (``iter_event_chunks``) as the reference the whole ingest is compared to.

    /work/venv/bin/python benchmarks/bench_ingest.py [--small] [--events N] [--memory-budget BYTES]
"""

from __future__ import annotations

import argparse
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
import pyarrow as pa
import pyarrow.csv as pacsv

EVENTS_PER_USER = 8_300  # LFM-1b: ~1B events over 120K users
PART_EVENTS = 5_000_000  # generated and interleaved part by part, so generation memory is bounded


def generate_events_file(path: Path, n_events: int, seed: int = 0) -> None:
    """Write ``n_events`` synthetic listening events in the LFM-1b_LEs.txt layout to ``path``."""
    rng = np.random.default_rng(seed)
    n_tracks = 30_000_000
    write_options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    schema = pa.schema([(name, pa.int64()) for name in
                        ("user_id", "artist_id", "album_id", "track_id", "timestamp")])
    next_user = 1
    with pacsv.CSVWriter(path, schema, write_options=write_options) as writer:
        for part_start in range(0, n_events, PART_EVENTS):
            part = min(PART_EVENTS, n_events - part_start)
            lengths = _split_evenly(part, EVENTS_PER_USER, rng)
            users = np.arange(next_user, next_user + len(lengths)) * 37 % 50_000_000
            next_user += len(lengths)
            writer.write_table(_interleaved_part(users, lengths, n_tracks, rng, schema))


def _split_evenly(total: int, mean: int, rng) -> np.ndarray:
    n = max(1, total // mean)
    weights = rng.lognormal(0.0, 1.0, n)
    lengths = np.floor(weights / weights.sum() * total).astype(np.int64)
    lengths[: total - lengths.sum()] += 1
    return lengths[lengths > 0]


def _interleaved_part(users, lengths, n_tracks, rng, schema) -> pa.Table:
    n = int(lengths.sum())
    user = np.repeat(users, lengths)
    user_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(n) - user_start  # 0 = the user's newest event
    # timestamps: newest first, 2-6 minutes apart, each user's newest play in 2013-2014
    elapsed = np.cumsum(rng.integers(120, 360, n))
    timestamp = np.repeat(rng.integers(1_357_000_000, 1_400_000_000, len(users)), lengths) \
        - (elapsed - elapsed[user_start])
    track = (rng.zipf(1.3, n) - 1) % n_tracks + 1
    repeat = (rng.random(n) < 0.03) & (position > 0)
    track[repeat] = track[np.flatnonzero(repeat) - 1]
    artist, album = track // 10 + 1, track // 3 + 1
    # blocks of 1,000 events per user, a user's blocks newest to oldest, users' blocks interleaved
    block = position // 1000
    block_start = np.flatnonzero(np.r_[True, (user[1:] != user[:-1]) | (block[1:] != block[:-1])])
    block_lengths = np.diff(np.r_[block_start, n])
    key = np.repeat(rng.random(len(users)), lengths)[block_start] + block[block_start] * 0.5
    order = np.argsort(key, kind="stable")
    starts, sizes = block_start[order], block_lengths[order]
    index = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(n)
    columns = [user, artist, album, track, timestamp]
    return pa.table([pa.array(column[index]) for column in columns], schema=schema)


def run_ingest(les_path: Path, out_path: Path, memory_budget: int) -> dict:
    """Run the ingest in a fresh process; returns its summary plus seconds and peak RSS."""
    code = (
        "import json, logging, resource, sys, tempfile, time\n"
        "from pathlib import Path\n"
        "from songvec.ingest import ingest_events\n"
        "with tempfile.TemporaryDirectory() as warm:  # load the compiled parser before timing\n"
        "    Path(warm, 'le.txt').write_text('1\\t1\\t1\\t1\\t1300000000\\n')\n"
        "    ingest_events(Path(warm, 'le.txt'), Path(warm, 'out.parquet'))\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stderr)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF)\n"
        "start = time.perf_counter()\n"
        f"summary = ingest_events({str(les_path)!r}, {str(out_path)!r}, memory_budget_bytes={memory_budget})\n"
        "summary['wall_seconds'] = time.perf_counter() - start\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "summary['peak_rss_bytes'] = usage.ru_maxrss * 1024\n"
        "summary['cpu_seconds'] = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime\n"
        "print(json.dumps(summary))\n")
    return _run_python(code)


def run_parser(les_path: Path) -> dict:
    """Time the bare streaming parser in a fresh process (the floor any ingest has to pay)."""
    code = (
        "import json, resource, time\n"
        "from songvec.lfm1b import iter_event_chunks\n"
        f"next(iter_event_chunks({str(les_path)!r}, chunk_bytes=4096))  # load the compiled parser\n"
        "before = resource.getrusage(resource.RUSAGE_SELF)\n"
        "start = time.perf_counter()\n"
        f"n = sum(len(chunk) for chunk in iter_event_chunks({str(les_path)!r}))\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(json.dumps({'events': n, 'wall_seconds': time.perf_counter() - start,\n"
        "                  'cpu_seconds': usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,\n"
        "                  'peak_rss_bytes': usage.ru_maxrss * 1024}))\n")
    return _run_python(code)


def _run_python(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    result = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000_000, help="events in the large run")
    parser.add_argument("--small", action="store_true", help="quick run with 2M events")
    parser.add_argument("--memory-budget", type=int, default=512 * 1024 ** 2,
                        help="bytes (default 512 MiB: below both input sizes' needs, so RSS must stay flat)")
    parser.add_argument("--tmp-dir", default=None, help="where to generate the input (default: system temp)")
    args = parser.parse_args()
    n_events = 2_000_000 if args.small else args.events
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.tmp_dir))
    try:
        rows = []
        for n in (n_events // 4, n_events):
            les = work / f"LFM-1b_LEs-{n}.txt"
            start = time.perf_counter()
            generate_events_file(les, n)
            size = les.stat().st_size
            print(f"generated {n:,} events ({size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s",
                  flush=True)
            parse = run_parser(les)
            summary = run_ingest(les, work / "sequences.parquet", args.memory_budget)
            rows.append((n, size, parse, summary))
            les.unlink()
            (work / "sequences.parquet").unlink()
        print(f"\nmemory budget {args.memory_budget / 2 ** 30:.2f} GiB, {os.cpu_count()} cores, "
              f"load average at the end {os.getloadavg()[0]:.1f} (other processes share the cores)")
        print(f"{'events':>12} {'GB':>6} {'parse ev/s':>12} {'ingest ev/s':>12} {'ingest/parse':>12} "
              f"{'ingest s':>9} {'ingest cpu s':>12} {'peak RSS GiB':>12}")
        for n, size, parse, summary in rows:
            parse_rate = n / parse["wall_seconds"]
            ingest_rate = n / summary["wall_seconds"]
            print(f"{n:>12,} {size / 1e9:>6.2f} {parse_rate:>12,.0f} {ingest_rate:>12,.0f} "
                  f"{ingest_rate / parse_rate:>12.2f} {summary['wall_seconds']:>9.1f} "
                  f"{summary['cpu_seconds']:>12.1f} {summary['peak_rss_bytes'] / 2 ** 30:>12.2f}")
        (small_n, *_, small), (large_n, *_, large) = rows
        print(f"peak RSS ratio large/small input: {large['peak_rss_bytes'] / small['peak_rss_bytes']:.2f} "
              f"for {large_n / small_n:.0f}x the events")
        print("last summary:", json.dumps({k: v for k, v in large.items() if k != "skipped"}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"(benchmark driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB)")


if __name__ == "__main__":
    main()
