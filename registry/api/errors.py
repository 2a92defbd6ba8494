"""Every API error as JSON (design §4): validation errors as {"errors": {field: [messages]}} with
400; 401, 403 and 404 as DRF answers them, {"detail": message}."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from django.utils.translation import gettext as _

from .. import views
from . import PATH_PREFIX


def _as_field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {field: value if isinstance(value, (list, dict)) else [value] for field, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Django would answer its HTML "Bad Request" page; an API client gets JSON, and the limit.
        return Response({"errors": {"body": [
            _("The request body is larger than %(limit)s bytes.") % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
        ]}}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (ValueError, DataError)) and "NUL" in str(exc):
        # PostgreSQL refuses NUL characters in text; whatever field carried one, it is bad input.
        exc = exceptions.ValidationError({"non_field_errors": [_("Text may not contain NUL characters.")]})
    if isinstance(exc, DjangoValidationError):
        # A service refused the input (full_clean): the same 400 as a serializer error.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        # get_object_or_404's message is English whatever the language and names our model
        # ("No ConsentEvent matches the given query."): DRF's own, translated, says the same.
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return Response({"errors": _as_field_errors(response.data)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ParseError):
        return Response({"errors": {"body": [exc.detail]}}, status=status.HTTP_400_BAD_REQUEST)
    return response


def _detail(detail, status_code: int) -> HttpResponse:
    """DRF's error shape, {"detail": message}, for the Django views that answer under the API."""
    return HttpResponse(JSONRenderer().render({"detail": detail}), status=status_code,
                        content_type="application/json")


def page_not_found(request, exception):
    """Django's handler404 (config/urls.py). A path under the API that no view answers gets the
    API's 404, {"detail": ...} in JSON, instead of the public HTML page."""
    if request.path_info.startswith(PATH_PREFIX):
        return _detail(exceptions.NotFound.default_detail, status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def csrf_failure(request, reason: str = ""):
    """settings.CSRF_FAILURE_VIEW. DRF's views check CSRF themselves (session authentication) and
    answer {"detail": ...}; a path under the API that Django's middleware refuses gets the same
    shape, never the HTML page. Elsewhere, the public page (registry.views.csrf_failure)."""
    if request.path_info.startswith(PATH_PREFIX):
        # Django's own sentence, from its catalogue; the reason is logged, not sent.
        return _detail(_("CSRF verification failed. Request aborted."), status.HTTP_403_FORBIDDEN)
    return views.csrf_failure(request, reason)
