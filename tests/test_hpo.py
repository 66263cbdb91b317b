"""Tests of the HPO engine (songvec.hpo): objectives, search space, stopping rules, infeasible
trials, resumption after SIGKILL, concurrent workers on SQLite and journal storages, Pareto fronts.

Workers run on a cheap synthetic ``evaluate`` (a smooth function of the parameters or a scripted
sequence of metrics), never on real training.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from songvec import hpo
from songvec.hpo.storage import fail_stale_trials

SRC = Path(__file__).resolve().parents[1] / "src"


# ----------------------------------------------------------------------------- helpers

def smooth_metrics(params: dict) -> dict:
    """A smooth synthetic landscape with its HitRate optimum at vector_size=120, alpha=10**-1.5."""
    hitrate = (0.4 - 0.1 * ((params["vector_size"] - 120) / 175) ** 2
               - 0.05 * (math.log10(params["alpha"]) + 1.5) ** 2)
    return {"hitrate": hitrate, "ndcg": hitrate / 3, "vrc_genre": 1000.0 + 20 * params["window"],
            "vrc_artist": 5.0 + params["negative"] / 10}


class Scripted:
    """evaluate() returning the i-th scripted outcome on its i-th call: a metrics dict, or an
    exception instance to raise."""

    def __init__(self, outcomes):
        self.outcomes, self.calls = list(outcomes), []

    def __call__(self, params):
        self.calls.append(params)
        outcome = self.outcomes[len(self.calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def window_at_most(limit):
    """A predicted constraint: configurations with a window over ``limit`` are infeasible."""
    return lambda params: params["window"] / limit - 1


NEEDS_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="sampler gp (GPSampler) needs PyTorch: pip install -r requirements-gp.txt")
SAMPLER_CASES = [("tpe", {}), pytest.param("gp", {}, marks=NEEDS_TORCH), ("random", {}),
                 ("nsga2", {"population_size": 4})]
"""Each sampler, with settings that leave its random first phase within a few trials."""


def hitrates(*values):
    return [{"hitrate": v, "vrc_genre": 1000.0, "vrc_artist": 5.0} for v in values]


@pytest.fixture
def store(tmp_path):
    """Folder for study storages, in RAM (/dev/shm) when available: every Optuna write is a
    commit with an fsync, which on disk would dominate the test time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="songvec-test-hpo-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def journal(folder) -> str:
    return f"journal:{folder}/studies/hpo.log"


def trials_of(name, url):
    return sorted(hpo.load_study(name, url).get_trials(), key=lambda t: t.number)


WORKER_SCRIPT = textwrap.dedent("""
    import json, math, os, sys, time
    from pathlib import Path
    import optuna
    from songvec import hpo
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = json.loads(sys.argv[1])
    calls = 0

    def evaluate(params):
        global calls
        calls += 1
        if calls == cfg.get("hang_at_call"):
            Path(cfg["marker"]).write_text("hanging")
            time.sleep(600)
        time.sleep(cfg["sleep"])
        hitrate = 0.4 - 0.1 * ((params["vector_size"] - 120) / 175) ** 2
        return {"hitrate": hitrate, "vrc_genre": 1000.0 + params["window"], "vrc_artist": 5.0}

    if "go" in cfg:
        Path(cfg["go"] + f".ready-{cfg['worker']}").touch()
        while not Path(cfg["go"]).exists():
            time.sleep(0.01)
    violation = (lambda p: p["window"] / cfg["window_max"] - 1) if "window_max" in cfg else None
    hpo.run_study_worker("s", cfg["url"], "HitRate", evaluate, max_trials=cfg["max_trials"],
                         n_random_trials=cfg.get("n_random_trials", 3), seed=7,
                         worker_index=cfg["worker"], enqueue_default=cfg.get("enqueue_default", False),
                         heartbeat_interval=1, grace_period=cfg["grace"], sampler=cfg.get("sampler", "tpe"),
                         sampler_settings=cfg.get("sampler_settings", {}), predicted_violation=violation)
""")


