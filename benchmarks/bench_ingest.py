"""Throughput and peak memory of ``songvec.ingest.ingest_events`` on synthetic listening events.

Generates N events with the real LFM-1b file's structure (blocks of ~1,000 events per user, newest
first inside a block, a user's blocks newest to oldest, users interleaved; Zipf-like track popularity
and a few consecutive repeats), then runs the ingest twice in fresh processes: on the first N/4 events
and on all N, so the peak RSS of both runs shows whether memory stays flat as the input grows.
Also times the bare parser (``iter_event_chunks``) as the reference the whole ingest is compared to.

``--formats`` writes the same events in other layouts too, each ingested the same way, and prints each
one's rate relative to LFM-1b_LEs.txt measured in the same run (so a loaded machine slows all alike):
``csv`` (an events table with a header, integer ids, Unix seconds), ``csv-strings`` (string user and
track ids, ISO-8601 timestamps: every id is mapped and every timestamp parsed), ``parquet``.

    python benchmarks/bench_ingest.py [--small] [--events N] [--memory-budget BYTES] [--formats lfm1b csv ...]
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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

EVENTS_PER_USER = 8_300  # LFM-1b: ~1B events over 120K users
PART_EVENTS = 5_000_000  # generated and interleaved part by part, so generation memory is bounded
FORMATS = {"lfm1b": ".txt", "csv": ".csv", "csv-strings": ".csv", "parquet": ".parquet"}
"""Layouts the events can be written in -> file suffix."""


def generate_events_file(path: Path, n_events: int, seed: int = 0, layout: str = "lfm1b") -> None:
    """Write ``n_events`` synthetic listening events to ``path`` in ``layout`` (:data:`FORMATS`): the
    same events, in the same order, whatever the layout."""
    rng = np.random.default_rng(seed)
    n_tracks = 30_000_000
    schema = pa.schema([(name, pa.int64()) for name in
                        ("user_id", "artist_id", "album_id", "track_id", "timestamp")])
    next_user = 1
    with _writer(path, layout, schema) as write:
        for part_start in range(0, n_events, PART_EVENTS):
            part = min(PART_EVENTS, n_events - part_start)
            lengths = _split_evenly(part, EVENTS_PER_USER, rng)
            users = np.arange(next_user, next_user + len(lengths)) * 37 % 50_000_000
            next_user += len(lengths)
            write(_interleaved_part(users, lengths, n_tracks, rng, schema))


class _writer:
    """Context manager giving ``write(table)`` for one layout of :data:`FORMATS`."""

    def __init__(self, path: Path, layout: str, schema: pa.Schema):
        if layout == "lfm1b":
            options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
            self.writer, self.convert = pacsv.CSVWriter(path, schema, write_options=options), lambda t: t
        elif layout == "parquet":
            self.writer, self.convert = pq.ParquetWriter(path, schema), lambda t: t
        elif layout == "csv":
            self.writer, self.convert = pacsv.CSVWriter(path, schema), lambda t: t
        else:  # csv-strings
            text = pa.schema([(name, pa.string()) for name in schema.names])
            self.writer, self.convert = pacsv.CSVWriter(path, text), _as_strings

    def __enter__(self):
        return lambda table: self.writer.write_table(self.convert(table))

    def __exit__(self, *exc):
        self.writer.close()


def _as_strings(table: pa.Table) -> pa.Table:
    """String user and track ids (a prefix, as in Spotify-like URIs), ISO-8601 UTC timestamps."""
    columns = {name: pc.cast(table[name], pa.string()) for name in table.column_names}
    columns["user_id"] = pc.binary_join_element_wise("user-", columns["user_id"], "")
    columns["track_id"] = pc.binary_join_element_wise("track:", columns["track_id"], "")
    columns["timestamp"] = pc.strftime(pc.cast(table["timestamp"], pa.timestamp("s")), "%Y-%m-%dT%H:%M:%SZ")
    return pa.table(columns)


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


def run_ingest(les_path: Path, out_path: Path, memory_budget: int, layout: str = "lfm1b") -> dict:
    """Run the ingest in a fresh process; returns its summary plus seconds and peak RSS."""
    source = repr(str(les_path)) if layout == "lfm1b" else f"open_table({str(les_path)!r})"
    code = (
        "import json, logging, resource, sys, tempfile, time\n"
        "from pathlib import Path\n"
        "from songvec.events_table import open_table\n"
        "from songvec.ingest import ingest_events\n"
        "with tempfile.TemporaryDirectory() as warm:  # load the compiled parsers before timing\n"
        "    Path(warm, 'le.txt').write_text('1\\t1\\t1\\t1\\t1300000000\\n')\n"
        "    ingest_events(Path(warm, 'le.txt'), Path(warm, 'out.parquet'))\n"
        "    Path(warm, 'le.csv').write_text('user_id,track_id,timestamp,genre\\n1,1,1300000000,a\\n')\n"
        "    ingest_events(open_table(Path(warm, 'le.csv')), Path(warm, 'out.parquet'))\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stderr)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF)\n"
        "start = time.perf_counter()\n"
        f"summary = ingest_events({source}, {str(out_path)!r}, memory_budget_bytes={memory_budget})\n"
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
    parser.add_argument("--formats", nargs="+", default=["lfm1b"], choices=list(FORMATS),
                        help="layouts to ingest (lfm1b always runs first: the others are compared to it)")
    parser.add_argument("--tmp-dir", default=None, help="where to generate the input (default: system temp)")
    args = parser.parse_args()
    n_events = 2_000_000 if args.small else args.events
    layouts = ["lfm1b"] + [layout for layout in args.formats if layout != "lfm1b"]
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.tmp_dir))
    try:
        rows = []
        for n in (n_events // 4, n_events):
            for layout in layouts:
                path = work / f"events-{n}{FORMATS[layout]}"
                start = time.perf_counter()
                generate_events_file(path, n, layout=layout)
                size = path.stat().st_size
                print(f"generated {n:,} events as {layout} ({size / 1e9:.2f} GB) in "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
                parse = run_parser(path) if layout == "lfm1b" else None
                summary = run_ingest(path, work / "sequences.parquet", args.memory_budget, layout)
                rows.append((layout, n, size, parse, summary))
                path.unlink()
                (work / "sequences.parquet").unlink()
        print(f"\nmemory budget {args.memory_budget / 2 ** 30:.2f} GiB, {os.cpu_count()} cores, "
              f"load average at the end {os.getloadavg()[0]:.1f} (other processes share the cores)")
        print(f"{'layout':>12} {'events':>12} {'GB':>6} {'parse ev/s':>12} {'ingest ev/s':>12} {'ingest/parse':>12} "
              f"{'vs lfm1b':>8} {'ingest s':>9} {'ingest cpu s':>12} {'peak RSS GiB':>12}")
        reference = {n: summary for layout, n, _, _, summary in rows if layout == "lfm1b"}
        for layout, n, size, parse, summary in rows:
            ingest_rate = n / summary["wall_seconds"]
            parse_rate = f"{n / parse['wall_seconds']:>12,.0f}" if parse else f"{'':>12}"
            ratio = f"{ingest_rate / (n / parse['wall_seconds']):>12.2f}" if parse else f"{'':>12}"
            print(f"{layout:>12} {n:>12,} {size / 1e9:>6.2f} {parse_rate} {ingest_rate:>12,.0f} {ratio} "
                  f"{reference[n]['wall_seconds'] / summary['wall_seconds']:>8.2f} {summary['wall_seconds']:>9.1f} "
                  f"{summary['cpu_seconds']:>12.1f} {summary['peak_rss_bytes'] / 2 ** 30:>12.2f}")
        for layout in layouts:
            (small_n, small), (large_n, large) = [(n, s) for lay, n, _, _, s in rows if lay == layout]
            print(f"{layout}: peak RSS ratio large/small input: "
                  f"{large['peak_rss_bytes'] / small['peak_rss_bytes']:.2f} for {large_n / small_n:.0f}x the events")
        print("last summary:", json.dumps({k: v for k, v in rows[-1][-1].items() if k != "skipped"}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"(benchmark driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB)")


if __name__ == "__main__":
    main()
