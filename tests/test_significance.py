import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from songvec.significance import (bonferroni, mean_ci, pairwise_tests, paired_ttest, proportion_ci,
                                  table4_marks)


def naive_paired_ttest(a, b, alternative):
    """Textbook formula: t = mean(d) / (sd(d) / sqrt(n)), p from the t distribution with n - 1 df."""
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    if alternative == "greater":
        p = stats.t.sf(t, n - 1)
    elif alternative == "less":
        p = stats.t.cdf(t, n - 1)
    else:
        p = 2 * stats.t.sf(abs(t), n - 1)
    return t, p


def items_with_p(p, n, rng):
    """(n,) differences whose one-sided paired t-test against zero has exactly p-value ``p``."""
    noise = rng.normal(size=n)
    noise = (noise - noise.mean()) / noise.std(ddof=1)  # mean 0, sd 1 exactly
    return stats.t.isf(p, n - 1) / math.sqrt(n) + noise


# --- paired t-test -------------------------------------------------------------------------------

def test_paired_ttest_by_hand():
    # d = (1, 2, 4): mean 7/3, sd sqrt(7/3), so t = (7/3) / sqrt(7/9) = sqrt(7); with 2 df the t CDF is
    # 1/2 + t / (2 sqrt(t^2 + 2)), so P(T > sqrt 7) = 1/2 - sqrt(7) / 6.
    t, p = paired_ttest([2, 3, 5], [1, 1, 1], "greater")
    assert t == pytest.approx(math.sqrt(7))
    assert p == pytest.approx(0.5 - math.sqrt(7) / 6)
    assert paired_ttest([2, 3, 5], [1, 1, 1], "two-sided")[1] == pytest.approx(1 - math.sqrt(7) / 3)
    assert paired_ttest([2, 3, 5], [1, 1, 1], "less")[1] == pytest.approx(0.5 + math.sqrt(7) / 6)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_paired_ttest_matches_naive_formula(alternative):
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        a, b = rng.normal(size=n), rng.normal(0.2, 1.5, size=n)
        t, p = paired_ttest(a, b, alternative)
        t_ref, p_ref = naive_paired_ttest(a.tolist(), b.tolist(), alternative)
        assert t == pytest.approx(t_ref, rel=1e-9)
        assert p == pytest.approx(p_ref, rel=1e-7, abs=1e-15)


def test_paired_ttest_zero_variance_differences():
    assert paired_ttest([1, 2, 3], [1, 2, 3], "greater") == (0.0, 1.0)
    assert paired_ttest([1, 2, 3], [1, 2, 3], "two-sided") == (0.0, 1.0)
    assert paired_ttest([2, 3, 4], [1, 2, 3], "greater") == (math.inf, 0.0)
    assert paired_ttest([2, 3, 4], [1, 2, 3], "less") == (math.inf, 1.0)
    assert paired_ttest([0, 1, 2], [1, 2, 3], "less") == (-math.inf, 0.0)
    assert paired_ttest([0, 1, 2], [1, 2, 3], "two-sided") == (-math.inf, 0.0)
    x = np.random.default_rng(0).random(100)
    assert paired_ttest(x + 0.1, x, "greater") == (math.inf, 0.0)  # constant up to rounding


