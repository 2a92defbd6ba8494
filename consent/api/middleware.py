"""The API's most common write answered early: ``views.direct_post`` (one statement, no DRF) runs
as a middleware placed after the middleware such a request needs (security headers, the session
middleware that finds no cookie, the API's language, CommonMiddleware) and before those it does
not use: CSRF (DRF's views are exempt; a token needs none), the session user (a token client),
messages and the history request context (nothing here reads or writes them). A request that is
not that case (any other path or method, or one direct_post leaves to the view) goes on through
the whole stack to the view, which gives its usual answer."""
from __future__ import annotations

import functools

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import Resolver404, resolve

from registry import api

from . import views

EVENTS_VIEW_NAME = "consent-api:events"


@functools.lru_cache(maxsize=64)
def is_events_path(path: str) -> bool:
    """Whether ``path`` is routed to the ledger's endpoint (looked up once per path)."""
    try:
        return resolve(path).view_name == EVENTS_VIEW_NAME
    except Resolver404:
        return False


@receiver(setting_changed, dispatch_uid="consent_api_events_path_urlconf")
def _urlconf_changed(setting, **kwargs) -> None:
    if setting == "ROOT_URLCONF":  # as Django clears its own resolvers (tests overriding the URLs)
        is_events_path.cache_clear()


class DirectEventPostMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # The skipped middleware that adds a header to this answer (X-Frame-Options), applied to it.
        self.frame_options = XFrameOptionsMiddleware(get_response)

    def __call__(self, request):
        path = request.path_info
        if request.method == "POST" and path.startswith(api.PATH_PREFIX) and is_events_path(path):
            response = views.direct_post(request)  # looked up here: tests switch it off in views
            if response is not None:
                return self.frame_options.process_response(request, response)
        return self.get_response(request)
