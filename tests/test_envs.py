"""The conda envs of the rules pin exactly the versions that requirements.txt pins for pip.

Conda channels cannot be reached from CI, so the envs are checked for agreement rather than built.
"""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# conda-forge package name -> PyPI name, where they differ
CONDA_TO_PIP = {"matplotlib-base": "matplotlib", "pyyaml": "PyYAML", "sqlalchemy": "SQLAlchemy"}
NOT_PINNED_IN_REQUIREMENTS = {"python", "pip"}


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def env_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pins = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                name, version = pip_dep.split("==")
                pins[name.lower()] = version
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:=([^=\s]+))?", dep)
        assert match, f"{path.name}: cannot read dependency {dep!r}"
        name, version = match.groups()
        if name in NOT_PINNED_IN_REQUIREMENTS:
            continue
        assert version, f"{path.name}: {name} is not pinned"
        pins[CONDA_TO_PIP.get(name, name).lower()] = version
    return pins


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def test_there_are_envs():
    assert {p.stem for p in ENV_FILES} >= {"data", "embeddings", "hpo", "analyses"}


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_equal_requirements(env_file):
    requirements = requirement_pins()
    for name, version in env_pins(env_file).items():
        assert name in requirements, f"{env_file.name}: {name} is not in requirements.txt"
        assert version == requirements[name], (
            f"{env_file.name}: {name}={version} but requirements.txt pins {requirements[name]}")


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_python_matches_project(env_file):
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    assert "python=3.11" in deps


def test_every_rule_names_an_existing_env():
    used = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        used |= set(re.findall(r'conda:\s*\n\s*"\.\./\.\./envs/([\w-]+\.yaml)"', smk.read_text()))
    assert used, "no rule names a conda env"
    assert used <= {p.name for p in ENV_FILES}
