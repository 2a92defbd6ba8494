"""The DPO's consent statistics page in the admin (wired by ConsentStateAdmin.get_urls)."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from . import selectors
from .stats import stats_context

MONTH_CHOICES = (6, 12, 24, 36)


def consent_stats_view(request):
    """Consents per purpose x channel now, and the ledger's events per month as a bar chart."""
    if not request.user.has_perm("consent.view_consentstate"):
        raise PermissionDenied
    try:
        months = int(request.GET.get("months", 12))
    except (TypeError, ValueError):
        months = 12
    if months not in MONTH_CHOICES:
        months = 12
    stats = selectors.consent_stats(months=months)
    context = {
        **admin.site.each_context(request),
        "title": _("Consent statistics"),
        "months_shown": months,
        "month_choices": MONTH_CHOICES,
        **stats_context(stats),
    }
    return TemplateResponse(request, "admin/consent/stats.html", context)
