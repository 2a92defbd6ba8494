from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme

from . import selectors
from .models import Job


def job_download(request, job_id: int):
    """Serve a job's output from private storage: a valid signed link, or a user allowed to view jobs."""
    job = get_object_or_404(Job, pk=job_id)
    token = request.GET.get("token", "")
    allowed = (token and selectors.job_token_valid(job_id=job.pk, token=token,
                                                    max_age=settings.JOB_DOWNLOAD_LINK_MAX_AGE)) or (
        request.user.is_authenticated and request.user.has_perm("registry.view_job")
    )
    if not allowed:
        raise PermissionDenied
    if job.status != Job.Status.DONE or not job.output:
        raise Http404
    response = FileResponse(job.output.open("rb"), as_attachment=True, filename=job.output_name or None)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _same_origin_referer(request) -> str:
    """The page the visitor came from, as a path on this site, or "" when the Referer is missing or
    from elsewhere (a trusted origin included): the link back never leads off the site."""
    referer = urlsplit(request.headers.get("Referer", ""))
    if (referer.scheme, referer.netloc) != (request.scheme, request.get_host()):
        return ""
    back = (referer.path or "/") + (f"?{referer.query}" if referer.query else "")
    # "https://host//evil.example/" has the path "//evil.example/", a link to another site.
    return back if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) else ""


def csrf_failure(request, reason: str = ""):
    """The public HTML page of settings.CSRF_FAILURE_VIEW (see registry.api.errors.csrf_failure):
    a form posted without a valid CSRF cookie and token, because it stayed open too long or the
    browser blocks cookies. ``reason`` is Django's, already logged by its CSRF middleware
    (django.security.csrf); it may quote request headers, so the page never shows it."""
    back = _same_origin_referer(request)
    language = translation.get_language()
    if back and request.path_info == reverse("set_language"):
        # The language switch's URL carries no language: answer in the one of the page it was used on.
        language = translation.get_language_from_path(back) or settings.LANGUAGE_CODE
    with translation.override(language):
        response = render(request, "403_csrf.html", {"back": back}, status=403)
    response["Cache-Control"] = "no-store"
    # The link back may carry a token (the preference centre's): no Referer leaves with it.
    response["Referrer-Policy"] = "no-referrer"
    return response
