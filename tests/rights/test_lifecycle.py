"""The request lifecycle through rights.services: statuses, timeline, deadlines, matching."""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

import pytest
import time_machine
from django.core.exceptions import ValidationError

from rights import services
from rights.models import RequestEvent, Status
from tests.factories import ContactFactory

from .factories import staff_request, verified_request, web_request

pytestmark = pytest.mark.django_db


def codes(request):
    return list(request.events.values_list("code", flat=True))


def test_web_request_waits_for_email_and_suspends_deadline(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        request = web_request()
    assert request.status == Status.AWAITING_VERIFICATION
    assert request.suspensions.filter(ended_at__isnull=True).count() == 1
    assert codes(request) == ["received", "verification_sent"]
    assert request.reference.startswith("DR-") and len(request.reference) == 17
    assert len(callbacks) == 1  # the verification email goes out after commit, from a task


def test_verification_matches_only_the_email(reference_data):
    mine = ContactFactory(email="camille.durand@example.org", phone="+33612345678")
    same_phone = ContactFactory(email="someone.else@example.org", phone="+33612345678")
    request = verified_request(requester_phone="06 12 34 56 78")
    assert request.status == Status.VERIFIED
    assert list(request.contacts.all()) == [mine]
    candidates = {c.contact.pk: c.reasons for c in services_candidates(request)}
    assert candidates == {same_phone.pk: ["phone"]}


def services_candidates(request):
    from rights.selectors import request_candidates

    return request_candidates(request=request)


def test_verifying_twice_changes_nothing():
    request = verified_request()
    again = services.rights_request_verify_email(request=request)
    assert again.status == Status.VERIFIED
    assert codes(again).count("verified") == 1


def test_due_date_counts_the_days_waiting_for_the_email():
    with time_machine.travel(datetime(2027, 1, 4, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        request = web_request()
    assert request.due_on.isoformat() == "2027-02-04"
    with time_machine.travel(datetime(2027, 1, 7, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        request = services.rights_request_verify_email(request=request)
    assert request.due_on.isoformat() == "2027-02-08"  # 4 Feb + 3 days suspended = Sunday 7 → Monday 8


def test_staff_verification_needs_a_note_and_records_who(staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert request.status == Status.RECEIVED
    with pytest.raises(ValidationError) as error:
        services.rights_request_verify_identity(request=request, method="id_document", note=" ", by=staff_user)
    assert "note" in error.value.message_dict
    request = services.rights_request_verify_identity(request=request, method="id_document",
                                                      note="Carte d'identité vue au guichet", by=staff_user)
    event = request.events.get(code=RequestEvent.Code.VERIFIED)
    assert (event.user, event.data["method"]) == (staff_user, "id_document")


def test_question_and_answer_return_to_previous_status(staff_user):
    request = verified_request()
    request = services.rights_request_ask(request=request, question="Which address?", by=staff_user)
    assert request.status == Status.AWAITING_REQUESTER
    assert not request.suspensions.filter(ended_at__isnull=True).exists()  # clarification does not suspend
    request = services.rights_request_answer(request=request, answer="12 rue des Lilas")
    assert request.status == Status.VERIFIED
    assert codes(request)[-2:] == ["asked", "answered"]


def test_extension_limits(staff_user):
    with time_machine.travel(datetime(2027, 1, 4, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        request = staff_request(by=staff_user, email="a@example.org")
        request = services.rights_request_extend(request=request, months=2, reason="Complex request",
                                                 by=staff_user)
        assert request.due_on.isoformat() == "2027-04-05"  # 4 April 2027 is a Sunday
        with pytest.raises(ValidationError):
            services.rights_request_extend(request=request, months=1, reason="More", by=staff_user)
    with time_machine.travel(datetime(2027, 2, 10, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        late = staff_request(by=staff_user, email="b@example.org", received_at=datetime(2027, 1, 4, 9, 0,
                                                                                       tzinfo=dt_timezone.utc))
        with pytest.raises(ValidationError) as error:
            services.rights_request_extend(request=late, months=1, reason="Too late", by=staff_user)
        assert "months" in error.value.message_dict


def test_reject_needs_reason_and_closes(staff_user):
    request = verified_request()
    with pytest.raises(ValidationError):
        services.rights_request_reject(request=request, reason_code="nonsense", text="x", by=staff_user)
    request = services.rights_request_reject(request=request, reason_code="excessive", text="Fifth this month",
                                             by=staff_user)
    assert request.status == Status.REJECTED and request.closed_at is not None
    with pytest.raises(ValidationError):
        services.rights_request_withdraw(request=request)


def test_unverified_requests_expire_to_a_count():
    with time_machine.travel(datetime(2027, 1, 4, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        request = web_request()
    from rights.models import RightsRequest, UnverifiedRequestCount

    with time_machine.travel(datetime(2027, 1, 12, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        assert services.rights_request_expire_unverified() == 1
    assert not RightsRequest.objects.filter(pk=request.pk).exists()
    assert not RightsRequest.history.filter(id=request.pk).exists()
    assert UnverifiedRequestCount.objects.get(kind="access").count == 1
