from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from songvec.tables import format_table, si_count, table4, table6_rows, to_latex, to_markdown, with_not_applicable


@pytest.fixture(scope="module")
def paper(paper_reference_dir):
    return pd.read_csv(paper_reference_dir / "paper_table4.csv")


ROWS = [
    {"config": "default", "opt_type": "default", "objective": None, "hitrate": 0.38, "ndcg": 0.16, "hardneg": 0.012,
     "vrc_genre": 512.4, "vrc_artist": 4.1},
    {"config": "HitRate", "opt_type": "single", "objective": "HitRate", "hitrate": 0.45, "ndcg": 0.2,
     "hardneg": np.nan, "vrc_genre": 380.0, "vrc_artist": 3.4567},
    {"config": "lambdaGenre(0.01)", "opt_type": "multi", "objective": "lambdaGenre(0.01)", "hitrate": 0.4412,
     "ndcg": 0.2101, "vrc_genre": 623.0, "vrc_artist": 5.9},
]
MARKS = {"default": {"hitrate": "", "ndcg": "", "hardneg": ""},
         "HitRate": {"hitrate": "up", "ndcg": "up", "hardneg": ""},
         "lambdaGenre(0.01)": {"hitrate": "up", "ndcg": "upup", "hardneg": ""}}


# --- generic renderers ---------------------------------------------------------------------------

def small_table():
    return pd.DataFrame({"Sampling": ["default", "1%"], "HitRate": ["0.3079", "0.3432↑"], "Time": ["-", "28h"],
                         "Note": ["a|b", "x_y & z"]})


def test_markdown_by_hand():
    assert to_markdown(small_table()) == (
        "| Sampling | HitRate | Time | Note |\n"
        "|---|---:|---:|---|\n"
        "| default | 0.3079 | - | a\\|b |\n"
        "| 1% | 0.3432↑ | 28h | x_y & z |\n")


def test_latex_by_hand():
    assert to_latex(small_table()) == (
        "\\begin{tabular}{lrrl}\n"
        "\\toprule\n"
        "Sampling & HitRate & Time & Note \\\\\n"
        "\\midrule\n"
        "default & 0.3079 & - & a|b \\\\\n"
        "1\\% & 0.3432$\\uparrow$ & 28h & x\\_y \\& z \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n")


def test_latex_double_arrow_and_missing_values():
    df = pd.DataFrame({"m": ["0.1586⇑", None], "≥100": [np.nan, "{1}"]})
    assert to_latex(df).splitlines()[2:6] == ["m & $\\geq$100 \\\\", "\\midrule",
                                             "0.1586$\\Uparrow$ & - \\\\", "- & \\{1\\} \\\\"]


def test_format_table():
    df = pd.DataFrame({"Dataset": ["LFM-1b", "ours"], "Events": [1e9, 2_600_000], "Mean": [9044.0, np.nan],
                       "r": [0.20554, 0.3]})
    out = format_table(df, {"Events": si_count, "Mean": ".0f", "r": ".4f"})
    assert out.values.tolist() == [["LFM-1b", "1B", "9044", "0.2055"], ["ours", "2.6M", "-", "0.3000"]]
    with pytest.raises(KeyError, match="not in the table"):
        format_table(df, {"HitRate": ".4f"})


def test_si_count():
    assert [si_count(n) for n in (66e6, 2.6e9, 120_000, 255e9, 9044, 17)] == ["66M", "2.6B", "120K", "255B",
                                                                               "9.04K", "17"]


# --- Table 4 -------------------------------------------------------------------------------------

def test_table4_values_and_marks_without_paper():
    t = table4(ROWS, MARKS)
    assert list(t.columns) == ["Opt. type", "Objective", "HitRate", "NDCG", "HardNeg", "VRCGenre", "VRCArtist"]
    assert t.values.tolist() == [
        ["default", "-", "0.3800", "0.1600", "0.0120", "512", "4.100"],
        ["single", "HitRate", "0.4500↑", "0.2000↑", "-", "380", "3.457"],
        ["multi", "lambdaGenre(0.01)", "0.4412↑", "0.2101⇑", "-", "623", "5.900"]]


