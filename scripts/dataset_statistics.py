"""Table 2 analog: songs, events, sequences and the sequence length distribution (rule dataset_statistics)."""

import pandas as pd

from songvec import atomic, dataset_stats, tables
from songvec.logs import logged
from songvec.sequences import iter_sequences

with logged(snakemake.log[0]) as log:
    stats = dataset_stats.sequence_statistics(iter_sequences(snakemake.input.sequences,
                                                               snakemake.params.batch_events))
    log.info("statistics: %s", stats)
    columns = tables.with_paper_columns({snakemake.params.dataset: stats},
                                        tables.read_paper_results(snakemake.input.paper)["table2"])
    atomic.write_text(snakemake.output.csv, pd.DataFrame(columns).rename_axis("statistic").to_csv())
    table = dataset_stats.statistics_table(columns)
    splits = dataset_stats.split_table(snakemake.params.fractions, atomic.read_json(snakemake.input.split),
                                       atomic.read_json(snakemake.input.pairs), snakemake.params.sequence_unit)
    atomic.write_text(snakemake.output.splits, splits.to_csv(index=False))
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(table) + "\nEvaluation splits:\n\n"
                      + tables.to_markdown(splits))
    atomic.write_text(snakemake.output.html, tables.to_html([("Table 2: dataset statistics", table),
                                                             ("Evaluation splits", splits)]))
