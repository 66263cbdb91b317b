"""Every HPO trial of every study in the validation HitRate x VRC-genre plane (rule tradeoff_plot)."""

import pandas as pd

from songvec import atomic, figures
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    trials = {study: pd.read_csv(path) for study, path in zip(params.studies, inputs.trials, strict=True)}
    best = {study: atomic.read_json(path)
            for study, path in zip(params.studies, inputs.best, strict=True) if study in params.objectives}
    points = figures.tradeoff_points(trials)
    excluded = points.attrs["excluded"]
    log.info("%d trials plotted; left out: %d infeasible, %d not complete, %d without metrics", len(points),
             *(sum(counts[reason] for counts in excluded.values())
               for reason in ("infeasible", "not_complete", "no_metrics")))
    figures.tradeoff_figure(points, figures.best_points(best), snakemake.output.png, snakemake.output.pdf,
                            pareto_study=params.pareto_study, k=params.k)
