"""The consent API (design §4): contacts, recording events, the change feed and the check;
who may call what; bad input is a 400 naming the field, never a 500."""
import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from consent import services
from consent.models import ConsentEvent, Contact
from registry.models import Channel, DataSubjectCategory
from tests.api_clients import client_for, token_client
from tests.factories import ContactFactory, PurposeFactory

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/consent/contacts/"
EVENTS = "/api/v1/consent/events/"
CHECK = "/api/v1/consent/check/"


@pytest.fixture
def chan(reference_data):
    return {c.code: c for c in Channel.objects.all()}


@pytest.fixture
def mailing(chan):
    """Consent-based, on email and SMS."""
    return PurposeFactory(slug="mailing", legal_basis="consent", channels=[chan["email"], chan["sms"]])


@pytest.fixture
def appeals(chan):
    """Legitimate interests (opt-out regime), postal, for donors."""
    donor = DataSubjectCategory.objects.get(code="donor")
    return PurposeFactory(slug="appeals", legal_basis="legitimate_interests", direct_marketing=True,
                          legitimate_interest="Appeals to past donors.", channels=[chan["postal"]],
                          data_subject_categories=[donor])


@pytest.fixture
def staff(staff_user):
    return client_for(staff_user)


@pytest.fixture
def dpo(dpo_user):
    return client_for(dpo_user)


@pytest.fixture
def alice(reference_data):
    return ContactFactory(email="alice@example.org", phone="+33612345678", external_ref="CRM-1")


def event_payload(**overrides):
    payload = {"purpose": "mailing", "channel": "email", "action": "granted", "method": "api"}
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


def check(client, **params):
    return client.get(CHECK, {"purpose": "mailing", "channel": "email", **params})


# --- contacts -------------------------------------------------------------------------------


