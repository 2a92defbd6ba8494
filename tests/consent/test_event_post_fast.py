"""Recording one event through the API, the fast way (issue 3): few queries, the response's
``state`` built from the row just written (equal to a check afterwards), and on PostgreSQL the
unlocked append (one read, one statement) giving exactly what the locked append gives."""
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import ledger, selectors, services
from consent.api import serializers as s
from consent.models import ConsentEvent, ConsentState, SuppressionEntry
from consent.normalise import suppression_digest
from tests.api_clients import token_client
from tests.consent.test_api import appeals, chan, mailing  # noqa: F401 (the API tests' purposes, shared)
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/consent/events/"
CHECK = "/api/v1/consent/check/"
POSTGRES = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the unlocked append is PostgreSQL's")


@pytest.fixture
def api(integration_user):
    return token_client(integration_user)


def post(api, key=None, **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(EVENTS, {"method": "api", **body}, format="json", **headers)


def check(api, **params):
    response = api.get(CHECK, params)
    assert response.status_code == 200, response.content
    return response.json()


# --- the number of queries ------------------------------------------------------------------


def test_a_post_costs_a_few_queries(api, mailing, django_assert_max_num_queries):
    alice = ContactFactory(email="alice@example.org")
    post(api, email="bob@example.org", purpose="mailing", channel="email", action="granted",
         create_contact=True)  # warms the token cache and stores the purpose's notice
    post(api, email="bob@example.org", purpose="mailing", channel="email", action="withdrawn")  # reads the purpose
    # PostgreSQL: the direct append, one statement (in a savepoint here, as tests run in a
    # transaction: +2). SQLite, locked append: the reads and writes one by one.
    limit = 3 if connection.vendor == "postgresql" else 12
    with django_assert_max_num_queries(limit):
        response = post(api, key="k-1", email="alice@example.org", purpose="mailing", channel="email",
                        action="granted")
    assert response.status_code == 201, response.content
    assert ConsentState.objects.get(contact=alice, purpose=mailing, channel__code="email").status == "granted"


def test_a_post_the_direct_append_cannot_take_costs_a_few_queries(api, mailing, django_assert_max_num_queries):
    alice = ContactFactory(email="alice@example.org", external_ref="A-1")
    post(api, email="bob@example.org", purpose="mailing", channel="email", action="granted",
         create_contact=True)  # warms the token cache and stores the purpose's notice
    # PostgreSQL: the purpose, channel, contact and the ledger's tail (1), the tail again with the
    # suppression entries of the contact's email (1: the first read could not know the address),
    # the append (1; in a savepoint here: +2). SQLite: one by one.
    limit = 5 if connection.vendor == "postgresql" else 12
    with django_assert_max_num_queries(limit):
        response = post(api, key="k-1", external_ref="A-1", purpose="mailing", channel="email", action="granted")
    assert response.status_code == 201, response.content
    assert ConsentState.objects.get(contact=alice, purpose=mailing, channel__code="email").status == "granted"


@POSTGRES
def test_the_unlocked_append_is_one_read_and_one_statement(mailing, chan):
    alice = ContactFactory(email="alice@example.org")
    services.consent_record(contact=alice, purpose=mailing, channel=chan["email"], action="granted",
                            method="web_form")  # stores the notice (under the lock, the first time)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        recorded = services.consent_record(contact=alice, purpose=mailing, channel=chan["sms"], action="granted",
                                           method="web_form", idempotency_key="once")
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2, statements
    assert "pg_advisory_xact_lock" in statements[1] and "ON CONFLICT" in statements[1]
    assert recorded.created and recorded.event.pk and recorded.state.status == "granted"


# --- the response's state is the check's answer ------------------------------------------------


CASES = [
    ("mailing", "email", "granted"),
    ("mailing", "email", "withdrawn"),
    ("mailing", "sms", "granted"),  # no phone: not reachable, still granted
    ("mailing", "email", "refused"),
    ("appeals", "postal", "objected"),
]


@pytest.mark.parametrize("purpose,channel,action", CASES)
def test_the_response_state_equals_a_check_afterwards(api, mailing, appeals, purpose, channel, action):
    ContactFactory(email="alice@example.org")
    response = post(api, email="alice@example.org", purpose=purpose, channel=channel, action=action)
    assert response.status_code == 201, response.content
    assert response.json()["state"] == check(api, email="alice@example.org", purpose=purpose, channel=channel)


@pytest.mark.parametrize("effective_at,allowed", [(None, True), ("2026-01-05T10:00:00Z", False)])
def test_the_response_state_applies_the_erasure_entry_rule(api, mailing, chan, effective_at, allowed):
    """An erasure's suppression entry blocks a grant dated before it, not one given after it: the
    entries read with the ledger's tail give the check's answer."""
    ContactFactory(email="alice@example.org")
    SuppressionEntry.objects.create(channel=chan["email"], digest=suppression_digest("email", "alice@example.org"),
                                    source=SuppressionEntry.Source.ERASURE)
    body = {"effective_at": effective_at} if effective_at else {}
    response = post(api, email="alice@example.org", purpose="mailing", channel="email", action="granted", **body)
    state = response.json()["state"]
    assert state == check(api, email="alice@example.org", purpose="mailing", channel="email")
    assert state["allowed"] is allowed and state["reason"] == ("consent_granted" if allowed else "suppressed")


