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
    (lambda c: c.update(models=["glove", "bert"]), "config key 'models[1]': 'bert' is not one of"),
    (lambda c: c.update(models=["glove"]), "config key 'models': must contain word2vec_sg"),
    (lambda c: c["model_config"]["glove"]["defaults"].update(depth=3),
     "config key 'model_config.glove.defaults': glove has no hyper-parameter 'depth'"),
    (lambda c: c["model_config"]["sppmi_svd"]["search_space"]["shift"].update(low=0.5),
     "config key 'model_config.sppmi_svd.search_space.shift': low 0.5: SppmiParams.shift must be a number >= 1"),
    (lambda c: c["model_config"]["sppmi_svd"]["search_space"].update(rank={"type": "int", "low": 2, "high": 9}),
     "config key 'model_config.sppmi_svd.search_space': sppmi_svd has no hyper-parameter 'rank'"),
    (lambda c: c["model_config"]["transitions"]["search_space"]["window"].update(low=20),
     "config key 'model_config.transitions.search_space': search space parameter 'window': low (20) > high (10)"),
    (lambda c: c["model_config"]["transitions"]["defaults"].pop("window"),
     "config key 'model_config.transitions.defaults': give the default of window"),
    (lambda c: c["model_config"]["glove"]["settings"].update(cooccurrence="sequence"),
     "config key 'model_config.glove.search_space': window is unused with cooccurrence: sequence"),
    (lambda c: c["model_config"]["transitions"]["settings"].update(fill="random"),
     "config key 'model_config.transitions.settings.fill': 'random' is not one of"),
    (lambda c: c["hpo"]["other_models"].update(objectives=["HitRate", "NDCG"]),
     "config key 'hpo.other_models.objectives[1]': unknown objective 'NDCG'"),
    (lambda c: c["final"].update(models_seeds=[4]), "config key 'final.models_seeds': [4] not among final.seeds"),
    (lambda c: c["model_config"]["glove"]["cost_model"].pop("per_laplace"),
     "config key 'model_config.glove.cost_model': glove's cost model has the coefficients per_count, per_pair_dim, "
     "per_parameter, per_laplace, per_token; missing per_laplace"),
    (lambda c: c["model_config"]["transitions"]["cost_model"].update(per_window=1.0),
     "unknown per_window"),
    (lambda c: c["model_config"]["transitions"]["cost_model"].update(per_count=0, per_token=0),
     "config key 'model_config.transitions.cost_model': the coefficients cannot all be 0"),
    (lambda c: c["model_config"]["popularity"].pop("cost_model"),
     "config key 'model_config.popularity': 'cost_model' is a required property"),
    (lambda c: c["model_config"]["sppmi_svd"]["cost_model"].update(per_svd=-1),
     "config key 'model_config.sppmi_svd.cost_model.per_svd': -1 is less than the minimum of 0"),
    (lambda c: c["hpo"].update(sampler="nsga2"), "config key 'hpo.sampler': 'nsga2' is not one of"),
    (lambda c: c["hpo"]["sampler_settings"]["tpe"].update(gamma=0.1),
     "config key 'hpo.sampler_settings.tpe.gamma' is unknown"),
    (lambda c: c["hpo"].update(time_measure="sundial"), "config key 'hpo.time_measure': 'sundial' is not one of"),
    (lambda c: c["hpo"]["pareto"].update(sampler="nsga2", max_trials=10),
     "config key 'hpo.sampler_settings.nsga2.population_size': 10 >= hpo.pareto.max_trials (10)"),
    (lambda c: c["hpo"]["cost_model"].update(per_sample_dim=0, per_sample=0),
     "config key 'hpo.cost_model': per_sample_dim and per_sample cannot both be 0"),
])
def test_bad_config_names_the_key(edit, message):
    with pytest.raises(ConfigError) as error:
        check_config(edited(edit), SCHEMA)
    assert message in str(error.value)


def test_model_options_the_data_cannot_give_are_refused(tmp_path):
    """Artist augmentation, and another model's VRC objective, on a table without artists or genres."""
    table = tmp_path / "plays.csv"
    table.write_text("user_id,track_id,timestamp\n1,2,3\n")

    def on_table(c):
        c.update(dataset="events")
        c["events"].update(path=str(table))
        c["hpo"].update(objectives=["HitRate"])
        c["analyses"]["popularity"].update(optimized="HitRate")
        c["model_config"]["glove"]["settings"].update(artist_augmentation=True)
        c["hpo"]["other_models"].update(objectives=["HitRate", "VRCGenre"])
    with pytest.raises(ConfigError) as error:
        check_config(edited(on_table), SCHEMA)
    assert "config key 'model_config.glove.settings.artist_augmentation': needs artists, but" in str(error.value)
    assert "config key 'hpo.other_models.objectives': VRCGenre needs genres, but" in str(error.value)


def test_every_problem_is_listed_at_once():
    def two_problems(c):
        c.update(seed=-1)
        c["evaluation"].update(k=0)
    with pytest.raises(ConfigError) as error:
        check_config(edited(two_problems), SCHEMA)
    assert "'seed'" in str(error.value) and "'evaluation.k'" in str(error.value)


def test_gp_needs_pytorch(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    with pytest.raises(ConfigError, match="config key 'hpo.pareto.sampler': gp .* needs PyTorch"):
        check_config(edited(lambda c: c["hpo"]["pareto"].update(sampler="gp")), SCHEMA)


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
