"""The search space of a study (paper Table 3), as data (docs/hpo.md, "Search space").

:class:`SearchSpace` is built from the ``{name: {low, high, type, log, default}}`` mapping of config
``hpo.search_space``; :data:`PAPER_SEARCH_SPACE` is Table 3 with Word2Vec's defaults.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution


@dataclasses.dataclass(frozen=True)
class ParamRange:
    """One hyper-parameter: sampled in ``[low, high]`` (both included), as int or float.

    ``log``: sample uniformly in log space (needs ``low > 0``). ``default``: the library default
    (Word2Vec's), optional, used by ``enqueue_default``.
    """

    name: str
    low: float
    high: float
    type: str
    log: bool = False
    default: float | None = None

    def distribution(self) -> BaseDistribution:
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)


_RANGE_FIELDS = {"low", "high", "type", "log", "default"}


class SearchSpace:
    """The hyper-parameters tuned by a study, in a fixed order.

    Build it from config data with :meth:`from_dict`; :meth:`to_dict` gives the same data back.
    """

    def __init__(self, params: Sequence[ParamRange]):
        if not params:
            raise ValueError("search space is empty")
        self.params = tuple(params)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping[str, Any]]) -> "SearchSpace":
        """Parse ``{name: {"low": .., "high": .., "type": "int"|"float", "log": bool,
        "default": ..}}``; ``log`` (false) and ``default`` (none) are optional.

        Raises ValueError naming the parameter for: unknown fields, missing bounds, unknown
        type, ``low > high``, non-integer bounds of an int parameter, ``log`` with ``low <= 0``,
        a default outside ``[low, high]``.
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"search space must be a mapping of parameter name -> range, "
                             f"got {type(spec).__name__}")
        return cls([_parse_range(name, fields) for name, fields in spec.items()])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for p in self.params:
            fields: dict[str, Any] = {"low": p.low, "high": p.high, "type": p.type, "log": p.log}
            if p.default is not None:
                fields["default"] = p.default
            out[p.name] = fields
        return out

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample every parameter through ``trial`` and return ``{name: value}``."""
        params: dict[str, Any] = {}
        for p in self.params:
            if p.type == "int":
                params[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
            else:
                params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        return params

    def default_params(self) -> dict[str, Any]:
        """``{name: default}``; ValueError naming the parameters that have no default."""
        missing = [p.name for p in self.params if p.default is None]
        if missing:
            raise ValueError(f"search space parameters without a default: {missing}")
        return {p.name: (int(p.default) if p.type == "int" else float(p.default))
                for p in self.params}


def _parse_range(name: str, fields: Mapping[str, Any]) -> ParamRange:
    where = f"search space parameter {name!r}"
    if not isinstance(fields, Mapping):
        raise ValueError(f"{where}: expected a mapping with low/high/type, got {fields!r}")
    unknown = set(fields) - _RANGE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}; allowed {sorted(_RANGE_FIELDS)}")
    missing = {"low", "high", "type"} - set(fields)
    if missing:
        raise ValueError(f"{where}: missing fields {sorted(missing)}")
    kind, low, high = fields["type"], fields["low"], fields["high"]
    log_scale, default = fields.get("log", False), fields.get("default")
    if kind not in ("int", "float"):
        raise ValueError(f"{where}: type must be 'int' or 'float', got {kind!r}")
    if not isinstance(log_scale, bool):
        raise ValueError(f"{where}: log must be true or false, got {log_scale!r}")
    numbers = {"low": low, "high": high} | ({} if default is None else {"default": default})
    for field, value in numbers.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value):
            raise ValueError(f"{where}: {field} must be a finite number, got {value!r}")
        if kind == "int" and not float(value).is_integer():
            raise ValueError(f"{where}: {field} of an int parameter must be an integer, got {value!r}")
    if low > high:
        raise ValueError(f"{where}: low ({low}) > high ({high})")
    if log_scale and low <= 0:
        raise ValueError(f"{where}: log scale needs low > 0, got low={low}")
    if default is not None and not low <= default <= high:
        raise ValueError(f"{where}: default {default} outside [{low}, {high}]")
    cast = int if kind == "int" else float
    return ParamRange(name, cast(low), cast(high), kind, log_scale,
                      None if default is None else cast(default))


PAPER_SEARCH_SPACE = SearchSpace.from_dict({
    "vector_size": {"low": 25, "high": 200, "type": "int", "default": 100},
    "window": {"low": 1, "high": 40, "type": "int", "default": 5},
    "ns_exponent": {"low": -1.0, "high": 1.0, "type": "float", "default": 0.75},
    "negative": {"low": 1, "high": 100, "type": "int", "default": 5},
    "alpha": {"low": 0.001, "high": 0.1, "type": "float", "log": True, "default": 0.025},
})
"""Paper Table 3: gensim parameter names, ranges and Word2Vec defaults (alpha on a log scale)."""
