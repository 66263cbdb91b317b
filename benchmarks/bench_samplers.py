"""Which sampler finds a good configuration soonest: repeated HPO studies of each sampler on one workflow's data.

Set-ups (``--setups``), each with the config's search space, random trials, budget and settings:

    tpe-unconstrained  TPE, every draw a trial (hpo.constrained_sampling: false): the set-up before issue 14
    tpe                TPE with constraint-aware sampling (the default)
    gp                 GPSampler with constraint-aware sampling
    random             random search among the configurations predicted within the budget

Part 1. For each objective (``--objectives``, default HitRate and VRCGenre) and repeat r (``--repeats``,
sampler seed ``--seed`` + r, the same for every set-up and objective), one study of ``--max-trials``
trials with one worker and no patience (whole curves), on the HPO inputs of a workflow run under
``--results`` (default: results/<the config's dataset>/): the masked training split, the validation in-set
half and out-of-set pairs, genres, hard negatives, the default's validation metrics and training record,
which ``snakemake --cores 2 results/demo-default/metrics/default/seed-42/valid.json
results/demo-default/hard_negatives/pairs.parquet`` makes for the default demo. It runs the engine the workflow uses
(``songvec.hpo.run_study_worker``). Feasibility is decided by the cost model (``hpo.time_measure:
model``), so ``evaluate`` is deterministic: a configuration drawn by several studies (the enqueued
default; the constraint-aware set-ups share their random start-up within a repeat) is trained once and
every study is charged the CPU seconds it cost then. A study's CPU seconds at a trial are the charged
seconds of ``evaluate`` (training + metrics) so far plus the worker's own CPU outside ``evaluate``
(sampling, the rejected draws, storage) measured in-process.

It draws the best feasible validation value against evaluated trials and against CPU seconds (mean and
95% t-interval over the repeats) into ``--figure`` (docs/samplers.png), and prints and writes
(``--table``, docs/samplers.md) for each set-up the evaluated trials and CPU seconds each repeat needs to
reach 95% of the best value any run found (mean with its 95% interval over the repeats that reach it,
and how many do), the final best, draws rejected, random fallbacks, infeasible trials. It checks the cost
model on every distinct configuration trained: R² of predicted against measured train() CPU seconds
(predicted = relative cost x the default's measured seconds) and the worst ratio.

Part 2 (``--parallel-max-trials`` > 0). For each set-up, one HitRate study with two worker processes on
one journal storage (forked after loading the data, no cache), as the workflow's ``hpo.workers: 2``:
wall-clock seconds to the end and to the 95% target of part 1, CPU seconds of both workers, and how
many trials ran while the other worker's trial was running. TPE's constant liar treats running trials as
bad results; GPSampler conditions on them as pending points (q-batch acquisition).

Raw results: ``--out``/samplers.json. Run it niced; CPU time is what it measures:

    nice python benchmarks/bench_samplers.py [--results results/demo-default] [--repeats 5] [--max-trials 30]
        [--objectives HitRate VRCGenre] [--setups tpe-unconstrained tpe gp random]
        [--parallel-max-trials 20] [--figure docs/samplers.png] [--table docs/samplers.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # run from a clone, uninstalled

import optuna  # noqa: E402

from songvec import atomic, hpo  # noqa: E402
from songvec.config import check_config  # noqa: E402
from songvec.evaluation import (EvaluationData, EvaluationSettings, configuration_evaluator,  # noqa: E402
                                scalar_metrics)
from songvec.hpo.trials import counts_toward_budget, is_feasible_complete  # noqa: E402
from songvec.objectives import as_objective  # noqa: E402
from songvec.progress import Progress  # noqa: E402
from songvec.sequences import SequenceFile  # noqa: E402
from songvec.time_budget import TimeBudget, TrialInfeasible  # noqa: E402
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams  # noqa: E402

log = logging.getLogger("bench_samplers")
SETUPS = {"tpe-unconstrained": ("tpe", False), "tpe": ("tpe", True), "gp": ("gp", True), "random": ("random", True)}
"""Set-up -> (sampler, constrained_sampling)."""
TARGET_SHARE = 0.95


class CachedEvaluation:
    """``evaluate`` with a cache by configuration and CPU accounting: ``charged`` is the CPU seconds the
    configurations evaluated so far cost when first measured, ``spent`` what this process spent in them."""

    def __init__(self, evaluate):
        self.evaluate, self.cache = evaluate, {}
        self.charged = self.spent = 0.0

    def __call__(self, params):
        key = json.dumps(params, sort_keys=True)
        if key not in self.cache:
            start = time.process_time()
            try:
                outcome = self.evaluate(params)
            except TrialInfeasible as infeasible:
                outcome = infeasible
            cost = time.process_time() - start
            self.spent += cost
            self.cache[key] = (outcome, cost)
        outcome, cost = self.cache[key]
        self.charged += cost
        if isinstance(outcome, TrialInfeasible):
            raise outcome
        return outcome


def load(results: Path, config: dict):
    """The workflow's HPO inputs, the time budget (cost model) and the evaluator."""
    word2vec, hpo_config = config["word2vec"], config["hpo"] | {"time_measure": "model"}
    training = TrainingSettings.from_config(word2vec, config["seed"], workers=1)
    corpus = TokenChunks(SequenceFile(results / "data/train_masked.parquet", config["streaming"]["batch_events"]),
                         training.max_sentence_tokens)
    reference = Word2VecParams(**word2vec["defaults"])
    record = atomic.read_json(results / f"models/default/seed-{config['seed']}/record.json")
    budget = TimeBudget.from_config(hpo_config, reference, record, corpus.chunk_lengths)
    data = EvaluationData.load(results / "data/pairs/in_set_valid.parquet", results / "data/pairs/valid.parquet",
                               results / "data/track_genres.parquet", results / "hard_negatives/pairs.parquet")
    evaluate = configuration_evaluator(corpus, data, EvaluationSettings.from_config(config["evaluation"],
                                                                                      config["seed"]),
                                       training, budget)
    default_metrics = scalar_metrics(atomic.read_json(results / f"metrics/default/seed-{config['seed']}/valid.json"))
    return hpo_config, budget, training, evaluate, default_metrics


