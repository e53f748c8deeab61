"""stocks.delisted_at: who switched a stock off (the listing, or an admin)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("stocks", sa.Column("delisted_at", sa.DateTime(timezone=True), nullable=True))
    # Before this column only the listing job switched stocks off: those were delistings.
    op.execute("UPDATE stocks SET delisted_at = updated_at WHERE NOT active")


def downgrade() -> None:
    op.drop_column("stocks", "delisted_at")