def start_worker(tmp_path, **cfg) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.Popen([sys.executable, str(script), json.dumps(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"worker exited early ({proc.returncode}):\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


# ----------------------------------------------------------------------------- objectives

@pytest.mark.parametrize("name, metric, alpha, canonical, study_name", [
    ("HitRate", "HitRate", None, "HitRate", "HitRate"),
    ("VRCGenre", "VRCGenre", None, "VRCGenre", "VRCGenre"),
    ("VRCArtist", "VRCArtist", None, "VRCArtist", "VRCArtist"),
    ("lambdaGenre(0.01)", "VRCGenre", 0.01, "lambdaGenre(0.01)", "lambdaGenre-0.01"),
    ("lambdaArtist(0.1)", "VRCArtist", 0.1, "lambdaArtist(0.1)", "lambdaArtist-0.1"),
    ("lambdaGenre-0.010", "VRCGenre", 0.01, "lambdaGenre(0.01)", "lambdaGenre-0.01"),
    ("λArtist(1)", "VRCArtist", 1.0, "lambdaArtist(1.0)", "lambdaArtist-1.0"),
    ("lambdaGenre(0)", "VRCGenre", 0.0, "lambdaGenre(0.0)", "lambdaGenre-0.0"),
    ("lambdaGenre(1e-3)", "VRCGenre", 0.001, "lambdaGenre(0.001)", "lambdaGenre-0.001"),
])
def test_objective_parsing(name, metric, alpha, canonical, study_name):
    objective = hpo.Objective.parse(name)
    assert (objective.metric, objective.alpha) == (metric, alpha)
    assert objective.name == canonical and objective.study_name == study_name
    assert hpo.Objective.parse(objective.name) == objective
    assert hpo.Objective.parse(objective.study_name) == objective
    assert objective.direction == "maximize"


@pytest.mark.parametrize("bad", ["hitrate", "NDCG", "lambdaGenre", "lambdaGenre()", "lambdaHitRate(0.1)",
                                 "lambdaGenre(-0.1)", "lambdaGenre(nan)", "lambdaGenre(0.1) ", "VRC"])
def test_bad_objective_names_list_the_valid_forms(bad):
    with pytest.raises(ValueError) as err:
        hpo.Objective.parse(bad)
    assert repr(bad) in str(err.value)
    assert all(form in str(err.value) for form in hpo.VALID_OBJECTIVE_FORMS)


def test_lambda_weight_outside_0_1_is_refused():
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        hpo.Objective.parse("lambdaGenre(1.5)")


def test_objective_values_by_hand():
    metrics = {"hitrate": 0.4, "ndcg": 0.2, "vrc_genre": 1500.0, "vrc_artist": 3.0}
    default = {"hitrate": 0.35, "ndcg": 0.1, "vrc_genre": 1000.0, "vrc_artist": 4.0}
    assert hpo.Objective.parse("HitRate").value(metrics) == 0.4
    assert hpo.Objective.parse("VRCGenre").value(metrics) == 1500.0
    assert hpo.Objective.parse("VRCArtist").value(metrics) == 3.0
    # rVRCGenre = (1500 - 1000) / 1000 = 0.5; lambda(0.1) = 0.1 * 0.4 + 0.9 * 0.5 = 0.49
    assert hpo.Objective.parse("lambdaGenre(0.1)").value(metrics, default) == pytest.approx(0.49)
    # rVRCArtist = (3 - 4) / 4 = -0.25; lambda(0.01) = 0.004 - 0.99 * 0.25 = -0.2435
    assert hpo.Objective.parse("lambdaArtist(0.01)").value(metrics, default) == pytest.approx(-0.2435)
    assert hpo.Objective.parse("lambdaGenre(1)").value(metrics, default) == pytest.approx(0.4)
    assert hpo.Objective.parse("lambdaGenre(0)").value(metrics, default) == pytest.approx(0.5)


def reference_lambda(alpha, hitrate, vrc, vrc_default):
    relative = (vrc - vrc_default) / vrc_default  # paper eq. 1
    return alpha * hitrate + (1 - alpha) * relative  # paper eq. 2


@given(alpha=st.floats(0, 1), hitrate=st.floats(0, 1), vrc=st.floats(0, 1e5),
       vrc_default=st.floats(1e-3, 1e5), clustering=st.sampled_from(["Genre", "Artist"]))
def test_lambda_matches_reference(alpha, hitrate, vrc, vrc_default, clustering):
    key = f"vrc_{clustering.lower()}"
    objective = hpo.Objective(f"VRC{clustering}", alpha)
    got = objective.value({"hitrate": hitrate, key: vrc}, {key: vrc_default})
    assert got == pytest.approx(reference_lambda(alpha, hitrate, vrc, vrc_default), rel=1e-12, abs=1e-12)


def test_objective_input_errors():
    lam = hpo.Objective.parse("lambdaGenre(0.1)")
    with pytest.raises(ValueError, match="vrc_genre"):
        lam.value({"hitrate": 0.3}, {"vrc_genre": 10.0})
    with pytest.raises(ValueError, match="default configuration's metrics"):
        lam.value({"hitrate": 0.3, "vrc_genre": 5.0})
    with pytest.raises(ValueError, match="must be > 0"):
        lam.value({"hitrate": 0.3, "vrc_genre": 5.0}, {"vrc_genre": 0.0})
    with pytest.raises(ValueError, match="HitRate"):
        hpo.Objective("HitRate", 0.5)


# ----------------------------------------------------------------------------- search space

def test_paper_search_space_is_table_3():
    assert hpo.PAPER_SEARCH_SPACE.to_dict() == {
        "vector_size": {"low": 25, "high": 200, "type": "int", "log": False, "default": 100},
        "window": {"low": 1, "high": 40, "type": "int", "log": False, "default": 5},
        "ns_exponent": {"low": -1.0, "high": 1.0, "type": "float", "log": False, "default": 0.75},
        "negative": {"low": 1, "high": 100, "type": "int", "log": False, "default": 5},
        "alpha": {"low": 0.001, "high": 0.1, "type": "float", "log": True, "default": 0.025},
    }
    assert hpo.PAPER_SEARCH_SPACE.default_params() == {
        "vector_size": 100, "window": 5, "ns_exponent": 0.75, "negative": 5, "alpha": 0.025}
    space = hpo.SearchSpace.from_dict(hpo.PAPER_SEARCH_SPACE.to_dict())
    assert space.to_dict() == hpo.PAPER_SEARCH_SPACE.to_dict()


@pytest.mark.parametrize("fields, message", [
    ({"low": 200, "high": 25, "type": "int"}, r"low \(200\) > high \(25\)"),
    ({"low": 1, "high": 2}, "missing fields"),
    ({"low": 1, "high": 2, "type": "categorical"}, "type must be"),
    ({"low": 1.5, "high": 2, "type": "int"}, "must be an integer"),
    ({"low": 0.0, "high": 1.0, "type": "float", "log": True}, "log scale needs low > 0"),
    ({"low": 1, "high": 2, "type": "int", "default": 3}, "default 3 outside"),
    ({"low": 1, "high": 2, "type": "int", "step": 1}, "unknown fields"),
    ({"low": "1", "high": 2, "type": "int"}, "finite number"),
    ({"low": 0.0, "high": float("inf"), "type": "float"}, "finite number"),
    ({"low": 1, "high": 2, "type": "int", "log": "yes"}, "log must be"),
    ("1..2", "expected a mapping"),
])
def test_search_space_validation_names_the_key(fields, message):
    spec = hpo.PAPER_SEARCH_SPACE.to_dict() | {"my_param": fields}
    with pytest.raises(ValueError, match=message) as err:
        hpo.SearchSpace.from_dict(spec)
    assert "'my_param'" in str(err.value)


def test_search_space_without_defaults():
    space = hpo.SearchSpace.from_dict({"window": {"low": 1, "high": 3, "type": "int"}})
    with pytest.raises(ValueError, match="without a default.*window"):
        space.default_params()
    with pytest.raises(ValueError, match="empty"):
        hpo.SearchSpace.from_dict({})


def test_suggest_respects_bounds_types_and_log_scale():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    samples = [hpo.PAPER_SEARCH_SPACE.suggest(study.ask()) for _ in range(400)]
    for p in samples:
        assert set(p) == set(hpo.PAPER_SEARCH_SPACE.names)
        for r in hpo.PAPER_SEARCH_SPACE.params:
            assert r.low <= p[r.name] <= r.high
            assert isinstance(p[r.name], int if r.type == "int" else float)
    # log scale: half of the draws fall below the geometric middle 0.01 (linear scale: ~9%)
    below = sum(p["alpha"] < 0.01 for p in samples) / len(samples)
    assert 0.4 < below < 0.6
    assert hpo.PAPER_SEARCH_SPACE.distributions()["alpha"] == FloatDistribution(0.001, 0.1, log=True)


# ----------------------------------------------------------------------------- storage

def test_open_storage_forms_and_errors(store):
    storage = hpo.open_storage(f"journal:{store}/a/b/j.log", heartbeat_interval=5)
    assert isinstance(storage, optuna.storages.JournalStorage)
    assert (store / "a" / "b" / "j.log").exists()
    assert storage.get_heartbeat_interval() == 5 and storage.grace_period == 15
    rdb = hpo.open_storage(f"sqlite:///{store}/c/s.db", heartbeat_interval=2, grace_period=7)
    assert isinstance(rdb, optuna.storages.RDBStorage) and (store / "c" / "s.db").exists()
    assert (rdb.heartbeat_interval, rdb.grace_period) == (2, 7)
    assert rdb.engine_kwargs["connect_args"]["timeout"] == hpo.SQLITE_BUSY_TIMEOUT_SECONDS
    with pytest.raises(ValueError, match="neither journal"):
        hpo.open_storage("results/hpo.db")
    with pytest.raises(ValueError, match="journal needs a file path"):
        hpo.open_storage("journal:")
    with pytest.raises(ValueError, match="heartbeat_interval"):
        hpo.open_storage("journal:x.log", heartbeat_interval=0)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_journal_heartbeat_fails_only_stale_trials(store):
    storage = hpo.open_storage(journal(store), heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="s", storage=storage)
    stale, alive, silent = study.ask(), study.ask(), study.ask()
    storage.set_trial_system_attr(stale._trial_id, "songvec:heartbeat", time.time() - 3)
    storage.record_heartbeat(alive._trial_id)
    fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials()}
    # A trial that never wrote a heartbeat is not judged (as in Optuna's RDB heartbeat).
    assert states == {stale.number: TrialState.FAIL, alive.number: TrialState.RUNNING,
                      silent.number: TrialState.RUNNING}


# ----------------------------------------------------------------------------- stopping rules

def test_convergence_stops_after_patience_non_improving_trials(store):
    # Improvements at calls 0, 1, 3; call 6 only ties the best (no improvement); call 8 would
    # improve but must never run: 3 non-improving trials (4, 5, 6) follow trial 3.
    evaluate = Scripted(hitrates(0.1, 0.3, 0.2, 0.5, 0.4, 0.45, 0.5, 0.1, 0.9))
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=50,
                         n_random_trials=2, patience=3, seed=1)
    trials = trials_of("s", journal(store))
    assert len(evaluate.calls) == len(trials) == 7
    assert [t.value for t in trials] == [0.1, 0.3, 0.2, 0.5, 0.4, 0.45, 0.5]
    assert hpo.best_feasible_trial(hpo.load_study("s", journal(store))).number == 3


def test_convergence_waits_for_the_random_phase(store):
    # The best comes first, but the patience counts only trials after the 5 random ones.
    evaluate = Scripted(hitrates(0.9, *[0.1] * 20))
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=50,
                         n_random_trials=5, patience=2, seed=1)
    assert len(evaluate.calls) == 7


