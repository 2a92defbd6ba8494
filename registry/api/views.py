from django.http import HttpResponse
from django.utils.translation import get_language
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..exports import register_export
from ..models import (
    Channel,
    Country,
    DataCategory,
    DataSubjectCategory,
    Job,
    ProcessingActivity,
    Processor,
    Purpose,
    Recipient,
    SecurityMeasure,
    TransferSafeguard,
)
from . import serializers as s
from .negotiation import FormatParameterNegotiation


class ChannelViewSet(viewsets.ModelViewSet):
    queryset = Channel.objects.all()
    serializer_class = s.ChannelSerializer
    lookup_field = "code"


def _reference_viewset(model, serializer, lookup="code"):
    return type(f"{model.__name__}ViewSet", (viewsets.ReadOnlyModelViewSet,), {
        "queryset": model.objects.all(), "serializer_class": serializer, "lookup_field": lookup,
    })


DataCategoryViewSet = _reference_viewset(DataCategory, s.DataCategorySerializer)
DataSubjectCategoryViewSet = _reference_viewset(DataSubjectCategory, s.DataSubjectCategorySerializer)
CountryViewSet = _reference_viewset(Country, s.CountrySerializer)
TransferSafeguardViewSet = _reference_viewset(TransferSafeguard, s.TransferSafeguardSerializer)
SecurityMeasureViewSet = _reference_viewset(SecurityMeasure, s.SecurityMeasureSerializer)
RecipientViewSet = _reference_viewset(Recipient, s.RecipientSerializer, lookup="pk")
ProcessorViewSet = _reference_viewset(Processor, s.ProcessorSerializer, lookup="pk")


class PurposeViewSet(viewsets.ModelViewSet):
    """Purposes. Changing a text shown to contacts needs `change_kind` (minor or material) and bumps the version."""

    queryset = Purpose.objects.select_related("activity").prefetch_related(
        "channels", "data_subject_categories", "versions"
    )
    serializer_class = s.PurposeSerializer
    lookup_field = "slug"
    filterset_fields = ("legal_basis", "status", "direct_marketing", "activity__reference")

    def _split(self, data: dict) -> tuple[dict, dict]:
        meta = {key: data.pop(key) for key in ("change_kind", "change_note") if key in data}
        return data, meta

    def perform_create(self, serializer):
        data, _meta = self._split(dict(serializer.validated_data))
        serializer.instance = services.purpose_create(user=self.request.user, **data)

    def perform_update(self, serializer):
        data, meta = self._split(dict(serializer.validated_data))
        serializer.instance = services.purpose_update(purpose=serializer.instance, user=self.request.user,
                                                      **meta, **data)


class ActivityViewSet(viewsets.ModelViewSet):
    queryset = ProcessingActivity.objects.all()
    serializer_class = s.ActivitySerializer
    lookup_field = "reference"
    filterset_fields = ("status", "dpia_required")

    def get_queryset(self):
        return ProcessingActivity.objects.all().prefetch_related(
            "purposes", "data_subject_categories", "recipients", "processors", "security_measures",
            "data_category_links__category", "transfers__country", "transfers__safeguard",
        )

    def perform_create(self, serializer):
        serializer.instance = services.activity_save(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.activity_save(activity=serializer.instance, **serializer.validated_data)


class RegisterExportView(APIView):
    """The register: `GET ?format=csv|ods|jsonld` returns the file; `POST {"format": "pdf"}` starts a job (202)."""

    permission_classes = [IsAuthenticated]
    content_negotiation_class = FormatParameterNegotiation

    def _require_read(self, request):
        if not request.user.has_perm("registry.view_processingactivity"):
            raise PermissionDenied

    @extend_schema(parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["csv", "ods", "jsonld"],
                                                required=True)],
                   responses={(200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request):
        self._require_read(request)
        query = s.RegisterExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export = register_export(fmt=query.validated_data["format"])
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    @extend_schema(request=s.RegisterExportRequestSerializer, responses={202: s.JobSerializer})
    def post(self, request):
        self._require_read(request)
        if not request.user.has_perm("registry.add_job"):
            raise PermissionDenied
        body = s.RegisterExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        language = body.validated_data.get("language") or (get_language() or "fr")[:2]
        job = services.job_create(kind="register_pdf", params={"language": language}, requested_by=request.user)
        return Response(s.JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class JobViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Jobs: a user sees the jobs they asked for; holders of registry.view_job see all."""

    serializer_class = s.JobSerializer
    permission_classes = [IsAuthenticated]
    queryset = Job.objects.all()

    def get_queryset(self):
        jobs = Job.objects.all()
        if getattr(self, "swagger_fake_view", False):
            return jobs
        if self.request.user.has_perm("registry.view_job"):
            return jobs
        return jobs.filter(requested_by=self.request.user)
