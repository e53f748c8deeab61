"""Access and refresh tokens for a user, with refresh-token rotation recorded by jti.

A refresh token works once: refreshing marks its row revoked and issues a new pair. A
second use of the same token means it leaked (or a client raced itself), so every refresh
token of that user is revoked and the user signs in again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, update
from sqlalchemy.orm import Session

from shared.users import auth_state
from shared.users import service as user_service
from shared.users.auth_state import Principal
from shared.users.models import RefreshToken, User
from shared.users.security import InvalidTokenError, decode_token, issue_token

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedPair:
    access_token: str
    access_expires_in: int
    refresh_token: str
    refresh_expires_in: int


def issue_token_pair(*, db_session: Session, user: User) -> IssuedPair:
    now = datetime.now(UTC)
    access = issue_token(user_id=user.id, role=user.role.value, kind="access", now=now)
    refresh = issue_token(user_id=user.id, role=user.role.value, kind="refresh", now=now)
    # Expired rows can no longer be presented (the JWT's exp refuses them first): drop them
    # here, so the table stays the size of the live sessions. Used-but-live rows must stay:
    # they are how a replayed refresh token is recognized.
    db_session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.expires_at < now))
    db_session.add(RefreshToken(jti=refresh.jti, user_id=user.id, expires_at=refresh.expires_at))
    db_session.commit()
    return IssuedPair(
        access_token=access.token,
        access_expires_in=access.lifetime_seconds,
        refresh_token=refresh.token,
        refresh_expires_in=refresh.lifetime_seconds,
    )


def principal_for_access_token(*, db_session: Session, token: str) -> Principal:
    """Who an access token speaks for, if still active (from the published auth state)."""
    claims = decode_token(token, expected_type="access")
    principal = auth_state.principal_for(db_session=db_session, user_id=claims.user_id)
    if principal is None:
        raise InvalidTokenError("user is unknown or deactivated")
    return principal


def user_for_access_token(*, db_session: Session, token: str) -> User:
    """The active user an access token speaks for; InvalidTokenError otherwise."""
    claims = decode_token(token, expected_type="access")
    user = user_service.get(db_session=db_session, user_id=claims.user_id)
    if user is None or not user.active:
        raise InvalidTokenError("user is unknown or deactivated")
    return user


def _consume(*, db_session: Session, jti: str) -> bool:
    """Atomically mark a live refresh token used; False when it was used, revoked or expired."""
    result = db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > func.now())
        .values(revoked_at=func.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def rotate_refresh_token(*, db_session: Session, refresh_token: str) -> IssuedPair:
    claims = decode_token(refresh_token, expected_type="refresh")
    if not _consume(db_session=db_session, jti=claims.jti):
        revoked = user_service.revoke_all_refresh_tokens(db_session=db_session, user_id=claims.user_id)
        log.warning(
            "refresh token reused or revoked: all of the user's sessions revoked",
            extra={"user_id": claims.user_id, "revoked": revoked},
        )
        raise InvalidTokenError("refresh token was already used or revoked")
    user = user_service.get(db_session=db_session, user_id=claims.user_id)
    if user is None or not user.active:
        db_session.commit()
        raise InvalidTokenError("user is unknown or deactivated")
    return issue_token_pair(db_session=db_session, user=user)


def revoke_refresh_token(*, db_session: Session, refresh_token: str) -> bool:
    """Logout: the refresh token stops working. True when a live token was revoked."""
    claims = decode_token(refresh_token, expected_type="refresh")
    revoked = _consume(db_session=db_session, jti=claims.jti)
    db_session.commit()
    return revoked
