"""Users: accounts, roles, profiles, Telegram preferences and watchlists.

Keyword-only functions taking `db_session`, as every domain service. Writes commit, so a
caller (the API, the CLI's create-admin, notify) gets a finished unit of work. bcrypt is
imported lazily, only by the functions that hash: notify imports this module without it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.stocks.models import Stock
from shared.users import auth_state
from shared.users.models import RefreshToken, Role, User, WatchlistItem
from shared.users.passwords import check_password_policy
from shared.users.schemas import UserCreate, UserProfileUpdate

log = logging.getLogger(__name__)


class UserAlreadyExistsError(ValueError):
    """Another account already uses this email (compared case-insensitively)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"a user with email {email!r} already exists")
        self.email = email


class UserNotFoundError(LookupError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")
        self.user_id = user_id


class LastAdminError(ValueError):
    """The change would leave the system without an active admin."""


class WrongPasswordError(ValueError):
    """The current password given to a password change does not match."""


class UnknownStockError(LookupError):
    def __init__(self, stock_code: str) -> None:
        super().__init__(f"stock {stock_code!r} not found")
        self.stock_code = stock_code


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- reads --------------------------------------------------------------------


def get(*, db_session: Session, user_id: int) -> User | None:
    return db_session.get(User, user_id)


def get_by_email(*, db_session: Session, email: str) -> User | None:
    return db_session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()


def _search_conditions(*, q: str | None, role: Role | None, active: bool | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q and q.strip():
        pattern = f"%{_escape_like(q.strip().lower())}%"
        conditions.append(or_(User.email.ilike(pattern, escape="\\"), User.full_name.ilike(pattern, escape="\\")))
    if role is not None:
        conditions.append(User.role == role)
    if active is not None:
        conditions.append(User.active.is_(active))
    return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_all(
    *,
    db_session: Session,
    q: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    """A page of users (by id) matching the search in email or name, and the total."""
    conditions = _search_conditions(q=q, role=role, active=active)
    total = db_session.scalar(select(func.count()).select_from(User).where(*conditions))
    users = db_session.scalars(select(User).where(*conditions).order_by(User.id).limit(limit).offset(offset)).all()
    return list(users), int(total or 0)


def authenticate(*, db_session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None; the same work whether or not the email exists."""
    from shared.users.security import verify_password

    user = get_by_email(db_session=db_session, email=email)
    valid = verify_password(password, user.password_hash if user is not None else None)
    if user is None or not valid or not user.active:
        return None
    return user


# --- writes -------------------------------------------------------------------


def create(*, db_session: Session, user_in: UserCreate) -> User:
    """A new account; the password must pass the policy. Raises UserAlreadyExistsError."""
    from shared.users.security import hash_password

    email = normalize_email(user_in.email)
    check_password_policy(user_in.password)
    if get_by_email(db_session=db_session, email=email) is not None:
        raise UserAlreadyExistsError(email)
    user = User(
        email=email,
        password_hash=hash_password(user_in.password),
        full_name=user_in.full_name,
        role=user_in.role,
    )
    db_session.add(user)
    try:
        db_session.commit()
    except IntegrityError as exc:  # a concurrent create won the race for this email
        db_session.rollback()
        raise UserAlreadyExistsError(email) from exc
    log.info("user created", extra={"user_id": user.id, "role": user.role.value})
    return user


def update_profile(*, db_session: Session, user: User, profile_in: UserProfileUpdate) -> User:
    for field, value in profile_in.model_dump(exclude_unset=True).items():
        if field in {"full_name", "notifications_enabled", "min_probability"} and value is None:
            continue  # explicit null means "no change" for non-nullable fields
        setattr(user, field, value)
    db_session.commit()
    return user


def change_password(*, db_session: Session, user: User, current_password: str, new_password: str) -> User:
    """Checks the current password, applies the policy, and signs out every other session."""
    from shared.users.security import hash_password, verify_password

    if not verify_password(current_password, user.password_hash):
        raise WrongPasswordError("current password is wrong")
    check_password_policy(new_password)
    user.password_hash = hash_password(new_password)
    _revoke_all_refresh_tokens(db_session=db_session, user_id=user.id)
    db_session.commit()
    return user


def _active_admins_other_than(*, db_session: Session, user_id: int) -> int:
    count = db_session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True), User.id != user_id)
    )
    return int(count or 0)


def set_role(*, db_session: Session, user: User, role: Role) -> User:
    if (
        user.role == Role.ADMIN
        and role != Role.ADMIN
        and _active_admins_other_than(db_session=db_session, user_id=user.id) == 0
    ):
        raise LastAdminError("cannot demote the last active admin")
    user.role = role
    db_session.commit()
    auth_state.publish(user_id=user.id, active=user.active, role=user.role)
    return user


def set_active(*, db_session: Session, user: User, active: bool) -> User:
    """Deactivating also revokes the user's refresh tokens; their access tokens stop working at once."""
    if (
        not active
        and user.role == Role.ADMIN
        and _active_admins_other_than(db_session=db_session, user_id=user.id) == 0
    ):
        raise LastAdminError("cannot deactivate the last active admin")
    user.active = active
    if not active:
        _revoke_all_refresh_tokens(db_session=db_session, user_id=user.id)
    db_session.commit()
    auth_state.publish(user_id=user.id, active=user.active, role=user.role)
    return user


def _revoke_all_refresh_tokens(*, db_session: Session, user_id: int, now: datetime | None = None) -> int:
    result = db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or func.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_all_refresh_tokens(*, db_session: Session, user_id: int) -> int:
    count = _revoke_all_refresh_tokens(db_session=db_session, user_id=user_id)
    db_session.commit()
    return count


def disable_telegram_notifications(*, db_session: Session, chat_id: str) -> int:
    """Telegram said the bot was blocked in this chat: stop notifying every user bound to it."""
    result = db_session.execute(
        update(User)
        .where(User.telegram_chat_id == chat_id, User.notifications_enabled.is_(True))
        .values(notifications_enabled=False)
    )
    db_session.commit()
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    log.info("telegram notifications disabled", extra={"chat_id": chat_id, "users": count})
    return count


# --- watchlists ---------------------------------------------------------------


def get_watchlist(*, db_session: Session, user_id: int) -> Sequence[tuple[WatchlistItem, Stock]]:
    return db_session.execute(
        select(WatchlistItem, Stock)
        .join(Stock, Stock.code == WatchlistItem.stock_code)
        .where(WatchlistItem.user_id == user_id)
        .order_by(WatchlistItem.created_at, WatchlistItem.stock_code)
    ).all()  # type: ignore[return-value]


def add_to_watchlist(*, db_session: Session, user_id: int, stock_code: str) -> bool:
    """Idempotent: True when added, False when it was already there."""
    if db_session.get(Stock, stock_code) is None:
        raise UnknownStockError(stock_code)
    if db_session.get(WatchlistItem, (user_id, stock_code)) is not None:
        return False
    db_session.add(WatchlistItem(user_id=user_id, stock_code=stock_code))
    try:
        db_session.commit()
    except IntegrityError:  # added concurrently: the outcome is the same
        db_session.rollback()
        return False
    return True


def remove_from_watchlist(*, db_session: Session, user_id: int, stock_code: str) -> bool:
    """True when removed, False when it was not on the list."""
    result = db_session.execute(
        delete(WatchlistItem).where(WatchlistItem.user_id == user_id, WatchlistItem.stock_code == stock_code)
    )
    db_session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]
