"""The container's pool: idle connections are checked before use, busy ones are not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


def _backend_pid() -> int:
    from shared.db.session import session_scope

    with session_scope() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    from sqlalchemy import create_engine

    from shared.config import get_settings

    admin = create_engine(get_settings().require("database_url"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            # With a timeout, it returns once the backend is gone, not when the signal is sent.
            assert connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    database: str, settings_env: Callable[..., Any]
) -> None:
    settings_env(DB_PING_AFTER_IDLE_SECONDS="0", DB_POOL_SIZE="1")
    first = _backend_pid()
    _terminate(first)  # as a proxy's idle timeout would, while the container was frozen
    second = _backend_pid()
    assert second != first


def test_a_connection_in_steady_use_is_not_pinged(database: str, settings_env: Callable[..., Any]) -> None:
    settings_env(DB_PING_AFTER_IDLE_SECONDS="3600", DB_POOL_SIZE="1")
    first = _backend_pid()
    _terminate(first)
    # Not idle long enough to be pinged: the dead connection surfaces on first use, and the
    # pool discards it, so the next unit of work gets a live one.
    with pytest.raises(DBAPIError):
        _backend_pid()
    assert _backend_pid() != first