def test_infeasible_trials_count_toward_the_budget_but_not_patience(store):
    over = hpo.TrialInfeasible("training took 1.4x the default time", violation=0.4)
    outcomes = [*hitrates(0.2, 0.3), over, *hitrates(0.1), over, *hitrates(0.25, 0.28), over, *hitrates(0.05)]
    evaluate = Scripted(outcomes)
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=50,
                         n_random_trials=0, patience=4, seed=1)
    trials = trials_of("s", journal(store))
    # best = trial 1; then infeasible 2, feasible 3, infeasible 4, feasible 5, 6, infeasible 7, feasible 8:
    # the 4th feasible trial without improvement is trial 8 -> stop
    assert len(trials) == 9
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] + \
        [TrialState.COMPLETE] + [TrialState.PRUNED] + [TrialState.COMPLETE] * 2 + [TrialState.PRUNED, TrialState.COMPLETE]
    # infeasible trials use the budget
    evaluate = Scripted([over] * 5)
    hpo.run_study_worker("t", journal(store), "HitRate", evaluate, max_trials=3, n_random_trials=0, patience=1,
                         seed=1)
    assert len(trials_of("t", journal(store))) == 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_trial_created_past_the_budget_is_skipped_not_evaluated(store):
    """Two other workers claim trials between this worker's budget check and its next trial."""
    url = journal(store)

    class OtherWorkersClaimTrials(logging.Handler):
        done = False

        def emit(self, record):
            # The progress line of trial 0 is logged after the budget check read the trials.
            if not self.done and "trial 0 COMPLETE" in record.getMessage():
                self.done = True
                other = hpo.load_study("s", url)
                other.ask(), other.ask()

    logger = logging.getLogger("test_hpo.race")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(OtherWorkersClaimTrials())
    evaluate = Scripted(hitrates(0.1, 0.2, 0.3))
    hpo.run_study_worker("s", url, "HitRate", evaluate, max_trials=3, seed=1, logger=logger)
    trials = trials_of("s", url)
    assert len(evaluate.calls) == 1
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.RUNNING,
                                         TrialState.RUNNING, TrialState.FAIL]
    assert "budget" in trials[3].user_attrs["skipped"] and trials[3].params == {}
    assert hpo.study_summary(hpo.load_study("s", url))["n_skipped"] == 1


@pytest.mark.parametrize("violation", [None, window_at_most(10)])
def test_restarted_worker_does_not_replay_its_random_draws(store, violation):
    url = journal(store)
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1, predicted_violation=violation)
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=6, seed=1, predicted_violation=violation)
    params = [t.params for t in trials_of("s", url)]
    assert all(p not in params[:3] for p in params[3:])


def test_budget_alone_stops_and_counts_every_evaluation(store):
    evaluate = Scripted(hitrates(*[0.1 * i for i in range(20)]))
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=6,
                         n_random_trials=2, seed=1)
    assert len(evaluate.calls) == 6
    # A second worker on the finished study evaluates nothing and adds no trial.
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=6,
                         n_random_trials=2, seed=1, worker_index=1)
    assert len(evaluate.calls) == 6 and len(trials_of("s", journal(store))) == 6
    # Raising max_trials later extends the study.
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=8,
                         n_random_trials=2, seed=1)
    assert len(evaluate.calls) == 8


