"""Running the clone's workflow as a user would, for the tests: the venv's Snakemake in a subprocess, on the
clone's Snakefile, in a fresh working directory (``--directory``), started from the clone's root (so that
relative paths such as ``--profile workflow/profiles/slurm`` resolve as in the README)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line of ``snakemake <args>`` on the clone's Snakefile in ``workdir``."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            *args]


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 900,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run ``snakemake <args>`` to its end; with ``check``, fail the test (showing the output's tail) unless
    it succeeded. ``env`` defaults to this process's environment."""
    result = subprocess.run(snakemake_command(workdir, *args), cwd=REPO, capture_output=True, text=True,
                            timeout=timeout, env=(env or dict(os.environ)) | {"PYTHONWARNINGS": "ignore"})
    if check:
        assert result.returncode == 0, (f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
                                        + result.stdout[-3000:] + result.stderr[-6000:])
    return result


def output_of(result: subprocess.CompletedProcess) -> str:
    """Everything a run printed (Snakemake logs jobs on stderr)."""
    return result.stdout + result.stderr
