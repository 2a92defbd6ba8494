"""Parsing and rendering for the consent API. Rules stay in consent.services and consent.selectors."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.api.prototype_fields import PrototypeFieldsMixin
from registry.models import Channel, DataSubjectCategory, Purpose, PurposeVersion

from .. import ledger, selectors
from ..models import EVIDENCE_NOTE_MAX_LENGTH, ConsentEvent, Contact
from ..normalise import normalise_email, normalise_phone, storable, stored_address_digest
from ..services import CLIENT_ACTION_CHOICES, CLIENT_METHOD_CHOICES

IDENTIFIERS = ("contact_id", "email", "phone", "external_ref")
# Codes only, as the register API has them: one "Language" enum in the OpenAPI schema.
LANGUAGE_CODES = [code for code, _label in settings.LANGUAGES]
# The largest primary key or sequence a BigAutoField / BigIntegerField holds: beyond it the
# database would fail instead of answering "not found".
MAX_BIGINT = 2**63 - 1
CHECK_STATUSES = ["granted", "pending", "refused", "withdrawn", "expired", "objected", "lapsed", selectors.STATUS_NONE]
CHECK_REASONS = [value for name, value in vars(selectors.Reason).items() if name.isupper()]


class InstantField(serializers.DateTimeField):
    """A date-time the database and the ledger can hold in UTC: out of range is a 400, not a 500
    (DRF itself overflows on naive dates near year 1 or 9999)."""

    def to_internal_value(self, value):
        try:
            parsed = super().to_internal_value(value)
            parsed.astimezone(dt_timezone.utc)
        except OverflowError:
            self.fail("overflow")
        return parsed


class CodeRelatedField(serializers.SlugRelatedField):
    """A row by its code or slug; a string PostgreSQL cannot take (storable) is refused here."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not storable(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ErrorsSerializer(serializers.Serializer):
    """Every 400: the messages of each field at fault."""

    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


# --- Contacts -------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    # Plain strings: consent.services normalises and validates them (IDNA, E.164, uniqueness).
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    external_ref = serializers.CharField(required=False, allow_blank=True, max_length=120)
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, required=False)
    collected_at = InstantField(required=False)
    data_subject_categories = CodeRelatedField(
        slug_field="code", many=True, queryset=DataSubjectCategory.objects.all(), required=False
    )
    duplicate_candidates = serializers.SerializerMethodField(
        help_text=_("Ids of other contacts sharing this phone number.")
    )

    class Meta:
        model = Contact
        fields = (
            "id", "email", "phone", "first_name", "last_name", "address_line1", "address_line2", "postal_code",
            "city", "country", "language", "external_ref", "source", "collected_at", "data_subject_categories",
            "restricted", "anonymised_at", "created_at", "duplicate_candidates",
        )
        read_only_fields = ("restricted", "anonymised_at", "created_at")

    def get_duplicate_candidates(self, obj) -> list[int]:
        return [other.pk for other in selectors.contact_duplicate_candidates(contact=obj)]


# --- Identifying a contact --------------------------------------------------------------------


class ContactIdentifierSerializer(PrototypeFieldsMixin, serializers.Serializer):
    """Exactly one of ``contact_id``, ``email``, ``phone``, ``external_ref``. Parsed by every API
    write and every check: its fields are copied shallowly (registry.api.prototype_fields)."""

    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_BIGINT)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    external_ref = serializers.CharField(required=False, allow_blank=True, max_length=120)

    def validate(self, attrs):
        given = [name for name in IDENTIFIERS if attrs.get(name) not in (None, "") and str(attrs[name]).strip()]
        if len(given) != 1:
            message = (_("Give one of contact_id, email, phone or external_ref.") if not given
                       else _("Give only one of contact_id, email, phone or external_ref."))
            raise serializers.ValidationError({name: [message] for name in (given or IDENTIFIERS)})
        attrs["identifier"] = (given[0], attrs[given[0]])
        return attrs


