"""Unlocked single appends (consent.services._record_one_unlocked) racing locked batch appends
(consent_record_many) on real PostgreSQL: one chain, no fork, every state the fold of its events."""
from __future__ import annotations

import threading

import pytest

from consent import services
from consent.models import ConsentEvent, ConsentState
from consent.state import fold
from tests.factories import ContactFactory, channel, consent_purpose
from tests.integration.test_consent_ledger import (
    LOCK_WAIT_TIMEOUT,
    assert_one_unforked_chain,
    in_own_connection,
    run_to_the_end,
)

pytestmark = pytest.mark.integration

SINGLE_WRITERS, SINGLES = 3, 12
BATCHES, BATCH_SIZE = 4, 5


def append_batches(start: threading.Barrier, contact, purpose, sms) -> None:
    """The locked batch writer: BATCHES batches of BATCH_SIZE alternating events on one pair."""
    start.wait(timeout=LOCK_WAIT_TIMEOUT)
    for _batch in range(BATCHES):
        requests = [services.EventRequest(contact=contact, purpose=purpose, channel=sms,
                                          action="granted" if n % 2 == 0 else "withdrawn", method="api")
                    for n in range(BATCH_SIZE)]
        outcomes = services.consent_record_many(requests=requests)
        assert all(isinstance(o, services.Recorded) for o in outcomes), outcomes


def test_unlocked_and_locked_appends_race_without_forking(transactional_db, reference_data):
    purpose = consent_purpose("int-unlocked-race", channels=("email", "sms"))
    email, sms = channel("email"), channel("sms")
    singles = [ContactFactory(email=f"single{n}@example.org") for n in range(SINGLE_WRITERS)]
    batched = ContactFactory(email="batched@example.org")
    start = threading.Barrier(SINGLE_WRITERS + 1)
    errors: list[BaseException] = []

    def single_writer(contact):
        start.wait(timeout=LOCK_WAIT_TIMEOUT)
        for n in range(SINGLES):  # the same pair: each append races the others' state writes too
            action = "granted" if n % 2 == 0 else "withdrawn"
            recorded = services.consent_record(contact=contact, purpose=purpose, channel=email, action=action,
                                               method="api", idempotency_key=f"{contact.pk}-{n}")
            assert recorded.created

    threads = [in_own_connection(single_writer, errors, c) for c in singles]
    threads.append(in_own_connection(append_batches, errors, start, batched, purpose, sms))
    run_to_the_end(threads, errors)

    stored = assert_one_unforked_chain(SINGLE_WRITERS * SINGLES + BATCHES * BATCH_SIZE)
    for state in ConsentState.objects.filter(purpose=purpose):
        events = [e for e in stored if (e.contact_id, e.channel_id) == (state.contact_id, state.channel_id)]
        value = fold(events, validity_months=purpose.consent_validity_months)
        assert (state.status, state.since, state.last_event_id) == (value.status, value.since, value.last_event_id)
    assert ConsentEvent.objects.filter(idempotency_key__isnull=False).count() == SINGLE_WRITERS * SINGLES


DIRECT_WRITERS, DIRECTS = 3, 12


def test_direct_appends_race_the_others_without_forking(transactional_db, reference_data):
    """The API's one-statement append (services.consent_record_direct) racing unlocked and locked
    appends. The statement reads the tail with the snapshot it started with, before it waits for the
    lock: a lost race is refused by the unique sequence and tried again. One chain, every state the
    fold of its events."""
    from django.contrib.auth import get_user_model

    purpose = consent_purpose("int-direct-race", channels=("email", "sms"))
    email, sms = channel("email"), channel("sms")
    author = get_user_model().objects.create_user("int-direct-client")
    services.consent_record(contact=ContactFactory(email="warm@example.org"), purpose=purpose, channel=email,
                            action="granted", method="api")  # stores (and makes known) the notice
    directs = [ContactFactory(email=f"direct{n}@example.org", language="fr") for n in range(DIRECT_WRITERS)]
    single, batched = ContactFactory(email="single@example.org"), ContactFactory(email="batched@example.org")
    start = threading.Barrier(DIRECT_WRITERS + 2)
    errors: list[BaseException] = []
    written: list[bool] = []

    def direct_writer(contact):
        start.wait(timeout=LOCK_WAIT_TIMEOUT)
        for n in range(DIRECTS):
            action = "granted" if n % 2 == 0 else "withdrawn"
            outcome = services.consent_record_direct(
                identifier=("email", contact.email), purpose_slug=purpose.slug, channel_code="email", action=action,
                method="api", recorded_by=author, idempotency_key=f"direct-{contact.pk}-{n}")
            if outcome is None:  # given up after lost races: the usual path, as the API would
                services.consent_record(contact=contact, purpose=purpose, channel=email, action=action, method="api",
                                        recorded_by=author, idempotency_key=f"direct-{contact.pk}-{n}")
            written.append(outcome is not None)

    def single_writer():
        start.wait(timeout=LOCK_WAIT_TIMEOUT)
        for n in range(DIRECTS):
            services.consent_record(contact=single, purpose=purpose, channel=email, action="withdrawn",
                                    method="api", idempotency_key=f"single-{n}")

    threads = [in_own_connection(direct_writer, errors, c) for c in directs]
    threads += [in_own_connection(single_writer, errors),
                in_own_connection(append_batches, errors, start, batched, purpose, sms)]
    run_to_the_end(threads, errors)

    stored = assert_one_unforked_chain(1 + DIRECT_WRITERS * DIRECTS + DIRECTS + BATCHES * BATCH_SIZE)
    assert any(written), written  # the direct way was taken (a lost race may send a try the usual way)
    for state in ConsentState.objects.filter(purpose=purpose):
        events = [e for e in stored if (e.contact_id, e.channel_id) == (state.contact_id, state.channel_id)]
        value = fold(events, validity_months=purpose.consent_validity_months)
        assert (state.status, state.since, state.last_event_id) == (value.status, value.since, value.last_event_id)
    for contact in directs:
        assert ConsentState.objects.get(contact=contact, purpose=purpose, channel=email).status == "withdrawn"
