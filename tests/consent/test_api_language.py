"""The API answers in the language the client asks (Accept-Language: fr or en, French by default);
the public pages keep theirs from the URL (``/`` French, ``/en/`` English)."""
import pytest

from tests.api_clients import client_for, token_client
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/consent/events/"
CHECK = "/api/v1/consent/check/"
ENGLISH, FRENCH = "Object with slug=nope does not exist.", "L'objet avec slug=nope n'existe pas."


@pytest.fixture
def api(integration_user):
    return token_client(integration_user)


def post_unknown_purpose(api, **headers):
    """The body the event endpoint's direct path takes up, refused for its purpose."""
    alice = ContactFactory(email="alice@example.org")
    return api.post(EVENTS, {"email": alice.email, "purpose": "nope", "channel": "email", "action": "granted",
                             "method": "api"}, format="json", **headers)


@pytest.mark.parametrize("accept_language, message, language", [
    ("en", ENGLISH, "en"),
    ("en-GB,en;q=0.9,fr;q=0.5", ENGLISH, "en"),
    ("fr", FRENCH, "fr"),
    (None, FRENCH, "fr"),  # not said: French
    ("de", FRENCH, "fr"),  # not one we ship: French
])
def test_the_event_endpoint_answers_in_the_clients_language(api, channels, accept_language, message, language):
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    response = post_unknown_purpose(api, **headers)
    assert response.status_code == 400
    assert response.json() == {"errors": {"purpose": [message]}}
    assert response["Content-Language"] == language and "Accept-Language" in response["Vary"]


def test_every_api_answers_in_the_clients_language(staff_user, channels):
    api = client_for(staff_user)
    for accept_language, required in (("en", "This field is required."), ("fr", "Ce champ est obligatoire.")):
        check = api.get(CHECK, {"channel": "email", "email": "a@example.org"}, HTTP_ACCEPT_LANGUAGE=accept_language)
        assert check.status_code == 400 and check.json()["errors"]["purpose"] == [required]
        rights = api.post("/api/v1/rights/requests/", {}, format="json", HTTP_ACCEPT_LANGUAGE=accept_language)
        assert rights.status_code == 400 and rights.json()["errors"]["kind"] == [required]


def test_a_language_asked_by_one_request_does_not_stay_for_the_next(api, channels):
    assert post_unknown_purpose(api, HTTP_ACCEPT_LANGUAGE="en").json()["errors"]["purpose"] == [ENGLISH]
    assert api.get(CHECK, {"channel": "email"}).json()["errors"]["purpose"] == ["Ce champ est obligatoire."]


def test_public_pages_keep_the_language_of_their_url(client):
    assert 'lang="fr"' in client.get("/rights/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="en"' in client.get("/en/rights/new/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
