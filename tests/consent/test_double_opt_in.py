"""Double opt-in: what expiry erases (only a contact created for it, evidence included) and what a
confirmation link says once the consent can no longer be confirmed."""
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from consent import selectors, services
from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, ConsentState, Contact
from registry import services as registry_services
from registry.models import Job
from tests.factories import PurposeFactory

pytestmark = pytest.mark.django_db

FORM_IP, FORM_AGENT = "198.51.100.23", "Mozilla/5.0 (DOI test)"


def make_form(slug, purpose, channels):
    form = CollectionForm.objects.create(slug=slug, name_fr=slug, public=True, double_opt_in=True)
    box = CollectionFormItem.objects.create(form=form, purpose=purpose, channel=channels["email"])
    return form, box


@pytest.fixture
def signup(newsletter, channels):
    return make_form("signup", newsletter, channels)


@pytest.fixture
def offers(channels):
    purpose = PurposeFactory(slug="offers", legal_basis="consent", channels=[channels["email"]])
    return make_form("offers", purpose, channels)


def submit(client, slug, box, email, capture, **extra):
    with capture(execute=True):
        response = client.post(f"/forms/{slug}/", {"email": email, f"box_{box.pk}": "on", **extra},
                               REMOTE_ADDR=FORM_IP, HTTP_USER_AGENT=FORM_AGENT)
    assert response.status_code == 200 and "check-mailbox" in response.content.decode()
    return re.sub(r"^https?://[^/]+", "", re.search(r"https?://\S+", mail.outbox[-1].body).group(0))


def after_expiry():
    from django.conf import settings

    return timezone.now() + timedelta(days=settings.DOUBLE_OPT_IN_DAYS + 1)


def assert_erased(contact, email):
    contact.refresh_from_db()
    assert contact.anonymised_at and contact.email != email and contact.first_name == "anonyme"
    assert not contact.history.filter(email=email).exists()
    events = ConsentEvent.objects.filter(contact=contact)
    assert events.exists()
    assert not events.exclude(evidence_ip=None).exists()
    assert not events.exclude(evidence_user_agent="").exists()
    assert selectors.ledger_verify()[1] is None


def test_a_contact_created_only_for_it_is_erased_with_the_events_evidence(client, signup,
                                                                          django_capture_on_commit_callbacks):
    _form, box = signup
    submit(client, "signup", box, "late@example.org", django_capture_on_commit_callbacks, first_name="Late")
    contact = Contact.objects.get(email="late@example.org")
    pending = ConsentEvent.objects.get(contact=contact)
    assert (str(pending.evidence_ip), pending.evidence_user_agent) == (FORM_IP, FORM_AGENT)

    assert services.consent_expire_pending(now=after_expiry()) == 1
    assert_erased(contact, "late@example.org")
    assert set(ConsentEvent.objects.filter(contact=contact).values_list("action", flat=True)) == {"pending", "expired"}
    checked, broken = selectors.ledger_verify()
    assert checked == 2 and broken is None


def test_a_scanned_paper_form_is_deleted_with_the_rest(client, staff_user, signup, tmp_path):
    from registry import erasure

    _form, box = signup
    client.force_login(staff_user)
    scan = SimpleUploadedFile("form.pdf", b"%PDF-1.4 signed", content_type="application/pdf")
    response = client.post("/staff/forms/signup/", {"email": "paper@example.org", "method": "paper",
                                                    f"box_{box.pk}": "on", "evidence_document": scan,
                                                    "evidence_note": "Salon"})
    assert response.status_code == 200
    event = ConsentEvent.objects.get(action="pending")
    stored = event.evidence_document.name
    assert event.evidence_document.storage.exists(stored)

    services.consent_expire_pending(now=after_expiry())
    event.refresh_from_db()
    assert (event.evidence_document.name, event.evidence_note) == ("", "")
    job = Job.objects.get(kind=erasure.DELETE_FILES_JOB_KIND)
    assert [item[2] for item in job.params["files"]] == [stored]
    erasure.delete_files(job, lambda progress: None)
    assert not event.evidence_document.storage.exists(stored)
    assert selectors.ledger_verify()[1] is None


