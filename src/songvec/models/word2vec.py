"""Word2Vec with negative sampling: skip-gram (the paper's model) and CBOW, both gensim's.

Both train with :func:`songvec.training.train_word2vec` on the config's ``word2vec`` settings (epochs,
down-sampling, one worker...) and tune the same five hyper-parameters (:class:`Word2VecParams`, Table 3).
Their costs per token and epoch:

- skip-gram: each of about window + 1 (centre, context) pairs is trained against negative + 1 output
  vectors of d floats: (window + 1)(negative + 1) d (:func:`songvec.time_budget.relative_cost`);
- CBOW: the mean of about window + 1 context vectors is trained against negative + 1 output vectors, and
  its gradient added back to each context vector: (window + negative + 2) d.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from songvec.models.base import Model, no_statistics
from songvec.time_budget import relative_cost
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams, train_word2vec


def _train(architecture: str, corpus: TokenChunks, params: Word2VecParams, settings: TrainingSettings, *,
           budget_seconds: float | None = None, clock: str = "cpu", logger=None):
    return train_word2vec(corpus, params, settings, time_budget_seconds=budget_seconds, budget_clock=clock,
                          architecture=architecture, logger=logger)


def _skipgram_cost(params: Word2VecParams, settings: TrainingSettings, statistics: Mapping[str, Any]) -> float:
    return relative_cost(params, Word2VecParams()) * settings.epochs


def _cbow_cost(params: Word2VecParams, settings: TrainingSettings, statistics: Mapping[str, Any]) -> float:
    return (params.window + params.negative + 2) * params.vector_size * settings.epochs


WORD2VEC_SG = Model(
    name="word2vec_sg", kind="embedding", params=Word2VecParams, settings=TrainingSettings,
    train=partial(_train, "skipgram"), cost=_skipgram_cost, statistics=no_statistics,
    summary="skip-gram Word2Vec with negative sampling (gensim), the paper's model")
WORD2VEC_CBOW = Model(
    name="word2vec_cbow", kind="embedding", params=Word2VecParams, settings=TrainingSettings,
    train=partial(_train, "cbow"), cost=_cbow_cost, statistics=no_statistics,
    summary="continuous bag of words Word2Vec with negative sampling (gensim): the mean of the context "
            "predicts the song")
