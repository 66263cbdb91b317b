"""Significance tests and confidence intervals behind the paper's tables and figures.

- :func:`paired_ttest`: paired t-test on per-item values (per test pair or per song) of two embeddings.
- :func:`table4_marks`: the arrows of Table 4 (↑ better than the default configuration, ⇑ better than the
  default *and* the best single-objective configuration; paired t-test at p < 0.01, Bonferroni).
- :func:`pairwise_tests`: all pairwise comparisons of a set of configurations (Table 6 caption).
- :func:`reference_marks`: ↑ / ↓, significantly better or worse than one reference (the models table).
- :func:`mean_ci` (t-based, Fig. 1) and :func:`proportion_ci` (Wilson, HitRate per popularity bucket).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

ALTERNATIVES = ("greater", "less", "two-sided")
#: Direction in which each Table 4 metric improves ("greater": larger is better).
TABLE4_METRICS = {"hitrate": "greater", "ndcg": "greater", "hardneg": "less"}
MARK_UP, MARK_UPUP, MARK_DOWN = "up", "upup", "down"


def paired_ttest(a, b, alternative: str = "greater") -> tuple[float, float]:
    """Paired t-test of ``a`` against ``b``: ``(t, p)`` for the mean of ``d = a - b``.

    ``a``, ``b``: (n,) per-item values of two systems on the same n items in the same order
    (e.g. the hit of every test pair under two embeddings). ``alternative`` is the alternative
    hypothesis about the mean difference: ``"greater"`` (a > b), ``"less"`` (a < b) or ``"two-sided"``.

    Zero-variance differences, where ``scipy.stats.ttest_rel`` returns NaN or relies on a degenerate
    variance, are decided here:

    - all ``d == 0`` (identical values): no evidence of any difference, ``t = 0.0, p = 1.0``;
    - all ``d == c != 0`` (a constant shift, up to a relative floating-point spread of 1e-12):
      ``t = ±inf``, ``p = 0.0`` if the sign of ``c`` is the one the alternative asks for (always for
      ``"two-sided"``), else ``p = 1.0``.

    Raises ``ValueError`` for arrays of different shapes, fewer than 2 items, or non-finite values.
    """
    a = _values(a, "a")
    b = _values(b, "b")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r}: expected one of {ALTERNATIVES}")
    if a.shape != b.shape:
        raise ValueError(f"paired arrays must be aligned item by item: a has {len(a)} values, b has {len(b)}")
    if len(a) < 2:
        raise ValueError(f"a paired t-test needs at least 2 items, got {len(a)}")
    d = a - b
    if np.ptp(d) <= 1e-12 * np.abs(d).max():
        shift = float(d.mean())
        if shift == 0.0:
            return 0.0, 1.0
        wanted = {"greater": shift > 0, "less": shift < 0, "two-sided": True}[alternative]
        return math.copysign(math.inf, shift), 0.0 if wanted else 1.0
    result = stats.ttest_rel(a, b, alternative=alternative)
    return float(result.statistic), float(result.pvalue)


def bonferroni(p_values, n_tests: int) -> np.ndarray:
    """Bonferroni-adjusted p-values ``min(1, p * n_tests)`` (same shape as ``p_values``).

    Comparing the adjusted value with ``alpha`` is the same as comparing the raw one with ``alpha / n_tests``.
    """
    if n_tests < 1:
        raise ValueError(f"n_tests must be >= 1, got {n_tests}")
    p = np.asarray(p_values, dtype=np.float64)
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("p_values must lie in [0, 1]")
    return np.minimum(1.0, p * n_tests)


@dataclass
class Marks:
    """Result of :func:`table4_marks`.

    Attributes:
        marks: config -> metric -> ``""`` | ``"up"`` | ``"upup"`` (every config, every metric; the default
            configuration always has ``""``).
        tests: one row per test performed: ``config, metric, versus, alternative, n_items, mean_config,
            mean_versus, t, p, p_bonferroni, significant``.
        n_tests: number of tests the Bonferroni correction divides by (``len(tests)``).
        alpha: family-wise significance level.
    """

    marks: dict[str, dict[str, str]]
    tests: pd.DataFrame
    n_tests: int
    alpha: float


def _check_marks_arguments(per_item: Mapping, metrics: Mapping[str, str], alpha: float,
                           **configurations: str | None) -> None:
    """ValueError unless every metric's direction is ``"greater"`` or ``"less"``, 0 < ``alpha`` < 1 and each
    named configuration (``default=...``, ``reference=...``; None: not used) is in ``per_item``."""
    for metric, direction in metrics.items():
        if direction not in ("greater", "less"):
            raise ValueError(f"metrics[{metric!r}]={direction!r}: expected 'greater' or 'less'")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    for role, config in configurations.items():
        if config is not None and config not in per_item:
            raise ValueError(f"{role} configuration {config!r} not in per_item (has {sorted(per_item)})")


def table4_marks(per_item: Mapping[str, Mapping[str, np.ndarray]], default: str = "default",
                 best_single: str | None = "HitRate", metrics: Mapping[str, str] | None = None,
                 alpha: float = 0.01) -> Marks:
    """Significance marks of Table 4 from per-item metric values.

    ``per_item``: config name -> metric -> (n_metric,) per-item values (per test pair for HitRate and NDCG,
    per song for HardNeg). For one metric every configuration must give the same items in the same
    order. ``metrics``: metric -> direction of improvement (``"greater"`` or ``"less"``), default
    :data:`TABLE4_METRICS`; every configuration must provide every listed metric.

    Tests performed (one-sided paired t-tests in the direction of improvement, :func:`paired_ttest`):

    - every configuration other than ``default`` against ``default``, on every metric;
    - every configuration other than ``default`` and ``best_single`` against ``best_single`` (the
      best single-objective, HitRate-optimised configuration), on every metric.

    With ``C`` configurations (default included) and ``M`` metrics that is ``n_tests = M * (C - 1) +
    M * (C - 2)`` tests (``M * (C - 1)`` when ``best_single`` is None), and the Bonferroni correction
    divides ``alpha`` by this number: one family for the whole table of one dataset.

    A metric of a configuration is marked ``"up"`` when its test against the default is significant
    and ``"upup"`` when its test against ``best_single`` is significant as well.
    """
    metrics = dict(TABLE4_METRICS if metrics is None else metrics)
    _check_marks_arguments(per_item, metrics, alpha, default=default, best_single=best_single)
    values = _aligned(per_item, metrics)

    rows = []
    for config in per_item:
        if config == default:
            continue
        references = [default] if config == best_single or best_single is None else [default, best_single]
        for metric, direction in metrics.items():
            for versus in references:
                a, b = values[config][metric], values[versus][metric]
                t, p = paired_ttest(a, b, alternative=direction)
                rows.append({"config": config, "metric": metric, "versus": versus, "alternative": direction,
                             "n_items": len(a), "mean_config": float(a.mean()), "mean_versus": float(b.mean()),
                             "t": t, "p": p})
    tests = pd.DataFrame(rows, columns=["config", "metric", "versus", "alternative", "n_items", "mean_config",
                                        "mean_versus", "t", "p"])
    n_tests = len(tests)
    if n_tests:
        tests["p_bonferroni"] = bonferroni(tests["p"].to_numpy(), n_tests)
    else:
        tests["p_bonferroni"] = pd.Series(dtype=np.float64)
    tests["significant"] = tests["p_bonferroni"] < alpha

    significant = {(r.config, r.metric, r.versus): r.significant for r in tests.itertuples()}
    marks: dict[str, dict[str, str]] = {}
    for config in per_item:
        marks[config] = {}
        for metric in metrics:
            mark = ""
            if significant.get((config, metric, default), False):
                mark = MARK_UP
                if significant.get((config, metric, best_single), False):
                    mark = MARK_UPUP
            marks[config][metric] = mark
    log.info("Table 4 marks: %d paired t-tests, Bonferroni alpha %.3g / %d = %.3g, %d significant",
             n_tests, alpha, max(n_tests, 1), alpha / max(n_tests, 1), int(tests["significant"].sum()))
    return Marks(marks=marks, tests=tests, n_tests=n_tests, alpha=alpha)


def pairwise_tests(per_item: Mapping[str, Mapping[str, np.ndarray]], metrics, alpha: float = 0.01) -> pd.DataFrame:
    """Two-sided paired t-tests between every two configurations on every metric (Table 6 caption).

    ``per_item`` as for :func:`table4_marks`; ``metrics``: the metric names to test. The Bonferroni
    correction divides by all tests performed: ``len(metrics) * C * (C - 1) / 2`` for ``C`` configurations.
    Returns one row per test: ``config_a, config_b, metric, n_items, mean_a, mean_b, t, p, p_bonferroni,
    significant`` (``t > 0`` when ``config_a`` has the larger mean).
    """
    metrics = list(metrics)
    values = _aligned(per_item, dict.fromkeys(metrics, "two-sided"))
    rows = []
    for config_a, config_b in itertools.combinations(per_item, 2):
        for metric in metrics:
            a, b = values[config_a][metric], values[config_b][metric]
            t, p = paired_ttest(a, b, alternative="two-sided")
            rows.append({"config_a": config_a, "config_b": config_b, "metric": metric, "n_items": len(a),
                         "mean_a": float(a.mean()), "mean_b": float(b.mean()), "t": t, "p": p})
    tests = pd.DataFrame(rows, columns=["config_a", "config_b", "metric", "n_items", "mean_a", "mean_b", "t", "p"])
    if not len(tests):
        raise ValueError(f"pairwise_tests needs at least 2 configurations and 1 metric, got {len(per_item)} "
                         f"and {len(metrics)}")
    tests["p_bonferroni"] = bonferroni(tests["p"].to_numpy(), len(tests))
    tests["significant"] = tests["p_bonferroni"] < alpha
    return tests


def reference_marks(per_item: Mapping[str, Mapping[str, np.ndarray]], reference: str, metrics: Mapping[str, str],
                    alpha: float = 0.01) -> Marks:
    """Marks of every configuration against one ``reference`` (the models table: every model against the
    skip-gram default): two-sided paired t-tests (:func:`paired_ttest`) per metric, Bonferroni over all of
    them (``M * (C - 1)`` tests for ``C`` configurations and ``M`` metrics). ``metrics``: metric -> direction
    of improvement (``"greater"`` / ``"less"``); a significant difference is marked ``"up"`` when it is an
    improvement, ``"down"`` when it is a deterioration. ``per_item`` as for :func:`table4_marks`; the
    reference's own marks are ``""``. Returns :class:`Marks` (``tests`` with ``alternative`` two-sided and
    ``direction``, the metric's)."""
    _check_marks_arguments(per_item, metrics, alpha, reference=reference)
    values = _aligned(per_item, metrics)
    rows = []
    for config in per_item:
        if config == reference:
            continue
        for metric, direction in metrics.items():
            a, b = values[config][metric], values[reference][metric]
            t, p = paired_ttest(a, b, alternative="two-sided")
            rows.append({"config": config, "metric": metric, "versus": reference, "alternative": "two-sided",
                         "direction": direction, "n_items": len(a), "mean_config": float(a.mean()),
                         "mean_versus": float(b.mean()), "t": t, "p": p})
    tests = pd.DataFrame(rows, columns=["config", "metric", "versus", "alternative", "direction", "n_items",
                                        "mean_config", "mean_versus", "t", "p"])
    tests["p_bonferroni"] = bonferroni(tests["p"].to_numpy(), len(tests)) if len(tests) else \
        pd.Series(dtype=np.float64)
    tests["significant"] = tests["p_bonferroni"] < alpha
    marks = {config: dict.fromkeys(metrics, "") for config in per_item}
    for row in tests.itertuples():
        if row.significant:
            better = (row.t > 0) == (row.direction == "greater")
            marks[row.config][row.metric] = MARK_UP if better else MARK_DOWN
    log.info("marks against %s: %d two-sided paired t-tests, Bonferroni alpha %.3g / %d, %d significant",
             reference, len(tests), alpha, max(len(tests), 1), int(tests["significant"].sum()))
    return Marks(marks=marks, tests=tests, n_tests=len(tests), alpha=alpha)


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of (n,) ``values`` and its Student-t confidence interval.

    ``mean ± t_{(1 + level) / 2, n - 1} * s / sqrt(n)`` with ``s`` the sample standard deviation
    (``ddof=1``). Needs n >= 2 finite values.
    """
    values = _values(values, "values")
    _check_level(level)
    if len(values) < 2:
        raise ValueError(f"a confidence interval of the mean needs at least 2 values, got {len(values)}")
    mean = float(values.mean())
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return mean, mean - float(half), mean + float(half)


def proportion_ci(successes, n, level: float = 0.95):
    """``(proportion, low, high)`` with the Wilson score interval of ``successes / n``.

    Scalars or arrays (broadcast together). With ``z`` the two-sided normal quantile of ``level`` and
    ``p = successes / n``: centre ``(p + z² / 2n) / (1 + z² / n)``, half-width
    ``z / (1 + z² / n) * sqrt(p (1 - p) / n + z² / 4n²)``. Where ``n == 0`` all three are NaN
    (an empty cell, reported rather than dropped).
    """
    _check_level(level)
    successes = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(n < 0) or np.any(successes < 0) or np.any(successes > n):
        raise ValueError("proportion_ci needs 0 <= successes <= n")
    z = stats.norm.ppf((1 + level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    # the interval lies in [0, 1] and holds p; at p = 0 or 1 its bound is p itself, which rounding can miss
    low = np.clip(np.minimum(centre - half, p), 0.0, 1.0)
    high = np.clip(np.maximum(centre + half, p), 0.0, 1.0)
    if p.ndim == 0:
        return float(p), float(low), float(high)
    return p, low, high


def _values(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has {int((~np.isfinite(x)).sum())} non-finite values (NaN/inf)")
    return x


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _aligned(per_item, metrics) -> dict[str, dict[str, np.ndarray]]:
    """Per-item arrays as float arrays, after checking every config has every metric, equally long."""
    values = {}
    for config, by_metric in per_item.items():
        missing = [m for m in metrics if m not in by_metric]
        if missing:
            raise ValueError(f"configuration {config!r} has no per-item values for {missing}")
        values[config] = {m: _values(by_metric[m], f"per_item[{config!r}][{m!r}]") for m in metrics}
    for metric in metrics:
        lengths = {config: len(v[metric]) for config, v in values.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"per-item values of {metric!r} are not aligned: lengths differ between "
                             f"configurations {lengths}; every configuration must score the same items in the same "
                             "order")
    return values
