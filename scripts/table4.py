"""Table 4 analog: final test metrics of every setting with significance marks (rule table4)."""

import pandas as pd

from songvec import atomic, final_evaluation, significance, tables
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    results = final_evaluation.collect(params.settings, params.seeds, inputs.metrics, inputs.pairs, inputs.songs)
    tested = final_evaluation.testable_metrics(results, significance.TABLE4_METRICS)
    marks = significance.table4_marks({s: r.per_item for s, r in results.items()}, default="default",
                                      best_single="HitRate", metrics=tested, alpha=params.level)
    rows = tables.table4_rows({setting: result.metrics for setting, result in results.items()}, params.objectives)
    paper = tables.paper_table4_rows(tables.read_paper_results(inputs.paper)["table4"]["LFM-1b"])
    table = tables.table4(rows, marks.marks, paper, paper_dataset=None, not_applicable=params.not_applicable)
    atomic.write_text(snakemake.output.csv, pd.DataFrame(rows).to_csv(index=False))
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(table))
    atomic.write_text(snakemake.output.latex, tables.to_latex(table))
    atomic.write_text(snakemake.output.html, tables.to_html([("Table 4 (this run | paper, LFM-1b)", table)]))
    atomic.write_text(snakemake.output.tests, marks.tests.to_csv(index=False))
    log.info("Table 4:\n%s", tables.to_markdown(table))
