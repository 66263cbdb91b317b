"""Give every track the first genre of its artist from the UGP files (rule map_genres)."""

from songvec import atomic, genres, lfm1b
from songvec.logs import logged
from songvec.sequences import iter_sequences

with logged(snakemake.log[0]) as log:
    batches = iter_sequences(snakemake.input.sequences, snakemake.params.batch_events)
    track_artist = genres.track_artist_counts((batch.tracks, batch.artists) for batch in batches)
    table, counts = genres.map_track_genres(
        track_artist,
        lfm1b.read_artists(snakemake.input.artists),
        lfm1b.read_artist_genres(snakemake.input.artist_genres),
        lfm1b.read_genre_names(snakemake.input.genre_names),
    )
    log.info("genre mapping: %s", counts)
    atomic.write_parquet(snakemake.output.genres, table)
    atomic.write_json(snakemake.output.summary, counts)
