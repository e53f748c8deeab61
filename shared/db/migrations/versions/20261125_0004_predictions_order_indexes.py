"""predictions: (column, id) indexes for the list's orders (newest first by default)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_predictions_target_date_id", "predictions", ["target_date", "id"])
    op.create_index("ix_predictions_created_at_id", "predictions", ["created_at", "id"])
    # Serves the as_of_date filter as well as the order: replaces the one-column index.
    op.create_index("ix_predictions_as_of_date_id", "predictions", ["as_of_date", "id"])
    op.drop_index("ix_predictions_as_of_date", table_name="predictions")


def downgrade() -> None:
    op.create_index("ix_predictions_as_of_date", "predictions", ["as_of_date"])
    op.drop_index("ix_predictions_as_of_date_id", table_name="predictions")
    op.drop_index("ix_predictions_created_at_id", table_name="predictions")
    op.drop_index("ix_predictions_target_date_id", table_name="predictions")
