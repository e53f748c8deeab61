"""Notify throughput at Telegram's limits: messages per second achieved, as a ratio of the limit.

The sandbox runs in its own process with Telegram flood control ON (it answers 429 past
~30 messages/s overall or ~1/s per chat, as Telegram does). One signal fans out to N
subscribers through the real path — SQS batch → ledger → Redis limiter → python-telegram-bot
→ sandbox — with the limiter at its configured rate, timed around `lambda_handler` in a warm container
(the one-off import of python-telegram-bot is cold start, not throughput). Target (issue):
≥ 0.9 of the limit, with no 429s. Needs the local Postgres and Redis; uses a throwaway
database.

    python benchmarks/notify_bench.py [--subscribers 600] [--rate 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "123456:sandbox-token"


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--telegram-flood-control"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http://"):
        process.terminate()
        raise SystemExit(f"sandbox did not start: {base_url!r}")
    return process, base_url


def create_database(name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def seed(subscribers: int) -> int:
    from datetime import date

    from shared.db.session import session_scope
    from shared.predictions.models import Direction, ModelConfig, ModelKind, Prediction
    from shared.stocks.models import Market, Stock
    from shared.users.models import User, WatchlistItem

    with session_scope() as db_session:
        db_session.add(Stock(code="005930", name="삼성전자", market=Market.KOSPI))
        model = ModelConfig(name="gpt-4o-v1", kind=ModelKind.LLM, provider="openai", model_id="gpt-4o")
        db_session.add(model)
        users = [
            User(email=f"bench{index}@example.com", password_hash="!", telegram_chat_id=str(3_000_000 + index))  # noqa: S106
            for index in range(subscribers)
        ]
        db_session.add_all(users)
        db_session.flush()
        db_session.add_all(WatchlistItem(user_id=user.id, stock_code="005930") for user in users)
        prediction = Prediction(
            stock_code="005930",
            model_config_id=model.id,
            as_of_date=date(2024, 1, 2),
            target_date=date(2024, 1, 3),
            direction=Direction.UP,
            probability=0.85,
        )
        db_session.add(prediction)
        db_session.flush()
        return prediction.id


def sqs_event(prediction_id: int) -> dict[str, Any]:
    body = json.dumps(
        {
            "kind": "signal",
            "prediction_id": prediction_id,
            "stock_code": "005930",
            "stock_name": "삼성전자",
            "model_name": "gpt-4o-v1",
            "direction": "up",
            "probability": 0.85,
            "rationale": "반도체 업황 개선",
            "target_date": "2024-01-03",
        },
        ensure_ascii=False,
    )
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-northeast-2:123456789012:bench-notify",
                "awsRegion": "ap-northeast-2",
            }
        ]
    }


class LambdaContext:
    """The attributes Powertools and the handler read; the function's 120 s timeout."""

    function_name = "stockinsight-notify-bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:stockinsight-notify-bench"
    aws_request_id = str(uuid.uuid4())

    def __init__(self) -> None:
        self._deadline = time.monotonic() + 120

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=600, help="messages to send (one per subscriber)")
    parser.add_argument("--rate", type=float, default=30.0, help="TELEGRAM_MESSAGES_PER_SECOND under test")
    args = parser.parse_args()

    database = f"si_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    sandbox, base_url = start_sandbox()
    try:
        url = create_database(database)
        os.environ.update(
            {
                "ENVIRONMENT": "test",
                "DATABASE_URL": url,
                "REDIS_URL": REDIS_URL,
                "TELEGRAM_BASE_URL": base_url,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_MESSAGES_PER_SECOND": str(args.rate),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "StockInsight",
                "LOG_LEVEL": "WARNING",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        sys.path.insert(0, str(ROOT))
        import logging

        logging.getLogger("shared").setLevel(logging.WARNING)
        # A warm container: the handler module and python-telegram-bot already imported.
        import telegram.request  # noqa: F401

        from functions.notify.handler import lambda_handler
        from shared.db.migrate import upgrade_to_head
        from shared.stores.redis import KEY_PREFIX, get_redis

        upgrade_to_head(url)
        redis = get_redis()
        stale = list(redis.scan_iter(f"{KEY_PREFIX}ratelimit:telegram:*"))
        if stale:
            redis.delete(*stale)
        prediction_id = seed(args.subscribers)

        started = time.perf_counter()
        response = lambda_handler(sqs_event(prediction_id), LambdaContext())
        elapsed = time.perf_counter() - started

        from sqlalchemy import select

        from shared.db.session import session_scope
        from shared.jobs.models import JobRun

        with session_scope() as db_session:
            counts = db_session.scalars(select(JobRun.counts).order_by(JobRun.id.desc()).limit(1)).one()
        sent = int(counts.get("sent", 0))
        rate = sent / elapsed
        ratio = rate / args.rate
        print(
            f"notify: {sent}/{args.subscribers} sent in {elapsed:.2f}s = {rate:.2f} msg/s;"
            f" limit {args.rate:g}/s; ratio {ratio:.3f} (target ≥ 0.9) {'PASS' if ratio >= 0.9 else 'FAIL'};"
            f" 429s: {counts.get('throttled', 0)}; batch failures: {len(response['batchItemFailures'])}"
        )
    finally:
        from shared.db.session import reset_engine

        reset_engine()
        drop_database(database)
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
