"""Objection (Art. 21) follows the purpose's legal basis: direct marketing at once on every channel,
consent as a withdrawal, legitimate interests and public tasks after the DPO's decision on
compelling grounds, and no right to object under contract, legal obligation or vital interests."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from consent import services as consent_services
from consent.models import ConsentEvent
from consent.selectors import consent_check
from registry import services as registry_services
from registry.models import Channel, DataSubjectCategory, Job
from rights import services
from rights.fulfilment import objection
from rights.models import RequestEvent, Status
from tests.factories import PurposeFactory

from .factories import record_notifications, run_fulfilment, verified_request

pytestmark = pytest.mark.django_db
EMAIL = "camille.durand@example.org"


@pytest.fixture
def outbox(monkeypatch):
    return record_notifications(monkeypatch)


@pytest.fixture
def channels(reference_data):
    return {c.code: c for c in Channel.objects.all()}


@pytest.fixture
def customer(reference_data):
    return DataSubjectCategory.objects.get(code="customer")


@pytest.fixture
def contact(customer):
    return consent_services.contact_create(email=EMAIL, phone="06 12 34 56 78", last_name="Durand",
                                           address_line1="1 rue X", city="Brest", data_subject_categories=[customer])


def purpose_on(basis, channels, customer, *, direct_marketing=False, slug=None):
    return PurposeFactory(
        slug=slug or f"{basis.replace('_', '-')}{'-dm' if direct_marketing else ''}", legal_basis=basis,
        direct_marketing=direct_marketing, channels=[channels["email"], channels["postal"]],
        legitimate_interest="Our interest" if basis == "legitimate_interests" else "",
        data_subject_categories=[customer])


def events(contact, purpose):
    return sorted(ConsentEvent.objects.filter(contact=contact, purpose=purpose, method="rights_request")
                  .values_list("channel__code", "action"))


def objection_request(purposes=(), **fields):
    fields.setdefault("language", "en")
    return verified_request(kind="objection", email=EMAIL, purposes=purposes, **fields)


EXPECTED = {
    # basis: (treatment, events written once carried out (the DPO finding no overriding grounds))
    "consent": ("withdrawal", [("email", "withdrawn")]),
    "legitimate_interests": ("decision", [("email", "objected"), ("postal", "objected")]),
    "public_task": ("decision", [("email", "objected"), ("postal", "objected")]),
    "contract": ("not_concerned", []),
    "legal_obligation": ("not_concerned", []),
    "vital_interests": ("not_concerned", []),
}


@pytest.mark.parametrize("basis", sorted(EXPECTED))
def test_objection_follows_the_legal_basis(basis, contact, channels, customer, staff_user, dpo_user, outbox,
                                           django_capture_on_commit_callbacks):
    purpose = purpose_on(basis, channels, customer)
    if basis == "consent":
        consent_services.consent_record(contact=contact, purpose=purpose, channel=channels["email"],
                                        action="granted", method="web_form")
    treatment, expected = EXPECTED[basis]
    assert objection.treatment(purpose) == treatment
    request = objection_request([purpose])
    if treatment == "decision":
        with translation.override("en"), pytest.raises(ValidationError) as refused:
            services.rights_request_fulfil(request=request, by=staff_user)  # refused up front: no job
        assert "The DPO must first decide" in str(refused.value.message_dict["purposes"])
        assert not Job.objects.filter(kind="rights_fulfil").exists()
        # Even a job started otherwise (an older queue, a script) refuses to act without the decision.
        with django_capture_on_commit_callbacks(execute=True):
            job = registry_services.job_create(kind="rights_fulfil", params={"request_id": request.pk})
        job.refresh_from_db()
    else:
        job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    if treatment == "decision":
        # Art. 21(1): nothing runs until the DPO weighed the grounds; the job checks again itself.
        assert job.status == Job.Status.FAILED and "The DPO must first decide" in job.error
        assert events(contact, purpose) == []
        request.refresh_from_db()
        assert request.status == Status.VERIFIED
        services.rights_request_decide_objection(request=request, purpose=purpose, overriding_grounds=False,
                                                 reason="", by=dpo_user)
        job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error
    assert events(contact, purpose) == expected
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    if treatment == "not_concerned":
        assert "not concerned" in request.outcome and "gives no right to object" in request.outcome
    for channel, action in expected:
        result = consent_check(contact=contact, purpose=purpose, channel=channels[channel])
        assert (result.allowed, result.status) == (False, action)
    # Twice changes nothing.
    objection.object_to(request=request, job=job, report=lambda percent: None)
    assert events(contact, purpose) == expected


@pytest.mark.parametrize("basis", ["legitimate_interests", "public_task", "contract", "legal_obligation"])
def test_direct_marketing_objection_applies_at_once_on_every_channel(basis, contact, channels, customer,
                                                                      staff_user, outbox,
                                                                      django_capture_on_commit_callbacks):
    purpose = purpose_on(basis, channels, customer, direct_marketing=True)
    assert objection.treatment(purpose) == "direct_marketing"
    job = run_fulfilment(objection_request([purpose]), by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error  # no decision to wait for
    assert events(contact, purpose) == [("email", "objected"), ("postal", "objected")]
    for code in ("email", "postal"):
        assert consent_check(contact=contact, purpose=purpose, channel=channels[code]).reason == "objected"


def test_consent_based_direct_marketing_is_a_withdrawal(contact, channels, customer, staff_user, outbox,
                                                        django_capture_on_commit_callbacks):
    purpose = purpose_on("consent", channels, customer, direct_marketing=True)
    for code in ("email", "postal"):
        consent_services.consent_record(contact=contact, purpose=purpose, channel=channels[code], action="granted",
                                        method="web_form")
    run_fulfilment(objection_request([purpose]), by=staff_user, capture=django_capture_on_commit_callbacks)
    assert events(contact, purpose) == [("email", "withdrawn"), ("postal", "withdrawn")]


def test_compelling_grounds_keep_the_processing_and_the_requester_reads_why(
        contact, channels, customer, staff_user, dpo_user, outbox, django_capture_on_commit_callbacks):
    purpose = purpose_on("legitimate_interests", channels, customer)
    request = objection_request([purpose])
    with pytest.raises(ValidationError) as error:
        services.rights_request_decide_objection(request=request, purpose=purpose, overriding_grounds=True,
                                                 reason=" ", by=dpo_user)
    assert "reason" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.rights_request_decide_objection(request=request, purpose=purpose, overriding_grounds=False,
                                                 reason="", by=staff_user)
    assert "overriding_grounds" in error.value.message_dict  # the DPO only
    decision = services.rights_request_decide_objection(
        request=request, purpose=purpose, overriding_grounds=True, by=dpo_user,
        reason="Fraud prevention on an open claim outweighs the objection.")
    assert decision.code == RequestEvent.Code.OBJECTION_DECIDED and decision.user == dpo_user
    assert decision.data == {"purpose": purpose.pk, "slug": purpose.slug, "overriding_grounds": True}
    job = run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert job.status == Job.Status.DONE, job.error
    assert events(contact, purpose) == []
    request.refresh_from_db()
    assert "compelling legitimate grounds" in request.outcome and "Fraud prevention" in request.outcome
    with pytest.raises(ValidationError):  # decided and carried out: no second thoughts
        services.rights_request_decide_objection(request=request, purpose=purpose, overriding_grounds=False,
                                                 reason="", by=dpo_user)


def test_no_decision_for_a_purpose_that_does_not_need_one(contact, channels, customer, dpo_user, outbox):
    marketing = purpose_on("legitimate_interests", channels, customer, direct_marketing=True)
    other = purpose_on("legitimate_interests", channels, customer, slug="other")
    request = objection_request([marketing])
    with pytest.raises(ValidationError) as error:
        services.rights_request_decide_objection(request=request, purpose=marketing, overriding_grounds=False,
                                                 reason="", by=dpo_user)
    assert "purpose" in error.value.message_dict
    with pytest.raises(ValidationError) as error:  # not one the request is about
        services.rights_request_decide_objection(request=request, purpose=other, overriding_grounds=False,
                                                 reason="", by=dpo_user)
    assert "purpose" in error.value.message_dict


def test_without_chosen_purposes_every_purpose_the_contact_is_in_is_concerned(
        contact, channels, customer, staff_user, outbox, django_capture_on_commit_callbacks):
    newsletter = purpose_on("consent", channels, customer, slug="newsletter")
    marketing = purpose_on("legitimate_interests", channels, customer, direct_marketing=True, slug="offers")
    billing = purpose_on("contract", channels, customer, slug="billing")
    donors = DataSubjectCategory.objects.get(code="donor")
    elsewhere = PurposeFactory(slug="donor-appeals", legal_basis="legitimate_interests", direct_marketing=True,
                               legitimate_interest="Donors", channels=[channels["postal"]],
                               data_subject_categories=[donors])
    consent_services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                                    method="web_form")
    request = objection_request()
    assert {p.slug for p in objection.purposes_concerned(request)} == {"newsletter", "offers", "billing"}
    run_fulfilment(request, by=staff_user, capture=django_capture_on_commit_callbacks)
    assert events(contact, newsletter) == [("email", "withdrawn")]
    assert events(contact, marketing) == [("email", "objected"), ("postal", "objected")]
    assert events(contact, billing) == [] and events(contact, elsewhere) == []
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert set(objection.decisions_missing(request)) == set()
