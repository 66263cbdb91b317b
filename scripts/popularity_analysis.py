"""Fig. 2/4 analog: HitRate by popularity bucket of query and target, default against optimized
(rule popularity_analysis)."""

import pandas as pd

from songvec import atomic, figures
from songvec.logs import logged
from songvec.sequences import iter_sequences, song_counts

with logged(snakemake.log[0]) as log:
    inputs, options = snakemake.input, snakemake.params.options
    song_ids, play_counts = song_counts(iter_sequences(inputs.train_masked, snakemake.params.batch_events))
    optimized = snakemake.params.optimized  # analyses.popularity.optimized, or HitRate if the data cannot have it
    pairs = {"default": pd.read_parquet(inputs.default_pairs), optimized: pd.read_parquet(inputs.optimized_pairs)}
    cells = figures.popularity_cells(song_ids, play_counts, pairs, n_buckets=options["buckets"],
                                     pairs_per_cell=options["pairs_per_cell"], seed=snakemake.params.seed)
    atomic.write_text(snakemake.output.table, cells.to_csv(index=False))
    figures.popularity_figure(cells, "default", optimized, snakemake.output.png, snakemake.output.pdf,
                              k=snakemake.params.k)
    log.info("popularity cells:\n%s", cells.to_string(index=False))
