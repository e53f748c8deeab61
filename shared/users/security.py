"""bcrypt hashing and JWT encoding: the only module that imports bcrypt and pyjwt.

Imported by the api image only (and lazily by the users service when it hashes), so the
other functions' images need neither library.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import bcrypt
import jwt

from shared.config import get_settings
from shared.users.passwords import MAX_BYTES

TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["sub", "role", "type", "iat", "exp", "jti"]


class InvalidTokenError(Exception):
    """A token is malformed, forged, expired, of the wrong type, or revoked."""


def hash_password(password: str) -> str:
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_BYTES:  # the policy refuses these first; never let bcrypt truncate
        raise ValueError(f"password longer than {MAX_BYTES} bytes")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=get_settings().bcrypt_rounds)).decode("ascii")


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=rounds))


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not the account exists: unknown emails check a dummy hash."""
    encoded = password.encode("utf-8")
    too_long = len(encoded) > MAX_BYTES
    candidate = encoded[:MAX_BYTES] if too_long else encoded
    if password_hash is None:
        bcrypt.checkpw(candidate, _dummy_hash(get_settings().bcrypt_rounds))
        return False
    try:
        matches = bcrypt.checkpw(candidate, password_hash.encode("ascii"))
    except ValueError:  # a corrupt stored hash never authenticates
        return False
    # No stored password is longer than 72 bytes, so a longer one can never be right.
    return matches and not too_long


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime
    lifetime_seconds: int


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    role: str
    type: TokenType
    jti: str
    issued_at: datetime
    expires_at: datetime


def _secret() -> str:
    return get_settings().require("jwt_secret")


def issue_token(*, user_id: int, role: str, kind: TokenType, now: datetime | None = None) -> IssuedToken:
    settings = get_settings()
    now = now or datetime.now(UTC)
    lifetime = (
        timedelta(minutes=settings.access_token_minutes)
        if kind == "access"
        else timedelta(days=settings.refresh_token_days)
    )
    expires_at = now + lifetime
    jti = secrets.token_urlsafe(24)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "type": kind,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
    }
    token = jwt.encode(claims, _secret(), algorithm=settings.jwt_algorithm)
    return IssuedToken(token=token, jti=jti, expires_at=expires_at, lifetime_seconds=int(lifetime.total_seconds()))


def decode_token(token: str, *, expected_type: TokenType) -> TokenClaims:
    """Verify signature (HS256 only: `none`, HS512, RS256 are refused), expiry and type."""
    try:
        claims = jwt.decode(
            token,
            _secret(),
            algorithms=[get_settings().jwt_algorithm],
            options={"require": REQUIRED_CLAIMS, "verify_signature": True, "verify_exp": True},
        )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from exc
    if claims.get("type") != expected_type:
        raise InvalidTokenError(f"expected an {expected_type} token")
    try:
        user_id = int(claims["sub"])
        return TokenClaims(
            user_id=user_id,
            role=str(claims["role"]),
            type=expected_type,
            jti=str(claims["jti"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidTokenError("malformed claims") from exc
