"""Test harness: real Postgres, Redis and Milvus Lite, isolated per test run.

- Postgres: a throwaway database per run (and per xdist worker), built by Alembic
  `upgrade head` — the same path production uses — and dropped at the end.
- Redis: a DB number leased through a key in DB 0, so concurrent runs on one machine
  never flush each other's keys; flushed between tests.
- Milvus Lite: a file in the run's temp dir.
Environment is set before anything imports `shared.config`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
_RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
_TMP = Path(tempfile.mkdtemp(prefix=f"si_test_{_RUN_ID}_"))


def _lease_redis_db() -> tuple[int, str]:
    client = redis_lib.Redis.from_url(f"{REDIS_BASE}/0")
    token = _RUN_ID
    for number in range(15, 0, -1):
        if client.set(f"stockinsight:test-db-lease:{number}", token, nx=True, ex=3600):
            return number, token
    raise RuntimeError("no free Redis DB number for tests (1..15 all leased)")


_REDIS_DB, _REDIS_LEASE = _lease_redis_db()
_DB_NAME = f"si_test_{_RUN_ID}"
TEST_DATABASE_URL = str(make_url(ADMIN_URL).set(database=_DB_NAME).render_as_string(hide_password=False))

os.environ.update(
    {
        "ENVIRONMENT": "test",
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": f"{REDIS_BASE}/{_REDIS_DB}",
        "MILVUS_URI": str(_TMP / "milvus.db"),
        "JWT_SECRET": secrets.token_urlsafe(32),
        "BCRYPT_ROUNDS": "4",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
        "AWS_REGION": "ap-northeast-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "StockInsight",
        "POWERTOOLS_DEV": "false",
        "OPENAI_API_KEY": "",
        "TELEGRAM_BOT_TOKEN": "",
    }
)
for _name in (
    "PREDICT_QUEUE_URL",
    "NOTIFY_QUEUE_URL",
    "AWS_ENDPOINT_URL",
    "SECRETS_SSM_PATH",
    "SECRETS_MANAGER_ID",
):
    os.environ.pop(_name, None)


def reset_clients() -> None:
    """Forget every cached client and the settings, after the environment changed."""
    from shared.container_state import reset_cached_clients

    reset_cached_clients()


@pytest.fixture(scope="session")
def admin_database_url() -> str:
    """A URL to the server's maintenance database, for tests that make databases of their own."""
    return ADMIN_URL


@pytest.fixture(scope="session")
def migrated_database() -> Iterator[str]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{_DB_NAME}"'))
        connection.execute(text(f'CREATE DATABASE "{_DB_NAME}"'))
    from shared.db.migrate import upgrade_to_head

    upgrade_to_head(TEST_DATABASE_URL)
    yield TEST_DATABASE_URL
    from shared.db.session import reset_engine

    reset_engine()
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": _DB_NAME},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{_DB_NAME}"'))
    admin.dispose()


def _truncate_all() -> None:
    from shared.db.models import Base
    from shared.db.session import get_engine

    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _drop_vector_collections() -> None:
    """Vectors outlive TRUNCATE (ids restart at 1), so a test's vectors must not reach the next test."""
    import sys

    if "shared.stores.milvus" not in sys.modules:
        return
    milvus = sys.modules["shared.stores.milvus"]
    try:
        client = milvus.get_milvus_client()
        for name in client.list_collections():
            client.drop_collection(name)
    except Exception as exc:  # a test that broke Milvus on purpose leaves nothing to drop
        print(f"vector collections not dropped: {exc!r}")
    milvus.reset_milvus()


@pytest.fixture
def database(migrated_database: str) -> Iterator[str]:
    """A migrated, empty database (and no news vectors); rows are removed after the test."""
    _truncate_all()
    yield migrated_database
    _truncate_all()
    _drop_vector_collections()


