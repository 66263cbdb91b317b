"""One worker of one HPO study: train and evaluate configurations until the study is done (rule hpo_worker)."""

from songvec import atomic, hpo, models
from songvec.evaluation import EvaluationData, EvaluationSettings, configuration_evaluator, scalar_metrics
from songvec.logs import logged
from songvec.sequences import SequenceFile
from songvec.training import GENSIM_MAX_SENTENCE_TOKENS, TokenChunks

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    study, worker = params.study_name, int(snakemake.wildcards.worker)
    options = models.ModelOptions(**params.model)
    other = options.name != models.PAPER_MODEL  # another model than the paper's skip-gram
    training = options.training_settings(params.seed, workers=snakemake.threads)
    corpus = TokenChunks(SequenceFile(inputs.train_masked, params.batch_events),
                         getattr(training, "max_sentence_tokens", GENSIM_MAX_SENTENCE_TOKENS), logger=log)
    reference = models.options({"word2vec": params.word2vec, "hpo": params.hpo}, models.PAPER_MODEL)
    budget = models.time_budget(options, reference, params.hpo, atomic.read_json(inputs.default_record), corpus,
                                training)
    evaluate = configuration_evaluator(
        corpus, EvaluationData.load(inputs.in_set, inputs.out_of_set, inputs.genres, inputs.hard_negatives),
        EvaluationSettings.from_config(params.evaluation, params.seed), training, budget, model=options.model,
        threads=snakemake.threads, logger=log)
    pareto = params.objective == "pareto"
    settings = hpo.WorkerSettings.from_config(params.hpo, params.word2vec, params.evaluation,
                                              seed=params.sampler_seed, worker_index=worker, pareto=pareto,
                                              model=options.as_dict() if other else None)
    # the default metrics of lambda objectives: the skip-gram's, or the other model's own default's
    metrics_file = inputs.get("model_metrics") if other else inputs.default_metrics
    default_metrics = scalar_metrics(atomic.read_json(metrics_file)) if metrics_file else None
    log.info("study %s (%s), worker %d: %s", study, options.name, worker, budget.describe())
    predicted_violation = budget.violation_predictor(getattr(training, "epochs", None), options.model.parse_params)
    if pareto:
        hpo.run_pareto_worker(study, params.storage, evaluate, default_metrics, settings,
                              predicted_violation=predicted_violation, logger=log)
    else:
        hpo.run_study_worker(study, params.storage, params.objective, evaluate, default_metrics, settings,
                             predicted_violation=predicted_violation, logger=log)
    summary = hpo.study_summary(hpo.load_study(study, params.storage))
    atomic.write_json(snakemake.output[0], {"worker": worker, "study_at_exit": summary})
