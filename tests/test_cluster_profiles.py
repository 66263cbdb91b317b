"""The cluster profiles (workflow/profiles/): they resolve on a fresh clone without any scheduler command,
keep every rule's own resources, run N HPO workers per study, and the generic profile's submit and status
commands carry a real job through a stand-in scheduler.

Every run goes through tests/snakemake_runs.py (the venv's Snakemake, started from the clone's root, with a
fresh working directory so that results of earlier runs in the clone do not shorten the DAG), with a PATH
that holds no scheduler command unless a test puts its stand-ins there.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from snakemake_runs import REPO, output_of
from snakemake_runs import snakemake as run_snakemake

PROFILES = REPO / "workflow" / "profiles"
SCHEDULER_COMMANDS = ("sbatch", "srun", "sinfo", "squeue", "sacct", "scancel", "qsub", "qstat")


_PATH_MIRRORS = tempfile.TemporaryDirectory(prefix="songvec-test-path-")  # removed when the tests end


@functools.cache
def path_without_schedulers() -> str:
    """PATH without any scheduler command, so a dry run cannot lean on one. A folder holding one is
    replaced by a folder of links to its other entries: on a cluster node (or with slurm-client
    installed) /usr/bin holds sbatch beside bash, which Snakemake needs."""
    kept = []
    for i, folder in enumerate(filter(None, os.environ.get("PATH", "").split(os.pathsep))):
        if not any((Path(folder) / command).exists() for command in SCHEDULER_COMMANDS):
            kept.append(folder)
            continue
        mirror = Path(_PATH_MIRRORS.name) / str(i)
        mirror.mkdir()
        for entry in Path(folder).iterdir():
            if entry.name not in SCHEDULER_COMMANDS:
                (mirror / entry.name).symlink_to(entry)
        kept.append(str(mirror))
    return os.pathsep.join(kept)


def snakemake(*args: str, workdir: Path, env: dict | None = None) -> str:
    """What a successful run on ``workdir`` printed; by default no scheduler command is on the PATH."""
    env = env or dict(os.environ, PATH=path_without_schedulers())
    return output_of(run_snakemake(workdir, *args, env=env, timeout=300))


def jobs_of(output: str) -> list[dict]:
    """The jobs a Snakemake run printed: rule, output, wildcards and resources (as strings)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", output)[1:]:
        lines = block.splitlines()
        fields = dict(line.strip().split(": ", 1) for line in lines[1:]
                      if line.startswith("    ") and ": " in line)
        jobs.append({
            "rule": re.match(r"(?:local)?rule (\w+):", lines[0]).group(1),
            "output": fields.get("output", ""),
            "wildcards": dict(item.split("=", 1) for item in fields["wildcards"].split(", "))
            if "wildcards" in fields else {},
            "resources": dict(item.split("=", 1) for item in fields["resources"].split(", "))
            if "resources" in fields else {},
        })
    return jobs


def profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text(encoding="utf-8"))


def test_jobs_of_parses_a_dry_run_block():
    output = textwrap.dedent("""\
        Building DAG of jobs...
        [Sun Nov 22 00:44:28 2026]
        rule hpo_worker:
            input: a.parquet, b.json
            output: results/hpo/HitRate/worker-0.json
            wildcards: study=HitRate, worker=0
            resources: tmpdir=/tmp, mem_mb=4000, mem=4 GB, slurm_partition=CHANGE-ME, runtime=1440
        [Sun Nov 22 00:44:28 2026]
        localrule all:
            input: results/tables/table2.md
            jobid: 0
        This was a dry-run (flag -n).
        """)
    worker, final = jobs_of(output)
    assert worker == {"rule": "hpo_worker", "output": "results/hpo/HitRate/worker-0.json",
                      "wildcards": {"study": "HitRate", "worker": "0"},
                      "resources": {"tmpdir": "/tmp", "mem_mb": "4000", "mem": "4 GB",
                                    "slurm_partition": "CHANGE-ME", "runtime": "1440"}}
    assert final == {"rule": "all", "output": "", "wildcards": {}, "resources": {}}


def job_key(job: dict) -> str:
    """A job's outputs, with the HPO worker number left out (runs differ in workers per study)."""
    return re.sub(r"worker-[0-9]+", "worker-N", job["output"])


@pytest.fixture(scope="module")
def baseline_jobs(tmp_path_factory) -> dict[str, dict]:
    """The jobs of a plain dry run (no profile), by job_key: what the rules themselves declare."""
    jobs = jobs_of(snakemake("-n", workdir=tmp_path_factory.mktemp("plain")))
    return {job_key(job): job for job in jobs if job["rule"] != "all"}


def hpo_workers_by_study(jobs: list[dict]) -> dict[str, set[int]]:
    studies: dict[str, set[int]] = {}
    for job in jobs:
        if job["rule"] == "hpo_worker":
            studies.setdefault(job["wildcards"]["study"], set()).add(int(job["wildcards"]["worker"]))
    return studies


