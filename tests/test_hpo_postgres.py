"""Three worker processes on one study, against a real PostgreSQL server and against a journal file.

The server is started for this module only: a fresh data folder in a temporary directory, listening on
127.0.0.1 at a free port (and a Unix socket in the same folder), stopped and deleted at the end. As root it
runs as the ``postgres`` user that Debian's package creates (initdb refuses root). When the PostgreSQL
binaries are not installed the PostgreSQL case is skipped with the reason; the journal case always runs.

What is checked (the protocol of :mod:`songvec.hpo`): trial numbers are unique and contiguous; exactly
``max_trials`` trials were evaluated, each once (the evaluations the workers report are exactly the
COMPLETE trials, parameters included); every COMPLETE trial carries the value ``evaluate`` gives for its
parameters; the other trials are at most ``n_workers - 1`` FAIL records marked ``skipped``, never
evaluated; the default configuration ran once. Each worker's first evaluation waits until all three
hold a running trial, so the workers really run concurrently, whatever the machine's load.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from songvec import hpo

SRC = Path(__file__).resolve().parents[1] / "src"
N_WORKERS = 3
MAX_TRIALS = 12
SEARCH_SPACE = {"vector_size": {"low": 25, "high": 200, "type": "int", "default": 100},
                "window": {"low": 1, "high": 40, "type": "int", "default": 5},
                "alpha": {"low": 0.001, "high": 0.1, "type": "float", "log": True, "default": 0.025}}

WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import optuna
    from songvec import hpo

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = json.loads(sys.argv[1])
    evaluated = []

    def hitrate(params):
        return 0.4 - ((params["vector_size"] - 120) / 175) ** 2 - 0.01 * params["window"] + params["alpha"]

    def evaluate(params):
        if not evaluated:  # first trial: wait until every worker holds a running trial (60 s at most)
            Path(cfg["go"] + f".evaluating-{cfg['worker']}").touch()
            deadline = time.monotonic() + 60
            while (len(list(Path(cfg["go"]).parent.glob("go.evaluating-*"))) < cfg["n_workers"]
                   and time.monotonic() < deadline):
                time.sleep(0.01)
        evaluated.append(params)
        time.sleep(0.02)
        return {"hitrate": hitrate(params), "vrc_genre": 1.0, "vrc_artist": 1.0}

    Path(cfg["go"] + f".ready-{cfg['worker']}").touch()
    while not Path(cfg["go"]).exists():
        time.sleep(0.01)
    hpo.run_study_worker("s", cfg["url"], "HitRate", evaluate, max_trials=cfg["max_trials"],
                         space=hpo.SearchSpace.from_dict(cfg["space"]), n_random_trials=4, seed=11,
                         worker_index=cfg["worker"], enqueue_default=True, heartbeat_interval=5)
    Path(cfg["report"]).write_text(json.dumps(evaluated))
""")


def hitrate(params: dict) -> float:
    """The workers' deterministic objective, recomputed here from a trial's parameters."""
    return 0.4 - ((params["vector_size"] - 120) / 175) ** 2 - 0.01 * params["window"] + params["alpha"]


# ----------------------------------------------------------------------------- PostgreSQL server

