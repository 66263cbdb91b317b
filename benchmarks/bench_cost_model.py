"""Fit the time budget's cost model (songvec.time_budget.CostModel, config ``hpo.cost_model``) to measured
trainings on a workflow's own training data, and say how well it predicts.

Trains ``--configs`` configurations drawn at random from the search space (config ``hpo.search_space``,
the learning rate on its log scale) whose cost by the config's cost model is at most ``--max-cost`` x
the default's, plus the default configuration ``--default-repeats`` times (their spread is the noise
floor of the measurement), each with the workflow's Word2Vec settings (config ``word2vec``, one thread)
on ``<results>/data/train_masked.parquet``, the studies' training sequences. The order is shuffled, so a
change of load over the run does not line up with one kind of configuration. For each it records the
CPU seconds of ``train()``.

The model's form, per token and epoch:

    P(window) (negative + 1) (per_sample_dim * d + per_sample) + per_token

where P(window) is the mean number of (centre, context) pairs per token on this corpus
(songvec.time_budget.context_pairs: window + 1 in long sentences, fewer where sentences are short), is
fitted by non-negative least squares of the measured seconds on the three terms (times tokens x epochs),
and compared with the same form with window + 1 for P and with the textbook form (window + 1)(negative +
1) d alone (one coefficient). For each it prints the coefficients (in nanoseconds per token and epoch, the unit of ``hpo.cost_model``),
R² of the predicted seconds, and the worst ratio max(predicted / measured, measured / predicted) over
the trainings, in-sample and leave-one-out. The fitted coefficients are printed as the YAML block to
put in config.yaml. Writes the measurements to ``<out>/cost_model.csv``.

``--model NAME`` fits instead another model's cost model (config ``model_config.<NAME>.cost_model``, README
"Models"): its configurations are drawn from its own search space (at most ``--max-cost`` x its default's
predicted time by the config's coefficients), trained with its settings, and its predicted seconds, the
sum of each amount of work (songvec.models.base.Model.work) times a coefficient in CPU nanoseconds per
unit, are fitted by the same non-negative least squares. The skip-gram's fit and the other models' run on
the same machine, so their predictions are in the same unit and the time budget can compare them. For
GloVe every other configuration turns Laplace smoothing on (its dense term is otherwise never measured).
Writes ``<out>/cost_model_<NAME>.csv``.

    nice python benchmarks/bench_cost_model.py [--results results] [--configs 40] [--max-cost 3]
        [--default-repeats 3] [--seed 0] [--out benchmarks/out] [--model NAME]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import nnls

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # run from a clone, uninstalled

from songvec import models  # noqa: E402
from songvec.sequences import SequenceFile  # noqa: E402
from songvec.time_budget import CostModel, context_pairs  # noqa: E402
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams, train_word2vec  # noqa: E402


def draw_configurations(space: dict, defaults: dict, model: CostModel, n: int, max_cost: float,
                        rng: np.random.Generator) -> list[Word2VecParams]:
    """``n`` configurations uniform in ``space`` (log scale where it says so) costing at most ``max_cost``
    x the defaults by ``model``."""
    reference, drawn = Word2VecParams(**defaults), []
    while len(drawn) < n:
        params = Word2VecParams(**draw_values(space, rng))
        if model.relative(params, reference) <= max_cost:
            drawn.append(params)
    return drawn


def terms(params: Word2VecParams, pairs=()) -> np.ndarray:
    """The cost model's three terms of one configuration, per token and epoch, on a corpus of context
    ``pairs`` per token (empty: window + 1)."""
    samples = (pairs[params.window - 1] if pairs else params.window + 1) * (params.negative + 1)
    return np.array([samples * params.vector_size, samples, 1.0])


def fit_report(name: str, features: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Fit seconds = features @ c (c >= 0; features: the units of work of each training, e.g. per token and
    epoch times tokens x epochs), print R², worst ratio in-sample and leave-one-out; return c in
    nanoseconds per unit. The columns are fitted scaled to a maximum of 1, which leaves c unchanged but
    keeps the least squares well conditioned when units differ by orders of magnitude."""
    scale = np.where(features.max(axis=0) > 0, features.max(axis=0), 1.0)
    features = features / scale
    coef, _ = nnls(features, seconds)
    predicted = features @ coef
    r2 = 1 - ((seconds - predicted) ** 2).sum() / ((seconds - seconds.mean()) ** 2).sum()
    worst = np.maximum(predicted / seconds, seconds / predicted)
    loo = []
    for i in range(len(seconds)):
        keep = np.arange(len(seconds)) != i
        c, _ = nnls(features[keep], seconds[keep])
        p = features[i] @ c
        loo.append(max(p / seconds[i], seconds[i] / p))
    ns = coef / scale * 1e9
    print(f"{name}: coefficients (ns per unit) {np.round(ns, 4).tolist()}; R² {r2:.4f}; worst ratio "
          f"{worst.max():.3f} (median {np.median(worst):.3f}); leave-one-out worst ratio {max(loo):.3f}")
    return ns


