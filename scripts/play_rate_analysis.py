"""Table 5 and Fig. 3 analogs (PROXY): transition rates of the test sequences against the cosine
similarity of default, best single- and best multi-objective embeddings (rule play_rate_analysis)."""

from songvec import atomic, figures, play_rate, tables
from songvec.logs import logged
from songvec.sequences import read_sequences
from songvec.training import load_vectors

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    rates = play_rate.transition_rates(read_sequences(inputs.test), max_gap_seconds=params.max_gap_seconds)
    best = {study: atomic.read_json(path) for study, path in zip(params.studies, inputs.best, strict=True)}
    roles = figures.play_rate_roles(best, params.studies)
    models = dict(zip(params.settings, inputs.models, strict=True))
    embeddings = {setting: load_vectors(models[setting]) for setting in dict.fromkeys(roles.values())}
    correlations = figures.play_rate_correlations(rates, embeddings, roles, params.frequent)
    table = figures.table5(correlations, tables.read_paper_results(inputs.paper)["table5"])
    atomic.write_text(snakemake.output.csv, correlations.to_csv(index=False))
    atomic.write_text(snakemake.output.markdown, tables.to_markdown(table))
    atomic.write_text(snakemake.output.html, tables.to_html([("Table 5 (proxy; paper: proprietary Stream play data)",
                                                              table)]))
    bins = figures.play_rate_bins(rates, *embeddings["default"])
    atomic.write_text(snakemake.output.bins, bins.to_csv(index=False))
    figures.play_rate_figure(bins, snakemake.output.png, snakemake.output.pdf, setting="default")
    log.info("Table 5 (proxy):\n%s", tables.to_markdown(table))
