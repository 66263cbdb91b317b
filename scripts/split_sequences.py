"""Split the sequences into train/valid/test by sampling without replacement (rule split_sequences)."""

from songvec import atomic
from songvec.logs import logged
from songvec.sequences import count_events, iter_sequences
from songvec.split import sequence_user_ids, split_sequences, write_parts

with logged(snakemake.log[0]) as log:
    path = snakemake.input.sequences
    n_sequences = len(sequence_user_ids(path))
    parts = split_sequences(n_sequences, dict(snakemake.params.fractions), seed=snakemake.params.seed)
    summary = write_parts(iter_sequences(path, snakemake.params.batch_events), parts,
                          {name: snakemake.output[name] for name in parts}, n_sequences,
                          total_events=count_events(path))
    log.info("split: %s", summary)
    atomic.write_json(snakemake.output.summary, summary)
