"""Column types shared by every domain's tables."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum


def str_enum(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    """A VARCHAR + CHECK enum: adding a value is a plain migration, unlike a native PG enum."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_cls) + 8,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def enum_values(enum_cls: type[enum.StrEnum]) -> list[Any]:
    return [member.value for member in enum_cls]
