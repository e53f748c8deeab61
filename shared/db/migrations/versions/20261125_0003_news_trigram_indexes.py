"""news: trigram indexes for the text search that answers when vectors are unavailable

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:30:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigram_available() -> bool:
    bind = op.get_bind()
    return bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first() is not None


def upgrade() -> None:
    # pg_trgm ships with PostgreSQL's contrib (and every managed Postgres, RDS included) and is
    # a trusted extension (13+): the database owner may create it. The embedded server of
    # `make demo` (pgserver) has no contrib: there the search runs unindexed, as before.
    if not _trigram_available():
        logging.getLogger("alembic.runtime.migration").warning(
            "pg_trgm is not available on this server: news text search stays unindexed"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in ("title", "summary"):
        op.create_index(
            f"ix_news_{column}_trgm",
            "news",
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    for column in ("title", "summary"):
        op.execute(f"DROP INDEX IF EXISTS ix_news_{column}_trgm")
