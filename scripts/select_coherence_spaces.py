"""Fig. 1's embedding spaces: distinct feasible HPO trials over the VRC range (rule select_coherence_spaces)."""

import pandas as pd

from songvec import atomic
from songvec.coherence_spaces import select_spaces
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    trials = {study: pd.read_csv(path) for study, path in zip(snakemake.params.studies, snakemake.input.trials,
                                                               strict=True)}
    for path, space in zip(snakemake.output.spaces, select_spaces(trials, len(snakemake.output.spaces)),
                           strict=True):
        atomic.write_json(path, space)
        log.info("%s: %s", path, space)