# ----------------------------------------------------------------------------- infeasible, errors

def test_infeasible_trial_is_recorded_never_best_and_counted(store):
    over = hpo.TrialInfeasible("training took 1.3x the default time", violation=0.3)
    evaluate = Scripted([*hitrates(0.2), over, *hitrates(0.3), over, *hitrates(0.1, 0.25)])
    hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=6,
                         n_random_trials=3, seed=1)
    study = hpo.load_study("s", journal(store))
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    infeasible = [t for t in trials if t.user_attrs.get("infeasible")]
    assert [t.number for t in infeasible] == [1, 3]
    for t in infeasible:
        assert t.state == TrialState.PRUNED and t.values is None
        assert t.user_attrs["infeasible_reason"] == "training took 1.3x the default time"
        assert t.constraints == {hpo.FEASIBILITY_CONSTRAINT: 0.3}
        assert "metrics" not in t.user_attrs and t.user_attrs["evaluate_seconds"] >= 0
    for t in trials:
        if not t.user_attrs.get("infeasible"):
            assert t.state == TrialState.COMPLETE and t.user_attrs["infeasible"] is False
            assert t.constraints == {hpo.FEASIBILITY_CONSTRAINT: 0.0}
            assert t.user_attrs["metrics"]["hitrate"] == t.value
            assert t.user_attrs["objectives"] == {"HitRate": t.value}
    assert hpo.best_feasible_trial(study).number == 2
    summary = hpo.study_summary(study)
    assert summary["n_infeasible"] == 2 and summary["budget_used"] == 6
    assert summary["n_trials_by_state"]["PRUNED"] == 2 and summary["best_trial_number"] == 2


def test_best_feasible_trial_ignores_violated_constraints_and_ties():
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for value, violation in [(0.5, 0.0), (0.9, 0.2), (0.7, 0.0), (0.7, -1.0)]:
        study.add_trial(create_trial(value=value, params={"x": value}, distributions=dist,
                                     constraints={hpo.FEASIBILITY_CONSTRAINT: violation}))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": 0.1}, distributions=dist))
    assert hpo.best_feasible_trial(study).number == 2
    with pytest.raises(ValueError, match="no feasible completed trial"):
        hpo.best_feasible_trial(optuna.create_study())


def test_evaluate_error_fails_the_trial_and_stops_the_worker(store):
    evaluate = Scripted([*hitrates(0.2), RuntimeError("out of memory")])
    with pytest.raises(RuntimeError, match="out of memory"):
        hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=5, seed=1)
    trials = trials_of("s", journal(store))
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "out of memory" in trials[1].user_attrs["error"]
    summary = hpo.study_summary(hpo.load_study("s", journal(store)))
    assert summary["n_failed_error"] == 1 and summary["budget_used"] == 2


def test_non_finite_objective_is_an_error(store):
    evaluate = Scripted(hitrates(float("nan")))
    with pytest.raises(ValueError, match="not finite"):
        hpo.run_study_worker("s", journal(store), "HitRate", evaluate, max_trials=5, seed=1)
    assert "not finite" in trials_of("s", journal(store))[0].user_attrs["error"]


def test_resuming_with_another_definition_is_refused(store):
    url = journal(store)
    default = {"hitrate": 0.3, "vrc_genre": 1000.0}
    hpo.run_study_worker("s", url, "lambdaGenre(0.1)", smooth_metrics, default, max_trials=2, seed=1)
    with pytest.raises(ValueError, match="objectives"):
        hpo.run_study_worker("s", url, "lambdaGenre(0.01)", smooth_metrics, default, max_trials=3)
    with pytest.raises(ValueError, match="default_metrics"):
        hpo.run_study_worker("s", url, "lambdaGenre(0.1)", smooth_metrics, {"vrc_genre": 9.0},
                             max_trials=3)
    narrow = hpo.SearchSpace.from_dict(hpo.PAPER_SEARCH_SPACE.to_dict()
                                       | {"window": {"low": 1, "high": 10, "type": "int"}})
    with pytest.raises(ValueError, match="search_space"):
        hpo.run_study_worker("s", url, "lambdaGenre(0.1)", smooth_metrics, default,
                             max_trials=3, space=narrow)
    with pytest.raises(ValueError, match="need default_metrics"):
        hpo.run_study_worker("t", url, "lambdaGenre(0.1)", smooth_metrics, max_trials=3)
    assert len(trials_of("s", url)) == 2


def test_resuming_with_other_evaluation_settings_is_refused_and_the_same_ones_resume(store):
    """A changed config re-runs the worker job (Snakemake sees new params) but the study keeps its old
    trials: they were measured under other settings and must not be mixed with new ones."""
    url = journal(store)
    scaled = {"time": {"time_constraint": "scale_epochs", "time_budget_factor": 1.25}, "word2vec": {"epochs": 5}}
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=2, seed=1,
                         evaluation_definition=scaled)
    rejected = scaled | {"time": {"time_constraint": "reject", "time_budget_factor": 1.25}}
    with pytest.raises(ValueError) as refused:
        hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1,
                             evaluation_definition=rejected)
    # one line: the setting that changed, and what to delete
    assert str(refused.value) == (
        "study 's' was created with evaluation_definition.time.time_constraint=\"scale_epochs\", this worker has "
        f"\"reject\"; its trials do not fit the new settings: delete the folder {store}/studies/ to start it over, or "
        "undo the change")
    assert len(trials_of("s", url)) == 2
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1,
                         evaluation_definition=json.loads(json.dumps(scaled)))  # same settings resume
    assert len(trials_of("s", url)) == 3


def test_enqueue_default_runs_the_defaults_first_once(store):
    url = journal(store)
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1,
                         enqueue_default=True)
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=5, seed=1,
                         enqueue_default=True)
    trials = trials_of("s", url)
    assert trials[0].params == hpo.PAPER_SEARCH_SPACE.default_params()
    assert [bool(t.user_attrs.get("default_config")) for t in trials] == [True] + [False] * 4


