"""The workflow through a real SLURM scheduler: the slurm profile and snakemake-executor-plugin-slurm submit
every job with sbatch to a single-node cluster started for this module (tests/cluster/local-slurm: its own
munged, slurmctld and slurmd in a temporary folder, no accounting storage), stopped at the end.

One run of the tiny workflow with two HPO worker jobs per study sharing one journal file
(tests/workflow/slurm.yaml), during which one worker job of one study is cancelled with scancel in the
middle of a trial. Checked: every job went through sbatch; the CPUs, memory and time SLURM allocated are
the rules' threads and resources; the outputs of the deterministic jobs equal a local run of the same
config; each study holds exactly its budget of evaluations, each reported by one worker job, none lost;
the cancelled job was resubmitted by the profile's retry, its trial failed and no finished trial was lost.
Then what SLURM does with a request larger than the node, and max_job stopping it before submission.

The profile is used as its comments tell a user of a cluster without accounting to edit it (partition set,
no account, squeue for the status). Needs root and Debian's slurmctld, slurmd, slurm-client and munge:
skipped with the reason where they are missing, a failure under CI=true (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from songvec import hpo

REPO = Path(__file__).resolve().parents[1]
LOCAL_SLURM = REPO / "tests" / "cluster" / "local-slurm"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
CONFIGS = [str(REPO / "tests" / "workflow" / name) for name in ("tiny.yaml", "slurm.yaml")]
RESULTS = "results/demo-tiny"  # the tiny demo's outputs
FAULT_STUDY = "HitRate"  # one of its worker jobs is cancelled in the middle of a trial
PARTITION = "main"
SLURM_PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "slurmstepd", "sbatch", "squeue", "scontrol",
                  "scancel", "sinfo")
TIMING = re.compile(r"seconds|per_second")  # keys of measured durations and rates in JSON outputs


# ----------------------------------------------------------------------------- the cluster

def why_no_slurm() -> str | None:
    if os.geteuid() != 0:
        return "the test cluster needs root (slurmd starts jobs as their users)"
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [program for program in SLURM_PROGRAMS if shutil.which(program, path=path) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} not found); "
                "on Debian: apt-get install slurmctld slurmd slurm-client munge")
    if os.path.exists("/etc/slurm/slurm.conf"):
        return (f"/etc/slurm/slurm.conf exists (-> {os.path.realpath('/etc/slurm/slurm.conf')}): a SLURM is "
                "configured on this machine (or another test cluster runs); the test leaves it alone")
    return None


def free_port_pair() -> int:
    """A TCP port p on 127.0.0.1 such that p and p + 1 are free (slurmctld and slurmd)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="module")
def slurm_env() -> dict:
    """Environment of a running single-node cluster (SLURM_CONF set), stopped and deleted at the end."""
    reason = why_no_slurm()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM tests: {reason}")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="songvec-test-slurm-", dir="/var/tmp"))
    env = dict(os.environ, SLURM_CONF=str(folder / "etc" / "slurm.conf"),
               SONGVEC_SLURM_PORT=str(free_port_pair()), SONGVEC_SLURM_PARTITION=PARTITION,
               PYTHONWARNINGS="ignore",
               PATH=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))

    def local_slurm(action: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(LOCAL_SLURM), action, str(folder)], env=env, capture_output=True, text=True,
                              timeout=180)

    start = local_slurm("start")
    try:
        assert start.returncode == 0, f"local-slurm start failed:\n{start.stdout}\n{start.stderr}"
        yield env
    finally:
        stop = local_slurm("stop")
        shutil.rmtree(folder, ignore_errors=True)
        assert stop.returncode == 0, f"local-slurm stop failed:\n{stop.stdout}\n{stop.stderr}"


def node(env: dict) -> dict[str, str]:
    """The cluster's node as scontrol shows it (CPUTot, RealMemory, ...)."""
    text = subprocess.run(["scontrol", "show", "node", "--oneliner"], env=env, capture_output=True, text=True,
                          check=True).stdout
    return fields_of(text.splitlines()[0])


def fields_of(line: str) -> dict[str, str]:
    """key=value fields of one line of `scontrol ... --oneliner`."""
    return dict(re.findall(r"([A-Za-z][\w/:]*)=(\S*)", line))


