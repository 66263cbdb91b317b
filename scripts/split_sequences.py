"""Split the sequences into train/valid/test by sampling without replacement (rule split_sequences)."""

from songvec import atomic
from songvec.logs import logged
from songvec.split import split_file

with logged(snakemake.log[0]) as log:
    fractions = dict(snakemake.params.fractions)
    paths = {name: snakemake.output[name] for name in fractions}
    _, _, summary = split_file(snakemake.input.sequences, fractions, paths, seed=snakemake.params.seed,
                               batch_events=snakemake.params.batch_events)
    log.info("split: %s", summary)
    atomic.write_json(snakemake.output.summary, summary)
