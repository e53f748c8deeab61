"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 17:13:42.337913
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "running",
                "stopped",
                name="ab_test_status",
                native_enum=False,
                create_constraint=True,
                length=15,
            ),
            server_default="draft",
            nullable=False,
        ),
        sa.Column("min_detectable_effect", sa.Float(), server_default="0.05", nullable=False),
        sa.Column("alpha", sa.Float(), server_default="0.05", nullable=False),
        sa.Column("power", sa.Float(), server_default="0.8", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("winner_variant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_tests")),
        sa.UniqueConstraint("name", name=op.f("uq_ab_tests_name")),
    )
    op.create_index(op.f("ix_ab_tests_status"), "ab_tests", ["status"], unique=False)
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("function", sa.String(length=50), nullable=False),
        sa.Column("job", sa.String(length=50), nullable=False),
        sa.Column("run_date", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "succeeded",
                "failed",
                "skipped",
                name="job_status",
                native_enum=False,
                create_constraint=True,
                length=17,
            ),
            nullable=False,
        ),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_function_job_started_at", "job_runs", ["function", "job", "started_at"], unique=False)
    op.create_table(
        "model_configs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("llm", "baseline", name="model_kind", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model_id", sa.String(length=100), nullable=False),
        sa.Column("prompt_version", sa.String(length=50), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("is_champion", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_model_configs_name")),
    )
    op.create_table(
        "news",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.String(length=200), server_default="", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "embedding_status",
            sa.Enum(
                "pending",
                "done",
                "failed",
                name="embedding_status",
                native_enum=False,
                create_constraint=True,
                length=15,
            ),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("embedding_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("embedding_error", sa.Text(), nullable=True),
        sa.Column("embedding_model", sa.String(length=100), nullable=True),
        sa.Column("embedded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_news")),
        sa.UniqueConstraint("url", name=op.f("uq_news_url")),
    )
    op.create_index(
        "ix_news_embedding_pending",
        "news",
        ["id"],
        unique=False,
        postgresql_where=sa.text("embedding_status = 'pending'"),
    )
    op.create_index(op.f("ix_news_published_at"), "news", ["published_at"], unique=False)
    op.create_table(
        "stocks",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "market",
            sa.Enum(
                "KOSPI",
                "KOSDAQ",
                "KONEX",
                name="market",
                native_enum=False,
                create_constraint=True,
                length=14,
            ),
            nullable=False,
        ),
        sa.Column("sector", sa.String(length=100), nullable=True),
        sa.Column("isin", sa.String(length=12), nullable=True),
        sa.Column("listed_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("watched", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_stocks")),
    )
    op.create_index(op.f("ix_stocks_active"), "stocks", ["active"], unique=False)
    op.create_index(op.f("ix_stocks_market"), "stocks", ["market"], unique=False)
    op.create_index("ix_stocks_name", "stocks", ["name"], unique=False)
    op.create_index(op.f("ix_stocks_sector"), "stocks", ["sector"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "role",
            sa.Enum("user", "admin", name="role", native_enum=False, create_constraint=True, length=13),
            server_default="user",
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("telegram_chat_id", sa.String(length=64), nullable=True),
        sa.Column("notifications_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("min_probability", sa.Float(), server_default="0.7", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "ab_variants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ab_test_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("model_config_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["ab_test_id"],
            ["ab_tests.id"],
            name=op.f("fk_ab_variants_ab_test_id_ab_tests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_config_id"],
            ["model_configs.id"],
            name=op.f("fk_ab_variants_model_config_id_model_configs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_variants")),
        sa.UniqueConstraint("ab_test_id", "name", name=op.f("uq_ab_variants_ab_test_id_name")),
    )
    op.create_index(op.f("ix_ab_variants_ab_test_id"), "ab_variants", ["ab_test_id"], unique=False)
    # ab_tests and ab_variants reference each other: this FK can only follow both tables.
    op.create_foreign_key(
        op.f("fk_ab_tests_winner_variant_id_ab_variants"),
        "ab_tests",
        "ab_variants",
        ["winner_variant_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_table(
        "daily_prices",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("open", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("close", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("change", sa.BigInteger(), nullable=False),
        sa.Column("change_rate", sa.Float(), nullable=False),
        sa.Column("market_cap", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["code"], ["stocks.code"], name=op.f("fk_daily_prices_code_stocks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code", "date", name=op.f("pk_daily_prices")),
    )
    op.create_index("ix_daily_prices_date", "daily_prices", ["date"], unique=False)
    op.create_table(
        "news_stocks",
        sa.Column("news_id", sa.BigInteger(), nullable=False),
        sa.Column("stock_code", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(["news_id"], ["news.id"], name=op.f("fk_news_stocks_news_id_news"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["stock_code"], ["stocks.code"], name=op.f("fk_news_stocks_stock_code_stocks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("news_id", "stock_code", name=op.f("pk_news_stocks")),
    )
    op.create_index("ix_news_stocks_stock_code", "news_stocks", ["stock_code"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "signal",
                "alert",
                "daily_summary",
                name="notification_kind",
                native_enum=False,
                create_constraint=True,
                length=21,
            ),
            nullable=False,
        ),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                "failed",
                "skipped_no_token",
                "blocked",
                name="notification_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_status_created_at", "notifications", ["status", "created_at"], unique=False)
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"], unique=False)
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "watchlist_items",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stock_code", sa.String(length=6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["stock_code"],
            ["stocks.code"],
            name=op.f("fk_watchlist_items_stock_code_stocks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_watchlist_items_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "stock_code", name=op.f("pk_watchlist_items")),
    )
    op.create_index("ix_watchlist_items_stock_code", "watchlist_items", ["stock_code"], unique=False)
    op.create_table(
        "daily_performance",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("model_config_id", sa.Integer(), nullable=False),
        sa.Column("ab_variant_id", sa.Integer(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("hit_rate", sa.Float(), nullable=False),
        sa.Column("hit_rate_low", sa.Float(), nullable=False),
        sa.Column("hit_rate_high", sa.Float(), nullable=False),
        sa.Column("brier", sa.Float(), nullable=False),
        sa.Column("log_loss", sa.Float(), nullable=False),
        sa.Column("mean_strategy_return", sa.Float(), nullable=False),
        sa.Column("cumulative_strategy_return", sa.Float(), nullable=False),
        sa.Column("calibration", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["ab_variant_id"],
            ["ab_variants.id"],
            name=op.f("fk_daily_performance_ab_variant_id_ab_variants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_config_id"],
            ["model_configs.id"],
            name=op.f("fk_daily_performance_model_config_id_model_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_performance")),
        sa.UniqueConstraint(
            "date",
            "model_config_id",
            "ab_variant_id",
            name=op.f("uq_daily_performance_date_model_config_id_ab_variant_id"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_daily_performance_model_config_id_date",
        "daily_performance",
        ["model_config_id", "date"],
        unique=False,
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("stock_code", sa.String(length=6), nullable=False),
        sa.Column("model_config_id", sa.Integer(), nullable=False),
        sa.Column("ab_variant_id", sa.Integer(), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("ok", "failed", name="prediction_status", native_enum=False, create_constraint=True, length=14),
            server_default="ok",
            nullable=False,
        ),
        sa.Column(
            "direction",
            sa.Enum("up", "down", "flat", name="direction", native_enum=False, create_constraint=True, length=12),
            nullable=True,
        ),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("expected_return", sa.Float(), nullable=True),
        sa.Column("rationale", sa.Text(), server_default="", nullable=False),
        sa.Column("evidence_news_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("prompt_version", sa.String(length=50), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=12, scale=6), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["ab_variant_id"],
            ["ab_variants.id"],
            name=op.f("fk_predictions_ab_variant_id_ab_variants"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_config_id"],
            ["model_configs.id"],
            name=op.f("fk_predictions_model_config_id_model_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stock_code"], ["stocks.code"], name=op.f("fk_predictions_stock_code_stocks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint(
            "stock_code",
            "model_config_id",
            "target_date",
            name=op.f("uq_predictions_stock_code_model_config_id_target_date"),
        ),
    )
    op.create_index("ix_predictions_ab_variant_id", "predictions", ["ab_variant_id"], unique=False)
    op.create_index("ix_predictions_as_of_date", "predictions", ["as_of_date"], unique=False)
    op.create_index("ix_predictions_model_config_id_id", "predictions", ["model_config_id", "id"], unique=False)
    op.create_index("ix_predictions_probability", "predictions", ["probability"], unique=False)
    op.create_index("ix_predictions_stock_code_target_date", "predictions", ["stock_code", "target_date"], unique=False)
    op.create_index("ix_predictions_target_date_model", "predictions", ["target_date", "model_config_id"], unique=False)
    op.create_table(
        "evaluations",
        sa.Column("prediction_id", sa.BigInteger(), nullable=False),
        sa.Column("previous_close", sa.BigInteger(), nullable=False),
        sa.Column("actual_close", sa.BigInteger(), nullable=False),
        sa.Column("actual_return", sa.Float(), nullable=False),
        sa.Column(
            "realized_direction",
            sa.Enum(
                "up",
                "down",
                "flat",
                name="realized_direction",
                native_enum=False,
                create_constraint=True,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("brier", sa.Float(), nullable=False),
        sa.Column("log_loss", sa.Float(), nullable=False),
        sa.Column("strategy_return", sa.Float(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            name=op.f("fk_evaluations_prediction_id_predictions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_evaluations")),
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_ab_tests_winner_variant_id_ab_variants"), "ab_tests", type_="foreignkey")
    op.drop_table("evaluations")
    op.drop_index("ix_predictions_target_date_model", table_name="predictions")
    op.drop_index("ix_predictions_stock_code_target_date", table_name="predictions")
    op.drop_index("ix_predictions_probability", table_name="predictions")
    op.drop_index("ix_predictions_model_config_id_id", table_name="predictions")
    op.drop_index("ix_predictions_as_of_date", table_name="predictions")
    op.drop_index("ix_predictions_ab_variant_id", table_name="predictions")
    op.drop_table("predictions")
    op.drop_index("ix_daily_performance_model_config_id_date", table_name="daily_performance")
    op.drop_table("daily_performance")
    op.drop_index("ix_watchlist_items_stock_code", table_name="watchlist_items")
    op.drop_table("watchlist_items")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_notifications_user_id"), table_name="notifications")
    op.drop_index("ix_notifications_status_created_at", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_news_stocks_stock_code", table_name="news_stocks")
    op.drop_table("news_stocks")
    op.drop_index("ix_daily_prices_date", table_name="daily_prices")
    op.drop_table("daily_prices")
    op.drop_index(op.f("ix_ab_variants_ab_test_id"), table_name="ab_variants")
    op.drop_table("ab_variants")
    op.drop_table("users")
    op.drop_index(op.f("ix_stocks_sector"), table_name="stocks")
    op.drop_index("ix_stocks_name", table_name="stocks")
    op.drop_index(op.f("ix_stocks_market"), table_name="stocks")
    op.drop_index(op.f("ix_stocks_active"), table_name="stocks")
    op.drop_table("stocks")
    op.drop_index(op.f("ix_news_published_at"), table_name="news")
    op.drop_index(
        "ix_news_embedding_pending",
        table_name="news",
        postgresql_where=sa.text("embedding_status = 'pending'"),
    )
    op.drop_table("news")
    op.drop_table("model_configs")
    op.drop_index("ix_job_runs_function_job_started_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index(op.f("ix_ab_tests_status"), table_name="ab_tests")
    op.drop_table("ab_tests")