def scontrol_jobs(env: dict) -> dict[str, dict[str, str]]:
    """Every job slurmctld still knows (finished ones stay MinJobAge = 300 s), by SLURM job id."""
    result = subprocess.run(["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        return {}
    jobs = (fields_of(line) for line in result.stdout.splitlines() if line.startswith("JobId="))
    return {job["JobId"]: job for job in jobs}


def megabytes(size: str) -> int:
    """scontrol's memory sizes (4000M, 2G, 1T) in MB."""
    number, unit = re.fullmatch(r"(\d+)([MGT])", size).groups()
    return int(number) * {"M": 1, "G": 1024, "T": 1024**2}[unit]


def minutes(limit: str) -> int:
    """scontrol's time limits ([days-]hours:minutes:seconds) in whole minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = map(int, clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """The slurm profile with the edits its comments ask for on a cluster without accounting."""
    folder = tmp_path_factory.mktemp("profile")
    shutil.copytree(PROFILE, folder, dirs_exist_ok=True)
    settings = yaml.safe_load((PROFILE / "config.yaml").read_text(encoding="utf-8"))
    assert settings["default-resources"]["slurm_partition"] == "CHANGE-ME"
    settings["default-resources"]["slurm_partition"] = PARTITION
    del settings["default-resources"]["slurm_account"]
    settings.update({"slurm-no-account": True, "slurm-status-command": "squeue"})
    (folder / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------- runs

@dataclass
class Run:
    returncode: int
    output: str                          # Snakemake's log
    slurm: dict[str, dict[str, str]]     # SLURM job id -> scontrol fields, last seen
    seconds: float
    results: Path
    cancelled: dict                      # what CancelWorkerMidTrial did, if it ran


@dataclass
class Submission:
    slurm_id: str
    rule: str
    wildcards: str
    threads: int
    resources: dict[str, str]
    log: Path                            # the job's SLURM log (its stdout and stderr)


def run_through_slurm(workdir: Path, env: dict, profile: Path, *args: str, watch=None,
                      timeout: int = 900) -> Run:
    """Snakemake with the profile on ``workdir``, polling scontrol every 0.5 s (and calling ``watch(jobs)``)."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--profile", str(profile), *args]
    jobs: dict[str, dict[str, str]] = {}
    log_path = workdir.parent / f"{workdir.name}.snakemake.log"
    started = time.monotonic()
    with open(log_path, "w+", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            while process.poll() is None:
                jobs.update(scontrol_jobs(env))
                if watch is not None:
                    watch(jobs)
                assert time.monotonic() - started < timeout, f"snakemake still running after {timeout} s"
                time.sleep(0.5)
            jobs.update(scontrol_jobs(env))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        seconds = time.monotonic() - started
        log.seek(0)
        output = log.read()
    return Run(process.returncode, output, jobs, seconds, workdir / RESULTS, getattr(watch, "cancelled", {}))


def submissions(output: str) -> list[Submission]:
    """Every sbatch submission Snakemake logged, with the rule, threads and resources of the job it ran.

    A job's block ("rule NAME:" and indented fields, printed again on a retry) comes before the plugin's
    "Job N has been submitted with SLURM jobid M" line; the block last printed for N is the one submitted.
    """
    blocks: dict[str, dict] = {}
    found = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if match := re.fullmatch(r"(?:local)?rule (\w+):", line):
            fields = {}
            for field in lines[i + 1:]:
                if not field.startswith("    ") or ": " not in field:
                    break
                key, value = field.strip().split(": ", 1)
                fields[key] = value
            blocks[fields["jobid"]] = {"rule": match.group(1), **fields}
        elif match := re.match(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", line):
            block = blocks[match.group(1)]
            resources = dict(item.split("=", 1) for item in block["resources"].split(", "))
            found.append(Submission(match.group(2), block["rule"], block.get("wildcards", ""),
                                    int(block.get("threads", 1)), resources, Path(match.group(3))))
    return found


def snakemake_jobs(output: str) -> Counter:
    """Rule -> number of jobs, from the "Job stats" table Snakemake prints before running."""
    table = output.split("Job stats:")[1].split("total")[0]
    return Counter({m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)})


class CancelWorkerMidTrial:
    """Called while the run goes on: the first time a trial of ``study`` has been running for a second (of
    the ~3 s a trial takes with slurm.yaml) in a worker job SLURM runs, after another trial finished,
    scancel that job, and record the job, the trial and the study's finished trials at that moment."""

    def __init__(self, results: Path, study: str, env: dict):
        self.study, self.env = study, env
        self.storage = f"journal:{results}/hpo/{study}/study.journal"
        self.cancelled: dict = {}

    def __call__(self, jobs: dict[str, dict[str, str]]) -> None:
        from optuna.trial import TrialState

        if self.cancelled or not Path(self.storage.removeprefix("journal:")).exists():
            return
        try:
            trials = hpo.load_study(self.study, self.storage).get_trials()
        except KeyError:  # the workers have not created the study yet
            return
        finished = {t.number: (t.state, t.values, t.params) for t in trials if t.state.is_finished()}
        if not finished:  # so that there is a finished trial to lose
            return
        now = pd.Timestamp.now()
        for trial in trials:
            if trial.state != TrialState.RUNNING or "worker" not in trial.user_attrs:
                continue
            age = (now - pd.Timestamp(trial.datetime_start)).total_seconds()
            index = trial.user_attrs["worker"].rsplit("#", 1)[1]
            job_ids = [job_id for job_id, job in jobs.items() if job["JobState"] == "RUNNING"
                       and job["Comment"] == f"rule_hpo_worker_wildcards_{self.study}_{index}"]
            if age >= 1.0 and len(job_ids) == 1:
                subprocess.run(["scancel", job_ids[0]], env=self.env, check=True)
                self.cancelled = {"job": job_ids[0], "trial": trial.number, "worker": index, "age": age,
                                  "finished": finished}
                return


# Outputs of the jobs that do not depend on the HPO trials (everything before the studies, the default
# model and its metrics): with 2 workers per study the trial order depends on timing, so the studies, the
# tuned models and the tables built from them differ between any two runs.
DETERMINISTIC_TARGETS = [f"{RESULTS}/{name}" for name in (
    "tables/table2.csv", "data/pairs/summary.json", "hard_negatives/pairs.parquet", "data/track_genres.parquet",
    "data/pairs/in_set_valid_sample0.5.parquet", "metrics/default/seed-42/valid.json", "metrics/default/seed-1/test.json")]


@pytest.fixture(scope="module")
def local_process(tmp_path_factory):
    """The deterministic jobs of the same config run locally (no scheduler), started before the SLURM run so
    that they use the CPUs while the SLURM jobs wait for status checks: (process, workdir, log file)."""
    workdir = tmp_path_factory.mktemp("local") / "run"
    log_path = workdir.parent / "snakemake.log"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                                    "--directory", str(workdir), "--cores", "2", "--configfile", *CONFIGS,
                                    "--", *DETERMINISTIC_TARGETS], cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    try:
        yield process, workdir, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def local_run(local_process) -> Path:
    process, workdir, log_path = local_process
    assert process.wait(timeout=600) == 0, log_path.read_text()[-6000:]
    return workdir / RESULTS


@pytest.fixture(scope="module")
def slurm_run(slurm_env, profile, local_process, tmp_path_factory) -> Run:
    """The whole tiny workflow through the profile, two HPO worker jobs per study on one journal file, one
    worker job cancelled mid-trial. SLURM logs of successful jobs are kept: they hold each job's log lines."""
    workdir = tmp_path_factory.mktemp("slurm") / "run"
    run = run_through_slurm(workdir, slurm_env, profile, "--configfile", *CONFIGS,
                            "--slurm-keep-successful-logs",
                            watch=CancelWorkerMidTrial(workdir / RESULTS, FAULT_STUDY, slurm_env))
    print(f"\nSLURM run: {run.seconds:.0f} s, {len(submissions(run.output))} sbatch submissions, "
          f"cancelled {({k: v for k, v in run.cancelled.items() if k != 'finished'})}")
    assert run.returncode == 0, run.output[-8000:]
    return run


# ----------------------------------------------------------------------------- the workflow on SLURM

@pytest.mark.slow
def test_every_job_went_through_sbatch(slurm_run):
    planned = snakemake_jobs(slurm_run.output)
    submitted = submissions(slurm_run.output)
    assert planned["hpo_worker"] == 10 and planned["all"] == 1  # 5 studies x 2 workers; `all` is local
    retried = Counter(hpo_worker=1)  # the cancelled worker job, submitted again
    assert Counter(s.rule for s in submitted) == planned - Counter(all=1) + retried
    assert len({s.slurm_id for s in submitted}) == len(submitted)
    for submission in submitted:
        job = slurm_run.slurm[submission.slurm_id]  # SLURM's own record of the job
        expected = "CANCELLED" if submission.slurm_id == slurm_run.cancelled.get("job") else "COMPLETED"
        assert job["JobState"] == expected, (submission, job["JobState"])
        assert job["Comment"].split("_wildcards_")[0] == f"rule_{submission.rule}"
        assert job["Partition"] == PARTITION
    assert f"{sum(planned.values())} of {sum(planned.values())} steps (100%) done" in slurm_run.output


@pytest.mark.slow
def test_slurm_allocates_the_rules_threads_and_memory(slurm_run):
    submitted = submissions(slurm_run.output)
    assert {s.threads for s in submitted} == {1, 2}  # ingest_events and others declare 2 threads
    for submission in submitted:
        job = slurm_run.slurm[submission.slurm_id]
        assert int(job["CPUs/Task"]) == int(job["NumCPUs"]) == submission.threads, submission
        assert megabytes(job["MinMemoryNode"]) == int(submission.resources["mem_mb"]), submission
        assert minutes(job["TimeLimit"]) == int(submission.resources["runtime"]), (submission, job["TimeLimit"])


def assert_same_output(ours: Path, theirs: Path) -> None:
    """Equal content: tables by value, JSON without timing fields, vectors exactly, other files by bytes."""
    from songvec.training import load_vectors

    if ours.suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(ours), pd.read_parquet(theirs), obj=str(ours))
    elif ours.suffix == ".json":
        def untimed(value):
            if isinstance(value, dict):
                return {k: untimed(v) for k, v in value.items() if not TIMING.search(k)}
            return value
        assert untimed(json.loads(ours.read_text())) == untimed(json.loads(theirs.read_text())), ours
    elif ours.suffix == ".kv":
        (vectors, ids), (their_vectors, their_ids) = load_vectors(ours), load_vectors(theirs)
        assert np.array_equal(ids, their_ids) and np.array_equal(vectors, their_vectors), ours
    else:
        assert ours.read_bytes() == theirs.read_bytes(), ours


