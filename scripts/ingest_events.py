"""Stream the dataset's listening events (LFM-1b_LEs.txt or an events table) into per-user (or
per-playlist), time-ordered sequences (rule ingest_events)."""

from songvec import atomic, datasets
from songvec.ingest import ingest_events
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    options, params = snakemake.params.options, snakemake.params
    source = datasets.event_source(params.dataset, snakemake.input.events, options["bad_rows"], params.events)
    summary = ingest_events(
        source,
        snakemake.output.sequences,
        consecutive_duplicates=options["consecutive_duplicates"],
        user_fraction=options["user_fraction"],
        min_song_plays=options["min_song_plays"],
        seed=params.seed,
        memory_budget_bytes=int(options["memory_budget_gb"] * 1024**3),
    )
    log.info("ingest summary: %s", summary)
    log.info("table: %s", datasets.write_table_keys(source, snakemake.output.table))
    atomic.write_json(snakemake.output.summary, summary)
