"""Table 4 analog: final test metrics of every setting with significance marks (rule table4)."""

import pandas as pd
import yaml

from songvec import atomic, final_evaluation, significance, tables
from songvec.hpo import Objective
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    results = final_evaluation.collect(params.settings, params.seeds, inputs.metrics, inputs.pairs, inputs.songs)
    tested = {metric: direction for metric, direction in significance.TABLE4_METRICS.items()
              if all(len(r.per_item[metric]) >= 2 for r in results.values())}
    if set(tested) != set(significance.TABLE4_METRICS):
        log.warning("no paired test for %s: fewer than 2 items", sorted(set(significance.TABLE4_METRICS) - set(tested)))
    marks = significance.table4_marks({s: r.per_item for s, r in results.items()}, default="default",
                                      best_single="HitRate", metrics=tested, alpha=params.level)
    rows = []
    for setting, result in results.items():
        objective = params.objectives.get(setting)
        kind = "default" if objective is None else ("multi" if Objective.parse(objective).alpha is not None
                                                     else "single")
        rows.append({"config": setting, "opt_type": kind, "objective": objective, **result.metrics})
    paper = yaml.safe_load(open(inputs.paper, encoding="utf-8"))["table4"]["LFM-1b"]
    paper_rows = pd.DataFrame([{"opt_type": "default" if name == "default" else
                                ("multi" if name.startswith("lambda") else "single"),
                                "objective": None if name == "default" else name, **values}
                               for name, values in paper.items()])
    table = tables.table4(rows, marks.marks, paper_rows, paper_dataset=None)
    atomic.write_text(snakemake.output.csv, pd.DataFrame(rows).to_csv(index=False))
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(table))
    atomic.write_text(snakemake.output.latex, tables.to_latex(table))
    atomic.write_text(snakemake.output.html, tables.to_html([("Table 4 (this run | paper, LFM-1b)", table)]))
    atomic.write_text(snakemake.output.tests, marks.tests.to_csv(index=False))
    log.info("Table 4:\n%s", tables.to_markdown(table))
