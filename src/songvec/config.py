"""Validate the workflow configuration and report every problem by its dotted key.

The Snakefile calls :func:`check_config` before building the DAG, so a wrong key or value stops the run at
start-up with a message such as ``config key 'split.train': 1.5 is greater than the maximum of 1``.
JSON schema (``workflow/schemas/config.schema.yaml``) covers keys, types and ranges; the rules it cannot
express (fractions summing to one, ``low <= high``, objective names, the chosen dataset's section being
filled, objectives the data can compute) are checked here, the last two by reading only what
:func:`songvec.datasets.describe` reads (an events table's header).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import jsonschema
import yaml


PAPER_SPLIT = {"train": 0.98, "valid": 0.01, "test": 0.01}
DEMO_SPLIT = {"train": 0.84, "valid": 0.08, "test": 0.08}
PAPER_SCALE_FRACTIONS = [0.01, 0.02, 0.05]
DEMO_SCALE_FRACTIONS = [0.1, 0.2, 0.5]


def split_fractions(config: dict) -> dict[str, float]:
    """Train/validation/test fractions of the configured ``split``; ``auto`` is the paper's 98/1/1 for
    LFM-1b and a folder of its files, and 84/8/8 for the demo, whose 2,600 users would leave 26 each to a
    1% validation or test split (README, "Evaluation power": at least 100 users and 5,000 scored pairs
    each, and 1,000 in-set pairs for each of validation and test)."""
    if config["split"] != "auto":
        return dict(config["split"])
    return dict(DEMO_SPLIT if config["dataset"] == "demo" else PAPER_SPLIT)


def scale_fractions(config: dict) -> list[float]:
    """Subsample fractions of the scale study (Table 6); ``auto`` is the paper's 1% / 2% / 5% except on the
    demo: 10% / 20% / 50%, the same 1 : 2 : 5 ratios with over 200 sequences in the smallest sample."""
    fractions = config["analyses"]["scale"]["fractions"]
    if fractions != "auto":
        return list(fractions)
    return list(DEMO_SCALE_FRACTIONS if config["dataset"] == "demo" else PAPER_SCALE_FRACTIONS)


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem with its key."""


RENAMED_KEYS = {"false_neighbors": "hard_negatives"}
"""Dotted config keys of earlier versions -> their names now (a config file using one is told the new name)."""


def _dotted(path) -> str:
    """A config path as written in messages: keys joined by dots, list positions in brackets (``models[1]``)."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "(top level)"


def schema_problems(config: dict, schema: dict) -> list[str]:
    """Problems found by the JSON schema, one line each, keyed by the dotted config path."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        if error.validator == "additionalProperties":
            known = sorted(error.schema.get("properties", {}))
            extra = sorted(set(error.instance) - set(known))
            for key in extra:
                where = _dotted(list(error.absolute_path) + [key])
                if where in RENAMED_KEYS:
                    problems.append(f"config key '{where}' was renamed to '{RENAMED_KEYS[where]}'")
                else:
                    problems.append(f"config key '{where}' is unknown (known keys here: {', '.join(known)})")
        else:
            problems.append(f"config key '{_dotted(error.absolute_path)}': {error.message}")
    return problems


def semantic_problems(config: dict) -> list[str]:
    """Cross-field problems the schema cannot express, and objectives the dataset cannot compute."""
    from songvec.datasets import describe, objective_problems
    from songvec.objectives import Objective

    problems = []
    split = split_fractions(config)
    total = split["train"] + split["valid"] + split["test"]
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        problems.append(f"config key 'split': train + valid + test must sum to 1, got {total:g}")
    for name, spec in config["hpo"]["search_space"].items():
        if spec["low"] > spec["high"]:
            problems.append(f"config key 'hpo.search_space.{name}': low {spec['low']} > high {spec['high']}")
        if spec.get("log") and spec["low"] <= 0:
            problems.append(f"config key 'hpo.search_space.{name}': a log scale needs low > 0")
    parsed = []
    for i, name in enumerate(config["hpo"]["objectives"]):
        try:
            Objective.parse(name)
            parsed.append(name)
        except ValueError as error:
            problems.append(f"config key 'hpo.objectives[{i}]': {error}")
    optimized = config["analyses"]["popularity"]["optimized"]
    if optimized not in config["hpo"]["objectives"]:
        problems.append(f"config key 'analyses.popularity.optimized': {optimized!r} is not one of hpo.objectives")
    if "HitRate" not in config["hpo"]["objectives"]:
        problems.append("config key 'hpo.objectives': must contain HitRate (Table 4 compares against its best)")
    problems += _sampler_problems(config["hpo"])
    max_threads, workers = config["max_job"]["threads"], config["word2vec"]["workers"]
    if max_threads is not None and workers > max_threads:
        problems.append(f"config key 'word2vec.workers': {workers} threads per training job, but max_job.threads "
                        f"is {max_threads}: no node could run the job")
    try:
        dataset = describe(config)
    except ValueError as error:
        problems.append(str(error))
    else:
        problems += objective_problems(parsed, dataset)
        problems += model_problems(config, dataset)
    if config["dataset"] == "lfm1b":
        lfm = config["lfm1b"]
        if not (lfm["mirrors"] or lfm["archive_dir"] or lfm["folder"]):
            problems.append("config key 'lfm1b': give mirrors, archive_dir or folder for dataset 'lfm1b'")
    return problems