@pytest.mark.slow
def test_deterministic_outputs_equal_a_local_run(slurm_run, local_run):
    compared = []
    for path in sorted(local_run.rglob("*")):
        relative = path.relative_to(local_run)
        if path.is_file() and relative.parts[0] not in ("logs", "benchmarks"):
            assert_same_output(slurm_run.results / relative, path)
            compared.append(str(relative))
    assert "models/default/seed-42/vectors.kv" in compared and "data/split/train.parquet" in compared
    assert len(compared) >= 30, compared


def trial_reports(run: Run, study: str) -> Counter:
    """Trial number -> how many worker job lives report having evaluated it ("study S: trial N STATE |"),
    from the SLURM logs of every hpo_worker job of the study (a resubmitted job has one log per life)."""
    pattern = re.compile(rf"study {re.escape(study)}: trial (\d+) (?:COMPLETE|PRUNED|FAIL) \|")
    logs = [s.log for s in submissions(run.output)
            if s.rule == "hpo_worker" and s.wildcards.startswith(f"study={study},")]
    return Counter(int(number) for log in logs for number in set(pattern.findall(log.read_text())))


@pytest.mark.slow
def test_each_study_holds_exactly_its_budget(slurm_run):
    from optuna.trial import TrialState

    config = yaml.safe_load(Path(CONFIGS[0]).read_text())["hpo"]
    studies = sorted(p.name for p in (slurm_run.results / "hpo").iterdir())
    assert studies == ["HitRate", "HitRate-sample0.5", "Pareto-HitRate-VRCGenre", "VRCGenre",
                       "lambdaGenre-0.01"]
    worker_jobs = {s.wildcards for s in submissions(slurm_run.output) if s.rule == "hpo_worker"}
    assert worker_jobs == {f"study={study}, worker={i}" for study in studies for i in (0, 1)}
    for study in studies:
        budget = config["pareto"]["max_trials"] if study.startswith("Pareto") else config["max_trials"]
        trials = hpo.load_study(study, f"journal:{slurm_run.results}/hpo/{study}/study.journal").get_trials()
        assert [t.number for t in trials] == list(range(len(trials)))
        evaluated = {t.number for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
        assert len(evaluated) == budget, (study, [(t.number, t.state.name) for t in trials])
        # the others: records of a worker that found the budget used, or the trial of the cancelled job
        others = {t.number: t for t in trials if t.number not in evaluated}
        killed = {slurm_run.cancelled["trial"]} if study == FAULT_STUDY else set()
        assert {n for n, t in others.items() if "skipped" not in t.user_attrs} == killed, study
        reports = trial_reports(slurm_run, study)
        # none lost, none evaluated twice
        assert set(reports) == evaluated and set(reports.values()) == {1}, (study, reports)
        summary = json.loads((slurm_run.results / "hpo" / study / "summary.json").read_text())
        assert summary["budget_used"] == budget and summary["n_trials"] == len(trials)
        assert pd.read_csv(slurm_run.results / "hpo" / study / "trials.csv")["number"].tolist() == \
            [t.number for t in trials]


@pytest.mark.slow
def test_worker_job_cancelled_mid_trial_was_resubmitted_and_its_trial_failed(slurm_run):
    from optuna.trial import TrialState

    cancelled = slurm_run.cancelled
    assert cancelled, f"no trial of {FAULT_STUDY} was seen running for a second in a SLURM job"
    assert cancelled["finished"]
    # SLURM cancelled the job; Snakemake saw it fail and the profile's retry submitted the same job again
    assert slurm_run.slurm[cancelled["job"]]["JobState"] == "CANCELLED"
    assert f"SLURM-job '{cancelled['job']}' failed, SLURM status is: 'CANCELLED'" in slurm_run.output
    lives = [s.slurm_id for s in submissions(slurm_run.output)
             if s.rule == "hpo_worker" and s.wildcards == f"study={FAULT_STUDY}, worker={cancelled['worker']}"]
    assert len(lives) == 2 and lives[0] == cancelled["job"], lives
    assert slurm_run.slurm[lives[1]]["JobState"] == "COMPLETED"
    second_life = next(s.log for s in submissions(slurm_run.output) if s.slurm_id == lives[1]).read_text()
    print(f"\ncancelled {({k: v for k, v in cancelled.items() if k != 'finished'})}; its trial failed by "
          + ("the resubmitted worker at start" if "of a killed earlier run of worker" in second_life
             else "the other worker (stale heartbeat)"))
    # The cancelled trial failed as killed (neither an error of its evaluation nor a skipped record); every
    # trial finished before the cancel is unchanged; the study finished with its budget
    storage = f"journal:{slurm_run.results}/hpo/{FAULT_STUDY}/study.journal"
    trials = hpo.load_study(FAULT_STUDY, storage).get_trials()
    killed = trials[cancelled["trial"]]
    assert killed.state == TrialState.FAIL and not {"error", "skipped"} & set(killed.user_attrs), killed
    for number, (state, values, params) in cancelled["finished"].items():
        assert (trials[number].state, trials[number].values, trials[number].params) == (state, values, params)
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    summary = json.loads((slurm_run.results / "hpo" / FAULT_STUDY / "summary.json").read_text())
    assert summary["n_failed_stale"] == 1
    frame = pd.read_csv(slurm_run.results / "hpo" / FAULT_STUDY / "trials.csv").set_index("number")
    assert frame.loc[cancelled["trial"], "fail_kind"] == "stale"


# ----------------------------------------------------------------------------- requests beyond the node

def test_requests_beyond_the_node(slurm_env, profile, tmp_path):
    """What SLURM does with a job larger than every node, and max_job stopping it before submission."""
    node_fields = node(slurm_env)
    memory, cpus = int(node_fields["RealMemory"]), int(node_fields["CPUTot"])

    # More memory than the node: sbatch refuses it at once; Snakemake reports SLURM's message and fails
    run = run_through_slurm(tmp_path / "memory", slurm_env, profile, "--configfile", *CONFIGS,
                            "--set-resources", f"package_versions:mem_mb={memory + 1}",
                            "--", f"{RESULTS}/versions.json", timeout=300)
    assert run.returncode != 0
    assert "SLURM sbatch failed" in run.output and "Requested node configuration is not available" in run.output
    assert not any(job["JobState"] == "PENDING" for job in run.slurm.values())

    # More CPUs than the node: SLURM accepts the job and leaves it pending (reason PartitionConfig) for ever;
    # Snakemake would wait without a message
    job_id = subprocess.run(["sbatch", "--parsable", f"--partition={PARTITION}", f"--cpus-per-task={cpus + 1}",
                             f"--chdir={tmp_path}", "--output=/dev/null", "--wrap", "true"], env=slurm_env,
                            capture_output=True, text=True, check=True).stdout.strip()
    try:
        deadline = time.monotonic() + 30
        while (job := scontrol_jobs(slurm_env)[job_id])["Reason"] == "None" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (job["JobState"], job["Reason"]) == ("PENDING", "PartitionConfig")
    finally:
        subprocess.run(["scancel", job_id], env=slurm_env, check=True)

    # max_job set to the node: the job that does not fit stops the run before it is submitted (the demo data
    # it needs is made first), with a message naming the rule and the key
    limits = tmp_path / "limits.yaml"
    limits.write_text(f"max_job: {{mem_mb: {memory}, threads: {cpus}}}\n"
                      f"ingest: {{memory_budget_gb: {memory // 1024 + 1}}}\n")
    run = run_through_slurm(tmp_path / "limited", slurm_env, profile, "--configfile", *CONFIGS, str(limits),
                            "--", f"{RESULTS}/data/sequences.parquet", timeout=300)
    assert run.returncode != 0
    assert "rule ingest_events" in run.output and f"but max_job.mem_mb is {memory}" in run.output
    assert [s.rule for s in submissions(run.output)] == ["generate_demo"]
    too_many_threads = tmp_path / "threads.yaml"
    too_many_threads.write_text(f"max_job: {{mem_mb: null, threads: {cpus}}}\n"
                                f"word2vec: {{workers: {cpus + 1}}}\n")
    run = run_through_slurm(tmp_path / "threads", slurm_env, profile, "--configfile", *CONFIGS,
                            str(too_many_threads), timeout=300)
    assert run.returncode != 0 and "config key 'word2vec.workers'" in run.output
    assert "has been submitted" not in run.output


def test_a_retry_asks_for_more_memory_up_to_max_job(local_run):
    """No scheduler needed: the memory Snakemake would request for split_sequences (600 MB on the tiny
    demo) on a first attempt and on a retry, with max_job.mem_mb between the two, and below the first."""
    workdir = local_run.parents[1]

    def dry_run(limit: int, *args: str) -> subprocess.CompletedProcess:
        limits = workdir.parent / f"max-job-{limit}.yaml"
        limits.write_text(f"max_job: {{mem_mb: {limit}, threads: null}}\n")
        return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                               "--directory", str(workdir), "-n", "--forcerun", "split_sequences", *args,
                               "--configfile", *CONFIGS, str(limits), "--", f"{RESULTS}/data/split/summary.json"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)

    def requested(result: subprocess.CompletedProcess) -> int:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return int(re.search(r"rule split_sequences:\n(?:    .*\n)*?    resources: .*?mem_mb=(\d+)",
                             result.stdout + result.stderr).group(1))

    assert requested(dry_run(1000)) == 600
    assert requested(dry_run(1000, "--attempt", "2")) == 1000  # 2 x 600, cut to the largest node
    refused = dry_run(500)
    assert refused.returncode != 0
    assert "the job needs mem_mb=600 but max_job.mem_mb is 500" in refused.stdout + refused.stderr