def contact_lookup(identifier: tuple[str, object]) -> Contact | None:
    """The contact named by ``(field, value)``, or None; a value that does not parse is a 400 on its field."""
    field, value = identifier
    try:
        return selectors.contact_find(**{field: value})
    except DjangoValidationError as exc:
        raise serializers.ValidationError({field: exc.messages})


def refuse_a_shared_phone(identifier: tuple[str, object]) -> None:
    """A phone names a contact only when no other contact holds it: the API takes no names to tell
    the holders of a shared landline apart (the staff pages and the import do), so it never records
    consent on one of them, nor answers a check, in another's place. A 400 on ``phone`` naming them."""
    field, value = identifier
    if field != "phone":
        return
    try:
        holders = list(selectors.phone_holders(phone=str(value)).values_list("pk", flat=True)[:10])  # named: ten at most
    except DjangoValidationError:
        return  # not a number: the look-up says so on the same field
    if len(holders) > 1:
        raise serializers.ValidationError({"phone": [
            _("Several contacts share this phone number (%(contacts)s): name the contact by contact_id, email "
              "or external_ref.") % {"contacts": ", ".join(f"#{pk}" for pk in holders)}
        ]})


# --- Events ---------------------------------------------------------------------------------


@functools.cache
def _row_converters(model, vendor: str) -> list[tuple]:
    """Per concrete column of ``model``: (column expression, the converters the ORM would apply)."""
    columns = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        columns.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
    return columns


def _model_from_row(model, values: list):
    """An instance of ``model`` from its concrete columns as a raw cursor returned them (with the
    ORM's converters, e.g. SQLite's booleans), or None when the LEFT JOIN found no row."""
    if values[0] is None:
        return None
    converted = []
    for (column, converters), value in zip(_row_converters(model, connection.vendor), values):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field in model._meta.concrete_fields], converted)


# Identifier -> the contact column selectors.contact_find compares it with (in normal form).
_IDENTIFIER_COLUMNS = {"contact_id": "id", "email": "email", "phone": "phone", "external_ref": "external_ref"}


@functools.cache
def _event_rows_sql(contact_column: str | None, with_tail: bool = False) -> str:
    def quoted(model, name: str | None = None) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column if name else model._meta.db_table)

    def columns(alias: str, model) -> str:
        return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)

    # Email and external reference are unique where not empty (partial indexes): saying so lets the
    # prepared statement's generic plan use them (the value is never empty).
    not_empty = f" AND c.{quoted(Contact, contact_column)} <> ''" if contact_column in ("email", "external_ref") else ""
    contact_columns, contact_join, tail_columns, tail_joins, last = "", "", "", "", ""
    if contact_column:
        contact_columns = f", {columns('c', Contact)}"
        contact_join = f"""
          LEFT JOIN {quoted(Contact)} c ON c.{quoted(Contact, contact_column)} = %s{not_empty}"""
        last = """
         ORDER BY c.id
         LIMIT 1"""
        if with_tail:
            select, tail_joins = ledger.tail_columns("c.id", "p.id", "ch.id")
            tail_columns = f", {select}"
    return f"""
        SELECT {columns("p", Purpose)}, {columns("ch", Channel)},
               COALESCE((SELECT MAX(v.{quoted(PurposeVersion, "version")}) FROM {quoted(PurposeVersion)} v
                          WHERE v.{quoted(PurposeVersion, "purpose")} = p.id
                            AND v.{quoted(PurposeVersion, "change_kind")} = %s), 0){contact_columns}{tail_columns}
          FROM (SELECT 1 AS one) one
          LEFT JOIN {quoted(Purpose)} p ON p.{quoted(Purpose, "slug")} = %s
          LEFT JOIN {quoted(Channel)} ch ON ch.{quoted(Channel, "code")} = %s{contact_join}{tail_joins}{last}"""


@dataclass(frozen=True)
class TailWanted:
    """What the API's append will ask the ledger (ledger.Tail.asked, but the ids), so that its first
    query reads the tail too (PostgreSQL)."""

    idempotency_key: str | None
    recorded_by_id: int | None
    address_digest: str | None


