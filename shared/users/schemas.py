"""What the API reads and writes about users, their preferences and their watchlists."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator

from shared.api.schema_base import ApiModel, Page, ReadModel, UtcDateTime
from shared.users.models import Role

# Telegram chat ids are integers (negative for groups); stored as text.
TelegramChatId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^-?\d{1,20}$")]
StockCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Z]{6}$")]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
# Checked by the password policy (shared.users.passwords), not here, so the message is specific.
Password = Annotated[str, Field(min_length=1, max_length=1024)]


def _normalize_email(value: str) -> str:
    return value.strip().lower()


class UserCreate(ApiModel):
    """A new account. The CLI's create-admin and the admin API both build one."""

    email: EmailStr
    password: Password
    full_name: FullName = ""
    role: Role = Role.USER

    _lower_email = field_validator("email", mode="after")(_normalize_email)


class UserRead(ReadModel):
    id: int
    email: str
    full_name: str
    role: Role
    active: bool
    telegram_chat_id: str | None
    notifications_enabled: bool
    min_probability: float
    created_at: UtcDateTime
    updated_at: UtcDateTime


class UserPagination(Page[UserRead]):
    """A page of users; a named subclass gives its OpenAPI schema a readable name."""


class UserProfileUpdate(ApiModel):
    """What a user may change about themselves; omitted fields stay as they are."""

    full_name: FullName | None = None
    telegram_chat_id: TelegramChatId | None = None
    notifications_enabled: bool | None = None
    min_probability: float | None = Field(default=None, ge=0.0, le=1.0)


class PasswordChange(ApiModel):
    current_password: Password
    new_password: Password


class UserRoleUpdate(ApiModel):
    role: Role


class WatchlistItemCreate(ApiModel):
    stock_code: StockCode


class WatchlistItemRead(ReadModel):
    stock_code: str
    stock_name: str
    market: str
    created_at: UtcDateTime


class WatchlistRead(ApiModel):
    items: list[WatchlistItemRead]


# --- auth -----------------------------------------------------------------


class LoginRequest(ApiModel):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Password


class RefreshRequest(ApiModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TokenPair(ApiModel):
    """OAuth2 token response (RFC 6749 §5.1) plus the refresh token and its lifetime."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
