"""Collection forms, double opt-in, the preference centre and one-click unsubscribe, through the pages."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.html import escape

from consent import selectors, services
from consent.emails import unsubscribe_url
from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def signup(newsletter, postal_appeals, channels):
    form = CollectionForm.objects.create(slug="signup", name_fr="Inscription", public=True, double_opt_in=True,
                                         require_age_15=True)
    email_box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["email"])
    sms_box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["sms"], position=1)
    return form, email_box, sms_box


def link_in(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_public_form_shows_unticked_boxes_and_the_art13_notice(client, signup, django_capture_on_commit_callbacks):
    from tests.factories import OrganisationFactory

    OrganisationFactory()
    page = client.get("/forms/signup/").content.decode()
    assert 'type="checkbox"' in page and "checked" not in page
    assert "Julien Moreau" in page  # the DPO, from the register
    assert "/rights/new/" in page and "cnil.fr" in page


def test_double_opt_in_from_the_emailed_link(client, signup, channels, newsletter,
                                             django_capture_on_commit_callbacks):
    form, email_box, sms_box = signup
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/forms/signup/", {"email": "Zoe@Example.org", "phone": "06 45 45 45 45",
                                                  f"box_{email_box.pk}": "on", f"box_{sms_box.pk}": "on",
                                                  "age_confirmed": "on"}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200 and "check-mailbox" in response.content.decode()
    contact = Contact.objects.get(email="zoe@example.org")
    email_check = selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"])
    assert (email_check.allowed, email_check.status) == (False, "pending")
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["sms"]).allowed
    pending = ConsentEvent.objects.get(action="pending")
    assert str(pending.evidence_ip) == "198.51.100.7"
    assert newsletter.name_fr in pending.notice.text and newsletter.text_fr in pending.notice.text

    confirmation = [m for m in mail.outbox if not m.attachments]
    assert len(confirmation) == 1 and confirmation[0].to == ["zoe@example.org"]
    link = path_of(link_in(confirmation[0]))
    assert client.get(link).status_code == 200  # a mail scanner opening the link confirms nothing
    assert not selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).allowed
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(link)
    assert "confirmed" in confirmed.content.decode()
    receipts = [m for m in mail.outbox if m.attachments]
    assert len(receipts) == 2  # the SMS consent at once, the email consent on confirmation
    assert all(a[0].endswith(".pdf") and a[1].startswith(b"%PDF") for m in receipts for a in m.attachments)
    assert "/preferences/" in receipts[-1].body
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).allowed
    granted = ConsentEvent.objects.get(action="granted", channel=channels["email"])
    assert granted.method == "double_opt_in" and granted.notice == pending.notice
    client.post(link)  # twice: nothing more
    assert ConsentEvent.objects.filter(channel=channels["email"]).count() == 2


def test_under_15_is_refused_with_an_explanation(client, signup):
    form, email_box, _ = signup
    response = client.post("/forms/signup/", {"email": "kid@example.org", f"box_{email_box.pk}": "on"})
    assert "art. 45" in response.content.decode()
    assert not ConsentEvent.objects.exists() and not Contact.objects.exists()


def test_forged_confirmation_link_is_refused(client):
    assert client.get("/consent/confirm/not-a-token/").status_code == 400


def test_unconfirmed_double_opt_in_expires_and_its_contact_is_erased(client, signup, settings,
                                                                      django_capture_on_commit_callbacks):
    form, email_box, _ = signup
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/forms/signup/", {"email": "late@example.org", "first_name": "Late",
                                       f"box_{email_box.pk}": "on", "age_confirmed": "on"})
    contact = Contact.objects.get(email="late@example.org")
    assert services.consent_expire_pending(now=timezone.now() + timedelta(days=settings.DOUBLE_OPT_IN_DAYS + 1)) == 1
    contact.refresh_from_db()
    assert contact.anonymised_at and contact.email != "late@example.org" and contact.first_name == "anonyme"
    assert not contact.history.filter(email="late@example.org").exists()
    link = path_of(link_in(mail.outbox[0]))
    assert 'id="nothing-to-confirm"' in client.post(link).content.decode()


def test_staff_records_paper_consent_with_its_scan(client, staff_user, signup, channels, newsletter):
    form, email_box, sms_box = signup
    client.force_login(staff_user)
    url = "/staff/forms/signup/"
    missing_scan = client.post(url, {"phone": "06 98 76 54 32", "method": "paper", f"box_{sms_box.pk}": "on",
                                     "age_confirmed": "on"})
    assert missing_scan.status_code == 200 and not ConsentEvent.objects.exists()
    scan = SimpleUploadedFile("form.pdf", b"%PDF-1.4 signed form", content_type="application/pdf")
    response = client.post(url, {"phone": "06 98 76 54 32", "method": "paper", f"box_{sms_box.pk}": "on",
                                 "age_confirmed": "on", "evidence_document": scan, "evidence_note": "Stand"})
    assert response.status_code == 200, response.content
    event = ConsentEvent.objects.get()
    assert (event.method, event.recorded_by, event.action) == ("paper", staff_user, "granted")
    assert event.evidence_document.read() == b"%PDF-1.4 signed form"


def test_staff_form_needs_the_permission(client, auditor_user, signup):
    client.force_login(auditor_user)
    assert client.get("/staff/forms/signup/").status_code == 403


def test_preference_link_same_answer_whether_known_or_not(client, newsletter,
                                                          django_capture_on_commit_callbacks):
    services.contact_create(email="known@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/preferences/", {"email": "known@example.org"})
        unknown = client.post("/preferences/", {"email": "nobody@example.org"})
    strip = lambda r: r.content.decode().replace(r.wsgi_request.META.get("CSRF_COOKIE", ""), "")  # noqa: E731
    assert known.status_code == unknown.status_code == 200
    assert "link-sent" in strip(known) and "link-sent" in strip(unknown)
    assert [m.to for m in mail.outbox] == [["known@example.org"]]


def test_emails_to_contacts_say_who_writes_and_answers_go_to_the_dpo(client, signup, newsletter, channels,
                                                                    django_capture_on_commit_callbacks):
    """The sender is a no-reply address: each email to a contact is signed by the controller with its
    DPO's contact, in the contact's language, and a reply reaches the DPO."""
    from tests.factories import OrganisationFactory

    OrganisationFactory()
    services.contact_create(email="fr@example.org", language="fr")
    services.contact_create(email="en@example.org", language="en")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/preferences/", {"email": "fr@example.org"})
        client.post("/en/preferences/", {"email": "en@example.org"})
        client.post("/forms/signup/", {"email": "new@example.org", f"box_{signup[1].pk}": "on",
                                            "age_confirmed": "on"})
    by_address = {message.to[0]: message for message in mail.outbox}
    assert set(by_address) == {"fr@example.org", "en@example.org", "new@example.org"}
    for message in mail.outbox:
        assert message.reply_to == ["dpo@amis-patrimoine.example"]
        assert "\n--\nAssociation Les Amis du Patrimoine\n" in message.body
    assert "Délégué à la protection des données : Julien Moreau" in by_address["fr@example.org"].body
    assert "Data protection officer: Julien Moreau <dpo@amis-patrimoine.example>" in by_address["en@example.org"].body
    assert "/confirm/" in by_address["new@example.org"].body  # the double opt-in's link, signed as well


def test_preference_centre_changes_each_choice_with_one_click(client, newsletter, postal_appeals, channels,
                                                              categories, django_capture_on_commit_callbacks):
    contact = services.contact_create(email="pref@example.org", address_line1="2 rue B", postal_code="75002",
                                      city="Paris", data_subject_categories=[categories["donor"]])
    services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                            method="web_form")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/preferences/", {"email": "pref@example.org"})
    url = path_of(link_in(mail.outbox[0]))
    page = client.get(url).content.decode()
    assert 'data-purpose="newsletter" data-channel="email"' in page
    assert 'data-purpose="postal-appeals" data-channel="postal"' in page
    # A grant here records the purpose's name and text as the notice shown: the page shows both.
    notice = services.purpose_notice_text(purpose=newsletter, language="fr")
    assert all(escape(part) in page for part in notice.split("\n\n"))
    mail.outbox.clear()
    for choice in ("withdraw", "grant", "withdraw"):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(url, {"purpose": newsletter.pk, "channel": channels["email"].pk, "choice": choice})
    # The grant, and only it, is receipted by email as a grant on a form is: its PDF and the link back.
    granted = ConsentEvent.objects.get(method="preference_centre", action="granted")
    (receipt,) = mail.outbox
    assert receipt.to == ["pref@example.org"] and receipt.subject == "Votre reçu de consentement"
    assert [name for name, _content, _type in receipt.attachments] == [f"consent-receipt-{granted.sequence}.pdf"]
    assert "/preferences/" in receipt.body
    client.post(url, {"purpose": postal_appeals.pk, "channel": channels["postal"].pk, "choice": "object"})
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).reason == "withdrawn"
    assert selectors.consent_check(contact=contact, purpose=postal_appeals,
                                   channel=channels["postal"]).reason == "objected"
    assert list(ConsentEvent.objects.filter(method="preference_centre").values_list("action", flat=True)) == [
        "withdrawn", "granted", "withdrawn", "objected"]
    assert ConsentEvent.objects.get(method="preference_centre", action="granted").notice.text == notice
    assert client.get("/preferences/forged/").status_code == 400


def test_a_phone_only_form_with_other_names_never_lands_on_the_phone_holder(client, channels, newsletter):
    form = CollectionForm.objects.create(slug="join", name_fr="Join", public=True)
    box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["sms"])
    alice = services.contact_create(email="alice@example.org", phone="01 45 67 89 01", first_name="Alice")
    response = client.post("/forms/join/", {"phone": "01 45 67 89 01", "first_name": "Bob", "last_name": "Martin",
                                            f"box_{box.pk}": "on"})
    assert response.status_code == 200
    bob = Contact.objects.get(first_name="Bob")
    assert bob != alice and bob.phone == alice.phone
    assert not ConsentEvent.objects.filter(contact=alice).exists()
    assert ConsentEvent.objects.get(contact=bob).action == "granted"


def test_a_form_with_no_box_ticked_keeps_nothing(client, channels, newsletter):
    form = CollectionForm.objects.create(slug="empty", name_fr="Empty", public=True)
    CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["email"])
    response = client.post("/forms/empty/", {"email": "nobox@example.org", "first_name": "Nina"})
    assert response.status_code == 200
    assert "Cochez au moins une case" in response.content.decode()
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_a_preference_click_sent_twice_records_one_event(client, newsletter, channels):
    from consent.emails import preference_centre_url

    contact = services.contact_create(email="twice-click@example.org")
    services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                            method="web_form")
    url = path_of(preference_centre_url(contact=contact))
    for _click in range(2):
        response = client.post(url, {"purpose": newsletter.pk, "channel": channels["email"].pk, "choice": "withdraw"})
        assert response.status_code == 302
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("action", "method")) == [
        ("granted", "web_form"), ("withdrawn", "preference_centre")]
    assert services.preference_change(contact=contact, purpose=newsletter, channel=channels["email"],
                                      choice="withdraw", language="fr") is None


def test_one_click_unsubscribe_rfc8058(client, newsletter, channels):
    contact = services.contact_create(email="unsub@example.org")
    services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                            method="web_form")
    url = path_of(unsubscribe_url(contact_id=contact.pk, purpose_id=newsletter.pk, channel_id=channels["email"].pk))
    from django.test import Client

    mail_client = Client(enforce_csrf_checks=True)  # a mail client posts without a CSRF token
    response = mail_client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).reason == "withdrawn"
    mail_client.post(url, {"List-Unsubscribe": "One-Click"})
    assert ConsentEvent.objects.filter(method="unsubscribe").count() == 1
    assert client.get(url.replace(url.split("/")[-2], "forged")).status_code == 404


def test_one_click_unsubscribe_withdraws_a_pending_double_opt_in(newsletter, channels):
    """Unsubscribing before confirming cancels the pending consent: the confirmation link then
    grants nothing."""
    from django.test import Client

    contact = services.contact_create(email="pending-unsub@example.org")
    pending = services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                      action="pending", method="web_form")
    url = path_of(unsubscribe_url(contact_id=contact.pk, purpose_id=newsletter.pk, channel_id=channels["email"].pk))
    response = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("action", "method")) == [
        ("pending", "web_form"), ("withdrawn", "unsubscribe")]
    assert services.consent_confirm(pending_event_id=pending.event.pk) is None
    assert not ConsentEvent.objects.filter(contact=contact, action="granted").exists()
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).reason == "withdrawn"


def test_old_unsubscribe_links_answer_when_no_event_can_be_recorded(newsletter, postal_appeals, channels):
    """The purpose dropped the channel, or the contact was erased: the ledger takes no event, and the
    one-click POST (sent by mail providers on their own) still answers 200, recording nothing."""
    from django.test import Client

    from registry import services as registry_services

    mail_client = Client(enforce_csrf_checks=True)
    texter = services.contact_create(email="sms@example.org", phone="06 11 22 33 44")
    services.consent_record(contact=texter, purpose=newsletter, channel=channels["sms"], action="granted",
                            method="web_form")
    registry_services.purpose_update(purpose=newsletter, channels=[channels["email"]])
    sms_url = path_of(unsubscribe_url(contact_id=texter.pk, purpose_id=newsletter.pk, channel_id=channels["sms"].pk))
    erased = services.contact_create(email="gone@example.org", address_line1="1 rue de la Paix", city="Paris")
    services.contact_anonymise(contact=erased)
    post_url = path_of(unsubscribe_url(contact_id=erased.pk, purpose_id=postal_appeals.pk,
                                       channel_id=channels["postal"].pk))
    events = ConsentEvent.objects.count()
    for url in (sms_url, post_url):
        response = mail_client.post(url, {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and 'id="unsubscribed"' in response.content.decode()
    assert ConsentEvent.objects.count() == events


def test_an_unsubscribe_the_ledger_refuses_says_why(client, newsletter, channels, monkeypatch):
    from django.core.exceptions import ValidationError

    contact = services.contact_create(email="refused@example.org")
    services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                            method="web_form")

    def refuse(**kwargs):
        raise ValidationError({"action": ["Refused by a rule."]})

    monkeypatch.setattr(services, "consent_record", refuse)
    url = path_of(unsubscribe_url(contact_id=contact.pk, purpose_id=newsletter.pk, channel_id=channels["email"].pk))
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 409
    page = response.content.decode()
    assert 'id="unsubscribe-refused"' in page and "Refused by a rule." in page


def test_the_preference_link_is_sent_by_a_task_not_in_the_request(client, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    """Sending inside the request would make a known address answer later than an unknown one."""
    from consent import tasks

    contact = services.contact_create(email="timing@example.org")
    enqueued = []
    monkeypatch.setattr(tasks.send_preference_link, "delay", lambda *args: enqueued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/preferences/", {"email": "timing@example.org"}).status_code == 200
    assert enqueued == [(contact.pk,)] and not mail.outbox
    tasks.send_preference_link(contact.pk)  # what the worker runs
    assert [m.to for m in mail.outbox] == [["timing@example.org"]]


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_invalid_unsubscribe_link_shows_a_page_offering_a_new_link(client, newsletter, channels, method):
    """Forged or damaged, or naming a contact that no longer exists: a 404 with a page saying so, and
    the way to the preference centre, never Django's bare 404."""
    from consent import tokens

    good = path_of(unsubscribe_url(contact_id=1, purpose_id=newsletter.pk, channel_id=channels["email"].pk))
    unknown_contact = tokens.unsubscribe_token(contact_id=999999, purpose_id=newsletter.pk,
                                               channel_id=channels["email"].pk)
    forged = good.rsplit(".", 1)[0] + "." + "0" * 32 + "/"
    for url in (forged, f"/unsubscribe/{unknown_contact}/", "/unsubscribe/not-a-token/"):
        response = getattr(client, method)(url)
        assert response.status_code == 404, url
        page = response.content.decode()
        assert 'id="invalid-link"' in page and 'href="/preferences/"' in page
        assert "Ce lien n'est pas valide" in page and "Demander un nouveau lien" in page
    response = getattr(client, method)("/en/unsubscribe/not-a-token/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'href="/en/preferences/"' in page and "This link is not valid" in page and "Ask for a new link" in page
    assert not ConsentEvent.objects.exists()