@dataclass(frozen=True)
class EventRows:
    """What recording one event reads before the ledger, in one query (None: no such row)."""

    purpose: Purpose | None
    channel: Channel | None
    material_version: int  # selectors.purpose_material_version
    contact: Contact | None = None
    tail: ledger.Tail | None = None  # read when asked and the three were found


def event_rows(*, purpose_slug: str, channel_code: str, contact_by: tuple[str, object] | None = None,
               tail: TailWanted | None = None) -> EventRows:
    """The purpose by slug, the channel by code, the purpose's latest material version and, given
    ``contact_by`` (an identifier in stored form: field, value), the contact as contact_find finds
    it (the oldest of a shared phone), in one query; with ``tail`` (and a contact, on PostgreSQL),
    the ledger's tail for appending to that pair, in the same query."""
    column = _IDENTIFIER_COLUMNS[contact_by[0]] if contact_by else None
    with_tail = tail is not None and contact_by is not None and connection.vendor == "postgresql"
    params = [PurposeVersion.ChangeKind.MATERIAL.value]
    if with_tail:
        params += ledger.tail_params(idempotency_key=tail.idempotency_key, recorded_by_id=tail.recorded_by_id,
                                     notice_sha256=None, address_digest=tail.address_digest)
    params += [purpose_slug, channel_code] + ([contact_by[1]] if contact_by else [])
    with ledger.prepared_cursor() as cursor:
        cursor.execute(_event_rows_sql(column, with_tail), params)
        row = list(cursor.fetchone())
    widths = [len(model._meta.concrete_fields) for model in (Purpose, Channel, Contact)]
    ends = [widths[0], widths[0] + widths[1], widths[0] + widths[1] + 1 + widths[2]]
    rows = EventRows(_model_from_row(Purpose, row[:ends[0]]), _model_from_row(Channel, row[ends[0]:ends[1]]),
                     row[ends[1]] or 0, _model_from_row(Contact, row[ends[1] + 1:ends[2]]) if contact_by else None)
    if with_tail and rows.purpose and rows.channel and rows.contact:
        asked = (rows.contact.pk, rows.purpose.pk, rows.channel.pk, tail.idempotency_key, tail.recorded_by_id,
                 tail.address_digest)
        rows = EventRows(rows.purpose, rows.channel, rows.material_version, rows.contact,
                         ledger.tail_from_row(row[ends[2]:ends[2] + ledger.TAIL_WIDTH], asked=asked,
                                              address_digest=tail.address_digest))
    return rows


def _stored_identifier(data) -> tuple[tuple[str, object], object] | None:
    """The one identifier of a request body as the fields will validate it, and its value in the
    form contact_find compares; None when that is not plain: then the view looks the contact up."""
    given = [name for name in IDENTIFIERS if data.get(name) not in (None, "")]
    if len(given) != 1:
        return None
    field, value = given[0], data[given[0]]
    try:
        if field == "contact_id":
            return ((field, value), value) if type(value) is int and 1 <= value <= MAX_BIGINT else None
        if not isinstance(value, str) or not storable(value) or not value.strip():
            return None
        value = value.strip()
        stored = {"email": normalise_email, "phone": normalise_phone}.get(field, str.strip)(value)
    except DjangoValidationError:
        return None
    return (field, value), stored


def direct_identifier(data: dict) -> tuple[str, str] | None:
    """(field, stored value) of a body naming its contact by one email or phone that the
    identifier's fields take as they are (services.consent_record_direct); None otherwise."""
    found = _stored_identifier(data)
    if found is None or found[0][0] not in ("email", "phone"):
        return None
    (field, given), stored = found
    if len(given) > ContactIdentifierSerializer._declared_fields[field].max_length:
        return None
    return field, stored


class _PrefetchedCodeField(CodeRelatedField):
    """CodeRelatedField answered from the row its serializer read together with the other one
    (``ConsentEventCreateSerializer.codes``); the same look-up and messages for any other value."""

    def to_internal_value(self, data):
        read = getattr(self.parent, "codes", {}).get(self.field_name)
        if read is None or read[0] != data:
            return super().to_internal_value(data)
        if read[1] is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return read[1]


