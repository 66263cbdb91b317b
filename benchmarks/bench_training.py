"""Word2Vec training (songvec.training.train_word2vec) against a bare gensim Word2Vec call, and
training from a sequence file against training from the same sequences in memory.

Part 1. Both train skip-gram with negative sampling with the paper's default hyper-parameters (Table 3),
5 epochs, one worker, on the same corpus: train_word2vec starts from the ``Sequences`` (it builds the
chunked token corpus and the vocabulary itself), the bare call ``Word2Vec(sentences, ...)`` gets the
very same sentences as a ready list of str token lists (as ``list(TokenChunks(seqs))`` yields them).
Prints tokens/s of both, over train() alone and over the whole call, and the ratios (goal >= 0.9),
best of ``--repeats`` interleaved rounds. Also checks that both give identical vectors.
Data: ~2M events (``--small``: 300k) in sequences of geometric length (mean 3,000, so a few exceed
10,000 tokens and are split), tracks drawn from a Zipf law (exponent 1) over 50k songs.

Part 2. The same kind of data, 5M events (``--small``: 500k) written to a sequence file, trained for
2 epochs in a child process per run: once read whole into memory (``read_sequences``, as the scripts
did before), once streamed from the file (``SequenceFile``, batches of ``--batch-events``, default a
tenth of the file, so it is read in ~10 batches on every pass). Prints train() tokens/s of both and
their ratio, also per CPU second (goal ~1: decoding Parquet is far faster than gensim trains), the
share of train() the reader spent producing chunks, and each child's peak RSS above its resident
size after the imports. Also checks that
both give identical vectors.

    python benchmarks/bench_training.py [--small]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from synthetic import zipf_sequences
from gensim.models import Word2Vec

from songvec.sequences import read_sequences, write_sequences
from songvec.sequences import SequenceFile
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams, train_word2vec

STREAM_EPOCHS = 2


def bare_gensim(sentences, params: Word2VecParams, settings: TrainingSettings):
    """Word2Vec on a ready list of token lists; returns (model, train seconds, total seconds)."""
    started = time.perf_counter()
    model = Word2Vec(sg=1, hs=0, vector_size=params.vector_size, window=params.window,
                     ns_exponent=params.ns_exponent, negative=params.negative, alpha=params.alpha,
                     min_alpha=settings.min_alpha, epochs=settings.epochs, min_count=settings.min_count,
                     sample=settings.sample, seed=settings.seed, workers=settings.workers)
    model.build_vocab(sentences)
    train_started = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=settings.epochs)
    done = time.perf_counter()
    return model, done - train_started, done - started


def memory_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, MB, from /proc (Linux).

    Not ``getrusage``: its ``ru_maxrss`` keeps the peak of the parent a child was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child_run(source: str, path: str, batch_events: int) -> dict:
    """One training of the file at ``path``, read whole ("memory") or streamed ("file")."""
    imports_mb = memory_mb("VmRSS")
    started = time.perf_counter()
    corpus = read_sequences(path) if source == "memory" else SequenceFile(path, batch_events)
    model = train_word2vec(corpus, Word2VecParams(), TrainingSettings(epochs=STREAM_EPOCHS))
    record = model.record
    return {"train_seconds": record["train_seconds"], "train_cpu_seconds": record["train_cpu_seconds"],
            "total_seconds": time.perf_counter() - started,
            "raw_words": record["raw_words"], "corpus_read_seconds": record["corpus_read_seconds"],
            "peak_rss_mb": memory_mb("VmHWM") - imports_mb, "imports_mb": imports_mb,
            "digest": hashlib.sha256(model.wv.vectors.tobytes() + " ".join(model.wv.index_to_key).encode()).hexdigest()}


def file_against_memory(n_events: int, batch_events: int | None, repeats: int) -> None:
    """Part 2: children training from the file streamed and read whole, alternately."""
    seqs = zipf_sequences(n_events, 50_000, mean_length=3000, seed=1)
    seqs.artists, seqs.timestamps = seqs.tracks // 10, np.arange(n_events, dtype=np.int64)  # realistic decoding
    batch_events = batch_events or n_events // 10
    runs: dict[str, list[dict]] = {"memory": [], "file": []}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "train.parquet")
        write_sequences(path, seqs)
        print(f"\nfile: {n_events:,} events, {len(seqs):,} sequences, {Path(path).stat().st_size / 1e6:.1f} MB; "
              f"{STREAM_EPOCHS} epochs, default params, streamed in batches of {batch_events:,} events")
        for _ in range(repeats):  # alternate, so a load change on a shared machine hits both
            for source in runs:
                out = subprocess.run([sys.executable, __file__, "--child", source, "--path", path,
                                      "--batch-events", str(batch_events)],
                                     check=True, capture_output=True, text=True).stdout
                runs[source].append(json.loads(out.splitlines()[-1]))
    best = {source: {key: (max if key == "peak_rss_mb" else min)(run[key] for run in source_runs)
                     for key in source_runs[0]} for source, source_runs in runs.items()}
    for source, label in (("memory", "read whole (read_sequences)"), ("file", "streamed (SequenceFile)   ")):
        run = best[source]
        print(f"{label}: train() {run['raw_words'] / run['train_seconds']:,.0f} tokens/s "
              f"({run['train_seconds']:.2f}s, reader {run['corpus_read_seconds']:.2f}s of it), "
              f"{run['raw_words'] / run['train_cpu_seconds']:,.0f} tokens per CPU second, whole run "
              f"{run['total_seconds']:.2f}s; peak RSS {run['peak_rss_mb']:,.0f} MB above the "
              f"{run['imports_mb']:,.0f} MB resident after imports")
    memory, file = best["memory"], best["file"]
    print(f"train() tokens/s streamed / read whole: {memory['train_seconds'] / file['train_seconds']:.3f} "
          f"(per CPU second, unaffected by other processes: "
          f"{memory['train_cpu_seconds'] / file['train_cpu_seconds']:.3f}; goal ~1); "
          f"peak RSS streamed / read whole: {file['peak_rss_mb'] / memory['peak_rss_mb']:.2f}")
    print(f"identical vectors: {memory['digest'] == file['digest']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="300k and 500k events instead of 2M and 5M")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-events", type=int, default=None, help="part 2 batches (default: a tenth)")
    parser.add_argument("--child", choices=("memory", "file"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(child_run(args.child, args.path, args.batch_events)))
        return
    n_events = 300_000 if args.small else 2_000_000

    seqs = zipf_sequences(n_events, 50_000, mean_length=3000)
    params, settings = Word2VecParams(), TrainingSettings()
    sentences = list(TokenChunks(seqs, settings.max_sentence_tokens))
    print(f"data: {seqs.n_events:,} events, {len(seqs):,} sequences, {len(sentences):,} sentences; "
          f"params {params}, epochs {settings.epochs}, workers {settings.workers}")

    tokens = settings.epochs * seqs.n_events
    best = {"ours_train": np.inf, "ours_total": np.inf, "bare_train": np.inf, "bare_total": np.inf}
    for _ in range(args.repeats):  # interleaved, so a load change on a shared machine hits both
        bare, bare_train, bare_total = bare_gensim(sentences, params, settings)
        started = time.perf_counter()
        ours = train_word2vec(seqs, params, settings)
        ours_total = time.perf_counter() - started
        best["bare_train"] = min(best["bare_train"], bare_train)
        best["bare_total"] = min(best["bare_total"], bare_total)
        best["ours_train"] = min(best["ours_train"], ours.record["train_seconds"])
        best["ours_total"] = min(best["ours_total"], ours_total)
    same = np.array_equal(ours.wv.vectors, bare.wv.vectors) and ours.wv.index_to_key == bare.wv.index_to_key

    for what in ("train", "total"):
        ours_rate, bare_rate = tokens / best[f"ours_{what}"], tokens / best[f"bare_{what}"]
        label = "train() only" if what == "train" else "whole call  "
        print(f"{label}: train_word2vec {ours_rate:,.0f} tokens/s ({best[f'ours_{what}']:.2f}s), "
              f"bare gensim {bare_rate:,.0f} tokens/s ({best[f'bare_{what}']:.2f}s), "
              f"ratio {ours_rate / bare_rate:.3f} (goal >= 0.9)")
    print(f"effective words/s (after down-sampling) of train_word2vec: "
          f"{ours.record['effective_words_per_second']:,.0f}")
    print(f"identical vectors: {same}")

    file_against_memory(500_000 if args.small else 5_000_000, args.batch_events, args.repeats)


if __name__ == "__main__":
    main()
