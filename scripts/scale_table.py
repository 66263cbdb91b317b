"""Table 6 analog: HitRate HPO on subsamples, best configurations retrained at full scale (rule scale_table)."""

from songvec import atomic, final_evaluation, significance, tables
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    results = final_evaluation.collect(params.settings, params.seeds, inputs.metrics, inputs.pairs, inputs.songs)
    minutes = [atomic.read_json(path)["wall_time_seconds"] / 60 for path in inputs.summaries]
    table = tables.table6_rows(results["default"].metrics,
                               [(fraction, m, results[setting].metrics)
                                for fraction, setting, m in zip(params.fractions, params.settings[1:], minutes,
                                                                strict=True)])
    tested = final_evaluation.testable_metrics(results, significance.TABLE4_METRICS)
    tests = significance.pairwise_tests({s: r.per_item for s, r in results.items()}, tested, alpha=params.level)
    atomic.write_text(snakemake.output.csv, table.to_csv(index=False))
    paper = tables.paper_table6_rows(tables.read_paper_results(inputs.paper)["table6"])
    ours = tables.with_not_applicable(tables.format_table(table, tables.TABLE6_FORMATS), params.not_applicable)
    theirs = tables.format_table(paper, tables.PAPER_TABLE6_FORMATS)
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(ours)
                      + "\nThe paper (Stream, optimization time in hours):\n\n" + tables.to_markdown(theirs))
    atomic.write_text(snakemake.output.html, tables.to_html([("Table 6, this run (optimization time in minutes)", ours),
                                                             ("Table 6, the paper (Stream, time in hours)", theirs)]))
    atomic.write_text(snakemake.output.tests, tests.to_csv(index=False))
    log.info("Table 6:\n%s", tables.to_markdown(ours))
