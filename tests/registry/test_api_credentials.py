"""Who the API takes the caller for (design §4, "401/403/404 as usual"): a call without credentials
or with a bad token is 401 with `WWW-Authenticate: Token`; a known caller without the permission is
403. The token is the first authentication; a browser's session still works, CSRF checked."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from consent.models import Contact
from tests.api_clients import token_client

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/consent/contacts/"
CSRF = "a" * 32  # a CSRF secret Django accepts, the same in the cookie and the header


@pytest.mark.parametrize("language, detail", [
    ("en", "Authentication credentials were not provided."),
    ("fr", "Informations d'authentification non fournies."),
])
def test_a_401_says_how_to_authenticate_in_the_clients_language(reference_data, language, detail):
    response = APIClient().get(CONTACTS, HTTP_ACCEPT_LANGUAGE=language)
    assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")
    assert response.json() == {"detail": detail}


def test_a_job_without_credentials_is_401_too(db):
    """A view with its own IsAuthenticated answers the same."""
    response = APIClient().get("/api/v1/jobs/")
    assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")


def test_a_token_of_an_inactive_user_is_401(reference_data, integration_user):
    api = token_client(integration_user)
    integration_user.is_active = False
    integration_user.save()
    response = api.get(CONTACTS)
    assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")


def _browser(user) -> Client:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


def test_a_browser_session_reads_the_api(reference_data, staff_user):
    browser = _browser(staff_user)
    assert browser.get(CONTACTS, HTTP_ACCEPT="application/json").status_code == 200
    page = browser.get(CONTACTS, HTTP_ACCEPT="text/html")  # DRF's browsable API
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")


def test_a_browser_session_writes_only_with_its_csrf_token(reference_data, dpo_user):
    browser = _browser(dpo_user)
    refused = browser.post(CONTACTS, {"email": "alice@example.org"}, content_type="application/json",
                           HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 403 and refused.json()["detail"].startswith("CSRF Failed")
    assert not Contact.objects.exists()
    browser.cookies["csrftoken"] = CSRF
    created = browser.post(CONTACTS, {"email": "alice@example.org"}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=CSRF)
    assert created.status_code == 201, created.content
    assert Contact.objects.get().email == "alice@example.org"


def test_a_session_user_without_the_permission_is_403(reference_data, integration_user):
    """Known (the session) but not allowed: 403, and no invitation to authenticate."""
    response = _browser(integration_user).delete("/api/v1/registry/channels/email/")
    assert response.status_code == 403 and "WWW-Authenticate" not in response


def test_the_openapi_schema_is_public_and_names_the_token_first(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
    security = schema["paths"]["/api/v1/consent/check/"]["get"]["security"]
    assert list(security[0]) == ["tokenAuth"] and {"cookieAuth": []} in security


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/consent/events/" in (tmp_path / "schema.yml").read_text()
