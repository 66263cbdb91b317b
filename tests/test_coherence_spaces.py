"""Fig. 1's embedding spaces: evenly spaced VRC ranks over distinct feasible trials."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songvec.coherence_spaces import candidate_trials, select_spaces, spanning


def test_spanning_by_hand():
    vrc = pd.Series([1.0, 1.2, 1.5, 2.0, 10.0, 30.0, 100.0, 1000.0], index=list("abcdefgh"))
    # log10 targets 0, 1, 2, 3 -> a (1), e (10), g (100), h (1000): evenly spaced ranks would take a, c, f, h
    assert spanning(vrc, 4) == ["a", "e", "g", "h"]
    # targets 1, 5.6, 31.6, 178, 1000 (log10 0, 0.75, 1.5, 2.25, 3): 5.6 is nearest 10 (0.25 against 0.45 for
    # 2), 31.6 nearest 30, 178 nearest 100 (0.25 against 0.75)
    assert spanning(vrc, 5) == ["a", "e", "f", "g", "h"]
    assert spanning(vrc, 2) == ["a", "h"]
    assert spanning(vrc, 20) == list("abcdefgh")
    # a target whose nearest label is taken takes the next nearest
    assert spanning(pd.Series([1.0, 1.0, 1.0, 8.0], index=["z", "y", "x", "w"]), 3) == ["x", "y", "w"]
    with pytest.raises(ValueError, match="n must be >= 2"):
        spanning(vrc, 1)
    with pytest.raises(ValueError, match="positive"):
        spanning(pd.Series([1.0, np.nan], index=["a", "b"]), 2)
    with pytest.raises(ValueError, match="positive"):
        spanning(pd.Series([1.0, 0.0], index=["a", "b"]), 2)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0.5, 1000.0), min_size=1, max_size=30), n=st.integers(2, 12))
def test_spanning_properties(values, n):
    vrc = pd.Series(np.asarray(values, float), index=[f"s{i}" for i in range(len(values))])
    picks = spanning(vrc, n)
    assert len(picks) == min(n, len(values)) == len(set(picks))
    assert [vrc[p] for p in picks] == sorted(vrc[p] for p in picks)
    assert vrc[picks[0]] == vrc.min() and vrc[picks[-1]] == vrc.max()


def trials(rows):
    """A trials.csv frame: (number, state, infeasible, window, alpha, epochs, vrc_genre) per row."""
    return pd.DataFrame(rows, columns=["number", "state", "infeasible", "param_window", "param_alpha",
                                       "metric_epochs", "metric_vrc_genre"])


STUDIES = {
    # trial 0 of every study is the default configuration (window 5, alpha 0.025)
    "HitRate": trials([(0, "COMPLETE", False, 5, 0.025, 5, 300.0), (1, "PRUNED", True, 40, 0.1, None, None),
                       (2, "COMPLETE", False, 3, 0.05, 5, 250.0), (3, "FAIL", None, 9, 0.01, None, None)]),
    "VRCGenre": trials([(0, "COMPLETE", False, 5, 0.025, 5, 301.0), (1, "COMPLETE", False, 12, 0.002, 5, 900.0),
                        (2, "COMPLETE", False, 8, 0.01, 5, 600.0), (3, "COMPLETE", False, 2, 0.02, 5, np.nan)]),
}


def test_candidates_are_feasible_completed_distinct_configurations():
    table = candidate_trials(STUDIES)
    # the default appears once (from the first study); pruned, failed and NaN-VRC trials are out
    assert list(table.index) == ["HitRate#0", "HitRate#2", "VRCGenre#1", "VRCGenre#2"]
    assert table.loc["VRCGenre#1", "vrc_genre"] == 900.0


def test_select_spaces_spans_the_vrc_range_in_the_layout_of_best_json():
    spaces = select_spaces(STUDIES, 3)
    # by VRC: HitRate#2 (250), HitRate#0 (300), VRCGenre#2 (600), VRCGenre#1 (900); the log-midpoint 474 is
    # nearest 600 (log-distance 0.24 against 0.46 for 300)
    assert [(s["study"], s["trial"]) for s in spaces] == [("HitRate", 2), ("VRCGenre", 2), ("VRCGenre", 1)]
    assert spaces[2] == {"study": "VRCGenre", "trial": 1, "best_params": {"window": 12, "alpha": 0.002},
                         "best_metrics": {"vrc_genre": 900.0, "epochs": 5}}
    assert isinstance(spaces[0]["best_params"]["window"], int)
    with pytest.raises(ValueError, match="needs 5 distinct feasible configurations.*have 4"):
        select_spaces(STUDIES, 5)
