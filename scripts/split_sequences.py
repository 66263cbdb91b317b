"""Split the sequences into train/valid/test by sampling without replacement (rule split_sequences)."""

from songvec import atomic
from songvec.logs import logged
from songvec.sequences import read_sequences, write_sequences
from songvec.split import split_sequences

with logged(snakemake.log[0]) as log:
    sequences = read_sequences(snakemake.input.sequences)
    parts = split_sequences(len(sequences), dict(snakemake.params.fractions), seed=snakemake.params.seed)
    summary = {}
    for name, indices in parts.items():
        part = sequences.subset(indices)
        write_sequences(snakemake.output[name], part)
        summary[name] = {"sequences": len(part), "events": part.n_events}
    log.info("split: %s", summary)
    atomic.write_json(snakemake.output.summary, summary)