def test_single_worker_is_reproducible_across_storages(store):
    kwargs = dict(max_trials=14, n_random_trials=4, seed=5)
    hpo.run_study_worker("s", journal(store), "HitRate", smooth_metrics, **kwargs)
    hpo.run_study_worker("s", f"journal:{store}/other.log", "HitRate", smooth_metrics, **kwargs)
    first, second = trials_of("s", journal(store)), trials_of("s", f"journal:{store}/other.log")
    assert [t.params for t in first] == [t.params for t in second]
    # TPE after the random phase improves on the random phase for this smooth landscape.
    assert max(t.value for t in first[4:]) > max(t.value for t in first[:4])


@pytest.mark.parametrize("sampler, sampler_settings", SAMPLER_CASES)
def test_each_sampler_with_constraint_aware_sampling_is_reproducible(store, sampler, sampler_settings):
    """Same seed, same configurations, rejected draws and fallbacks, on two storages; the other seed
    differs. Every configuration is predicted feasible, none was evaluated beyond the budget."""
    kwargs = dict(max_trials=8, n_random_trials=3, sampler=sampler, sampler_settings=sampler_settings,
                  predicted_violation=window_at_most(8), enqueue_default=True)
    urls = [journal(store), f"journal:{store}/other.log", f"journal:{store}/seed.log"]
    for url, seed in zip(urls, [5, 5, 6]):
        hpo.run_study_worker("s", url, "HitRate", smooth_metrics, seed=seed, **kwargs)
    first, second, other = (trials_of("s", url) for url in urls)
    attrs = ("rejected_draws", "random_fallback")
    assert [(t.params, [t.user_attrs.get(a) for a in attrs]) for t in first] == \
        [(t.params, [t.user_attrs.get(a) for a in attrs]) for t in second]
    assert [t.params for t in first] != [t.params for t in other]
    assert len(first) == 8 and all(t.state == TrialState.COMPLETE for t in first)
    assert all(t.params["window"] <= 8 for t in first)
    assert sum(t.user_attrs.get("rejected_draws", 0) for t in first[1:4]) > 0  # 4 of 5 windows are too wide
    assert hpo.study_summary(hpo.load_study("s", urls[0]))["sampler"] == {
        "sampler": sampler, "settings": hpo.sampling.sampler_settings(sampler, sampler_settings),
        "n_random_trials": 3, "constrained_sampling": True}


def test_start_up_draws_predicted_infeasible_are_redrawn_never_evaluated_nor_counted(store):
    """The 5 random trials are 5 evaluations of configurations predicted feasible; the rejected draws are
    counted on the trials and in the summary, not toward max_trials, and never reach evaluate."""
    url = journal(store)
    evaluate = Scripted(hitrates(*[0.1 * i for i in range(8)]))
    hpo.run_study_worker("s", url, "HitRate", evaluate, max_trials=8, n_random_trials=5, seed=3, patience=2,
                         predicted_violation=window_at_most(4))
    trials = trials_of("s", url)
    assert len(evaluate.calls) == len(trials) == 8 and all(p["window"] <= 4 for p in evaluate.calls)
    rejected = [t.user_attrs["rejected_draws"] for t in trials]
    assert sum(rejected[:5]) >= 5  # 36 of 40 windows are too wide: about 9 rejections per random trial
    summary = hpo.study_summary(hpo.load_study("s", url))
    assert summary["n_rejected_draws"] == sum(rejected) and summary["budget_used"] == 8
    assert summary["n_trials_by_state"]["COMPLETE"] == 8 and summary["n_infeasible"] == 0
    # feasible trials carry the predicted slack as their constraint: the window's share of the limit, minus 1
    assert [t.constraints[hpo.FEASIBILITY_CONSTRAINT] for t in trials] == \
        [pytest.approx(t.params["window"] / 4 - 1) for t in trials]
    assert list(hpo.trials_frame(hpo.load_study("s", url))["rejected_draws"]) == rejected
    # without constraint-aware sampling, every draw is a trial: the first 5 are today's random start-up
    evaluate = Scripted(hitrates(*[0.1] * 8))
    hpo.run_study_worker("t", url, "HitRate", evaluate, max_trials=5, n_random_trials=5, seed=3,
                         predicted_violation=window_at_most(4), constrained_sampling=False)
    assert sum(p["window"] > 4 for p in evaluate.calls) >= 3
    assert "rejected_draws" not in trials_of("t", url)[0].user_attrs


def test_model_proposals_predicted_infeasible_fall_back_to_random_draws(store):
    """HitRate grows with the window, the constraint caps it at 6: TPE's model keeps proposing wider
    windows, and after max_proposals rejected proposals the trial is drawn at random (feasibly)."""
    url = journal(store)

    def wide_is_better(params):
        return hitrates(params["window"] / 40 + params["vector_size"] / 1e4)[0]

    hpo.run_study_worker("s", url, "HitRate", wide_is_better, max_trials=14, n_random_trials=4, seed=2,
                         sampler_settings={"max_proposals": 3}, predicted_violation=window_at_most(6))
    trials = trials_of("s", url)
    assert all(t.params["window"] <= 6 for t in trials)
    fallbacks = [t for t in trials if "random_fallback" in t.user_attrs]
    assert fallbacks and all(t.number >= 4 and t.user_attrs["random_fallback"] == {"rejected_proposals": 3}
                             for t in fallbacks)
    assert hpo.study_summary(hpo.load_study("s", url))["n_random_fallback"] == len(fallbacks)


def test_when_no_draw_fits_the_least_violating_is_evaluated(store, monkeypatch, caplog):
    monkeypatch.setattr(hpo.sampling, "MAX_DRAWS", 25)
    url = journal(store)
    evaluate = Scripted([hpo.TrialInfeasible("over budget", violation=0.5)] * 2)
    with caplog.at_level(logging.WARNING, logger="songvec.hpo"):
        hpo.run_study_worker("s", url, "HitRate", evaluate, max_trials=2, seed=1,
                             predicted_violation=lambda p: 1 + p["window"])
    assert "none of 25 draws of sampler tpe is predicted feasible" in caplog.text
    trials = trials_of("s", url)
    assert [t.user_attrs["rejected_draws"] for t in trials] == [25, 25]
    assert all(t.state == TrialState.PRUNED and t.user_attrs["infeasible"] for t in trials)
    assert min(p["window"] for p in evaluate.calls) <= 3  # the narrowest of 25 windows drawn in 1..40


