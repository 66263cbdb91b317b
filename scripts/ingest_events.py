"""Stream LFM-1b_LEs.txt into per-user, time-ordered sequences (rule ingest_events)."""

from songvec import atomic
from songvec.ingest import ingest_events
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    options = snakemake.params.options
    summary = ingest_events(
        snakemake.input.events,
        snakemake.output.sequences,
        consecutive_duplicates=options["consecutive_duplicates"],
        user_fraction=options["user_fraction"],
        min_song_plays=options["min_song_plays"],
        seed=snakemake.params.seed,
        bad_rows=options["bad_rows"],
        memory_budget_bytes=int(options["memory_budget_gb"] * 1024**3),
    )
    log.info("ingest summary: %s", summary)
    atomic.write_json(snakemake.output.summary, summary)
