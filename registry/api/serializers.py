from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .. import selectors
from ..models import (
    Channel,
    Country,
    DataCategory,
    DataSubjectCategory,
    Job,
    ProcessingActivity,
    Processor,
    Purpose,
    PurposeVersion,
    Recipient,
    SecurityMeasure,
    TransferSafeguard,
)

REFERENCE_FIELDS = ("id", "code", "label_fr", "label_en", "dpv_concept")


class ChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = REFERENCE_FIELDS + ("electronic", "position")


class DataCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = DataCategory
        fields = REFERENCE_FIELDS + ("cnil_group", "special_category", "description")


class DataSubjectCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = DataSubjectCategory
        fields = REFERENCE_FIELDS


class CountrySerializer(serializers.ModelSerializer):
    class Meta:
        model = Country
        fields = REFERENCE_FIELDS + ("iso_code", "adequacy", "adequacy_decision")


class TransferSafeguardSerializer(serializers.ModelSerializer):
    class Meta:
        model = TransferSafeguard
        fields = REFERENCE_FIELDS + ("gdpr_article", "is_valid", "validity_note")


class SecurityMeasureSerializer(serializers.ModelSerializer):
    class Meta:
        model = SecurityMeasure
        fields = REFERENCE_FIELDS + ("kind",)


class RecipientSerializer(serializers.ModelSerializer):
    recipient_type = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Recipient
        fields = ("id", "name", "recipient_type", "description", "country", "dpv_concept")


class ProcessorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Processor
        fields = ("id", "name", "service", "country", "contract_signed_on")


class PurposeVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PurposeVersion
        fields = ("version", "change_kind", "change_note", "name_fr", "name_en", "text_fr", "text_en", "created_at")


class PurposeSerializer(serializers.ModelSerializer):
    activity = serializers.SlugRelatedField(slug_field="reference", queryset=ProcessingActivity.objects.all())
    channels = serializers.SlugRelatedField(slug_field="code", many=True, queryset=Channel.objects.all(),
                                            required=False)
    data_subject_categories = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=DataSubjectCategory.objects.all(), required=False
    )
    legal_basis_dpv = serializers.CharField(read_only=True)
    versions = PurposeVersionSerializer(many=True, read_only=True)
    change_kind = serializers.ChoiceField(
        choices=[PurposeVersion.ChangeKind.MINOR, PurposeVersion.ChangeKind.MATERIAL], write_only=True,
        required=False, help_text=_("Required when the text shown to contacts changes."),
    )
    change_note = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=255)

    class Meta:
        model = Purpose
        fields = (
            "id", "activity", "slug", "name_fr", "name_en", "text_fr", "text_en", "version", "legal_basis",
            "legal_basis_dpv", "legitimate_interest", "legitimate_interest_en", "dpv_purpose", "channels", "data_subject_categories",
            "direct_marketing", "retention_months", "retention_start", "retention_note", "retention_note_en",
            "consent_validity_months", "status", "position", "versions", "change_kind", "change_note",
        )
        read_only_fields = ("version",)


class ActivitySerializer(serializers.ModelSerializer):
    data_subject_categories = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=DataSubjectCategory.objects.all(), required=False
    )
    recipients = serializers.PrimaryKeyRelatedField(many=True, queryset=Recipient.objects.all(), required=False)
    processors = serializers.PrimaryKeyRelatedField(many=True, queryset=Processor.objects.all(), required=False)
    security_measures = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=SecurityMeasure.objects.all(), required=False
    )
    purposes = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    data_categories = serializers.SerializerMethodField()
    transfers = serializers.SerializerMethodField()
    completeness_problems = serializers.SerializerMethodField()

    class Meta:
        model = ProcessingActivity
        fields = (
            "id", "reference", "name", "name_en", "description", "status", "role", "joint_controllers", "owner_department",
            "data_subject_categories", "recipients", "processors", "security_measures", "security_details",
            "data_source", "dpia_required", "dpia_done_on", "started_on", "created_at", "updated_at", "purposes",
            "data_categories", "transfers", "completeness_problems",
        )
        read_only_fields = ("created_at", "updated_at")

    def get_data_categories(self, obj) -> list[dict]:
        return [{"category": link.category.code, "special_category": link.category.special_category,
                 "description": link.description, "description_en": link.description_en,
                 "retention": link.retention, "retention_en": link.retention_en}
                for link in obj.data_category_links.all()]

    def get_transfers(self, obj) -> list[dict]:
        return [{"recipient": t.recipient_name, "country": t.country.code,
                 "safeguard": t.safeguard.code if t.safeguard else None, "dpf_certified": t.dpf_certified,
                 "documentation": t.documentation} for t in obj.transfers.all()]

    def get_completeness_problems(self, obj) -> list[str]:
        return selectors.activity_completeness_problems(activity=obj)


class JobSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ("id", "kind", "status", "progress", "error", "counts", "created_at", "finished_at", "download_url")

    def get_download_url(self, obj) -> str | None:
        url = selectors.job_download_url(job=obj)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if (url and request) else url


class RegisterExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["pdf"])
    language = serializers.ChoiceField(choices=["fr", "en"], required=False)


class RegisterExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "ods", "jsonld"])