class _CodeChoiceField(serializers.ChoiceField):
    """A code among ``choices``, whose error names the codes a client may send ({codes})."""

    def fail(self, key, **kwargs):
        if key == "invalid_choice":  # DRF's own check, its message given the codes
            kwargs["codes"] = ", ".join(self.choice_strings_to_values)
        super().fail(key, **kwargs)


class ConsentEventCreateSerializer(ContactIdentifierSerializer):
    create_contact = serializers.BooleanField(
        required=False, default=False,
        help_text=_("Create the contact from the email or phone when no contact matches."),
    )
    purpose = _PrefetchedCodeField(slug_field="slug", queryset=Purpose.objects.all())
    channel = _PrefetchedCodeField(slug_field="code", queryset=Channel.objects.all())
    action = _CodeChoiceField(
        choices=CLIENT_ACTION_CHOICES,
        error_messages={"invalid_choice": _("“{input}” is not an action you may record: expected one of {codes} "
                                            "(expired and lapsed are written by DPO Desk itself).")})
    method = _CodeChoiceField(
        choices=CLIENT_METHOD_CHOICES,
        error_messages={"invalid_choice": _("“{input}” is not a method you may record: expected one of {codes} "
                                            "(expiry, register change and erasure are DPO Desk's own).")})
    effective_at = InstantField(required=False)
    notice_text = serializers.CharField(
        required=False, trim_whitespace=False,
        help_text=_("The exact text shown to the contact; defaults to the purpose's current text."),
    )
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, required=False)
    collection_form = serializers.CharField(required=False, allow_blank=True, max_length=80, default="")
    evidence_ip = serializers.IPAddressField(required=False, allow_null=True, default=None,
                                             help_text=_("The contact's IP address (not the caller's)."))
    evidence_user_agent = serializers.CharField(required=False, allow_blank=True, default="",
                                                help_text=_("The contact's browser; kept up to 512 characters."))
    evidence_note = serializers.CharField(required=False, allow_blank=True, default="",
                                          max_length=EVIDENCE_NOTE_MAX_LENGTH)

    # Read with the purpose and the channel: the purpose's latest material version (for the
    # response's check) and the contact named by the identifier, as (identifier, contact).
    material_version: int | None = None
    contact_read: tuple[tuple[str, object], Contact] | None = None
    read_ahead: ledger.Tail | None = None  # the ledger's tail for the append, when the context asks

    def to_internal_value(self, data):
        # The purpose, the channel and the contact in one query; the fields then answer from it.
        purpose, channel = (data.get("purpose"), data.get("channel")) if hasattr(data, "get") else (None, None)
        if all(isinstance(code, str) and code and storable(code) for code in (purpose, channel)):
            identifier = _stored_identifier(data)
            rows = event_rows(purpose_slug=purpose, channel_code=channel,
                              contact_by=(identifier[0][0], identifier[1]) if identifier else None,
                              tail=self._tail_wanted(identifier, channel))
            self.codes = {"purpose": (purpose, rows.purpose), "channel": (channel, rows.channel)}
            self.material_version = rows.material_version
            if rows.contact is not None:
                self.contact_read = (identifier[0], rows.contact)
                self.read_ahead = rows.tail
        return super().to_internal_value(data)

    def _tail_wanted(self, identifier, channel_code: str) -> TailWanted | None:
        """The context's ``append`` (idempotency key, author's id) as the ledger will be asked: the
        address is guessed from the identifier (an email on the email channel); a wrong guess only
        costs the append its own read."""
        append = self.context.get("append")
        if append is None or identifier is None:
            return None
        (field, _given), stored = identifier
        address = (selectors.contact_addresses(contact=Contact(**{field: stored})).get(channel_code)
                   if field in ("email", "phone") else None)
        return TailWanted(append[0], append[1], stored_address_digest(channel_code, address) if address else None)

    def contact(self) -> Contact | None:
        """contact_lookup of the validated identifier, without a query when it was read already; a
        phone held by several contacts is a 400 (refuse_a_shared_phone)."""
        identifier = self.validated_data["identifier"]
        if self.contact_read is not None and self.contact_read[0] == identifier:
            found = self.contact_read[1]
        else:
            found = contact_lookup(identifier)
        if found is not None:
            refuse_a_shared_phone(identifier)
        return found

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["create_contact"] and attrs["identifier"][0] not in ("email", "phone"):
            raise serializers.ValidationError(
                {"create_contact": [_("A contact can only be created from an email or a phone.")]}
            )
        return attrs


