"""A purpose's public privacy notice (Art. 13, generated from the register): the page a consent
receipt's policy link leads to, French at /privacy/<slug>/, English under /en/."""
import pytest
from django.test import Client
from django.utils import translation

from consent import notices, receipts, services
from consent.models import CollectionForm, CollectionFormItem
from registry.models import ProcessingActivity, Purpose
from tests.api_clients import client_for
from tests.factories import ActivityDataCategoryFactory, OrganisationFactory, data_category

pytestmark = pytest.mark.django_db


@pytest.fixture
def organisation(db):
    return OrganisationFactory()


def test_the_page_shows_the_controller_and_the_purpose_in_french(client, organisation, newsletter):
    response = client.get("/privacy/newsletter/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'lang="fr"' in body and 'id="art13-notice"' in body
    assert organisation.name in body and organisation.dpo_email in body
    assert newsletter.name_fr in body and newsletter.text_fr.replace("'", "&#x27;") in body
    assert 'href="http://127.0.0.1:8000/rights/new/"' in body  # how to exercise one's rights, as a link
    assert 'id="purpose-retired"' not in body


def test_the_page_in_english(client, organisation, newsletter):
    response = client.get("/en/privacy/newsletter/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'lang="en"' in body and newsletter.name_en in body and newsletter.text_en in body
    assert organisation.name in body and "Legal basis:" in body


@pytest.mark.parametrize(("path", "shown", "other"), [
    ("/privacy/newsletter/", ("Adresse électronique", "3 ans après le dernier envoi"), ("Email address", "3 years")),
    ("/en/privacy/newsletter/", ("Email address", "3 years after the last mailing"), ("Adresse", "3 ans"))])
def test_the_page_tells_the_data_category_texts_in_its_language(client, organisation, newsletter, path, shown, other):
    ActivityDataCategoryFactory(
        activity=newsletter.activity, category=data_category("exp-contact", label_fr="Coordonnées",
                                                             label_en="Contact details"),
        description="Adresse électronique", description_en="Email address",
        retention="3 ans après le dernier envoi", retention_en="3 years after the last mailing")
    body = client.get(path).content.decode()
    assert all(text in body for text in shown) and not any(text in body for text in other)


def test_the_notice_is_the_one_a_form_shows_for_the_purpose(organisation, newsletter, channels):
    form = CollectionForm.objects.create(slug="letter", name_fr="Lettre", name_en="Letter", public=True)
    CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["email"], position=0)
    for language in ("fr", "en"):
        assert notices.purpose_privacy_notice_text(purpose=newsletter, language=language) == \
            notices.form_notice_text(form=form, language=language)


def test_drafts_and_unknown_purposes_are_not_found(client, organisation, newsletter):
    ProcessingActivity.objects.filter(pk=newsletter.activity_id).update(status=ProcessingActivity.Status.DRAFT)
    assert client.get("/privacy/newsletter/").status_code == 404
    assert client.get("/privacy/no-such-purpose/").status_code == 404


def test_a_retired_purpose_stays_readable_and_says_so(client, organisation, newsletter):
    Purpose.objects.filter(pk=newsletter.pk).update(status=Purpose.Status.RETIRED)
    response = client.get("/en/privacy/newsletter/")
    assert response.status_code == 200
    assert 'id="purpose-retired"' in response.content.decode() and newsletter.name_en in response.content.decode()


@pytest.mark.parametrize("language, path", [("fr", "/privacy/newsletter/"), ("en", "/en/privacy/newsletter/")])
def test_the_kantara_receipt_links_to_the_page_in_its_language(settings, organisation, newsletter, channels,
                                                               staff_user, language, path):
    contact = services.contact_create(email="rita@example.org", language=language)
    event = services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                    action="granted", method="web_form").event
    receipt = client_for(staff_user).get(f"/api/v1/consent/events/{event.pk}/receipt/", {"format": "kantara"})
    assert receipt.status_code == 200
    assert receipt.json()["policyUrl"] == settings.PUBLIC_BASE_URL + path  # absolute, on the public site
    assert receipts.receipt_kantara(event=event, base_url="https://dpo.example.org/")["policyUrl"] == \
        "https://dpo.example.org" + path
    page = Client().get(path)  # a data subject opens it: no token, no session
    assert page.status_code == 200 and organisation.name in page.content.decode()
    with translation.override(language):
        assert newsletter.name in page.content.decode()
