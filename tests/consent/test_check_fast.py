"""consent_check_lookup (the API's check: one query, then the suppression list's) gives exactly the
answer of the rule, on many generated cases, compared with a copy of the check as it was before
(model instances, one query per fact); and its query count is pinned."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent import services
from consent.models import Action, ConsentState, Contact, SuppressionEntry
from consent.normalise import suppression_digest
from consent.selectors import (
    STATUS_NONE,
    CheckResult,
    Reason,
    consent_check,
    consent_check_lookup,
    contact_addresses,
    suppression_blocks,
)
from registry.models import Channel, DataSubjectCategory, LegalBasis, Purpose, PurposeVersion
from registry.services import purpose_update
from tests.factories import ContactFactory, PurposeFactory

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/consent/check/"
STATUSES = [Action.GRANTED, Action.PENDING, Action.REFUSED, Action.WITHDRAWN, Action.EXPIRED, Action.LAPSED,
            Action.OBJECTED, Action.OBJECTION_LIFTED]


# --- The reference: consent_check as it was before the one-query look-up (slow, test only) ----


def _reference_is_suppressed(contact, channel, granted_since):
    address = contact_addresses(contact=contact).get(channel.code, "")
    if not address:
        return False
    try:
        digest = suppression_digest(channel.code, address)
    except ValidationError:
        return False
    entries = SuppressionEntry.objects.filter(channel=channel, digest=digest).values_list("source", "created_at")
    return suppression_blocks(entries, granted_since=granted_since)


def _reference_status(state, material_version, now, retired):
    if state is None:
        return STATUS_NONE
    if state.status == Action.GRANTED:
        if state.expires_at and state.expires_at <= now:
            return Action.EXPIRED
        if state.purpose_version < material_version or retired:  # design §3: lapsed covers a retired purpose
            return Action.LAPSED
    if state.status == Action.OBJECTION_LIFTED:
        return STATUS_NONE
    return state.status


REFERENCE_REASONS = {Action.GRANTED: Reason.CONSENT_GRANTED, Action.WITHDRAWN: Reason.WITHDRAWN,
                     Action.EXPIRED: Reason.EXPIRED, Action.LAPSED: Reason.OUTDATED_VERSION,
                     Action.OBJECTED: Reason.OBJECTED}


def reference_check(contact, purpose, channel, now):
    if contact is None:
        return CheckResult(False, STATUS_NONE, Reason.UNKNOWN_CONTACT)
    if contact.anonymised_at:
        return CheckResult(False, STATUS_NONE, Reason.ANONYMISED)
    state = ConsentState.objects.filter(contact=contact, purpose=purpose, channel=channel).first()
    material = PurposeVersion.objects.filter(purpose=purpose, change_kind="material").aggregate(
        v=Max("version"))["v"] or 0
    status = _reference_status(state, material, now, purpose.status != Purpose.Status.ACTIVE)
    since = state.since if state else None
    expires_at = state.expires_at if state else None
    consent_based = purpose.legal_basis == LegalBasis.CONSENT
    regime = "consent" if consent_based else "opt_out"

    def no(reason):
        return CheckResult(False, status, reason, since, expires_at, regime)

    if purpose.status != Purpose.Status.ACTIVE:
        return no(Reason.OUTDATED_VERSION)
    if not purpose.channels.filter(pk=channel.pk).exists():
        return no(Reason.CHANNEL_NOT_ALLOWED)
    if contact.restricted:
        return no(Reason.RESTRICTED)
    granted_since = since if consent_based and status == Action.GRANTED else None
    if _reference_is_suppressed(contact, channel, granted_since):
        return no(Reason.SUPPRESSED)
    if consent_based:
        if status == Action.GRANTED:
            return CheckResult(True, status, Reason.CONSENT_GRANTED, since, expires_at, regime)
        return no(REFERENCE_REASONS.get(status, Reason.NO_CONSENT))
    if status == Action.OBJECTED:
        return no(Reason.OBJECTED)
    targeted = purpose.data_subject_categories.all()
    if targeted.exists() and not contact.data_subject_categories.filter(pk__in=targeted).exists():
        return no(Reason.NOT_IN_CATEGORY)
    return CheckResult(True, status, Reason.NO_CONSENT, since, expires_at, regime)


# --- Generated cases --------------------------------------------------------------------------


@pytest.fixture
def world(reference_data):
    """Purposes of every kind, contacts of every shape, states of every status and age, suppression
    entries of every source, some older and some newer than the grants. Random, seeded."""
    rng = random.Random(20261124)
    now = timezone.now()
    ch = {c.code: c for c in Channel.objects.all()}
    donor, member, customer = (DataSubjectCategory.objects.get(code=code) for code in ("donor", "member", "customer"))
    purposes = [
        PurposeFactory(slug="news", legal_basis="consent", consent_validity_months=24,
                       channels=[ch["email"], ch["sms"]]),
        PurposeFactory(slug="calls", legal_basis="consent", channels=[ch["phone"], ch["postal"]]),
        PurposeFactory(slug="appeals", legal_basis="legitimate_interests", direct_marketing=True,
                       legitimate_interest="Appeals to donors.", channels=[ch["postal"]],
                       data_subject_categories=[donor]),
        PurposeFactory(slug="offers", legal_basis="legitimate_interests", direct_marketing=True,
                       legitimate_interest="Offers to customers.", channels=[ch["email"], ch["phone"]],
                       data_subject_categories=[customer]),
        PurposeFactory(slug="service", legal_basis="legitimate_interests", legitimate_interest="Service messages.",
                       channels=[ch["email"], ch["sms"]]),  # opt-out regime, no category: everyone
        PurposeFactory(slug="old-news", legal_basis="consent", channels=[ch["email"]]),
    ]
    purpose_update(purpose=purposes[0], text_en="We send our newsletter, now weekly.", change_kind="material")
    contacts = []
    for n in range(14):
        fields = {"email": f"person{n}@example.org" if rng.random() < 0.8 else "",
                  "phone": f"+3361234{n:04d}" if rng.random() < 0.7 else "",
                  "external_ref": f"CRM-{n}" if rng.random() < 0.5 else ""}
        if rng.random() < 0.6:
            fields.update(address_line1=f"{n} rue de la Paix", postal_code="75002", city="Paris")
        if not (fields["email"] or fields["phone"]):
            fields["email"] = f"person{n}@example.org"
        fields["data_subject_categories"] = rng.sample([donor, member, customer], rng.randrange(4))
        contacts.append(ContactFactory(**fields))
    for contact in contacts:
        for purpose in purposes:
            for channel in purpose.channels.all():
                if rng.random() < 0.7:
                    _random_state(rng, contact, purpose, channel, now)
    for contact in contacts:
        for code, address in contact_addresses(contact=contact).items():
            if address and rng.random() < 0.25:
                source = rng.choice(list(SuppressionEntry.Source))
                entry, _created = services.suppression_add(channel=ch[code], value=address, source=source)
                SuppressionEntry.objects.filter(pk=entry.pk).update(
                    created_at=now - timedelta(days=rng.choice([1, 200, 2000])))
    # Restricted and anonymised contacts, and a purpose retired after its grants.
    Contact.objects.filter(pk__in=[c.pk for c in rng.sample(contacts, 3)]).update(restricted=True)
    Contact.objects.filter(pk=contacts[-1].pk).update(anonymised_at=now - timedelta(days=3))
    Purpose.objects.filter(slug="old-news").update(status=Purpose.Status.RETIRED)
    return {"now": now, "purposes": list(Purpose.objects.all()), "channels": list(Channel.objects.all()),
            "contacts": list(Contact.objects.all())}


def _random_state(rng, contact, purpose, channel, now):
    consent_based = purpose.legal_basis == LegalBasis.CONSENT
    services.consent_record(contact=contact, purpose=purpose, channel=channel,
                            action="granted" if consent_based else "objected", method="api")
    ConsentState.objects.filter(contact=contact, purpose=purpose, channel=channel).update(
        status=rng.choice(STATUSES), purpose_version=rng.choice([1, 2, 3]),
        since=now - timedelta(days=rng.choice([0, 100, 1000])),
        expires_at=rng.choice([None, now - timedelta(days=1), now + timedelta(days=30)]),
    )


def _identifiers(contact):
    yield ("contact_id", contact.pk)
    if contact.email:
        yield ("email", contact.email.upper())
    if contact.phone:
        yield ("phone", contact.phone)
    if contact.external_ref:
        yield ("external_ref", f"  {contact.external_ref} ")


def test_lookup_answers_as_the_rule_on_generated_cases(world):
    now = world["now"]
    reasons, compared = set(), 0
    for contact in world["contacts"]:
        for purpose in world["purposes"]:
            for channel in world["channels"]:
                expected = reference_check(contact, purpose, channel, now)
                assert consent_check(contact=contact, purpose=purpose, channel=channel, now=now) == expected
                for identifier in _identifiers(contact):
                    lookup = consent_check_lookup(purpose_slug=purpose.slug, channel_code=channel.code,
                                                  identifier=identifier, now=now)
                    assert lookup.unknown == ()
                    assert lookup.result == expected, (contact.pk, purpose.slug, channel.code, identifier)
                    compared += 1
                reasons.add((expected.allowed, expected.reason))
    assert compared > 500
    # The cases reach every answer of design §4 but unknown_contact (below).
    assert {reason for _allowed, reason in reasons} >= {
        Reason.CONSENT_GRANTED, Reason.NO_CONSENT, Reason.WITHDRAWN, Reason.EXPIRED, Reason.OUTDATED_VERSION,
        Reason.OBJECTED, Reason.NOT_IN_CATEGORY, Reason.CHANNEL_NOT_ALLOWED, Reason.RESTRICTED, Reason.SUPPRESSED,
        Reason.ANONYMISED}
    assert (True, Reason.NO_CONSENT) in reasons and (True, Reason.CONSENT_GRANTED) in reasons


def test_lookup_of_nobody_and_of_unknown_codes(world):
    for identifier in (("contact_id", 987654), ("email", "ghost@example.org"), ("phone", "+33699999999"),
                       ("external_ref", "CRM-404")):
        lookup = consent_check_lookup(purpose_slug="news", channel_code="email", identifier=identifier)
        assert lookup.result == reference_check(None, None, None, None)
    assert consent_check_lookup(purpose_slug="nope", channel_code="email",
                                identifier=("contact_id", 1)).unknown == ("purpose",)
    assert consent_check_lookup(purpose_slug="nope", channel_code="pigeon",
                                identifier=("email", "person1@example.org")).unknown == ("purpose", "channel")
    with pytest.raises(ValidationError):
        consent_check_lookup(purpose_slug="news", channel_code="email", identifier=("email", "not-an-email"))


def test_a_shared_phone_finds_the_oldest_contact(reference_data):
    newsletter = PurposeFactory(slug="texts", legal_basis="consent", channels=[Channel.objects.get(code="sms")])
    first = ContactFactory(email="first@example.org", phone="+33612345678")
    ContactFactory(email="second@example.org", phone="+33612345678")
    services.consent_record(contact=first, purpose=newsletter, channel=Channel.objects.get(code="sms"),
                            action="granted", method="api")
    result = consent_check_lookup(purpose_slug="texts", channel_code="sms", identifier=("phone", "06 12 34 56 78"))
    assert (result.result.allowed, result.result.reason) == (True, Reason.CONSENT_GRANTED)


# --- Query counts ------------------------------------------------------------------------------


@pytest.fixture
def granted(reference_data):
    email = Channel.objects.get(code="email")
    purpose = PurposeFactory(slug="letters", legal_basis="consent", channels=[email])
    contact = ContactFactory(email="alice@example.org", phone="+33612345678")
    services.consent_record(contact=contact, purpose=purpose, channel=email, action="granted", method="api")
    return contact


def test_lookup_is_one_query_then_the_suppression_list(granted, django_assert_num_queries):
    with django_assert_num_queries(2):  # the answer, then the suppression list (alice has an email)
        lookup = consent_check_lookup(purpose_slug="letters", channel_code="email",
                                      identifier=("email", "alice@example.org"))
    assert lookup.result.allowed is True
    with django_assert_num_queries(1):  # channel not allowed: the rule stops before the list
        consent_check_lookup(purpose_slug="letters", channel_code="sms", identifier=("contact_id", granted.pk))
    with django_assert_num_queries(1):
        consent_check_lookup(purpose_slug="letters", channel_code="email", identifier=("email", "x@example.org"))


def test_api_check_with_a_token_costs_two_queries(granted, integration_user, django_assert_max_num_queries):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(user=integration_user).key)
    query = {"purpose": "letters", "channel": "email", "email": "Alice@Example.org"}
    assert api.get(CHECK, query).status_code == 200  # warms the authentication cache
    with django_assert_max_num_queries(2):  # no token, user or permission query once warm
        response = api.get(CHECK, query)
    assert response.status_code == 200
    assert response.json()["allowed"] is True and response.json()["reason"] == "consent_granted"
    services.suppression_add(channel=Channel.objects.get(code="email"), value="alice@example.org",
                             source="opposition_list")
    assert api.get(CHECK, query).json()["reason"] == "suppressed"


def test_api_unknown_purpose_wins_over_identifier_errors(granted, staff_user):
    """As when the fields looked their rows up: an unknown purpose or channel is reported first."""
    api = APIClient()
    api.force_authenticate(staff_user)
    bad_email = api.get(CHECK, {"purpose": "nope", "channel": "email", "email": "not-an-email"}).json()
    assert set(bad_email["errors"]) == {"purpose"}
    two_ids = api.get(CHECK, {"purpose": "letters", "channel": "pigeon", "email": "a@example.org",
                              "contact_id": 1}).json()
    assert set(two_ids["errors"]) == {"channel"}
    assert "pigeon" in two_ids["errors"]["channel"][0]  # the field's own "does not exist" message
    both = api.get(CHECK, {"purpose": "nope", "channel": "pigeon", "contact_id": granted.pk}).json()
    assert set(both["errors"]) == {"purpose", "channel"}
    assert set(api.get(CHECK, {"purpose": "letters", "channel": "email", "email": "bad"}).json()["errors"]) == {
        "email"}