def postgres_binaries() -> Path | None:
    """Folder holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """URL of a throw-away PostgreSQL server on 127.0.0.1 (stopped and removed at the end)."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
                    "on Debian: apt-get install postgresql")
    run_as = None
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as (initdb refuses root)")
        run_as = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="songvec-test-pg-"))
    data, log_file = folder / "data", folder / "server.log"
    if run_as:
        shutil.chown(folder, user=run_as)

    def server(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(binaries / args[0]), *args[1:]], user=run_as, capture_output=True,
                              text=True, timeout=120)

    started = False
    try:
        init = server("initdb", "-D", str(data), "-U", "songvec", "--auth=trust", "--no-sync",
                      "--encoding=UTF8", "--locale=C")
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        port = free_port()
        options = (f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off")
        start = server("pg_ctl", "start", "-D", str(data), "-l", str(log_file), "-w", "-t", "60",
                       "-o", options)
        log_text = log_file.read_text() if log_file.exists() else ""
        assert start.returncode == 0, f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log_text}"
        started = True
        yield f"postgresql://songvec@127.0.0.1:{port}/postgres"
    finally:
        if started:
            server("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- workers

def run_workers(url: str, folder: Path) -> list[list[dict]]:
    """Start N_WORKERS processes on study "s" at ``url`` at the same moment; return what each evaluated."""
    script, go = folder / "worker.py", folder / "go"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    reports = [folder / f"evaluated-{i}.json" for i in range(N_WORKERS)]
    procs = [subprocess.Popen([sys.executable, str(script), json.dumps(
                {"url": url, "worker": i, "go": str(go), "report": str(reports[i]),
                 "max_trials": MAX_TRIALS, "space": SEARCH_SPACE, "n_workers": N_WORKERS})],
             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(N_WORKERS)]
    try:
        deadline = time.monotonic() + 120
        while not all(Path(f"{go}.ready-{i}").exists() for i in range(N_WORKERS)):
            exited = [p for p in procs if p.poll() is not None]
            assert not exited, f"a worker exited before the start:\n{exited[0].stdout.read()}"
            assert time.monotonic() < deadline, "workers did not get ready within 120 s"
            time.sleep(0.02)
        go.touch()  # all three open the (still empty) storage at once
        for proc in procs:
            output = proc.communicate(timeout=300)[0]
            assert proc.returncode == 0, output
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [json.loads(report.read_text()) for report in reports]


def canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


@pytest.mark.parametrize("backend", ["postgresql", "journal"])
def test_three_workers_share_one_study_without_losing_or_repeating_trials(request, tmp_path, backend):
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"journal:{tempfile.mkdtemp(prefix='songvec-test-journal-')}/study.log"
        request.addfinalizer(lambda: shutil.rmtree(Path(url.removeprefix("journal:")).parent,
                                                   ignore_errors=True))
    evaluated = run_workers(url, tmp_path)

    trials = sorted(hpo.load_study("s", url).get_trials(), key=lambda t: t.number)
    assert [t.number for t in trials] == list(range(len(trials)))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    others = [t for t in trials if t.state != TrialState.COMPLETE]

    # Budget: exactly max_trials evaluations, each of them a COMPLETE trial and vice versa.
    assert sum(map(len, evaluated)) == MAX_TRIALS == len(complete)
    assert Counter(canonical(p) for worker in evaluated for p in worker) == \
        Counter(canonical(t.params) for t in complete)
    for trial in complete:
        assert trial.value is not None
        assert trial.value == pytest.approx(hitrate(trial.params), rel=1e-12, abs=1e-12)
        assert trial.user_attrs["metrics"]["hitrate"] == trial.value

    # Racing workers add at most n_workers - 1 skipped records, never evaluated.
    assert len(others) <= N_WORKERS - 1
    for trial in others:
        assert trial.state == TrialState.FAIL and "skipped" in trial.user_attrs and trial.params == {}

    defaults = [t for t in trials if t.user_attrs.get("default_config")]
    assert len(defaults) == 1 and defaults[0].state == TrialState.COMPLETE
    assert defaults[0].params == {"vector_size": 100, "window": 5, "alpha": 0.025}
    # Each worker's first evaluation waited for the others' (see WORKER): all three ran at once.
    assert all(evaluated), f"every worker should have evaluated trials: {list(map(len, evaluated))}"
    assert {t.user_attrs["worker"].rsplit("#", 1)[1] for t in complete} == {str(i) for i in range(N_WORKERS)}

    summary = hpo.study_summary(hpo.load_study("s", url))
    assert summary["budget_used"] == MAX_TRIALS and summary["n_skipped"] == len(others)
    assert summary["best_value"] == max(t.value for t in complete)