def test_an_existing_customer_who_never_confirms_is_kept(client, signup, categories,
                                                         django_capture_on_commit_callbacks):
    _form, box = signup
    customer = services.contact_create(email="client@example.org", first_name="Camille", last_name="Durand",
                                       external_ref="CRM-0042", source="crm",
                                       data_subject_categories=[categories["customer"]])
    submit(client, "signup", box, "client@example.org", django_capture_on_commit_callbacks)

    assert services.consent_expire_pending(now=after_expiry()) == 1
    customer.refresh_from_db()
    assert customer.anonymised_at is None
    assert (customer.email, customer.last_name, customer.external_ref) == ("client@example.org", "Durand", "CRM-0042")
    assert list(customer.data_subject_categories.values_list("code", flat=True)) == ["customer"]
    assert ConsentState.objects.get(contact=customer).status == "expired"
    assert ConsentEvent.objects.get(contact=customer, action="pending").evidence_ip is not None


def test_a_contact_the_organisation_already_held_is_kept_even_without_reference(client, signup,
                                                                                django_capture_on_commit_callbacks):
    _form, box = signup
    held = services.contact_create(email="held@example.org", last_name="Martin", source="import:salon-2025.csv")
    submit(client, "signup", box, "held@example.org", django_capture_on_commit_callbacks)
    services.consent_expire_pending(now=after_expiry())
    held.refresh_from_db()
    assert held.anonymised_at is None and held.last_name == "Martin"


def test_a_contact_edited_by_staff_after_the_form_is_kept(client, signup, django_capture_on_commit_callbacks):
    _form, box = signup
    submit(client, "signup", box, "edited@example.org", django_capture_on_commit_callbacks)
    contact = Contact.objects.get(email="edited@example.org")
    services.contact_update(contact=contact, last_name="Bernard")
    services.consent_expire_pending(now=after_expiry())
    contact.refresh_from_db()
    assert contact.anonymised_at is None and contact.last_name == "Bernard"


def test_another_valid_pending_keeps_the_contact_until_it_expires_too(client, signup, offers,
                                                                      django_capture_on_commit_callbacks):
    from django.conf import settings

    with time_machine.travel(timezone.now() - timedelta(days=settings.DOUBLE_OPT_IN_DAYS + 2)):
        submit(client, "signup", signup[1], "two@example.org", django_capture_on_commit_callbacks)
    second_link = submit(client, "offers", offers[1], "two@example.org", django_capture_on_commit_callbacks)
    contact = Contact.objects.get(email="two@example.org")

    assert services.consent_expire_pending() == 1  # the first one only
    contact.refresh_from_db()
    assert contact.anonymised_at is None and contact.email == "two@example.org"
    assert ConsentState.objects.filter(contact=contact, status="pending").count() == 1
    assert client.get(second_link).status_code == 200  # the other link still works

    assert services.consent_expire_pending(now=after_expiry()) == 1
    assert_erased(contact, "two@example.org")


def test_the_other_link_still_confirms_after_the_first_expired(client, signup, offers, channels,
                                                               django_capture_on_commit_callbacks):
    from django.conf import settings

    with time_machine.travel(timezone.now() - timedelta(days=settings.DOUBLE_OPT_IN_DAYS + 2)):
        submit(client, "signup", signup[1], "keep@example.org", django_capture_on_commit_callbacks)
    second_link = submit(client, "offers", offers[1], "keep@example.org", django_capture_on_commit_callbacks)
    assert services.consent_expire_pending() == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(second_link)
    assert response.status_code == 200 and 'id="confirmed"' in response.content.decode()
    contact = Contact.objects.get(email="keep@example.org")
    assert selectors.consent_check(contact=contact, purpose=offers[1].purpose, channel=channels["email"]).allowed
    services.consent_expire_pending(now=after_expiry())
    contact.refresh_from_db()
    assert contact.anonymised_at is None  # a granted consent: never erased by expiry


