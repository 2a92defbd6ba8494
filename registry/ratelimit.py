"""Rate limits of the public forms (collection forms, preference-link requests, rights requests).

Each hit is counted for the client's IP address and, when the form names one, for the email address,
with django-ratelimit's counters in the default cache (shared by every process: see CACHES in
settings). The email enters the cache only as a keyed HMAC: the counters never hold it in clear,
so an erasure has nothing to look for there. Rates: settings.RATELIMIT_PER_IP and RATELIMIT_PER_EMAIL.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from typing import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

# django-ratelimit's own default: an IPv6 client usually holds a whole /64.
IPV6_PREFIX = 64
UNKNOWN_CLIENT = "unknown"


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, behind ``TRUSTED_PROXY_COUNT`` proxies, the address
    the outermost of them saw (X-Forwarded-For is only believed from our own proxies)."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return UNKNOWN_CLIENT


def _ip_key(group: str, request: HttpRequest) -> str:
    address = client_ip(request)
    if address == UNKNOWN_CLIENT:
        return address
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False).network_address)
    return address


def email_key(email: str) -> str:
    """The counter's key for an email address: a keyed HMAC of it in a simple normal form."""
    key = settings.PSEUDONYMISATION_KEY.encode()
    return "email:" + hmac.new(key, b"ratelimit\n" + email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _count(request: HttpRequest, *, group: str, key: Callable[[str, HttpRequest], str],
           rate: str) -> tuple[bool, int]:
    try:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    except Exception:  # the cache is down (Redis unreachable): the forms stay open, the logs say why
        logger.exception("rate limit %s not counted: the cache did not answer", group)
        return False, 0
    if usage is None:  # RATELIMIT_ENABLE = False
        return False, 0
    return bool(usage["should_limit"]), max(int(usage["time_left"]), 0)


def rate_limited(request: HttpRequest, *, group: str, email: str = "") -> bool:
    """Counts this hit for the client IP and, when given, for the email; True when either is over its limit."""
    limited, retry_after = _count(request, group=group, key=_ip_key, rate=settings.RATELIMIT_PER_IP)
    if email and email.strip():
        hashed = email_key(email)
        email_limited, email_retry = _count(request, group=group, key=lambda _group, _request: hashed,
                                            rate=settings.RATELIMIT_PER_EMAIL)
        if email_limited:
            limited, retry_after = True, max(retry_after if limited else 0, email_retry)
    if limited:
        request.ratelimit_retry_after = retry_after
    return limited


def too_many_requests(request: HttpRequest) -> HttpResponse:
    """HTTP 429 with a readable page (templates/429.html, French and English), with Retry-After."""
    retry_after = getattr(request, "ratelimit_retry_after", 0) or 60
    minutes = max(1, -(-retry_after // 60))
    response = HttpResponse(render_to_string("429.html", {"minutes": minutes}, request=request), status=429)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response
