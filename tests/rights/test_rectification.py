"""Rectification (Art. 16): approved corrections go through consent.services.contact_update (history
before and after, normal forms, uniqueness), refusals by the service become refused corrections with
the reason, the requester reads what changed and why not, and Art. 19 reaches the purposes' recipients."""
from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.html import escape

from consent import services as consent_services
from consent.models import Contact
from registry.models import Channel, DataSubjectCategory, Job
from rights import emails, services
from rights.fulfilment import rectification
from rights.models import RectificationChange, RightsRequest, Status
from tests.factories import PurposeFactory, RecipientFactory

from .factories import record_notifications, run_fulfilment, verified_request

pytestmark = pytest.mark.django_db
Decision = RectificationChange.Decision


@pytest.fixture
def outbox(monkeypatch):
    return record_notifications(monkeypatch)


@pytest.fixture
def contact(reference_data):
    return consent_services.contact_create(email="camille.durand@example.org", first_name="Camile",
                                           last_name="Durant", phone="06 12 34 56 78")


def decide(request, by, **decisions):
    """decisions: field -> True (apply) or a refusal reason, for the corrections still to decide."""
    for change in request.rectifications.filter(decision=Decision.PENDING):
        verdict = decisions[change.field]
        services.rights_request_decide_rectification(change=change, apply=verdict is True,
                                                      reason="" if verdict is True else verdict, by=by)


def rectification_request(changes, **fields):
    fields.setdefault("language", "en")
    return verified_request(kind="rectification", rectifications=changes, **fields)


def test_approved_corrections_are_applied_with_history_and_normal_forms(contact, staff_user, outbox,
                                                                        django_capture_on_commit_callbacks):
    request = rectification_request([("first_name", "Camille"), ("last_name", "Durand"),
                                     ("phone", "+33 6 98 76 54 32"), ("city", "Brest")])
    decide(request, staff_user, first_name=True, last_name=True, phone=True,
           city="We have no postal address on file for you.")
    history_before = contact.history.count()
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.phone, contact.city) == \
           ("Camille", "Durand", "+33698765432", "")
    # One history row per applied correction: the value before and the value after are both kept.
    rows = list(contact.history.order_by("history_date", "history_id"))
    assert len(rows) == history_before + 3
    assert [r.first_name for r in rows[-4:]] == ["Camile", "Camille", "Camille", "Camille"]
    assert [r.phone for r in rows[-2:]] == ["+33612345678", "+33698765432"]
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert "Corrected: First name, Last name, Phone (E.164)." in request.outcome
    assert "City: We have no postal address on file for you." in request.outcome
    assert "Camille" not in request.outcome  # the outcome names fields, not values (it outlives an erasure)
    assert outbox.messages(request.pk)[-1] == "completed"


def filed_before_the_check(request, field, value, *, approved=False):
    """A correction filed (and perhaps approved) before its value was checked: written as it was."""
    change = RectificationChange.objects.create(request=request, field=field, new_value=value)
    if approved:
        RectificationChange.objects.filter(pk=change.pk).update(decision=Decision.APPLIED)
    return change


def test_a_correction_the_service_refuses_is_refused_with_its_reason(contact, staff_user, outbox,
                                                                     django_capture_on_commit_callbacks):
    consent_services.contact_create(email="taken@example.org", last_name="Other")
    request = rectification_request([("email", " Taken@Example.org ")])
    filed_before_the_check(request, "language", "xx", approved=True)
    RectificationChange.objects.create(request=request, field="first_name", new_value="Camille")
    decide(request, staff_user, email=True, first_name=True)
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error  # refused, not crashed
    contact.refresh_from_db()
    assert (contact.email, contact.language, contact.first_name) == ("camille.durand@example.org", "fr", "Camille")
    email, language, first_name = request.rectifications.order_by("pk")
    assert email.decision == Decision.REFUSED and "already exists" in email.reason
    assert language.decision == Decision.REFUSED and language.reason.startswith("Could not be applied")
    assert first_name.decision == Decision.APPLIED
    request.refresh_from_db()
    assert "Corrected: First name." in request.outcome
    assert "Not corrected:" in request.outcome and "A contact with this email already exists." in request.outcome


def test_email_is_normalised_and_applying_twice_changes_nothing(contact, staff_user, outbox,
                                                                django_capture_on_commit_callbacks):
    request = rectification_request([("email", "  Camille.NEW@Example.ORG ")])
    decide(request, staff_user, email=True)
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    contact.refresh_from_db()
    assert contact.email == "camille.new@example.org"
    history = contact.history.count()
    with translation.override("en"):
        again = rectification.rectify(request=request, job=job, report=lambda percent: None)
    assert contact.history.count() == history
    assert again.sources[0].count == 0 and "Corrected: Email." in again.outcome


