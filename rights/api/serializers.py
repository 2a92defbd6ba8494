"""Parsing and rendering for the rights API (design §4). Rules stay in rights.services."""
from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consent.api.serializers import (
    LANGUAGE_CODES,
    CodeRelatedField,
    ErrorsSerializer,
    InstantField,
)
from registry.api.serializers import JobSerializer
from registry.models import Job, Purpose

from .. import selectors, services
from ..models import (
    Capacity,
    Kind,
    ReceivedVia,
    RecipientTask,
    RectificationChange,
    RejectionReason,
    RequestEvent,
    RightsRequest,
    Status,
    VerificationMethod,
)

__all__ = ["ErrorsSerializer"]

# The public web form is the only door that proves the email by a link; everything else is entered
# for the requester (by staff, or by another system that received the request).
API_RECEIVED_VIA = [(value, label) for value, label in ReceivedVia.choices if value != ReceivedVia.WEB_FORM]
STAFF_VERIFICATION_METHODS = [(value, label) for value, label in VerificationMethod.choices
                              if value != VerificationMethod.EMAIL_LINK]
URGENCIES = list(selectors.Urgency.ORDER)


class EnumField(serializers.ChoiceField):
    """A choice field documented as its own named enum in the OpenAPI schema. Field names such as
    `status`, `kind` or `method` carry other choice sets elsewhere in the API (jobs, consent): a
    named component keeps every one of them unambiguous (drf-spectacular would otherwise warn and
    rename the others' enums)."""

    def __init__(self, enum_name: str, choices, **kwargs):
        self.enum_name = enum_name
        super().__init__(choices=choices, **kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def get_name(self):
        return self.target.enum_name

    def map_serializer_field(self, auto_schema, direction):
        choices = [(value, label) for value, label in self.target.choices.items() if value not in ("", None)]
        blank = [""] if self.target.allow_blank else []
        return {"type": "string", "enum": [value for value, _label in choices] + blank,
                "description": "\n".join(f"* `{value}` - {label}" for value, label in choices)}


# --- Input ---------------------------------------------------------------------------------------


class RectificationInputSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=list(services.RECTIFIABLE_FIELDS),
                                    help_text=_("The contact field to correct."))
    value = serializers.CharField(max_length=255, help_text=_("Its new value."))


class RightsRequestCreateSerializer(serializers.Serializer):
    kind = EnumField("RightsRequestKindEnum", Kind.choices)
    requester_name = serializers.CharField(max_length=255)
    requester_email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="",
                                            help_text=_("Required unless received by post, phone or in person."))
    requester_phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    customer_reference = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    details = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, required=False, default="fr",
                                       help_text=_("Language of the emails and proofs sent to the requester."))
    received_via = EnumField("RightsRequestApiReceivedViaEnum", API_RECEIVED_VIA, required=False,
                             default=ReceivedVia.API)
    received_at = InstantField(required=False, help_text=_("When the request reached you (default: now); the "
                                                           "deadline runs from it."))
    purposes = CodeRelatedField(slug_field="slug", many=True, required=False,
                                queryset=Purpose.objects.filter(status=Purpose.Status.ACTIVE),
                                help_text=_("Slugs of the purposes concerned (objection, restriction)."))
    rectifications = RectificationInputSerializer(many=True, required=False,
                                                  help_text=_("For a rectification: the fields and new values."))
    on_behalf = serializers.BooleanField(required=False, default=False)
    subject_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    representative_capacity = serializers.ChoiceField(choices=Capacity.choices, required=False, allow_blank=True,
                                                      default="")

    def validate_received_at(self, value):
        if value > timezone.now() + timedelta(minutes=5):
            raise serializers.ValidationError(_("A request cannot be received in the future."))
        return value


class VerifySerializer(serializers.Serializer):
    method = EnumField("StaffVerificationMethodEnum", STAFF_VERIFICATION_METHODS,
                       help_text=_("How the identity was checked."))
    note = serializers.CharField(max_length=2000, help_text=_("What was checked."))


class ExtendSerializer(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=2)
    reason = serializers.CharField(max_length=2000, help_text=_("Emailed to the requester."))


class AskSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=5000)
    identity_proof = serializers.BooleanField(
        required=False, default=False,
        help_text=_("The question asks for proof of identity (Art. 12(6)): the deadline is suspended until the "
                    "answer."))


class RejectSerializer(serializers.Serializer):
    reason_code = EnumField("RejectionReasonEnum", RejectionReason.choices)
    text = serializers.CharField(max_length=5000, help_text=_("The explanation the requester will read."))


# --- Output --------------------------------------------------------------------------------------


class RequestJobSerializer(JobSerializer):
    status = EnumField("RightsJobStatusEnum", Job.Status.choices, read_only=True)
    url = serializers.SerializerMethodField(help_text=_("The job's API address, to follow its progress."))

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ("url",)

    def get_url(self, obj) -> str:
        url = reverse("jobs-api:job-detail", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class FulfilResponseSerializer(serializers.Serializer):
    job = RequestJobSerializer()


class RightsRequestListSerializer(serializers.ModelSerializer):
    """The minimum of personal data: the details are on the request's own address."""

    kind = EnumField("RightsRequestKindEnum", Kind.choices, read_only=True)
    status = EnumField("RightsRequestStatusEnum", Status.choices, read_only=True)
    received_via = EnumField("RightsRequestReceivedViaEnum", ReceivedVia.choices, read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    urgency = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="rights-api:request-detail", lookup_field="reference")

    class Meta:
        model = RightsRequest
        fields = ("reference", "kind", "status", "received_via", "received_at", "due_on", "urgency", "assignee",
                  "closed_at", "url")

    @extend_schema_field(serializers.ChoiceField(choices=URGENCIES))
    def get_urgency(self, obj) -> str:
        return selectors.request_urgency(request=obj)


class RectificationSerializer(serializers.ModelSerializer):
    value = serializers.CharField(source="new_value")
    decision = EnumField("RectificationDecisionEnum", RectificationChange.Decision.choices, read_only=True)

    class Meta:
        model = RectificationChange
        fields = ("id", "field", "value", "decision", "reason", "decided_at")


class RecipientTaskSerializer(serializers.ModelSerializer):
    confirmed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    mode = EnumField("RecipientTaskModeEnum", RecipientTask.Mode.choices, read_only=True)
    status = EnumField("RecipientTaskStatusEnum", RecipientTask.TaskStatus.choices, read_only=True)

    class Meta:
        model = RecipientTask
        fields = ("id", "name", "mode", "status", "notified_at", "confirmed_at", "confirmed_by", "note")


class TimelineEventSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    code = EnumField("RequestEventCodeEnum", RequestEvent.Code.choices, read_only=True)
    actor = EnumField("RequestEventActorEnum", RequestEvent.Actor.choices, read_only=True)

    class Meta:
        model = RequestEvent
        fields = ("at", "code", "actor", "user", "text", "data")


class RightsRequestDetailSerializer(RightsRequestListSerializer):
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, read_only=True)
    rejection_reason = EnumField("RejectionReasonOrBlankEnum", RejectionReason.choices, allow_blank=True,
                                 read_only=True)
    purposes = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    contacts = serializers.PrimaryKeyRelatedField(many=True, read_only=True,
                                                  help_text=_("Ids of the contacts the request covers."))
    rectifications = RectificationSerializer(many=True, read_only=True)
    tasks = RecipientTaskSerializer(source="recipient_tasks", many=True, read_only=True)
    job = serializers.SerializerMethodField(help_text=_("The latest job carrying the request out, if any."))
    timeline = TimelineEventSerializer(source="events", many=True, read_only=True)

    class Meta(RightsRequestListSerializer.Meta):
        fields = RightsRequestListSerializer.Meta.fields + (
            "language", "requester_name", "requester_email", "requester_phone", "customer_reference", "details",
            "purposes", "on_behalf", "subject_name", "representative_capacity", "mandate_status", "verified_at",
            "verification_method", "extension_months", "extension_reason", "outcome", "rejection_reason",
            "rejection_text", "contacts", "rectifications", "tasks", "job", "timeline",
        )

    @extend_schema_field(RequestJobSerializer(allow_null=True))
    def get_job(self, obj):
        job = selectors.request_fulfil_jobs(request=obj).first()
        return RequestJobSerializer(job, context=self.context).data if job else None
