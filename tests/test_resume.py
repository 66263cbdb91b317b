"""Interrupted runs never lose work: SIGKILL the whole workflow again and again, rerun it, and get
exactly what an uninterrupted run gets.

Run A goes through uninterrupted. Run B is SIGKILLed (snakemake's whole process group: snakemake
and every job it started) at seeded random points, each time restarted with ``--rerun-incomplete``
(and ``--nolock``: the killed run's lock stays behind), and finally left to finish. Then every
output of B must equal A's: numbers to 1e-9 after dropping timing fields, everything else exactly
(figures byte for byte), and no temporary file (``.tmp-*``, ``.spill-*``) may be left beside them.
So no output written halfway under its final name was accepted as complete, and the HPO studies,
which outlive their killed worker jobs, kept every finished trial and proposed the same
configurations as without kills.

The kill points are drawn uniformly over the summed job time of run A (a point is "so many
seconds into job X", so the schedule holds however loaded the machine is), so they fall in every
stage, the long ones more often; one more kill waits for a Bayesian (TPE) trial of an HPO study to
be running, the hardest case to resume identically. Each kill must interrupt at least one job (read
from snakemake's log), and at least MIN_KILLS must happen: 13 points are scheduled because a rerun can
be quicker than run A and finish before the last ones.
Config: tests/workflow/resume.yaml (tiny demo, three HPO studies of three trials, one final seed).
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import logging
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState
from snakemake_runs import REPO, snakemake_command

from songvec import hpo

log = logging.getLogger(__name__)

CONFIG = REPO / "tests" / "workflow" / "resume.yaml"
N_RANDOM_KILLS = 13  # scheduled; a rerun quicker than run A may finish before the last ones
MIN_KILLS = 10
LATE_KILL_SECONDS = 2.0
KILL_SEED = 20231105
TOLERANCE = 1e-9
RUN_TIMEOUT_SECONDS = 600
# A killed snakemake leaves its lock behind; --nolock skips it as `snakemake --unlock` would remove it
# (without the cost of another start-up), safe since no two runs ever share a folder here.
RERUN = ("--rerun-incomplete", "--nolock")
NOT_OUTPUTS = ("logs", "benchmarks")  # per-run diagnostics, not results
HPO_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


# ----------------------------------------------------------------------------- running snakemake

def start(workdir: Path, output: Path, *extra: str) -> subprocess.Popen:
    """Snakemake in a new session: its process group holds it and every job it starts."""
    with open(output, "w") as out:
        return subprocess.Popen(snakemake_command(workdir, "--configfile", str(CONFIG), "--cores", "2", *extra),
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, output: Path) -> None:
    try:
        proc.wait(timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.returncode != 0:
        pytest.fail(f"snakemake failed ({proc.returncode}):\n{output.read_text()[-4000:]}")


_STAMP = re.compile(r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]")
_JOB_START = re.compile(r"(?:local)?rule (\w+):")
_JOB_END = re.compile(r"Finished jobid: (\d+) ")


@dataclasses.dataclass
class Job:
    label: str  # "rule (wildcards)", the same in every run
    started: datetime.datetime  # snakemake's log stamps have a resolution of 1 s
    finished: datetime.datetime | None = None

    @property
    def seconds(self) -> float:
        return max((self.finished - self.started).total_seconds(), 1.0)


def read_jobs(snakemake_log: Path | None) -> list[Job]:
    """The jobs a snakemake log shows, in start order (complete lines only: it may be growing)."""
    if snakemake_log is None or not snakemake_log.exists():
        return []
    text = snakemake_log.read_text()
    lines = text.splitlines()[:None if text.endswith("\n") else -1]
    jobs: dict[str, Job] = {}
    stamp = None
    for i, line in enumerate(lines):
        if match := _STAMP.fullmatch(line):
            stamp = datetime.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := _JOB_START.fullmatch(line):
            fields = {}
            for field in lines[i + 1:]:
                if not field.startswith("    "):
                    break
                key, _, value = field.strip().partition(": ")
                fields[key] = value
            if "jobid" in fields:
                wildcards = f" ({fields['wildcards']})" if "wildcards" in fields else ""
                jobs[fields["jobid"]] = Job(f"{match.group(1)}{wildcards}", stamp)
        elif (match := _JOB_END.match(line)) and match.group(1) in jobs:
            jobs[match.group(1)].finished = stamp
    return list(jobs.values())


def running(jobs: list[Job]) -> list[str]:
    return [job.label for job in jobs if job.finished is None]


@dataclasses.dataclass
class KillPoint:
    """Kill ``seconds`` after ``job`` started (in the attempt that runs it)."""
    job: str
    seconds: float


def kill_points(uninterrupted: list[Job], n: int, rng: random.Random) -> list[KillPoint]:
    """``n`` points drawn uniformly over the summed job time of the uninterrupted run, in its order:
    long stages get more kills, every stage can get one, and none is wasted on start-up. The last
    four jobs are left out: a point moved past its job (see :func:`run_with_kills`) then still
    finds a later job running."""
    jobs = [job for job in uninterrupted if job.label != "all"][:-4]
    ends = np.cumsum([job.seconds for job in jobs])
    points = []
    for u in sorted(rng.uniform(0, ends[-1]) for _ in range(n)):
        i = int(np.searchsorted(ends, u, side="right"))
        points.append(KillPoint(jobs[i].label, float(u - (ends[i] - jobs[i].seconds))))
    return points


def running_bayesian_trial(workdir: Path, since: datetime.datetime, n_random_trials: int) -> str | None:
    """A study with a trial started after ``since`` and running after ``n_random_trials`` finished
    ones (so TPE proposed it), read from the study databases; None when there is none."""
    for db in sorted((workdir / "results" / "demo-tiny" / "hpo").glob("*/study.db")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
                rows = connection.execute(
                    "SELECT number, state, datetime_start FROM trials ORDER BY number").fetchall()
        except sqlite3.Error:  # created but not initialised yet, or locked by a writer
            continue
        finished = sum(state in ("COMPLETE", "PRUNED") for _, state, _ in rows)
        for number, state, started in rows:
            if (state == "RUNNING" and started is not None and finished >= n_random_trials
                    and datetime.datetime.fromisoformat(started) > since):
                return f"{db.parent.name} trial {number}"
    return None


@dataclasses.dataclass
class Kill:
    number: int
    trigger: str
    seconds_into_attempt: float
    interrupted: list[str]


def run_with_kills(workdir: Path, points: list[KillPoint], n_random_trials: int,
                   outputs: Path) -> list[Kill]:
    """Run the workflow in ``workdir``, SIGKILLing it at each of ``points`` in turn, plus once when
    a TPE trial is running; restart with --rerun-incomplete after each kill, then let it finish.
    A point whose job finished before it (jobs run in parallel, and a rerun can be quicker) moves
    to at most LATE_KILL_SECONDS after the job's start in this attempt, or else after the
    attempt's first job, so that it still falls before the run ends."""
    kills: list[Kill] = []
    pending = list(points)
    bayesian_done = False
    log_dir = workdir / ".snakemake" / "log"
    while pending or not bayesian_done:
        earlier_logs = set(log_dir.glob("*.log")) if log_dir.exists() else set()
        done_earlier = {job.label for path in earlier_logs for job in read_jobs(path) if job.finished}
        output = outputs / f"attempt-{len(kills)}.out"
        launched, launched_at = time.monotonic(), datetime.datetime.now()
        proc = start(workdir, output, *(RERUN if kills else []))
        attempt_log, first_job, target_seen = None, None, None
        while True:
            if proc.poll() is not None:
                if proc.returncode != 0 or not bayesian_done:
                    pytest.fail(f"snakemake ended ({proc.returncode}) before kill {len(kills)}:\n"
                                f"{output.read_text()[-3000:]}")
                log.info("the run finished before the last %d kill points (quicker than run A)", len(pending))
                return kills
            if attempt_log is None and log_dir.exists():
                attempt_log = next(iter(set(log_dir.glob("*.log")) - earlier_logs), None)
            jobs = read_jobs(attempt_log)
            now_running = running(jobs)
            first_job = first_job or (time.monotonic() if now_running else None)
            bayesian = None if bayesian_done else running_bayesian_trial(workdir, launched_at,
                                                                         n_random_trials)
            if bayesian:
                break
            if pending and now_running:
                target, due = pending[0], None
                if target.job in now_running:
                    target_seen = target_seen or time.monotonic()
                    due = target_seen + target.seconds
                elif target.job in done_earlier | {j.label for j in jobs if j.finished}:
                    due = (target_seen or first_job) + min(target.seconds, LATE_KILL_SECONDS)
                if due is not None and time.monotonic() >= due:
                    break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        # Jobs that had not finished when the group died, read after the kill (a job may have
        # finished in the last instant before it).
        if bayesian:
            trigger = f"TPE trial running: {bayesian}"
        else:
            trigger = f"{pending[0].seconds:.1f}s into {pending[0].job}"
            if target_seen and pending[0].job not in now_running:
                trigger += " (it finished first: right after it)"
            elif not target_seen:
                trigger += (f" (it had finished: {min(pending[0].seconds, LATE_KILL_SECONDS):.1f}s "
                            f"into the attempt's first job)")
        kill = Kill(len(kills), trigger, time.monotonic() - launched, running(read_jobs(attempt_log)))
        log.info("kill %d (%s; %.1fs into the attempt) interrupted %s", kill.number, kill.trigger,
                 kill.seconds_into_attempt, kill.interrupted)
        kills.append(kill)
        if bayesian:
            bayesian_done = True
        else:
            pending.pop(0)
    output = outputs / f"attempt-{len(kills)}.out"
    finish(start(workdir, output, *RERUN), output)
    return kills


