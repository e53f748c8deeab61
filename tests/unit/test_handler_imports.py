"""Cold start: a function imports only what it uses (DESIGN §2), checked in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"fastapi", "starlette", "mangum", "jwt", "bcrypt", "openai", "pymilvus", "telegram", "pandas"}
# What each handler may import at module level; the rest is imported only when a job needs it
# (crawl's embed job loads pymilvus/openai, predict's LLM model openai, its retrieval pymilvus).
ALLOWED = {
    "api": {"fastapi", "starlette", "mangum"},  # jwt, bcrypt: with the routers that use them
    "crawl": set(),
    "predict": set(),
    "evaluate": set(),
    "notify": set(),
}


@pytest.mark.parametrize("function", sorted(ALLOWED))
def test_handler_module_imports_only_what_its_function_uses(function: str) -> None:
    code = (
        f"import sys, json, functions.{function}.handler as h; assert callable(h.lambda_handler); "
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    env = {**os.environ, "JWT_SECRET": "not-used-here"}
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(output.strip().splitlines()[-1]))
    assert loaded & HEAVY == ALLOWED[function]


def _loaded_after(statement: str, **env: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    environment = {**os.environ, "JWT_SECRET": "not-used-here", **env}
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(output.strip().splitlines()[-1]))


def test_disabled_tracing_does_not_import_the_xray_sdk() -> None:
    loaded = _loaded_after("import functions.api.handler", POWERTOOLS_TRACE_DISABLED="true")
    assert "aws_xray_sdk.core" not in loaded
    assert "botocore.session" not in loaded


def test_redis_client_library_is_imported_by_the_first_redis_call_only() -> None:
    assert "redis" not in _loaded_after("import functions.api.handler")
    loaded = _loaded_after(
        "from shared.stores.redis import get_redis; get_redis()", REDIS_URL="redis://127.0.0.1:6379/0"
    )
    assert "redis" in loaded


def test_api_routers_are_loaded_by_the_first_request_that_needs_them() -> None:
    statement = (
        "import functions.api.handler as h; "
        "assert not [m for m in sys.modules if m.startswith('shared.api.routers.')], 'eager'; "
        "from fastapi.testclient import TestClient; "
        "assert TestClient(h.app).get('/api/predictions').status_code == 401"
    )
    loaded = _loaded_after(statement)
    routers = {name for name in loaded if name.startswith("shared.api.routers.")}
    assert routers == {"shared.api.routers.predictions"}
    assert "shared.abtest.service" not in loaded


def test_in_lambda_with_tracing_on_the_tracer_records_through_xray() -> None:
    code = "from shared.observability import tracer; print(type(tracer.provider).__module__, tracer.disabled)"
    env = {**os.environ, "JWT_SECRET": "not-used-here", "LAMBDA_TASK_ROOT": "/var/task"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    module, disabled = output.strip().splitlines()[-1].split()
    assert module.startswith("aws_xray_sdk") and disabled == "False"
