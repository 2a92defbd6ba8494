"""Django's LocaleMiddleware, with the API's language negotiated from the request."""
from __future__ import annotations

from django.middleware import locale
from django.utils import translation

from registry import api

# Paths outside i18n_patterns (config/urls.py) whose answers are translated: the REST API, its schema
# and docs. Their URL carries no language, so the client says it (Accept-Language).
NEGOTIATED_PATH_PREFIXES = (api.PATH_PREFIX,)


class LocaleMiddleware(locale.LocaleMiddleware):
    """With ``i18n_patterns(prefix_default_language=False)`` Django activates LANGUAGE_CODE for
    every path without a language prefix, inside the patterns or not: the API answered French
    whatever the client asked. Under NEGOTIATED_PATH_PREFIXES the language is Django's usual
    negotiation instead (language cookie, then Accept-Language, else LANGUAGE_CODE); the public
    pages and the admin keep theirs from the URL (``/`` French, ``/en/`` English)."""

    def process_request(self, request):
        if not request.path_info.startswith(NEGOTIATED_PATH_PREFIXES):
            return super().process_request(request)
        translation.activate(translation.get_language_from_request(request))
        request.LANGUAGE_CODE = translation.get_language()
        return None