def test_confirming_for_a_retired_purpose_says_why(client, signup, newsletter, django_capture_on_commit_callbacks):
    link = submit(client, "signup", signup[1], "retired@example.org", django_capture_on_commit_callbacks)
    registry_services.purpose_update(purpose=newsletter, status="retired")
    response = client.post("/en" + link)
    page = response.content.decode()
    assert response.status_code == 410
    assert 'data-reason="purpose_retired"' in page and "can no longer be confirmed" in page
    assert newsletter.name_en in page
    assert not ConsentEvent.objects.filter(action="granted").exists()
    french = client.post(link)
    assert french.status_code == 410 and newsletter.name_fr in french.content.decode()


def test_confirming_for_an_erased_contact_says_why(client, signup, django_capture_on_commit_callbacks):
    link = submit(client, "signup", signup[1], "erased@example.org", django_capture_on_commit_callbacks)
    services.contact_anonymise(contact=Contact.objects.get(email="erased@example.org"))
    response = client.post("/en" + link)
    page = response.content.decode()
    assert response.status_code == 410
    assert 'data-reason="contact_anonymised"' in page and "erased from our files" in page
    assert not ConsentEvent.objects.filter(action="granted").exists()
    assert client.get(link).status_code == 200  # GET still only asks; nothing is recorded by opening it


def test_ticking_again_never_replaces_a_given_consent_nor_stacks_a_second_pending(client, signup,
                                                                                 django_capture_on_commit_callbacks):
    """Anyone may type an address: an unconfirmed request must not undo its owner's consent. A person who
    submits twice gets the same link again, which still confirms."""
    form, box = signup
    first_link = submit(client, "signup", box, "twice@example.org", django_capture_on_commit_callbacks)
    mails = len(mail.outbox)
    again_link = submit(client, "signup", box, "twice@example.org", django_capture_on_commit_callbacks)
    contact = Contact.objects.get(email="twice@example.org")
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("action", flat=True)) == ["pending"]
    assert len(mail.outbox) == mails + 1 and again_link.rsplit("/", 2)[0] == first_link.rsplit("/", 2)[0]
    with django_capture_on_commit_callbacks(execute=True):
        assert "confirmed" in client.post(first_link).content.decode()
    purpose, channel = box.purpose, box.channel
    assert selectors.consent_check(contact=contact, purpose=purpose, channel=channel).allowed

    mails = len(mail.outbox)
    link = submit(client, "signup", box, "twice@example.org", django_capture_on_commit_callbacks)
    assert len(mail.outbox) == mails + 1 and "/preferences/" in link  # the preference link, not a new pending
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("action", flat=True)) == [
        "pending", "granted"]
    assert selectors.consent_check(contact=contact, purpose=purpose, channel=channel).allowed
    services.consent_expire_pending(now=after_expiry())
    assert selectors.consent_check(contact=contact, purpose=purpose, channel=channel).allowed


def test_a_mail_server_that_refuses_never_turns_a_recorded_consent_into_an_error_page(
        client, signup, settings, django_capture_on_commit_callbacks, caplog):
    settings.EMAIL_BACKEND = "tests.consent.test_double_opt_in.RefusingBackend"
    form, box = signup
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/forms/signup/", {"email": "down@example.org", f"box_{box.pk}": "on"})
    assert response.status_code == 200 and "check-mailbox" in response.content.decode()
    assert ConsentEvent.objects.filter(contact__email="down@example.org", action="pending").exists()
    assert "could not send consent.tasks.send_double_opt_in" in caplog.text


class RefusingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPServerDisconnected("the mail server is down")


def test_the_confirmation_email_speaks_the_language_of_the_form_page(client, signup,
                                                                    django_capture_on_commit_callbacks):
    """A contact on file in French who fills in the English page gets the English email and link."""
    form, box = signup
    Contact.objects.create(email="bilingual@example.org", language="fr")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/en/forms/signup/", {"email": "bilingual@example.org", f"box_{box.pk}": "on"})
    assert response.status_code == 200
    message = mail.outbox[-1]
    assert message.subject == "Please confirm your subscription"
    assert "/en/" in re.search(r"https?://\S+", message.body).group(0)
