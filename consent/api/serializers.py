"""Parsing and rendering for the consent API. Rules stay in consent.services and consent.selectors."""
from __future__ import annotations

from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import Channel, DataSubjectCategory, Purpose

from .. import selectors
from ..models import Action, ConsentEvent, Contact, Method

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
    """A row by its code or slug; a NUL character is refused here, as PostgreSQL would fail on it."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
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


class ContactIdentifierSerializer(serializers.Serializer):
    """Exactly one of ``contact_id``, ``email``, ``phone``, ``external_ref``."""

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


# --- Events ---------------------------------------------------------------------------------


class ConsentEventCreateSerializer(ContactIdentifierSerializer):
    create_contact = serializers.BooleanField(
        required=False, default=False,
        help_text=_("Create the contact from the email or phone when no contact matches."),
    )
    purpose = CodeRelatedField(slug_field="slug", queryset=Purpose.objects.all())
    channel = CodeRelatedField(slug_field="code", queryset=Channel.objects.all())
    action = serializers.ChoiceField(choices=Action.choices)
    method = serializers.ChoiceField(choices=Method.choices)
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
    evidence_note = serializers.CharField(required=False, allow_blank=True, default="")

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
        result = selectors.consent_check(contact=obj.contact, purpose=obj.purpose, channel=obj.channel)
        return CheckResultSerializer(result.as_dict()).data


class EventFeedQuerySerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_BIGINT)
    after = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_BIGINT,
                                     help_text=_("Cursor: the sequence of the last event already seen."))
    limit = serializers.IntegerField(required=False, default=500, min_value=1, max_value=5000)


class EventFeedSerializer(serializers.Serializer):
    results = ConsentEventSerializer(many=True)
    next_cursor = serializers.IntegerField(help_text=_("Pass it as ?after= to get the following events."))


# --- Check ----------------------------------------------------------------------------------


class CheckQuerySerializer(ContactIdentifierSerializer):
    purpose = CodeRelatedField(slug_field="slug", queryset=Purpose.objects.all())
    channel = CodeRelatedField(slug_field="code", queryset=Channel.objects.all())


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