def test_paired_ttest_rejects_bad_input():
    with pytest.raises(ValueError, match="aligned"):
        paired_ttest([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-finite"):
        paired_ttest([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        paired_ttest([1], [2])
    with pytest.raises(ValueError, match="alternative"):
        paired_ttest([1, 2], [2, 3], "bigger")


def test_bonferroni():
    assert bonferroni([0.001, 0.02, 0.5], 10).tolist() == pytest.approx([0.01, 0.2, 1.0])
    with pytest.raises(ValueError):
        bonferroni([0.1], 0)
    with pytest.raises(ValueError):
        bonferroni([1.5], 2)


# --- Table 4 marks -------------------------------------------------------------------------------

def constructed_configs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(0.3, 0.1, size=n)
    hardneg = rng.normal(0.02, 0.005, size=n)
    hit_best = base + 0.05 + rng.normal(0, 0.02, size=n)
    hardneg_best = hardneg - 0.004 + rng.normal(0, 0.001, size=n)
    return {
        "default": {"hitrate": base, "ndcg": base / 2, "hardneg": hardneg},
        "HitRate": {"hitrate": hit_best, "ndcg": hit_best / 2, "hardneg": hardneg_best},
        # clearly better than both: up-up on all three metrics (HardNeg lower is better)
        "lambdaGenre(0.01)": {"hitrate": hit_best + 0.05 + rng.normal(0, 0.02, size=n),
                              "ndcg": hit_best / 2 + 0.03 + rng.normal(0, 0.01, size=n),
                              "hardneg": hardneg_best - 0.004 + rng.normal(0, 0.001, size=n)},
        # better than the default but exactly as good as the HitRate-optimised one: up, not up-up
        "lambdaArtist(0.01)": {"hitrate": hit_best.copy(), "ndcg": hit_best / 2, "hardneg": hardneg_best.copy()},
        # worse than the default
        "VRCGenre": {"hitrate": base - 0.05 + rng.normal(0, 0.02, size=n), "ndcg": base / 2 - 0.02,
                     "hardneg": hardneg + 0.004 + rng.normal(0, 0.001, size=n)},
    }


def test_table4_marks_constructed_cases():
    result = table4_marks(constructed_configs())
    all_metrics = ("hitrate", "ndcg", "hardneg")
    assert result.marks["default"] == dict.fromkeys(all_metrics, "")
    assert result.marks["HitRate"] == dict.fromkeys(all_metrics, "up")
    assert result.marks["lambdaGenre(0.01)"] == dict.fromkeys(all_metrics, "upup")
    assert result.marks["lambdaArtist(0.01)"] == dict.fromkeys(all_metrics, "up")
    assert result.marks["VRCGenre"] == dict.fromkeys(all_metrics, "")
    # C = 5 configurations, M = 3 metrics: M (C - 1) against the default + M (C - 2) against HitRate
    assert result.n_tests == 3 * 4 + 3 * 3 == len(result.tests)
    equal = result.tests[(result.tests.config == "lambdaArtist(0.01)") & (result.tests.versus == "HitRate")]
    assert (equal["p"] == 1.0).all() and (equal["t"] == 0.0).all()
    assert np.allclose(result.tests["p_bonferroni"], np.minimum(1, result.tests["p"] * 21))
    assert set(result.tests[result.tests.config == "HitRate"]["versus"]) == {"default"}


def test_table4_bonferroni_decides_a_borderline_case():
    rng = np.random.default_rng(1)
    n = 50
    default = rng.normal(size=n)
    per_item = {"default": {"hitrate": default},
                "HitRate": {"hitrate": default + items_with_p(0.001, n, rng)},   # 0.001 * 3 < 0.01
                "borderline": {"hitrate": default + items_with_p(0.005, n, rng)}}  # 0.005 * 3 > 0.01
    result = table4_marks(per_item, metrics={"hitrate": "greater"})
    assert result.n_tests == 3  # 2 against the default, 1 of "borderline" against HitRate
    tests = result.tests.set_index(["config", "versus"])
    assert tests.loc[("borderline", "default"), "p"] == pytest.approx(0.005)
    assert tests.loc[("borderline", "default"), "p_bonferroni"] == pytest.approx(0.015)
    assert result.marks["borderline"]["hitrate"] == ""
    assert result.marks["HitRate"]["hitrate"] == "up"


def test_table4_marks_match_naive_recomputation_on_random_data():
    rng = np.random.default_rng(7)
    n = 30
    metrics = {"hitrate": "greater", "hardneg": "less"}
    names = ["default", "HitRate", "a", "b", "c"]
    per_item = {name: {m: rng.normal(0.3 * rng.normal(), 1.0, size=n) for m in metrics} for name in names}
    result = table4_marks(per_item, metrics=metrics, alpha=0.2)
    n_tests = 2 * 4 + 2 * 3
    for config in names[1:]:
        for metric, direction in metrics.items():
            p_default = naive_paired_ttest(per_item[config][metric], per_item["default"][metric], direction)[1]
            expected = ""
            if p_default * n_tests < 0.2:
                expected = "up"
                if config != "HitRate":
                    p_best = naive_paired_ttest(per_item[config][metric], per_item["HitRate"][metric], direction)[1]
                    expected = "upup" if p_best * n_tests < 0.2 else "up"
            assert result.marks[config][metric] == expected, (config, metric)


def test_table4_marks_without_best_single():
    result = table4_marks(constructed_configs(), best_single=None)
    assert result.n_tests == 3 * 4
    assert "upup" not in {m for marks in result.marks.values() for m in marks.values()}


def test_table4_marks_reject_misaligned_or_missing_values():
    configs = constructed_configs()
    configs["VRCGenre"]["ndcg"] = configs["VRCGenre"]["ndcg"][:-1]
    with pytest.raises(ValueError, match="'ndcg' are not aligned"):
        table4_marks(configs)
    configs = constructed_configs()
    del configs["VRCGenre"]["hardneg"]
    with pytest.raises(ValueError, match="'VRCGenre' has no per-item values"):
        table4_marks(configs)
    with pytest.raises(ValueError, match="best_single"):
        table4_marks(constructed_configs(), best_single="VRCArtist")


def test_pairwise_tests_counts_and_values():
    rng = np.random.default_rng(2)
    per_item = {name: {"hitrate": rng.normal(size=40), "ndcg": rng.normal(size=40)} for name in "wxyz"}
    tests = pairwise_tests(per_item, ["hitrate", "ndcg"])
    assert len(tests) == 2 * 4 * 3 // 2
    row = tests[(tests.config_a == "x") & (tests.config_b == "z") & (tests.metric == "ndcg")].iloc[0]
    t, p = naive_paired_ttest(per_item["x"]["ndcg"], per_item["z"]["ndcg"], "two-sided")
    assert row.t == pytest.approx(t) and row.p == pytest.approx(p)
    assert row.p_bonferroni == pytest.approx(min(1.0, p * 12))


# --- confidence intervals ------------------------------------------------------------------------

def test_mean_ci_by_hand_and_against_scipy():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    # s = 1, se = 1/sqrt(3), t_{0.975, 2} = 4.3027 (t table)
    assert mean == 2.0
    assert low == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert high == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)
    values = np.random.default_rng(4).exponential(size=25)
    expected = stats.t.interval(0.9, 24, loc=values.mean(), scale=stats.sem(values))
    assert mean_ci(values, 0.9)[1:] == pytest.approx(expected)
    assert mean_ci([5.0, 5.0]) == (5.0, 5.0, 5.0)
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci([1.0])


def naive_wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_by_hand():
    p, low, high = proportion_ci(8, 10)
    assert p == 0.8
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=5e-5)  # published Wilson interval for 8/10
    z2 = 1.959963984540054 ** 2
    assert proportion_ci(0, 10)[1:] == pytest.approx((0.0, (z2 / 10) / (1 + z2 / 10)))


def test_wilson_interval_holds_p_exactly_at_zero_and_one():
    """At 0/n (and n/n) the bound is p itself; rounding made it 2.8e-17 for 0/7, a negative error bar."""
    n = np.arange(1, 500)
    assert (proportion_ci(np.zeros_like(n), n)[1] == 0.0).all()
    assert (proportion_ci(n, n)[2] == 1.0).all()


def test_wilson_vectorised_with_empty_cells():
    p, low, high = proportion_ci(np.array([3, 0, 7]), np.array([10, 0, 7]), 0.95)
    assert np.isnan(p[1]) and np.isnan(low[1]) and np.isnan(high[1])
    assert (low[0], high[0]) == pytest.approx(naive_wilson(3, 10))
    assert (low[2], high[2]) == pytest.approx(naive_wilson(7, 7))
    with pytest.raises(ValueError):
        proportion_ci(5, 4)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), data=st.data(), level=st.floats(0.5, 0.999))
def test_wilson_interval_contains_estimate_and_stays_in_unit_interval(n, data, level):
    k = data.draw(st.integers(0, n))
    p, low, high = proportion_ci(k, n, level)
    assert -1e-12 <= low <= p + 1e-12 and p - 1e-12 <= high <= 1 + 1e-12
    z = stats.norm.ppf((1 + level) / 2)
    assert (low, high) == pytest.approx(naive_wilson(k, n, z), abs=1e-12)
