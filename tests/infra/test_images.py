"""The five function images (Dockerfiles, .dockerignore) and the compose data stack.

No Docker here: the Dockerfiles are parsed, and the one command in each that decides
what gets installed (a python one-liner reading pyproject.toml) is run as written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.cfn_yaml import REPO_ROOT, load_template

FUNCTION_NAMES = ("api", "crawl", "predict", "evaluate", "notify")
PYPROJECT = REPO_ROOT / "pyproject.toml"
LAMBDA_PYTHON_BASE = re.compile(r"public\.ecr\.aws/lambda/python:3\.1[12](?:[.\-][\w.\-]*)?(?:@sha256:[0-9a-f]{64})?")
# The dependency step: python -c "<resolver>" <extra> > requirements.txt
RESOLVER_RE = re.compile(r'python -c "(?P<code>[^"]*)" (?P<extra>[A-Za-z0-9_-]+) > requirements\.txt')
# Heavy packages an image must not carry when its handler does not import them.
FORBIDDEN = {
    "api": {"python-telegram-bot"},
    "crawl": {"fastapi", "python-telegram-bot"},
    "predict": {"fastapi", "python-telegram-bot"},
    "evaluate": {"fastapi", "openai", "pymilvus", "python-telegram-bot"},
    "notify": {"fastapi", "openai", "pymilvus"},
}
REQUIRED = {
    "api": {"fastapi", "mangum"},
    "crawl": {"openai", "pymilvus"},
    "predict": {"openai", "pymilvus"},
    "evaluate": set(),
    "notify": {"python-telegram-bot"},
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions as Docker reads them: comments dropped, `\\` line continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue  # comment lines are dropped, also inside a continuation
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        pending += line
        if pending.strip():
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending.strip(), "the Dockerfile ends inside a line continuation"
    return instructions


def dockerfile(name: str) -> list[Instruction]:
    return parse_dockerfile((REPO_ROOT / "functions" / name / "Dockerfile").read_text(encoding="utf-8"))


def resolver_of(name: str) -> tuple[str, str]:
    """(python code, extra name) of the dependency step of a function's Dockerfile."""
    runs = [i.arguments for i in dockerfile(name) if i.keyword == "RUN" and "requirements.txt" in i.arguments]
    assert len(runs) == 1, f"{name}: expected one RUN that writes and installs requirements.txt"
    match = RESOLVER_RE.search(runs[0])
    assert match, f'{name}: no `python -c "..." <extra> > requirements.txt` step'
    code = match["code"]
    # Inside "..." the shell only treats $ ` \ specially; without them the code runs as written.
    assert not set(code) & set("$`\\"), f"{name}: the one-liner must not depend on shell expansion"
    return code, match["extra"]


def run_resolver(code: str, extra: str, project_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, extra], cwd=project_dir, capture_output=True, text=True, timeout=60, check=False
    )


def installed_requirements(name: str, tmp_path: Path) -> list[str]:
    """What the image's pip install gets: the Dockerfile's own step, run on the real pyproject."""
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    code, extra = resolver_of(name)
    result = run_resolver(code, extra, tmp_path)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


def distribution_names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in requirements}