def test_sampler_settings_are_checked_and_a_study_keeps_its_sampler(store):
    url = journal(store)
    with pytest.raises(ValueError, match=r"sampler 'tpe' has no setting 'gamma' \(its settings: multivariate"):
        hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=2, sampler_settings={"gamma": 0.1})
    with pytest.raises(ValueError, match="sampler 'random' has no setting 'n_ei_candidates'"):
        hpo.make_sampler("random", 10, 0, {"n_ei_candidates": 4})
    sampler = hpo.make_sampler("nsga2", 10, 0, {"population_size": 6, "max_proposals": 5})
    assert isinstance(sampler, optuna.samplers.NSGAIISampler) and sampler.population_size == 6
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=2, seed=1)
    with pytest.raises(ValueError, match='created with sampler_definition.sampler="tpe", this worker has "random".*delete the folder'):
        hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1, sampler="random")
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1)  # the same sampler resumes
    assert len(trials_of("s", url)) == 3



def test_worker_settings_of_the_skipgram_and_of_another_model_take_the_configs_sampler():
    import yaml
    from conftest import REPO

    from songvec import models
    from songvec.hpo.sampling import sampler_settings

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["hpo"] |= {"sampler": "random", "constrained_sampling": False}
    hpo_section, word2vec, evaluation = config["hpo"], config["word2vec"], config["evaluation"]
    skipgram = hpo.WorkerSettings.from_config(hpo_section, word2vec, evaluation, seed=3, worker_index=1)
    glove = models.options(config, "glove")
    other = hpo.WorkerSettings.from_config(hpo_section, word2vec, evaluation, seed=3, worker_index=1,
                                           model=glove.as_dict())
    for worker in (skipgram, other):  # the same sampler, settings and constraint-aware sampling for every model
        assert worker.sampler == "random" and not worker.constrained_sampling
        assert worker.sampler_settings == sampler_settings("random", hpo_section["sampler_settings"].get("random"))
    assert (skipgram.max_trials, skipgram.n_random_trials, skipgram.patience) == \
        (hpo_section["max_trials"], hpo_section["random_trials"], hpo_section["patience"])
    other_models = hpo_section["other_models"]
    assert (other.max_trials, other.n_random_trials, other.patience) == \
        (other_models["max_trials"], other_models["random_trials"], other_models["patience"])
    assert set(other.space.names) == set(glove.search_space)
    # another model's trials depend on its settings and on its cost model (the time budget), not the skip-gram's
    assert other.evaluation_definition["model"]["cost_model"] == config["model_config"]["glove"]["cost_model"]
    assert "word2vec" not in other.evaluation_definition and "model" not in skipgram.evaluation_definition
    tpe = hpo.WorkerSettings.from_config({**hpo_section, "sampler": "tpe"}, word2vec, evaluation, seed=3,
                                         worker_index=1, model=glove.as_dict())
    assert tpe.sampler == "tpe" and tpe.sampler_settings["n_ei_candidates"] == \
        hpo_section["sampler_settings"]["tpe"]["n_ei_candidates"]


# ----------------------------------------------------------------------------- kill, concurrency

@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_killed_worker_resumes(tmp_path, store, scheme):
    """SIGKILL during the last trial of the budget; another worker (index 1), started after the
    grace period, must fail it by its heartbeat and replace it."""
    url = f"sqlite:///{store}/hpo.db" if scheme == "sqlite" else journal(store)
    marker = tmp_path / "hanging"
    proc = start_worker(tmp_path, url=url, max_trials=4, worker=0, sleep=0.0, grace=1,
                        hang_at_call=4, marker=str(marker))
    wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = trials_of("s", url)
    assert [t.state for t in before] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    time.sleep(2.2)  # > grace_period (1 s) after the last heartbeat (SQLite's clock has 1 s steps)

    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=4, n_random_trials=3,
                         seed=7, worker_index=1, heartbeat_interval=1, grace_period=1)
    after = trials_of("s", url)
    assert len(after) == 5
    for old, new in zip(before[:3], after[:3]):
        assert (new.number, new.state, new.params, new.values) == (old.number, old.state, old.params, old.values)
    assert after[3].state == TrialState.FAIL and after[3].params == before[3].params
    assert after[4].state == TrialState.COMPLETE
    summary = hpo.study_summary(hpo.load_study("s", url))
    assert summary["n_failed_stale"] == 1 and summary["budget_used"] == 4
    assert summary["n_trials_by_state"] == {"RUNNING": 0, "COMPLETE": 4, "PRUNED": 0, "FAIL": 1,
                                            "WAITING": 0}


def kill_at_call(tmp_path, call, **cfg) -> None:
    """Run a worker process until its ``call``-th evaluation starts, then SIGKILL it."""
    marker = tmp_path / f"hanging-{call}-{time.monotonic_ns()}"
    proc = start_worker(tmp_path, hang_at_call=call, marker=str(marker), **cfg)
    wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def run_to_end(tmp_path, **cfg) -> None:
    proc = start_worker(tmp_path, **cfg)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, output


@pytest.mark.parametrize("sampler, sampler_settings, constrained", [
    ("tpe", {}, False), ("tpe", {}, True), pytest.param("gp", {}, True, marks=NEEDS_TORCH), ("random", {}, True),
    ("nsga2", {"population_size": 2}, True)])
