"""The API's errors (design §4): JSON everywhere; {"errors": {field: [messages]}} with 400; 401, 403
and 404 as DRF answers them, {"detail": message}, in the client's language."""
import pytest
from rest_framework.test import APIClient

from tests.api_clients import client_for

pytestmark = pytest.mark.django_db

NOT_FOUND = {"en": {"detail": "Not found."}, "fr": {"detail": "Non trouvé."}}


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("path", [
    "/api/v1/consent/events/999999/receipt/",  # get_object_or_404 in a view
    "/api/v1/consent/contacts/999999/",  # a viewset's get_object
    "/api/v1/rights/requests/NOPE-0000/",
    "/api/v1/jobs/999999/",
    "/api/v1/no-such-endpoint/",  # no view at all
    "/api/v1/consent/events/abc/receipt/",
])
def test_a_404_is_the_same_json_in_the_clients_language(staff_user, path, language):
    response = client_for(staff_user).get(path, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND[language]


def test_outside_the_api_a_404_is_still_the_html_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_refusals_say_why_as_detail(integration_user, channels):
    anonymous = APIClient().get("/api/v1/consent/contacts/", HTTP_ACCEPT_LANGUAGE="en")
    assert (anonymous.status_code, anonymous.get("WWW-Authenticate")) == (401, "Token")
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    forbidden = client_for(integration_user).delete("/api/v1/registry/channels/email/", HTTP_ACCEPT_LANGUAGE="en")
    assert forbidden.status_code == 403 and "WWW-Authenticate" not in forbidden
    assert forbidden.json() == {"detail": "You do not have permission to perform this action."}
    bad_token = APIClient().get("/api/v1/consent/contacts/", HTTP_AUTHORIZATION="Token nope", HTTP_ACCEPT_LANGUAGE="fr")
    assert (bad_token.status_code, bad_token.get("WWW-Authenticate")) == (401, "Token")
    assert bad_token.json() == {"detail": "Jeton invalide."}  # ours (registry.api.authentication), translated
