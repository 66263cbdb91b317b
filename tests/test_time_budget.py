"""The time budget of HPO trials (songvec.time_budget): the cost model by hand, the plan of a trial
(epochs, infeasible before training), the budget read from config, and that it needs no Optuna."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from songvec.time_budget import (CLOCKS, CostModel, OverTimeBudget, TimeBudget, TrialInfeasible, TrialPlan,
                                 context_pairs, epochs_within_budget)
from songvec.training import Word2VecParams

SRC = Path(__file__).resolve().parents[1] / "src"
REFERENCE = Word2VecParams(vector_size=100, window=5, negative=5)  # cost 6 * 6 * 100


FITTED = CostModel(per_sample_dim=0.25, per_sample=75.0, per_token=90.0)  # ns per token and epoch


def test_relative_cost_by_hand():
    default, textbook = Word2VecParams(), CostModel()
    assert textbook.relative(default, default) == 1.0
    assert textbook.relative(Word2VecParams(window=11, negative=11, vector_size=50), default) == \
        pytest.approx(12 * 12 * 50 / (6 * 6 * 100))
    assert textbook.relative(Word2VecParams(alpha=0.1, ns_exponent=-1), default) == 1.0
    # 6 * 6 * (0.25 * 100 + 75) + 90 = 3690 ns per token and epoch for the default
    assert FITTED.cost(default) == pytest.approx(3690.0)
    # d = 200 costs 6 * 6 * 125 + 90 = 4590: 1.24 x, where the textbook form says 2 x
    assert FITTED.relative(Word2VecParams(vector_size=200), default) == pytest.approx(4590 / 3690)
    assert FITTED.relative(Word2VecParams(alpha=0.1, ns_exponent=-1), default) == 1.0


def test_context_pairs_by_hand_and_against_gensims_loop():
    # 3 tokens, window 1: positions have 1, 2, 1 neighbours -> 4 / 3; window 2 draws w = 1 (4 pairs) or
    # w = 2 (2 + 2 + 2 = 6 pairs) -> 5 / 3
    assert context_pairs({3: 1}, 2) == pytest.approx((4 / 3, 5 / 3))
    assert context_pairs({1: 5}, 3) == (0.0, 0.0, 0.0)  # a one-token sentence has no pair
    long = context_pairs({10_000: 2}, 40)
    assert long[4] == pytest.approx(6, rel=1e-3) and long[39] == pytest.approx(41, rel=1e-2)  # window + 1

    def naive(lengths, window):  # gensim's skip-gram loop: reduced window b, pairs with j != i in range
        pairs = 0
        for n in lengths:
            for i in range(n):
                for w in range(1, window + 1):  # each effective window w = window - b with probability 1/window
                    pairs += sum(1 for j in range(i - w, i + w + 1) if j != i and 0 <= j < n) / window
        return pairs / sum(lengths)

    lengths = [1, 2, 3, 5, 8, 13, 40]
    counts = {n: lengths.count(n) for n in lengths}
    got = context_pairs(counts, 12)
    assert got == pytest.approx([naive(lengths, w) for w in range(1, 13)])


def test_the_corpus_lengths_make_wide_windows_cheaper_and_the_costs_relative_on_the_same_data():
    short = context_pairs({20: 100}, 40)
    wide = Word2VecParams(window=19)
    assert CostModel().relative(wide, REFERENCE, short) < CostModel().relative(wide, REFERENCE)  # 20 / 6
    assert CostModel().relative(wide, REFERENCE, short) == pytest.approx(short[18] / short[4])
    hpo = {"time_budget_factor": 1.25, "time_measure": "model", "time_constraint": "reject", "prediction_margin": None,
           "cost_model": {"per_sample_dim": 1.0, "per_sample": 0.0, "per_token": 0.0},
           "search_space": {"window": {"low": 1, "high": 40}}}
    record = {"train_seconds": 4.0, "train_cpu_seconds": 3.0}
    budget = TimeBudget.from_config(hpo, REFERENCE, record, {20: 100})
    assert budget.pairs == short and "context pairs per token" in budget.describe()
    # the same corpus shape at another size (a scale study's subsample) gives the same decisions
    assert TimeBudget.from_config(hpo, REFERENCE, record, {20: 7}).pairs == pytest.approx(short)
    assert TimeBudget.from_config(hpo, REFERENCE, record).pairs == ()


@pytest.mark.parametrize("fields, message", [
    ({"per_sample_dim": -1.0}, "per_sample_dim must be a finite number >= 0"),
    ({"per_token": float("nan")}, "per_token must be a finite number >= 0"),
    ({"per_sample_dim": 0.0, "per_sample": 0.0}, "cannot both be 0"),
])
def test_bad_cost_models_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        CostModel(**fields)


def test_epochs_within_budget_by_hand():
    twice = Word2VecParams(vector_size=200, window=5, negative=5)
    seven_times = Word2VecParams(vector_size=100, window=41, negative=5)  # 42 / 6 = 7
    cheaper = Word2VecParams(vector_size=50, window=5, negative=5)
    assert epochs_within_budget(twice, REFERENCE, 5, 1.25) == 3  # 3 x 2 = 6 <= 6.25
    assert epochs_within_budget(seven_times, REFERENCE, 5, 1.25) == 0  # 7 > 6.25
    assert epochs_within_budget(cheaper, REFERENCE, 5, 1.25) == 5  # never more than the reference's
    assert epochs_within_budget(twice, REFERENCE, 4, 1.0) == 2  # exactly the budget is within it
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        epochs_within_budget(twice, REFERENCE, 0, 1.25)


def test_the_reference_is_never_held_to_the_budget():
    budget = TimeBudget(REFERENCE, 10.0, factor=1e-9, prediction_margin=1.0, constraint="scale_epochs")
    assert budget.plan(REFERENCE, 5) == TrialPlan(5, None)


def test_reject_plans_full_epochs_and_rejects_what_the_cost_model_puts_past_the_margin():
    budget = TimeBudget(REFERENCE, 10.0, factor=1.25, prediction_margin=3.0)
    assert budget.seconds == 12.5
    three_times = Word2VecParams(vector_size=300, window=5, negative=5)  # predicted 30 s <= 3 x 12.5
    assert budget.plan(three_times, 5) == TrialPlan(5, 12.5)
    four_times = Word2VecParams(vector_size=400, window=5, negative=5)  # predicted 40 s > 37.5
    with pytest.raises(TrialInfeasible, match=r"predicted training time 40s exceeds 3 x the budget of 12.5s") as err:
        budget.plan(four_times, 5)
    assert err.value.violation == pytest.approx(40 / 12.5 - 1)
    # without a margin only the measured training decides
    assert TimeBudget(REFERENCE, 10.0).plan(four_times, 5) == TrialPlan(5, 12.5)


def test_scale_epochs_trains_costlier_configurations_fewer_epochs():
    budget = TimeBudget(REFERENCE, 10.0, factor=1.25, constraint="scale_epochs", prediction_margin=3.0)
    assert budget.plan(Word2VecParams(vector_size=200, window=5, negative=5), 5) == TrialPlan(3, 12.5)
    assert budget.plan(Word2VecParams(vector_size=50, window=5, negative=5), 5) == TrialPlan(5, 12.5)
    seven_times = Word2VecParams(vector_size=100, window=41, negative=5)
    with pytest.raises(TrialInfeasible, match="one epoch costs 7 x the reference's, more than the budget of "
                                              "1.25 x its 5 epochs") as err:
        budget.plan(seven_times, 5)
    assert err.value.violation == pytest.approx(7 / (5 * 1.25) - 1)


def test_from_config_reads_the_reference_seconds_of_the_chosen_clock():
    hpo = {"time_budget_factor": 2.0, "time_measure": "wall", "time_constraint": "reject", "prediction_margin": None,
           "cost_model": {"per_sample_dim": 0.25, "per_sample": 75.0, "per_token": 90.0},
           "search_space": {"window": {"low": 1, "high": 40}}}
    record = {"train_seconds": 4.0, "train_cpu_seconds": 3.0}
    budget = TimeBudget.from_config(hpo, REFERENCE, record)
    assert (budget.reference_seconds, budget.seconds, budget.clock) == (4.0, 8.0, "wall")
    assert TimeBudget.from_config(hpo | {"time_measure": "cpu"}, REFERENCE, record).seconds == 6.0
    modelled = TimeBudget.from_config(hpo | {"time_measure": "model"}, REFERENCE, record)
    assert (modelled.clock, modelled.reference_seconds, modelled.cost_model) == ("model", 3.0, FITTED)
    assert {clock.record_key for clock in CLOCKS.values()} == set(record)
    with pytest.raises(ValueError, match="config key 'hpo.time_measure' must be one of"):
        TimeBudget.from_config(hpo | {"time_measure": "sundial"}, REFERENCE, record)


@pytest.mark.parametrize("fields, message", [
    ({"constraint": "shorten"}, "time constraint must be one of"),
    ({"clock": "gpu"}, "clock must be one of"),
    ({"clock": "cpu", "factor": -1.0}, "factor must be > 0"),
    ({"factor": 0}, "factor must be > 0"),
    ({"reference_seconds": -1.0}, "reference_seconds must be > 0"),
    ({"prediction_margin": 0.0}, "prediction_margin must be > 0"),
])
def test_bad_budgets_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        TimeBudget(**{"reference": REFERENCE, "reference_seconds": 1.0} | fields)


def test_model_decides_by_the_cost_model_alone_and_holds_no_training_to_a_clock():
    budget = TimeBudget(REFERENCE, 10.0, factor=1.25, clock="model", prediction_margin=3.0, cost_model=FITTED)
    within = Word2VecParams(vector_size=200, window=5, negative=5)  # 4590 / 3690 = 1.244 <= 1.25
    assert budget.plan(within, 5) == TrialPlan(5, None)
    assert budget.predicted_violation(within, 5) == pytest.approx(4590 / 3690 / 1.25 - 1)
    wider = Word2VecParams(vector_size=100, window=6, negative=5)  # 7 * 6 * 100 + 90 = 4290 ns: 1.163 x
    assert budget.plan(wider, 5) == TrialPlan(5, None)
    past = Word2VecParams(vector_size=100, window=7, negative=5)  # 8 * 6 * 100 + 90 = 4890: 1.325 x
    with pytest.raises(TrialInfeasible, match=r"the cost model predicts 1.33 x the reference's training time, "
                                              r"over the budget of 1.25 x") as err:
        budget.plan(past, 5)
    assert err.value.violation == pytest.approx(4890 / 3690 / 1.25 - 1) == budget.predicted_violation(past, 5)
    assert budget.predicted_violation(REFERENCE, 5) == pytest.approx(1 / 1.25 - 1)
    # the dict form the HPO engine calls
    assert budget.violation_predictor(5)(dataclasses.asdict(past)) == budget.predicted_violation(past, 5)


def test_scale_epochs_under_the_model_and_the_violation_the_sampler_sees():
    budget = TimeBudget(REFERENCE, 10.0, factor=1.25, clock="model", constraint="scale_epochs")
    twice = Word2VecParams(vector_size=200, window=5, negative=5)
    assert budget.plan(twice, 5) == TrialPlan(3, None)
    assert budget.predicted_violation(twice, 5) == pytest.approx(3 * 2 / (5 * 1.25) - 1)  # trains 3 of 5 epochs
    seven_times = Word2VecParams(vector_size=100, window=41, negative=5)
    assert budget.predicted_violation(seven_times, 5) == pytest.approx(7 / (5 * 1.25) - 1)
    with pytest.raises(TrialInfeasible, match="one epoch costs 7 x"):
        budget.plan(seven_times, 5)
    # cpu: a draw the cost model puts over the budget is trained (and measured) unless past the margin
    measured = TimeBudget(REFERENCE, 10.0, factor=1.25, prediction_margin=3.0)
    three_times = Word2VecParams(vector_size=300, window=5, negative=5)
    assert measured.predicted_violation(three_times, 5) == pytest.approx(3 / 1.25 - 1)
    assert measured.plan(three_times, 5) == TrialPlan(5, 12.5, "cpu")


def test_an_overrun_becomes_an_infeasible_trial():
    infeasible = OverTimeBudget(projected_seconds=15.0, budget_seconds=10.0, elapsed_seconds=3.0,
                                epochs_completed=1).as_infeasible()
    assert infeasible.violation == pytest.approx(0.5)
    assert "projected training time 15s exceeds the budget of 10s" in infeasible.reason
    with pytest.raises(ValueError, match="violation must be > 0"):
        TrialInfeasible("not over", violation=0.0)


@pytest.mark.parametrize("module", ["songvec.time_budget", "songvec.evaluation", "songvec.objectives"])
def test_metric_code_does_not_import_optuna(module):
    """The budget and the metrics are used without the HPO engine (e.g. rule evaluate_model)."""
    code = (f"import sys, {module}; loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'optuna'); "
            f"print(loaded); sys.exit(1 if loaded else 0)")
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, f"import {module} loaded optuna modules: {result.stdout}{result.stderr}"
    # the check can fail: the HPO engine does load optuna
    engine = subprocess.run([sys.executable, "-c", code.replace(module, "songvec.hpo")], capture_output=True,
                            text=True, env=env, timeout=120)
    assert engine.returncode == 1 and "'optuna'" in engine.stdout