def study_settings(config: dict, hpo_config: dict, setup: str, seed: int, max_trials: int, worker: int = 0):
    sampler, constrained = SETUPS[setup]
    settings = hpo.WorkerSettings.from_config(hpo_config, config["word2vec"], config["evaluation"], seed=seed,
                                              worker_index=worker)
    return dataclasses.replace(settings, sampler=sampler,
                               sampler_settings=hpo_config["sampler_settings"].get(sampler, {}),
                               constrained_sampling=constrained, patience=None, max_trials=max_trials)


def curve(trials, objective_name: str) -> list[dict]:
    """One row per trial counting toward the budget, by number: its value, feasibility and the best
    feasible value so far."""
    best, rows = -math.inf, []
    for t in sorted(trials, key=lambda t: t.number):
        if not counts_toward_budget(t):
            continue
        feasible = is_feasible_complete(t)
        if feasible:
            best = max(best, t.value)
        rows.append({"number": t.number, "feasible": feasible, "value": t.value if feasible else None,
                     "best": best if best > -math.inf else None,
                     "rejected_draws": t.user_attrs.get("rejected_draws", 0),
                     "random_fallback": "random_fallback" in t.user_attrs,
                     "params": t.params, "complete": t.datetime_complete.timestamp() if t.datetime_complete else None,
                     "start": t.datetime_start.timestamp() if t.datetime_start else None})
    return rows


