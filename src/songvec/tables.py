"""Rendering of the paper's tables (Table 2, 4, 5, 6 analogs) as Markdown, LaTeX and CSV.

Nothing here computes a metric: the functions turn numbers that were computed elsewhere into
display tables (pandas DataFrames of strings), which :func:`to_markdown` and :func:`to_latex` print
and ``DataFrame.to_csv`` saves, and put this run's rows beside the paper's (read from
``workflow/resources/paper_results.yaml`` by :func:`read_paper_results`). Significance marks are shown
as ↑ (better than the default configuration) and ⇑ (also better than the best single-objective one);
LaTeX gets ``$\\uparrow$`` and ``$\\Uparrow$``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Callable, Mapping, Sequence

import pandas as pd
import yaml

log = logging.getLogger(__name__)

#: Table 4 metric keys (as in the rows and the paper CSV) -> column headers.
TABLE4_METRICS = {"hitrate": "HitRate", "ndcg": "NDCG", "hardneg": "HardNeg", "vrc_genre": "VRCGenre",
                  "vrc_artist": "VRCArtist"}
#: Number formats of Table 4, as printed in the paper.
TABLE4_FORMATS = {"hitrate": ".4f", "ndcg": ".4f", "hardneg": ".4f", "vrc_genre": ".0f", "vrc_artist": ".3f"}
#: Number formats of Table 6: Table 4's and the optimisation time of this run (minutes) or the paper's (hours).
TABLE6_FORMATS = dict(TABLE4_FORMATS, opt_time_minutes=".1f")
PAPER_TABLE6_FORMATS = dict(TABLE4_FORMATS, opt_time_hours=".0f")
MARK_SYMBOLS = {"": "", "up": "↑", "upup": "⇑", "down": "↓"}
#: Metric names used in the paper CSV's ``marks`` column that differ from the row keys.
PAPER_MARK_ALIASES = {"hr": "hitrate"}
PAPER_SUFFIX = " (paper)"
MISSING = "-"

Format = str | Callable[[object], str]


def table4(rows: Sequence[Mapping], marks: Mapping[str, Mapping[str, str]] | None = None,
           paper: pd.DataFrame | None = None, metrics: Mapping[str, str] = TABLE4_METRICS,
           formats: Mapping[str, Format] = TABLE4_FORMATS, paper_dataset: str | None = "LFM-1b",
           not_applicable: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Display table of Table 4: one row per configuration, our values beside the paper's.

    ``rows``: one mapping per configuration with ``config`` (the key into ``marks``), ``opt_type``
    (``default``/``single``/``multi``), ``objective`` (e.g. ``HitRate``, ``lambdaGenre(0.01)``; empty or
    None for the default) and a value per key of ``metrics`` (absent or None/NaN: shown as ``-``).
    ``marks``: config -> metric -> ``""``/``"up"``/``"upup"`` (``significance.table4_marks(...).marks``).
    ``paper``: the paper's Table 4 (columns ``opt_type, objective``, the metric keys and ``marks``, either
    text like ``hr:up;ndcg:upup`` or a mapping ``{"hitrate": "up"}``), restricted to ``paper_dataset``
    when it has a ``dataset`` column; its values go into a ``<header> (paper)`` column right of each of
    ours, matched on ``(opt_type, objective)`` (rows without a counterpart get ``-``, counted in the log).
    ``metrics``: metric key -> column header; ``formats``: metric key -> format spec or callable.
    ``not_applicable``: metric key -> the text shown instead of our values (a metric the data cannot give,
    e.g. ``"n/a (no genres in the data)"``; :func:`with_not_applicable`).

    Columns: ``Opt. type, Objective``, then per metric ``<header>`` [and ``<header> (paper)``].
    """
    paper_by_key = _paper_rows(paper, paper_dataset) if paper is not None else None
    marks = marks or {}
    table = []
    unmatched = []
    for row in rows:
        for required in ("config", "opt_type"):
            if required not in row:
                raise ValueError(f"table4 row {dict(row)} has no {required!r}")
        key = (row["opt_type"], _objective(row.get("objective")))
        row_marks = marks.get(row["config"], {})
        line = {"Opt. type": row["opt_type"], "Objective": key[1] or MISSING}
        paper_row = None
        if paper_by_key is not None:
            paper_row = paper_by_key.get(key)
            if paper_row is None:
                unmatched.append(key)
        for metric, header in metrics.items():
            spec = formats.get(metric, "")
            line[header] = _format(row.get(metric), spec) + _symbol(row_marks.get(metric, ""))
            if paper_by_key is not None:
                line[header + PAPER_SUFFIX] = MISSING if paper_row is None else (
                    _format(paper_row.get(metric), spec) + _symbol(paper_row["marks"].get(metric, "")))
        table.append(line)
    if unmatched:
        log.warning("table4: %d configurations have no paper row: %s", len(unmatched), unmatched)
    table = with_not_applicable(pd.DataFrame(table), {metrics[m]: text for m, text in (not_applicable or {}).items()
                                                      if m in metrics})
    if paper_by_key is not None:
        ours = {(r["opt_type"], _objective(r.get("objective"))) for r in rows}
        extra = [k for k in paper_by_key if k not in ours]
        if extra:
            log.info("table4: %d paper rows have no configuration of ours and are not shown: %s", len(extra), extra)
    return table


