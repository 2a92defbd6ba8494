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


def _insert_bare_row(data) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BARE_TABLE} (email, purpose, channel, action, method) "
                       "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                       [data["email"], data["purpose"], data["channel"], data["action"], data["method"]])
        return cursor.fetchone()[0]


@csrf_exempt
def bare_post(request):
    """POST: a plain Django form, validated, then one INSERT."""
    form = BareEventForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    return JsonResponse({"id": _insert_bare_row(form.cleaned_data)}, status=201)


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


drf_ping = _drf_ping_view()


def _drf_bare_post_view():
    from rest_framework import serializers, status
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from consent.models import ConsentEvent

    class BareEventSerializer(serializers.Serializer):
        email = serializers.EmailField()
        purpose = serializers.SlugField(max_length=80)
        channel = serializers.SlugField(max_length=20)
        action = serializers.CharField(max_length=20)
        method = serializers.CharField(max_length=20)

    class DRFBarePostView(APIView):
        """POST /bench/drf-bare-post/: the bare form POST's work (the same fields validated, one INSERT)
        through DRF with the app's token authentication and role permission (consent.add_consentevent,
        as consent/events/), JSON in and out: what the framework alone costs an API POST."""

        queryset = ConsentEvent.objects.all()

        def post(self, request):
            body = BareEventSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            return Response({"id": _insert_bare_row(body.validated_data)}, status=status.HTTP_201_CREATED)

    return DRFBarePostView.as_view()


drf_bare_post = _drf_bare_post_view()
