"""API clients for the tests: one authenticated as a user (session-less), one with a real token."""
from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def client_for(user) -> APIClient:
    """Authenticated as ``user`` without a token (DRF's force_authenticate)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def token_client(user) -> APIClient:
    """Authenticated as an integration does: a new token of ``user`` in the Authorization header."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(user=user).key)
    return client
