"""A final model's vectors in gensim's word2vec text and binary formats and as Parquet, keyed by the
dataset's own track ids, with names where known (rule export_vectors)."""

import pandas as pd

from songvec.export import FORMATS, export_vectors
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    paths = {fmt: snakemake.output[fmt] for fmt in FORMATS}
    counts = export_vectors(snakemake.input.vectors, pd.read_parquet(snakemake.input.tracks), paths)
    log.info("exported: %s", counts)
