"""Data stores for local runs: reachability, URLs, the demo database, embedded servers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from runner.datastores import (
    EmbeddedPostgres,
    EmbeddedRedis,
    display_url,
    local_datastores,
    postgres_problem,
    recreate_database,
    redis_problem,
    with_database,
)


def test_urls_keep_their_socket_options_and_hide_passwords() -> None:
    socket_url = "postgresql+pg8000://postgres@/postgres?unix_sock=/srv/pg/.s.PGSQL.5432"
    assert with_database(socket_url, "stockinsight_demo") == (
        "postgresql+pg8000://postgres@/stockinsight_demo?unix_sock=%2Fsrv%2Fpg%2F.s.PGSQL.5432"
    )
    assert display_url("postgresql+pg8000://app:s3cret@db:5432/app") == "postgresql+pg8000://app:***@db:5432/app"


def test_problems_name_what_is_unreachable(admin_database_url: str) -> None:
    assert postgres_problem(admin_database_url) is None
    problem = postgres_problem("postgresql+pg8000://postgres@127.0.0.1:1/postgres", timeout_seconds=1)
    assert problem is not None and problem.startswith("InterfaceError")
    assert redis_problem("redis://127.0.0.1:6379/0") is None
    assert (redis_problem("redis://127.0.0.1:1/0", timeout_seconds=0.5) or "").startswith("ConnectionError")


def test_recreate_database_starts_empty_every_time(admin_database_url: str) -> None:
    name = f"si_runner_{uuid.uuid4().hex[:8]}"
    url = recreate_database(admin_database_url, name)
    try:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE leftover (id int)"))
        engine.dispose()
        assert recreate_database(admin_database_url, name) == url
        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT to_regclass('leftover')")).scalar() is None
        engine.dispose()
    finally:
        admin = create_engine(admin_database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    with pytest.raises(ValueError, match="unusual database name"):
        recreate_database(admin_database_url, 'x"; DROP DATABASE postgres; --')


def test_configured_reachable_servers_are_used_as_they_are(tmp_path: Path, migrated_database: str) -> None:
    said: list[str] = []
    with local_datastores(tmp_path, say=said.append) as stores:
        assert stores.server_url.endswith("/postgres")
        assert stores.postgres_description.startswith("DATABASE_URL server")
        assert stores.redis_description.startswith("REDIS_URL")
        assert not stores.embedded_redis
    assert said == []
    assert not (tmp_path / "pgdata").exists()


def test_an_unreachable_redis_is_replaced_by_an_embedded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_database: str
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    said: list[str] = []
    with local_datastores(tmp_path, say=said.append) as stores:
        assert stores.embedded_redis
        assert stores.redis_url.startswith("unix://")
        client: Any = redis.Redis.from_url(stores.redis_url)
        assert client.ping()
        client.close()
    assert any("starting an embedded redis-server" in line for line in said)


def test_embedded_redis_is_a_real_server(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis.db").start()
    try:
        client: Any = redis.Redis.from_url(server.url, decode_responses=True)
        client.set("k", "v")
        assert client.get("k") == "v"
        assert client.info("server")["redis_version"]
        client.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_embedded_postgres_is_a_real_server(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pgdata").start()
    try:
        assert "unix_sock=" in server.url
        engine = create_engine(server.url)
        with engine.connect() as connection:
            assert connection.execute(text("SHOW server_version")).scalar().startswith("16")
        engine.dispose()
    finally:
        server.stop()