def test_every_contact_of_the_request_is_corrected(contact, staff_user, outbox, django_capture_on_commit_callbacks):
    duplicate = consent_services.contact_create(email="c.durand@work.example", first_name="Camile", last_name="Durant")
    request = rectification_request([("first_name", "Camille")])
    services.rights_request_add_contact(request=request, contact=duplicate, by=staff_user,
                                        note="Same postal address and date of birth")
    decide(request, staff_user, first_name=True)
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert set(Contact.objects.values_list("first_name", flat=True)) == {"Camille"}


def test_recipients_of_the_purposes_concerned_get_a_task(contact, staff_user, outbox,
                                                         django_capture_on_commit_callbacks):
    """Art. 19: purposes the data serves are those with a consent state and those aimed at the
    contact's categories; their activities' recipients get a task, others do not."""
    email = Channel.objects.get(code="email")
    donor = DataSubjectCategory.objects.get(code="donor")
    newsletter = PurposeFactory(slug="newsletter", legal_basis="consent", channels=[email])
    appeals = PurposeFactory(slug="appeals", legal_basis="legitimate_interests", legitimate_interest="Donors",
                             channels=[Channel.objects.get(code="postal")], data_subject_categories=[donor])
    unrelated = PurposeFactory(slug="unrelated", legal_basis="contract", channels=[email])
    for purpose, name in ((newsletter, "Mailer"), (appeals, "Printer"), (unrelated, "Accountant")):
        purpose.activity.recipients.add(RecipientFactory(name=name))
    consent_services.consent_record(contact=contact, purpose=newsletter, channel=email, action="granted",
                                    method="web_form")
    consent_services.contact_update(contact=contact, data_subject_categories=[donor])
    assert rectification.purposes_served([contact]) == sorted([newsletter.pk, appeals.pk])

    request = rectification_request([("first_name", "Camille")])
    decide(request, staff_user, first_name=True)
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert set(request.recipient_tasks.values_list("name", flat=True)) == {"Mailer", "Printer"}
    assert request.status == Status.IN_PROGRESS  # until staff confirm the manual tasks
    for task in request.recipient_tasks.all():
        services.recipient_task_confirm(task=task, by=staff_user, note="Corrected in their system")
    request.refresh_from_db()
    assert request.status == Status.COMPLETED


def test_nothing_applied_tells_no_recipient(contact, staff_user, outbox, django_capture_on_commit_callbacks):
    email = Channel.objects.get(code="email")
    newsletter = PurposeFactory(slug="newsletter", legal_basis="consent", channels=[email])
    newsletter.activity.recipients.add(RecipientFactory(name="Mailer"))
    consent_services.consent_record(contact=contact, purpose=newsletter, channel=email, action="granted",
                                    method="web_form")
    request = rectification_request([("first_name", "Camille")])
    decide(request, staff_user, first_name="Your first name is already right in our files.")
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert not request.recipient_tasks.exists() and request.status == Status.COMPLETED
    assert "Your first name is already right" in request.outcome


def test_outcome_is_written_in_the_requester_language(contact, staff_user, outbox,
                                                      django_capture_on_commit_callbacks):
    request = rectification_request([("first_name", "Camille")], language="fr")
    decide(request, staff_user, first_name=True)
    with translation.override("en"):
        run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    request.refresh_from_db()
    # The field's label is the French one, whatever language the staff member uses.
    assert "Prénom" in request.outcome or "prénom" in request.outcome


# --- The value asked for is checked as the contact's update checks it ------------------------------


@pytest.mark.parametrize("field, value, fragment", [
    ("email", "not-an-email", "valid email address"),
    ("phone", "123", "valid phone number"),
    ("country", "Narnia", "two-letter code"),
    ("country", "ZZ", "two-letter code"),
    ("language", "klingon", "Enter one of: fr"),
    ("postal_code", "1234567890123", "at most 12 characters"),
])
def test_a_value_the_contact_update_would_refuse_is_not_filed(reference_data, field, value, fragment):
    with translation.override("en"), pytest.raises(ValidationError) as raised:
        label = rectification.field_label(field)
        services.rights_request_create(kind="rectification", requester_name="Camille Durand",
                                       requester_email="camille.durand@example.org", received_via="api",
                                       rectifications=[("city", "Brest"), (field, value)])
    [message] = raised.value.message_dict["rectifications"]
    assert message.startswith(f"{label}: ") and fragment in message
    assert not RightsRequest.objects.exists()


