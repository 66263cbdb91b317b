"""The objectives a study maximises, computed from a trial's metrics (paper eq. 1-2, Table 4 rows).

``HitRate``, ``VRCGenre``, ``VRCArtist`` and the scalarisations ``lambdaGenre(a)`` / ``lambdaArtist(a)``
= a * HitRate + (1 - a) * rVRC. Free of Optuna: config validation, tables and figures parse objective
names without it; the HPO engine (:mod:`songvec.hpo`) turns metrics into study values with it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

Metrics = Mapping[str, float]

METRIC_KEYS = {"HitRate": "hitrate", "VRCGenre": "vrc_genre", "VRCArtist": "vrc_artist"}
"""Objective metric -> key of the metrics dict (:func:`songvec.evaluation.evaluate_embedding`)."""
VALID_OBJECTIVE_FORMS = ("HitRate", "VRCGenre", "VRCArtist", "lambdaGenre(a)", "lambdaArtist(a)")
PAPER_OBJECTIVES = ("HitRate", "VRCGenre", "VRCArtist", "lambdaGenre(0.01)", "lambdaGenre(0.1)", "lambdaArtist(0.01)",
                    "lambdaArtist(0.1)")
"""The objectives of the paper's Table 4, in its order (config.yaml's default ``hpo.objectives``)."""
_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_LAMBDA = re.compile(rf"^(?:lambda|λ)(Genre|Artist)(?:\(({_NUMBER})\)|-({_NUMBER}))$")


@dataclasses.dataclass(frozen=True)
class Objective:
    """A maximised objective computed from a trial's metrics.

    ``metric`` is "HitRate", "VRCGenre" or "VRCArtist". With ``alpha`` (only for the VRC
    metrics) the objective is the scalarisation of paper eq. 2:
    ``alpha * HitRate + (1 - alpha) * rVRC`` with ``rVRC = (VRC - VRC_default) / VRC_default``
    (eq. 1), where VRC_default is the metric of the default configuration.
    Metric keys: "hitrate" (the caller's average of in-set and out-of-set HitRate), "vrc_genre",
    "vrc_artist".
    """

    metric: str
    alpha: float | None = None
    direction = "maximize"

    def __post_init__(self):
        if self.metric not in METRIC_KEYS:
            raise ValueError(f"unknown objective metric {self.metric!r}; valid: {list(METRIC_KEYS)}")
        if self.alpha is not None:
            if self.metric == "HitRate":
                raise ValueError("a lambda objective combines HitRate with VRCGenre or VRCArtist")
            if not 0.0 <= self.alpha <= 1.0:
                raise ValueError(f"lambda weight alpha must be in [0, 1], got {self.alpha}")

    @classmethod
    def parse(cls, name: str) -> "Objective":
        """Parse "HitRate", "VRCGenre", "VRCArtist", "lambdaGenre(0.01)", "lambdaArtist(0.1)";
        the file-safe form "lambdaGenre-0.01" (:attr:`study_name`) and "λ" are accepted too."""
        if name in METRIC_KEYS:
            return cls(name)
        match = _LAMBDA.match(name) if isinstance(name, str) else None
        if match is None:
            raise ValueError(f"unknown objective {name!r}; valid forms: "
                             f"{', '.join(VALID_OBJECTIVE_FORMS)} with a in [0, 1]")
        clustering, alpha = match.group(1), float(match.group(2) or match.group(3))
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"objective {name!r}: alpha must be in [0, 1], got {alpha}")
        return cls(f"VRC{clustering}", alpha)

    @property
    def name(self) -> str:
        """Canonical name, e.g. "HitRate" or "lambdaGenre(0.01)" (``parse(name)`` round-trips)."""
        if self.alpha is None:
            return self.metric
        return f"lambda{self.metric[3:]}({self.alpha!r})"

    @property
    def study_name(self) -> str:
        """File-name-safe form: "lambdaGenre-0.01"."""
        return self.name.replace("(", "-").replace(")", "")

    @property
    def needs(self) -> str | None:
        """The labels the objective needs in the data: ``"genres"``, ``"artists"`` or None (HitRate)."""
        return {"VRCGenre": "genres", "VRCArtist": "artists"}.get(self.metric)

    @property
    def needs_default_metrics(self) -> bool:
        return self.alpha is not None

    def value(self, metrics: Metrics, default_metrics: Metrics | None = None) -> float:
        """The objective for a trial's ``metrics`` (``default_metrics`` only for lambda)."""
        key = METRIC_KEYS[self.metric]
        own = _metric(metrics, key, self.name, "trial")
        if self.alpha is None:
            return own
        if default_metrics is None:
            raise ValueError(f"objective {self.name} needs the default configuration's metrics")
        default = _metric(default_metrics, key, self.name, "default configuration")
        if not default > 0:
            raise ValueError(f"objective {self.name}: default {key} must be > 0 to compute the "
                             f"relative improvement, got {default}")
        hitrate = _metric(metrics, "hitrate", self.name, "trial")
        return self.alpha * hitrate + (1.0 - self.alpha) * (own - default) / default


def as_objective(objective: Objective | str) -> Objective:
    """``objective`` itself, or the :class:`Objective` its name parses to."""
    return objective if isinstance(objective, Objective) else Objective.parse(objective)


def _metric(metrics: Metrics, key: str, objective: str, whose: str) -> float:
    if key not in metrics:
        raise ValueError(f"objective {objective} needs metric {key!r}; the {whose} metrics "
                         f"have {sorted(metrics)}")
    return float(metrics[key])
