"""Train Word2Vec with the default or a study's best hyper-parameters (rule train_model)."""

import dataclasses

from songvec import atomic
from songvec.logs import logged
from songvec.sequences import SequenceFile
from songvec.training import TrainingSettings, Word2VecParams, save_model, train_word2vec

with logged(snakemake.log[0]) as log:
    word2vec = snakemake.params.word2vec
    settings = TrainingSettings.from_config(word2vec, int(snakemake.wildcards.seed), workers=snakemake.threads)
    if snakemake.input.params:
        best = atomic.read_json(snakemake.input.params[0])
        params = best["best_params"]
        # a study run with hpo.time_constraint: scale_epochs tuned its configurations at fewer epochs
        epochs = (best.get("best_metrics") or {}).get("epochs", settings.epochs)
        settings = dataclasses.replace(settings, epochs=int(epochs))
    else:
        params = word2vec["defaults"]
    train = SequenceFile(snakemake.input.train_masked, snakemake.params.batch_events)
    model = train_word2vec(train, Word2VecParams(**params), settings, logger=log)
    save_model(snakemake.output.vectors, model, snakemake.output.record)
