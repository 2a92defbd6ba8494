"""The direct append (issue 3, speed of one event POST): a token client naming the contact by its
address on the channel is answered in ONE statement (services.consent_record_direct), which must
give exactly what the usual path gives (events, chain, current consent, response) and hand every
other case, error or doubt back to the usual path."""
from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test import Client
from psycopg import _queries
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent import ledger, selectors, services
from consent.api import middleware, views
from consent.api.views import direct_post
from consent.models import ConsentEvent, ConsentState, Contact, SuppressionEntry
from consent.normalise import suppression_digest
from registry.models import DataSubjectCategory, Purpose
from tests.api_clients import token_client
from tests.consent.test_api import chan, mailing  # noqa: F401 (the API tests' purposes, shared)
from tests.factories import ContactFactory, PurposeFactory

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the direct append is PostgreSQL's")]
EVENTS = "/api/v1/consent/events/"
# What differs between two events of the same request on two contacts (ids, times, place in the chain).
VARYING = {"id", "sequence", "contact_id", "effective_at", "recorded_at", "hash"}
VARYING_STATE = {"since", "expires_at"}


@pytest.fixture
def api(integration_user):
    return token_client(integration_user)


@pytest.fixture
def direct(monkeypatch):
    """Each call of consent_record_direct: True when it wrote the event, False when it gave up."""
    calls: list[bool] = []
    real = services.consent_record_direct

    def spy(**kwargs):
        outcome = real(**kwargs)
        calls.append(outcome is not None)
        return outcome

    monkeypatch.setattr(services, "consent_record_direct", spy)
    return calls


@pytest.fixture
def usual_only(monkeypatch):
    """Run a block with the direct append switched off."""
    def switch(on: bool):
        if on:
            monkeypatch.setattr(services, "consent_record_direct", lambda **kwargs: None)
        else:
            monkeypatch.undo()
    return switch


@pytest.fixture
def b2b(chan):  # noqa: F811
    """Legitimate interests on email, for professional contacts (opt-out regime)."""
    professional = DataSubjectCategory.objects.get(code="professional_contact")
    return PurposeFactory(slug="b2b-news", legal_basis="legitimate_interests", direct_marketing=True,
                          legitimate_interest="News to our professional contacts.", channels=[chan["email"]],
                          data_subject_categories=[professional])


