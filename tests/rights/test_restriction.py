"""Restriction (Art. 18): the contact is flagged, every check and audience says no, and the flag is
lifted only after the requester was told (Art. 18(3))."""
from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from consent import services as consent_services
from consent.selectors import audience_rows, consent_check
from registry.models import Channel, DataSubjectCategory, Job
from rights import services
from rights.fulfilment import restriction
from rights.models import ReceivedVia, RequestEvent, Status
from tests.factories import PurposeFactory

from .factories import record_notifications, run_fulfilment, staff_request, verified_request

pytestmark = pytest.mark.django_db
Code = RequestEvent.Code
ART_18_3 = re.compile(r"[Aa]rt\. 18[.(]3")  # "Art. 18(3)" in English, "art. 18.3" in French


@pytest.fixture
def outbox(monkeypatch):
    return record_notifications(monkeypatch)


@pytest.fixture
def world(reference_data):
    email, postal = Channel.objects.get(code="email"), Channel.objects.get(code="postal")
    donor = DataSubjectCategory.objects.get(code="donor")
    newsletter = PurposeFactory(slug="newsletter", legal_basis="consent", channels=[email])
    appeals = PurposeFactory(slug="appeals", legal_basis="legitimate_interests", legitimate_interest="Donors",
                             direct_marketing=True, channels=[postal], data_subject_categories=[donor])
    people = []
    for address in ("camille.durand@example.org", "other@example.org"):
        contact = consent_services.contact_create(email=address, last_name="Durand", address_line1="1 rue X",
                                                  city="Brest", data_subject_categories=[donor])
        consent_services.consent_record(contact=contact, purpose=newsletter, channel=email, action="granted",
                                        method="web_form")
        people.append(contact)
    return {"email": email, "postal": postal, "newsletter": newsletter, "appeals": appeals,
            "contact": people[0], "other": people[1]}


def reachable(world, contact):
    """(consent check, audience) answers for both purposes."""
    answers = {}
    for purpose, channel in ((world["newsletter"], world["email"]), (world["appeals"], world["postal"])):
        result = consent_check(contact=contact, purpose=purpose, channel=channel)
        audience = {row["contact_id"] for row in audience_rows(purpose=purpose, channel=channel)}
        answers[purpose.slug] = (result.allowed, result.reason, contact.pk in audience)
    return answers


def restrict(world, staff_user, capture, **fields):
    request = verified_request(kind="restriction", **fields)
    job = run_fulfilment(request, by=staff_user, capture=capture)
    assert job.status == Job.Status.DONE, job.error
    return request


def test_restriction_flags_the_contact_and_every_check_and_audience_says_no(world, staff_user, outbox,
                                                                            django_capture_on_commit_callbacks):
    contact = world["contact"]
    assert reachable(world, contact) == {"newsletter": (True, "consent_granted", True),
                                         "appeals": (True, "no_consent", True)}
    request = restrict(world, staff_user, django_capture_on_commit_callbacks, language="en")
    contact.refresh_from_db()
    assert contact.restricted and contact.history.first().restricted  # through the service: in the history
    assert reachable(world, contact) == {"newsletter": (False, "restricted", False),
                                         "appeals": (False, "restricted", False)}
    assert reachable(world, world["other"])["newsletter"] == (True, "consent_granted", True)
    request.refresh_from_db()
    assert request.status == Status.COMPLETED and "restricted" in request.outcome
    history = contact.history.count()
    restriction.restrict(request=request, job=Job.objects.get(kind="rights_fulfil"), report=lambda p: None)
    assert contact.history.count() == history  # twice changes nothing


def test_lifting_is_refused_until_the_requester_was_told(world, staff_user, outbox,
                                                         django_capture_on_commit_callbacks):
    contact = world["contact"]
    request = restrict(world, staff_user, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError) as error:
        services.rights_request_lift_restriction(request=request, by=staff_user)
    assert ART_18_3.search(" ".join(error.value.messages))
    contact.refresh_from_db()
    assert contact.restricted

    services.rights_request_announce_restriction_lifting(request=request, by=staff_user)
    assert outbox.messages(request.pk)[-1] == "restriction_lifting"
    assert request.events.filter(code=Code.NOTE, data__restriction_lifting="announced").count() == 1
    services.rights_request_announce_restriction_lifting(request=request, by=staff_user)  # once is enough
    assert outbox.messages(request.pk).count("restriction_lifting") == 1

    services.rights_request_lift_restriction(request=request, by=staff_user)
    contact.refresh_from_db()
    assert not contact.restricted
    lifted = request.events.get(code=Code.RESTRICTION_LIFTED)
    assert lifted.user == staff_user and lifted.data["contacts"] == [contact.pk]
    assert reachable(world, contact)["newsletter"] == (True, "consent_granted", True)
    services.rights_request_lift_restriction(request=request, by=staff_user)
    assert request.events.filter(code=Code.RESTRICTION_LIFTED).count() == 1
    with pytest.raises(ValidationError):
        services.rights_request_announce_restriction_lifting(request=request, by=staff_user)


def test_nothing_to_announce_before_the_restriction_applies(world, staff_user, outbox):
    request = verified_request(kind="restriction")
    with pytest.raises(ValidationError) as error:
        services.rights_request_announce_restriction_lifting(request=request, by=staff_user)
    assert "status" in error.value.message_dict
    access = verified_request(kind="access", email="other@example.org")
    with pytest.raises(ValidationError) as error:
        services.rights_request_lift_restriction(request=access, by=staff_user)
    assert "kind" in error.value.message_dict


def test_a_request_by_post_is_announced_by_letter(world, staff_user, outbox, django_capture_on_commit_callbacks):
    request = staff_request(by=staff_user, kind="restriction", received_via=ReceivedVia.POST)
    services.rights_request_verify_identity(request=request, method="id_document", note="ID card copy", by=staff_user)
    services.rights_request_add_contact(request=request, contact=world["contact"], by=staff_user, note="Same address")
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError) as error:
        services.rights_request_announce_restriction_lifting(request=request, by=staff_user)
    assert "note" in error.value.message_dict
    services.rights_request_announce_restriction_lifting(request=request, by=staff_user,
                                                         note="Letter sent on 3 March, recorded delivery")
    assert "restriction_lifting" not in outbox.messages(request.pk)
    services.rights_request_lift_restriction(request=request, by=staff_user)
    world["contact"].refresh_from_db()
    assert not world["contact"].restricted


def test_another_restriction_in_force_keeps_the_flag(world, staff_user, outbox, django_capture_on_commit_callbacks):
    first = restrict(world, staff_user, django_capture_on_commit_callbacks)
    second = restrict(world, staff_user, django_capture_on_commit_callbacks)
    services.rights_request_announce_restriction_lifting(request=first, by=staff_user)
    services.rights_request_lift_restriction(request=first, by=staff_user)
    world["contact"].refresh_from_db()
    assert world["contact"].restricted
    assert first.events.get(code=Code.RESTRICTION_LIFTED).data["still_restricted"] == [world["contact"].pk]
    services.rights_request_announce_restriction_lifting(request=second, by=staff_user)
    services.rights_request_lift_restriction(request=second, by=staff_user)
    world["contact"].refresh_from_db()
    assert not world["contact"].restricted
