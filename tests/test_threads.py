"""Compute calls use the threads their rule declares: one thread searches in the calling thread with no
pool (rules with ``threads: 1`` run side by side without oversubscribing the cores), more threads make a
pool of exactly that size, and every script hands ``snakemake.threads`` to the functions that take it."""

from __future__ import annotations

import ast
import importlib
import inspect
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from songvec import neighbors
from songvec.evaluation import EvaluationData, EvaluationSettings, configuration_evaluator, evaluate_embedding
from songvec.sequences import Sequences
from songvec.training import TrainingSettings

REPO = Path(__file__).resolve().parents[1]
THREAD_PARAMETERS = ("threads", "workers")


@pytest.fixture
def search_threads(monkeypatch):
    """Records the size of every thread pool top_k makes and the threads that ran its searches."""
    record = {"pools": [], "threads": set()}
    real_pool, real_sort = neighbors.ThreadPoolExecutor, neighbors._sort_heaps

    def pool(max_workers, **kwargs):
        record["pools"].append(max_workers)
        return real_pool(max_workers, **kwargs)

    def sort_heaps(*args):  # called once per block of queries, in the thread that searched it
        record["threads"].add(threading.get_ident())
        return real_sort(*args)

    monkeypatch.setattr(neighbors, "ThreadPoolExecutor", pool)
    monkeypatch.setattr(neighbors, "_sort_heaps", sort_heaps)
    return record


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    return neighbors.normalize(np.random.default_rng(seed).standard_normal((n, 8)))


@pytest.mark.parametrize("threads", [None, 1])
def test_one_thread_searches_in_the_calling_thread(search_threads, threads):
    base = unit_rows(500)
    options = {} if threads is None else {"threads": threads}  # None: the default
    neighbors.top_k(base[:100], base, 10, block_rows=8, **options)  # 13 blocks of queries
    assert search_threads["pools"] == []
    assert search_threads["threads"] == {threading.get_ident()}


def test_more_threads_make_a_pool_of_that_size(search_threads):
    base = unit_rows(500)
    neighbors.top_k(base[:100], base, 10, block_rows=8, threads=3)
    assert search_threads["pools"] == [3]
    assert threading.get_ident() not in search_threads["threads"] and 1 <= len(search_threads["threads"]) <= 3


def evaluation_data(ids: np.ndarray) -> EvaluationData:
    rng = np.random.default_rng(1)
    pairs = pd.DataFrame({"query": rng.choice(ids, 40), "target": rng.choice(ids, 40)})
    return EvaluationData(
        pairs={"in_set": pairs.iloc[:20].reset_index(drop=True), "out_of_set": pairs.iloc[20:].reset_index(drop=True)},
        track_genres=pd.DataFrame({"track_id": ids, "artist_id": ids // 5, "genre": np.array(["a", "b"])[ids % 2]}),
        hard_negatives=pd.DataFrame({"song_a": ids[:5], "song_b": ids[5:10]}),
        track_plays=pd.Series(np.full(len(ids), 50), index=ids))


@pytest.mark.parametrize("threads, pools", [(1, []), (2, [2] * 5)])
def test_every_search_of_an_evaluation_uses_the_given_threads(search_threads, threads, pools):
    ids = np.arange(200, dtype=np.int64)
    settings = EvaluationSettings(k=5, genre_coherence={"n_songs": 20, "min_plays": 1, "n_genres": 2},
                                  artist_coherence={"n_artists": 5, "min_artist_songs": 2, "songs_per_artist": 2})
    evaluate_embedding(unit_rows(200), ids, evaluation_data(ids), settings, coherence=True, threads=threads)
    # in-set and out-of-set HitRate, HardNeg, genre and artist coherence: five searches
    assert search_threads["pools"] == pools
    if threads == 1:
        assert search_threads["threads"] == {threading.get_ident()}


@pytest.mark.parametrize("threads, pools", [(1, []), (2, [2] * 3)])
def test_an_hpo_trial_evaluates_with_the_workers_threads(search_threads, threads, pools):
    rng = np.random.default_rng(2)
    tracks = rng.integers(0, 200, 3000)
    sequences = Sequences.from_events(np.repeat(np.arange(30), 100), tracks, np.zeros(3000), np.arange(3000))
    evaluate = configuration_evaluator(sequences, evaluation_data(np.unique(tracks)), EvaluationSettings(k=5),
                                       TrainingSettings(epochs=1), None, threads=threads)
    evaluate({"vector_size": 8, "window": 2, "ns_exponent": 0.75, "negative": 2, "alpha": 0.025})
    assert search_threads["pools"] == pools  # no coherence during HPO: three searches


def calls_with_thread_parameters(script: Path):
    """(call text, parameter, its argument) of every call in ``script`` to a songvec callable that has
    a ``threads`` or ``workers`` parameter; the argument is None when the call leaves it out. A name
    assigned the result of calling a songvec class (``options = models.ModelOptions(...)``) is that
    class, so its methods' calls are seen too."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "songvec":
            module = importlib.import_module(node.module)
            for alias in node.names:
                names[alias.asname or alias.name] = (getattr(module, alias.name) if hasattr(module, alias.name)
                                                     else importlib.import_module(f"{node.module}.{alias.name}"))

    def resolve(target):
        chain = []
        while isinstance(target, ast.Attribute):
            chain.insert(0, target.attr)
            target = target.value
        if not isinstance(target, ast.Name) or target.id not in names:
            return None
        found = names[target.id]
        for attribute in chain:
            found = getattr(found, attribute, None)
        return found

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Call) and inspect.isclass(resolve(node.value.func)):
            names[node.targets[0].id] = resolve(node.value.func)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = resolve(node.func)
        if function is None:
            continue
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            continue
        for name in THREAD_PARAMETERS:
            if name in parameters:
                given = {k.arg: ast.unparse(k.value) for k in node.keywords}
                yield ast.unparse(node.func), name, given.get(name)


def test_scripts_hand_their_rules_threads_to_every_call_that_takes_them():
    checked = []
    for script in sorted((REPO / "scripts").glob("*.py")):
        for call, parameter, argument in calls_with_thread_parameters(script):
            checked.append(f"{script.name}: {call}")
            assert argument == "snakemake.threads", (
                f"{script.name}: {call}(...) must get {parameter}=snakemake.threads, got {argument}")
    # the check sees the calls it is about (it would pass vacuously if the parsing missed them)
    assert {"evaluate_model.py: evaluate_saved", "hpo_worker.py: configuration_evaluator",
            "hpo_worker.py: options.training_settings", "train_model.py: options.training_settings"} <= set(checked)