def test_the_response_state_says_suppressed_restricted_and_not_in_category(api, mailing, appeals, chan):
    alice = ContactFactory(email="alice@example.org")
    SuppressionEntry.objects.create(channel=chan["email"], digest=suppression_digest("email", "alice@example.org"),
                                    source=SuppressionEntry.Source.OPPOSITION_LIST)
    suppressed = post(api, email="alice@example.org", purpose="mailing", channel="email", action="granted")
    assert suppressed.json()["state"]["reason"] == "suppressed"
    assert suppressed.json()["state"] == check(api, email="alice@example.org", purpose="mailing", channel="email")
    objected = post(api, email="alice@example.org", purpose="appeals", channel="postal", action="objected")
    assert objected.json()["state"]["reason"] == "objected"
    lifted = post(api, email="alice@example.org", purpose="appeals", channel="postal", action="objection_lifted")
    assert lifted.json()["state"]["reason"] == "not_in_category"  # alice is no donor
    assert lifted.json()["state"] == check(api, email="alice@example.org", purpose="appeals", channel="postal")
    alice.restricted = True
    alice.save()
    restricted = post(api, email="alice@example.org", purpose="mailing", channel="sms", action="granted")
    assert restricted.json()["state"]["reason"] == "restricted"
    assert restricted.json()["state"] == check(api, email="alice@example.org", purpose="mailing", channel="sms")


def test_an_older_event_answers_with_the_current_consent(api, mailing):
    ContactFactory(email="alice@example.org")
    post(api, email="alice@example.org", purpose="mailing", channel="email", action="granted")
    old = (timezone.now() - timedelta(days=30)).isoformat()
    late = post(api, email="alice@example.org", purpose="mailing", channel="email", action="withdrawn",
                effective_at=old)
    assert late.status_code == 201, late.content
    assert late.json()["state"]["status"] == "granted"  # the late paper form changed nothing
    assert late.json()["state"] == check(api, email="alice@example.org", purpose="mailing", channel="email")


def test_a_retry_answers_200_with_the_first_event_and_the_check(api, mailing):
    ContactFactory(email="alice@example.org")
    first = post(api, key="order-9", email="alice@example.org", purpose="mailing", channel="email", action="granted")
    post(api, email="alice@example.org", purpose="mailing", channel="email", action="withdrawn")
    retry = post(api, key="order-9", email="alice@example.org", purpose="mailing", channel="email", action="granted")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["state"]["status"] == "withdrawn"  # the check now, not at the first answer


def test_the_fast_representation_equals_the_fields(api, mailing, appeals):
    ContactFactory(email="alice@example.org")
    post(api, email="alice@example.org", purpose="mailing", channel="email", action="granted")
    post(api, email="alice@example.org", purpose="appeals", channel="postal", action="objected")
    for event in ConsentEvent.objects.select_related("contact", "purpose", "channel", "notice"):
        serializer = s.RecordedEventSerializer(event)
        assert serializer.to_representation(event) == serializer.fields_representation(event)


# --- the purpose, channel and contact read in one query --------------------------------------


@pytest.mark.parametrize("field,value", [("email", " Alice@Example.org "), ("phone", "06 12 34 56 78"),
                                         ("external_ref", " crm-1 "), ("contact_id", None)])
def test_event_rows_finds_what_contact_find_finds(mailing, field, value):
    older = ContactFactory(email="alice@example.org", phone="+33612345678", external_ref="crm-1")
    ContactFactory(email="other@example.org", phone="+33612345678")  # a shared phone: the oldest wins
    value = older.pk if value is None else value
    identifier = s._stored_identifier({field: value})
    rows = s.event_rows(purpose_slug="mailing", channel_code="sms",
                        contact_by=(identifier[0][0], identifier[1]))
    assert rows.purpose == mailing and rows.channel.code == "sms"
    assert rows.material_version == selectors.purpose_material_version(purpose=mailing)
    found = selectors.contact_find(**{field: value})
    assert rows.contact == found == older
    assert {f.attname: getattr(rows.contact, f.attname) for f in type(older)._meta.concrete_fields} == \
        {f.attname: getattr(found, f.attname) for f in type(older)._meta.concrete_fields}
    assert s.event_rows(purpose_slug="nope", channel_code="sms", contact_by=("email", "x@y.z")) == \
        s.EventRows(None, rows.channel, 0, None)


# --- PostgreSQL: unlocked and locked appends write the same thing ------------------------------


