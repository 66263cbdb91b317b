"""Hard-negative song pairs by the chi-squared test on adjacent bigrams (rule mine_hard_negatives)."""

from pathlib import Path

from songvec import atomic
from songvec.hard_negatives import mine_hard_negatives
from songvec.logs import logged
from songvec.sequences import count_events, iter_sequences

with logged(snakemake.log[0]) as log:
    options = snakemake.params.options
    source = snakemake.input.train_masked
    pairs, summary = mine_hard_negatives(
        iter_sequences(source, snakemake.params.batch_events), options["min_cooccurrence"],
        options["chi2_factor"], memory_budget_bytes=int(options["memory_budget_gb"] * 2**30),
        spill_dir=Path(snakemake.output.pairs).parent, total_events=count_events(source))
    atomic.write_parquet(snakemake.output.pairs, pairs)
    atomic.write_json(snakemake.output.summary, summary)
