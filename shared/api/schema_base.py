"""The base every API schema inherits: datetimes serialize one way, everywhere.

Lives beside the routers but imports only pydantic, so domain packages (and the functions
that import them) can use their schemas without pulling in FastAPI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer

T = TypeVar("T")


def _utc_iso(value: datetime) -> str:
    # Postgres hands back aware datetimes in the session's zone; clients get UTC with a Z.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Every datetime field of every schema uses this type: one serialization rule, one place.
UtcDateTime = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


class ApiModel(BaseModel):
    """Reads ORM objects and rows by attribute; refuses unknown input fields."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", populate_by_name=True)


class ReadModel(ApiModel):
    """Output schemas: built from ORM rows, never from client input."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


class Page(ApiModel, Generic[T]):
    """`{"items": [...], "total": n, "limit": l, "offset": o}`: the shape of every list."""

    model_config = ConfigDict(extra="ignore")

    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: list[Any], *, total: int, limit: int, offset: int) -> Page[T]:
        return cls(items=items, total=total, limit=limit, offset=offset)