class ConsentEventSerializer(serializers.ModelSerializer):
    contact_id = serializers.IntegerField(read_only=True)
    purpose = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    notice_sha256 = serializers.SerializerMethodField(help_text=_("SHA-256 of the notice shown, if any."))

    class Meta:
        model = ConsentEvent
        fields = ("id", "sequence", "contact_id", "purpose", "purpose_version", "channel", "action", "method",
                  "effective_at", "recorded_at", "notice_sha256", "hash")
        read_only_fields = fields

    def get_notice_sha256(self, obj) -> str | None:
        return obj.notice.sha256 if obj.notice_id else None


class CheckResultSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    status = serializers.ChoiceField(choices=CHECK_STATUSES)
    since = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.ChoiceField(choices=CHECK_REASONS)
    regime = serializers.ChoiceField(choices=["consent", "opt_out"],
                                     help_text=_("consent: prior opt-in needed; opt_out: allowed unless objected."))


class RecordedEventSerializer(ConsentEventSerializer):
    state = serializers.SerializerMethodField(help_text=_("The check for this contact, purpose and channel now."))

    class Meta(ConsentEventSerializer.Meta):
        fields = ConsentEventSerializer.Meta.fields + ("state",)
        read_only_fields = fields

    @extend_schema_field(CheckResultSerializer)
    def get_state(self, obj) -> dict:
        result = self.context.get("check") or selectors.consent_check(
            contact=obj.contact, purpose=obj.purpose, channel=obj.channel)
        return CheckResultSerializer(result.as_dict()).data

    def to_representation(self, instance):
        """What the fields above give (a test compares both), written out: building this
        ModelSerializer's fields costs more than the rest of an API write. ``fields_representation``
        is the reference."""
        return recorded_event_data(instance, self.context.get("check"))

    def fields_representation(self, instance):
        return super().to_representation(instance)


def recorded_event_data(instance, check=None) -> dict:
    """RecordedEventSerializer's representation of ``instance``, its state the ``check`` given
    (None: checked now), without building a serializer."""
    result = check or selectors.consent_check(contact=instance.contact, purpose=instance.purpose,
                                              channel=instance.channel)
    instant = _INSTANT.to_representation
    return {
        "id": instance.pk, "sequence": instance.sequence, "contact_id": instance.contact_id,
        "purpose": instance.purpose.slug, "purpose_version": instance.purpose_version,
        "channel": instance.channel.code, "action": instance.action, "method": instance.method,
        "effective_at": instant(instance.effective_at), "recorded_at": instant(instance.recorded_at),
        "notice_sha256": instance.notice.sha256 if instance.notice_id else None, "hash": instance.hash,
        "state": {
            "allowed": result.allowed, "status": result.status,
            "since": instant(result.since) if result.since is not None else None,
            "expires_at": instant(result.expires_at) if result.expires_at is not None else None,
            "reason": result.reason, "regime": result.regime,
        },
    }


_INSTANT = serializers.DateTimeField()  # its ISO 8601 output in the current time zone


class EventFeedQuerySerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_BIGINT)
    after = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_BIGINT,
                                     help_text=_("Cursor: the sequence of the last event already seen."))
    limit = serializers.IntegerField(required=False, default=500, min_value=1, max_value=5000)


