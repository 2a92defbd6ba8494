"""Baseline views of the benchmarks: what a bare Django request costs on the same stack."""
from __future__ import annotations

from django import forms
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

BARE_TABLE = "bench_bare_post"


def ping(request):
    """GET: the whole middleware stack, no query."""
    return JsonResponse({"ok": True})


class BareEventForm(forms.Form):
    email = forms.EmailField()
    purpose = forms.SlugField(max_length=80)
    channel = forms.SlugField(max_length=20)
    action = forms.CharField(max_length=20)
    method = forms.CharField(max_length=20)


def ensure_bare_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} (id bigserial PRIMARY KEY, email varchar(254) NOT NULL,"
                       " purpose varchar(80) NOT NULL, channel varchar(20) NOT NULL, action varchar(20) NOT NULL,"
                       " method varchar(20) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")


@csrf_exempt
def bare_post(request):
    """POST: a plain Django form, validated, then one INSERT."""
    form = BareEventForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    data = form.cleaned_data
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BARE_TABLE} (email, purpose, channel, action, method) "
                       "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                       [data["email"], data["purpose"], data["channel"], data["action"], data["method"]])
        row_id = cursor.fetchone()[0]
    return JsonResponse({"id": row_id}, status=201)


# --- What-if (NOT app code): consent/check/ with its reads folded into one query ---------------


def _what_if_check_sql() -> str:
    from consent.models import Contact
    from registry.models import Purpose

    purpose_channels = Purpose.channels.through._meta.db_table
    purpose_categories = Purpose.data_subject_categories.through._meta.db_table
    contact_categories = Contact.data_subject_categories.through._meta.db_table
    return f"""
        SELECT p.status, p.legal_basis, ch.id,
               EXISTS (SELECT 1 FROM {purpose_channels} pc WHERE pc.purpose_id = p.id AND pc.channel_id = ch.id),
               COALESCE((SELECT max(v.version) FROM registry_purposeversion v
                          WHERE v.purpose_id = p.id AND v.change_kind = 'material'), 0),
               c.id, c.anonymised_at, c.restricted, c.email, c.phone, c.address_line1, c.address_line2,
               c.postal_code, c.city,
               s.status, s.purpose_version, s.since, s.expires_at,
               EXISTS (SELECT 1 FROM {purpose_categories} t WHERE t.purpose_id = p.id),
               EXISTS (SELECT 1 FROM {purpose_categories} t JOIN {contact_categories} l
                               ON l.datasubjectcategory_id = t.datasubjectcategory_id
                        WHERE t.purpose_id = p.id AND l.contact_id = c.id)
          FROM registry_purpose p
          JOIN registry_channel ch ON ch.code = %s
          LEFT JOIN consent_contact c ON c.email = %s
          LEFT JOIN consent_consentstate s ON s.contact_id = c.id AND s.purpose_id = p.id AND s.channel_id = ch.id
         WHERE p.slug = %s"""


def what_if_check_result(purpose_slug: str, channel_code: str, email: str):
    """NOT app code: consent.selectors.consent_check's answer for a contact given by email, from ONE
    query (register rows, contact, current consent, categories) plus the suppression lookup when the
    contact has an address on the channel, using the app's own rules (effective_status,
    suppression_blocks, contact_addresses, the reasons). None when the purpose or channel is unknown."""
    from types import SimpleNamespace

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from consent.models import Action, SuppressionEntry
    from consent.normalise import normalise_email, suppression_digest
    from consent.selectors import (
        _CONSENT_REASONS,
        STATUS_NONE,
        CheckResult,
        Reason,
        contact_addresses,
        effective_status,
        suppression_blocks,
    )
    from registry.models import LegalBasis, Purpose

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_what_if_check_sql(), [channel_code, normalise_email(email), purpose_slug])
        row = cursor.fetchone()
    if row is None:
        return None
    (purpose_status, legal_basis, channel_id, channel_ok, material, contact_id, anonymised_at, restricted, c_email,
     c_phone, line1, line2, postal_code, city, state_status, state_version, since, expires_at, targeted,
     in_category) = row
    if contact_id is None:
        return CheckResult(False, STATUS_NONE, Reason.UNKNOWN_CONTACT)
    if anonymised_at:
        return CheckResult(False, STATUS_NONE, Reason.ANONYMISED)
    purpose = SimpleNamespace(status=purpose_status, legal_basis=legal_basis)
    state = None if state_status is None else SimpleNamespace(status=state_status, purpose_version=state_version,
                                                              since=since, expires_at=expires_at)
    status = effective_status(state=state, purpose=purpose, material_version=material, now=now)
    consent_based = legal_basis == LegalBasis.CONSENT
    regime = "consent" if consent_based else "opt_out"

    def no(reason):
        return CheckResult(False, status, reason, since, expires_at, regime)

    if purpose_status != Purpose.Status.ACTIVE:
        return no(Reason.OUTDATED_VERSION)
    if not channel_ok:
        return no(Reason.CHANNEL_NOT_ALLOWED)
    if restricted:
        return no(Reason.RESTRICTED)
    contact = SimpleNamespace(email=c_email, phone=c_phone, address_line1=line1, address_line2=line2,
                              postal_code=postal_code, city=city)
    address = contact_addresses(contact=contact).get(channel_code, "")
    if address:
        try:
            digest = suppression_digest(channel_code, address)
        except ValidationError:
            digest = None
        if digest:
            entries = SuppressionEntry.objects.filter(channel_id=channel_id, digest=digest).values_list(
                "source", "created_at")
            granted_since = since if consent_based and status == Action.GRANTED else None
            if suppression_blocks(entries, granted_since=granted_since):
                return no(Reason.SUPPRESSED)
    if consent_based:
        if status == Action.GRANTED:
            return CheckResult(True, status, Reason.CONSENT_GRANTED, since, expires_at, regime)
        return no(_CONSENT_REASONS.get(status, Reason.NO_CONSENT))
    if status == Action.OBJECTED:
        return no(Reason.OBJECTED)
    if targeted and not in_category:
        return no(Reason.NOT_IN_CATEGORY)
    return CheckResult(True, status, Reason.NO_CONSENT, since, expires_at, regime)


def _what_if_check_view():
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from consent.api.serializers import CheckResultSerializer
    from consent.models import ConsentState

    class WhatIfCheckView(APIView):
        """GET /bench/what-if-check/?purpose=&channel=&email=: same authentication and permission as
        consent/check/ (the DRF defaults, consent.view_consentstate), the answer of what_if_check_result."""

        queryset = ConsentState.objects.none()

        def get(self, request):
            params = request.query_params
            result = what_if_check_result(params.get("purpose", ""), params.get("channel", ""), params.get("email", ""))
            if result is None:
                return Response({"errors": {"purpose": ["unknown"]}}, status=400)
            return Response(CheckResultSerializer(result.as_dict()).data)

    return WhatIfCheckView.as_view()


def _drf_ping_view():
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from consent.models import ConsentState

    class DRFPingView(APIView):
        """GET /bench/drf-ping/: the floor of any API call, DRF with the app's token authentication and
        role permission (consent.view_consentstate, as consent/check/), no query of its own."""

        queryset = ConsentState.objects.none()

        def get(self, request):
            return Response({"ok": True})

    return DRFPingView.as_view()


what_if_check = _what_if_check_view()
drf_ping = _drf_ping_view()