def model_problems(config: dict, dataset) -> list[str]:
    """Problems of config ``models``, ``model_config``, ``hpo.other_models`` and ``final.models_seeds`` that the
    schema cannot see, each naming its key: unknown or invalid hyper-parameters and settings, search ranges,
    what the data (a :class:`songvec.datasets.Dataset`) cannot give."""
    from songvec.datasets import objective_problems
    from songvec.hpo.space import SearchSpace
    from songvec.models import MODELS, PAPER_MODEL, options
    from songvec.objectives import Objective

    problems = []
    if PAPER_MODEL not in config["models"]:
        problems.append(f"config key 'models': must contain {PAPER_MODEL}, the reference of the time budget and "
                        "of the models table")
    for name in MODELS:
        if name == PAPER_MODEL:
            continue
        where = f"model_config.{name}"
        found = options(config, name)
        try:
            found.default_params()
        except ValueError as error:
            problems.append(str(error))
            continue
        unknown = sorted(set(found.search_space) - set(found.model.param_names))
        missing = sorted(set(found.search_space) - set(found.defaults))
        if unknown:
            problems.append(f"config key '{where}.search_space': {name} has no hyper-parameter "
                            f"{', '.join(map(repr, unknown))} (its hyper-parameters: {', '.join(found.model.param_names)})")
        elif missing:
            problems.append(f"config key '{where}.defaults': give the default of {', '.join(missing)} (the first "
                            "trial of a study)")
        elif found.search_space:
            try:
                SearchSpace.from_dict({p: {**spec, "default": found.defaults[p]} for p, spec in found.search_space.items()})
            except ValueError as error:
                problems.append(f"config key '{where}.search_space': {error}")
            for param, spec in found.search_space.items():  # the ends of a range must be valid values
                for end in ("low", "high"):
                    try:
                        found.model.parse_params({**found.defaults, param: spec[end]}, f"{end} {spec[end]}")
                    except ValueError as error:
                        problems.append(f"config key '{where}.search_space.{param}': {error}")
        terms, given = set(found.model.cost_terms), set(found.cost_model)
        if terms != given:
            problems.append(f"config key '{where}.cost_model': {name}'s cost model has the coefficients "
                            f"{', '.join(found.model.cost_terms)}; "
                            + "; ".join(f"{label} {', '.join(sorted(names))}" for label, names in
                                        (("missing", terms - given), ("unknown", given - terms)) if names))
        elif not any(found.cost_model.values()):
            problems.append(f"config key '{where}.cost_model': the coefficients cannot all be 0 (every training "
                            "would be predicted free)")
        try:
            settings = found.training_settings(seed=0)
        except (TypeError, ValueError) as error:
            problems.append(f"config key '{where}.settings': {error}")
            continue
        if getattr(settings, "cooccurrence", None) == "sequence" and "window" in found.search_space:
            problems.append(f"config key '{where}.search_space': window is unused with cooccurrence: sequence; "
                            "leave it out of the search space")
        if getattr(settings, "artist_augmentation", False) and name in config["models"] and \
                not dataset.has("artists"):
            problems.append(f"config key '{where}.settings.artist_augmentation': needs artists, but "
                            f"{dataset.missing['artists']}")
    parsed = []
    for i, objective in enumerate(config["hpo"]["other_models"]["objectives"]):
        try:
            Objective.parse(objective)
            parsed.append(objective)
        except ValueError as error:
            problems.append(f"config key 'hpo.other_models.objectives[{i}]': {error}")
    problems += objective_problems(parsed, dataset, "hpo.other_models.objectives")
    extra = sorted(set(config["final"]["models_seeds"]) - set(config["final"]["seeds"]))
    if extra:
        problems.append(f"config key 'final.models_seeds': {extra} not among final.seeds (the models table reuses "
                        "the skip-gram models of final.seeds)")
    return problems


def _sampler_problems(hpo: dict) -> list[str]:
    """The samplers chosen can run: GPSampler needs PyTorch, NSGA-II a first generation within the budget;
    the cost model depends on the parameters."""
    problems = []
    for key, sampler in (("hpo.sampler", hpo["sampler"]), ("hpo.pareto.sampler", hpo["pareto"]["sampler"])):
        if sampler == "gp" and importlib.util.find_spec("torch") is None:
            problems.append(f"config key '{key}': gp (optuna.samplers.GPSampler) needs PyTorch, which is not "
                            "installed: pip install -r requirements-gp.txt (the CPU build), or choose tpe")
    population = hpo["sampler_settings"]["nsga2"]["population_size"]
    if hpo["pareto"]["sampler"] == "nsga2" and population >= hpo["pareto"]["max_trials"]:
        problems.append(f"config key 'hpo.sampler_settings.nsga2.population_size': {population} >= "
                        f"hpo.pareto.max_trials ({hpo['pareto']['max_trials']}): NSGA-II would never get past its "
                        "random first generation")
    cost = hpo["cost_model"]
    if cost["per_sample_dim"] == cost["per_sample"] == 0:
        problems.append("config key 'hpo.cost_model': per_sample_dim and per_sample cannot both be 0")
    return problems


def check_config(config: dict, schema_path: str | Path):
    """Raise :class:`ConfigError` listing every problem of ``config``; when it is valid, return its dataset
    (:class:`songvec.datasets.Dataset`)."""
    from songvec.datasets import describe

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    problems = schema_problems(config, schema)
    if not problems:  # semantic checks assume the schema's shape
        problems = semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return describe(config)