def test_contact_create_normalises_email_and_phone(staff, reference_data):
    response = staff.post(CONTACTS, {"email": " Alice@XN--BCHER-KVA.de ", "phone": "06 12 34 56 78",
                                     "first_name": "Alice", "data_subject_categories": ["donor", "member"],
                                     "language": "en"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "alice@bücher.de" and body["phone"] == "+33612345678"
    assert sorted(body["data_subject_categories"]) == ["donor", "member"]
    assert body["duplicate_candidates"] == [] and body["restricted"] is False and body["anonymised_at"] is None
    contact = Contact.objects.get(pk=body["id"])
    assert (contact.email, contact.phone, contact.language) == ("alice@bücher.de", "+33612345678", "en")
    assert staff.get(f"{CONTACTS}{contact.pk}/").json()["email"] == "alice@bücher.de"


@pytest.mark.parametrize("second", ["ALICE@bücher.de", "alice@xn--bcher-kva.de", " Alice@Bücher.DE "])
def test_same_email_in_any_form_gets_400_on_email(staff, reference_data, second):
    assert staff.post(CONTACTS, {"email": "alice@bücher.de"}, format="json").status_code == 201
    response = staff.post(CONTACTS, {"email": second}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert Contact.objects.count() == 1


def test_invalid_phone_gets_400_on_phone(staff, reference_data):
    response = staff.post(CONTACTS, {"email": "p@example.org", "phone": "12"}, format="json")
    assert response.status_code == 400 and "phone" in response.json()["errors"]
    assert not Contact.objects.exists()


def test_shared_phone_is_a_duplicate_candidate(staff, reference_data):
    first = staff.post(CONTACTS, {"email": "a@example.org", "phone": "+33142000000"}, format="json").json()
    second = staff.post(CONTACTS, {"email": "b@example.org", "phone": "01 42 00 00 00"}, format="json")
    assert second.status_code == 201, second.content
    assert second.json()["duplicate_candidates"] == [first["id"]]
    assert staff.get(f"{CONTACTS}{first['id']}/").json()["duplicate_candidates"] == [second.json()["id"]]
    listed = staff.get(CONTACTS, {"phone": "01.42.00.00.00"}).json()["results"]
    assert sorted(c["id"] for c in listed) == sorted([first["id"], second.json()["id"]])


def test_a_phone_shared_by_two_contacts_names_neither_in_events_nor_checks(staff, mailing, chan):
    """The API takes no names to tell apart the holders of a landline: a consent recorded, or a check
    answered, for "the oldest holder" could be another person's. It asks for the contact itself."""
    older = ContactFactory(email="older@example.org", phone="+33142000000")
    younger = ContactFactory(email="younger@example.org", phone="+33142000000")
    services.consent_record(contact=older, purpose=mailing, channel=chan["sms"], action="granted", method="api")
    refused = staff.post(EVENTS, event_payload(phone="01 42 00 00 00", channel="sms", action="withdrawn"),
                         format="json")
    assert refused.status_code == 400
    message = refused.json()["errors"]["phone"][0]
    assert f"#{older.pk}, #{younger.pk}" in message and "contact_id" in message
    created = staff.post(EVENTS, event_payload(phone="01 42 00 00 00", channel="sms", action="granted",
                                               create_contact=True), format="json")
    assert created.status_code == 400 and "phone" in created.json()["errors"]
    assert ConsentEvent.objects.filter(contact__in=[older, younger]).count() == 1
    assert Contact.objects.count() == 2
    asked = check(staff, purpose="mailing", channel="sms", phone="+33 1 42 00 00 00")
    assert asked.status_code == 400 and f"#{older.pk}, #{younger.pk}" in asked.json()["errors"]["phone"][0]
    # Named by id, each holder is answered for; a number nobody holds is still a 200, unknown_contact.
    assert check(staff, purpose="mailing", channel="sms", contact_id=older.pk).json()["allowed"] is True
    assert check(staff, purpose="mailing", channel="sms", contact_id=younger.pk).json()["allowed"] is False
    nobody = check(staff, purpose="mailing", channel="sms", phone="+33142000001")
    assert nobody.status_code == 200 and nobody.json()["reason"] == "unknown_contact"
    assert message.startswith("Plusieurs contacts partagent ce numéro")  # French, the default


def test_contact_filters_use_the_normal_form(staff, alice):
    ContactFactory(email="bob@example.org")
    assert [c["id"] for c in staff.get(CONTACTS, {"email": "ALICE@Example.ORG"}).json()["results"]] == [alice.pk]
    assert [c["id"] for c in staff.get(CONTACTS, {"phone": "06 12 34 56 78"}).json()["results"]] == [alice.pk]
    assert [c["id"] for c in staff.get(CONTACTS, {"external_ref": " CRM-1 "}).json()["results"]] == [alice.pk]
    assert staff.get(CONTACTS, {"email": "nobody@example.org"}).json()["results"] == []
    assert staff.get(CONTACTS).json()["count"] == 2
    bad = staff.get(CONTACTS, {"email": "not-an-email"})
    assert bad.status_code == 400 and "email" in bad.json()["errors"]
    nul = staff.get(CONTACTS, {"external_ref": "CRM\x001"})
    assert nul.status_code == 400 and "external_ref" in nul.json()["errors"]
    huge = staff.get(CONTACTS, {"limit": str(2**63), "offset": str(2**63)})
    assert huge.status_code == 200 and huge.json()["results"] == []


def test_contact_update_goes_through_the_service(staff, alice):
    ContactFactory(email="taken@example.org")
    response = staff.patch(f"{CONTACTS}{alice.pk}/", {"phone": "06 98 76 54 32", "restricted": True,
                                                       "data_subject_categories": ["customer"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "+33698765432" and response.json()["data_subject_categories"] == ["customer"]
    alice.refresh_from_db()
    assert alice.phone == "+33698765432" and alice.restricted is False  # restricted is read-only here
    clash = staff.patch(f"{CONTACTS}{alice.pk}/", {"email": "TAKEN@example.org"}, format="json")
    assert clash.status_code == 400 and "email" in clash.json()["errors"]
    put = staff.put(f"{CONTACTS}{alice.pk}/", {"email": "alice2@example.org", "last_name": "Martin"}, format="json")
    assert put.status_code == 200 and put.json()["email"] == "alice2@example.org"


def test_unknown_contact_is_404(staff, reference_data):
    assert staff.get(f"{CONTACTS}999999/").status_code == 404
    assert staff.get(f"{CONTACTS}abc/").status_code == 404


# --- recording events -----------------------------------------------------------------------


@pytest.mark.parametrize("identifier", [
    {"contact_id": None}, {"email": " ALICE@example.org"}, {"phone": "06 12 34 56 78"}, {"external_ref": "CRM-1"},
])
def test_event_recorded_by_each_identifier(staff, staff_user, alice, mailing, identifier):
    if "contact_id" in identifier:
        identifier = {"contact_id": alice.pk}
    response = staff.post(EVENTS, event_payload(**identifier, evidence_note="Stand, salon 2026"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    event = ConsentEvent.objects.get()
    assert body["id"] == event.pk and body["sequence"] == event.sequence and body["hash"] == event.hash
    assert body["contact_id"] == alice.pk and body["purpose"] == "mailing" and body["channel"] == "email"
    assert (body["action"], body["method"], body["purpose_version"]) == ("granted", "api", 1)
    assert body["notice_sha256"] == event.notice.sha256
    assert body["state"] == {"allowed": True, "status": "granted", "since": body["effective_at"],
                             "expires_at": None, "reason": "consent_granted", "regime": "consent"}
    assert event.recorded_by == staff_user
    # The caller's own address and browser are not the contact's evidence.
    assert event.evidence_ip is None and event.evidence_user_agent == ""
    assert event.evidence_note == "Stand, salon 2026"


def test_event_keeps_the_evidence_given(staff, alice, mailing):
    response = staff.post(EVENTS, event_payload(contact_id=alice.pk, evidence_ip="203.0.113.9",
                                                evidence_user_agent="Kiosk/1.0", effective_at="2026-01-15T10:00:00Z",
                                                notice_text="Texte affiché", language="fr",
                                                collection_form="salon-2026"), format="json")
    assert response.status_code == 201, response.content
    event = ConsentEvent.objects.get()
    assert (event.evidence_ip, event.evidence_user_agent, event.collection_form) == ("203.0.113.9", "Kiosk/1.0",
                                                                                     "salon-2026")
    assert event.notice.text == "Texte affiché"
    assert response.json()["effective_at"].startswith("2026-01-15T11:00:00")  # Europe/Paris


@pytest.mark.parametrize("notice_text", [None, "Texte affiché au stand"])  # the unlocked and the locked append
def test_an_ipv6_zone_is_dropped_from_the_evidence_and_the_ledger_verifies(staff, alice, mailing, notice_text):
    """"fe80::1%eth0" names an interface of the sender's machine: PostgreSQL's inet refuses it (a 500
    on the locked path) or drops it (a digest that no longer verifies on the other)."""
    body = event_payload(contact_id=alice.pk, evidence_ip="FE80::1%eth0")
    if notice_text:
        body.update(notice_text=notice_text, language="fr")
    response = staff.post(EVENTS, body, format="json")
    assert response.status_code == 201, response.content
    assert ConsentEvent.objects.get().evidence_ip == "fe80::1"
    # The services take it from other callers too (a staff page's REMOTE_ADDR), unparsed.
    services.consent_record(contact=alice, purpose=mailing, channel=Channel.objects.get(code="email"),
                            action="withdrawn", method="staff_form", evidence_ip="fe80::2%eth1",
                            notice_text=notice_text, language="fr")
    assert ConsentEvent.objects.order_by("sequence").last().evidence_ip == "fe80::2"
    out = io.StringIO()
    call_command("verify_consent_ledger", stdout=out)
    assert "Ledger verified: 2 event(s)" in out.getvalue()


def test_long_user_agent_is_kept_truncated(staff, alice, mailing):
    response = staff.post(EVENTS, event_payload(contact_id=alice.pk, evidence_user_agent="U" * 600), format="json")
    assert response.status_code == 201, response.content
    assert ConsentEvent.objects.get().evidence_user_agent == "U" * 512


def test_unknown_contact_is_a_400_unless_create_contact(staff, mailing):
    refused = staff.post(EVENTS, event_payload(email="new@example.org"), format="json")
    assert refused.status_code == 400 and "contact" in refused.json()["errors"]
    assert not Contact.objects.exists()
    created = staff.post(EVENTS, event_payload(email="New@Example.org", create_contact=True, language="en"),
                         format="json")
    assert created.status_code == 201, created.content
    contact = Contact.objects.get()
    assert contact.email == "new@example.org" and contact.language == "en"
    assert created.json()["contact_id"] == contact.pk
    again = staff.post(EVENTS, event_payload(email="new@example.org", create_contact=True, action="withdrawn"),
                       format="json")
    assert again.status_code == 201 and Contact.objects.count() == 1


def test_an_idempotency_key_reused_for_another_event_is_refused(staff, alice, mailing):
    """A withdrawal sent with the key of a grant is not answered with the grant: 400, nothing written."""
    first = staff.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="sync-7")
    assert first.status_code == 201
    reused = staff.post(EVENTS, event_payload(contact_id=alice.pk, action="withdrawn"), format="json",
                        HTTP_IDEMPOTENCY_KEY="sync-7")
    assert reused.status_code == 400
    assert "Idempotency-Key" in reused.json()["errors"]["idempotency_key"][0]
    assert list(ConsentEvent.objects.values_list("action", flat=True)) == ["granted"]
    retry = staff.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="sync-7")
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]


def test_create_contact_is_undone_when_the_event_is_refused(staff, mailing):
    response = staff.post(EVENTS, event_payload(phone="06 99 99 99 99", create_contact=True, channel="postal"),
                          format="json")
    assert response.status_code == 400 and "channel" in response.json()["errors"]
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_idempotency_key_returns_the_first_event(staff, alice, mailing):
    first = staff.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="form-42")
    retry = staff.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="form-42")
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.json() == first.json()
    assert ConsentEvent.objects.count() == 1
    assert ConsentEvent.objects.get().idempotency_key == "form-42"
    other = staff.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="form-43")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert ConsentEvent.objects.count() == 2


def test_consent_action_on_a_legitimate_interest_purpose_is_400(staff, alice, appeals):
    response = staff.post(EVENTS, event_payload(contact_id=alice.pk, purpose="appeals", channel="postal"),
                          format="json")
    assert response.status_code == 400 and "action" in response.json()["errors"]
    assert not ConsentEvent.objects.exists()


# --- change feed ----------------------------------------------------------------------------


def test_change_feed_after_cursor(staff, alice, mailing):
    bob = ContactFactory(email="bob@example.org")
    sequences = []
    for contact, action in ((alice, "granted"), (bob, "granted"), (alice, "withdrawn")):
        response = staff.post(EVENTS, event_payload(contact_id=contact.pk, action=action), format="json")
        sequences.append(response.json()["sequence"])

    page = staff.get(EVENTS, {"after": sequences[0]}).json()
    assert [e["sequence"] for e in page["results"]] == sequences[1:]
    assert [e["action"] for e in page["results"]] == ["granted", "withdrawn"]
    assert page["next_cursor"] == sequences[2]

    empty = staff.get(EVENTS, {"after": page["next_cursor"]}).json()
    assert empty == {"results": [], "next_cursor": sequences[2]}

    everything = staff.get(EVENTS).json()
    assert [e["sequence"] for e in everything["results"]] == sequences
    one = staff.get(EVENTS, {"limit": 1}).json()
    assert [e["sequence"] for e in one["results"]] == sequences[:1] and one["next_cursor"] == sequences[0]
    alices = staff.get(EVENTS, {"contact_id": alice.pk}).json()
    assert [e["contact_id"] for e in alices["results"]] == [alice.pk, alice.pk]
    assert "state" not in alices["results"][0]


# --- check ----------------------------------------------------------------------------------


def record(contact, purpose, channel, action, method="api"):
    services.consent_record(contact=contact, purpose=purpose, channel=channel, action=action, method=method)


def test_check_granted_then_withdrawn(staff, alice, mailing, chan):
    assert check(staff, contact_id=alice.pk).json()["reason"] == "no_consent"
    record(alice, mailing, chan["email"], "granted")
    granted = check(staff, email="Alice@Example.org")
    assert granted.status_code == 200
    assert granted.json()["allowed"] is True and granted.json()["status"] == "granted"
    assert granted.json()["reason"] == "consent_granted" and granted.json()["regime"] == "consent"
    assert granted.json()["since"] is not None
    record(alice, mailing, chan["email"], "withdrawn")
    withdrawn = check(staff, phone="+33 6 12 34 56 78").json()
    assert (withdrawn["allowed"], withdrawn["status"], withdrawn["reason"]) == (False, "withdrawn", "withdrawn")
    assert set(withdrawn) == {"allowed", "status", "since", "expires_at", "reason", "regime"}


@pytest.mark.parametrize("identifier", [{"contact_id": 987654}, {"email": "ghost@example.org"},
                                        {"phone": "+33699999999"}, {"external_ref": "CRM-404"}])
def test_check_unknown_contact_is_200_not_allowed(staff, mailing, identifier):
    response = check(staff, **identifier)
    assert response.status_code == 200
    assert response.json() == {"allowed": False, "status": "none", "since": None, "expires_at": None,
                               "reason": "unknown_contact", "regime": "consent"}


def test_check_channel_not_in_purpose(staff, alice, mailing):
    body = check(staff, contact_id=alice.pk, channel="postal").json()
    assert body["allowed"] is False and body["reason"] == "channel_not_allowed"


def test_check_restricted_contact(staff, alice, mailing, chan):
    record(alice, mailing, chan["email"], "granted")
    services.contact_update(contact=alice, restricted=True)
    body = check(staff, contact_id=alice.pk).json()
    assert body["allowed"] is False and body["reason"] == "restricted"


def test_check_suppressed_address(staff, alice, mailing, chan):
    record(alice, mailing, chan["email"], "granted")
    services.suppression_add(channel=chan["email"], value="ALICE@example.org", source="opposition_list")
    body = check(staff, contact_id=alice.pk).json()
    assert body["allowed"] is False and body["reason"] == "suppressed"
    assert check(staff, contact_id=alice.pk, channel="sms").json()["reason"] == "no_consent"


def test_check_legitimate_interest_purpose(staff, appeals, chan):
    donor = ContactFactory(email="donor@example.org", address_line1="1 rue de la Paix", postal_code="75002",
                           city="Paris", data_subject_categories=[DataSubjectCategory.objects.get(code="donor")])
    stranger = ContactFactory(email="stranger@example.org", address_line1="2 rue de Rivoli", city="Paris")
    allowed = check(staff, contact_id=donor.pk, purpose="appeals", channel="postal").json()
    assert (allowed["allowed"], allowed["regime"], allowed["status"]) == (True, "opt_out", "none")
    not_in = check(staff, contact_id=stranger.pk, purpose="appeals", channel="postal").json()
    assert not_in["allowed"] is False and not_in["reason"] == "not_in_category"

    objection = staff.post(EVENTS, event_payload(contact_id=donor.pk, purpose="appeals", channel="postal",
                                                 action="objected", method="phone"), format="json")
    assert objection.status_code == 201, objection.content
    assert objection.json()["state"]["reason"] == "objected" and objection.json()["state"]["allowed"] is False
    objected = check(staff, contact_id=donor.pk, purpose="appeals", channel="postal").json()
    assert (objected["allowed"], objected["status"], objected["reason"]) == (False, "objected", "objected")


# --- who may call what ----------------------------------------------------------------------


def test_integration_with_a_token(integration_user, alice, mailing):
    api = token_client(integration_user)
    posted = api.post(EVENTS, event_payload(external_ref="CRM-1"), format="json")
    assert posted.status_code == 201, posted.content
    assert ConsentEvent.objects.get().recorded_by == integration_user
    checked = check(api, external_ref="CRM-1")
    assert checked.status_code == 200 and checked.json()["allowed"] is True
    assert api.get(EVENTS).status_code == 200
    assert api.get(CONTACTS).status_code == 200
    assert api.post(CONTACTS, {"email": "from-crm@example.org"}, format="json").status_code == 201
    assert api.patch(f"{CONTACTS}{alice.pk}/", {"first_name": "Mallory"}, format="json").status_code == 403
    assert api.put(f"{CONTACTS}{alice.pk}/", {"first_name": "Mallory"}, format="json").status_code == 403
    alice.refresh_from_db()
    assert alice.first_name != "Mallory"


def test_auditor_reads_but_cannot_record(auditor_user, alice, mailing):
    api = client_for(auditor_user)
    assert check(api, contact_id=alice.pk).status_code == 200
    assert api.get(EVENTS).status_code == 200
    assert api.get(CONTACTS).status_code == 200
    assert api.post(EVENTS, event_payload(contact_id=alice.pk), format="json").status_code == 403
    assert api.post(CONTACTS, {"email": "x@example.org"}, format="json").status_code == 403
    assert api.patch(f"{CONTACTS}{alice.pk}/", {"first_name": "X"}, format="json").status_code == 403
    assert not ConsentEvent.objects.exists()


def test_dpo_may_do_everything(dpo, alice, mailing):
    assert dpo.post(EVENTS, event_payload(contact_id=alice.pk), format="json").status_code == 201
    assert dpo.patch(f"{CONTACTS}{alice.pk}/", {"first_name": "Alicia"}, format="json").status_code == 200
    assert check(dpo, contact_id=alice.pk).json()["allowed"] is True


def test_user_without_a_group_is_refused(django_user_model, alice, mailing):
    api = client_for(django_user_model.objects.create_user("nobody", password="x-2026-long!"))
    assert check(api, contact_id=alice.pk).status_code == 403
    assert api.get(EVENTS).status_code == 403
    assert api.get(CONTACTS).status_code == 403


@pytest.mark.parametrize("method,url", [("get", CONTACTS), ("post", CONTACTS), ("get", EVENTS), ("post", EVENTS),
                                        ("get", CHECK + "?purpose=mailing&channel=email&contact_id=1")])
def test_anonymous_is_asked_to_authenticate(reference_data, method, url):
    """401, and how to authenticate (design §4): not 403, which says the caller is known but refused."""
    response = getattr(APIClient(), method)(url, {} if method == "post" else None, format="json")
    assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")
    assert set(response.json()) == {"detail"}


def test_bad_token_is_refused(mailing):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    for response in (check(api, contact_id=1), api.get(EVENTS),
                     api.post(EVENTS, event_payload(contact_id=1), format="json")):
        assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")
    assert not ConsentEvent.objects.exists()


def test_a_valid_token_without_the_role_is_forbidden_not_unauthenticated(django_user_model, alice, mailing):
    api = token_client(django_user_model.objects.create_user("nobody", password="x-2026-long!"))
    for response in (check(api, contact_id=alice.pk), api.get(EVENTS),
                     api.post(EVENTS, event_payload(contact_id=alice.pk), format="json")):
        assert response.status_code == 403 and "WWW-Authenticate" not in response
    assert not ConsentEvent.objects.exists()


# --- bad input: 400 naming the field, never a 500 -------------------------------------------


@pytest.mark.parametrize("overrides,field", [
    ({"action": "maybe"}, "action"),
    ({"action": 3}, "action"),
    ({"action": None, "method": None}, "action"),
    ({"method": "telepathy"}, "method"),
    ({"method": "expiry"}, "method"),  # reserved to DPO Desk's jobs
    ({"action": "lapsed", "method": "register_change"}, "action"),
    ({"action": "expired", "method": "expiry"}, "action"),
    ({"action": "expired", "method": "erasure"}, "action"),
    ({"action": "withdrawn", "method": "erasure"}, "method"),
    ({"purpose": "no-such-purpose"}, "purpose"),
    ({"purpose": {"slug": "mailing"}}, "purpose"),
    ({"purpose": None}, "purpose"),
    ({"channel": "pigeon"}, "channel"),
    ({"channel": ["email"]}, "channel"),
    ({"channel": "em\x00ail"}, "channel"),  # PostgreSQL refuses NUL: must be a 400 before the query
    ({"channel": "postal"}, "channel"),  # not a channel of the purpose
    ({"action": "objected"}, "action"),  # objection on a consent purpose
    ({"effective_at": "yesterday"}, "effective_at"),
    ({"effective_at": "2026-02-30T10:00:00Z"}, "effective_at"),
    ({"effective_at": "0001-01-01T00:00:00"}, "effective_at"),
    ({"effective_at": "9999-12-31T23:59:59-12:00"}, "effective_at"),
    ({"effective_at": "2999-01-01T00:00:00Z"}, "effective_at"),  # in the future
    ({"effective_at": "0001-01-01T00:00:00Z"}, "effective_at"),  # no consent's date
    ({"effective_at": "1969-12-31T23:59:59Z"}, "effective_at"),
    ({"evidence_ip": "999.1.2.3"}, "evidence_ip"),
    ({"language": "de"}, "language"),
    ({"collection_form": "f" * 81}, "collection_form"),
    ({"evidence_note": "n" * 2001}, "evidence_note"),
    ({"notice_text": None}, "notice_text"),
    ({"create_contact": "perhaps"}, "create_contact"),
    ({"contact_id": "abc"}, "contact_id"),
    ({"contact_id": -1}, "contact_id"),
    ({"contact_id": 10**30}, "contact_id"),
    ({"contact_id": 987654}, "contact"),
    ({"contact_id": None, "email": "not-an-email"}, "email"),
    ({"contact_id": None, "email": "a\x00b@example.org"}, "email"),
    ({"contact_id": None, "email": ["alice@example.org"]}, "email"),
    ({"contact_id": None, "phone": "12"}, "phone"),
    ({"contact_id": None, "external_ref": "CRM-404"}, "contact"),
    ({"contact_id": None, "external_ref": "CRM-1", "create_contact": True}, "create_contact"),
    ({"contact_id": None}, "contact_id"),  # no identifier at all
    ({"email": "alice@example.org"}, "email"),  # two identifiers
])
def test_bad_event_input_gets_400_with_the_field(staff, alice, mailing, overrides, field):
    payload = event_payload(contact_id=alice.pk)
    payload.update(overrides)
    payload = {key: value for key, value in payload.items() if value is not None or key == "notice_text"}
    response = staff.post(EVENTS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not ConsentEvent.objects.exists()


def test_an_unknown_action_or_method_is_answered_with_the_codes_a_client_may_send(staff, alice, mailing):
    from consent.services import CLIENT_ACTION_CHOICES, CLIENT_METHOD_CHOICES

    errors = staff.post(EVENTS, event_payload(contact_id=alice.pk, method="telepathy", action="maybe"),
                        format="json").json()["errors"]
    (method,), (action,) = errors["method"], errors["action"]
    assert method.startswith("« telepathy » n'est pas une méthode que vous pouvez enregistrer : attendu l'une de ")
    assert all(code in method for code, _label in CLIENT_METHOD_CHOICES)
    assert action.startswith("« maybe » n'est pas une action que vous pouvez enregistrer : attendu l'un de ")
    assert all(code in action for code, _label in CLIENT_ACTION_CHOICES)
    assert not ConsentEvent.objects.exists()


def test_two_identifiers_name_both_and_none_names_all(staff, alice, mailing):
    both = staff.post(EVENTS, event_payload(contact_id=alice.pk, phone="0612345678"), format="json").json()
    assert set(both["errors"]) == {"contact_id", "phone"}
    none = staff.post(EVENTS, event_payload(), format="json").json()
    assert set(none["errors"]) == {"contact_id", "email", "phone", "external_ref"}


@pytest.mark.parametrize("key", ["k" * 121, "bad\x01key"])
def test_bad_idempotency_key_gets_400(staff, alice, mailing, key):
    response = staff.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "idempotency_key" in response.json()["errors"]
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"granted"', "null", ""])
def test_malformed_event_body_gets_400(staff, mailing, body):
    response = staff.generic("POST", EVENTS, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"]


def test_malformed_contact_body_gets_400(staff, reference_data):
    response = staff.generic("POST", CONTACTS, "{not json", content_type="application/json")
    assert response.status_code == 400 and "body" in response.json()["errors"]


@pytest.mark.parametrize("params,field", [
    ({"purpose": None}, "purpose"),
    ({"purpose": "no-such-purpose"}, "purpose"),
    ({"channel": None}, "channel"),
    ({"channel": "pigeon"}, "channel"),
    ({"purpose": "mail\x00ing"}, "purpose"),
    ({"contact_id": None}, "contact_id"),  # no identifier
    ({"email": "alice@example.org"}, "email"),  # two identifiers
    ({"contact_id": "abc"}, "contact_id"),
    ({"contact_id": "99999999999999999999999"}, "contact_id"),
    ({"contact_id": None, "email": "not-an-email"}, "email"),
    ({"contact_id": None, "phone": "12"}, "phone"),
    ({"contact_id": None, "phone": "+33 6 12 34 56 78 90 12 34 56"}, "phone"),
])
def test_bad_check_input_gets_400_with_the_field(staff, alice, mailing, params, field):
    query = {"purpose": "mailing", "channel": "email", "contact_id": alice.pk}
    query.update(params)
    response = staff.get(CHECK, {key: value for key, value in query.items() if value is not None})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


@pytest.mark.parametrize("params,field", [
    ({"after": "-1"}, "after"),
    ({"after": "abc"}, "after"),
    ({"after": "1" * 30}, "after"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5001"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"contact_id": "abc"}, "contact_id"),
    ({"contact_id": "987654"}, "contact_id"),
    ({"limit": "9223372036854775808"}, "limit"),
])
def test_bad_feed_input_gets_400_with_the_field(staff, reference_data, params, field):
    response = staff.get(EVENTS, params)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("payload,field", [
    ({}, "email"),  # nothing to identify the contact
    ({"email": "not-an-email"}, "email"),
    ({"email": 42}, "email"),
    ({"email": "x@example.org", "phone": "abc"}, "phone"),
    ({"email": "x@example.org", "language": "xx"}, "language"),
    ({"email": "x@example.org", "country": "FRA"}, "country"),
    ({"email": "x@example.org", "collected_at": "not a date"}, "collected_at"),
    ({"email": "x@example.org", "collected_at": "0001-01-01T00:00:00"}, "collected_at"),
    ({"email": "x@example.org", "data_subject_categories": ["nope"]}, "data_subject_categories"),
    ({"email": "x@example.org", "data_subject_categories": "donor"}, "data_subject_categories"),
    ({"email": "x@example.org", "data_subject_categories": ["do\x00nor"]}, "data_subject_categories"),
    ({"email": "x@example.org", "external_ref": "CRM-1"}, "external_ref"),  # taken by alice
    ({"email": "x@example.org", "first_name": "x" * 151}, "first_name"),
])
def test_bad_contact_input_gets_400_with_the_field(staff, alice, payload, field):
    response = staff.post(CONTACTS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert Contact.objects.count() == 1


def test_openapi_documents_the_consent_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"/api/v1/consent/contacts/", "/api/v1/consent/contacts/{id}/", "/api/v1/consent/events/",
            "/api/v1/consent/check/"} <= set(paths)
    post = paths["/api/v1/consent/events/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert {"200", "201", "400"} <= set(post["responses"])
    check_params = {p["name"] for p in paths["/api/v1/consent/check/"]["get"]["parameters"]}
    assert {"purpose", "channel", "contact_id", "email", "phone", "external_ref"} <= check_params
    feed_params = {p["name"] for p in paths["/api/v1/consent/events/"]["get"]["parameters"]}
    assert {"after", "limit", "contact_id"} <= feed_params


def test_idempotency_keys_belong_to_each_api_client(staff_user, integration_user, alice, mailing):
    """Two integrations choosing the same key each get their own event; a retry gets its own first answer."""
    crm, shop = token_client(integration_user), token_client(staff_user)
    first = crm.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    other = shop.post(EVENTS, event_payload(contact_id=alice.pk, action="withdrawn"), format="json",
                      HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json()["id"] != first.json()["id"] and other.json()["action"] == "withdrawn"
    crm_retry = crm.post(EVENTS, event_payload(contact_id=alice.pk), format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    shop_retry = shop.post(EVENTS, event_payload(contact_id=alice.pk, action="withdrawn"), format="json",
                           HTTP_IDEMPOTENCY_KEY="order-1")
    assert (crm_retry.status_code, shop_retry.status_code) == (200, 200)
    assert crm_retry.json()["id"] == first.json()["id"] and shop_retry.json()["id"] == other.json()["id"]
    assert ConsentEvent.objects.filter(idempotency_key="order-1").count() == 2
    assert set(ConsentEvent.objects.values_list("recorded_by", flat=True)) == {integration_user.pk, staff_user.pk}


def test_events_post_by_email_returns_the_contact_created_meanwhile(staff, mailing, monkeypatch):
    """Two requests creating the same email at once: the second one finds the first one's contact (no 400)."""
    from consent import selectors

    real_find = selectors.contact_find
    calls = {"n": 0}

    def find_after_a_concurrent_insert(**lookup):
        calls["n"] += 1
        if calls["n"] <= 2:  # the view's look-up, then contact_get_or_create's: both miss...
            if calls["n"] == 2:  # ...and the other request inserts in between
                Contact.objects.create(email="race@example.org", source="other request")
            return None
        return real_find(**lookup)

    monkeypatch.setattr(selectors, "contact_find", find_after_a_concurrent_insert)
    response = staff.post(EVENTS, event_payload(email="Race@Example.org", create_contact=True), format="json")
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get()
    assert response.json()["contact_id"] == contact.pk and contact.source == "other request"