def run_sequential(args, config, hpo_config, budget, training, evaluate, default_metrics,
                   on_repeat) -> tuple[list[dict], CachedEvaluation]:
    """Part 1; ``on_repeat(runs, cached)`` is called after each repeat (all objectives and set-ups)."""
    cached = CachedEvaluation(evaluate)
    runs = []
    total = len(args.objectives) * args.repeats * len(args.setups)
    progress = Progress("sampler studies", total, "studies", log, every=0)
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None) as tmp:
        for repeat in range(args.repeats):
            for objective in args.objectives:
                for setup in args.setups:
                    seed = args.seed + repeat
                    settings = study_settings(config, hpo_config, setup, seed, args.max_trials)
                    url = f"journal:{tmp}/{objective}-{setup}-{repeat}.log"
                    marks = []  # (cumulative CPU after the call) per evaluate call, in trial order

                    def timed(params, _marks=marks):
                        try:
                            return cached(params)
                        finally:
                            _marks.append((time.process_time() - start - cached.spent + spent0)
                                          + (cached.charged - charged0))

                    start, spent0, charged0 = time.process_time(), cached.spent, cached.charged
                    hpo.run_study_worker(objective, url, objective, timed, default_metrics, settings,
                                         predicted_violation=budget.violation_predictor(training.epochs),
                                         logger=log)
                    study_cpu = time.process_time() - start - (cached.spent - spent0) + (cached.charged - charged0)
                    rows = curve(hpo.load_study(objective, url).get_trials(), objective)
                    if len(rows) != len(marks):
                        raise RuntimeError(f"{objective} {setup} repeat {repeat}: {len(rows)} trials counted "
                                           f"but evaluate was called {len(marks)} times")
                    for row, cpu in zip(rows, marks):
                        row["cpu_seconds"] = cpu
                    summary = hpo.study_summary(hpo.load_study(objective, url))
                    runs.append({"setup": setup, "objective": objective, "repeat": repeat, "seed": seed,
                                 "trials": rows, "cpu_seconds": study_cpu,
                                 "n_rejected_draws": summary["n_rejected_draws"],
                                 "n_random_fallback": summary["n_random_fallback"],
                                 "n_infeasible": summary["n_infeasible"]})
                    progress.update()
                    log.info("%s %s repeat %d: best %.5g after %d trials, %.0f CPU s (%d trainings cached so far)",
                             objective, setup, repeat, rows[-1]["best"] or float("nan"), len(rows), study_cpu,
                             len(cached.cache))
            on_repeat(runs, cached)
    progress.finish()
    return runs, cached


def cost_model_check(cached: CachedEvaluation, budget: TimeBudget, training: TrainingSettings) -> dict:
    """R² and worst ratio of the cost model's predicted train() CPU seconds over the trained configurations."""
    measured, predicted = [], []
    for key, (outcome, _) in cached.cache.items():
        if isinstance(outcome, TrialInfeasible):
            continue
        params = Word2VecParams(**json.loads(key))
        measured.append(outcome["train_cpu_seconds"])
        predicted.append(budget.cost_model.relative(params, budget.reference, budget.pairs) * budget.reference_seconds
                         * outcome["epochs"] / training.epochs)
    measured, predicted = np.array(measured), np.array(predicted)
    r2 = 1 - ((measured - predicted) ** 2).sum() / ((measured - measured.mean()) ** 2).sum()
    ratio = np.maximum(predicted / measured, measured / predicted)
    return {"n": len(measured), "r2": float(r2), "worst_ratio": float(ratio.max()),
            "median_ratio": float(np.median(ratio)), "share_within_1.25": float((ratio <= 1.25).mean())}


