"""Mask the last song of every training sequence and collect the evaluation pairs (rule prepare_evaluation)."""

from songvec import atomic, next_song
from songvec.logs import logged
from songvec.sequences import read_sequences, write_sequences

with logged(snakemake.log[0]) as log:
    max_pairs, seed = snakemake.params.max_pairs, snakemake.params.seed
    train = read_sequences(snakemake.input.train)
    masked, in_set = next_song.mask_last(train)
    in_set = next_song.sample_pairs(in_set.assign(user_id=train.user_ids[in_set["sequence"]]),
                                    max_pairs["in_set"], seed)
    write_sequences(snakemake.output.train_masked, masked)
    atomic.write_parquet(snakemake.output.in_set, in_set)
    summary = {"train_sequences": len(train), "train_events_after_masking": masked.n_events,
               "in_set_pairs": len(in_set)}
    for split in ("valid", "test"):
        heldout = read_sequences(snakemake.input[split])
        pairs = next_song.out_of_set_pairs(heldout)
        summary[f"{split}_pairs_before_sampling"] = len(pairs)
        pairs = next_song.sample_pairs(pairs, max_pairs["out_of_set"], seed)
        summary[f"{split}_pairs"] = len(pairs)
        atomic.write_parquet(snakemake.output[split], pairs)
    log.info("evaluation data: %s", summary)
    atomic.write_json(snakemake.output.summary, summary)