# ---------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_base_image_is_lambda_python(name: str) -> None:
    stages = [i.arguments for i in dockerfile(name) if i.keyword == "FROM"]
    assert len(stages) == 1, f"{name}: one stage, the Lambda base image"
    assert LAMBDA_PYTHON_BASE.fullmatch(stages[0].split()[0]), stages[0]


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_installs_common_dependencies_plus_its_own_extra(name: str, tmp_path: Path) -> None:
    _, extra = resolver_of(name)
    assert extra == name, f"functions/{name}/Dockerfile installs the {extra!r} extra"
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    expected = project["dependencies"] + project["optional-dependencies"][name]
    assert installed_requirements(name, tmp_path) == expected

    instructions = dockerfile(name)
    [run] = [i.arguments for i in instructions if i.keyword == "RUN" and "requirements.txt" in i.arguments]
    assert re.search(r'pip install --no-cache-dir -r requirements\.txt --target "?\$\{LAMBDA_TASK_ROOT\}"?', run), run
    # Nothing else is installed: not the project itself, not another extra, not a dev tool.
    pip_installs = [i.arguments for i in instructions if i.keyword == "RUN" and "pip install" in i.arguments]
    assert pip_installs == [run]
    assert run.count("pip install") == 1
    copied_in = [i.arguments.split()[0] for i in instructions if i.keyword in {"COPY", "ADD"}]
    assert "pyproject.toml" in copied_in


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_copies_shared_and_its_handler_and_sets_cmd(name: str) -> None:
    instructions = dockerfile(name)
    copies = [i.arguments.split() for i in instructions if i.keyword in {"COPY", "ADD"}]
    assert ["shared", "${LAMBDA_TASK_ROOT}/shared"] in copies
    assert [f"functions/{name}/handler.py", "${LAMBDA_TASK_ROOT}/"] in copies
    sources = {source for copy in copies for source in copy[:-1]}
    assert sources <= {"pyproject.toml", "shared", f"functions/{name}/handler.py"}, f"{name} copies {sources}"
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"{name}: COPY {source} does not exist"
    [cmd] = [i.arguments for i in instructions if i.keyword == "CMD"]
    template_command = load_template()["Resources"][f"{name.capitalize()}Function"]["Properties"]["ImageConfig"]
    assert json.loads(cmd) == ["handler.lambda_handler"] == template_command["Command"]


def test_every_image_uses_the_same_resolver() -> None:
    codes = {resolver_of(name)[0] for name in FUNCTION_NAMES}
    assert len(codes) == 1, "one dependency resolver, written the same way in every Dockerfile"


def test_resolver_refuses_extras_that_pull_in_other_extras(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "stockinsight"\ndependencies = ["pydantic"]\n'
        "[project.optional-dependencies]\n"
        'api = ["fastapi"]\n'
        'local = ["stockinsight[api]", "uvicorn"]\n',
        encoding="utf-8",
    )
    code, _ = resolver_of("api")
    assert run_resolver(code, "api", tmp_path).stdout.split() == ["pydantic", "fastapi"]
    refused = run_resolver(code, "local", tmp_path)
    assert refused.returncode != 0 and "stockinsight[api]" in refused.stderr
    assert run_resolver(code, "nosuchextra", tmp_path).returncode != 0


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_each_image_carries_only_what_its_handler_needs(name: str, tmp_path: Path) -> None:
    packages = distribution_names(installed_requirements(name, tmp_path))
    assert not packages & FORBIDDEN[name], f"{name} image would install {sorted(packages & FORBIDDEN[name])}"
    assert REQUIRED[name] <= packages, f"{name} image misses {sorted(REQUIRED[name] - packages)}"
    assert "stockinsight" not in packages


# ---------------------------------------------------------------------------- .dockerignore


def dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, is_exclusion) in file order, with Docker's matching: `*` and `?` stay within a
    path segment, `**` spans segments, and a rule matching a parent directory matches below it."""
    rules: list[tuple[re.Pattern[str], bool]] = []
    for raw in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        index = 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif pattern.startswith("**", index):
                regex, index = regex + ".*", index + 2
            else:
                char = pattern[index]
                regex += {"*": "[^/]*", "?": "[^/]"}.get(char, char if char in "[]" else re.escape(char))
                index += 1
        rules.append((re.compile(regex), exclude))
    return rules


def is_excluded(path: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern, exclude in rules:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = exclude
    return excluded


def test_dockerignore_keeps_the_context_small() -> None:
    rules = dockerignore_rules()
    left_out = [
        ".venv/lib/python3.11/site-packages/x.py",
        ".git/HEAD",
        ".env",
        ".local/milvus.db",
        ".aws-sam/build/template.yaml",
        "tests/infra/test_images.py",
        "benchmarks/coldstart.py",
        "sandbox/data/prices.json",
        "docs/index.md",
        "node_modules/x/index.js",
        "stockinsight.db",
        "shared/__pycache__/config.cpython-311.pyc",
        "shared/db/__pycache__/models.cpython-312.pyc",
        "shared/.mypy_cache/x.json",
        "shared/local.db",
        "runner/cli.py",
        "README.md",
        "template.yaml",
    ]
    kept = ["pyproject.toml", "shared/__init__.py", "shared/config.py", "shared/db/models.py"]
    for name in FUNCTION_NAMES:
        kept += [f"functions/{name}/handler.py", f"functions/{name}/Dockerfile"]
    assert [path for path in left_out if not is_excluded(path, rules)] == []
    assert [path for path in kept if is_excluded(path, rules)] == []
    # Every file a Dockerfile copies is in the context.
    for name in FUNCTION_NAMES:
        for instruction in dockerfile(name):
            if instruction.keyword == "COPY":
                source = instruction.arguments.split()[0]
                assert not is_excluded(source, rules), f"{name}: COPY {source} is excluded by .dockerignore"


def test_dockerignore_matcher_follows_docker_rules() -> None:
    rules = [(re.compile(r"[^/]*"), True), (re.compile("shared"), False), (re.compile(r"(?:.*/)?__pycache__"), True)]
    assert is_excluded("README.md", rules)
    assert not is_excluded("shared/db/models.py", rules)
    assert is_excluded("shared/db/__pycache__/models.pyc", rules)


# ---------------------------------------------------------------------------- compose stack


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / "infrastructure" / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def published_ports(service: dict[str, Any]) -> set[int]:
    """Host ports of a service's short-syntax `ports` ("[ip:]host:container[/proto]")."""
    ports: set[int] = set()
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        ports.add(int(parts[-2] if len(parts) > 1 else parts[0]))
    return ports


def test_compose_stack_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "etcd", "minio", "milvus"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "stockinsight"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["image"] == "redis:7"
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert re.fullmatch(r"quay\.io/coreos/etcd:v3\.5\.\d+", services["etcd"]["image"])
    assert re.fullmatch(r"minio/minio:RELEASE\.[\dT-]+Z", services["minio"]["image"])
    assert re.fullmatch(r"milvusdb/milvus:v2\.4\.\d+", services["milvus"]["image"])
    assert services["milvus"]["environment"] == {"ETCD_ENDPOINTS": "etcd:2379", "MINIO_ADDRESS": "minio:9000"}
    assert {name: spec["condition"] for name, spec in services["milvus"]["depends_on"].items()} == {
        "etcd": "service_healthy",
        "minio": "service_healthy",
    }
    assert published_ports(services["milvus"]) == {19530, 9091}
    assert published_ports(services["postgres"]) == {5432}
    assert published_ports(services["redis"]) == {6379}


def test_compose_services_are_healthchecked_and_keep_data_in_named_volumes(compose: dict[str, Any]) -> None:
    named_volumes = set(compose["volumes"])
    for name, service in compose["services"].items():
        assert service["healthcheck"]["test"], name
        mounts = [str(volume).split(":")[0] for volume in service.get("volumes", [])]
        assert mounts, f"{name} keeps no data"
        assert set(mounts) <= named_volumes, f"{name} mounts {mounts}: use named volumes"


def test_env_example_points_at_the_published_ports(compose: dict[str, Any]) -> None:
    values = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / "infrastructure" / "env.example").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )
    ports = {name: published_ports(service) for name, service in compose["services"].items()}
    database = re.fullmatch(r"postgresql\+pg8000://[^@]+@127\.0\.0\.1:(\d+)/stockinsight", values["DATABASE_URL"])
    assert database and int(database[1]) in ports["postgres"]
    assert values["REDIS_URL"].startswith("redis://127.0.0.1:6379/") and 6379 in ports["redis"]
    assert values["MILVUS_URI"] == "http://127.0.0.1:19530" and 19530 in ports["milvus"]