def test_killed_and_restarted_worker_proposes_what_an_uninterrupted_one_does(tmp_path, store, sampler,
                                                                             sampler_settings, constrained):
    """Kills during the enqueued default (call 1 of the first life) and during a trial of the sampler's
    model (call 4 of the second life), each restart immediate: the heartbeat grace (60 s) never expires,
    so only the restart's own-worker rule can free the dead trials. Constrained: draws with a window over
    10 are redrawn, deterministically from the trial's seed."""
    cfg = dict(max_trials=6, n_random_trials=2, enqueue_default=True, worker=0, sleep=0.0, grace=60,
               sampler=sampler, sampler_settings=sampler_settings) | ({"window_max": 10} if constrained else {})
    reference, resumed = f"sqlite:///{store}/reference.db", f"sqlite:///{store}/resumed.db"
    run_to_end(tmp_path, url=reference, **cfg)
    kill_at_call(tmp_path, 1, url=resumed, **cfg)
    assert [t.state for t in trials_of("s", resumed)] == [TrialState.RUNNING]
    kill_at_call(tmp_path, 4, url=resumed, **cfg)
    run_to_end(tmp_path, url=resumed, **cfg)

    expected, got = trials_of("s", reference), trials_of("s", resumed)
    assert all(t.state == TrialState.COMPLETE for t in expected) and len(expected) == 6
    complete = [t for t in got if t.state == TrialState.COMPLETE]
    assert [(t.params, t.values) for t in complete] == [(t.params, t.values) for t in expected]
    assert complete[0].params == hpo.PAPER_SEARCH_SPACE.default_params()
    assert complete[0].user_attrs["default_config"]
    # Trial 0 (the default) died in life 1; trial 4 (the 4th of life 2) died in TPE's phase.
    # Each was replaced by the same configuration, drawn from the same seed and history.
    assert [t.number for t in got if t.state == TrialState.FAIL] == [0, 4]
    assert got[0].params == got[1].params and got[4].params == got[5].params
    assert len(got) == 8 and {t.user_attrs["worker"].rsplit("#")[1] for t in got} == {"0"}
    if constrained:
        assert all(t.params["window"] <= 10 for t in complete)
        assert [t.user_attrs.get("rejected_draws") for t in complete] == \
            [t.user_attrs.get("rejected_draws") for t in expected]
    summary = hpo.study_summary(hpo.load_study("s", resumed))
    assert summary["n_failed_stale"] == 2 and summary["budget_used"] == 6
    # trials.csv keeps its column layout when the first trial is a killed one without params
    columns = list(hpo.trials_frame(hpo.load_study("s", reference)).columns)
    assert list(hpo.trials_frame(hpo.load_study("s", resumed)).columns) == columns


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_restart_fails_unclaimed_trials_but_not_other_workers_trials(store):
    """A trial created but never claimed (its worker died in between, before any heartbeat) is
    failed once it is older than the grace period; a running trial of another worker is left to
    the heartbeat check, and keeps counting toward the budget."""
    url = journal(store)
    storage = hpo.open_storage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    orphan, other = study.ask(), study.ask()
    other.set_user_attr("worker", "elsewhere:1#1")
    evaluate = Scripted(hitrates(0.1, 0.2, 0.3))
    hpo.run_study_worker("s", url, "HitRate", evaluate, max_trials=3, seed=1,
                         heartbeat_interval=1, grace_period=1)
    trials = trials_of("s", url)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING,
                                         TrialState.COMPLETE, TrialState.COMPLETE]
    assert (trials[0].number, trials[1].number) == (orphan.number, other.number)
    assert len(evaluate.calls) == 2  # the other worker's running trial uses one of the 3


@pytest.mark.parametrize("scheme, sampler, sampler_settings", [
    ("sqlite", "tpe", {}), ("journal", "tpe", {}), pytest.param("journal", "gp", {}, marks=NEEDS_TORCH),
    ("journal", "random", {}), ("journal", "nsga2", {"population_size": 2})])
def test_two_worker_processes_share_one_study(tmp_path, store, scheme, sampler, sampler_settings):
    url = f"sqlite:///{store}/hpo.db" if scheme == "sqlite" else journal(store)
    go, max_trials, n_workers = tmp_path / "go", 6, 2
    procs = [start_worker(tmp_path, url=url, max_trials=max_trials, worker=i, sleep=0.1, grace=5,
                          go=str(go), n_random_trials=2, sampler=sampler, sampler_settings=sampler_settings,
                          window_max=20)
             for i in range(n_workers)]
    for i, proc in enumerate(procs):
        wait_for(Path(f"{go}.ready-{i}"), proc)
    go.touch()
    for proc in procs:
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, output
    trials = trials_of("s", url)
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    extra = [t for t in trials if t.state != TrialState.COMPLETE]
    assert len(complete) == max_trials  # never more evaluations than the budget
    assert len(trials) <= max_trials + n_workers - 1  # documented bound of skipped records
    for t in extra:
        assert t.state == TrialState.FAIL and "skipped" in t.user_attrs and t.params == {}
    for t in complete:
        expected = 0.4 - 0.1 * ((t.params["vector_size"] - 120) / 175) ** 2
        assert t.value == pytest.approx(expected) and t.user_attrs["metrics"]["hitrate"] == t.value
        assert t.params["window"] <= 20
    # Which worker evaluates how many trials depends on scheduling (on a loaded machine one may get
    # them all); tests/test_hpo_postgres.py holds three workers at a barrier so that they overlap.
    frame = hpo.trials_frame(hpo.load_study("s", url))
    assert len(frame) == len(trials) and (frame.state == "COMPLETE").sum() == max_trials


# ----------------------------------------------------------------------------- Pareto

def naive_front(points, signs):
    front = []
    for i, p in enumerate(points):
        dominated = False
        for j, q in enumerate(points):
            if j == i:
                continue
            at_least = all(qk * s >= pk * s for qk, pk, s in zip(q, p, signs))
            better = any(qk * s > pk * s for qk, pk, s in zip(q, p, signs))
            dominated = dominated or (at_least and better)
        if not dominated:
            front.append(i)
    return front


def mo_study(points, directions=("maximize", "maximize"), violations=None):
    study = optuna.create_study(directions=list(directions))
    dist = {"x": FloatDistribution(0, 1)}
    for k, values in enumerate(points):
        violation = 0.0 if violations is None else violations[k]
        study.add_trial(create_trial(values=list(values), params={"x": 0.5}, distributions=dist,
                                     constraints={hpo.FEASIBILITY_CONSTRAINT: violation}))
    return study


def test_pareto_front_on_a_constructed_set():
    points = [(0.30, 1000), (0.40, 500), (0.20, 500), (0.30, 1000), (0.50, 5000), (0.35, 800)]
    violations = [0, 0, 0, 0, 0.5, 0]  # the dominant trial 4 is infeasible
    study = mo_study(points, violations=violations)
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": 0.5},
                                 distributions={"x": FloatDistribution(0, 1)}))
    # 2 is dominated by 0; 0 and 3 tie and are both kept; 4 is infeasible; 5 is a trade-off.
    assert [t.number for t in hpo.pareto_front(study)] == [0, 1, 3, 5]
    assert hpo.pareto_front(optuna.create_study(directions=["maximize", "maximize"])) == []