def mean_interval(values) -> tuple[float, float, float]:
    """Mean and its 95% t-interval."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def reach(rows, target: float, key: str):
    """The trial count (1-based) or CPU seconds at which the best value first reaches ``target``."""
    for i, row in enumerate(rows):
        if row["best"] is not None and row["best"] >= target:
            return i + 1 if key == "trials" else row["cpu_seconds"]
    return None


def table(runs, objectives, setups) -> tuple[str, dict]:
    """Per objective and set-up: how soon the repeats reach 95% of the best value any run found. A run that
    never reaches it is left out of the "to reach it" means and counted as max_trials + 1 in the "every
    run" mean, which is then a lower bound of the set-up's true mean (its runs were stopped, not finished)."""
    lines, targets = [], {}
    for objective in objectives:
        mine = [r for r in runs if r["objective"] == objective]
        best = max(r["trials"][-1]["best"] for r in mine if r["trials"][-1]["best"] is not None)
        default = mine[0]["trials"][0]["value"]
        targets[objective] = target = TARGET_SHARE * best
        lines += [f"**{objective}** (validation): best of any run {best:.5g}, target 95% = {target:.5g}, "
                  f"the default configuration {default:.5g}", "",
                  "| set-up | runs reaching the target | evaluated trials to reach it | evaluated trials, every run "
                  "(never = max + 1) | CPU seconds to reach it | final best | draws rejected per study "
                  "| random fallbacks per study | infeasible trials per study |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for setup in setups:
            group = [r for r in mine if r["setup"] == setup]
            trials = [reach(r["trials"], target, "trials") for r in group]
            cpu = [reach(r["trials"], target, "cpu") for r in group]
            reached = [t for t in trials if t is not None]

            def fmt(values, digits):
                values = [v for v in values if v is not None]
                if not values:
                    return "never"
                mean, low, high = mean_interval(values)
                return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]" if len(values) > 1 else \
                    f"{mean:.{digits}f}"

            censored = [len(r["trials"]) + 1 if t is None else t for r, t in zip(group, trials)]
            finals = [r["trials"][-1]["best"] for r in group]
            lines.append(f"| {setup} | {len(reached)}/{len(group)} | {fmt(trials, 1)} | {fmt(censored, 1)} | "
                         f"{fmt(cpu, 0)} | "
                         f"{fmt(finals, 4)} | {np.mean([r['n_rejected_draws'] for r in group]):.0f} | "
                         f"{np.mean([r['n_random_fallback'] for r in group]):.1f} | "
                         f"{np.mean([r['n_infeasible'] for r in group]):.1f} |")
        lines.append("")
    return "\n".join(lines), targets


