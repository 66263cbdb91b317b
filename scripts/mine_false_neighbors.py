"""Hard-negative song pairs by the chi-squared test on adjacent bigrams (rule mine_false_neighbors)."""

from songvec import atomic
from songvec.false_neighbors import mine_hard_negatives
from songvec.logs import logged
from songvec.sequences import read_sequences

with logged(snakemake.log[0]) as log:
    options = snakemake.params.options
    pairs, summary = mine_hard_negatives(read_sequences(snakemake.input.train_masked),
                                         options["min_cooccurrence"], options["chi2_factor"])
    atomic.write_parquet(snakemake.output.pairs, pairs)
    atomic.write_json(snakemake.output.summary, summary)
