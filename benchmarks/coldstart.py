"""Cold start per function: a fresh interpreter importing its handler module (module-level init included).

Each function is measured beside references taken in the same run, and printed as a ratio:
- crawl / evaluate / notify / predict: a bare Powertools handler (Logger + Tracer + Metrics)
  plus the client libraries that function really uses at module level;
- api: a bare FastAPI + Mangum app plus SQLAlchemy.
Targets (issue #3): ≤ 1.3× their reference. Median of several runs; run: `python benchmarks/coldstart.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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
import sqlalchemy, pg8000
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

TIMER = """
import time
_started = time.perf_counter()
{body}
print(time.perf_counter() - _started)
"""


def measure(body: str, runs: int) -> float:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+pg8000://postgres@127.0.0.1:5432/postgres",
        "JWT_SECRET": "benchmark-secret-not-used-for-anything",
        "MILVUS_URI": str(ROOT / ".local" / "bench-milvus.db"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
    }
    code = TIMER.format(body=textwrap.dedent(body))
    samples = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout
        samples.append(float(output.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    bare_powertools = measure(BARE_POWERTOOLS, args.runs)
    bare_fastapi = measure(BARE_FASTAPI, args.runs)
    print(f"{'reference':<34}{'median ms':>10}")
    print(f"{'bare Powertools handler':<34}{bare_powertools * 1000:>10.0f}")
    print(f"{'bare FastAPI+Mangum+SQLAlchemy':<34}{bare_fastapi * 1000:>10.0f}")
    print()
    print(f"{'function':<10}{'handler ms':>11}{'reference ms':>14}{'ratio':>8}  target")
    for name in ("api", "crawl", "predict", "evaluate", "notify"):
        handler = measure(LOAD_HANDLER.format(path=str(ROOT / "functions" / name / "handler.py")), args.runs)
        reference = bare_fastapi if name == "api" else measure(CLIENTS[name] + "\n" + BARE_POWERTOOLS, args.runs)
        ratio = handler / reference
        verdict = "ok" if ratio <= 1.3 else "over"
        print(f"{name:<10}{handler * 1000:>11.0f}{reference * 1000:>14.0f}{ratio:>8.2f}  ≤1.30 {verdict}")


if __name__ == "__main__":
    main()
