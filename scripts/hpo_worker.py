"""One worker of one HPO study: train and evaluate configurations until the study is done (rule hpo_worker)."""

import json

from songvec import atomic, hpo
from songvec.evaluation import EvaluationData, EvaluationSettings, configuration_evaluator, scalar_metrics
from songvec.logs import logged
from songvec.sequences import SequenceFile
from songvec.training import RECORD_SECONDS, TrainingSettings, Word2VecParams

with logged(snakemake.log[0]) as log:
    inputs, options = snakemake.input, snakemake.params.hpo
    study = snakemake.wildcards.study
    worker = int(snakemake.wildcards.worker)
    default_metrics = scalar_metrics(json.load(open(inputs.default_metrics, encoding="utf-8")))
    clock = options["time_measure"]
    default_seconds = json.load(open(inputs.default_record, encoding="utf-8"))[RECORD_SECONDS[clock]]
    word2vec = snakemake.params.word2vec
    evaluate = configuration_evaluator(
        SequenceFile(inputs.train_masked, snakemake.params.batch_events),
        EvaluationData.load(inputs.in_set, inputs.out_of_set, inputs.genres, inputs.hard_negatives),
        EvaluationSettings.from_config(snakemake.params.evaluation, snakemake.params.seed),
        TrainingSettings.from_config(word2vec, snakemake.params.seed),
        time_budget_seconds=options["time_budget_factor"] * default_seconds,
        reference=(Word2VecParams(**word2vec["defaults"]), default_seconds),
        prediction_margin=options["prediction_margin"],
        budget_clock=clock,
        scale_epochs=options["time_constraint"] == "scale_epochs",
        logger=log,
    )
    space = {name: {**spec, "default": word2vec["defaults"][name]} for name, spec in options["search_space"].items()}
    common = dict(
        max_trials=options["max_trials"],
        space=hpo.SearchSpace.from_dict(space),
        n_random_trials=options["random_trials"],
        patience=options["patience"],
        enqueue_default=options["enqueue_default"],
        seed=snakemake.params.sampler_seed,
        worker_index=worker,
        heartbeat_interval=options["heartbeat_seconds"],
        # what a trial's metrics depend on besides its parameters: a study made with other settings
        # is not resumed (the worker stops and names the setting)
        evaluation_definition={"word2vec": {k: v for k, v in word2vec.items() if k != "workers"},
                               "evaluation": snakemake.params.evaluation,
                               "time": {k: options[k] for k in ("time_budget_factor", "time_constraint",
                                                                "time_measure", "prediction_margin")}},
        logger=log,
    )
    log.info("study %s, worker %d: default training took %.2f %s seconds, budget %.2fs per trial", study, worker,
             default_seconds, clock, options["time_budget_factor"] * default_seconds)
    if snakemake.params.objective == "pareto":
        hpo.run_pareto_worker(study, snakemake.params.storage, evaluate, default_metrics,
                              **common | {"max_trials": options["pareto"]["max_trials"]})
    else:
        hpo.run_study_worker(study, snakemake.params.storage, snakemake.params.objective, evaluate,
                             default_metrics, **common)
    summary = hpo.study_summary(hpo.load_study(study, snakemake.params.storage))
    atomic.write_json(snakemake.output[0], {"worker": worker, "study_at_exit": summary})