# ----------------------------------------------------------------------------- comparing outputs

def is_timing(key: str) -> bool:
    """Fields that measure time, the only ones allowed to differ between two runs."""
    key = str(key)
    return (key == "seconds" or key.endswith(("_seconds", "_per_second"))
            or key.startswith(("datetime", "wall_time", "opt_time"))
            or key in ("first_start", "last_end"))


# Counted over all trials of a study, including the FAIL records of trials killed in B (a killed trial is
# redone under the next number).
KILL_DEPENDENT = {"n_trials", "n_trials_by_state", "n_failed_stale", "best_trial_number", "trial",
                  "number"}


def without(obj, drop):
    if isinstance(obj, dict):
        return {k: without(v, drop) for k, v in obj.items() if not drop(k)}
    if isinstance(obj, list):
        return [without(v, drop) for v in obj]
    return obj


def assert_same(expected, got, where: str) -> None:
    """Equal JSON-like values; numbers to TOLERANCE."""
    if isinstance(expected, dict) and isinstance(got, dict):
        assert expected.keys() == got.keys(), f"{where}: keys {sorted(expected)} != {sorted(got)}"
        for key in expected:
            assert_same(expected[key], got[key], f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(got, list):
        assert len(expected) == len(got), f"{where}: {len(expected)} != {len(got)} items"
        for i, (e, g) in enumerate(zip(expected, got)):
            assert_same(e, g, f"{where}[{i}]")
    elif (isinstance(expected, (int, float)) and isinstance(got, (int, float))
          and not isinstance(expected, bool) and not isinstance(got, bool)):
        assert math.isclose(expected, got, rel_tol=TOLERANCE, abs_tol=TOLERANCE), \
            f"{where}: {expected!r} != {got!r}"
    else:
        assert expected == got, f"{where}: {expected!r} != {got!r}"


def json_fields(path: Path, relative: Path):
    obj = json.loads(path.read_text())
    if relative.parts[0] in ("hpo", "coherence"):  # Fig. 1's spaces name the trial they come from
        obj = without(obj, lambda k: k in KILL_DEPENDENT)
    if relative == Path("versions.json"):
        obj = without(obj, lambda k: k in ("python", "platform"))
    return without(obj, is_timing)


def table_frame(path: Path, relative: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if relative.name == "trials.csv":  # B's killed trials are FAIL records (no error): the CSV without them
        kept = frame[~((frame["state"] == "FAIL") & (frame["fail_kind"] == "stale"))]
        frame = pd.read_csv(io.StringIO(kept.drop(columns=["number", "worker"]).to_csv(index=False)))
    return frame.drop(columns=[c for c in frame.columns if is_timing(c)])


def without_timing_columns(table: list[list[str]]) -> list[list[str]]:
    """A table (rows of cells, the first row is the header) without its timing columns."""
    timing = {j for j, cell in enumerate(table[0] if table else []) if is_timing(cell.strip())}
    return [[cell for j, cell in enumerate(row) if j not in timing] for row in table]


def markdown_without_timing(text: str) -> list:
    """Text lines and markdown tables (rows of cells), tables without their timing columns."""
    blocks: list = []
    for line in text.splitlines():
        if not line.startswith("|"):
            blocks.append(line)
        elif not line.startswith("|---"):
            if not blocks or not isinstance(blocks[-1], list):
                blocks.append([])
            blocks[-1].append([c.strip() for c in line.split("|")])
    return [without_timing_columns(b) if isinstance(b, list) else b for b in blocks]


class _HtmlText(HTMLParser):
    """The text of an HTML page in order: text blocks, and tables as rows of cells."""

    def __init__(self, text: str):
        super().__init__()
        self.blocks: list = []
        self.cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.blocks.append([])
        elif tag == "tr":
            self.blocks[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.blocks[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        elif data.strip():
            self.blocks.append(data.strip())


def html_without_timing(text: str) -> list:
    return [without_timing_columns(b) if isinstance(b, list) else b for b in _HtmlText(text).blocks]


def assert_same_vectors(expected: Path, got: Path) -> None:
    from gensim.models import KeyedVectors

    a, b = KeyedVectors.load(str(expected)), KeyedVectors.load(str(got))
    assert a.index_to_key == b.index_to_key, f"{got}: vocabulary differs"
    np.testing.assert_allclose(b.vectors, a.vectors, rtol=TOLERANCE, atol=TOLERANCE, err_msg=str(got))


def assert_same_output(expected: Path, got: Path, relative: Path) -> None:
    if expected.suffix == ".json":
        assert_same(json_fields(expected, relative), json_fields(got, relative), str(relative))
    elif expected.suffix in (".csv", ".parquet"):
        # In B's trials.csv the empty cells of killed trials turn int columns into floats (16.0).
        pd.testing.assert_frame_equal(table_frame(got, relative), table_frame(expected, relative),
                                      check_dtype=relative.name != "trials.csv", check_exact=False,
                                      rtol=TOLERANCE, atol=TOLERANCE, obj=str(relative))
    elif expected.suffix == ".md":
        assert markdown_without_timing(got.read_text()) == markdown_without_timing(expected.read_text()), \
            str(relative)
    elif expected.suffix == ".html":
        assert html_without_timing(got.read_text()) == html_without_timing(expected.read_text()), \
            str(relative)
    elif expected.suffix == ".kv":
        assert_same_vectors(expected, got)
    else:  # raw data, LaTeX, figures (written without timestamps)
        assert got.read_bytes() == expected.read_bytes(), f"{relative} differs"


def finished_trials(trials) -> list[dict]:
    return [{"state": t.state.name, "params": t.params, "values": t.values,
             "metrics": without(t.user_attrs.get("metrics"), is_timing)}
            for t in trials if t.state in HPO_FINISHED]


def assert_same_study(expected: Path, got: Path, name: str) -> int:
    """B holds all of A's finished trials, in order, with the same parameters and results; its
    other trials are FAIL records of killed trials (no error). Returns how many B has."""
    a = hpo.load_study(name, f"sqlite:///{expected}").get_trials(deepcopy=False)
    b = hpo.load_study(name, f"sqlite:///{got}").get_trials(deepcopy=False)
    assert all(t.state in HPO_FINISHED for t in a), f"{name}: run A has unfinished trials"
    assert_same(finished_trials(a), finished_trials(b), f"study {name} finished trials")
    killed = [t for t in b if t.state not in HPO_FINISHED]
    for t in killed:
        assert t.state == TrialState.FAIL and "error" not in t.user_attrs, \
            f"study {name}: trial {t.number} is {t.state.name} {t.user_attrs}"
    return len(killed)


def is_temporary(relative: Path) -> bool:
    """Written by songvec.atomic (``.tmp-*``) or the ingest's external sort (``.spill-*``)."""
    return any(part.startswith((".tmp-", ".spill-")) for part in relative.parts)


def outputs(results: Path) -> dict[Path, Path]:
    files = {p.relative_to(results): p for p in results.rglob("*") if p.is_file()}
    return {relative: path for relative, path in files.items()
            if relative.parts[0] not in NOT_OUTPUTS and not is_temporary(relative)}


# ----------------------------------------------------------------------------- the test

@pytest.mark.slow
def test_sigkilled_and_rerun_workflow_equals_an_uninterrupted_run(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=__name__)
    n_random_trials = yaml.safe_load(CONFIG.read_text())["hpo"]["random_trials"]
    uninterrupted, interrupted, attempts = tmp_path / "A", tmp_path / "B", tmp_path / "attempts"
    for folder in (uninterrupted, interrupted, attempts):
        folder.mkdir()

    started = time.monotonic()
    finish(start(uninterrupted, attempts / "uninterrupted.out"), attempts / "uninterrupted.out")
    duration = time.monotonic() - started
    (log_a,) = (uninterrupted / ".snakemake" / "log").glob("*.log")
    points = kill_points(read_jobs(log_a), N_RANDOM_KILLS, random.Random(KILL_SEED))
    kills = run_with_kills(interrupted, points, n_random_trials, attempts)
    log.info("uninterrupted run %.0fs, interrupted run with %d kills %.0fs", duration, len(kills),
             time.monotonic() - started - duration)

    assert len(kills) >= MIN_KILLS
    for kill in kills:
        assert kill.interrupted, f"kill {kill.number} ({kill.trigger}) interrupted no job"
    assert any(job.startswith("hpo_worker") for kill in kills for job in kill.interrupted)

    results_a, results_b = uninterrupted / "results" / "demo-tiny", interrupted / "results" / "demo-tiny"
    expected, got = outputs(results_a), outputs(results_b)
    assert sorted(got) == sorted(expected)
    for relative, path in sorted(expected.items()):
        if relative.suffix != ".db":
            assert_same_output(path, got[relative], relative)
    killed_trials = sum(assert_same_study(path, got[relative], relative.parent.name)
                        for relative, path in expected.items() if relative.suffix == ".db")
    assert killed_trials >= 1  # at least the TPE trial killed on purpose was failed and redone
    leftovers = sorted(str(p.relative_to(results_b)) for p in results_b.rglob("*")
                       if p.name.startswith((".tmp-", ".spill-")))  # files or folders
    assert not leftovers, f"temporary files left beside complete outputs: {leftovers}"
