"""Download one LFM-1b archive from the configured mirrors, resuming and verifying (rule download_lfm1b)."""

from pathlib import Path

from songvec import download
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    target = Path(snakemake.output[0])
    expected = snakemake.params.expected
    download.fetch(target.name, snakemake.params.mirrors, target.parent, expected_size=expected["size"],
                   expected_sha256=expected["sha256"], logger=log)