class EventFeedSerializer(serializers.Serializer):
    results = ConsentEventSerializer(many=True)
    next_cursor = serializers.IntegerField(help_text=_("Pass it as ?after= to get the following events."))


# --- Check ----------------------------------------------------------------------------------


class DeferredCodeField(CodeRelatedField):
    """A slug or code parsed as CodeRelatedField does, but not looked up here: the value stays the
    string (the check reads the row with everything else in one query, then calls unknown())."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not storable(data):  # CodeRelatedField's rule
            self.fail("invalid")
        return data

    def unknown(self, value: str) -> str:
        """CodeRelatedField's message for a slug or code that names no row."""
        return self.error_messages["does_not_exist"].format(slug_name=self.slug_field, value=value)


class CheckQuerySerializer(ContactIdentifierSerializer):
    """The check's query. An unknown purpose or channel is a 400 on its field, reported before any
    identifier error, as when the fields looked their rows up themselves."""

    purpose = DeferredCodeField(slug_field="slug", queryset=Purpose.objects.all())
    channel = DeferredCodeField(slug_field="code", queryset=Channel.objects.all())

    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except serializers.ValidationError:
            self._refuse_unknown_codes(attrs["purpose"], attrs["channel"])
            raise

    def _refuse_unknown_codes(self, purpose: str, channel: str, unknown: tuple[str, ...] | None = None) -> None:
        if unknown is None:  # an error path: the look-up has not run
            unknown = selectors.check_codes_unknown(purpose_slug=purpose, channel_code=channel)
        values = {"purpose": purpose, "channel": channel}
        if unknown:
            raise serializers.ValidationError({name: [self.fields[name].unknown(values[name])] for name in unknown})

    def answer(self) -> selectors.CheckResult:
        """The check for the validated query (selectors.consent_check_lookup: one query, and the
        suppression list's when needed); a 400 on the field at fault as the view gave it before."""
        params = self.validated_data
        field = params["identifier"][0]
        try:
            lookup = selectors.consent_check_lookup(purpose_slug=params["purpose"], channel_code=params["channel"],
                                                    identifier=params["identifier"])
        except DjangoValidationError as exc:  # as contact_lookup, after the unknown codes
            self._refuse_unknown_codes(params["purpose"], params["channel"])
            raise serializers.ValidationError({field: exc.messages})
        self._refuse_unknown_codes(params["purpose"], params["channel"], lookup.unknown)
        if lookup.result.reason != selectors.Reason.UNKNOWN_CONTACT:
            refuse_a_shared_phone(params["identifier"])
        return lookup.result


class ReceiptQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "kantara", "pdf"], default="json")
    language = serializers.ChoiceField(choices=["fr", "en"], required=False)


class RecordQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "pdf"], default="json")
    language = serializers.ChoiceField(choices=["fr", "en"], required=False)


# --- Audience -------------------------------------------------------------------------------


class AudienceQuerySerializer(serializers.Serializer):
    purpose = CodeRelatedField(slug_field="slug", queryset=Purpose.objects.all())
    channel = CodeRelatedField(slug_field="code", queryset=Channel.objects.all())
    format = serializers.ChoiceField(choices=["csv", "ndjson"], default="csv")

    def validate(self, attrs):
        purpose, channel = attrs["purpose"], attrs["channel"]
        if purpose.status != Purpose.Status.ACTIVE:
            raise serializers.ValidationError({"purpose": [_("This purpose is not active.")]})
        if not purpose.channels.filter(pk=channel.pk).exists():
            raise serializers.ValidationError({"channel": [
                _("The purpose %(purpose)s does not use the channel %(channel)s.")
                % {"purpose": purpose.slug, "channel": channel.code}
            ]})
        return attrs


class AudienceRowSerializer(serializers.Serializer):
    """One line of the audience (a CSV row, or one NDJSON object)."""

    contact_id = serializers.IntegerField()
    external_ref = serializers.CharField()
    address = serializers.CharField(help_text=_("Email, E.164 phone number or postal address on one line."))
    language = serializers.CharField()
    unsubscribe_url = serializers.URLField()
