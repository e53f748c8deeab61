"""Users, their watchlists and their refresh tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, func, true
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base, TimestampMixin
from shared.db.types import str_enum


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Stored lower-cased by the service, so the unique index is case-insensitive in effect.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(200), server_default="")
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), server_default=Role.USER.value)
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    notifications_enabled: Mapped[bool] = mapped_column(Boolean, server_default=true())
    min_probability: Mapped[float] = mapped_column(Float, server_default="0.7")


class WatchlistItem(Base):
    __tablename__ = "watchlist_items"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    stock_code: Mapped[str] = mapped_column(ForeignKey("stocks.code", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_watchlist_items_stock_code", "stock_code"),)


class RefreshToken(Base):
    """Issued refresh tokens by jti: rotation marks the old one used; logout revokes."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
