"""A job's log says why it failed, and the log of an attempt that was killed or failed survives the rerun
(Snakemake deletes a job's log before it runs the job again) as ``<log>.previous``."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from songvec.logs import logged

SRC = Path(__file__).resolve().parents[1] / "src"

KILLED_ATTEMPT = textwrap.dedent("""
    import os, signal, sys
    from songvec.logs import logged
    with logged(sys.argv[1]) as log:
        log.info("trial 7 of the killed attempt")
        os.kill(os.getpid(), signal.SIGKILL)
""")


def killed_attempt(log: Path) -> None:
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = subprocess.run([sys.executable, "-c", KILLED_ATTEMPT, str(log)], env=env, capture_output=True,
                            timeout=120)
    assert result.returncode == -signal.SIGKILL


def rerun_by_snakemake(log: Path, message: str = "rerun") -> None:
    log.unlink()  # what Snakemake does before it runs the job again
    with logged(log) as logger:
        logger.info(message)


def test_a_killed_attempts_log_is_kept_as_previous(tmp_path):
    log = tmp_path / "logs" / "worker-0.log"
    killed_attempt(log)
    assert "trial 7 of the killed attempt" in log.read_text()
    rerun_by_snakemake(log)
    previous = log.with_name("worker-0.log.previous")
    assert "trial 7 of the killed attempt" in previous.read_text()
    text = log.read_text()
    assert "rerun" in text and "trial 7" not in text and f"its log is kept in {previous}" in text
    assert sorted(p.name for p in log.parent.iterdir()) == ["worker-0.log", "worker-0.log.previous"]


def test_a_successful_attempt_leaves_only_its_log(tmp_path):
    log = tmp_path / "job.log"
    with logged(log) as logger:
        logger.info("done")
        assert (tmp_path / "job.log.unfinished").samefile(log)  # one file, two names, while it runs
    assert [p.name for p in tmp_path.iterdir()] == ["job.log"] and "done" in log.read_text()
    rerun_by_snakemake(log, "again")  # nothing to keep from a successful attempt
    assert [p.name for p in tmp_path.iterdir()] == ["job.log"]


def test_a_failed_attempt_logs_its_traceback_and_is_kept_on_the_rerun(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(ZeroDivisionError):
        with logged(log):
            1 / 0
    assert "job failed" in log.read_text() and "ZeroDivisionError" in log.read_text()
    rerun_by_snakemake(log)
    assert "ZeroDivisionError" in (tmp_path / "job.log.previous").read_text()
    assert "ZeroDivisionError" not in log.read_text()


def test_outside_snakemake_the_old_log_is_not_truncated_through_its_second_name(tmp_path):
    log = tmp_path / "job.log"
    killed_attempt(log)
    with logged(log) as logger:  # the log was not deleted first: it shares its inode with .unfinished
        logger.info("second attempt")
    assert "trial 7 of the killed attempt" in (tmp_path / "job.log.previous").read_text()
    assert "second attempt" in log.read_text()