#: The models table's columns (:func:`songvec.comparison.model_rows`) -> headers, and their formats.
MODELS_COLUMNS = {"model": "Model", "objective": "Objective", "hitrate": "HitRate", "ndcg": "NDCG",
                  "vrc_genre": "VRCGenre", "vrc_artist": "VRCArtist", "train_cpu_seconds": "Training CPU s",
                  "trials": "Trials (feasible)", "study_wall_seconds": "Study wall min"}
MODELS_FORMATS = {"hitrate": ".4f", "ndcg": ".4f", "vrc_genre": ".1f", "vrc_artist": ".3f",
                  "train_cpu_seconds": ".1f", "study_wall_seconds": lambda seconds: f"{seconds / 60:.1f}"}
NO_VECTORS = "n/a (a ranking)"


def models_table(rows: pd.DataFrame, marks: Mapping[str, Mapping[str, str]] | None = None,
                 not_applicable: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Display table of the models table: one row per row of :func:`songvec.comparison.model_rows`, with
    the marks (config -> metric -> ``""``/``"up"``/``"down"``) after HitRate and NDCG. A ranking baseline's
    VRC columns read :data:`NO_VECTORS`; ``not_applicable`` (metric key -> text) as for :func:`table4`."""
    marks = marks or {}
    shown = rows.assign(objective=rows["objective"].fillna("default"), trials=[
        None if pd.isna(n) else f"{int(n)} ({int(f)})" for n, f in zip(rows["trials"], rows["feasible_trials"])])
    table = format_table(shown[list(MODELS_COLUMNS)], MODELS_FORMATS)
    for metric in ("hitrate", "ndcg"):
        table[metric] = [value + _symbol(marks.get(config, {}).get(metric, ""))
                         for value, config in zip(table[metric], rows["config"])]
    ranking = (rows["kind"] == "ranking").to_numpy()
    for metric in ("vrc_genre", "vrc_artist"):
        table.loc[ranking, metric] = NO_VECTORS
    table = table.rename(columns=MODELS_COLUMNS)
    return with_not_applicable(table, {MODELS_COLUMNS[m]: text for m, text in (not_applicable or {}).items()
                                       if m in MODELS_COLUMNS})


def with_not_applicable(table: pd.DataFrame, not_applicable: Mapping[str, str]) -> pd.DataFrame:
    """A copy of the display ``table`` whose columns named in ``not_applicable`` (column -> text) show the
    text in every row instead of a value (what the data cannot give, e.g. VRC-genre without genres)."""
    table = table.copy()
    for column, text in not_applicable.items():
        if column not in table.columns and not table.empty:
            raise KeyError(f"no column {column!r} to mark as not applicable (columns: {list(table.columns)})")
        if column in table.columns:
            table[column] = text
    return table


def read_paper_results(path: str | os.PathLike) -> dict:
    """The paper's numbers, table name (``table2``, ``table4``, ``table5``, ``table6``) -> its rows."""
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def with_paper_columns(ours: Mapping[str, Mapping], paper: Mapping[str, Mapping]) -> dict[str, Mapping]:
    """Columns of a comparison table (Table 2): ours, then each of the paper's named ``<name> (paper)``."""
    return {**ours, **{f"{name}{PAPER_SUFFIX}": column for name, column in paper.items()}}


def table4_rows(metrics: Mapping[str, Mapping[str, float]], objectives: Mapping[str, str]) -> list[dict]:
    """This run's rows for :func:`table4`: one per setting of ``metrics`` (setting -> its metrics), with
    its Opt. type and objective (``objectives``: study setting -> objective name; "default" has none)."""
    return [{"config": setting, "opt_type": opt_type(objectives.get(setting)), "objective": objectives.get(setting),
             **values} for setting, values in metrics.items()]


def paper_table4_rows(paper: Mapping[str, Mapping]) -> pd.DataFrame:
    """The paper's Table 4 rows of one dataset (setting name -> metrics and marks, as in
    ``paper_results.yaml``) in the form :func:`table4` takes."""
    return pd.DataFrame([{"opt_type": opt_type(name), "objective": None if name == "default" else name, **values}
                         for name, values in paper.items()])


def sampling_label(fraction: float | str | None) -> str:
    """Table 6's "Sampling" of a subsample ``fraction`` (0.01 -> ``1%``); None or "default" -> ``default``."""
    return "default" if fraction is None or fraction == "default" else f"{float(fraction):.0%}"


def table6_rows(default: Mapping[str, float], scaled: Sequence[tuple[float, float, Mapping[str, float]]]
                ) -> pd.DataFrame:
    """This run's Table 6 (numbers): the ``default`` metrics, then one row per ``(fraction, optimisation
    minutes, metrics)`` of ``scaled``."""
    rows = [{"sampling": sampling_label(None), "opt_time_minutes": None, **default}]
    rows += [{"sampling": sampling_label(fraction), "opt_time_minutes": minutes, **values}
             for fraction, minutes, values in scaled]
    return pd.DataFrame(rows)


def paper_table6_rows(paper: Mapping[str, Mapping]) -> pd.DataFrame:
    """The paper's Table 6 (``paper_results.yaml``: fraction or "default" -> values) as numbers."""
    return pd.DataFrame([{"sampling": sampling_label(key), **values} for key, values in paper.items()])


def opt_type(objective: str | None) -> str:
    """Table 4's "Opt. type" of a study's objective: ``default`` (None), ``single`` or ``multi`` (lambda)."""
    from songvec.objectives import Objective

    if objective is None or objective == "default":
        return "default"
    return "multi" if Objective.parse(objective).alpha is not None else "single"


def format_table(df: pd.DataFrame, formats: Mapping[str, Format] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with every cell as display text (Table 2, 5 and 6 analogs).

    ``formats``: column -> format spec for ``format()`` (``".4f"``, ``",d"``) or a callable returning
    the text (e.g. :func:`si_count`); other columns use ``str``. Missing values (None/NaN) become ``-``.
    Unknown column names in ``formats`` raise ``KeyError``.
    """
    formats = formats or {}
    unknown = [c for c in formats if c not in df.columns]
    if unknown:
        raise KeyError(f"formats names columns not in the table: {unknown} (columns: {list(df.columns)})")
    return pd.DataFrame({column: [_format(v, formats.get(column, "")) for v in df[column]] for column in df.columns},
                        index=df.index)


def si_count(n) -> str:
    """Count with K/M/B suffix and up to 3 significant digits, as in the paper's Table 2 (``2.6B``, ``120K``)."""
    n = float(n)
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{suffix}"
    return f"{n:.3g}"


def to_markdown(df: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table of ``df`` (index not shown; numeric-looking columns right-aligned)."""
    cells = _cells(df)
    header = "| " + " | ".join(_markdown_escape(str(c)) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if right else "---" for right in _right_aligned(cells)) + "|"
    body = ["| " + " | ".join(_markdown_escape(v) for v in row) + " |" for row in zip(*cells)] if cells else []
    return "\n".join([header, rule, *body]) + "\n"


def to_latex(df: pd.DataFrame) -> str:
    """LaTeX ``tabular`` of ``df`` with booktabs rules (``\\usepackage{booktabs}``); index not shown.

    Special characters are escaped; ↑, ⇑ and ≥ become ``$\\uparrow$``, ``$\\Uparrow$`` and ``$\\geq$``.
    Numeric-looking columns are right-aligned, the others left-aligned.
    """
    cells = _cells(df)
    spec = "".join("r" if right else "l" for right in _right_aligned(cells))
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(_latex_escape(str(c)) for c in df.columns) + " \\\\", "\\midrule"]
    lines += [" & ".join(_latex_escape(v) for v in row) + " \\\\" for row in zip(*cells)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


_HTML_STYLE = ("body{font-family:sans-serif;font-size:14px;margin:1em}"
               "table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #ccc}"
               "th{background:#eee}td.r{text-align:right}.paper{color:#555;background:#f6f6f6}"
               "h3{font-size:15px}")


def to_html(sections: Sequence[tuple[str, pd.DataFrame]]) -> str:
    """A self-contained HTML page with one titled table per ``(title, df)`` (for the Snakemake report).

    Columns whose header ends with ``(paper)`` are shaded so the paper's values stand apart.
    """
    import html

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{_HTML_STYLE}</style></head><body>"]
    for title, df in sections:
        cells = _cells(df)
        right = _right_aligned(cells)
        paper = [str(c).endswith(PAPER_SUFFIX.strip()) for c in df.columns]
        parts.append(f"<h3>{html.escape(title)}</h3><table><tr>"
                     + "".join(f"<th{' class=paper' if p else ''}>{html.escape(str(c))}</th>"
                               for c, p in zip(df.columns, paper)) + "</tr>")
        for row in zip(*cells):
            parts.append("<tr>" + "".join(
                f"<td class='{'r' if r else ''}{' paper' if p else ''}'>{html.escape(v)}</td>"
                for v, r, p in zip(row, right, paper)) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _paper_rows(paper: pd.DataFrame, dataset: str | None) -> dict[tuple[str, str], dict]:
    """(opt_type, objective) -> paper row as a dict, with ``marks`` parsed into metric -> mark."""
    if "dataset" in paper.columns:
        if dataset is None:
            raise ValueError("the paper table has a 'dataset' column: pass paper_dataset")
        paper = paper[paper["dataset"] == dataset]
        if paper.empty:
            raise ValueError(f"the paper table has no rows for dataset {dataset!r}")
    by_key = {}
    for i, record in enumerate(paper.to_dict("records")):
        key = (record["opt_type"], _objective(record.get("objective")))
        if key in by_key:
            raise ValueError(f"the paper table has two rows for {key}")
        record["marks"] = _parse_paper_marks(record.get("marks"), f"paper row {i} {key}")
        by_key[key] = record
    return by_key


def _parse_paper_marks(marks, where: str) -> dict[str, str]:
    """Paper marks as metric -> mark, from ``"hr:up;ndcg:upup"`` or from a mapping ``{"hitrate": "up"}``."""
    if isinstance(marks, Mapping):
        items = list(marks.items())
    elif _is_missing(marks) or marks == "":
        items = []
    else:
        items = [item.strip().partition(":")[::2] for item in str(marks).split(";")]
    parsed = {}
    for metric, mark in items:
        if not metric or mark not in ("up", "upup"):
            raise ValueError(f"{where}: bad mark {metric}:{mark} (expected metric:up or metric:upup)")
        parsed[PAPER_MARK_ALIASES.get(metric, metric)] = mark
    return parsed


def _objective(value) -> str:
    return "" if _is_missing(value) else str(value)


def _symbol(mark: str) -> str:
    if mark not in MARK_SYMBOLS:
        raise ValueError(f"unknown significance mark {mark!r} (expected one of {list(MARK_SYMBOLS)})")
    return MARK_SYMBOLS[mark]


def _is_missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _format(value, spec: Format) -> str:
    if _is_missing(value):
        return MISSING
    if callable(spec):
        return spec(value)
    return format(value, spec) if spec else str(value)


def _cells(df: pd.DataFrame) -> list[list[str]]:
    """Column-major text of ``df``: missing values as ``-``, everything else through ``str``."""
    return [[_format(v, "") for v in df[c]] for c in df.columns]


_NUMERIC = re.compile(r"^[-+]?\.?\d")


def _right_aligned(cells: list[list[str]]) -> list[bool]:
    """A column is right-aligned when every non-missing cell starts like a number and one exists."""
    flags = []
    for column in cells:
        present = [v for v in column if v not in ("", MISSING)]
        flags.append(bool(present) and all(_NUMERIC.match(v) for v in present))
    return flags


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "↑": r"$\uparrow$",
          "⇑": r"$\Uparrow$", "↓": r"$\downarrow$", "≥": r"$\geq$", "\n": " "}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)
