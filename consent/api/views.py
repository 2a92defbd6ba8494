"""The consent API: contacts, the ledger (record and change feed) and the check.

The views parse, call consent.services / consent.selectors and render; permissions are the
groups' model permissions (registry.roles) through the default RoleModelPermissions.
"""
from __future__ import annotations

import django_filters
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import receipts, selectors, services
from ..models import ConsentEvent, ConsentState, Contact
from . import serializers as s

IDEMPOTENCY_KEY_MAX_LENGTH = ConsentEvent._meta.get_field("idempotency_key").max_length
BAD_REQUEST = {400: s.ErrorsSerializer}


class ContactFilter(django_filters.FilterSet):
    """Look-ups by identifier, in the same normal form as the stored values."""

    email = django_filters.CharFilter(method="by_identifier", label="email")
    phone = django_filters.CharFilter(method="by_identifier", label="phone",
                                      help_text="Also returns the other contacts sharing the number.")
    external_ref = django_filters.CharFilter(method="by_identifier", label="external_ref")

    class Meta:
        model = Contact
        fields: list[str] = []

    def by_identifier(self, queryset, name: str, value: str):
        found = s.contact_lookup((name, value))
        if found is None:
            return queryset.none()
        ids = [found.pk]
        if name == "phone":
            ids += [other.pk for other in selectors.contact_duplicate_candidates(contact=found)]
        return queryset.filter(pk__in=ids)


@extend_schema_view(
    list=extend_schema(responses={200: s.ContactSerializer(many=True), **BAD_REQUEST}),
    create=extend_schema(responses={201: s.ContactSerializer, **BAD_REQUEST}),
    update=extend_schema(responses={200: s.ContactSerializer, **BAD_REQUEST}),
    partial_update=extend_schema(responses={200: s.ContactSerializer, **BAD_REQUEST}),
)
class ContactViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Contacts (data subjects). Email and phone are stored normalised; the same email never makes
    two contacts, a shared phone is listed in `duplicate_candidates`."""

    queryset = Contact.objects.prefetch_related("data_subject_categories").order_by("-created_at", "-pk")
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter

    def perform_create(self, serializer):
        serializer.instance = services.contact_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.contact_update(contact=serializer.instance, **serializer.validated_data)


def _idempotency_key(request) -> str | None:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise ValidationError({"idempotency_key": [
            _("The Idempotency-Key header must be at most %(max)d printable characters.")
            % {"max": IDEMPOTENCY_KEY_MAX_LENGTH}
        ]})
    return key


class ConsentEventView(APIView):
    """The consent ledger: record one event (POST) or follow the change feed (GET)."""

    queryset = ConsentEvent.objects.all()  # the model whose permissions apply (view / add)

    @extend_schema(
        operation_id="v1_consent_events_list",
        summary="Change feed of consent events",
        description="Events after the cursor `after` (a sequence number), oldest first, at most `limit`. "
                    "Pass `next_cursor` back as `after` to get the following page.",
        parameters=[s.EventFeedQuerySerializer],
        responses={200: s.EventFeedSerializer, **BAD_REQUEST},
    )
    def get(self, request):
        query = s.EventFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        contact = None
        if "contact_id" in params:
            contact = selectors.contact_find(contact_id=params["contact_id"])
            if contact is None:
                raise ValidationError({"contact_id": [_("No contact has this id.")]})
        events = list(selectors.events_after(cursor=params["after"], contact=contact, limit=params["limit"]))
        return Response({
            "results": s.ConsentEventSerializer(events, many=True).data,
            "next_cursor": events[-1].sequence if events else params["after"],
        })

    @extend_schema(
        operation_id="v1_consent_events_create",
        summary="Record a consent event",
        description="Identify the contact with exactly one of `contact_id`, `email`, `phone`, `external_ref`. "
                    "A POST retried by the same client with the same `Idempotency-Key` returns the first "
                    "event (200) instead of recording a second one (201); another client's key never matches.",
        request=s.ConsentEventCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                     description="Any unique string (at most 120 characters) per logical event; "
                                                 "each API client (user) has its own keys.")],
        responses={201: s.RecordedEventSerializer, 200: s.RecordedEventSerializer, **BAD_REQUEST},
    )
    def post(self, request):
        body = s.ConsentEventCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        idempotency_key = _idempotency_key(request)
        # One transaction: a contact created here is not kept when the event is refused.
        with transaction.atomic():
            contact = s.contact_lookup(data["identifier"])
            if contact is None:
                if not data["create_contact"]:
                    raise ValidationError({"contact": [
                        _("No contact matches this %(field)s.") % {"field": data["identifier"][0]}
                    ]})
                field, value = data["identifier"]
                defaults = {"source": "api"}
                if data.get("language"):
                    defaults["language"] = data["language"]
                contact, _created = services.contact_get_or_create(**{field: value}, **defaults)
            recorded = services.consent_record(
                contact=contact, purpose=data["purpose"], channel=data["channel"], action=data["action"],
                method=data["method"], effective_at=data.get("effective_at"), recorded_by=request.user,
                collection_form=data["collection_form"], notice_text=data.get("notice_text"),
                language=data.get("language"), evidence_ip=data["evidence_ip"],
                evidence_user_agent=data["evidence_user_agent"], evidence_note=data["evidence_note"],
                idempotency_key=idempotency_key,
            )
        return Response(s.RecordedEventSerializer(recorded.event).data,
                        status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK)


class ConsentCheckView(APIView):
    """May this contact be reached for this purpose on this channel?"""

    queryset = ConsentState.objects.none()  # consent.view_consentstate is the permission asked

    @extend_schema(
        operation_id="v1_consent_check",
        summary="Check whether a contact may be reached",
        description="Give `purpose`, `channel` and exactly one of `contact_id`, `email`, `phone`, `external_ref`. "
                    "An unknown contact is not an error: `allowed` is false with reason `unknown_contact`.",
        parameters=[s.CheckQuerySerializer],
        responses={200: s.CheckResultSerializer, **BAD_REQUEST},
    )
    def get(self, request):
        query = s.CheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        contact = s.contact_lookup(params["identifier"])
        result = selectors.consent_check(contact=contact, purpose=params["purpose"], channel=params["channel"])
        return Response(s.CheckResultSerializer(result.as_dict()).data)


def _document(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


class ConsentEventReceiptView(APIView):
    """The receipt of one consent transaction: `json` (ISO/IEC TS 27560 fields, schema in
    consent/schemas/), `kantara` (Kantara Consent Receipt v1.1) or `pdf`."""

    queryset = ConsentEvent.objects.all()  # RoleModelPermissions: consent.view_consentevent

    @extend_schema(parameters=[s.ReceiptQuerySerializer], responses={200: OpenApiTypes.OBJECT, **BAD_REQUEST})
    def get(self, request, pk: int):
        query = s.ReceiptQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        event = get_object_or_404(ConsentEvent.objects.select_related("contact"), pk=pk)
        fmt = query.validated_data["format"]
        if fmt == "json":
            return Response(receipts.receipt_json(event=event))
        if fmt == "kantara":
            return Response(receipts.receipt_kantara(event=event, base_url=settings.PUBLIC_BASE_URL))
        language = query.validated_data.get("language") or event.contact.language
        return _document(receipts.receipt_pdf(event=event, language=language),
                         f"consent-receipt-{event.sequence}.pdf")


class ContactRecordView(APIView):
    """A contact's whole consent record and history: `json`, or a `pdf` certificate."""

    queryset = ConsentEvent.objects.all()

    @extend_schema(parameters=[s.RecordQuerySerializer], responses={200: OpenApiTypes.OBJECT, **BAD_REQUEST})
    def get(self, request, pk: int):
        if not request.user.has_perm("consent.view_contact"):
            raise PermissionDenied
        query = s.RecordQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        contact = get_object_or_404(Contact, pk=pk)
        if query.validated_data["format"] == "json":
            return Response(receipts.contact_record_json(contact=contact))
        language = query.validated_data.get("language") or contact.language
        return _document(receipts.contact_record_pdf(contact=contact, language=language),
                         f"consent-record-{contact.pk}.pdf")


