"""The policy for new passwords. Pure rules: no bcrypt here, so any image may import it."""

from __future__ import annotations

MIN_LENGTH = 10
# bcrypt reads only the first 72 bytes. Rather than silently ignoring the rest (or hashing a
# digest of it), a longer password is refused when it is set, so what the user typed is
# exactly what protects the account.
MAX_BYTES = 72
MIN_DISTINCT_CHARACTERS = 4


class PasswordPolicyError(ValueError):
    """A new password breaks the policy; the message says which rule."""


def _character_class(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.islower():
        return "lower"
    if ch.isupper():
        return "upper"
    return "other"  # symbols, spaces, and letters without case such as Hangul


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_LENGTH} characters long")
    if len(password.encode("utf-8")) > MAX_BYTES:
        raise PasswordPolicyError(f"password must be at most {MAX_BYTES} bytes in UTF-8")
    if len({_character_class(ch) for ch in password}) < 2:
        raise PasswordPolicyError(
            "password must mix at least two kinds of characters (lower case, upper case, digits, symbols)"
        )
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        raise PasswordPolicyError(f"password must use at least {MIN_DISTINCT_CHARACTERS} distinct characters")
