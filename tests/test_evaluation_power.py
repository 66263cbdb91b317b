"""The default demo's evaluation splits have the power the README promises: at least 100 users and 5,000
scored out-of-set pairs in each of validation and test, and 1,000 in-set pairs for each (issue 11)."""

import numpy as np
import pytest
import yaml

from songvec import demo_data, next_song
from songvec.config import split_fractions
from songvec.ingest import ingest_events
from songvec.sequences import SequenceFile, SequenceWriter, iter_sequences, song_counts
from songvec.split import split_file

from snakemake_runs import REPO

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.fixture(scope="module")
def evaluation_data(tmp_path_factory):
    """Ingest, split and pairs of the default demo as the workflow makes them with the default config."""
    tmp = tmp_path_factory.mktemp("power")
    demo_data.generate(tmp / "raw", CONFIG["demo"]["size"], CONFIG["seed"], genre_sources=("freebase",))
    ingest_events(tmp / "raw" / "LFM-1b_LEs.txt", tmp / "sequences.parquet", seed=CONFIG["seed"])
    fractions = split_fractions(CONFIG)
    paths = {part: tmp / f"{part}.parquet" for part in fractions}
    split_file(tmp / "sequences.parquet", fractions, paths, seed=CONFIG["seed"])
    with SequenceWriter(tmp / "masked.parquet") as masked:
        in_set = next_song.mask_last(iter_sequences(paths["train"]), masked.write)
    vocabulary, _ = song_counts(iter_sequences(tmp / "masked.parquet"))
    halves = next_song.in_set_pairs_by_split(in_set, CONFIG["evaluation"]["in_set_pairs"], CONFIG["seed"])
    heldout = {part: SequenceFile(paths[part]) for part in ("valid", "test")}
    return {part: {"users": sum(len(batch) for batch in heldout[part]), "in_set": halves[part],
                   "out_of_set": next_song.sampled_out_of_set_pairs(
                       heldout[part], CONFIG["evaluation"]["max_pairs"]["out_of_set"], CONFIG["seed"])[0]}
            for part in heldout}, vocabulary


@pytest.mark.parametrize("part", ["valid", "test"])
def test_the_default_demo_splits_have_power(evaluation_data, part):
    data, vocabulary = evaluation_data
    split = data[part]
    assert split["users"] >= 100
    assert next_song.scored_pairs(split["out_of_set"], vocabulary) >= 5_000
    assert len(split["in_set"]) >= 1_000
    # disjoint halves: no in-set pair is both a validation and a test pair
    other = data["test" if part == "valid" else "valid"]["in_set"]
    assert not np.isin(split["in_set"]["sequence"], other["sequence"]).any()
