"""Signed, expiring tokens in the links we email: no account, no guessable URL."""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable

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


# Unsubscribe links, format 2: "<contact>.<purpose>.<channel>.<mac>", the mac being the first 16 bytes
# of HMAC-SHA256 of "<contact>.<purpose>.<channel>" under a key derived once from SECRET_KEY, in hex
# (cheaper than base64url for PostgreSQL to write, and URL-safe). Cheap enough for an audience of a
# million rows (signing.dumps derives its key, JSON-encodes, compresses and base64s on every call), and
# PostgreSQL computes the same with pgcrypto's hmac() (consent.selectors.audience_copy_chunks). Links of
# format 1 (signing.dumps) already sent stay valid.
UNSUBSCRIBE_MAC_BYTES = 16
_UNSUBSCRIBE_V2 = re.compile(r"([0-9]{1,18})\.([0-9]{1,18})\.([0-9]{1,18})\.([0-9a-f]{32})")


@functools.lru_cache(maxsize=8)
def _derived_unsubscribe_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), f"{UNSUBSCRIBE_SALT}.v2".encode(), hashlib.sha256).digest()


def unsubscribe_key() -> bytes:
    """The key of format-2 unsubscribe tokens (a derivation of SECRET_KEY, never SECRET_KEY itself)."""
    return _derived_unsubscribe_key(settings.SECRET_KEY)


def _unsubscribe_mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:2 * UNSUBSCRIBE_MAC_BYTES]


def unsubscribe_token(*, contact_id: int, purpose_id: int, channel_id: int) -> str:
    # No expiry: a link in an old newsletter must still unsubscribe (withdrawal as easy as giving).
    message = f"{int(contact_id)}.{int(purpose_id)}.{int(channel_id)}"
    return f"{message}.{_unsubscribe_mac(unsubscribe_key(), message)}"


def unsubscribe_token_maker(*, purpose_id: int, channel_id: int) -> Callable[[int], str]:
    """unsubscribe_token for one purpose x channel as a function of the contact id, with the key read
    once (the audience export makes one per row)."""
    key, suffix = unsubscribe_key(), f".{int(purpose_id)}.{int(channel_id)}"

    def token(contact_id: int) -> str:
        message = f"{int(contact_id)}{suffix}"
        return f"{message}.{_unsubscribe_mac(key, message)}"

    return token


def read_unsubscribe_token(token: str) -> tuple[int, int, int] | None:
    """(contact, purpose, channel) of a format-2 token, or of a format-1 one (signing.dumps, the links
    sent before); None when forged or damaged. SECRET_KEY_FALLBACKS keep working, as for signing."""
    match = _UNSUBSCRIBE_V2.fullmatch(token)
    if match is None:
        data = read(UNSUBSCRIBE_SALT, token, max_age_seconds=None)
        return (data["c"], data["p"], data["ch"]) if data else None
    message = token.rsplit(".", 1)[0]
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        if hmac.compare_digest(_unsubscribe_mac(_derived_unsubscribe_key(secret), message), match[4]):
            return int(match[1]), int(match[2]), int(match[3])
    return None
