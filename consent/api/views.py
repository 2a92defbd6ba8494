"""The consent API: contacts, the ledger (record and change feed) and the check.

The views parse, call consent.services / consent.selectors and render; permissions are the
groups' model permissions (registry.roles) through the default RoleModelPermissions.
"""
from __future__ import annotations

import functools
import json

import django_filters
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.authentication import CachedTokenAuthentication, TokenAuth
from registry.api.negotiation import FormatParameterNegotiation
from registry.api.permissions import RoleModelPermissions

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


def _author(request):
    """request.user as the events' author. A token's authentication (request.auth) knows the user's
    id: the user row itself is then not read, the event needs nothing else."""
    user_id = getattr(request.auth, "user_id", None)
    if user_id is None:
        return request.user
    return get_user_model().from_db(DEFAULT_DB_ALIAS, ["id"], [user_id])  # other fields load on use


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
        description="Identify the contact with exactly one of `contact_id`, `email`, `phone`, `external_ref`; "
                    "a phone held by several contacts (a shared landline) names none of them: 400 on `phone`. "
                    "A POST retried by the same client with the same `Idempotency-Key` returns the first "
                    "event (200) instead of recording a second one (201); another client's key never matches. "
                    "The same key with another event (contact, purpose, channel, action or method) is refused "
                    "(400, `idempotency_key`).",
        request=s.ConsentEventCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                     description="Any unique string (at most 120 characters) per logical event; "
                                                 "each API client (user) has its own keys.")],
        responses={201: s.RecordedEventSerializer, 200: s.RecordedEventSerializer, **BAD_REQUEST},
    )
    def post(self, request):
        idempotency_key = _idempotency_key(request)
        author = _author(request)
        # The serializer's query reads the ledger's tail for this append too (PostgreSQL).
        body = s.ConsentEventCreateSerializer(data=request.data, context={"append": (idempotency_key, author.pk)})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        contact = body.contact()
        if contact is None and not data["create_contact"]:
            raise ValidationError({"contact": [
                _("No contact matches this %(field)s.") % {"field": data["identifier"][0]}
            ]})

        def record(contact):
            return services.consent_record(
                contact=contact, purpose=data["purpose"], channel=data["channel"], action=data["action"],
                method=data["method"], effective_at=data.get("effective_at"), recorded_by=author,
                collection_form=data["collection_form"], notice_text=data.get("notice_text"),
                language=data.get("language"), evidence_ip=data["evidence_ip"],
                evidence_user_agent=data["evidence_user_agent"], evidence_note=data["evidence_note"],
                idempotency_key=idempotency_key, read_ahead=body.read_ahead,
            )

        if contact is not None:
            recorded = record(contact)  # consent_record is its own transaction (one statement on PostgreSQL)
        else:
            # One transaction: a contact created here is not kept when the event is refused.
            with transaction.atomic():
                field, value = data["identifier"]
                defaults = {"source": "api"}
                if data.get("language"):
                    defaults["language"] = data["language"]
                contact, _created = services.contact_get_or_create(**{field: value}, **defaults)
                recorded = record(contact)
        check = selectors.consent_check_after_append(event=recorded.event, state=recorded.state,
                                                     material_version=body.material_version,
                                                     suppression=recorded.suppression)
        return Response(s.RecordedEventSerializer(recorded.event, context={"check": check}).data,
                        status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK)


# The body of the common case direct_post answers: an address, the purpose and channel, an action
# and a method; any other field (or value it does not take) goes the usual way.
_DIRECT_FIELDS = frozenset({"email", "phone", "purpose", "channel", "action", "method"})
_CLIENT_ACTIONS = frozenset(value for value, _label in services.CLIENT_ACTION_CHOICES)
_CLIENT_METHODS = frozenset(value for value, _label in services.CLIENT_METHOD_CHOICES)
_JSON_ACCEPTED = {"", "*/*", "application/json"}
# Such a body is a few hundred bytes; a larger one is not the common case (and the view reads it).
_DIRECT_MAX_BODY = 4096


