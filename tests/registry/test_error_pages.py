"""The error pages (403, 404, 500, CSRF failure): the public layout, French by default and English
under /en/, instead of Django's bare English pages."""
import pytest
from django.test import Client, RequestFactory
from django.utils import translation
from django.views.defaults import server_error

from consent.models import CollectionForm, CollectionFormItem, Contact
from registry.api import errors
from tests.factories import PurposeFactory, channel

pytestmark = pytest.mark.django_db


def test_a_missing_page_answers_404_with_the_public_layout_and_useful_links(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert '<html lang="fr">' in page and 'id="not-found"' in page
    assert 'href="/rights/new/"' in page and 'href="/preferences/"' in page
    assert "Vos préférences de communication" in page  # the link's words, already in the catalogue
    assert 'href="/admin/"' not in page  # the administration is offered to staff only


def test_the_404_page_is_in_english_under_en(client):
    response = client.get("/en/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert '<html lang="en">' in page and "Page not found" in page and 'href="/en/rights/new/"' in page


def test_a_permission_denial_answers_403_with_a_page_back_to_the_administration(client, dpo_user):
    client.force_login(dpo_user)  # the dpo group may not open the user admin
    response = client.get("/admin/auth/user/")
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="fr">' in page and 'id="forbidden"' in page and 'href="/admin/"' in page
    assert "<h1>403 Forbidden</h1>" not in page  # Django's bare page
    response = client.get("/en/admin/auth/user/")
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="en">' in page and "Access denied" in page and 'href="/en/admin/"' in page


@pytest.mark.parametrize("language, words", [("fr", None), ("en", "Server error")])
def test_the_500_page_renders_without_a_request_context(language, words):
    """Django renders 500.html with an empty context: the page needs neither the request nor a URL."""
    with translation.override(language):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert f'<html lang="{language}">' in page and 'id="server-error"' in page
    assert "<form" not in page  # no language switch: it would post without a CSRF token
    assert words is None or words in page


# --- CSRF failure: a form posted with an expired or blocked CSRF cookie -------------------------

NOTHING_RECORDED = "Nothing was recorded."


def shown(text: str, language: str) -> str:
    """The text as the page shows it in this language (the catalogue's translation)."""
    with translation.override(language):
        return translation.gettext(text)


@pytest.fixture
def signup(db):
    form = CollectionForm.objects.create(slug="signup", name_fr="Inscription", public=True)
    CollectionFormItem.objects.create(form=form, purpose=PurposeFactory(channels=[channel("email")]),
                                      channel=channel("email"))
    return form


@pytest.fixture
def browser():
    """A browser with no CSRF cookie (it expired, or cookies are blocked): the test client skips
    the check unless told."""
    return Client(enforce_csrf_checks=True)


def test_a_form_posted_without_csrf_cookie_gets_the_french_page_and_a_link_back(browser, signup):
    response = browser.post("/forms/signup/", {"email": "zoe@example.org"},
                            HTTP_REFERER="http://testserver/forms/signup/?source=flyer")
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="fr">' in page and 'id="csrf-failure"' in page
    assert shown(NOTHING_RECORDED, "fr") in page
    assert '<a href="/forms/signup/?source=flyer" id="back">' in page
    assert "CSRF cookie not set" not in page  # Django's reason, logged, never shown
    assert "<form" not in page  # no language switch: it would fail the same way
    assert (response["Cache-Control"], response["Referrer-Policy"]) == ("no-store", "no-referrer")
    assert not Contact.objects.exists()


def test_the_page_is_in_english_under_en(browser, signup):
    response = browser.post("/en/forms/signup/", {"email": "zoe@example.org"},
                            HTTP_REFERER="http://testserver/en/forms/signup/")
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="en">' in page and "The form could not be sent" in page and NOTHING_RECORDED in page
    assert "cookies" in page and '<a href="/en/forms/signup/" id="back">' in page


@pytest.mark.parametrize("referer", [None, "https://evil.example/forms/signup/", "http://testserver//evil.example/"])
def test_without_a_same_origin_referer_the_page_offers_the_public_pages(browser, referer):
    headers = {"HTTP_REFERER": referer} if referer else {}
    response = browser.post("/rights/new/", {"requester_email": "zoe@example.org"}, **headers)
    assert response.status_code == 403
    page = response.content.decode()
    assert 'id="back"' not in page and "evil.example" not in page
    # The public pages a contact may have come from (the home page is the staff's admin).
    assert '<a href="/rights/new/">' in page and '<a href="/preferences/">' in page


def test_the_language_switch_answers_in_the_language_of_the_page_it_was_used_on(browser):
    response = browser.post("/i18n/setlang/", {"language": "fr", "next": "/preferences/"},
                            HTTP_REFERER="http://testserver/en/preferences/")
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="en">' in page and NOTHING_RECORDED in page and '<a href="/en/preferences/" id="back">' in page


def test_an_api_post_with_a_session_and_no_csrf_token_stays_json(browser, dpo_user):
    """DRF checks CSRF itself for session authentication and answers its {"detail"}."""
    browser.force_login(dpo_user)
    response = browser.post("/api/v1/registry/purposes/", {}, content_type="application/json")
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("CSRF Failed")


def test_the_failure_view_answers_json_under_the_api():
    """A path under the API that Django's CSRF middleware itself refuses (no DRF view) gets JSON too."""
    request = RequestFactory().post("/api/v1/anything/")
    with translation.override("en"):
        response = errors.csrf_failure(request, reason="CSRF cookie not set.")
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert response.content == b'{"detail":"CSRF verification failed. Request aborted."}'
