"""Extract the files the workflow reads from the LFM-1b archives (rule extract_lfm1b)."""

from pathlib import Path

from songvec import download
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    wanted = {Path(path).name: Path(path) for path in snakemake.output}
    for archive in (snakemake.input.events_archive, snakemake.input.genres_archive):
        extracted = download.extract_zip(archive, Path(snakemake.output.events).parent,
                                         members=sorted(wanted))
        log.info("extracted %d files from %s", len(extracted), archive)
    missing = [str(path) for path in wanted.values() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"the LFM-1b archives hold none of: {', '.join(missing)}")