@pytest.fixture
def db_session(database: str) -> Iterator[Any]:
    from shared.db.session import get_sessionmaker

    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    """The run's leased Redis DB, empty before and after the test."""
    from shared.stores.redis import get_redis

    client = get_redis()
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(autouse=True)
def _flush_redis_between_tests() -> Iterator[None]:
    yield
    with contextlib.suppress(redis_lib.RedisError):  # a test that pointed Redis elsewhere
        redis_lib.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Set settings through the environment for one test: `settings_env(KIS_BASE_URL=...)`."""

    def apply(**values: str) -> Any:
        for key, value in values.items():
            monkeypatch.setenv(key.upper(), value)
        reset_clients()
        from shared.config import get_settings

        return get_settings()

    yield apply
    monkeypatch.undo()
    reset_clients()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """The upstream sandbox on a free loopback port, shared by a test run (reset per use)."""
    from sandbox.server import SandboxServer

    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Any, settings_env: Callable[..., Any]) -> Any:
    """The sandbox, reset, with every client's settings pointing at it."""
    sandbox_server.reset()
    settings_env(**sandbox_server.env())
    return sandbox_server


@pytest.fixture(scope="session")
def milvus_path() -> Path:
    return _TMP / "milvus.db"


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context` (the attributes Powertools reads)."""

    function_name: str = "stockinsight-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:ap-northeast-2:123456789012:function:stockinsight-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/stockinsight-test"
    log_stream_name: str = "2026/11/25/[$LATEST]test"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


EVENTS_DIR = Path(__file__).parent / "events"


@pytest.fixture
def load_event() -> Callable[..., dict[str, Any]]:
    """A stored trigger event (tests/events/NAME.json), optionally with fields replaced."""
    import json

    def load(name: str, **overrides: Any) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
        event.update(overrides)
        return event

    return load


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Hand the leased Redis DB back; if Redis is gone, the lease expires on its own.
    with contextlib.suppress(redis_lib.RedisError):
        client = redis_lib.Redis.from_url(f"{REDIS_BASE}/0")
        key = f"stockinsight:test-db-lease:{_REDIS_DB}"
        if client.get(key) == _REDIS_LEASE.encode():
            redis_lib.Redis.from_url(f"{REDIS_BASE}/{_REDIS_DB}").flushdb()
            client.delete(key)


@dataclass
class SeededMarket:
    codes: list[str]
    days: list[Any]
    closes: dict[tuple[str, Any], int]


@pytest.fixture
def seed_market(db_session: Any) -> Callable[..., SeededMarket]:
    """Stocks and daily prices written straight to the tables (not through the crawl services).

    Closes follow a fixed pattern per stock so tests can compute returns by hand.
    """
    from datetime import date

    from shared.market_calendar import trading_days
    from shared.stocks.models import DailyPrice, Market, Stock

    def seed(
        *,
        codes: tuple[str, ...] = ("005930", "000660", "035420"),
        start: date = date(2023, 12, 1),
        end: date = date(2024, 1, 5),
        step: tuple[int, ...] = (600, 900, -700),
    ) -> SeededMarket:
        names = {"005930": "삼성전자", "000660": "SK하이닉스", "035420": "NAVER"}
        days = list(trading_days(start, end))
        closes: dict[tuple[str, Any], int] = {}
        for code in codes:
            db_session.add(Stock(code=code, name=names.get(code, f"종목{code}"), market=Market.KOSPI, active=True))
        db_session.flush()
        for index, code in enumerate(codes):
            base = 50_000 + 10_000 * index
            previous = base
            for offset, day in enumerate(days):
                close = base + step[index % len(step)] * offset
                closes[(code, day)] = close
                db_session.add(
                    DailyPrice(
                        code=code,
                        date=day,
                        open=previous,
                        high=max(previous, close),
                        low=min(previous, close),
                        close=close,
                        volume=1_000_000 + offset,
                        value=close * 1_000_000,
                        change=close - previous,
                        change_rate=round((close / previous - 1) * 100, 2),
                    )
                )
                previous = close
        db_session.commit()
        return SeededMarket(list(codes), days, closes)

    return seed