@pytest.mark.parametrize("name, placeholders", [
    ("slurm", ("slurm_partition", "slurm_account")),
    ("cluster-generic", ("partition",)),
])
def test_profile_dry_run_keeps_rule_resources_and_fills_defaults(tmp_path, baseline_jobs, name, placeholders):
    settings = profile(name)
    assert shutil.which("sbatch", path=path_without_schedulers()) is None
    assert not {"set-resources", "set-threads"} & set(settings), "rules declare their own resources"
    output = snakemake("--profile", f"workflow/profiles/{name}", "-n", workdir=tmp_path)
    assert f"Using profile workflow/profiles/{name}" in output
    jobs = [job for job in jobs_of(output) if job["rule"] != "all"]
    assert {job_key(job) for job in jobs} == set(baseline_jobs)
    defaults = settings["default-resources"]
    for job in jobs:
        declared, resources = baseline_jobs[job_key(job)]["resources"], job["resources"]
        assert resources["mem_mb"] == declared["mem_mb"], job["rule"]
        assert resources["runtime"] == declared.get("runtime", str(defaults["runtime"])), job["rule"]
        for key in placeholders:
            assert resources[key] == defaults[key], (job["rule"], key)
    workers = yaml.safe_load((PROFILES / name / settings["configfile"]).read_text())["hpo"]["workers"]
    studies = hpo_workers_by_study(jobs)
    assert studies and all(found == set(range(workers)) for found in studies.values()), studies


def test_slurm_profile_with_a_shared_database_file(tmp_path):
    """The documented way to point the workers at PostgreSQL: a YAML file with both hpo keys."""
    hpo_file = tmp_path / "my-hpo.yaml"
    hpo_file.write_text("hpo:\n  workers: 3\n  storage: postgresql://songvec@db.example.org:5432/songvec\n")
    output = snakemake("--profile", "workflow/profiles/slurm", "-n", "--configfile", str(hpo_file),
                       workdir=tmp_path / "run")
    studies = hpo_workers_by_study(jobs_of(output))
    assert studies and all(found == {0, 1, 2} for found in studies.values()), studies


# ----------------------------------------------------------------------------- generic profile, executed

FAKE_SBATCH = """\
#!/usr/bin/env bash
# Stand-in for sbatch: records its arguments, runs the job script (last argument) now, prints a job id.
state="$FAKE_SCHEDULER_STATE"
id=$(( 1000 + $(find "$state" -name 'args-*' | wc -l) ))
printf '%s\\n' "$@" > "$state/args-$id"
if bash "${@: -1}" > "$state/out-$id" 2>&1; then echo COMPLETED > "$state/state-$id"
else echo "FAILED" > "$state/state-$id"; fi
echo "$id"
"""

FAKE_SACCT = """\
#!/usr/bin/env bash
# Stand-in for sacct: prints the recorded State of the job given with --jobs (or $FAKE_SACCT_STATE).
while [ $# -gt 0 ]; do
  if [ "$1" = --jobs ]; then
    echo "$2" >> "$FAKE_SCHEDULER_STATE/sacct-queries"
    if [ -n "${FAKE_SACCT_STATE+set}" ]; then printf '%s\\n' "$FAKE_SACCT_STATE"
    else cat "$FAKE_SCHEDULER_STATE/state-$2"; fi
  fi
  shift
done
"""


@pytest.fixture
def fake_scheduler(tmp_path) -> dict:
    """A PATH whose sbatch and sacct are the stand-ins above, and the folder they record into."""
    bin_dir, state = tmp_path / "bin", tmp_path / "scheduler"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("sacct", FAKE_SACCT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{path_without_schedulers()}",
               FAKE_SCHEDULER_STATE=str(state))
    return {"env": env, "state": state}


@pytest.mark.parametrize("state, expected", [
    ("COMPLETED", "success"), ("RUNNING", "running"), ("PENDING", "running"), ("", "running"),
    ("REQUEUED", "running"), ("FAILED", "failed"), ("TIMEOUT", "failed"), ("OUT_OF_MEMORY", "failed"),
    ("CANCELLED by 1234", "failed"), ("NODE_FAIL", "failed"), ("PREEMPTED", "failed"),
])
def test_status_script_maps_scheduler_states(fake_scheduler, state, expected):
    script = PROFILES / "cluster-generic" / profile("cluster-generic")["cluster-generic-status-cmd"]
    env = dict(fake_scheduler["env"], FAKE_SACCT_STATE=state)
    result = subprocess.run([str(script), "4321;cluster-a"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{expected}\n"
    assert (fake_scheduler["state"] / "sacct-queries").read_text() == "4321\n"  # the cluster name is cut


@pytest.mark.slow
def test_generic_profile_submits_and_tracks_a_job(tmp_path, fake_scheduler):
    """One real job (package_versions) through the profile's submit command and status script.

    The profile is given by absolute path: Snakemake makes a profile's file values (the status script)
    relative to the profile path as given, and --directory changes the working directory.
    """
    workdir = tmp_path / "run"
    output = snakemake("--profile", str(PROFILES / "cluster-generic"), "--seconds-between-status-checks", "1",
                       "results/demo-default/versions.json", workdir=workdir, env=fake_scheduler["env"])
    assert (workdir / "results" / "demo-default" / "versions.json").is_file()
    (job,) = [job for job in jobs_of(output) if job["rule"] == "package_versions"]
    (args_file,) = fake_scheduler["state"].glob("args-*")
    submitted = args_file.read_text().splitlines()
    assert f"--mem={job['resources']['mem_mb']}" in submitted
    assert f"--time={job['resources']['runtime']}" in submitted
    assert f"--partition={job['resources']['partition']}" in submitted
    assert "--job-name=songvec-package_versions" in submitted
    assert Path(submitted[-1]).name.startswith("snakejob.package_versions")
    assert "--cpus-per-task=1" in submitted  # package_versions declares threads: 1
    job_id = args_file.name.removeprefix("args-")
    assert set((fake_scheduler["state"] / "sacct-queries").read_text().split()) == {job_id}
    assert (workdir / "results" / "logs" / "cluster").is_dir()