def test_representative_trial():
    study = mo_study([(0.30, 1000), (0.40, 500), (0.40, 600), (0.50, 5000), (0.20, 9000)],
                     violations=[0, 0, 0, 0.5, 0])
    # Highest HitRate among the feasible front {0, 2, 4}; 1 ties 2 on HitRate but is dominated.
    assert hpo.representative_trial(study).number == 2
    single = optuna.create_study(direction="maximize")
    single.add_trial(create_trial(value=0.3, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}))
    assert hpo.representative_trial(single).number == 0
    with pytest.raises(ValueError, match="no feasible"):
        hpo.representative_trial(optuna.create_study(directions=["maximize", "maximize"]))


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=15),
       directions=st.sampled_from([("maximize", "maximize"), ("maximize", "minimize")]))
def test_pareto_front_matches_naive_reference(points, directions):
    study = mo_study(points, directions)
    signs = [1 if d == "maximize" else -1 for d in directions]
    assert [t.number for t in hpo.pareto_front(study)] == naive_front(points, signs)


def test_pareto_worker_records_both_objectives_and_converges(store):
    url = journal(store)
    points = [(0.1, 1000.0), (0.2, 500.0), (0.05, 500.0), (0.2, 500.0), (0.9, 9000.0)]
    evaluate = Scripted([{"hitrate": h, "vrc_genre": v, "vrc_artist": 1.0} for h, v in points])
    # Trials 2 (dominated) and 3 (equal to 1) do not enter the front: patience 2 is reached.
    hpo.run_pareto_worker("p", url, evaluate, max_trials=20, n_random_trials=0, patience=2, seed=1)
    study = hpo.load_study("p", url)
    assert len(evaluate.calls) == 4
    assert [t.number for t in hpo.pareto_front(study)] == [0, 1, 3]
    assert study.trials[1].user_attrs["objectives"] == {"HitRate": 0.2, "VRCGenre": 500.0}
    summary = hpo.study_summary(study)
    assert summary["objectives"] == ["HitRate", "VRCGenre"]
    assert [p["number"] for p in summary["pareto_front"]] == [0, 1, 3]
    frame = hpo.trials_frame(study)
    assert list(frame["value_VRCGenre"]) == [1000.0, 500.0, 500.0, 500.0]
    with pytest.raises(ValueError, match="two or more distinct"):
        hpo.run_pareto_worker("q", url, evaluate, max_trials=3, objectives=["HitRate", "HitRate"])


@pytest.mark.parametrize("sampler, violation", [("tpe", None), ("tpe", window_at_most(10)),
                                                ("nsga2", window_at_most(10))])
def test_pareto_worker_on_smooth_landscape(store, sampler, violation):
    url = journal(store)
    hpo.run_pareto_worker("p", url, smooth_metrics, max_trials=12, n_random_trials=4, seed=2, sampler=sampler,
                          sampler_settings={"population_size": 4} if sampler == "nsga2" else {},
                          predicted_violation=violation)
    study = hpo.load_study("p", url)
    assert len(study.trials) == 12 and all(t.state == TrialState.COMPLETE for t in study.trials)
    front = hpo.pareto_front(study)
    values = [t.values for t in study.trials]
    assert [t.number for t in front] == naive_front(values, [1, 1])
    if violation is not None:  # VRCGenre grows with the window: the front presses against the limit
        assert all(t.params["window"] <= 10 for t in study.trials)


# ----------------------------------------------------------------------------- reporting

def test_random_sampler_and_argument_errors(store):
    url = journal(store)
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, sampler="random", seed=1)
    assert len(trials_of("s", url)) == 3
    for bad in [dict(sampler="grid"), dict(max_trials=0), dict(patience=0), dict(n_random_trials=-1),
                dict(worker_index=-1)]:
        kwargs = dict(max_trials=3) | bad
        with pytest.raises(ValueError, match=next(iter(bad))):
            hpo.run_study_worker("t", url, "HitRate", smooth_metrics, **kwargs)


def test_summary_of_a_study_without_feasible_trial(store):
    url = journal(store)
    hpo.run_study_worker("s", url, "HitRate", Scripted([hpo.TrialInfeasible("slow")] * 2),
                         max_trials=2, seed=1)
    study = hpo.load_study("s", url)
    summary = hpo.study_summary(study)
    assert summary["n_infeasible"] == 2 and summary["best_trial_number"] is None
    assert summary["best_params"] is None
    with pytest.raises(ValueError, match="no feasible"):
        hpo.best_feasible_trial(study)


def test_summary_and_frame_of_a_mixed_study(store):
    url = journal(store)
    over = hpo.TrialInfeasible("slow")
    evaluate = Scripted([*hitrates(0.2), over, *hitrates(0.3)])
    hpo.run_study_worker("s", url, "HitRate", evaluate, max_trials=3, seed=1)
    study = hpo.load_study("s", url)
    summary = hpo.study_summary(study)
    json.dumps(summary)  # JSON-ready
    assert summary["n_trials"] == 3 and summary["n_trials_by_state"]["COMPLETE"] == 2
    assert summary["best_value"] == 0.3 and summary["best_trial_number"] == 2
    assert summary["best_params"] == study.trials[2].params
    assert summary["objectives"] == ["HitRate"] and summary["wall_time_seconds"] > 0
    frame = hpo.trials_frame(study)
    assert list(frame["number"]) == [0, 1, 2]
    assert list(frame["state"]) == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert list(frame["infeasible"]) == [False, True, False]
    assert frame["value"].iloc[2] == 0.3 and math.isnan(frame["value"].iloc[1])
    assert {f"param_{n}" for n in hpo.PAPER_SEARCH_SPACE.names} <= set(frame.columns)
    assert frame["metric_hitrate"].iloc[0] == 0.2


def test_journal_with_a_torn_last_record_is_repaired_by_the_next_append(store, caplog):
    """A worker killed inside a journal write leaves half a line; the study must survive it."""
    url = journal(store)
    hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=3, seed=1)
    path = Path(url[len("journal:"):])
    intact = path.read_bytes()
    torn = b'{"op_code":5,"worker_id":"killed","trial_id":3,"param_na'
    path.write_bytes(intact + torn)
    assert len(trials_of("s", url)) == 3  # Optuna's reader skips the torn line
    with caplog.at_level(logging.WARNING, logger="songvec.hpo"):
        hpo.run_study_worker("s", url, "HitRate", smooth_metrics, max_trials=5, seed=1)
    assert f"removed a torn last record of {len(torn)} bytes" in caplog.text
    trials = trials_of("s", url)
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETE for t in trials)
    assert path.read_bytes().startswith(intact)
    for line in path.read_bytes().splitlines():  # every record parses again
        json.loads(line)