def test_table4_and_table6_show_what_the_data_cannot_give_as_not_applicable(paper):
    rows = [dict(row, vrc_genre=None) for row in ROWS]
    t = table4(rows, MARKS, paper, paper_dataset="LFM-1b", not_applicable={"vrc_genre": "n/a (no genres in the data)"})
    assert t["VRCGenre"].tolist() == ["n/a (no genres in the data)"] * 3
    assert t["VRCGenre (paper)"].tolist() == ["520", "382", "623"]  # the paper's values stay
    assert t["VRCArtist"].tolist() == ["4.100", "3.457", "5.900"]
    shown = with_not_applicable(format_table(table6_rows({"vrc_artist": 4.1}, [(0.5, 2.0, {"vrc_artist": 3.0})])),
                                {"vrc_artist": "n/a (no artists in the data)"})
    assert shown["vrc_artist"].tolist() == ["n/a (no artists in the data)"] * 2
    with pytest.raises(KeyError, match="no column 'VRC'"):
        with_not_applicable(t, {"VRC": "n/a"})


def test_table4_paper_columns_joined_by_objective(paper):
    t = table4(ROWS, MARKS, paper, paper_dataset="LFM-1b").set_index("Objective")
    assert list(t.columns[1:5]) == ["HitRate", "HitRate (paper)", "NDCG", "NDCG (paper)"]
    assert t.loc["lambdaGenre(0.01)", "HitRate (paper)"] == "0.4428↑"
    assert t.loc["lambdaGenre(0.01)", "VRCGenre (paper)"] == "623"
    assert t.loc["-", "HitRate (paper)"] == "0.3771"       # the default row, empty objective in the CSV
    assert t.loc["HitRate", "VRCArtist (paper)"] == "3.457"
    assert t.loc["HitRate", "HardNeg (paper)"] == "-"      # no HardNeg on LFM-1b in the paper
    stream = table4(ROWS, MARKS, paper, paper_dataset="Stream-1%").set_index("Objective")
    assert stream.loc["lambdaGenre(0.01)", "NDCG (paper)"] == "0.1586⇑"
    assert stream.loc["lambdaGenre(0.01)", "HardNeg (paper)"] == "0.0084↑"


def test_table4_latex_and_markdown_render_marks(paper):
    t = table4(ROWS[2:], MARKS, paper, metrics={"ndcg": "NDCG"})
    assert to_markdown(t) == ("| Opt. type | Objective | NDCG | NDCG (paper) |\n|---|---|---:|---:|\n"
                              "| multi | lambdaGenre(0.01) | 0.2101⇑ | 0.2092↑ |\n")
    assert "multi & lambdaGenre(0.01) & 0.2101$\\Uparrow$ & 0.2092$\\uparrow$ \\\\" in to_latex(t)


def test_table4_paper_marks_may_be_mappings():
    paper = pd.DataFrame([{"opt_type": "multi", "objective": "lambdaGenre(0.01)", "ndcg": 0.1586,
                           "marks": {"ndcg": "upup"}}])
    t = table4(ROWS[2:], MARKS, paper, metrics={"ndcg": "NDCG"}, paper_dataset=None)
    assert t["NDCG (paper)"].tolist() == ["0.1586⇑"]
    with pytest.raises(ValueError, match="bad mark ndcg:down"):
        table4(ROWS[2:], MARKS, paper.assign(marks=[{"ndcg": "down"}]), paper_dataset=None)
    with pytest.raises(ValueError, match="bad mark"):
        table4(ROWS[2:], MARKS, paper.assign(marks=["ndcg=up"]), paper_dataset=None)


def test_table4_rows_without_paper_counterpart_and_bad_input(paper):
    extra = [{"config": "x", "opt_type": "multi", "objective": "lambdaGenre(0.5)", "hitrate": 0.1}]
    t = table4(extra, None, paper, metrics={"hitrate": "HitRate"})
    assert t.values.tolist() == [["multi", "lambdaGenre(0.5)", "0.1000", "-"]]
    with pytest.raises(ValueError, match="unknown significance mark"):
        table4(ROWS, {"HitRate": {"hitrate": "sideways"}})
    with pytest.raises(ValueError, match="pass paper_dataset"):
        table4(ROWS, MARKS, paper, paper_dataset=None)
    with pytest.raises(ValueError, match="no 'opt_type'"):
        table4([{"config": "x"}])


