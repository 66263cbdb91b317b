"""Every model's training throughput and peak memory against data size, and SPPMI-SVD's co-occurrence
counting against a bare numpy count of the same pairs.

Part 1. Each model of :data:`songvec.models.MODELS` trains with its config defaults (``config.yaml``:
``word2vec.defaults`` for skip-gram, ``model_config.<name>.defaults`` for the others; one worker, one BLAS
thread) on synthetic sequences of ``--sizes`` events (tracks from a Zipf law over a tenth as many songs,
sequences of mean length 100), each training in a child process of its own. Prints, per model and size,
the training's CPU seconds, events per CPU second and the child's peak RSS above its resident size after
the imports, then each model's growth from the smallest to the largest size: CPU seconds and peak memory
ratios against the events ratio (1: linear in the data).

Part 2. The same pairs counted twice, best of ``--repeats`` interleaved rounds: by
:func:`songvec.cooccurrence.window_counts` (SPPMI-SVD's counts: window 5, linear weights, both directions,
batches of the sequences) and by a bare numpy count (all pairs of the whole corpus at once, keyed a * V +
b, summed by ``np.unique`` + ``np.bincount``; the project counts batches of 1,000 sequences). Prints both times and their ratio (project / bare; goal <= 1.5)
and checks that both give the same matrix.

    python benchmarks/bench_models.py [--sizes 100000 300000 1000000] [--models glove sppmi_svd]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # one core per training, as the workflow's rules with 1 thread

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import yaml  # noqa: E402
from bench_training import memory_mb  # noqa: E402
from synthetic import zipf_sequences  # noqa: E402

from songvec import cooccurrence, models  # noqa: E402
from songvec.training import TokenChunks  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
MEAN_LENGTH = 100


def corpus(n_events: int):
    return zipf_sequences(n_events, max(n_events // 10, 100), mean_length=MEAN_LENGTH, seed=1)


def child_run(name: str, n_events: int) -> dict:
    """One default training of model ``name`` on ``n_events`` synthetic events."""
    seqs = corpus(n_events)
    options = models.options(yaml.safe_load(CONFIG.read_text()), name)
    training = options.training_settings(seed=1, workers=1)
    chunks = TokenChunks(seqs, getattr(training, "max_sentence_tokens", 10_000))
    imports_mb = memory_mb("VmRSS")
    trained = options.model.train(chunks, options.default_params(), training)
    record = trained.record
    return {"cpu_seconds": record["train_cpu_seconds"], "seconds": record["train_seconds"],
            "songs": record["vocabulary_size"], "peak_rss_mb": memory_mb("VmHWM") - imports_mb}


def throughput(names: list[str], sizes: list[int]) -> None:
    """Part 1."""
    print(f"part 1: default training of each model, one thread, synthetic Zipf data (mean sequence length "
          f"{MEAN_LENGTH}, songs = events / 10)")
    runs: dict[str, dict[int, dict]] = {name: {} for name in names}
    for n_events in sizes:
        for name in names:
            out = subprocess.run([sys.executable, __file__, "--child", name, "--events", str(n_events)],
                                 check=True, capture_output=True, text=True).stdout
            run = runs[name][n_events] = json.loads(out.splitlines()[-1])
            print(f"  {name:14s} {n_events:>10,} events {run['songs']:>8,} songs: {run['cpu_seconds']:8.2f} CPU s "
                  f"({n_events / max(run['cpu_seconds'], 1e-9):>12,.0f} events per CPU s), peak RSS "
                  f"{run['peak_rss_mb']:8.1f} MB above the imports", flush=True)
    small, large = min(sizes), max(sizes)
    if small == large:
        return
    print(f"growth from {small:,} to {large:,} events (x{large / small:g}; 1 = linear in the data):")
    for name in names:
        a, b = runs[name][small], runs[name][large]
        growth = []
        for key, unit, floor in (("cpu_seconds", "CPU seconds", 0.05), ("peak_rss_mb", "peak memory", 1.0)):
            growth.append(f"{unit} per event x{b[key] / a[key] / (large / small):.2f}" if a[key] >= floor else
                          f"{unit}: too small to compare (< {floor:g} at {small:,} events)")
        print(f"  {name:14s} {', '.join(growth)}")


def bare_count(seqs, n_songs: int, window: int, weights: np.ndarray) -> sp.csr_matrix:
    """Weighted counts of (a, b) and (b, a) for b at most ``window`` plays after a in one sequence, a != b."""
    sequence = np.repeat(np.arange(len(seqs)), seqs.lengths)
    keys, values = [], []
    for distance in range(1, window + 1):
        a, b = seqs.tracks[:-distance], seqs.tracks[distance:]
        kept = (sequence[:-distance] == sequence[distance:]) & (a != b)
        keys += [a[kept] * n_songs + b[kept], b[kept] * n_songs + a[kept]]
        values += [np.full(2 * int(kept.sum()), weights[distance - 1])]
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    summed = np.bincount(inverse, weights=np.concatenate(values))
    return sp.csr_matrix((summed, (unique // n_songs, unique % n_songs)), shape=(n_songs, n_songs))


def counting(n_events: int, repeats: int) -> None:
    """Part 2."""
    seqs = corpus(n_events)
    n_songs = int(seqs.tracks.max()) + 1
    settings = models.get("sppmi_svd").settings()
    window, weights = 5, cooccurrence.distance_weights(5, settings.weighting)
    batches = [seqs.subset(np.arange(start, min(start + 1000, len(seqs)))) for start in range(0, len(seqs), 1000)]
    best = {"project": np.inf, "bare": np.inf}
    for _ in range(repeats):  # interleaved, so a load change on a shared machine hits both
        started = time.process_time()
        ours = cooccurrence.window_counts(batches, np.arange(n_songs), n_songs, window, settings.weighting)
        best["project"] = min(best["project"], time.process_time() - started)
        started = time.process_time()
        bare = bare_count(seqs, n_songs, window, weights)
        best["bare"] = min(best["bare"], time.process_time() - started)
    # equal up to the order of float64 summation: counts reach thousands, so the tolerance is relative
    same = ours.shape == bare.shape and ours.nnz == bare.nnz and \
        (ours.nnz == 0 or abs(ours - bare).max() <= 1e-12 * abs(bare).max())
    print(f"part 2: co-occurrence counts, {n_events:,} events, window {window} ({settings.weighting}), "
          f"{ours.nnz:,} entries: window_counts {best['project']:.2f} CPU s, bare numpy {best['bare']:.2f} CPU s, "
          f"ratio {best['project'] / best['bare']:.2f} (goal <= 1.5); same matrix: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=list(models.MODELS), choices=list(models.MODELS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=list(models.MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(child_run(args.child, args.events)))
        return
    throughput(args.models, sorted(args.sizes))
    counting(max(args.sizes), args.repeats)


if __name__ == "__main__":
    main()
