"""All metrics of one model on the validation or test split (rule evaluate_model)."""

from songvec import atomic
from songvec.evaluation import EvaluationData, EvaluationSettings, evaluate_saved
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    inputs = snakemake.input
    data = EvaluationData.load(inputs.in_set, inputs.out_of_set, inputs.genres, inputs.hard_negatives,
                               train=inputs.train_masked, batch_events=snakemake.params.batch_events)
    settings = EvaluationSettings.from_config(snakemake.params.evaluation, snakemake.params.seed)
    result = evaluate_saved(inputs.model, data, settings, coherence=snakemake.params.coherence,
                            threads=snakemake.threads)
    atomic.write_parquet(snakemake.output.pairs, result.pairs)
    atomic.write_parquet(snakemake.output.songs, result.songs)
    atomic.write_json(snakemake.output.metrics, result.metrics)
