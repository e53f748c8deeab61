"""Engine and sessions: one small pool per container, reused across invocations.

Thousands of concurrent Lambdas must not exhaust Postgres (DESIGN §6): pool_size 1–2,
no overflow. A connection that sat idle (the container was frozen between invocations,
or a proxy timed it out) is pinged before use and replaced if dead; one in steady use is
not, so a warm request does not pay a round trip for the check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from shared.config import get_settings

_CHECKED_IN_AT = "stockinsight_checked_in_at"
_READ_ONLY = "read_only"
_AUTOCOMMIT_CONNECTION = "autocommit_connection"


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    settings = get_settings()
    url = make_url(settings.require("database_url"))
    if settings.database_host:
        url = url.set(host=settings.database_host)
    engine = create_engine(url, pool_size=settings.db_pool_size, max_overflow=0, pool_recycle=300)
    ping_connections_after_idle(engine, idle_seconds=settings.db_ping_after_idle_seconds)
    return engine


def ping_connections_after_idle(engine: Engine, *, idle_seconds: float) -> None:
    """Pessimistic disconnect handling, paid only by a connection that has been idle.

    SQLAlchemy's pool_pre_ping would ping on every checkout (with pg8000: BEGIN + SELECT 1,
    two round trips per request). Wall-clock time, so a frozen container's pause counts.
    """

    @event.listens_for(engine, "checkin")
    def remember_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.time()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.time() - checked_in_at < idle_seconds:
            return  # fresh from connect, or in steady use
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:  # whatever the driver raises for a dead socket
            raise DisconnectionError("pooled connection did not answer a ping") from exc


@lru_cache(maxsize=1)
def get_sessionmaker() -> sessionmaker[Session]:
    maker = sessionmaker(bind=get_engine(), expire_on_commit=False)
    event.listen(maker, "after_begin", _autocommit_if_read_only)
    return maker


def read_only_session() -> Session:
    """A session for work that only reads: each statement is its own transaction.

    The driver runs in autocommit from the session's first statement (no BEGIN before it,
    no COMMIT after the last: two round trips fewer than a transaction); nothing connects
    until a statement needs it. End it with `end_read_only` before closing.
    """
    return get_sessionmaker()(info={_READ_ONLY: True})


def _autocommit_if_read_only(session: Session, transaction: Any, connection: Connection) -> None:
    if session.info.get(_READ_ONLY):
        pooled = connection.connection
        pooled.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        session.info[_AUTOCOMMIT_CONNECTION] = pooled


def end_read_only(session: Session) -> None:
    """Hand the connection back to the pool as it came (transactional), then close."""
    try:
        pooled = session.info.pop(_AUTOCOMMIT_CONNECTION, None)
        if pooled is not None and pooled.dbapi_connection is not None:  # None once invalidated
            pooled.dbapi_connection.autocommit = False
    finally:
        session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commit on success, roll back everything on any error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_engine() -> None:
    """Forget the cached engine (tests and the local runner switch databases)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
