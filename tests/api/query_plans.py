"""The plan Postgres would use for a statement a service function runs (index checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text


def plan_of_last_statement(db_session: Any, run: Callable[[], object]) -> str:
    """EXPLAIN of the last statement `run` sends, with sequential scans off (test tables are tiny)."""
    db_session.execute(text("SET LOCAL enable_seqscan = off"))
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((sql, parameters))

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sql, parameters = statements[-1]
    return "\n".join(row[0] for row in db_session.connection().exec_driver_sql("EXPLAIN " + sql, parameters))
