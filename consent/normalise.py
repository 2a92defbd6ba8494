"""One normal form for emails and phone numbers, and their keyed digests."""
from __future__ import annotations

import functools
import hashlib
import hmac
import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

# email_validator's limit on the whole address, in UTF-8 bytes (RFC 5321 4.5.3.1.3).
EMAIL_MAX_LENGTH = 254
# A plain ASCII address: a dot-atom local part (email_validator's own ATEXT) and a host name. For
# these, email_validator returns the local part unchanged and checks the domain on its own, so the
# domain's check is memoised (a file holds a few domains and many addresses).
_PLAIN_EMAIL = re.compile(r"([a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+)*)"
                          r"@([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)\Z")
_MEMO_SIZE = 50_000
# domain as written -> (its normal form, lower-cased; its UTF-8 length; its IDNA ASCII length)
_email_domains: dict[str, tuple[str, int, int]] = {}
# (value, region) -> E.164: files repeat a contact's number on each of its lines.
_phones: dict[tuple[str, str], str] = {}
# The codes a contact's country may hold: ISO 3166-1 alpha-2 codes of the countries and territories
# phonenumbers knows, since the country is also the region a national phone number is read in.
COUNTRY_CODES = frozenset(phonenumbers.SUPPORTED_REGIONS)


def clear_memos() -> None:
    """Forget the memoised domains and numbers (a benchmark measuring a first pass; tests)."""
    _email_domains.clear()
    _phones.clear()


def _invalid_email(exc: EmailNotValidError) -> ValidationError:
    return ValidationError(_("Enter a valid email address (%(error)s).") % {"error": exc}, code="invalid_email")


def _email_domain(domain: str) -> tuple[str, int, int] | None:
    """The memoised check of a domain alone (None: not valid, let the full check say why)."""
    known = _email_domains.get(domain)
    if known is None:
        try:
            result = validate_email(f"a@{domain}", check_deliverability=False)
        except EmailNotValidError:
            return None
        if len(_email_domains) >= _MEMO_SIZE:
            _email_domains.clear()
        known = _email_domains[domain] = (result.domain.lower(), len(result.domain.encode()),
                                          len(result.ascii_domain))
    return known


def normalise_email(value: str) -> str:
    """Lower-cased, Unicode (IDNA-decoded) domain: 'Alice@XN--BCHER-KVA.de' -> 'alice@bücher.de'."""
    value = (value or "").strip()
    if not value:
        return ""
    plain = _PLAIN_EMAIL.match(value)
    if plain is not None:  # the same answer as validate_email's, without its per-address cost
        local, domain = plain.groups()
        known = _email_domain(domain)
        if known is not None and len(local) + 1 + max(len(domain), known[1], known[2]) <= EMAIL_MAX_LENGTH:
            return f"{local.lower()}@{known[0]}"
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise _invalid_email(exc)
    return f"{result.local_part.lower()}@{result.domain.lower()}"


def normalise_phone(value: str, *, region: str | None = None) -> str:
    """E.164: '06 12 34 56 78' -> '+33612345678' (national numbers read in PHONE_DEFAULT_REGION)."""
    value = (value or "").strip()
    if not value:
        return ""
    region = region or settings.PHONE_DEFAULT_REGION
    known = _phones.get((value, region))
    if known is not None:
        return known
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid phone number, e.g. +33 6 12 34 56 78."), code="invalid_phone")
    if len(_phones) >= _MEMO_SIZE:
        _phones.clear()
    known = _phones[(value, region)] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return known


def normalise_country(value: str) -> str:
    """A country's ISO 3166-1 alpha-2 code, in capitals: ' be ' -> 'BE'."""
    value = (value or "").strip().upper()
    if value and value not in COUNTRY_CODES:
        raise ValidationError(_("Enter the country's two-letter code (ISO 3166), e.g. FR for France or BE for "
                                "Belgium."), code="invalid_country")
    return value


def keyed_digest(value: str) -> str:
    """HMAC-SHA256 under PSEUDONYMISATION_KEY: matches a value without storing it."""
    keyed = _keyed_hmac(settings.PSEUDONYMISATION_KEY).copy()  # the key's pads hashed once, not per value
    keyed.update(value.encode())
    return keyed.hexdigest()


@functools.lru_cache(maxsize=4)
def _keyed_hmac(key: str) -> hmac.HMAC:
    """An HMAC with the key and nothing else yet: copies of it give hmac.new(key, value)'s digest."""
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


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


def storable(value: str) -> bool:
    """Can PostgreSQL take this string as a parameter: no NUL character, and valid Unicode (a JSON
    escape such as \\ud800 gives a lone surrogate, which no encoding can send)?"""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
