"""Word2Vec training (songvec.training.train_word2vec) against a bare gensim Word2Vec call.

Both train skip-gram with negative sampling with the paper's default hyper-parameters (Table 3),
5 epochs, one worker, on the same corpus: train_word2vec starts from the ``Sequences`` (it builds the
chunked token corpus and the vocabulary itself), the bare call ``Word2Vec(sentences, ...)`` gets the
very same sentences as a ready list of str token lists (as ``list(TokenChunks(seqs))`` yields them).
Prints tokens/s of both, over train() alone and over the whole call, and the ratios (goal >= 0.9),
best of ``--repeats`` interleaved rounds. Also checks that both give identical vectors.
Data: ~2M events (``--small``: 300k) in sequences of geometric length (mean 3,000, so a few exceed
10,000 tokens and are split), tracks drawn from a Zipf law (exponent 1) over 50k songs.

    python benchmarks/bench_training.py [--small]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from synthetic import zipf_sequences
from gensim.models import Word2Vec

from songvec.training import TokenChunks, TrainingSettings, Word2VecParams, train_word2vec


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="300k events instead of 2M")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
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


if __name__ == "__main__":
    main()
