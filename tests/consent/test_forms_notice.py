"""Collection forms refuse boxes without the address their channel needs; the Art. 13 notice says
everything Art. 13 asks and links to the rights form; the preference centre answers bad input with 400."""
from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from django.core import mail
from django.utils.translation import override

from consent import services
from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, Contact
from registry.models import Purpose
from tests import factories as f

pytestmark = pytest.mark.django_db

BASE_URL = "https://dpo.example.org"


@pytest.fixture
def marketing(channels, categories):
    """A form with a consent purpose on email, SMS and phone and an opt-out postal purpose, under an
    activity with a recipient, a processor and a transfer outside the EU."""
    f.OrganisationFactory()
    activity = f.ActivityFactory(name="Communication")
    activity.recipients.add(f.RecipientFactory(
        name="Service communication",
        recipient_type=f.ref(f.m.RecipientType, "exp-internal", label_fr="Service interne", label_en="Internal")))
    activity.processors.add(f.ProcessorFactory(name="RoutageExpress SAS", country=f.country(
        "exp-fr", adequacy="eea", iso_code="FR", label_fr="France", label_en="France")))
    f.TransferFactory(activity=activity, recipient_name="MailCloud Inc.", documentation="Contrat du 23/01/2024",
                      country=f.country("exp-us", iso_code="US", label_fr="États-Unis", label_en="United States"),
                      safeguard=f.safeguard("exp-scc", label_fr="Clauses contractuelles types",
                                            label_en="Standard contractual clauses"))
    news = f.PurposeFactory(activity=activity, slug="news", name_fr="Lettre d'information", name_en="Newsletter",
                            legal_basis="consent", retention_months=36, retention_start="last_contact",
                            channels=[channels["email"], channels["sms"], channels["phone"]])
    appeals = f.PurposeFactory(activity=activity, slug="appeals", name_fr="Appels aux dons", name_en="Fundraising",
                               legal_basis="legitimate_interests", direct_marketing=True,
                               legitimate_interest="Solliciter nos donateurs", retention_months=24,
                               retention_start="last_contact", channels=[channels["postal"]],
                               data_subject_categories=[categories["donor"]])
    form = CollectionForm.objects.create(slug="join", name_fr="Rejoignez-nous", public=True, double_opt_in=True)
    boxes = {code: CollectionFormItem.objects.create(form=form, purpose=news, channel=channels[code], position=i)
             for i, code in enumerate(("email", "sms", "phone"))}
    boxes["postal"] = CollectionFormItem.objects.create(form=form, purpose=appeals, channel=channels["postal"],
                                                        position=3)
    return SimpleNamespace(form=form, boxes=boxes, news=news, appeals=appeals)


def notice_on(page: str) -> str:
    block = re.search(r'<div class="notice" id="art13-notice">(.*?)</div>', page, re.DOTALL).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", block))


# --- 1. a ticked box needs the address of its channel -------------------------------------------

EMAIL_NEEDED = "Give your email address: you ticked a box about messages by email."
PHONE_NEEDED = "Give your phone number: you ticked a box about calls or text messages."
POSTAL_NEEDED = "Give your postal address, postal code and city: you ticked a box about postal mail."


@pytest.mark.parametrize(("box", "fields", "field", "message"), [
    ("email", {"phone": "06 12 34 56 78", "last_name": "Martin"}, "email", EMAIL_NEEDED),
    ("sms", {"email": "ana@example.org"}, "phone", PHONE_NEEDED),
    ("phone", {"email": "ana@example.org"}, "phone", PHONE_NEEDED),
    ("postal", {"email": "ana@example.org", "address_line1": "3 rue des Lilas", "city": "Lyon"},  # no postal code
     "address_line1", POSTAL_NEEDED),
])
def test_a_box_without_the_address_of_its_channel_is_refused_and_nothing_is_written(
        client, marketing, box, fields, field, message, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/en/forms/join/", {**fields, f"box_{marketing.boxes[box].pk}": "on"})
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode() and "check-mailbox" not in response.content.decode()
    assert Contact.objects.count() == 0 and ConsentEvent.objects.count() == 0
    assert callbacks == [] and mail.outbox == []


def test_an_email_box_is_refused_without_an_email_even_for_a_contact_found_by_phone(marketing):
    known = services.contact_create(email="known@example.org", phone="+33612345678")
    with override("en"), pytest.raises(services.ValidationError) as refused:
        services.form_submit(form=marketing.form, contact_fields={"phone": "06 12 34 56 78"},
                             chosen=[marketing.boxes["email"]], method="web_form", language="en")
    assert refused.value.message_dict == {"email": [EMAIL_NEEDED]}
    assert not ConsentEvent.objects.filter(contact=known).exists()


def test_boxes_with_their_addresses_are_recorded(client, marketing, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/forms/join/", {
            "email": "ana@example.org", "phone": "06 12 34 56 78", "address_line1": "3 rue des Lilas",
            "postal_code": "69003", "city": "Lyon",
            **{f"box_{item.pk}": "on" for item in marketing.boxes.values()}})
    assert response.status_code == 200 and "check-mailbox" in response.content.decode()
    contact = Contact.objects.get(email="ana@example.org")
    assert sorted(contact.events.values_list("channel__code", "action")) == [
        ("email", "pending"), ("phone", "granted"), ("postal", "objected"), ("sms", "granted")]
    assert [message.to for message in mail.outbox if not message.attachments] == [["ana@example.org"]]


