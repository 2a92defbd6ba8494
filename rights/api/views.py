"""The rights API (design §4): file and follow requests; staff act on them.

The views parse, call rights.services and render. Who may do what: the groups' permissions
(registry.roles): view to read, add to file, change to act. An account of another system
(integration) sees only the requests it filed.
"""
from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from .. import selectors, services
from ..models import (
    OPEN_STATUSES,
    Kind,
    ReceivedVia,
    RequestEvent,
    RightsRequest,
    Status,
)
from . import serializers as s

STAFF_ROLES = ("dpo", "staff", "auditor")
ACTIONS = ("verify", "extend", "ask", "fulfil", "reject")
BAD_REQUEST = {400: s.ErrorsSerializer, 404: OpenApiResponse(description="No such request.")}


def sees_every_request(user) -> bool:
    return user.is_superuser or user.groups.filter(name__in=STAFF_ROLES).exists()


class RightsRequestPermission(BasePermission):
    """Read: rights.view_rightsrequest; file: add; the actions: change (staff and the DPO)."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if getattr(view, "action", None) in ACTIONS:
            needed = "rights.change_rightsrequest"
        elif request.method in SAFE_METHODS:
            needed = "rights.view_rightsrequest"
        else:
            needed = "rights.add_rightsrequest"
        return user.has_perm(needed)


class RightsRequestFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    status = django_filters.ChoiceFilter(choices=Status.choices)
    received_via = django_filters.ChoiceFilter(choices=ReceivedVia.choices)
    open = django_filters.BooleanFilter(method="by_open", label="open",
                                        help_text="true: open requests only; false: closed ones.")
    urgency = django_filters.ChoiceFilter(method="by_urgency", label="urgency",
                                          choices=[(u, u) for u in s.URGENCIES])
    due_before = django_filters.DateFilter(field_name="due_on", lookup_expr="lte")
    due_after = django_filters.DateFilter(field_name="due_on", lookup_expr="gte")

    class Meta:
        model = RightsRequest
        fields: list[str] = []

    def by_open(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(status__in=OPEN_STATUSES) if value else queryset.exclude(status__in=OPEN_STATUSES)

    def by_urgency(self, queryset, name, value):
        return selectors.requests_by_urgency(queryset, urgency=value) if value else queryset


def _action_schema(body, summary: str, description: str, ok=s.RightsRequestDetailSerializer, code=200):
    return extend_schema(request=body, summary=summary, description=description,
                         responses={code: ok, **BAD_REQUEST})


@extend_schema_view(
    list=extend_schema(summary="List rights requests",
                       description="Minimal fields, most urgent first. Staff, the DPO and auditors see every "
                                   "request; another system sees the requests it filed.",
                       responses={200: s.RightsRequestListSerializer(many=True), **BAD_REQUEST}),
    retrieve=extend_schema(summary="A rights request, its timeline, contacts, tasks and job",
                           responses={200: s.RightsRequestDetailSerializer, **BAD_REQUEST}),
    create=extend_schema(summary="File a rights request received elsewhere",
                         description="`received_via` defaults to `api`. The request then waits for staff to "
                                     "verify the requester's identity (`verify`).",
                         request=s.RightsRequestCreateSerializer,
                         responses={201: s.RightsRequestDetailSerializer, 400: s.ErrorsSerializer}),
)
class RightsRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           viewsets.GenericViewSet):
    permission_classes = [RightsRequestPermission]
    queryset = RightsRequest.objects.all()
    lookup_field = "reference"
    lookup_value_regex = "[^/]+"
    filterset_class = RightsRequestFilter

    def get_serializer_class(self):
        if self.action == "list":
            return s.RightsRequestListSerializer
        if self.action == "create":
            return s.RightsRequestCreateSerializer
        return s.RightsRequestDetailSerializer

    def get_queryset(self):
        requests = RightsRequest.objects.select_related("assignee")
        if getattr(self, "swagger_fake_view", False):
            return requests
        if not sees_every_request(self.request.user):
            requests = requests.filter(created_by=self.request.user)
        if self.action == "list":
            return selectors.requests_with_urgency_rank(requests).order_by("urgency_rank", "due_on", "received_at",
                                                                            "pk")
        return requests.prefetch_related(
            "purposes", "contacts", "rectifications", "recipient_tasks__confirmed_by",
            Prefetch("events", queryset=RequestEvent.objects.select_related("user").order_by("at", "pk")))

    def get_object(self):
        # References are read out and typed: 'dr-7kq2-…' finds 'DR-7KQ2-…'.
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].strip().upper()
        return super().get_object()

    def _detail(self, obj: RightsRequest, *, code: int = status.HTTP_200_OK) -> Response:
        obj = self.get_queryset().get(pk=obj.pk)
        return Response(s.RightsRequestDetailSerializer(obj, context=self.get_serializer_context()).data,
                        status=code)

    def create(self, request, *args, **kwargs):
        body = s.RightsRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        rectifications = [(item["field"], item["value"]) for item in data.pop("rectifications", [])]
        obj = services.rights_request_create(**data, rectifications=rectifications, created_by=request.user)
        response = self._detail(obj, code=status.HTTP_201_CREATED)
        response["Location"] = reverse("rights-api:request-detail", args=[obj.reference])
        return response

    def _body(self, serializer_class):
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    @_action_schema(s.VerifySerializer, "Verify the requester's identity by another means",
                    "For requests filed by post, phone or another system: how and what was checked are kept, "
                    "and the contacts holding the request's email are matched. Others (same phone, name or "
                    "customer reference) are added by staff in the admin after checking.")
    @action(detail=True, methods=["post"])
    def verify(self, request, reference=None):
        obj = self.get_object()
        data = self._body(s.VerifySerializer)
        services.rights_request_verify_identity(request=obj, method=data["method"], note=data["note"],
                                                by=request.user)
        return self._detail(obj)

    @_action_schema(s.ExtendSerializer, "Extend the deadline (Art. 12(3))",
                    "By one or two months in all, within the first month; the reason is emailed to the requester.")
    @action(detail=True, methods=["post"])
    def extend(self, request, reference=None):
        obj = self.get_object()
        data = self._body(s.ExtendSerializer)
        services.rights_request_extend(request=obj, months=data["months"], reason=data["reason"], by=request.user)
        return self._detail(obj)

    @_action_schema(s.AskSerializer, "Ask the requester a question",
                    "The request waits for the answer (`awaiting_requester`); the requester answers on the status "
                    "page. With `identity_proof`, the deadline is suspended until then.")
    @action(detail=True, methods=["post"])
    def ask(self, request, reference=None):
        obj = self.get_object()
        data = self._body(s.AskSerializer)
        services.rights_request_ask(request=obj, question=data["question"], identity_proof=data["identity_proof"],
                                    by=request.user)
        return self._detail(obj)

    @_action_schema(None, "Carry the request out",
                    "Starts the job that exports, rectifies, erases, restricts or records the objection; follow it "
                    "at `job.url`. Asking again while it runs returns the same job.",
                    ok=s.FulfilResponseSerializer, code=202)
    @action(detail=True, methods=["post"])
    def fulfil(self, request, reference=None):
        obj = self.get_object()
        job = services.rights_request_fulfil(request=obj, by=request.user)
        return Response({"job": s.RequestJobSerializer(job, context=self.get_serializer_context()).data},
                        status=status.HTTP_202_ACCEPTED)

    @_action_schema(s.RejectSerializer, "Reject the request",
                    "With a reason code and an explanation; the requester is told, with their right to complain "
                    "to the CNIL.")
    @action(detail=True, methods=["post"])
    def reject(self, request, reference=None):
        obj = self.get_object()
        data = self._body(s.RejectSerializer)
        services.rights_request_reject(request=obj, reason_code=data["reason_code"], text=data["text"],
                                       by=request.user)
        return self._detail(obj)
