"""Signed, expiring tokens in the links we email: no account, no guessable URL."""
from __future__ import annotations

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "consent.double-opt-in"
PREFERENCES_SALT = "consent.preferences"
UNSUBSCRIBE_SALT = "consent.unsubscribe"


def make(salt: str, **data) -> str:
    return signing.dumps(data, salt=salt, compress=True)


def read(salt: str, token: str, *, max_age_seconds: int | None) -> dict | None:
    """The token's data, or None when it is forged, damaged or too old."""
    try:
        return signing.loads(token, salt=salt, max_age=max_age_seconds)
    except signing.BadSignature:
        return None


def confirm_token(*, event_id: int) -> str:
    return make(CONFIRM_SALT, e=event_id)


def read_confirm_token(token: str) -> int | None:
    data = read(CONFIRM_SALT, token, max_age_seconds=settings.DOUBLE_OPT_IN_DAYS * 86400)
    return data.get("e") if data else None


def preferences_token(*, contact_id: int) -> str:
    return make(PREFERENCES_SALT, c=contact_id)


def read_preferences_token(token: str) -> int | None:
    data = read(PREFERENCES_SALT, token, max_age_seconds=settings.PREFERENCE_LINK_DAYS * 86400)
    return data.get("c") if data else None


def unsubscribe_token(*, contact_id: int, purpose_id: int, channel_id: int) -> str:
    # No expiry: a link in an old newsletter must still unsubscribe (withdrawal as easy as giving).
    return make(UNSUBSCRIBE_SALT, c=contact_id, p=purpose_id, ch=channel_id)


def read_unsubscribe_token(token: str) -> tuple[int, int, int] | None:
    data = read(UNSUBSCRIBE_SALT, token, max_age_seconds=None)
    return (data["c"], data["p"], data["ch"]) if data else None
