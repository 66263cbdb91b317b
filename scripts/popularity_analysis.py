"""Fig. 2/4 analog: HitRate by popularity bucket of query and target, default against optimized
(rule popularity_analysis)."""

import pandas as pd
import pyarrow.parquet as pq

from songvec import atomic, figures
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    inputs, options = snakemake.input, snakemake.params.options
    train_tracks = pq.read_table(inputs.train_masked, columns=["track_id"]).column("track_id").to_numpy()
    pairs = {"default": pd.read_parquet(inputs.default_pairs),
             options["optimized"]: pd.read_parquet(inputs.optimized_pairs)}
    cells = figures.popularity_cells(train_tracks, pairs, n_buckets=options["buckets"],
                                     pairs_per_cell=options["pairs_per_cell"], seed=snakemake.params.seed)
    atomic.write_text(snakemake.output.table, cells.to_csv(index=False))
    figures.popularity_figure(cells, "default", options["optimized"], snakemake.output.png, snakemake.output.pdf,
                              k=snakemake.params.k)
    log.info("popularity cells:\n%s", cells.to_string(index=False))
