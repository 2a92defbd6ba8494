"""One normal form for emails and phone numbers, and their keyed digests."""
from __future__ import annotations

import hashlib
import hmac

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email


def normalise_email(value: str) -> str:
    """Lower-cased, Unicode (IDNA-decoded) domain: 'Alice@XN--BCHER-KVA.de' -> 'alice@bücher.de'."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(_("Enter a valid email address (%(error)s).") % {"error": exc}, code="invalid_email")
    return f"{result.local_part.lower()}@{result.domain.lower()}"


def normalise_phone(value: str, *, region: str | None = None) -> str:
    """E.164: '06 12 34 56 78' -> '+33612345678' (national numbers read in PHONE_DEFAULT_REGION)."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid phone number, e.g. +33 6 12 34 56 78."), code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def keyed_digest(value: str) -> str:
    """HMAC-SHA256 under PSEUDONYMISATION_KEY: matches a value without storing it."""
    key = settings.PSEUDONYMISATION_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def address_for_channel(channel_code: str, value: str) -> str:
    """The normal form of an address on a channel: email for email, E.164 for SMS and phone."""
    if channel_code == "email":
        return normalise_email(value)
    if channel_code in ("sms", "phone"):
        return normalise_phone(value)
    return " ".join(value.lower().split())


def suppression_digest(channel_code: str, value: str) -> str:
    """The digest a suppression entry stores for ``value`` on a channel (normalised first)."""
    return keyed_digest(f"{channel_code}:{address_for_channel(channel_code, value)}")


def stored_address_digest(channel_code: str, address: str) -> str:
    """``suppression_digest`` of an address read back from a contact row. The services store
    emails and phones already in normal form, so they are not validated again (that costs
    ~100 µs an address: too much for an audience of a million); postal addresses only need the
    lower-case and whitespace step, which is cheap."""
    if channel_code not in ("email", "sms", "phone"):
        address = " ".join(address.lower().split())
    return keyed_digest(f"{channel_code}:{address}")
