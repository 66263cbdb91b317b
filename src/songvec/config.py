"""Validate the workflow configuration and report every problem by its dotted key.

The Snakefile calls :func:`check_config` before building the DAG, so a wrong key or value stops the run at
start-up with a message such as ``config key 'split.train': 1.5 is greater than the maximum of 1``.
JSON schema (``workflow/schemas/config.schema.yaml``) covers keys, types and ranges; the rules it cannot
express (fractions summing to one, ``low <= high``, objective names, the chosen dataset's section being
filled) are checked here.
"""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem with its key."""


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


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
                problems.append(f"config key '{where}' is unknown (known keys here: {', '.join(known)})")
        else:
            problems.append(f"config key '{_dotted(error.absolute_path)}': {error.message}")
    return problems


def semantic_problems(config: dict) -> list[str]:
    """Cross-field problems the schema cannot express."""
    from songvec.hpo import Objective

    problems = []
    split = config["split"]
    total = split["train"] + split["valid"] + split["test"]
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        problems.append(f"config key 'split': train + valid + test must sum to 1, got {total:g}")
    for name, spec in config["hpo"]["search_space"].items():
        if spec["low"] > spec["high"]:
            problems.append(f"config key 'hpo.search_space.{name}': low {spec['low']} > high {spec['high']}")
        if spec.get("log") and spec["low"] <= 0:
            problems.append(f"config key 'hpo.search_space.{name}': a log scale needs low > 0")
    for i, name in enumerate(config["hpo"]["objectives"]):
        try:
            Objective.parse(name)
        except ValueError as error:
            problems.append(f"config key 'hpo.objectives[{i}]': {error}")
    optimized = config["analyses"]["popularity"]["optimized"]
    if optimized not in config["hpo"]["objectives"]:
        problems.append(f"config key 'analyses.popularity.optimized': {optimized!r} is not one of hpo.objectives")
    if "HitRate" not in config["hpo"]["objectives"]:
        problems.append("config key 'hpo.objectives': must contain HitRate (Table 4 compares against its best)")
    max_threads, workers = config["max_job"]["threads"], config["word2vec"]["workers"]
    if max_threads is not None and workers > max_threads:
        problems.append(f"config key 'word2vec.workers': {workers} threads per training job, but max_job.threads "
                        f"is {max_threads}: no node could run the job")
    if config["dataset"] == "folder" and not config["folder"]["path"]:
        problems.append("config key 'folder.path': must name a folder of LFM-1b files when dataset is 'folder'")
    if config["dataset"] == "lfm1b":
        lfm = config["lfm1b"]
        if not (lfm["mirrors"] or lfm["archive_dir"] or lfm["folder"]):
            problems.append("config key 'lfm1b': give mirrors, archive_dir or folder for dataset 'lfm1b'")
    return problems


def check_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``; return quietly when it is valid."""
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    problems = schema_problems(config, schema)
    if not problems:  # semantic checks assume the schema's shape
        problems = semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
