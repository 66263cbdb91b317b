"""The models table: each model's default and tuned configurations on test, with significance marks against the
skip-gram default, and its figure (rule models_table)."""

from songvec import atomic, comparison, figures, final_evaluation, significance, tables
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    settings, seeds = list(params.rows), params.seeds
    results = final_evaluation.collect(settings, seeds, inputs.metrics, inputs.pairs, None)
    marks = significance.reference_marks({s: r.per_item for s, r in results.items()}, "default",
                                         comparison.TESTED, alpha=params.level)
    records = {setting: [atomic.read_json(path) for path in inputs.records[i * len(seeds):(i + 1) * len(seeds)]]
               for i, setting in enumerate(settings)}
    summaries = {study: atomic.read_json(path) for study, path in zip(params.studies, inputs.summaries, strict=True)}
    rows = comparison.model_rows(params.rows, results, records, summaries)
    table = tables.models_table(rows, marks.marks, params.not_applicable)
    budget = params.budget_factor * atomic.read_json(inputs.reference_record)["train_cpu_seconds"]
    note = (f"\nn = {rows['n_pairs'].iloc[0]:,} test pairs per row (in-set and out-of-set), seeds {list(seeds)}; "
            f"↑/↓: significantly better/worse than word2vec_sg's default, two-sided paired t-tests, Bonferroni over "
            f"{marks.n_tests} tests at {params.level:g}. Every trial was held to {params.budget_factor:g} x the "
            f"skip-gram default's training time.\n")
    atomic.write_text(snakemake.output.csv, rows.to_csv(index=False))
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(table) + note)
    atomic.write_text(snakemake.output.html, tables.to_html([("Models on the test split", table)]))
    atomic.write_text(snakemake.output.tests, marks.tests.to_csv(index=False))
    figures.models_figure(rows, budget, snakemake.output.png, snakemake.output.pdf, k=params.k)
    log.info("models table:\n%s%s", tables.to_markdown(table), note)
