"""One worker of one HPO study: train and evaluate configurations until the study is done (rule hpo_worker)."""

from songvec import atomic, hpo
from songvec.evaluation import EvaluationData, EvaluationSettings, configuration_evaluator, scalar_metrics
from songvec.logs import logged
from songvec.sequences import SequenceFile
from songvec.time_budget import TimeBudget
from songvec.training import TokenChunks, TrainingSettings, Word2VecParams

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    study, worker = params.study_name, int(snakemake.wildcards.worker)
    training = TrainingSettings.from_config(params.word2vec, params.seed, workers=snakemake.threads)
    corpus = TokenChunks(SequenceFile(inputs.train_masked, params.batch_events), training.max_sentence_tokens,
                         logger=log)
    budget = TimeBudget.from_config(params.hpo, Word2VecParams(**params.word2vec["defaults"]),
                                    atomic.read_json(inputs.default_record), corpus.chunk_lengths)
    evaluate = configuration_evaluator(
        corpus,
        EvaluationData.load(inputs.in_set, inputs.out_of_set, inputs.genres, inputs.hard_negatives),
        EvaluationSettings.from_config(params.evaluation, params.seed), training, budget,
        threads=snakemake.threads, logger=log)
    pareto = params.objective == "pareto"
    settings = hpo.WorkerSettings.from_config(params.hpo, params.word2vec, params.evaluation,
                                              seed=params.sampler_seed, worker_index=worker, pareto=pareto)
    default_metrics = scalar_metrics(atomic.read_json(inputs.default_metrics))
    log.info("study %s, worker %d: %s", study, worker, budget.describe())
    predicted_violation = budget.violation_predictor(training.epochs)
    if pareto:
        hpo.run_pareto_worker(study, params.storage, evaluate, default_metrics, settings,
                              predicted_violation=predicted_violation, logger=log)
    else:
        hpo.run_study_worker(study, params.storage, params.objective, evaluate, default_metrics, settings,
                             predicted_violation=predicted_violation, logger=log)
    summary = hpo.study_summary(hpo.load_study(study, params.storage))
    atomic.write_json(snakemake.output[0], {"worker": worker, "study_at_exit": summary})
