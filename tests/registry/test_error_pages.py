"""The error pages (403, 404, 500): the public layout, French by default and English under /en/,
instead of Django's bare English pages."""
import pytest
from django.test import RequestFactory
from django.utils import translation
from django.views.defaults import server_error

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
