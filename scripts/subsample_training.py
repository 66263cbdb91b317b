"""A seeded subsample of the training sequences and their in-set pairs (rule subsample_training, Table 6)."""

import numpy as np
import pandas as pd

from songvec import atomic
from songvec.logs import logged
from songvec.split import split_file

with logged(snakemake.log[0]) as log:
    fraction = float(snakemake.wildcards.fraction)
    user_ids, parts, written = split_file(snakemake.input.train_masked, {"sample": fraction, "rest": 1 - fraction},
                                          {"sample": snakemake.output.train_masked}, seed=snakemake.params.seed,
                                          batch_events=snakemake.params.batch_events)
    in_set = pd.read_parquet(snakemake.input.in_set)
    in_set = in_set[np.isin(in_set["user_id"], user_ids[parts["sample"]])].reset_index(drop=True)
    log.info("subsample %.3g: %d of %d sequences, %d events, %d in-set pairs", fraction,
             written["sample"]["sequences"], len(user_ids), written["sample"]["events"], len(in_set))
    atomic.write_parquet(snakemake.output.in_set, in_set)
