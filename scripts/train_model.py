"""Train a model (songvec.models: the paper's skip-gram Word2Vec or another) with its defaults or a study's best
hyper-parameters (rules train_model, train_baseline)."""

import dataclasses

from songvec import atomic, models
from songvec.logs import logged
from songvec.sequences import SequenceFile
from songvec.training import GENSIM_MAX_SENTENCE_TOKENS, TokenChunks

with logged(snakemake.log[0]) as log:
    options = models.ModelOptions(**snakemake.params.options)
    settings = options.training_settings(int(snakemake.wildcards.seed), workers=snakemake.threads)
    params = options.defaults
    if snakemake.input.params:
        best = atomic.read_json(snakemake.input.params[0])
        params = best["best_params"]
        # a study run with hpo.time_constraint: scale_epochs tuned its configurations at fewer epochs
        epochs = (best.get("best_metrics") or {}).get("epochs")
        if epochs is not None:
            settings = dataclasses.replace(settings, epochs=int(epochs))
    corpus = TokenChunks(SequenceFile(snakemake.input.train_masked, snakemake.params.batch_events),
                         getattr(settings, "max_sentence_tokens", GENSIM_MAX_SENTENCE_TOKENS), logger=log)
    trained = options.model.train(corpus, options.model.parse_params(params), settings, logger=log)
    models.save(trained, snakemake.output.model, snakemake.output.record)