def test_values_are_filed_in_the_contact_normal_form(reference_data):
    request = rectification_request([("email", " Camille.NEW@Example.ORG "), ("phone", "06 98 76 54 32"),
                                     ("country", " be ")])
    assert list(request.rectifications.values_list("field", "new_value")) == [
        ("email", "camille.new@example.org"), ("phone", "+33698765432"), ("country", "BE")]


@pytest.mark.parametrize("field, value, fragment", [
    ("email", "not-an-email", "valid email address"),
    ("phone", "123", "valid phone number"),
    ("country", "Narnia", "two-letter code"),
])
def test_approving_a_value_filed_before_the_check_is_refused(contact, staff_user, field, value, fragment):
    request = rectification_request([("first_name", "Camille")])
    change = filed_before_the_check(request, field, value)
    with translation.override("en"), pytest.raises(ValidationError) as raised:
        services.rights_request_decide_rectification(change=change, apply=True, by=staff_user)
    [message] = raised.value.message_dict["decision"]
    assert message.startswith("This correction cannot be applied:") and fragment in message
    change.refresh_from_db()
    assert (change.decision, change.decided_by, change.decided_at) == (Decision.PENDING, None, None)
    assert not request.events.filter(code="rectification_decided").exists()
    # Refusing it, with a reason, is still possible; a valid correction is still approved.
    services.rights_request_decide_rectification(change=change, apply=False, reason="Not a valid value.",
                                                  by=staff_user)
    decide(request, staff_user, first_name=True)
    assert set(request.rectifications.values_list("field", "decision")) == {
        (field, Decision.REFUSED), ("first_name", Decision.APPLIED)}


def test_a_national_number_filed_before_the_check_is_approved_in_the_contact_country(reference_data,
                                                                                    staff_user):
    """A Brussels number written the Belgian way is no French number: the approval reads it in the
    country of the contact it will be applied to, as the fulfilment will."""
    consent_services.contact_create(email="camille.durand@example.org", last_name="Durand", country="BE")
    request = rectification_request([("first_name", "Camille")])
    change = filed_before_the_check(request, "phone", "02 512 34 56")
    services.rights_request_decide_rectification(change=change, apply=True, by=staff_user)
    change.refresh_from_db()
    assert change.decision == Decision.APPLIED


def test_a_correction_not_applied_is_said_once_with_its_reason(contact, staff_user, outbox,
                                                               django_capture_on_commit_callbacks):
    """A correction approved before its value was checked cannot be applied: the contact keeps its
    value, the correction becomes refused with the reason, and the outcome and the completion email
    say so once (the email lists only the values written)."""
    request = rectification_request([("first_name", "Camille")])
    filed_before_the_check(request, "country", "Narnia", approved=True)
    decide(request, staff_user, first_name=True)
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error
    contact.refresh_from_db()
    assert (contact.first_name, contact.country) == ("Camille", "FR")
    country = request.rectifications.get(field="country")
    assert country.decision == Decision.REFUSED
    assert country.reason.startswith("Could not be applied: ") and "two-letter code" in country.reason
    assert request.status == Status.COMPLETED
    assert request.outcome.splitlines() == ["Corrected: First name.", "Not corrected:",
                                            f"- Country: {country.reason}"]

    mail.outbox.clear()
    emails.send_request_email(request_id=request.pk, message="completed")
    [message] = mail.outbox
    said = country.reason.removeprefix("Could not be applied: ")
    for body in (message.body, message.alternatives[0][0]):
        assert body.count(said) + body.count(escape(said)) == 1, body
        assert body.count("Camille") >= 1 and "Narnia" not in body


def test_nothing_corrected_is_not_reported_as_done(contact, staff_user, outbox, django_capture_on_commit_callbacks):
    request = rectification_request([("city", "Brest")])
    filed_before_the_check(request, "email", "not-an-email", approved=True)
    decide(request, staff_user, city="We hold no postal address for you.")
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    contact.refresh_from_db()
    assert (contact.email, contact.city) == ("camille.durand@example.org", "")
    lines = request.outcome.splitlines()
    assert lines[:2] == ["No correction was made:", "- City: We hold no postal address for you."]
    assert len(lines) == 3 and lines[2].startswith("- Email: Could not be applied: ")
    assert "valid email address" in lines[2] and "Corrected" not in request.outcome
