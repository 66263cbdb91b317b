"""The time constraint of HPO trials (paper 4.7), in one place and free of Optuna.

A trial may train for at most ``factor`` times the measured training time of the reference (default)
configuration (config ``hpo.time_budget_factor``, ``time_measure``, ``time_constraint``,
``prediction_margin``). :class:`TimeBudget` decides, before any training, how many epochs a
configuration trains and whether it is infeasible by the cost model (:func:`relative_cost`);
:func:`songvec.training.train_word2vec` enforces the budget while it trains, on a :class:`Clock`, and
raises :class:`OverTimeBudget`. An infeasible configuration is reported to the HPO engine as
:class:`TrialInfeasible`. The README ("Choices where the paper is silent") says why each default.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from songvec.training import Word2VecParams

CONSTRAINTS = ("reject", "scale_epochs")
"""``reject``: a configuration over the budget is infeasible; ``scale_epochs``: it trains fewer epochs."""
CONFIG_KEYS = ("time_budget_factor", "time_constraint", "time_measure", "prediction_margin")
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


def relative_cost(params: Word2VecParams, reference: Word2VecParams) -> float:
    """Training cost of ``params`` relative to ``reference`` on the same corpus and epochs.

    Skip-gram with negative sampling trains, per token, about ``window + 1`` context pairs (gensim
    shrinks the window at random to 1..window on each side), each a dot product and update with
    ``negative + 1`` vectors of ``vector_size`` floats: cost ~ (window + 1)(negative + 1) vector_size.
    The learning rate and the sampling exponent do not change the cost.
    """
    def cost(p: Word2VecParams) -> float:
        return (p.window + 1) * (p.negative + 1) * p.vector_size

    return cost(params) / cost(reference)


def epochs_within_budget(params: Word2VecParams, reference: Word2VecParams, epochs: int,
                         budget_factor: float) -> int:
    """Most epochs, at most ``epochs``, that ``params`` can train in ``budget_factor`` times the time of
    ``reference`` trained for ``epochs`` (by :func:`relative_cost`); 0 when even one epoch is over.

    For example with 5 epochs and a factor 1.25, a configuration 2x costlier per epoch gets 3 epochs
    (1.2x the reference's time) and one 7x costlier gets 0. Cheaper ones keep ``epochs``.
    """
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not budget_factor > 0:
        raise ValueError(f"budget_factor must be > 0, got {budget_factor!r}")
    return _affordable_epochs(relative_cost(params, reference), epochs, budget_factor)


def _affordable_epochs(relative: float, epochs: int, budget_factor: float) -> int:
    """Most epochs, at most ``epochs``, of a training ``relative`` x the reference's time per epoch that fit
    in ``budget_factor`` x the reference's ``epochs``."""
    return int(min(epochs, math.floor(epochs * budget_factor / relative + 1e-9)))


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """How one configuration trains: ``epochs`` (None: a model whose epochs are not a setting the budget
    may scale, :mod:`songvec.models`), and ``budget_seconds`` to enforce on the budget's clock while it
    trains (None: not held to the budget, as the reference configuration itself)."""

    epochs: int | None
    budget_seconds: float | None


@dataclasses.dataclass(frozen=True)
class TimeBudget:
    """The per-trial training-time budget: ``factor`` x ``reference_seconds``, the training time of
    the ``reference`` configuration (the defaults) measured on ``clock`` (a key of :data:`CLOCKS`).

    ``constraint`` (one of :data:`CONSTRAINTS`): ``reject`` trains every configuration for the full
    epochs and holds it to the budget; ``scale_epochs`` trains a costlier one for as many epochs as
    :func:`epochs_within_budget` affords (infeasible when not even one). ``prediction_margin``: a
    configuration whose predicted time (:func:`relative_cost` x ``reference_seconds``, for the epochs
    it trains) exceeds margin x the budget is infeasible without training; None turns this off.

    Another model than the reference's is held to the same budget (equal training cost, README "Models"):
    ``relative`` then predicts a configuration's training time as a multiple of the reference's
    (:func:`songvec.models.time_budget`), and ``reference`` is None: none of its configurations is the
    reference.
    """

    reference: Word2VecParams | None
    reference_seconds: float
    factor: float = 1.25
    clock: str = "cpu"
    constraint: str = "reject"
    prediction_margin: float | None = None
    relative: Callable[[Any], float] | None = None

    def __post_init__(self):
        if self.clock not in CLOCKS:
            raise ValueError(f"time budget clock must be one of {sorted(CLOCKS)}, got {self.clock!r}")
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
    def from_config(cls, hpo: Mapping[str, Any], reference: Word2VecParams,
                    reference_record: Mapping[str, Any]) -> "TimeBudget":
        """The budget of config section ``hpo`` for the ``reference`` configuration, whose training
        record (:func:`songvec.training.save_model`'s JSON) holds its measured seconds."""
        clock = hpo["time_measure"]
        if clock not in CLOCKS:
            raise ValueError(f"config key 'hpo.time_measure' must be one of {sorted(CLOCKS)}, got {clock!r}")
        return cls(reference, float(reference_record[CLOCKS[clock].record_key]), hpo["time_budget_factor"],
                   clock, hpo["time_constraint"], hpo["prediction_margin"])

    @property
    def seconds(self) -> float:
        """The budget of one trial's training, in seconds on :attr:`clock`."""
        return self.factor * self.reference_seconds

    def relative_time(self, params) -> float:
        """Predicted training time of ``params`` (for the reference's epochs) / the reference's."""
        return self.relative(params) if self.relative is not None else relative_cost(params, self.reference)

    def plan(self, params, epochs: int | None) -> TrialPlan:
        """How ``params`` trains when the reference trains ``epochs`` epochs (None: a model without
        epochs to scale); raises :class:`TrialInfeasible` when the cost model already rules it out."""
        if self.reference is not None and params == self.reference:
            return TrialPlan(epochs, None)
        budget = self.seconds
        factor = budget / self.reference_seconds
        trained = epochs
        if self.constraint == "scale_epochs" and epochs is not None:
            trained = _affordable_epochs(self.relative_time(params), epochs, factor)
            if trained == 0:
                cost = self.relative_time(params)
                raise TrialInfeasible(f"one epoch costs {cost:.3g} x the reference's, more than the budget of "
                                      f"{factor:.3g} x its {epochs} epochs",
                                      violation=cost / (epochs * budget / self.reference_seconds) - 1)
        if self.prediction_margin is not None:
            share = 1.0 if epochs is None else trained / epochs
            predicted = self.relative_time(params) * self.reference_seconds * share
            if predicted > self.prediction_margin * budget:
                raise TrialInfeasible(f"predicted training time {predicted:.3g}s exceeds {self.prediction_margin:g} x "
                                      f"the budget of {budget:.3g}s",
                                      violation=max(predicted / budget - 1, 1e-9))
        return TrialPlan(trained, budget)

    def describe(self) -> str:
        return (f"reference training {self.reference_seconds:.2f} {self.clock} seconds, budget "
                f"{self.seconds:.2f}s per trial ({self.constraint})")
