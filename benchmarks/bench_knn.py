"""Exact top-k search (songvec.neighbors.top_k) against the bare similarity matrix product.

Prints, measured in one run on the same data (best of ``--repeats`` runs each):
  - bare product: ``queries @ base.T`` in blocks of query rows with numpy's multi-threaded BLAS,
    for the top_k block size and for larger blocks (the fastest one is the reference);
  - the same product in top_k's own tiling (worker threads x single-threaded BLAS), no selection;
  - top_k itself, and an np.argpartition-based top-k (full similarity rows, then sort the k);
and the ratios to the fastest bare product. Also checks that top_k and the argpartition reference
return the same neighbours. Default size: 20,000 queries x 200,000 base vectors, d=100, k=100.

    python benchmarks/bench_knn.py [--small]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a clone, uninstalled
from songvec.neighbors import normalize, top_k


def interleaved_best_times(steps: dict, repeats: int) -> dict:
    """Best wall time of each step over ``repeats`` rounds, the steps alternating inside a round
    (so that a load change on a shared machine hits every step alike)."""
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, function in steps.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def bare_product(queries, base, block_rows):
    """queries @ base.T block of rows by block of rows, multi-threaded BLAS, output buffer reused."""
    out = np.empty((block_rows, len(base)), dtype=np.float32)
    for start in range(0, len(queries), block_rows):
        block = queries[start:start + block_rows]
        np.matmul(block, base.T, out=out[:len(block)])


def tiled_product(queries, base, block_rows, block_cols, threads):
    """The same tiles top_k multiplies (threads x single-threaded BLAS), without the selection."""
    def blocks(start):
        block = queries[start:start + block_rows]
        tile = np.empty((len(block), block_cols), dtype=np.float32)
        for col0 in range(0, len(base), block_cols):
            col1 = min(col0 + block_cols, len(base))
            np.matmul(block, base[col0:col1].T, out=tile[:, :col1 - col0])

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        list(pool.map(blocks, range(0, len(queries), block_rows)))


def argpartition_top_k(queries, base, k, exclude, block_rows=256):
    """Reference top-k: full similarity rows, np.argpartition, then sort the k by (-score, index)."""
    indices = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), block_rows):
        sims = queries[start:start + block_rows] @ base.T
        rows = np.arange(len(sims))
        sims[rows, exclude[start:start + block_rows]] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        indices[start:start + len(sims)] = np.take_along_axis(part, order, axis=1)
        scores[start:start + len(sims)] = np.take_along_axis(part_scores, order, axis=1)
    return indices, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="2,000 queries x 50,000 base vectors")
    parser.add_argument("--queries", type=int)
    parser.add_argument("--base", type=int)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--block-rows", type=int, default=128)
    parser.add_argument("--block-cols", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_queries = args.queries or (2_000 if args.small else 20_000)
    n_base = args.base or (50_000 if args.small else 200_000)

    print(f"CPUs available: {len(os.sched_getaffinity(0))}, worker threads: {args.threads}")
    for lib in threadpool_info():
        print(f"BLAS: {lib['internal_api']} {lib['version']} ({lib['architecture']}), "
              f"{lib['num_threads']} threads, {os.path.basename(lib['filepath'])}")
    rng = np.random.default_rng(args.seed)
    base = normalize(rng.standard_normal((n_base, args.dim), dtype=np.float32))
    exclude = rng.choice(n_base, size=n_queries, replace=n_queries > n_base).astype(np.int64)
    queries = base[exclude].copy()
    print(f"{n_queries:,} queries x {n_base:,} base vectors, d={args.dim}, k={args.k}, "
          f"tiles {args.block_rows} x {args.block_cols}, best of {args.repeats}")

    top_k(queries[:10], base[:5000], args.k, exclude=None)  # compile (or load) the numba kernels

    results = {}

    def run_top_k():
        results["top_k"] = top_k(queries, base, args.k, exclude=exclude, block_rows=args.block_rows,
                                 block_cols=args.block_cols, threads=args.threads)

    bare_names = []
    steps = {}
    for rows in sorted({args.block_rows, 256, 1024}):
        bare_names.append(f"bare product, blocks of {rows}")
        steps[bare_names[-1]] = lambda rows=rows: bare_product(queries, base, rows)
    steps["bare product, top_k tiling"] = lambda: tiled_product(
        queries, base, args.block_rows, args.block_cols, args.threads)
    steps["top_k"] = run_top_k
    times = interleaved_best_times(steps, args.repeats)
    start = time.perf_counter()
    partition_indices, partition_scores = argpartition_top_k(queries, base, args.k, exclude)
    times["np.argpartition top-k (one run)"] = time.perf_counter() - start
    reference = min(times[name] for name in bare_names)

    print(f"{'step':36s} {'seconds':>9s} {'x fastest bare':>15s}")
    for name, seconds in times.items():
        print(f"{name:36s} {seconds:9.3f} {seconds / reference:15.2f}")
    indices, scores = results["top_k"]
    same = float((indices == partition_indices).mean())
    print(f"top_k / fastest bare product: {times['top_k'] / reference:.3f}")
    print(f"neighbours identical to the argpartition reference: {100 * same:.4f}%; largest score "
          f"difference at equal rank: {np.abs(scores - partition_scores).max():.2e} (float32 rounding "
          f"differs between BLAS code paths, so near-ties may swap)")


if __name__ == "__main__":
    main()
