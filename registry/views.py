from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

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