def post(api, key=None, **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(EVENTS, {"method": "api", **body}, format="json", **headers)


def warm_notices(api, purpose: str, channel: str = "email", languages=("fr", "en"), direct=None) -> None:
    """A first grant in each language stores the purpose's notice (the usual path does that); then
    ``direct`` (the fixture's list) is emptied."""
    for language in languages:
        warm = ContactFactory(email=f"warm-{purpose}-{channel}-{language}@example.org", phone="", language=language)
        assert post(api, email=warm.email, purpose=purpose, channel=channel, action="granted").status_code == 201
    if direct is not None:
        direct.clear()


def comparable(response) -> dict:
    data = response.json()
    return {**{k: v for k, v in data.items() if k not in VARYING},
            "state": {k: v for k, v in data["state"].items() if k not in VARYING_STATE}}


def event_fields(event_id: int) -> dict:
    event = ConsentEvent.objects.select_related("notice").get(pk=event_id)
    return {"purpose": event.purpose_id, "version": event.purpose_version, "channel": event.channel_id,
            "action": event.action, "method": event.method, "notice": event.notice.sha256 if event.notice_id else None,
            "language": event.notice.language if event.notice_id else None, "form": event.collection_form,
            "evidence": event.evidence_digest, "author": event.recorded_by_id}


def state_fields(contact, purpose_slug: str, channel_code: str) -> tuple:
    state = ConsentState.objects.get(contact=contact, purpose__slug=purpose_slug, channel__code=channel_code)
    return state.status, state.purpose_version, state.reachable, state.expires_at is None


CASES = [
    # (purpose, channel, action, identifier, contact's language)
    ("mailing", "email", "granted", "email", "fr"),
    ("mailing", "email", "granted", "email", "en"),
    ("mailing", "email", "withdrawn", "email", "fr"),
    ("mailing", "sms", "granted", "phone", "fr"),
    ("mailing", "sms", "refused", "phone", "en"),
    ("b2b-news", "email", "objected", "email", "fr"),
]


@pytest.mark.parametrize("purpose, channel, action, identifier, language", CASES)
def test_the_direct_append_gives_what_the_usual_path_gives(api, mailing, b2b, direct, usual_only,  # noqa: F811
                                                           purpose, channel, action, identifier, language):
    warm_notices(api, "mailing", "email")
    warm_notices(api, "mailing", "sms")
    professional = DataSubjectCategory.objects.get(code="professional_contact")
    twins = [ContactFactory(email=f"{name}@example.org", phone=phone, language=language,
                            data_subject_categories=[professional])
             for name, phone in (("alice", "+33612345678"), ("bob", "+33698765432"))]
    body = {"purpose": purpose, "channel": channel, "action": action}

    def name(contact):
        return {identifier: contact.email if identifier == "email" else contact.phone}

    direct.clear()
    fast = post(api, key="k-direct", **name(twins[0]), **body)
    assert fast.status_code == 201, fast.content
    assert direct == [True]
    usual_only(True)
    slow = post(api, key="k-usual", **name(twins[1]), **body)
    usual_only(False)
    assert slow.status_code == 201, slow.content

    assert comparable(fast) == comparable(slow)
    assert event_fields(fast.json()["id"]) == event_fields(slow.json()["id"])
    if action in ("granted", "refused"):  # the notice in the contact's own language
        assert ConsentEvent.objects.get(pk=fast.json()["id"]).notice.language == language
    assert state_fields(twins[0], purpose, channel) == state_fields(twins[1], purpose, channel)
    assert fast.json()["contact_id"] == twins[0].pk
    checked, broken = selectors.ledger_verify()
    assert broken is None and checked == ConsentEvent.objects.count()


def test_the_hash_postgresql_computes_is_the_ledgers(api, mailing, direct):  # noqa: F811
    """Non-ASCII in the hashed payload (an idempotency key): the same UTF-8 bytes on both sides."""
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    response = post(api, key="clé-été-№1", email=alice.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 201 and direct[-1] is True
    event = ConsentEvent.objects.select_related("notice").get(pk=response.json()["id"])
    assert event.idempotency_key == "clé-été-№1"
    assert ledger.event_hash(event, event.previous_hash) == event.hash == response.json()["hash"]
    before = ConsentEvent.objects.filter(sequence=event.sequence - 1).get()
    assert event.previous_hash == before.hash
    assert selectors.ledger_verify()[1] is None


def test_a_suppressed_address_is_answered_as_the_check_answers(api, mailing, chan, direct):  # noqa: F811
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    SuppressionEntry.objects.create(channel=chan["email"], digest=suppression_digest("email", alice.email),
                                    source=SuppressionEntry.Source.OPPOSITION_LIST)
    response = post(api, email=alice.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 201 and direct[-1] is True
    check = api.get("/api/v1/consent/check/", {"email": alice.email, "purpose": "mailing", "channel": "email"})
    assert response.json()["state"] == check.json()
    assert check.json()["allowed"] is False and check.json()["reason"] == "suppressed"


# --- what the direct append hands back to the usual path ---------------------------------------


def test_an_unknown_contact_gets_the_usual_400(api, mailing, direct, usual_only):  # noqa: F811
    warm_notices(api, "mailing")
    fast = post(api, email="nobody@example.org", purpose="mailing", channel="email", action="granted")
    assert direct[-1] is False
    usual_only(True)
    slow = post(api, email="nobody@example.org", purpose="mailing", channel="email", action="granted")
    assert fast.status_code == slow.status_code == 400 and fast.json() == slow.json()
    assert not ConsentEvent.objects.filter(contact__email="nobody@example.org").exists()


def test_a_restricted_contact_goes_the_usual_way(api, mailing, direct):  # noqa: F811
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    Contact.objects.filter(pk=alice.pk).update(restricted=True)
    response = post(api, email=alice.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 201 and direct[-1] is False
    assert response.json()["state"]["allowed"] is False and response.json()["state"]["reason"] == "restricted"
    assert ConsentState.objects.get(contact=alice, purpose=mailing).reachable is False
    assert ConsentEvent.objects.filter(contact=alice).count() == 1


def test_an_anonymised_contact_is_refused_as_usual(api, mailing, direct):  # noqa: F811
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    services.contact_anonymise(contact=alice)
    response = post(api, contact_id=alice.pk, purpose="mailing", channel="email", action="withdrawn")
    assert response.status_code == 400 and "contact" in response.json()["errors"]
    assert not ConsentEvent.objects.filter(contact=alice).exists()


def test_a_purpose_changed_since_it_was_read_is_read_again(api, mailing, direct):  # noqa: F811
    """The process keeps the purpose as read; the statement writes only while its row is unchanged."""
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    assert post(api, email=alice.email, purpose="mailing", channel="email", action="withdrawn").status_code == 201
    assert direct[-1] is True  # the purpose is now known to this process
    Purpose.objects.filter(pk=mailing.pk).update(status=Purpose.Status.RETIRED)  # no signal, no save()
    response = post(api, email=alice.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 400 and "purpose" in response.json()["errors"], response.content
    assert direct[-1] is False
    assert ConsentEvent.objects.filter(contact=alice).count() == 1


def test_a_channel_the_purpose_dropped_is_refused(api, mailing, chan, direct):  # noqa: F811
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    assert post(api, email=alice.email, purpose="mailing", channel="email", action="withdrawn").status_code == 201
    mailing.channels.remove(chan["email"])  # the purpose's own row does not change
    response = post(api, email=alice.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 400 and "channel" in response.json()["errors"]
    assert direct[-1] is False and ConsentEvent.objects.filter(contact=alice).count() == 1


def test_a_retry_with_its_idempotency_key_returns_the_first_event(api, mailing, direct):  # noqa: F811
    warm_notices(api, "mailing")
    alice = ContactFactory(email="alice@example.org")
    first = post(api, key="once", email=alice.email, purpose="mailing", channel="email", action="granted")
    again = post(api, key="once", email=alice.email, purpose="mailing", channel="email", action="granted")
    assert (first.status_code, again.status_code) == (201, 200) and direct == [*direct[:-2], True, False]
    assert first.json()["id"] == again.json()["id"]
    assert ConsentEvent.objects.filter(contact=alice).count() == 1


def test_a_new_notice_is_stored_the_usual_way_then_the_direct_append_takes_over(api, mailing, direct):  # noqa: F811
    alice = ContactFactory(email="alice@example.org", language="en")
    bob = ContactFactory(email="bob@example.org", language="en")
    first = post(api, email=alice.email, purpose="mailing", channel="email", action="granted")
    second = post(api, email=bob.email, purpose="mailing", channel="email", action="granted")
    assert first.status_code == second.status_code == 201
    assert direct[-2:] == [False, True]
    assert first.json()["notice_sha256"] == second.json()["notice_sha256"]


@pytest.mark.parametrize("extra", [{"evidence_ip": "203.0.113.9"}, {"collection_form": "web-1"},
                                   {"create_contact": True}, {"language": "en"}])
def test_any_other_field_goes_the_usual_way(api, mailing, direct, extra):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org")
    response = post(api, email=alice.email, purpose="mailing", channel="email", action="granted", **extra)
    assert response.status_code == 201, response.content
    assert direct == []  # not even tried
    event = ConsentEvent.objects.get(pk=response.json()["id"])
    assert (event.collection_form, str(event.evidence_ip or "")) == (extra.get("collection_form", ""),
                                                                     extra.get("evidence_ip", ""))


def test_other_identifiers_and_addresses_go_the_usual_way(api, mailing, direct):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org", phone="+33612345678", external_ref="A-1")
    assert post(api, external_ref="A-1", purpose="mailing", channel="email", action="granted").status_code == 201
    assert post(api, phone=alice.phone, purpose="mailing", channel="email", action="granted").status_code == 201
    assert post(api, contact_id=alice.pk, purpose="mailing", channel="email", action="granted").status_code == 201
    assert direct == [False]  # the phone is not the email channel's address: tried, given up
    assert ConsentEvent.objects.filter(contact=alice).count() == 3


def test_the_answer_is_the_views_to_the_header(api, mailing, usual_only):  # noqa: F811
    warm_notices(api, "mailing")
    alice, bob = ContactFactory(email="alice@example.org"), ContactFactory(email="bob@example.org")
    fast = post(api, email=alice.email, purpose="mailing", channel="email", action="withdrawn")
    usual_only(True)
    slow = post(api, email=bob.email, purpose="mailing", channel="email", action="withdrawn")
    assert fast.content.replace(b"withdrawn", b"") and comparable(fast) == comparable(slow)
    for header in ("Content-Type", "Allow", "X-Content-Type-Options", "X-Frame-Options", "Content-Language"):
        assert fast.headers.get(header) == slow.headers.get(header), header
    # The token authenticates before the session is read: no Vary: Cookie on either path.
    assert fast.headers["Vary"] == slow.headers["Vary"]
    assert int(fast.headers["Content-Length"]) == len(fast.content)  # CommonMiddleware ran on it too


def test_the_direct_append_runs_as_a_middleware_before_those_it_does_not_need(settings):
    """Its place in the stack is what makes the answer the view's: after the middleware whose headers
    or checks the answer needs (security, language, CommonMiddleware), before CSRF, the session
    user, messages, X-Frame-Options (applied by the middleware itself) and the history context."""
    stack = settings.MIDDLEWARE
    place = stack.index("consent.api.middleware.DirectEventPostMiddleware")
    before = {"django.middleware.security.SecurityMiddleware", "django.contrib.sessions.middleware.SessionMiddleware",
              "registry.middleware.LocaleMiddleware", "django.middleware.common.CommonMiddleware"}
    after = {"django.middleware.csrf.CsrfViewMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware",
             "django.contrib.messages.middleware.MessageMiddleware",
             "django.middleware.clickjacking.XFrameOptionsMiddleware",
             "simple_history.middleware.HistoryRequestMiddleware"}
    assert before <= set(stack[:place]) and after <= set(stack[place + 1:])
    assert set(stack) <= before | after | {stack[place], "whitenoise.middleware.WhiteNoiseMiddleware"}, \
        "a new middleware: decide whether the direct answer needs it, and place it"


@pytest.mark.parametrize("path, routed", [
    (EVENTS, True), ("/api/v1/consent/events", False), ("/api/v1/consent/events/7/receipt/", False),
    ("/api/v1/consent/check/", False), ("/api/v1/consent/contacts/", False), ("/api/v1/nowhere/events/", False),
])
def test_the_middleware_takes_the_events_path_only(path, routed):
    assert middleware.is_events_path(path) is routed


def test_other_methods_and_paths_go_through_the_stack(api, mailing, direct):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org")
    body = {"email": alice.email, "purpose": "mailing", "channel": "email", "action": "granted", "method": "api"}
    assert api.put(EVENTS, body, format="json").status_code == 403  # the view's permission: no change
    assert api.post("/api/v1/consent/check/", body, format="json").status_code in (403, 405)
    assert direct == [] and not ConsentEvent.objects.filter(contact=alice).exists()


def test_a_client_without_a_token_or_the_permission_goes_the_usual_way(api, rf, mailing, auditor_user, direct):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org")
    body = {"email": alice.email, "purpose": "mailing", "channel": "email", "action": "granted", "method": "api"}
    request = rf.post(EVENTS, data=body, content_type="application/json")
    assert direct_post(request) is None  # no token: the view answers (a session user, or 401)
    request = rf.post(EVENTS, data=body, content_type="application/json",
                      HTTP_AUTHORIZATION="Token " + Token.objects.create(user=auditor_user).key)
    assert direct_post(request) is None  # an auditor may not record: the view says 403
    assert direct == [] and not ConsentEvent.objects.filter(contact=alice).exists()
    auditor = APIClient()
    auditor.credentials(HTTP_AUTHORIZATION=request.META["HTTP_AUTHORIZATION"])
    assert auditor.post(EVENTS, body, format="json").status_code == 403


def test_the_statement_stays_within_psycopgs_query_cache():
    """psycopg converts a query's placeholders once and caches it only below these limits: past
    them, every POST would pay the conversion again (a silent slowdown)."""
    for column in ("email", "phone"):
        sql = ledger._append_direct_sql(column, len(services._CONTACT_LANGUAGES))
        assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
        assert "--" not in sql  # one line: a comment would swallow the rest
        assert len(set(re.findall(r"%\((\w+)\)s", sql))) <= _queries.MAX_CACHED_STATEMENT_PARAMS
    assert connection.vendor == "postgresql"


@pytest.mark.parametrize("raw", [b'{"email": "alice@example.org", "purpose": ', b"[" * 100_000 + b"]" * 100_000,
                                 b'"just a string"', b'{"email": ["alice@example.org"], "purpose": "mailing"}'])
def test_a_body_the_direct_append_cannot_read_gets_the_views_answer(api, mailing, direct, usual_only, raw):  # noqa: F811
    fast = api.post(EVENTS, data=raw, content_type="application/json")
    usual_only(True)
    slow = api.post(EVENTS, data=raw, content_type="application/json")
    assert fast.status_code == slow.status_code == 400 and fast.json() == slow.json()
    assert direct == [] and not ConsentEvent.objects.exists()


@pytest.fixture
def no_direct():
    """Switch direct_post itself off (the view function looks it up in its module)."""
    own = pytest.MonkeyPatch()

    def switch(on: bool):
        if on:
            own.setattr(views, "direct_post", lambda request: None)
        else:
            own.undo()
    yield switch
    own.undo()


def both_ways(no_direct, send):
    """(the answer with the direct append, the answer of the view alone) to the same request."""
    fast = send()
    no_direct(True)
    usual = send()
    no_direct(False)
    return fast, usual


def raw_body(**fields) -> bytes:
    return json.dumps({"method": "api", **fields}).encode()


@pytest.mark.parametrize("content_type, mangle", [
    ("application/json", lambda body: b"\xef\xbb\xbf" + body),  # a UTF-8 BOM: the view's parser refuses it
    ("application/json; charset=utf-16", lambda body: body),  # read as declared, as the view reads it
    ("application/json", lambda body: body.replace(b"mailing", b"mail\xed\xa0\x80")),  # UTF-8 of a surrogate
    ("application/json", lambda body: body.replace(b"mailing", b"mail\\ud800")),  # the JSON escape of one
    ("application/json", lambda body: body.replace(b"alice@", b"al\\ud800ice@")),  # ... in the identifier
])
def test_a_body_decoded_as_the_view_decodes_it(api, mailing, direct, no_direct, content_type, mangle):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org")
    body = mangle(raw_body(email=alice.email, purpose="mailing", channel="email", action="withdrawn"))
    fast, usual = both_ways(no_direct, lambda: api.generic("POST", EVENTS, body, content_type=content_type))
    assert fast.status_code == usual.status_code == 400 and fast.json() == usual.json()
    assert direct == [] and not ConsentEvent.objects.filter(contact=alice).exists()


def test_a_large_body_is_the_views(api, mailing, direct, no_direct, settings):  # noqa: F811
    """A body larger than the common case's is left to the view unread, whatever the view then
    makes of it (here, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    warm_notices(api, "mailing", direct=direct)
    alice, bob = ContactFactory(email="alice@example.org"), ContactFactory(email="bob@example.org")
    text = "Our full privacy notice. " + "y" * 20_000
    responses = iter([alice, bob])
    fast, usual = both_ways(no_direct, lambda: api.generic("POST", EVENTS, raw_body(
        email=next(responses).email, purpose="mailing", channel="email", action="granted", notice_text=text),
        content_type="application/json"))
    assert (fast.status_code, fast.headers["Content-Type"]) == (usual.status_code, usual.headers["Content-Type"])
    assert direct == []


def test_a_token_comes_before_a_session_as_in_the_view(mailing, staff_user, integration_user, direct,  # noqa: F811
                                                       no_direct):
    """A browser session carrying a token besides: the view authenticates the token (the first
    class, design §4), which needs no CSRF token; the direct append leaves any request with a
    session cookie to the view. Without the token the session is read, and CSRF checked."""
    client = token_client(integration_user)
    warm_notices(client, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    token = Token.objects.get(user=integration_user).key
    body = raw_body(email=alice.email, purpose="mailing", channel="email", action="withdrawn")
    fast, usual = both_ways(no_direct, lambda: browser.generic(
        "POST", EVENTS, body, content_type="application/json", HTTP_AUTHORIZATION="Token " + token))
    assert fast.status_code == usual.status_code == 201 and direct == []
    assert {event.recorded_by for event in ConsentEvent.objects.filter(contact=alice)} == {integration_user}
    fast, usual = both_ways(no_direct, lambda: browser.generic("POST", EVENTS, body, content_type="application/json"))
    assert fast.status_code == usual.status_code == 403 and "CSRF" in fast.json()["detail"]
    assert ConsentEvent.objects.filter(contact=alice).count() == 2 and direct == []


class _DroppedMeanwhile(dict):
    """The purposes read as another thread leaves them: a key there when looked for, gone after."""

    def __contains__(self, key):
        present = super().__contains__(key)
        if present:
            self.pop(key)
        return present

    def get(self, key, default=None):
        value = super().get(key, default)
        self.pop(key, None)
        return value


def test_a_purpose_another_thread_drops_meanwhile_is_no_error(api, mailing, direct, monkeypatch):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    assert services._append_target(purpose_slug="mailing", channel_code="email") is not None
    monkeypatch.setattr(services, "_TARGETS", _DroppedMeanwhile(services._TARGETS))
    alice = ContactFactory(email="alice@example.org")
    assert post(api, email=alice.email, purpose="mailing", channel="email", action="withdrawn").status_code == 201


@pytest.mark.parametrize("key", ['a\\b"c', "it's 100%", ',"notice":"x', ',"contact":0,"effective_at":',
                                 "\u00e9\u00ff\u00a9", "%(part_a)s", "E'\\n'", "{}}"])
def test_keys_that_play_with_the_payloads_escaping_hash_alike(api, mailing, direct, key):  # noqa: F811
    warm_notices(api, "mailing", direct=direct)
    alice = ContactFactory(email="alice@example.org", language="en")
    response = post(api, key=key, email=alice.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 201 and direct == [True], (response.content, direct)
    assert ConsentEvent.objects.get(pk=response.json()["id"]).idempotency_key == key
    checked, broken = selectors.ledger_verify()
    assert broken is None and checked == ConsentEvent.objects.count()


def test_a_malformed_content_length_is_the_views(rf, mailing):  # noqa: F811
    request = rf.post(EVENTS, data=b"{}", content_type="application/json", CONTENT_LENGTH="many")
    assert direct_post(request) is None


def test_a_contact_column_added_while_running_does_not_break_the_prepared_statement(api, mailing, direct):  # noqa: F811
    """A deploy's expand migration adds a column while the old code runs: f.* then names one more
    column than when the statement was prepared; the contact is still read by name."""
    warm_notices(api, "mailing", direct=direct)
    alice, bob = ContactFactory(email="alice@example.org"), ContactFactory(email="bob@example.org", language="en")
    for _n in range(2):  # prepared on the server by now
        assert post(api, email=alice.email, purpose="mailing", channel="email", action="withdrawn").status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE consent_contact ADD COLUMN zz_added integer")
    response = post(api, email=bob.email, purpose="mailing", channel="email", action="granted")
    assert response.status_code == 201 and direct == [True, True, True]
    assert response.json()["contact_id"] == bob.pk
    assert ConsentEvent.objects.get(pk=response.json()["id"]).notice.language == "en"  # bob's row, read by name


def test_a_shared_phone_is_refused_on_both_paths_and_a_sole_holder_is_appended_directly(api, mailing, direct,  # noqa: F811
                                                                                         usual_only):
    warm_notices(api, "mailing", channel="sms", direct=direct)
    older = ContactFactory(email="older@example.org", phone="+33612345678")
    younger = ContactFactory(email="younger@example.org", phone="+33612345678")
    sole = ContactFactory(email="sole@example.org", phone="+33698765432")
    fast = post(api, phone=older.phone, purpose="mailing", channel="sms", action="granted")
    assert direct[-1] is False  # the statement finds two holders and writes nothing
    response = post(api, phone=sole.phone, purpose="mailing", channel="sms", action="granted")
    assert response.status_code == 201 and direct[-1] is True
    assert response.json()["contact_id"] == sole.pk
    usual_only(True)
    slow = post(api, phone=older.phone, purpose="mailing", channel="sms", action="granted")
    assert fast.status_code == slow.status_code == 400 and fast.json() == slow.json()
    assert f"#{older.pk}, #{younger.pk}" in fast.json()["errors"]["phone"][0]
    assert not ConsentEvent.objects.filter(contact__in=[older, younger]).exists()


def test_the_events_path_is_looked_up_again_under_other_urls(settings):
    assert middleware.is_events_path(EVENTS)
    settings.ROOT_URLCONF = "consent.urls"  # URLs without the API
    assert not middleware.is_events_path(EVENTS)