def direct_post(request) -> HttpResponse | None:
    """The API's most common write, without DRF's request cycle (run by
    ``consent.api.middleware``, before the middleware it does not need): a token client (the cached token
    authentication, the same model permission) posting a JSON body that names the contact by its
    address on the channel (services.consent_record_direct). The answer is the view's (status,
    body, headers; the session is never read, so no ``Vary: Cookie``). None whenever anything is
    not that case (another authentication or body, a refusal, an error): the view then runs as
    usual and gives its answer, error messages included."""
    if (request.content_type != "application/json"
            or request.headers.get("Accept", "").strip() not in _JSON_ACCEPTED
            # A request that may carry a session goes to the view, whose answer (a session user's,
            # CSRF checked, when it has no token) the fast path does not try to reproduce.
            or settings.SESSION_COOKIE_NAME in request.COOKIES):
        return None
    try:
        if not 0 < int(request.META.get("CONTENT_LENGTH") or 0) <= _DIRECT_MAX_BODY:
            return None
        authenticated = CachedTokenAuthentication().authenticate(request)
        idempotency_key = _idempotency_key(request)
        # Decoded as the view's JSON parser decodes it: the declared charset, strictly.
        body = json.loads(request.body.decode(request.encoding or settings.DEFAULT_CHARSET))
    except (APIException, ValueError, RecursionError, LookupError, SuspiciousOperation, OSError):
        return None  # the view meets the same and answers as it does (a 401, a 400...)
    if authenticated is None or not isinstance(authenticated[1], TokenAuth):
        return None
    if not authenticated[1].has_perms(_permissions_to_record()):
        return None
    if (type(body) is not dict or not body.keys() <= _DIRECT_FIELDS
            or not all(type(value) is str and s.storable(value) for value in body.values())
            or body.get("action") not in _CLIENT_ACTIONS or body.get("method") not in _CLIENT_METHODS
            or "purpose" not in body or "channel" not in body):
        return None
    identifier = s.direct_identifier(body)
    if identifier is None:
        return None
    user = get_user_model().from_db(DEFAULT_DB_ALIAS, ["id"], [authenticated[1].user_id])
    direct = services.consent_record_direct(
        identifier=identifier, purpose_slug=body["purpose"], channel_code=body["channel"], action=body["action"],
        method=body["method"], recorded_by=user, idempotency_key=idempotency_key)
    if direct is None:
        return None
    recorded = direct.recorded
    check = selectors.consent_check_after_append(event=recorded.event, state=recorded.state,
                                                 material_version=direct.material_version,
                                                 suppression=recorded.suppression)
    response = HttpResponse(JSONRenderer().render(s.recorded_event_data(recorded.event, check)),
                            status=status.HTTP_201_CREATED,
                            content_type="application/json")
    patch_vary_headers(response, ["Accept"])  # as DRF's finalize_response
    response.headers["Allow"] = _allowed_methods()
    return response


@functools.cache
def _allowed_methods() -> str:
    view = ConsentEventView()
    view.setup(None)  # as the view function does (HEAD is answered by GET)
    return ", ".join(view.allowed_methods)


@functools.cache
def _permissions_to_record() -> tuple[str, ...]:
    return tuple(RoleModelPermissions().get_required_permissions("POST", ConsentEvent))


class ConsentCheckView(APIView):
    """May this contact be reached for this purpose on this channel?"""

    queryset = ConsentState.objects.none()  # consent.view_consentstate is the permission asked

    @extend_schema(
        operation_id="v1_consent_check",
        summary="Check whether a contact may be reached",
        description="Give `purpose`, `channel` and exactly one of `contact_id`, `email`, `phone`, `external_ref`. "
                    "A phone held by several contacts (a shared landline) is a 400 on `phone`: name the contact. "
                    "An unknown contact is not an error: `allowed` is false with reason `unknown_contact`.",
        parameters=[s.CheckQuerySerializer],
        responses={200: s.CheckResultSerializer, **BAD_REQUEST},
    )
    def get(self, request):
        query = s.CheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(s.CheckResultSerializer(query.answer().as_dict()).data)


def _document(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


class ConsentEventReceiptView(APIView):
    """The receipt of one consent transaction: `json` (ISO/IEC TS 27560 fields, schema in
    consent/schemas/), `kantara` (Kantara Consent Receipt v1.1) or `pdf`."""

    content_negotiation_class = FormatParameterNegotiation
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

    content_negotiation_class = FormatParameterNegotiation
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


def _audience_csv(rows, *, header: bool = True, batch_rows: int = 1000):
    """CSV lines (csv.writer's dialect, "\\r\\n"), in chunks of bytes; a cell that a spreadsheet would run
    as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe, as in the register's CSV. NDJSON
    gives the values as they are. The PostgreSQL path (audience_copy_chunks) writes the same bytes."""
    import csv
    import io

    from registry.exports.csv_export import excel_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(selectors.AUDIENCE_COLUMNS)
    pending = 0
    for row in rows:
        writer.writerow([row["contact_id"], excel_safe(row["external_ref"]), excel_safe(row["address"]),
                         excel_safe(row["language"]), excel_safe(row["unsubscribe_url"])])
        pending += 1
        if pending >= batch_rows:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue().encode()


def _audience_ndjson(rows, *, batch_rows: int = 1000):
    import json

    lines: list[str] = []
    for row in rows:
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        if len(lines) >= batch_rows:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


class ConsentAudienceView(APIView):
    """Everyone who may be reached for a purpose on a channel, streamed (never held in memory)."""

    content_negotiation_class = FormatParameterNegotiation
    queryset = ConsentState.objects.none()  # consent.view_consentstate is the permission asked

    @staticmethod
    def body(*, purpose, channel, fmt: str, use_copy: bool | None = None):
        """The response's bytes, in chunks: on PostgreSQL built by the database and streamed by COPY
        (about 20 times faster), elsewhere by audience_rows; both write the same bytes."""
        if use_copy is None:
            use_copy = selectors.audience_copy_supported(channel=channel)
        if use_copy:
            chunks = selectors.audience_copy_chunks(purpose=purpose, channel=channel, fmt=fmt)
            if fmt == "csv":
                from itertools import chain

                return chain(_audience_csv(()), chunks)  # the header, then COPY's rows
            return chunks
        rows = selectors.audience_rows(purpose=purpose, channel=channel)
        return _audience_ndjson(rows) if fmt == "ndjson" else _audience_csv(rows)

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
        body = self.body(purpose=purpose, channel=channel, fmt=params["format"])
        if params["format"] == "ndjson":
            response = StreamingHttpResponse(body, content_type="application/x-ndjson")
        else:
            response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="audience-{purpose.slug}-{channel.code}.csv"'
        response["Cache-Control"] = "private, no-store"
        return response
