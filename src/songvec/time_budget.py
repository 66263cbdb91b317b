"""The time constraint of HPO trials (paper 4.7), in one place and free of Optuna.

A trial may train for at most ``factor`` times the training time of the reference (default)
configuration (config ``hpo.time_budget_factor``, ``time_measure``, ``time_constraint``,
``prediction_margin``, ``cost_model``). :class:`TimeBudget` decides, before any training, how many
epochs a configuration trains and whether it is infeasible by the cost model (:class:`CostModel`).
With ``time_measure: model`` the cost model alone decides, so the decision is the same on any machine
and under any load; with ``cpu`` or ``wall``, :func:`songvec.training.train_word2vec` also enforces the
budget while it trains, on a :class:`Clock`, and raises :class:`OverTimeBudget`. An infeasible
configuration is reported to the HPO engine as :class:`TrialInfeasible`. The README ("Choices where
the paper is silent", "Reproducibility") says why each default.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from songvec.training import Word2VecParams

CONSTRAINTS = ("reject", "scale_epochs")
"""``reject``: a configuration over the budget is infeasible; ``scale_epochs``: it trains fewer epochs."""
CONFIG_KEYS = ("time_budget_factor", "time_constraint", "time_measure", "prediction_margin", "cost_model")
"""The keys of config section ``hpo`` that define the budget (and so what a trial's metrics mean)."""


@dataclasses.dataclass(frozen=True)
class Clock:
    """A way to measure training time: ``now()`` in seconds, and the field of the training record
    (:class:`songvec.training.TrainedModel`) that holds a whole training's seconds on this clock."""

    name: str
    now: Callable[[], float]
    record_key: str


CLOCKS = {"cpu": Clock("cpu", time.process_time, "train_cpu_seconds"),
          "wall": Clock("wall", time.perf_counter, "train_seconds")}
"""``cpu``: CPU seconds of the training process (unaffected by other processes sharing the cores);
``wall``: elapsed seconds."""
TIME_MEASURES = ("model", *CLOCKS)
"""How a trial's training time is known: ``model``, predicted by the :class:`CostModel` (deterministic),
or measured on one of :data:`CLOCKS`."""


@dataclasses.dataclass(frozen=True)
class CostModel:
    """CPU time of skip-gram Word2Vec with negative sampling, per token and epoch, in nanoseconds:

        P(window) * (negative + 1) * (per_sample_dim * vector_size + per_sample) + per_token

    gensim trains, per token, P(window) (centre, context) pairs (:func:`context_pairs`: it shrinks the
    window at random to 1..window on each side, and a sentence's ends cut it; window + 1 in long
    sentences), each against ``negative + 1`` output vectors: a dot product and two updates of
    ``vector_size`` floats (``per_sample_dim``) plus a fixed cost per sample (``per_sample``: drawing the
    negative from the cumulative table, the sigmoid lookup, the BLAS calls); ``per_token`` is what a token
    costs whatever the parameters (reading the corpus, the frequent-song down-sampling). The learning rate
    and the sampling exponent do not change the cost. The skip-gram's own budget uses ratios only
    (:meth:`relative`); the other models' cost models are fitted in the same unit, CPU nanoseconds on the
    same machine, so that their predictions compare with the skip-gram default's (:func:`songvec.models.
    time_budget`). Config ``hpo.cost_model`` holds the coefficients fitted on measured trainings
    (``benchmarks/bench_cost_model.py``). The defaults are the textbook form (window+1)(negative+1)d.
    """

    per_sample_dim: float = 1.0
    per_sample: float = 0.0
    per_token: float = 0.0

    def __post_init__(self):
        for name in ("per_sample_dim", "per_sample", "per_token"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"cost model coefficient {name} must be a finite number >= 0, got {value!r}")
        if self.per_sample_dim == self.per_sample == 0:
            raise ValueError("cost model: per_sample_dim and per_sample cannot both be 0 (the cost would not "
                             "depend on the parameters)")

    def cost(self, params: Word2VecParams, pairs: Sequence[float] = ()) -> float:
        """Nanoseconds (in the coefficients' unit) to train one token for one epoch. ``pairs``: the
        context pairs per token of windows 1, 2, ... on the corpus (:func:`context_pairs`); window + 1
        where it does not reach."""
        samples = pairs_per_token(params.window, pairs) * (params.negative + 1)
        return samples * (self.per_sample_dim * params.vector_size + self.per_sample) + self.per_token

    @staticmethod
    def terms(params: Word2VecParams, pairs: Sequence[float] = ()) -> dict[str, float]:
        """What each coefficient multiplies in :meth:`cost` (per token and epoch), by the coefficient's name:
        :meth:`cost` is the sum of the products."""
        samples = pairs_per_token(params.window, pairs) * (params.negative + 1)
        return {"per_sample_dim": samples * params.vector_size, "per_sample": samples, "per_token": 1.0}

    def relative(self, params: Word2VecParams, reference: Word2VecParams, pairs: Sequence[float] = ()) -> float:
        """Training cost of ``params`` relative to ``reference`` on the same corpus (``pairs``) and epochs."""
        return self.cost(params, pairs) / self.cost(reference, pairs)


def pairs_per_token(window: int, pairs: Sequence[float] = ()) -> float:
    """Mean (centre, context) pairs per token of ``window`` on a corpus of context ``pairs`` per token of
    windows 1, 2, ... (:func:`context_pairs`); window + 1 (long sentences) where ``pairs`` does not reach."""
    return pairs[window - 1] if window <= len(pairs) else window + 1


def context_pairs(chunk_lengths: Mapping[int, int], windows: int) -> tuple[float, ...]:
    """Mean (centre, context) pairs per token that gensim's skip-gram trains with window 1, 2, ...,
    ``windows`` on sentences of the given lengths (``{length: count}``, e.g.
    :attr:`songvec.training.TokenChunks.chunk_lengths`).

    At each position gensim draws the window w uniformly in 1..window and pairs the token with up to w
    neighbours on each side; a sentence of n tokens has, for one w and m = min(w, n), 2 (m (m-1) / 2 +
    (n - m) w) pairs. In long sentences the mean is window + 1. (Frequent-song down-sampling, which drops
    tokens before the windows are taken, is left out.)
    """
    lengths = np.array(list(chunk_lengths), dtype=np.float64)
    counts = np.array([chunk_lengths[n] for n in chunk_lengths], dtype=np.float64)
    tokens = float((lengths * counts).sum())
    if tokens == 0:
        raise ValueError("context_pairs: the sentences hold no token")
    pairs, total = [], 0.0
    for w in range(1, windows + 1):
        m = np.minimum(w, lengths)
        total += float((counts * 2 * (m * (m - 1) / 2 + (lengths - m) * w)).sum())
        pairs.append(total / w / tokens)
    return tuple(pairs)


class TrialInfeasible(Exception):
    """Raised by an HPO ``evaluate`` when a configuration violates a constraint (e.g. the time budget).

    ``reason`` is stored with the trial; ``violation`` (> 0) says how far the constraint is
    exceeded (e.g. 0.3 for 30% over the time budget) and orders infeasible trials for the sampler.
    """

    def __init__(self, reason: str, violation: float = 1.0):
        if not violation > 0:
            raise ValueError(f"TrialInfeasible violation must be > 0, got {violation!r}")
        super().__init__(reason)
        self.reason = reason
        self.violation = float(violation)


class OverTimeBudget(RuntimeError):
    """Training was stopped because its projected time exceeds the time budget.

    Attributes (seconds): ``projected_seconds`` (projected train() time for all epochs),
    ``budget_seconds``, ``elapsed_seconds`` (spent when stopped), and ``epochs_completed``.
    """

    def __init__(self, projected_seconds: float, budget_seconds: float, elapsed_seconds: float,
                 epochs_completed: int):
        super().__init__(
            f"projected training time {projected_seconds:.3g}s exceeds the budget of "
            f"{budget_seconds:.3g}s (stopped after {epochs_completed} epoch(s), {elapsed_seconds:.3g}s)")
        self.projected_seconds = projected_seconds
        self.budget_seconds = budget_seconds
        self.elapsed_seconds = elapsed_seconds
        self.epochs_completed = epochs_completed

    def __reduce__(self):  # picklable with its attributes (e.g. across worker processes)
        return type(self), (self.projected_seconds, self.budget_seconds, self.elapsed_seconds,
                            self.epochs_completed)

    def as_infeasible(self) -> TrialInfeasible:
        """The trial outcome: infeasible, violating the budget by the projected overrun."""
        return TrialInfeasible(str(self), violation=self.projected_seconds / self.budget_seconds - 1)


def epochs_within_budget(params: Word2VecParams, reference: Word2VecParams, epochs: int,
                         budget_factor: float, model: CostModel = CostModel(), pairs: Sequence[float] = ()) -> int:
    """Most epochs, at most ``epochs``, that ``params`` can train in ``budget_factor`` times the time of
    ``reference`` trained for ``epochs`` (by ``model``'s relative cost on a corpus of context ``pairs``); 0
    when even one epoch is over.

    For example with 5 epochs and a factor 1.25, a configuration 2x costlier per epoch gets 3 epochs
    (1.2x the reference's time) and one 7x costlier gets 0. Cheaper ones keep ``epochs``.
    """
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not budget_factor > 0:
        raise ValueError(f"budget_factor must be > 0, got {budget_factor!r}")
    return _affordable_epochs(model.relative(params, reference, pairs), epochs, budget_factor)


def _affordable_epochs(relative: float, epochs: int, budget_factor: float) -> int:
    """Most epochs, at most ``epochs``, of a training ``relative`` x the reference's time per epoch that fit
    in ``budget_factor`` x the reference's ``epochs``."""
    return int(min(epochs, math.floor(epochs * budget_factor / relative + 1e-9)))


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """How one configuration trains: ``epochs`` (None: a model whose settings have no epochs the budget may
    scale, :mod:`songvec.models`), and ``budget_seconds`` to enforce on ``clock`` (a key of :data:`CLOCKS`)
    while it trains (None: not held to a measured budget, as the reference configuration itself, or every
    configuration when the cost model alone decides)."""

    epochs: int | None
    budget_seconds: float | None
    clock: str = "cpu"


@dataclasses.dataclass(frozen=True)
class TimeBudget:
    """The per-trial training-time budget: ``factor`` x the training time of the ``reference``
    configuration (the defaults), ``reference_seconds`` as measured on the CPU or wall clock.

    ``clock`` (one of :data:`TIME_MEASURES`): ``model`` decides feasibility by ``cost_model`` alone, before
    training, and holds no training to a measured time (the same decision on any machine and load);
    ``cpu`` / ``wall`` hold every training to ``factor`` x ``reference_seconds`` on that clock.

    ``constraint`` (one of :data:`CONSTRAINTS`): ``reject`` trains every configuration for the full
    epochs; ``scale_epochs`` trains a costlier one for as many epochs as :func:`epochs_within_budget`
    affords (infeasible when not even one). ``prediction_margin`` (``cpu`` / ``wall`` only): a
    configuration whose predicted time exceeds margin x the budget is infeasible without training; None
    turns this off (``model`` needs no margin: it rejects whatever is predicted over the budget).
    ``pairs``: the context pairs per token of windows 1, 2, ... on the training corpus
    (:func:`context_pairs`; empty: window + 1), so that costs are relative on the same data.

    Another model than the reference's is held to the same budget (equal training cost, README "Models"):
    ``relative`` then predicts a configuration's training time as a multiple of the reference's, by the two
    models' cost models in the same unit (:func:`songvec.models.time_budget`), and ``reference`` is None: none
    of its configurations is the reference. Everything else (``clock``, ``constraint``, the margin) applies
    unchanged.
    """

    reference: Word2VecParams | None
    reference_seconds: float
    factor: float = 1.25
    clock: str = "cpu"
    constraint: str = "reject"
    prediction_margin: float | None = None
    cost_model: CostModel = CostModel()
    pairs: tuple[float, ...] = ()
    relative: Callable[[Any], float] | None = None

    def __post_init__(self):
        if self.clock not in TIME_MEASURES:
            raise ValueError(f"time budget clock must be one of {TIME_MEASURES}, got {self.clock!r}")
        if self.constraint not in CONSTRAINTS:
            raise ValueError(f"time constraint must be one of {CONSTRAINTS}, got {self.constraint!r}")
        for name in ("reference_seconds", "factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"time budget {name} must be > 0, got {getattr(self, name)!r}")
        if self.prediction_margin is not None and not self.prediction_margin > 0:
            raise ValueError(f"prediction_margin must be > 0 or None, got {self.prediction_margin!r}")
        if self.reference is None and self.relative is None:
            raise ValueError("a time budget needs the reference configuration or a relative cost")

    @classmethod
    def from_config(cls, hpo: Mapping[str, Any], reference: Word2VecParams, reference_record: Mapping[str, Any],
                    chunk_lengths: Mapping[int, int] | None = None) -> "TimeBudget":
        """The budget of config section ``hpo`` for the ``reference`` configuration, whose training
        record (:func:`songvec.training.save_model`'s JSON) holds its measured seconds (with
        ``time_measure: model`` its CPU seconds, only to state predictions in seconds), on a training
        corpus of sentences of ``chunk_lengths`` (``{length: count}``; None: long sentences)."""
        measure = hpo["time_measure"]
        if measure not in TIME_MEASURES:
            raise ValueError(f"config key 'hpo.time_measure' must be one of {TIME_MEASURES}, got {measure!r}")
        seconds = reference_record[CLOCKS["cpu" if measure == "model" else measure].record_key]
        windows = max(hpo["search_space"]["window"]["high"], reference.window)
        pairs = () if chunk_lengths is None else context_pairs(chunk_lengths, windows)
        return cls(reference, float(seconds), hpo["time_budget_factor"], measure, hpo["time_constraint"],
                   hpo["prediction_margin"], CostModel(**hpo["cost_model"]), pairs)

    @property
    def seconds(self) -> float:
        """The budget of one trial's training, in seconds (predicted ones with ``clock`` ``model``)."""
        return self.factor * self.reference_seconds

    def relative_time(self, params) -> float:
        """Predicted training time of ``params`` (for the reference's epochs) / the reference's."""
        if self.relative is not None:
            return self.relative(params)
        return self.cost_model.relative(params, self.reference, self.pairs)

    def _epochs_and_cost(self, params, epochs: int | None) -> tuple[int | None, float]:
        """The epochs ``params`` trains (0: not even one fits, with ``scale_epochs``; None: a model without
        epochs to scale) and its predicted training time as a multiple of the budget (for one epoch when
        none fits)."""
        relative = self.relative_time(params)
        if epochs is None:
            return None, relative / self.factor
        trained = epochs
        if self.constraint == "scale_epochs":
            trained = _affordable_epochs(relative, epochs, self.factor)
        return trained, relative * max(trained, 1) / (epochs * self.factor)

    def predicted_violation(self, params, epochs: int | None) -> float:
        """How far the cost model puts ``params`` (trained as :meth:`plan` would) over the budget:
        predicted time / budget - 1, > 0 exactly when the cost model says it does not fit (with
        ``scale_epochs``: not even one epoch). :meth:`plan` exempts the reference itself."""
        trained, predicted = self._epochs_and_cost(params, epochs)
        if self.constraint == "scale_epochs":
            return max(predicted - 1, 1e-9) if trained == 0 else min(predicted - 1, 0.0)
        return predicted - 1

    def violation_predictor(self, epochs: int | None,
                            parse: Callable[[Mapping[str, Any]], Any] | None = None) -> Callable[[Mapping[str, Any]], float]:
        """:meth:`predicted_violation` of a parameter dict, for the HPO engine's constraint-aware sampling
        (:mod:`songvec.hpo.sampling`); ``parse`` turns the dict into the model's parameters
        (:meth:`songvec.models.base.Model.parse_params`; None: ``Word2VecParams`` fields)."""
        if parse is None:
            from songvec.training import Word2VecParams

            parse = lambda params: Word2VecParams(**params)  # noqa: E731
        return lambda params: self.predicted_violation(parse(params), epochs)

    def plan(self, params, epochs: int | None) -> TrialPlan:
        """How ``params`` trains when the reference trains ``epochs`` epochs (None: a model without epochs
        to scale); raises :class:`TrialInfeasible` when the cost model already rules it out."""
        if self.reference is not None and params == self.reference:
            return TrialPlan(epochs, None)
        trained, predicted = self._epochs_and_cost(params, epochs)
        budget = self.seconds
        if trained == 0:
            cost = self.relative_time(params)
            raise TrialInfeasible(f"one epoch costs {cost:.3g} x the reference's, more than the budget of "
                                  f"{self.factor:.3g} x its {epochs} epochs", violation=max(predicted - 1, 1e-9))
        if self.clock == "model":
            if self.constraint == "reject" and predicted > 1:
                raise TrialInfeasible(f"the cost model predicts {predicted * self.factor:.3g} x the reference's "
                                      f"training time, over the budget of {self.factor:.3g} x",
                                      violation=predicted - 1)
            return TrialPlan(trained, None)
        if self.prediction_margin is not None and predicted > self.prediction_margin:
            raise TrialInfeasible(f"predicted training time {predicted * budget:.3g}s exceeds "
                                  f"{self.prediction_margin:g} x the budget of {budget:.3g}s",
                                  violation=max(predicted - 1, 1e-9))
        return TrialPlan(trained, budget, self.clock)

    def describe(self) -> str:
        if self.reference is None:
            measured = "" if self.clock == "model" else \
                f", and held to {self.seconds:.2f} {self.clock} seconds while it trains"
            return (f"budget {self.factor:g} x the reference's training time ({self.reference_seconds:.2f} "
                    f"{'CPU' if self.clock == 'model' else self.clock} seconds measured): each configuration's time "
                    f"is predicted by its model's cost model against the reference's{measured} ({self.constraint})")
        if self.clock == "model":
            pairs = self.pairs[self.reference.window - 1] if self.reference.window <= len(self.pairs) else None
            return (f"budget {self.factor:g} x the reference's training cost by the cost model {self.cost_model}, "
                    f"{'long sentences' if pairs is None else f'{pairs:.3g} context pairs per token at its window'} "
                    f"(reference: {self.reference_seconds:.2f} CPU seconds measured; {self.constraint})")
        return (f"reference training {self.reference_seconds:.2f} {self.clock} seconds, budget "
                f"{self.seconds:.2f}s per trial ({self.constraint})")