def figure(runs, objectives, setups, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(len(objectives), 2, figsize=(11, 3.6 * len(objectives)), squeeze=False)
    for row, objective in enumerate(objectives):
        for setup, color in zip(setups, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            group = [r for r in runs if r["objective"] == objective and r["setup"] == setup]
            n = min(len(r["trials"]) for r in group)
            best = np.array([[t["best"] if t["best"] is not None else np.nan for t in r["trials"][:n]]
                             for r in group])
            x = np.arange(1, n + 1)
            mean, low, high = zip(*(mean_interval(column[~np.isnan(column)]) if (~np.isnan(column)).any()
                                    else (np.nan,) * 3 for column in best.T))
            axes[row, 0].plot(x, mean, color=color, label=setup)
            axes[row, 0].fill_between(x, low, high, color=color, alpha=0.15)
            grid = np.linspace(0, max(r["trials"][-1]["cpu_seconds"] for r in group), 200)
            stepped = np.array([[_best_at(r["trials"], c) for c in grid] for r in group])
            mean, low, high = zip(*(mean_interval(column[~np.isnan(column)]) if (~np.isnan(column)).any()
                                    else (np.nan,) * 3 for column in stepped.T))
            axes[row, 1].plot(grid, mean, color=color, label=setup)
            axes[row, 1].fill_between(grid, low, high, color=color, alpha=0.15)
        for col, label in enumerate(["evaluated trials", "CPU seconds"]):
            axes[row, col].set_xlabel(label)
            axes[row, col].set_ylabel(f"best validation {objective}")
            axes[row, col].grid(alpha=0.3)
        axes[row, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[row, 0].legend(fontsize=8)
    repeats = len({r["repeat"] for r in runs})
    fig.suptitle(f"Best feasible validation value so far: mean and 95% interval over {repeats} studies per sampler")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _best_at(rows, cpu: float) -> float:
    best = np.nan
    for row in rows:
        if row["cpu_seconds"] > cpu:
            break
        if row["best"] is not None:
            best = row["best"]
    return best


def run_parallel(args, config, hpo_config, budget, training, evaluate, default_metrics, targets) -> list[dict]:
    """Part 2: two forked worker processes per study, HitRate."""
    results = []
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None) as tmp:
        for setup in args.setups:
            url = f"journal:{tmp}/parallel-{setup}.log"
            optuna.create_study(study_name="HitRate", storage=hpo.open_storage(url), direction="maximize")
            started, children = time.time(), []
            cpu_before = os.times()
            for worker in range(2):
                pid = os.fork()
                if pid == 0:
                    try:
                        settings = study_settings(config, hpo_config, setup, args.seed, args.parallel_max_trials,
                                                  worker)
                        hpo.run_study_worker("HitRate", url, "HitRate", evaluate, default_metrics, settings,
                                             predicted_violation=budget.violation_predictor(training.epochs),
                                             logger=log)
                    finally:
                        os._exit(0)
                children.append(pid)
            for pid in children:
                os.waitpid(pid, 0)
            wall = time.time() - started
            cpu_after = os.times()
            cpu = (cpu_after.children_user - cpu_before.children_user) + \
                (cpu_after.children_system - cpu_before.children_system)
            rows = curve(hpo.load_study("HitRate", url).get_trials(), "HitRate")
            overlapping = sum(any(o is not r and o["start"] < r["start"] < (o["complete"] or math.inf)
                                  for o in rows) for r in rows)
            target = targets.get("HitRate")
            reached = next((r["complete"] - started for r in rows
                            if target is not None and r["best"] is not None and r["best"] >= target), None)
            results.append({"setup": setup, "wall_seconds": wall, "cpu_seconds": cpu, "n_trials": len(rows),
                            "wall_to_target": reached, "best": rows[-1]["best"], "overlapping_trials": overlapping})
            log.info("parallel %s: %s", setup, results[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a dataset's results folder (default: results/<dataset>/)")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--objectives", nargs="+", default=["HitRate", "VRCGenre"])
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel-max-trials", type=int, default=20)
    parser.add_argument("--figure", type=Path, default=REPO / "docs" / "samplers.png")
    parser.add_argument("--table", type=Path, default=REPO / "docs" / "samplers.md")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument("--report-from", type=Path, nargs="+",
                        help="samplers.json of earlier (or interrupted) runs, e.g. of other --seed values run in "
                        "parallel: write their joint table and figure without measuring")
    parser.add_argument("--parallel-only", action="store_true",
                        help="with --report-from: measure part 2 alone, with the 95%% targets of those runs, and "
                        "save the joined runs with it to --out (part 2 needs a quiet machine, part 1 does not)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("songvec", "optuna", "gensim"):
        logging.getLogger(name).setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for objective in args.objectives:
        as_objective(objective)

    if args.parallel_only and not (args.report_from and args.parallel_max_trials > 0):
        parser.error("--parallel-only needs --report-from and --parallel-max-trials > 0")
    if args.report_from:
        saved = joined([atomic.read_json(path) for path in args.report_from])
        if args.parallel_only:
            saved = measure_parallel(args, saved)
    else:
        saved = measure(args)
    runs, objectives = saved["runs"], [o for o in args.objectives if any(r["objective"] == o for r in saved["runs"])]
    setups = [s for s in args.setups if any(r["setup"] == s for r in runs)]
    text, _ = table(runs, objectives, setups)
    figure(runs, objectives, setups, args.figure)
    report = [report_header(saved), "", text]
    if saved["parallel"]:
        report += ["Two workers on one HitRate study (one run per set-up, "
                   f"{saved['args']['parallel_max_trials']} trials, wall-clock on a shared 2-core machine):", "",
                   "| set-up | wall seconds | wall seconds to the target | CPU seconds (both workers) | best "
                   "| trials started while the other worker's ran |", "|---|---:|---:|---:|---:|---:|"]
        for p in saved["parallel"]:
            to_target = "never" if p["wall_to_target"] is None else f"{p['wall_to_target']:.0f}"
            report.append(f"| {p['setup']} | {p['wall_seconds']:.0f} | {to_target} | {p['cpu_seconds']:.0f} | "
                          f"{p['best']:.4g} | {p['overlapping_trials']}/{p['n_trials']} |")
        report.append("")
    atomic.write_text(args.table, "\n".join(report))
    print("\n".join(report))


def workflow_inputs(args) -> tuple[dict, tuple]:
    """The checked config and :func:`load`'s HPO inputs of the results folder the arguments name."""
    config = yaml.safe_load(args.config.read_text())
    dataset = check_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    return config, load(args.results or REPO / "results" / dataset.name, config)


def measure(args) -> dict:
    """Parts 1 and 2; the raw results are saved to ``--out``/samplers.json after every repeat of part 1, so
    an interrupted run still leaves its finished repeats to ``--report-from``."""
    config, loaded = workflow_inputs(args)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = {"args": {k: str(v) for k, v in vars(args).items()}, "parallel": []}

    def save(runs, cached):
        trainings = [outcome for outcome, _ in cached.cache.values() if not isinstance(outcome, TrialInfeasible)]
        saved.update(runs=runs, cost_model=cost_model_check(cached, loaded[1], loaded[2]),
                     trainings=len(trainings), training_cpu_seconds=cached.spent)
        atomic.write_json(args.out / "samplers.json", saved)

    runs, _ = run_sequential(args, config, *loaded, on_repeat=save)
    if args.parallel_max_trials > 0:
        _, targets = table(runs, args.objectives, args.setups)
        saved["parallel"] = run_parallel(args, config, *loaded, targets)
        atomic.write_json(args.out / "samplers.json", saved)
    return saved


def measure_parallel(args, saved: dict) -> dict:
    """Part 2 alone, its targets from part-1 runs measured earlier; saved with them to ``--out``."""
    config, loaded = workflow_inputs(args)
    _, targets = table(saved["runs"], args.objectives, args.setups)
    saved = {**saved, "args": {**saved["args"], "parallel_max_trials": str(args.parallel_max_trials)},
             "parallel": run_parallel(args, config, *loaded, targets)}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(args.out / "samplers.json", saved)
    return saved


def cost_model_checks(saved: dict) -> list[dict]:
    """The cost-model checks of a run's raw results: one dict as measured, a list once runs are joined."""
    checks = saved["cost_model"]
    return checks if isinstance(checks, list) else [checks]


def joined(saves: list[dict]) -> dict:
    """Several runs' raw results as one: repeats renumbered in the order of their sampler seeds (which must
    differ), trainings and CPU seconds summed (each run trained its own configurations), the cost-model check
    of each run kept apart (their raw points are not saved, so they cannot be pooled)."""
    runs = [run for saved in saves for run in saved["runs"]]
    seeds = sorted({run["seed"] for run in runs})
    for setup_objective in {(run["setup"], run["objective"]) for run in runs}:
        of_it = [run["seed"] for run in runs if (run["setup"], run["objective"]) == setup_objective]
        if len(of_it) != len(set(of_it)):
            raise SystemExit(f"--report-from: set-up {setup_objective[0]} / {setup_objective[1]} has a sampler seed "
                             f"twice ({sorted(of_it)}): join runs of different --seed values only")
    args = {key: value for key, value in saves[0]["args"].items() if key != "seed"}
    if any(saved["args"]["max_trials"] != args["max_trials"] for saved in saves):
        raise SystemExit("--report-from: the runs have different --max-trials")
    return {"args": args, "seeds": seeds, "parallel": [p for saved in saves for p in saved["parallel"]],
            "runs": [{**run, "repeat": seeds.index(run["seed"])} for run in runs],
            "cost_model": [check for saved in saves for check in cost_model_checks(saved)],
            "trainings": sum(saved["trainings"] for saved in saves),
            "training_cpu_seconds": sum(saved["training_cpu_seconds"] for saved in saves)}


def report_header(saved: dict) -> str:
    runs, checks = saved["runs"], cost_model_checks(saved)
    repeats = len({r["repeat"] for r in runs})
    seeds = saved.get("seeds") or sorted({r["seed"] for r in runs})
    lines = [f"Cost model over the {check['n']} configurations trained: R² {check['r2']:.3f} of predicted against "
             f"measured train() CPU seconds, worst ratio {check['worst_ratio']:.2f}, median ratio "
             f"{check['median_ratio']:.2f}, {100 * check['share_within_1.25']:.0f}% within 1.25x." for check in checks]
    return (f"{repeats} studies per set-up and objective (sampler seeds {', '.join(map(str, seeds))}), "
            f"{saved['args']['max_trials']} evaluated trials each, one worker, time_measure: model; "
            f"{saved['trainings']} configurations trained ({saved['training_cpu_seconds']:.0f} CPU s"
            f"{', over ' + str(len(checks)) + ' runs' if len(checks) > 1 else ''}).\n\n" + "\n".join(lines))

if __name__ == "__main__":
    main()
