"""Bad configuration is rejected at start-up with a message naming the key."""

import copy
from pathlib import Path

import pytest
import yaml

from songvec.config import PAPER_SPLIT, ConfigError, check_config, scale_fractions, split_fractions

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def edited(edit):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    return config


def test_default_config_is_valid():
    check_config(copy.deepcopy(DEFAULT), SCHEMA)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(datset="demo"), "config key 'datset' is unknown"),
    (lambda c: c.update(split=dict(PAPER_SPLIT, trian=0.5)), "config key 'split.trian' is unknown"),
    (lambda c: c.update(split="paper"), "config key 'split': 'auto' was expected"),
    (lambda c: c["analyses"]["scale"].update(fractions="all"), "config key 'analyses.scale.fractions': 'auto' was"),
    (lambda c: c.update(dataset="lfm2b"), "config key 'dataset': 'lfm2b' is not one of"),
    (lambda c: c.update(seed="42"), "config key 'seed': '42' is not of type 'integer'"),
    (lambda c: c.update(split=dict(PAPER_SPLIT, train=1.5)),
     "config key 'split.train': 1.5 is greater than the maximum of 1"),
    (lambda c: c.update(split=dict(PAPER_SPLIT, train=0.9)),
     "config key 'split': train + valid + test must sum to 1, got 0.92"),
    (lambda c: c["hpo"].update(objectives=[]), "config key 'hpo.objectives': [] should be non-empty"),
    (lambda c: c["hpo"]["search_space"]["window"].update(low=50),
     "config key 'hpo.search_space.window': low 50 > high 40"),
    (lambda c: c["hpo"]["search_space"]["alpha"].update(low=0.0),
     "config key 'hpo.search_space.alpha': a log scale needs low > 0"),
    (lambda c: c["hpo"].update(objectives=["HitRate", "lambdaGenre(2)"]), "config key 'hpo.objectives[1]'"),
    (lambda c: c["hpo"].update(objectives=["VRCGenre"]), "must contain HitRate"),
    (lambda c: c["word2vec"].update(max_sentence_tokens=20000),
     "config key 'word2vec.max_sentence_tokens': 20000 is greater than the maximum of 10000"),
    (lambda c: c["ingest"].update(bad_rows="ignore"), "config key 'ingest.bad_rows': 'ignore' is not one of"),
    (lambda c: c.update(dataset="folder"), "config key 'folder.path': must name a folder"),
    (lambda c: c["final"].update(seeds=[]), "config key 'final.seeds': [] should be non-empty"),
    (lambda c: c["analyses"]["popularity"].update(optimized="lambdaGenre(0.5)"),
     "config key 'analyses.popularity.optimized'"),
    (lambda c: c.update(false_neighbors={"min_cooccurrence": 3}),
     "config key 'false_neighbors' was renamed to 'hard_negatives'"),
    (lambda c: (c["max_job"].update(threads=2), c["word2vec"].update(workers=4)),
     "config key 'word2vec.workers': 4 threads per training job, but max_job.threads is 2"),
    (lambda c: c["max_job"].update(mem_mb=0), "config key 'max_job.mem_mb': 0 is less than the minimum of 1"),
    (lambda c: c["lfm1b"]["files"]["LFM-1b.zip"].update(sha256="abc"),
     "config key 'lfm1b.files.LFM-1b.zip.sha256': 'abc' does not match"),
])
def test_bad_config_names_the_key(edit, message):
    with pytest.raises(ConfigError) as error:
        check_config(edited(edit), SCHEMA)
    assert message in str(error.value)


def test_every_problem_is_listed_at_once():
    def two_problems(c):
        c.update(seed=-1)
        c["evaluation"].update(k=0)
    with pytest.raises(ConfigError) as error:
        check_config(edited(two_problems), SCHEMA)
    assert "'seed'" in str(error.value) and "'evaluation.k'" in str(error.value)


@pytest.mark.parametrize("dataset, split, scale", [
    ("demo", {"train": 0.84, "valid": 0.08, "test": 0.08}, [0.1, 0.2, 0.5]),
    ("lfm1b", {"train": 0.98, "valid": 0.01, "test": 0.01}, [0.01, 0.02, 0.05]),
    ("folder", {"train": 0.98, "valid": 0.01, "test": 0.01}, [0.01, 0.02, 0.05]),
])
def test_auto_split_and_scale_fractions_follow_the_dataset(dataset, split, scale):
    config = edited(lambda c: c.update(dataset=dataset))
    assert config["split"] == "auto" and config["analyses"]["scale"]["fractions"] == "auto"
    assert split_fractions(config) == split and scale_fractions(config) == scale


def test_explicit_split_and_scale_fractions_are_kept():
    config = edited(lambda c: c.update(split={"train": 0.8, "valid": 0.1, "test": 0.1}))
    config["analyses"]["scale"]["fractions"] = [0.25]
    check_config(config, SCHEMA)
    assert split_fractions(config) == {"train": 0.8, "valid": 0.1, "test": 0.1}
    assert scale_fractions(config) == [0.25]