# --- 2. the notice links to the rights form, in the page's language --------------------------------


@pytest.mark.parametrize(("prefix", "rights_path"), [("", "/rights/new/"), ("/en", "/en/rights/new/")])
def test_the_notice_links_to_the_localised_rights_form(client, marketing, settings, prefix, rights_path,
                                                       django_capture_on_commit_callbacks):
    settings.PUBLIC_BASE_URL = BASE_URL
    page = client.get(f"{prefix}/forms/join/").content.decode()
    assert f'<a href="{BASE_URL}{rights_path}"' in page
    assert '<a href="https://www.cnil.fr/fr/plaintes"' in page
    assert client.get(rights_path).status_code == 200  # the link leads to the form itself
    # The stored notice (receipts, PDFs, emails) carries the same absolute address.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{prefix}/forms/join/", {"phone": "06 12 34 56 78", f"box_{marketing.boxes['sms'].pk}": "on"})
    assert f"{BASE_URL}{rights_path}\n" in ConsentEvent.objects.get().notice.text


# --- 3. the notice says what Art. 13 asks, in each language ---------------------------------------

NOTICE_LINES = {
    "fr": [
        ("Responsable de traitement : Association Les Amis du Patrimoine, 12 rue des Archives, 75004 Paris "
         "(contact@amis-patrimoine.example)"),
        "Délégué à la protection des données (DPO) : Julien Moreau (dpo@amis-patrimoine.example)",
        "— Lettre d'information",
        "Base légale : Consentement (art. 6.1.a RGPD)",
        "Durée de conservation : 36 mois après le dernier contact",
        "— Appels aux dons",
        "Base légale : Intérêt légitime (art. 6.1.f RGPD) — Solliciter nos donateurs",
        "Durée de conservation : 24 mois après le dernier contact",
        "Destinataires : Service communication; sous-traitants : RoutageExpress SAS",
        "Transferts hors UE : MailCloud Inc. (États-Unis, Clauses contractuelles types)",
        "Vous pouvez retirer votre consentement à tout moment",
        ("Vous disposez d'un droit d'accès, de rectification et d'effacement de vos données, d'un droit à la "
         "limitation du traitement, d'un droit d'opposition et d'un droit à la portabilité de vos données. "
         f"Pour exercer ces droits : {BASE_URL}/rights/new/"),
        "Vous pouvez introduire une réclamation auprès de la CNIL : https://www.cnil.fr/fr/plaintes",
    ],
    "en": [
        ("Controller: Association Les Amis du Patrimoine, 12 rue des Archives, 75004 Paris "
         "(contact@amis-patrimoine.example)"),
        "Data protection officer: Julien Moreau (dpo@amis-patrimoine.example)",
        "— Newsletter",
        "Legal basis: Consent (Art. 6(1)(a))",
        "Kept for: 36 months from last contact",
        "— Fundraising",
        "Legal basis: Legitimate interests (Art. 6(1)(f)) — Solliciter nos donateurs",
        "Kept for: 24 months from last contact",
        "Recipients: Service communication; processors: RoutageExpress SAS",
        "Transfers outside the EU: MailCloud Inc. (United States, Standard contractual clauses)",
        "You may withdraw your consent at any time",
        ("You have the right to access, rectify and erase your data, to restrict its processing, to object to it "
         f"and to data portability. To exercise these rights: {BASE_URL}/en/rights/new/"),
        "You may lodge a complaint with the CNIL: https://www.cnil.fr/fr/plaintes",
    ],
}


@pytest.mark.parametrize(("language", "prefix"), [("fr", ""), ("en", "/en")])
def test_the_notice_names_controller_dpo_purposes_bases_recipients_transfers_retention_rights_and_cnil(
        client, marketing, settings, language, prefix):
    settings.PUBLIC_BASE_URL = BASE_URL
    notice = notice_on(client.get(f"{prefix}/forms/join/").content.decode())
    lines = notice.splitlines()
    missing = [expected for expected in NOTICE_LINES[language]
               if not any(line.startswith(expected) for line in lines)]
    assert missing == [], f"lines missing from the {language} notice:\n{notice}"
    # One block per purpose, in the form's order.
    assert notice.index(NOTICE_LINES[language][2]) < notice.index(NOTICE_LINES[language][5])


@pytest.mark.parametrize(("prefix", "title", "other_title", "note", "other_note"), [
    ("", "Rejoignez-nous", "Join us", "Prescription : 3 ans", "Limitation period: 3 years"),
    ("/en", "Join us", "Rejoignez-nous", "Limitation period: 3 years", "Prescription : 3 ans"),
])
def test_the_form_title_and_the_retention_note_are_in_the_page_language(client, marketing, prefix, title,
                                                                        other_title, note, other_note):
    CollectionForm.objects.filter(pk=marketing.form.pk).update(name_en="Join us")
    Purpose.objects.filter(pk=marketing.news.pk).update(
        retention_note="Prescription : 3 ans", retention_note_en="Limitation period: 3 years")
    page = client.get(f"{prefix}/forms/join/").content.decode()
    assert f"<h1>{title}</h1>" in page and other_title not in page
    notice = notice_on(page)
    kept_for = [line for line in notice.splitlines() if line.endswith(f"({note})")]
    assert len(kept_for) == 1 and other_note not in notice