@POSTGRES
def test_unlocked_and_locked_appends_give_the_same_events_and_states(mailing, appeals, chan, monkeypatch):
    """The same requests on two contacts, through each path: same fields, a verifying chain, and
    every state equal to the fold of its events."""
    from consent.state import fold

    alice, bob = ContactFactory(email="alice@example.org"), ContactFactory(email="bob@example.org")
    now = timezone.now()
    steps = [
        {"purpose": mailing, "channel": chan["email"], "action": "granted", "method": "web_form"},
        {"purpose": mailing, "channel": chan["email"], "action": "withdrawn", "method": "api", "evidence_ip": "203.0.113.9",
             "evidence_user_agent": "Mozilla/5.0", "evidence_note": "clicked"},
        {"purpose": mailing, "channel": chan["email"], "action": "granted", "method": "api", "effective_at": now - timedelta(days=3)},
        {"purpose": mailing, "channel": chan["sms"], "action": "refused", "method": "api", "notice_text": "Texte montré"},
        {"purpose": appeals, "channel": chan["postal"], "action": "objected", "method": "api", "collection_form": "f-1"},
    ]
    paths = []
    for contact, unlocked in ((alice, True), (bob, False)):
        if not unlocked:
            monkeypatch.setattr(services, "_may_append_unlocked", lambda request: False)
        recorded = [services.consent_record(contact=contact, **step) for step in steps]
        paths.append(recorded)
    fields = ("purpose_id", "purpose_version", "channel_id", "action", "method", "notice_id", "collection_form",
              "evidence_ip", "evidence_user_agent", "evidence_note", "evidence_digest", "idempotency_key",
              "recorded_by_id")
    for step, fast, slow in zip(steps, *paths):
        fast_event = ConsentEvent.objects.get(pk=fast.event.pk)
        slow_event = ConsentEvent.objects.get(pk=slow.event.pk)
        assert {n: getattr(fast_event, n) for n in fields} == {n: getattr(slow_event, n) for n in fields}
        if "effective_at" in step:  # else "now", which differs between the two calls
            assert fast_event.effective_at == slow_event.effective_at == step["effective_at"]
        # The state after the event: the same (but for the event's own id and time); the unlocked
        # append does not claim to know it when the event changed nothing (it may be stale).
        assert slow.state is not None
        if "effective_at" in step:
            assert fast.state is None and slow.state.status == "withdrawn"
        else:
            assert (fast.state.status, fast.state.purpose_version) == (slow.state.status, slow.state.purpose_version)
    checked, broken = selectors.ledger_verify()
    assert broken is None and checked == 2 * len(steps)
    for contact in (alice, bob):
        for state in ConsentState.objects.filter(contact=contact):
            events = list(ConsentEvent.objects.filter(contact=contact, purpose=state.purpose, channel=state.channel))
            value = fold(events, validity_months=state.purpose.consent_validity_months)
            assert (state.status, state.since, state.expires_at, state.last_event_id) == \
                (value.status, value.since, value.expires_at, value.last_event_id)


@POSTGRES
def test_an_unlocked_append_that_lost_the_race_reads_again(mailing, chan, monkeypatch):
    """Another writer appends between our read and our write: the unique sequence refuses ours,
    which is then placed after it; the chain does not fork."""
    alice, bob = ContactFactory(email="alice@example.org"), ContactFactory(email="bob@example.org")
    services.consent_record(contact=bob, purpose=mailing, channel=chan["email"], action="granted", method="api")
    real_read = ledger.read_tail
    calls = {"n": 0}

    def read_then_someone_appends(**kwargs):
        tail = real_read(**kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            monkeypatch.setattr(services, "_may_append_unlocked", lambda request: False)
            services.consent_record(contact=bob, purpose=mailing, channel=chan["email"], action="withdrawn",
                                    method="api")
            monkeypatch.undo()
            monkeypatch.setattr(ledger, "read_tail", read_then_someone_appends)
        return tail

    monkeypatch.setattr(ledger, "read_tail", read_then_someone_appends)
    recorded = services.consent_record(contact=alice, purpose=mailing, channel=chan["email"], action="granted",
                                       method="api")
    assert calls["n"] == 2
    events = list(ConsentEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == list(range(1, 4)) and events[-1].pk == recorded.event.pk
    previous = ledger.GENESIS_HASH
    for event in events:
        assert event.previous_hash == previous and ledger.event_hash(event, previous) == event.hash
        previous = event.hash


@POSTGRES
def test_a_new_notice_is_stored_under_the_lock(mailing, chan):
    """The first event showing a text the ledger has never stored takes the locked path (the notice
    is created in the append's transaction); the next ones are unlocked."""
    alice = ContactFactory(email="alice@example.org")
    first = services.consent_record(contact=alice, purpose=mailing, channel=chan["email"], action="granted",
                                    method="api", notice_text="Version A")
    again = services.consent_record(contact=alice, purpose=mailing, channel=chan["sms"], action="granted",
                                    method="api", notice_text="Version A")
    assert first.event.notice_id == again.event.notice_id
    assert first.event.notice.sha256 == ledger.notice_digest(text="Version A", language="fr")
