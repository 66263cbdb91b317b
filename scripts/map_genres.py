"""Give every track the first genre of its artist from the UGP files (rule map_genres)."""

import pandas as pd
import pyarrow.parquet as pq

from songvec import atomic, genres, lfm1b
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    events = pq.ParquetFile(snakemake.input.sequences)
    track_artist = pd.concat(
        genres.track_artist_pairs(batch.column("track_id").to_numpy(), batch.column("artist_id").to_numpy())
        for batch in events.iter_batches(columns=["track_id", "artist_id"], batch_size=10_000_000))
    table, counts = genres.map_track_genres(
        track_artist,
        lfm1b.read_artists(snakemake.input.artists),
        lfm1b.read_artist_genres(snakemake.input.artist_genres),
        lfm1b.read_genre_names(snakemake.input.genre_names),
    )
    log.info("genre mapping: %s", counts)
    atomic.write_parquet(snakemake.output.genres, table)
    atomic.write_json(snakemake.output.summary, counts)
