"""Mask the last song of every training sequence and collect the evaluation pairs (rule prepare_evaluation)."""

from songvec import atomic, next_song
from songvec.logs import logged
from songvec.sequences import SequenceFile, SequenceWriter, count_events, iter_sequences, song_counts

with logged(snakemake.log[0]) as log:
    inputs, batch_events = snakemake.input, snakemake.params.batch_events
    max_pairs, seed = snakemake.params.max_pairs, snakemake.params.seed
    with SequenceWriter(snakemake.output.train_masked) as masked:
        in_set = next_song.mask_last(iter_sequences(inputs.train, batch_events), masked.write,
                                     total_events=count_events(inputs.train))
    vocabulary, _ = song_counts(iter_sequences(snakemake.output.train_masked, batch_events))
    summary = {"train_sequences": in_set.attrs["n_sequences"], "train_events_after_masking": masked.n_events,
               "train_sequences_after_masking": masked.n_sequences, "train_songs": len(vocabulary),
               "in_set_pairs_before_sampling": len(in_set)}
    in_set = next_song.sample_pairs(in_set, max_pairs["in_set"], seed)
    summary["in_set_pairs"] = len(in_set)
    atomic.write_parquet(snakemake.output.in_set, in_set)
    for split, pairs in next_song.in_set_pairs_by_split(in_set, snakemake.params.in_set_pairs, seed).items():
        summary[f"{split}_in_set_pairs"] = len(pairs)
        summary[f"{split}_in_set_pairs_scored"] = next_song.scored_pairs(pairs, vocabulary)
        atomic.write_parquet(snakemake.output[f"in_set_{split}"], pairs)
    for split in ("valid", "test"):
        heldout = SequenceFile(inputs[split], batch_events)
        pairs, summary[f"{split}_pairs_before_sampling"] = next_song.sampled_out_of_set_pairs(
            heldout, max_pairs["out_of_set"], seed)
        summary[f"{split}_pairs"] = len(pairs)
        summary[f"{split}_pairs_scored"] = next_song.scored_pairs(pairs, vocabulary)
        atomic.write_parquet(snakemake.output[split], pairs)
    log.info("evaluation data: %s", summary)
    atomic.write_json(snakemake.output.summary, summary)
