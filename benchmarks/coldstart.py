"""Cold start per function: a fresh interpreter importing its handler module (module-level init included).

Each function is measured beside references taken in the same run, and printed as a ratio:
- crawl / evaluate / notify / predict: a bare Powertools handler (Logger + Tracer + Metrics)
  plus the client libraries that function really uses at module level;
- api: a bare FastAPI + Mangum app plus SQLAlchemy (ORM) and pg8000.
Targets (issue #3): ≤ 1.3× their reference.

As the images run them: each function (and its references) is measured in an environment
holding only that image's packages, installed the way its Dockerfile does (pyproject's
dependencies plus the function's extra, `pip install --target`, cached under
.local/coldstart/), with byte code compiled ahead (the Dockerfiles run compileall) and the
interpreter started with -S so the dev virtualenv is not on the path. `--in-venv` measures
in the dev virtualenv instead (no install; packages the images lack, e.g. cryptography
that PyJWT then imports, are counted there).

The figure is the CPU time (user + system) of the import, median of several runs: a
Lambda's init runs on its own vCPU, and on a shared 2-core machine wall time mostly
measures the neighbours. Wall time is printed beside it. Tracing is disabled as outside
Lambda (POWERTOOLS_TRACE_DISABLED), which is also when the X-Ray SDK is not imported.

    python benchmarks/coldstart.py [--runs 7] [--in-venv]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ROOT / ".local" / "coldstart"
FUNCTIONS = ("api", "crawl", "predict", "evaluate", "notify")

BARE_POWERTOOLS = """
from aws_lambda_powertools import Logger, Metrics, Tracer
logger = Logger(service="bare"); tracer = Tracer(service="bare"); metrics = Metrics(namespace="Bare")
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return {}
"""

BARE_FASTAPI = """
import sqlalchemy.orm, pg8000
from fastapi import FastAPI
from mangum import Mangum
app = FastAPI()
@app.get("/health")
def health():
    return {"ok": True}
handler = Mangum(app, lifespan="off")
"""

# The libraries each function's handler really uses at module level: every function reads
# its settings with pydantic-settings and Postgres through the SQLAlchemy ORM (pg8000).
COMMON = "import pydantic, pydantic_settings, sqlalchemy.orm, pg8000, redis, holidays"
CLIENTS = {
    "crawl": f"{COMMON}, httpx, tenacity",
    "predict": f"{COMMON}, boto3",
    "evaluate": COMMON,
    "notify": f"{COMMON}, telegram",
}

LOAD_HANDLER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("handler_under_test", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["handler_under_test"] = module
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
"""

# The api's routers load on the first request that needs them: also time init plus one
# request that needs no I/O (no token: a 401 from the predictions router, its services and
# schemas loaded), beside the bare app's init plus one request, so the deferral is visible.
FIRST_REQUEST = """
import json
class Context:
    function_name = "coldstart"; memory_limit_in_mb = 512; aws_request_id = "coldstart"
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:coldstart"
    def get_remaining_time_in_millis(self): return 30000
event = {{"version": "2.0", "routeKey": "$default", "rawPath": {path!r}, "rawQueryString": "",
         "headers": {{"host": "api.example.com"}}, "isBase64Encoded": False,
         "requestContext": {{"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                            "http": {{"method": "GET", "path": {path!r}, "protocol": "HTTP/1.1",
                                     "sourceIp": "203.0.113.10", "userAgent": "coldstart"}},
                            "requestId": "coldstart", "routeKey": "$default", "stage": "$default",
                            "time": "25/Nov/2026:08:10:12 +0000", "timeEpoch": 1795594212000}}}}
response = {handler}(event, Context())
assert response["statusCode"] == {status}, response
"""

TIMER = """
import time
_wall, _cpu = time.perf_counter(), time.process_time()
{body}
print(time.process_time() - _cpu, time.perf_counter() - _wall)
"""


