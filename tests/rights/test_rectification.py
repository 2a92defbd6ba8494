"""Rectification (Art. 16): approved corrections go through consent.services.contact_update (history
before and after, normal forms, uniqueness), refusals by the service become refused corrections with
the reason, the requester reads what changed and why not, and Art. 19 reaches the purposes' recipients."""
from __future__ import annotations

import pytest
from django.utils import translation

from consent import services as consent_services
from consent.models import Contact
from registry.models import Channel, DataSubjectCategory, Job
from rights import services
from rights.fulfilment import rectification
from rights.models import RectificationChange, Status
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
    """decisions: field -> True (apply) or a refusal reason."""
    for change in request.rectifications.all():
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


def test_a_correction_the_service_refuses_is_refused_with_its_reason(contact, staff_user, outbox,
                                                                     django_capture_on_commit_callbacks):
    consent_services.contact_create(email="taken@example.org", last_name="Other")
    request = rectification_request([("email", " Taken@Example.org "), ("language", "xx"), ("first_name", "Camille")])
    decide(request, staff_user, email=True, language=True, first_name=True)
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
