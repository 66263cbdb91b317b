"""Table 6 analog: HitRate HPO on subsamples, best configurations retrained at full scale (rule scale_table)."""

import json

import pandas as pd
import yaml

from songvec import atomic, final_evaluation, significance, tables
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    results = final_evaluation.collect(params.settings, params.seeds, inputs.metrics, inputs.pairs, inputs.songs)
    minutes = [json.load(open(path, encoding="utf-8"))["wall_time_seconds"] / 60 for path in inputs.summaries]
    rows = [{"sampling": "default", "opt_time_minutes": None, **results["default"].metrics}]
    rows += [{"sampling": f"{fraction:.0%}", "opt_time_minutes": m, **results[setting].metrics}
             for fraction, setting, m in zip(params.fractions, params.settings[1:], minutes, strict=True)]
    table = pd.DataFrame(rows)
    tested = final_evaluation.testable_metrics(results, significance.TABLE4_METRICS)
    tests = significance.pairwise_tests({s: r.per_item for s, r in results.items()}, tested, alpha=params.level)
    formats = dict(tables.TABLE4_FORMATS, opt_time_minutes=".1f")
    atomic.write_text(snakemake.output.csv, table.to_csv(index=False))
    paper = pd.DataFrame([{"sampling": "default" if key == "default" else f"{float(key):.0%}", **values}
                          for key, values in yaml.safe_load(open(inputs.paper, encoding="utf-8"))["table6"].items()])
    paper_formats = dict(tables.TABLE4_FORMATS, vrc_genre=".0f", opt_time_hours=".0f")
    ours, theirs = tables.format_table(table, formats), tables.format_table(paper, paper_formats)
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(ours)
                      + "\nThe paper (Stream, optimization time in hours):\n\n" + tables.to_markdown(theirs))
    atomic.write_text(snakemake.output.html, tables.to_html([("Table 6, this run (optimization time in minutes)", ours),
                                                             ("Table 6, the paper (Stream, time in hours)", theirs)]))
    atomic.write_text(snakemake.output.tests, tests.to_csv(index=False))
    log.info("Table 6:\n%s", tables.to_markdown(tables.format_table(table, formats)))