# --- Audience (design §4) -------------------------------------------------------------------


class _Echo:
    """A file-like object whose write() returns the line, for a streamed csv.writer."""

    def write(self, value):
        return value


def _audience_csv(rows):
    """CSV lines; a cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
    leading apostrophe, as in the register's CSV. NDJSON gives the values as they are."""
    import csv

    from registry.exports.csv_export import excel_safe

    writer = csv.writer(_Echo())
    yield writer.writerow(selectors.AUDIENCE_COLUMNS)
    for row in rows:
        yield writer.writerow([excel_safe(str(row[column])) for column in selectors.AUDIENCE_COLUMNS])


def _audience_ndjson(rows):
    import json

    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


class ConsentAudienceView(APIView):
    """Everyone who may be reached for a purpose on a channel, streamed (never held in memory)."""

    queryset = ConsentState.objects.none()  # consent.view_consentstate is the permission asked

    @extend_schema(
        operation_id="v1_consent_audience",
        summary="Audience of a purpose on a channel",
        description="The contacts `consent/check/` would allow for `purpose` on `channel` and who have an "
                    "address on it, streamed as CSV (with a header) or NDJSON (one object per line). "
                    "Columns: `contact_id`, `external_ref`, `address`, `language`, `unsubscribe_url`.",
        parameters=[s.AudienceQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): s.AudienceRowSerializer,
            **BAD_REQUEST,
        },
    )
    def get(self, request):
        from django.http import StreamingHttpResponse

        query = s.AudienceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        purpose, channel = params["purpose"], params["channel"]
        rows = selectors.audience_rows(purpose=purpose, channel=channel)
        if params["format"] == "ndjson":
            response = StreamingHttpResponse(_audience_ndjson(rows), content_type="application/x-ndjson")
        else:
            response = StreamingHttpResponse(_audience_csv(rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="audience-{purpose.slug}-{channel.code}.csv"'
        response["Cache-Control"] = "private, no-store"
        return response