def test_html_page_shades_paper_columns_and_escapes():
    from songvec.tables import to_html
    df = pd.DataFrame({"Objective": ["a<b"], "HitRate": ["0.5000"], "HitRate (paper)": ["0.4492↑"]})
    page = to_html([("Table 4", df)])
    assert page.startswith("<!DOCTYPE html>") and "<h3>Table 4</h3>" in page
    assert "<th class=paper>HitRate (paper)</th>" in page
    assert "<td class='r paper'>0.4492↑</td>" in page and "a&lt;b" in page


def test_opt_type_of_objectives():
    from songvec.tables import opt_type
    assert [opt_type(o) for o in (None, "default", "HitRate", "VRCArtist", "lambdaGenre(0.01)", "lambdaArtist-0.1")] \
        == ["default", "default", "single", "single", "multi", "multi"]


# --- this run's rows beside the paper's ------------------------------------------------------------

PAPER_RESULTS = Path(__file__).resolve().parents[1] / "workflow" / "resources" / "paper_results.yaml"


def test_table4_rows_of_this_run_and_of_the_paper():
    from songvec.tables import paper_table4_rows, read_paper_results, table4_rows

    metrics = {"default": {"hitrate": 0.38}, "HitRate": {"hitrate": 0.45}, "lambdaGenre-0.01": {"hitrate": 0.44}}
    rows = table4_rows(metrics, {"HitRate": "HitRate", "lambdaGenre-0.01": "lambdaGenre(0.01)"})
    assert rows == [
        {"config": "default", "opt_type": "default", "objective": None, "hitrate": 0.38},
        {"config": "HitRate", "opt_type": "single", "objective": "HitRate", "hitrate": 0.45},
        {"config": "lambdaGenre-0.01", "opt_type": "multi", "objective": "lambdaGenre(0.01)", "hitrate": 0.44}]
    paper = paper_table4_rows(read_paper_results(PAPER_RESULTS)["table4"]["LFM-1b"])
    assert len(paper) == 8 and paper["opt_type"].tolist().count("multi") == 4
    assert (paper["opt_type"].iloc[0], paper["hitrate"].iloc[0]) == ("default", 0.3771)
    assert pd.isna(paper["objective"].iloc[0])
    table = table4(rows, None, paper, metrics={"hitrate": "HitRate"}, paper_dataset=None)
    assert table.values.tolist() == [["default", "-", "0.3800", "0.3771"], ["single", "HitRate", "0.4500", "0.4492↑"],
                                     ["multi", "lambdaGenre(0.01)", "0.4400", "0.4428↑"]]


def test_table6_rows_of_this_run_and_of_the_paper():
    from songvec.tables import (PAPER_TABLE6_FORMATS, TABLE6_FORMATS, paper_table6_rows, read_paper_results,
                                sampling_label, table6_rows)

    assert [sampling_label(f) for f in (None, "default", 0.01, "0.05", 0.5)] == ["default", "default", "1%", "5%",
                                                                                 "50%"]
    ours = table6_rows({"hitrate": 0.3}, [(0.01, 12.34, {"hitrate": 0.31}), (0.05, 40.0, {"hitrate": 0.32})])
    assert ours["sampling"].tolist() == ["default", "1%", "5%"] and ours["hitrate"].tolist() == [0.3, 0.31, 0.32]
    assert ours["opt_time_minutes"].isna().tolist() == [True, False, False]
    assert format_table(ours, {k: TABLE6_FORMATS[k] for k in ("opt_time_minutes", "hitrate")}).values.tolist() == \
        [["default", "-", "0.3000"], ["1%", "12.3", "0.3100"], ["5%", "40.0", "0.3200"]]
    paper = paper_table6_rows(read_paper_results(PAPER_RESULTS)["table6"])
    shown = format_table(paper, PAPER_TABLE6_FORMATS)
    assert shown.iloc[1].tolist() == ["1%", "28", "0.3432", "0.1378", "0.0109", "7367", "3.780"]  # the paper's row


def test_table2_columns_put_the_papers_beside_ours():
    from songvec.tables import with_paper_columns

    columns = with_paper_columns({"demo": {"songs": 10}}, {"LFM-1b": {"songs": 31}, "Stream-1%": {"songs": 17}})
    assert columns == {"demo": {"songs": 10}, "LFM-1b (paper)": {"songs": 31}, "Stream-1% (paper)": {"songs": 17}}
