"""Signed links emailed to requesters. Each is bound to one request by its ``link_key``: a token
for another request, a tampered or an expired one reads as None (the views answer 404)."""
from __future__ import annotations

from django.conf import settings
from django.core import signing

from .models import DownloadLink, RightsRequest

VERIFY_SALT = "rights.verify"
STATUS_SALT = "rights.status"
DOWNLOAD_SALT = "rights.download"


def _make(salt: str, *, request: RightsRequest, **extra) -> str:
    return signing.dumps({"r": request.pk, "k": request.link_key, **extra}, salt=salt, compress=True)


def _read(salt: str, token: str, *, max_age_days: int) -> tuple[RightsRequest, dict] | None:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age_days * 86400)
    except signing.BadSignature:
        return None
    request = RightsRequest.objects.filter(pk=data.get("r"), link_key=data.get("k")).first()
    return (request, data) if request is not None else None


def verify_token(*, request: RightsRequest) -> str:
    return _make(VERIFY_SALT, request=request)


def read_verify_token(token: str) -> RightsRequest | None:
    found = _read(VERIFY_SALT, token, max_age_days=settings.RIGHTS_VERIFY_LINK_DAYS)
    return found[0] if found else None


def status_token(*, request: RightsRequest) -> str:
    return _make(STATUS_SALT, request=request)


def read_status_token(token: str) -> RightsRequest | None:
    found = _read(STATUS_SALT, token, max_age_days=settings.RIGHTS_STATUS_LINK_DAYS)
    return found[0] if found else None


def download_token(*, link: DownloadLink) -> str:
    return _make(DOWNLOAD_SALT, request=link.request, l=link.pk)


def read_download_token(token: str) -> DownloadLink | None:
    """The link, if the token is genuine and bound to its request; expiry and uses are the
    service's to check (they live in the row, so a used-up link stays refused)."""
    found = _read(DOWNLOAD_SALT, token, max_age_days=settings.RIGHTS_DOWNLOAD_DAYS)
    if not found:
        return None
    request, data = found
    return DownloadLink.objects.filter(pk=data.get("l"), request=request).first()
