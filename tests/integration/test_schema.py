"""The schema exists only through Alembic, and the models agree with it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from shared.db.migrate import downgrade_to_base, upgrade_to_head
from shared.db.models import Base


def test_upgrade_head_creates_every_model_table(migrated_database: str) -> None:
    engine = create_engine(migrated_database)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(migrated_database: str) -> None:
    engine = create_engine(migrated_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_downgrade_then_upgrade_round_trips(admin_database_url: str) -> None:
    """On a database of its own, so the shared test database keeps its schema."""
    import uuid

    from sqlalchemy.engine import make_url

    name = f"si_roundtrip_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_database_url, isolation_level="AUTOCOMMIT")
    url = make_url(admin_database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade_to_head(url)
        downgrade_to_base(url)
        engine = create_engine(url)
        try:
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        finally:
            engine.dispose()
        upgrade_to_head(url)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
