"""A seeded subsample of the training sequences and their in-set pairs (rule subsample_training, Table 6)."""

import numpy as np
import pandas as pd

from songvec import atomic
from songvec.logs import logged
from songvec.sequences import read_sequences, write_sequences
from songvec.split import split_sequences

with logged(snakemake.log[0]) as log:
    fraction = float(snakemake.wildcards.fraction)
    train = read_sequences(snakemake.input.train_masked)
    chosen = split_sequences(len(train), {"sample": fraction, "rest": 1 - fraction},
                             seed=snakemake.params.seed)["sample"]
    sample = train.subset(chosen)
    in_set = pd.read_parquet(snakemake.input.in_set)
    in_set = in_set[np.isin(in_set["user_id"], sample.user_ids)].reset_index(drop=True)
    log.info("subsample %.3g: %d of %d sequences, %d events, %d in-set pairs", fraction, len(sample),
             len(train), sample.n_events, len(in_set))
    write_sequences(snakemake.output.train_masked, sample)
    atomic.write_parquet(snakemake.output.in_set, in_set)