@pytest.mark.parametrize(("prefix", "interest", "other"), [
    ("", "Solliciter nos donateurs", "Asking our donors"), ("/en", "Asking our donors", "Solliciter nos donateurs")])
def test_the_legitimate_interest_is_told_in_the_page_language(client, marketing, prefix, interest, other):
    """Art. 13(1)(d): an opt-out purpose's notice says which legitimate interest is pursued, in the reader's
    language; an English reader gets the French text while the DPO has written no English one."""
    Purpose.objects.filter(pk=marketing.appeals.pk).update(legitimate_interest_en="Asking our donors")
    notice = notice_on(client.get(f"{prefix}/forms/join/").content.decode())
    assert f" — {interest}" in notice and other not in notice
    Purpose.objects.filter(pk=marketing.appeals.pk).update(legitimate_interest_en="")
    assert "(Art. 6(1)(f)) — Solliciter nos donateurs" in notice_on(client.get("/en/forms/join/").content.decode())


@pytest.mark.parametrize(("prefix", "data", "other"), [
    ("", "Coordonnées — Courriel, téléphone (", "Email, phone"),
    ("/en", "Data processed: Contact details — Email, phone (kept: 3 years from the last contact)", "Courriel")])
def test_the_notice_tells_the_data_processed_and_how_long_it_is_kept_in_the_page_language(client, marketing, prefix,
                                                                                          data, other):
    f.ActivityDataCategoryFactory(
        activity=marketing.news.activity,
        category=f.data_category("exp-contact", label_fr="Coordonnées", label_en="Contact details"),
        description="Courriel, téléphone", description_en="Email, phone",
        retention="3 ans après le dernier contact", retention_en="3 years from the last contact")
    notice = notice_on(client.get(f"{prefix}/forms/join/").content.decode())
    assert data in notice and other not in notice
    if not prefix:
        assert "3 ans après le dernier contact" in notice and "3 years" not in notice


def test_an_english_page_falls_back_on_the_french_data_category_texts(client, marketing):
    f.ActivityDataCategoryFactory(
        activity=marketing.news.activity,
        category=f.data_category("exp-contact", label_fr="Coordonnées", label_en="Contact details"),
        description="Courriel, téléphone", retention="3 ans après le dernier contact")
    assert "Contact details — Courriel, téléphone (kept: 3 ans après le dernier contact)" in notice_on(
        client.get("/en/forms/join/").content.decode())


def test_an_english_page_falls_back_on_the_french_retention_note(client, marketing):
    Purpose.objects.filter(pk=marketing.news.pk).update(retention_note="Prescription : 3 ans")
    assert "Kept for: 36 months from last contact (Prescription : 3 ans)" in notice_on(
        client.get("/en/forms/join/").content.decode())


# --- 4. the preference centre answers bad input with 400 ------------------------------------------


@pytest.mark.parametrize("tampered", [{"purpose": "abc"}, {"channel": "1; drop"}, {"purpose": ""},
                                      {"channel": None}, {"purpose": "1.5"}])
def test_preference_centre_answers_400_to_a_choice_that_is_not_a_number(client, marketing, channels, tampered):
    from consent.tokens import preferences_token

    contact = services.contact_create(email="pref@example.org")
    url = f"/en/preferences/{preferences_token(contact_id=contact.pk)}/"
    data = {"purpose": marketing.news.pk, "channel": channels["email"].pk, "choice": "grant", **tampered}
    response = client.post(url, {key: value for key, value in data.items() if value is not None})
    assert response.status_code == 400
    assert "This choice is no longer available." in response.content.decode()
    assert 'data-purpose="news" data-channel="email"' in response.content.decode()  # the page, re-rendered
    assert ConsentEvent.objects.count() == 0
    # The same page still takes a well-formed choice.
    choice = {"purpose": marketing.news.pk, "channel": channels["email"].pk, "choice": "grant"}
    assert client.post(url, choice).status_code == 302
    assert list(ConsentEvent.objects.values_list("action", "method")) == [("granted", "preference_centre")]


def test_preference_centre_unknown_ids_say_the_choice_is_gone(client, marketing, channels):
    from consent.tokens import preferences_token

    contact = services.contact_create(email="pref@example.org")
    url = f"/en/preferences/{preferences_token(contact_id=contact.pk)}/"
    # Beyond any primary key (and beyond bigint): nothing found, no database error.
    response = client.post(url, {"purpose": 10**30, "channel": channels["email"].pk, "choice": "grant"}, follow=True)
    assert response.status_code == 200 and "This choice is no longer available." in response.content.decode()
    assert ConsentEvent.objects.count() == 0
