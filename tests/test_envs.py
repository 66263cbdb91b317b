"""The conda envs of the rules hold every package their scripts import, at the versions requirements.txt pins.

Conda channels cannot be reached from CI, so the envs are checked rather than built: each rule's script is
followed through its imports inside songvec (every import statement, also those inside functions, as they
run when the function is called) and every third-party module it reaches must be a package of the rule's
env; the pins must equal requirements.txt.
"""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "songvec"
# import name -> the env's package name, where they differ
IMPORT_TO_PACKAGE = {"sklearn": "scikit-learn", "yaml": "pyyaml", "matplotlib": "matplotlib-base",
                     "psycopg2": "psycopg2-binary"}
# in an env although no import names them: the interpreter, pip, and the PostgreSQL driver that
# SQLAlchemy loads by name for postgresql:// storage URLs
NOT_IMPORTED = {"python", "pip", "psycopg2-binary"}
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


# ----------------------------------------------------------------------------- imports cover what runs

def rules() -> dict[str, dict[str, str]]:
    """Rule name -> its ``conda`` env file name and ``script`` path, read from workflow/rules/*.smk."""
    found = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(encoding="utf-8"), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            conda = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/([\w-]+\.yaml)"', block)
            script = re.search(r'script:\s*\n\s*"\.\./\.\./(scripts/[\w-]+\.py)"', block)
            found[name] = {"env": conda and conda.group(1), "script": script and script.group(1)}
    return found


def _module_file(module: str) -> Path | None:
    """The source file of a songvec module (``songvec.hpo.worker``), or None if there is none."""
    path = REPO / "src" / Path(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imported_modules(path: Path, package: str | None) -> set[str]:
    """Every module an import statement of ``path`` names (also inside functions; not under TYPE_CHECKING)."""
    names: set[str] = set()
    stack = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                parts = (package or "").split(".")[:len((package or "").split(".")) - node.level + 1]
                base = ".".join(filter(None, [*parts, base]))
            names.add(base)
            # "from songvec import hpo" imports the submodule songvec.hpo
            names |= {f"{base}.{alias.name}" for alias in node.names if _module_file(f"{base}.{alias.name}")}
        stack.extend(ast.iter_child_nodes(node))
    return names


def third_party_imports(script: Path) -> dict[str, list[str]]:
    """Third-party top-level module -> the import chain that reaches it (script, songvec modules...),
    following the script's imports through songvec and every parent package they execute."""
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    stack = [(script, None, [script.name])]
    while stack:
        path, package, chain = stack.pop()
        for name in sorted(_imported_modules(path, package)):
            top = name.split(".")[0]
            if top == "songvec":
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                    module = ".".join(parts[:depth])
                    source = _module_file(module)
                    if source is not None and module not in seen:
                        seen.add(module)
                        is_package = source.name == "__init__.py"
                        stack.append((source, module if is_package else module.rpartition(".")[0],
                                      [*chain, module]))
            elif top not in sys.stdlib_module_names and top not in found:
                found[top] = chain
    return found


def env_packages(env_file: str) -> set[str]:
    """Package names of an env (conda and pip dependencies), lower case, without versions."""
    spec = yaml.safe_load((REPO / "envs" / env_file).read_text())
    names = set()
    for dep in spec["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            names.add(re.split(r"[=<>!\s]", item, maxsplit=1)[0].lower())
    return names


def missing_packages(script: Path, packages: set[str]) -> list[str]:
    """What ``script`` imports that ``packages`` lack, each with the import chain that needs it."""
    return [f"{IMPORT_TO_PACKAGE.get(module, module)} (import {module}: {' -> '.join(chain)})"
            for module, chain in sorted(third_party_imports(script).items())
            if IMPORT_TO_PACKAGE.get(module, module).lower() not in packages]


RULES = rules()
SCRIPTED = {name: rule for name, rule in RULES.items() if rule["script"]}


def test_every_scripted_rule_has_an_env():
    assert len(SCRIPTED) >= 20, f"rules not found in workflow/rules: {sorted(RULES)}"
    assert all(rule["env"] for rule in SCRIPTED.values()), {n: r for n, r in SCRIPTED.items() if not r["env"]}


@pytest.mark.parametrize("rule", sorted(SCRIPTED))
def test_the_env_of_a_rule_holds_everything_its_script_imports(rule):
    env, script = SCRIPTED[rule]["env"], REPO / SCRIPTED[rule]["script"]
    missing = missing_packages(script, env_packages(env))
    assert not missing, f"rule {rule}: envs/{env} lacks {missing}"


def test_imports_are_followed_through_songvec():
    """The chain to a third-party module is found through songvec modules, package __init__s and
    function-level imports, and TYPE_CHECKING imports are left out."""
    worker = third_party_imports(REPO / "scripts" / "hpo_worker.py")
    assert worker["optuna"][:2] == ["hpo_worker.py", "songvec.hpo"]
    assert worker["sqlalchemy"][-1] == "songvec.hpo.storage"  # imported inside open_storage
    assert worker["numba"][-1] in ("songvec.neighbors", "songvec.clustering", "songvec.hard_negatives",
                                   "songvec.sequences", "songvec.models.glove", "songvec.models.baselines")
    evaluate = third_party_imports(REPO / "scripts" / "evaluate_model.py")
    assert "optuna" not in evaluate and "gensim" in evaluate  # gensim through songvec.training


@pytest.mark.parametrize("rule, env, removed", [
    ("ingest_events", "data.yaml", "numba"),
    ("evaluate_model", "embeddings.yaml", "gensim"),
    ("hpo_worker", "hpo.yaml", "optuna"),
    ("hpo_worker", "hpo.yaml", "sqlalchemy"),
    ("table4", "analyses.yaml", "pyyaml"),
    ("package_versions", "analyses.yaml", "sqlalchemy"),
])
def test_a_package_removed_from_an_env_is_reported(rule, env, removed):
    """The check fails, naming the package and who imports it, when an env loses a package its rule needs."""
    assert SCRIPTED[rule]["env"] == env
    packages = env_packages(env)
    assert removed in packages and not missing_packages(REPO / SCRIPTED[rule]["script"], packages)
    missing = missing_packages(REPO / SCRIPTED[rule]["script"], packages - {removed})
    assert len(missing) == 1 and missing[0].startswith(f"{removed} (import ")


def unneeded_packages(env_file: str, scripts: list[Path], packages: set[str] | None = None) -> list[str]:
    """Packages of an env that none of ``scripts`` imports (nor is in :data:`NOT_IMPORTED`)."""
    packages = env_packages(env_file) if packages is None else packages
    imported = {IMPORT_TO_PACKAGE.get(m, m).lower() for script in scripts for m in third_party_imports(script)}
    return sorted(packages - imported - NOT_IMPORTED)


def scripts_of(env_file: str) -> list[Path]:
    return [REPO / rule["script"] for rule in SCRIPTED.values() if rule["env"] == env_file]


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_an_env_holds_no_package_its_rules_do_not_import(env_file):
    assert not unneeded_packages(env_file.name, scripts_of(env_file.name)), \
        f"{env_file.name}: no rule using it imports these packages"
    # and the check sees one that is too many
    assert unneeded_packages(env_file.name, scripts_of(env_file.name),
                             env_packages(env_file.name) | {"hypothesis"}) == ["hypothesis"]
