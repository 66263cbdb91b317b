"""Generate the embedded demo dataset in LFM-1b's file format (rule generate_demo)."""

from songvec import atomic, demo_data
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    out_dir = snakemake.output.events.rsplit("/", 1)[0]
    summary = demo_data.generate(out_dir, snakemake.wildcards.size, seed=snakemake.params.seed)
    log.info("demo dataset %s: %s", snakemake.wildcards.size, summary)
    atomic.write_json(snakemake.output.summary, summary)
