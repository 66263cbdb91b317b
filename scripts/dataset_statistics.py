"""Table 2 analog: songs, events, sequences and the sequence length distribution (rule dataset_statistics)."""

import pandas as pd

from songvec import atomic, dataset_stats
from songvec.logs import logged
from songvec.sequences import read_sequences

with logged(snakemake.log[0]) as log:
    stats = dataset_stats.sequence_statistics(read_sequences(snakemake.input.sequences))
    log.info("statistics: %s", stats)
    atomic.write_text(snakemake.output.csv, pd.DataFrame([stats], index=[snakemake.params.dataset])
                      .rename_axis("dataset").to_csv())
    atomic.write_text(snakemake.output.markdown,
                      dataset_stats.statistics_markdown({snakemake.params.dataset: stats}))
