"""Song embeddings and next-song baselines behind one interface (README, "Models").

Every model (:class:`~songvec.models.base.Model`) takes the training sequences and its hyper-parameters and
returns song vectors (``embedding``) or a ranking of next songs (``ranking``), with a training record; the
evaluation (:mod:`songvec.evaluation`), the HPO engine, the time budget and the tables work on any of them.

========================  =========  ===================================================================
name                      kind       module
========================  =========  ===================================================================
``word2vec_sg``           embedding  :mod:`songvec.models.word2vec` (the paper's model, the reference)
``word2vec_cbow``         embedding  :mod:`songvec.models.word2vec`
``sppmi_svd``             embedding  :mod:`songvec.models.sppmi_svd`
``glove``                 embedding  :mod:`songvec.models.glove`
``popularity``            ranking    :mod:`songvec.models.baselines`
``transitions``           ranking    :mod:`songvec.models.baselines`
========================  =========  ===================================================================

Config: ``models`` lists the models a run compares; ``word2vec_sg`` takes its defaults from
``word2vec.defaults``, its search space from ``hpo.search_space`` and its settings from ``word2vec`` (the
paper's) and its cost model from ``hpo.cost_model``, every other model from ``model_config.<name>``
(``defaults``, ``search_space``, ``settings``, ``cost_model``; CBOW shares the ``word2vec`` settings). :func:`options` reads them in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from songvec import atomic
from songvec.models.base import KINDS, Model, Vocabulary
from songvec.models.baselines import POPULARITY, TRANSITIONS, Ranking, TrainedRanking
from songvec.models.glove import GLOVE
from songvec.models.sppmi_svd import SPPMI_SVD
from songvec.models.word2vec import WORD2VEC_CBOW, WORD2VEC_SG
from songvec.time_budget import TimeBudget
from songvec.training import TokenChunks, TrainedModel, Word2VecParams, save_model

PAPER_MODEL = "word2vec_sg"
"""The paper's model: the reference of the time budget and of the models table's significance marks."""
MODELS: dict[str, Model] = {model.name: model for model in
                            (WORD2VEC_SG, WORD2VEC_CBOW, SPPMI_SVD, GLOVE, POPULARITY, TRANSITIONS)}
ARTIFACTS = {"embedding": "vectors.kv", "ranking": "ranking.npz"}
"""The file a trained model of each kind is saved to, in ``models/<setting>/seed-<s>/``."""

__all__ = ["ARTIFACTS", "KINDS", "MODELS", "PAPER_MODEL", "Model", "ModelOptions", "Ranking", "TrainedRanking",
           "Vocabulary", "get", "load_ranking", "options", "save"]


def get(name: str) -> Model:
    """The model called ``name``; ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the models: {', '.join(MODELS)}")
    return MODELS[name]


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """A model's part of the config: ``defaults`` (hyper-parameter -> value), ``search_space`` (as
    ``hpo.search_space``; empty: nothing to tune), ``settings`` (the fixed ones, the section its
    settings class reads) and ``cost_model`` (coefficient -> CPU nanoseconds per unit of its
    :attr:`~songvec.models.base.Model.work`)."""

    name: str
    defaults: Mapping[str, Any]
    search_space: Mapping[str, Mapping[str, Any]]
    settings: Mapping[str, Any]
    cost_model: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def model(self) -> Model:
        return get(self.name)

    @property
    def tunable(self) -> bool:
        return bool(self.search_space)

    def default_params(self):
        return self.model.parse_params(self.defaults, f"config key '{self.defaults_key}'")

    @property
    def defaults_key(self) -> str:
        return "word2vec.defaults" if self.name == PAPER_MODEL else f"model_config.{self.name}.defaults"

    def training_settings(self, seed: int, workers: int | None = None):
        """The model's settings object for a training seeded ``seed`` with ``workers`` threads (the calling
        rule's; None: the config's, where it has a number of threads)."""
        return self.model.settings.from_config(self.settings, seed, workers)

    def largest(self) -> dict[str, float]:
        """Hyper-parameter -> the largest value a study can ask for (its default or its range's top)."""
        return {name: max(value, self.search_space.get(name, {}).get("high", value))
                for name, value in self.defaults.items()}

    def predicted_seconds(self, params, settings, statistics: Mapping[str, Any]) -> float:
        """Predicted CPU seconds of training ``params`` (:meth:`~songvec.models.base.Model.predicted_seconds`
        with :attr:`cost_model`)."""
        return self.model.predicted_seconds(params, settings, statistics, self.cost_model)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "defaults": dict(self.defaults), "search_space": dict(self.search_space),
                "settings": dict(self.settings), "cost_model": dict(self.cost_model)}


def options(config: Mapping[str, Any], name: str) -> ModelOptions:
    """The :class:`ModelOptions` of model ``name`` in the workflow ``config``."""
    get(name)
    if name == PAPER_MODEL:
        word2vec = config["word2vec"]
        return ModelOptions(name, word2vec["defaults"], config["hpo"]["search_space"],
                            {k: v for k, v in word2vec.items() if k != "defaults"}, config["hpo"]["cost_model"])
    section = config["model_config"][name]
    settings = {k: v for k, v in config["word2vec"].items() if k != "defaults"} if name == "word2vec_cbow" else \
        section.get("settings", {})
    return ModelOptions(name, section.get("defaults", {}), section.get("search_space", {}), settings,
                        section.get("cost_model", {}))


def time_budget(found: ModelOptions, reference: ModelOptions, hpo: Mapping[str, Any],
                reference_record: Mapping[str, Any], corpus: TokenChunks, settings=None) -> TimeBudget:
    """The time budget of a study of the model of ``found`` on the training sequences ``corpus``:
    ``hpo.time_budget_factor`` x the training time of ``reference``'s defaults (the skip-gram's, whose
    training record is ``reference_record``), whatever the model (equal training cost, README "Models").

    For the skip-gram itself this is :meth:`TimeBudget.from_config`. Another model's configuration (trained
    with its ``settings``) is predicted to take its cost model's seconds over the reference's by the skip-gram
    cost model (``hpo.cost_model``), both in CPU nanoseconds per unit of work fitted on the same machine
    (``benchmarks/bench_cost_model.py``): a deterministic ratio, so that with ``time_measure: model`` the
    decision is the same on any machine and under any load, as the skip-gram's; with ``cpu`` or ``wall`` a
    training is also held to the skip-gram trials' measured seconds.
    """
    defaults = Word2VecParams(**reference.defaults)
    budget = TimeBudget.from_config(hpo, defaults, reference_record, corpus.chunk_lengths)
    if found.name == reference.name:
        return budget
    reference_seconds = reference.predicted_seconds(
        defaults, reference.training_settings(seed=0, workers=1),
        reference.model.statistics(corpus, None, {"window": defaults.window}))
    statistics = found.model.statistics(corpus, settings, found.largest())

    def relative(params) -> float:
        return found.predicted_seconds(params, settings, statistics) / reference_seconds

    return dataclasses.replace(budget, reference=None, relative=relative)


def save(trained: TrainedModel | TrainedRanking, path, record_path) -> None:
    """Write a trained model (its :data:`ARTIFACTS` file at ``path``) and its JSON record, atomically."""
    if isinstance(trained, TrainedRanking):
        trained.ranking.save(path)
        atomic.write_json(record_path, trained.record)
    else:
        save_model(path, trained, record_path)


def load_ranking(path) -> Ranking:
    return Ranking.load(Path(path))