def fit_other_model(config: dict, name: str, corpus: TokenChunks, args: argparse.Namespace,
                    rng: np.random.Generator) -> None:
    """Fit and print the cost model of ``name`` (module docstring, ``--model``)."""
    found = models.options(config, name)
    model, defaults = found.model, found.default_params()
    settings = found.training_settings(config["seed"], workers=1)
    statistics = model.statistics(corpus, settings, found.largest())
    limit = args.max_cost * found.predicted_seconds(defaults, settings, statistics)
    runs = []
    while len(runs) < args.configs:
        params = model.parse_params(draw_values(found.search_space, rng)) if found.search_space else defaults
        run_settings = settings
        if name == "glove" and len(runs) % 2:
            run_settings = dataclasses.replace(settings, laplace_smoothing=not settings.laplace_smoothing)
        if found.predicted_seconds(params, run_settings, statistics) <= limit:
            runs.append((params, run_settings))
    runs += [(defaults, settings)] * args.default_repeats
    runs = [runs[i] for i in rng.permutation(len(runs))]
    print(f"{len(runs)} trainings of {name} on {corpus.n_tokens} tokens", flush=True)
    rows, work = [], []
    for i, (params, run_settings) in enumerate(runs):
        record = model.train(corpus, params, run_settings).record
        work.append(model.work(params, run_settings, statistics))
        rows.append(dataclasses.asdict(params) | {"settings": str(dataclasses.asdict(run_settings)),
                                                  "train_cpu_seconds": record["train_cpu_seconds"],
                                                  "train_seconds": record["train_seconds"]})
        print(f"{i + 1}/{len(runs)} {dataclasses.asdict(params)}: {record['train_cpu_seconds']:.2f} CPU s", flush=True)
    write_rows(args.out / f"cost_model_{name}.csv", rows)
    seconds = np.array([row["train_cpu_seconds"] for row in rows])
    features = np.array([[amount[term] for term in model.cost_terms] for amount in work], dtype=np.float64)
    default = seconds[[params == defaults and s == settings for params, s in runs]]
    print(f"\nthe default configuration, {len(default)} times: {np.round(default, 3).tolist()} CPU s "
          f"(max / min {default.max() / default.min():.3f}: the noise floor)")
    ns = fit_report(f"{name} {' + '.join(model.cost_terms)}", features, seconds)
    print(f"\nconfig.yaml, model_config.{name}:\n  cost_model: {{"
          + ", ".join(f"{term}: {value:.3g}" for term, value in zip(model.cost_terms, ns)) + "}")


def draw_values(space: dict, rng: np.random.Generator) -> dict:
    """One configuration uniform in ``space`` (log scale where it says so)."""
    values = {}
    for name, spec in space.items():
        if spec.get("log"):
            value = float(np.exp(rng.uniform(np.log(spec["low"]), np.log(spec["high"]))))
        else:
            value = rng.uniform(spec["low"], spec["high"] + (1 if spec["type"] == "int" else 0))
        values[name] = int(value) if spec["type"] == "int" else float(value)
    return values


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--max-cost", type=float, default=3.0)
    parser.add_argument("--default-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument("--model", help="fit this model's cost model instead of the skip-gram's")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = yaml.safe_load(args.config.read_text())
    defaults, hpo = config["word2vec"]["defaults"], config["hpo"]
    settings = TrainingSettings.from_config(config["word2vec"], config["seed"], workers=1)
    corpus = TokenChunks(SequenceFile(args.results / "data" / "train_masked.parquet",
                                      config["streaming"]["batch_events"]), settings.max_sentence_tokens)
    if args.model and args.model != models.PAPER_MODEL:
        fit_other_model(config, args.model, corpus, args, np.random.default_rng(args.seed))
        return
    work = corpus.n_tokens * settings.epochs
    pairs = context_pairs(corpus.chunk_lengths, hpo["search_space"]["window"]["high"])
    rng = np.random.default_rng(args.seed)
    configurations = draw_configurations(hpo["search_space"], defaults, CostModel(**hpo["cost_model"]),
                                         args.configs, args.max_cost, rng)
    configurations += [Word2VecParams(**defaults)] * args.default_repeats
    configurations = [configurations[i] for i in rng.permutation(len(configurations))]
    print(f"{len(configurations)} trainings of {corpus.n_tokens} tokens x {settings.epochs} epochs in "
          f"{len(corpus)} sentences ({args.results / 'data' / 'train_masked.parquet'}); context pairs per token "
          f"P(window) / (window + 1): " + ", ".join(f"{w}: {pairs[w - 1] / (w + 1):.3f}" for w in (1, 5, 10, 20, 40)),
          flush=True)

    rows = []
    for i, params in enumerate(configurations):
        record = train_word2vec(corpus, params, settings).record
        rows.append(dataclasses.asdict(params) | {"train_cpu_seconds": record["train_cpu_seconds"],
                                                   "train_seconds": record["train_seconds"]})
        print(f"{i + 1}/{len(configurations)} {dataclasses.asdict(params)}: {record['train_cpu_seconds']:.2f} "
              f"CPU s", flush=True)
    write_rows(args.out / "cost_model.csv", rows)

    seconds = np.array([row["train_cpu_seconds"] for row in rows])
    features = np.array([terms(params) for params in configurations]) * work
    with_pairs = np.array([terms(params, pairs) for params in configurations]) * work
    default = seconds[[params == Word2VecParams(**defaults) for params in configurations]]
    print(f"\nthe default configuration, {len(default)} times: {np.round(default, 3).tolist()} CPU s "
          f"(max / min {default.max() / default.min():.3f}: the noise floor)")
    fit_report("textbook (L+1)(N+1)d", features[:, :1], seconds)
    fit_report("(L+1)(N+1)(a d + b) + c", features, seconds)
    per_sample_dim, per_sample, per_token = fit_report("P(L)(N+1)(a d + b) + c", with_pairs, seconds)
    print("\nconfig.yaml, hpo:\n  cost_model:\n"
          f"    per_sample_dim: {per_sample_dim:.3g}\n    per_sample: {per_sample:.3g}\n    per_token: {per_token:.3g}")


if __name__ == "__main__":
    main()
