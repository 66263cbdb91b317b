"""Give every track its genre and artist: the first genre of its artist from LFM-1b's UGP files, or the
genre its events table gives it, or none when the data has no genres (rule map_genres)."""

import os

import pandas as pd

from songvec import atomic, catalogue, genres, lfm1b
from songvec.logs import logged
from songvec.sequences import iter_sequences

with logged(snakemake.log[0]) as log:
    inputs = snakemake.input
    batches = iter_sequences(inputs.sequences, snakemake.params.batch_events)
    track_artist = genres.track_artist_counts((batch.tracks, batch.artists) for batch in batches)
    if "artist_genres" in inputs.keys():
        table, counts = genres.map_track_genres(
            track_artist,
            lfm1b.read_artists(inputs.artists),
            lfm1b.read_artist_genres(inputs.artist_genres),
            lfm1b.read_genre_names(inputs.genre_names),
        )
    else:
        table_genres = f"{inputs.table}/genres.parquet" if "table" in inputs.keys() else None
        names = None
        if "artist_names" in inputs.keys():
            keys = catalogue.read_keys(inputs.table, "artist_id")
            names = catalogue.read_names(inputs.artist_names, "artist_id", "artist_name", keys)
            names = names.rename(columns={"id": "artist_id", "name": "artist_name"})
        table, counts = genres.table_track_genres(
            track_artist,
            pd.read_parquet(table_genres) if table_genres and os.path.exists(table_genres) else None,
            names,
        )
    log.info("genre mapping: %s", counts)
    atomic.write_parquet(snakemake.output.genres, table)
    atomic.write_json(snakemake.output.summary, counts)
