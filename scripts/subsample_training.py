"""A seeded subsample of the training sequences and their in-set pairs (rule subsample_training, Table 6)."""

import numpy as np
import pandas as pd

from songvec import atomic
from songvec.logs import logged
from songvec.sequences import count_events, iter_sequences
from songvec.split import sequence_user_ids, split_sequences, write_parts

with logged(snakemake.log[0]) as log:
    fraction = float(snakemake.wildcards.fraction)
    path = snakemake.input.train_masked
    user_ids = sequence_user_ids(path)
    chosen = split_sequences(len(user_ids), {"sample": fraction, "rest": 1 - fraction},
                             seed=snakemake.params.seed)["sample"]
    sample = write_parts(iter_sequences(path, snakemake.params.batch_events), {"sample": chosen},
                         {"sample": snakemake.output.train_masked}, len(user_ids),
                         total_events=count_events(path))["sample"]
    in_set = pd.read_parquet(snakemake.input.in_set)
    in_set = in_set[np.isin(in_set["user_id"], user_ids[chosen])].reset_index(drop=True)
    log.info("subsample %.3g: %d of %d sequences, %d events, %d in-set pairs", fraction, sample["sequences"],
             len(user_ids), sample["events"], len(in_set))
    atomic.write_parquet(snakemake.output.in_set, in_set)