def image_requirements(function: str) -> list[str]:
    """What the function's Dockerfile installs: the common dependencies plus its extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"][function]]


def image_environment(function: str) -> Path:
    """The function's packages alone, installed once per requirement set and compiled."""
    requirements = image_requirements(function)
    digest = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    target = ENVIRONMENTS / f"{function}-{digest}"
    if not (target / ".complete").exists():
        print(f"installing the {function} image's packages into {target.relative_to(ROOT)} ...", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--target", str(target)]
        installed = subprocess.run([*pip, *requirements], capture_output=True, text=True)
        if installed.returncode != 0:
            sys.exit(f"pip install for the {function} image failed:\n{installed.stdout}{installed.stderr}")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=False, capture_output=True)
        (target / ".complete").touch()
    return target


class Interpreter:
    """How a measured snippet is started: the image's packages, or the dev virtualenv."""

    def __init__(self, packages: Path | None) -> None:
        self.packages = packages

    def command(self, code: str) -> list[str]:
        return [sys.executable, "-c", code] if self.packages is None else [sys.executable, "-S", "-c", code]

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": "postgresql+pg8000://postgres@127.0.0.1:5432/postgres",
            "JWT_SECRET": "benchmark-secret-not-used-for-anything",
            "MILVUS_URI": str(ROOT / ".local" / "bench-milvus.db"),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_DEFAULT_REGION": "ap-northeast-2",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.packages is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(self.packages), str(ROOT)])
        return env

    def measure(self, body: str, runs: int) -> tuple[float, float]:
        """Median CPU and wall seconds of `body` in a fresh interpreter."""
        code = TIMER.format(body=textwrap.dedent(body))
        cpu, wall = [], []
        for _ in range(runs):
            output = subprocess.run(
                self.command(code), cwd=ROOT, env=self.environment(), capture_output=True, text=True, check=True
            ).stdout
            first, second = output.strip().splitlines()[-1].split()
            cpu.append(float(first))
            wall.append(float(second))
        return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--in-venv", action="store_true", help="measure in the dev virtualenv, not the images' packages"
    )
    args = parser.parse_args()

    # Our own modules compiled ahead, as the Dockerfiles do (/var/task is read-only).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "functions"], cwd=ROOT, check=True)
    print(f"{'function':<10}{'handler ms':>11}{'reference ms':>14}{'ratio':>8}  target   (CPU; wall ms)")
    for name in FUNCTIONS:
        interpreter = Interpreter(None if args.in_venv else image_environment(name))
        handler_cpu, handler_wall = interpreter.measure(
            LOAD_HANDLER.format(path=str(ROOT / "functions" / name / "handler.py")), args.runs
        )
        reference = BARE_FASTAPI if name == "api" else CLIENTS[name] + "\n" + BARE_POWERTOOLS
        reference_cpu, reference_wall = interpreter.measure(reference, args.runs)
        ratio = handler_cpu / reference_cpu
        verdict = "ok" if ratio <= 1.3 else "over"
        print(
            f"{name:<10}{handler_cpu * 1000:>11.0f}{reference_cpu * 1000:>14.0f}{ratio:>8.2f}  ≤1.30 {verdict:<5}"
            f"  (wall {handler_wall * 1000:.0f} / {reference_wall * 1000:.0f})"
        )
    interpreter = Interpreter(None if args.in_venv else image_environment("api"))
    handler_body = LOAD_HANDLER.format(path=str(ROOT / "functions" / "api" / "handler.py"))
    first_cpu, first_wall = interpreter.measure(
        handler_body + FIRST_REQUEST.format(path="/api/predictions", handler="module.lambda_handler", status=401),
        args.runs,
    )
    bare_cpu, bare_wall = interpreter.measure(
        BARE_FASTAPI + FIRST_REQUEST.format(path="/health", handler="handler", status=200), args.runs
    )
    print(
        f"{'api+1st':<10}{first_cpu * 1000:>11.0f}{bare_cpu * 1000:>14.0f}{first_cpu / bare_cpu:>8.2f}"
        f"  (not a target)  (wall {first_wall * 1000:.0f} / {bare_wall * 1000:.0f})"
    )
    print("api reference: bare FastAPI + Mangum + SQLAlchemy ORM + pg8000; others: bare Powertools + clients")
    print("api+1st: init plus one request, GET /api/predictions without a token (401, no I/O), against the bare")
    print("app's init plus GET /health: what the api defers to its first request (its routers) shows here.")


if __name__ == "__main__":
    main()
