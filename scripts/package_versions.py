"""Record the configuration and the versions of Python and every installed package (rule package_versions)."""

import platform
import sys
from importlib import metadata

from sqlalchemy.engine import make_url

from songvec import atomic
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    packages = {dist.metadata["Name"]: dist.version for dist in metadata.distributions()}
    config = dict(snakemake.params.config)
    if "://" in config["hpo"]["storage"]:  # a database URL may carry a password
        config["hpo"] = dict(config["hpo"], storage=make_url(config["hpo"]["storage"])
                             .render_as_string(hide_password=True))
    record = {"python": sys.version, "platform": platform.platform(),
              "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())), "config": config}
    log.info("%d packages recorded", len(packages))
    atomic.write_json(snakemake.output[0], record)
