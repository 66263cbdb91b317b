"""Word2Vec with negative sampling: skip-gram (the paper's model) and CBOW, both gensim's.

Both train with :func:`songvec.training.train_word2vec` on the config's ``word2vec`` settings (epochs,
down-sampling, one worker...) and tune the same five hyper-parameters (:class:`Word2VecParams`, Table 3).
Their work per token and epoch (:attr:`~songvec.models.base.Model.work`), where P(window) is the mean
(centre, context) pairs per token on the corpus (:func:`songvec.time_budget.context_pairs`; window + 1 in
long sequences):

- skip-gram: each of P(window) pairs is trained against negative + 1 output vectors of d floats, the
  terms of :class:`songvec.time_budget.CostModel` (config ``hpo.cost_model``);
- CBOW: the mean of the P(window) context vectors is trained against negative + 1 output vectors, and its
  gradient added back to each context vector: P(window) d (``per_context_dim``) plus (negative + 1) d
  (``per_sample_dim``) and negative + 1 (``per_sample``), plus ``per_token`` (config
  ``model_config.word2vec_cbow.cost_model``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from songvec.models.base import Model
from songvec.time_budget import CostModel, context_pairs, pairs_per_token
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams, train_word2vec


def _train(architecture: str, corpus: TokenChunks, params: Word2VecParams, settings: TrainingSettings, *,
           budget_seconds: float | None = None, clock: str = "cpu", logger=None):
    return train_word2vec(corpus, params, settings, time_budget_seconds=budget_seconds, budget_clock=clock,
                          architecture=architecture, logger=logger)


def _statistics(corpus: TokenChunks, settings, largest: Mapping[str, float]) -> dict[str, Any]:
    """``tokens`` and ``pairs``, the context pairs per token of windows 1 to the largest (gensim's sentences:
    the corpus' chunks)."""
    return {"tokens": corpus.n_tokens, "pairs": context_pairs(corpus.chunk_lengths, int(largest["window"]))}


def _skipgram_work(params: Word2VecParams, settings: TrainingSettings, statistics: Mapping[str, Any]) -> dict:
    passes = statistics["tokens"] * settings.epochs
    return {name: amount * passes for name, amount in CostModel.terms(params, statistics["pairs"]).items()}


def _cbow_work(params: Word2VecParams, settings: TrainingSettings, statistics: Mapping[str, Any]) -> dict:
    passes = statistics["tokens"] * settings.epochs
    context, samples = pairs_per_token(params.window, statistics["pairs"]), params.negative + 1
    return {"per_context_dim": context * params.vector_size * passes,
            "per_sample_dim": samples * params.vector_size * passes, "per_sample": samples * passes,
            "per_token": passes}


WORD2VEC_SG = Model(
    name="word2vec_sg", kind="embedding", params=Word2VecParams, settings=TrainingSettings,
    train=partial(_train, "skipgram"), work=_skipgram_work, statistics=_statistics,
    cost_terms=("per_sample_dim", "per_sample", "per_token"),
    summary="skip-gram Word2Vec with negative sampling (gensim), the paper's model")
WORD2VEC_CBOW = Model(
    name="word2vec_cbow", kind="embedding", params=Word2VecParams, settings=TrainingSettings,
    train=partial(_train, "cbow"), work=_cbow_work, statistics=_statistics,
    cost_terms=("per_context_dim", "per_sample_dim", "per_sample", "per_token"),
    summary="continuous bag of words Word2Vec with negative sampling (gensim): the mean of the context "
            "predicts the song")
