"""Every song under the dataset's own id, with its name and artist where known (rule track_catalogue)."""

import pandas as pd

from songvec import atomic, catalogue, lfm1b
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    inputs = snakemake.input
    keys = catalogue.read_keys(inputs.table, "track_id") if "table" in inputs.keys() else None
    names = None
    if "track_names" in inputs.keys():
        if "table" in inputs.keys():  # an events table's names table
            names = catalogue.read_names(inputs.track_names, "track_id", "track_name", keys)
        else:
            names = lfm1b.read_tracks(inputs.track_names).rename(columns={"track_id": "id", "track_name": "name"})
    tracks = catalogue.track_catalogue(pd.read_parquet(inputs.genres), names, keys)
    log.info("%d tracks, %d with a name, %d with an artist name", len(tracks), tracks["track_name"].notna().sum(),
             tracks["artist_name"].notna().sum())
    atomic.write_parquet(snakemake.output.tracks, tracks)
