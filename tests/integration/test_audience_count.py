"""Audience counts from the deltas kept by migration consent 0009's triggers, on real PostgreSQL.

Whatever changes the current-consent table (the services, raw SQL, a COPY, a DELETE, a TRUNCATE),
``selectors.audience_count`` must give what counting the rows gives: ``_current_grants(...).count()``,
the rule the audience export also uses. The grants past their date that the expiry job has not
turned into events yet, and the grants given before a material change, are taken off.
"""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import selectors, services
from consent.models import AudienceCountDelta, ConsentState
from registry import services as registry_services
from tests.factories import ContactFactory, channel, consent_purpose, record_consent

pytestmark = pytest.mark.integration


def counted(purpose, code: str = "email", now=None) -> int:
    """What the app answers (PostgreSQL: the deltas)."""
    return selectors.audience_count(purpose=purpose, channel=channel(code), now=now)


def rows(purpose, code: str = "email", now=None) -> int:
    """What counting the current-consent rows answers."""
    return selectors._current_grants(purpose=purpose, channel=channel(code), now=now or timezone.now()).count()


def execute(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def purpose(db, reference_data):
    return consent_purpose("int-audience-count", channels=("email", "sms"), consent_validity_months=24)


def test_the_deltas_follow_every_kind_of_write(purpose):
    contacts = [ContactFactory(phone=f"+336120000{n:02d}") for n in range(12)]
    for contact in contacts:
        record_consent(contact, purpose, "email", "granted")
        record_consent(contact, purpose, "sms", "granted")
    assert counted(purpose) == rows(purpose) == 12
    assert counted(purpose, "sms") == rows(purpose, "sms") == 12

    record_consent(contacts[0], purpose, "email", "withdrawn", method="unsubscribe")
    record_consent(contacts[0], purpose, "email", "withdrawn", method="unsubscribe")  # no change: no delta
    record_consent(contacts[1], purpose, "email", "refused")
    assert counted(purpose) == rows(purpose) == 10

    services.contact_update(contact=contacts[2], email="")  # no address: unreachable by email
    services.contact_update(contact=contacts[3], restricted=True)  # restricted: on no channel
    assert counted(purpose) == rows(purpose) == 8
    assert counted(purpose, "sms") == rows(purpose, "sms") == 11

    services.contact_anonymise(contact=contacts[4])
    assert counted(purpose) == rows(purpose) == 7

    # Raw SQL too: the triggers are the database's, not the app's.
    execute("UPDATE consent_consentstate SET status = 'withdrawn' WHERE contact_id = %s AND purpose_id = %s",
            [contacts[5].pk, purpose.pk])
    execute("DELETE FROM consent_consentstate WHERE contact_id = %s", [contacts[6].pk])
    assert counted(purpose) == rows(purpose) == 5
    assert counted(purpose, "sms") == rows(purpose, "sms") == 8

    # Compaction sums the deltas and changes no count.
    assert AudienceCountDelta.objects.count() > 4
    removed = services.audience_count_deltas_compact()
    assert removed > 0 and AudienceCountDelta.objects.count() == 2  # one row per pair x version left
    assert (counted(purpose), counted(purpose, "sms")) == (5, 8)
    assert services.audience_count_deltas_compact() == 0


def test_grants_past_their_date_and_before_a_material_change_are_not_counted(purpose):
    contacts = [ContactFactory() for _ in range(6)]
    for contact in contacts:
        record_consent(contact, purpose, "email", "granted")
    now = timezone.now()
    # Two grants given 24 months ago whose validity ended an hour ago, before the hourly expiry job ran.
    execute("UPDATE consent_consentstate SET since = %s, expires_at = %s WHERE contact_id = ANY(%s) AND purpose_id = %s",
            [now - timedelta(days=730), now - timedelta(hours=1), [contacts[0].pk, contacts[1].pk], purpose.pk])
    assert counted(purpose, now=now) == rows(purpose, now=now) == 4
    assert counted(purpose, now=now - timedelta(hours=2)) == rows(purpose, now=now - timedelta(hours=2)) == 6
    services.consent_expire_due()  # the job writes their "expired" events
    assert ConsentState.objects.filter(purpose=purpose, status="expired").count() == 2
    assert counted(purpose) == rows(purpose) == 4

    registry_services.purpose_update(purpose=purpose, text_fr=purpose.text_fr + " Nouveau partenaire.",
                                     change_kind="material")
    purpose.refresh_from_db()
    assert counted(purpose) == rows(purpose) == 0  # every grant was given to the earlier text
    record_consent(contacts[2], purpose, "email", "granted")
    assert counted(purpose) == rows(purpose) == 1


def test_truncate_and_copy_keep_the_counts(purpose):
    contacts = [ContactFactory() for _ in range(3)]
    events = [record_consent(contact, purpose, "email", "granted") for contact in contacts]
    execute("SET CONSTRAINTS ALL IMMEDIATE")  # checks the foreign keys now: TRUNCATE refuses pending ones
    execute("TRUNCATE consent_consentstate")
    assert counted(purpose) == rows(purpose) == 0 and not AudienceCountDelta.objects.exists()
    # COPY, as the import and the benchmark generator write current consent.
    email = channel("email")  # read before: no other statement while a COPY runs
    with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY consent_consentstate (contact_id, purpose_id, channel_id, status, purpose_version, since,"
            " expires_at, last_event_id, reachable) FROM STDIN") as copy:
        for contact, event in zip(contacts, events):
            copy.write_row((contact.pk, purpose.pk, email.pk, "granted", purpose.version,
                            event.effective_at, None, event.pk, True))
    assert counted(purpose) == rows(purpose) == 3


def test_random_histories_count_as_the_rows(purpose):
    """Grants, refusals, withdrawals, address changes and restrictions in random order: after each
    step the app's count equals the rows' count, on both channels."""
    rng = random.Random(2026)
    contacts = [ContactFactory(phone=f"+336130000{n:02d}") for n in range(15)]
    for step in range(120):
        contact = rng.choice(contacts)
        roll = rng.random()
        if roll < 0.75:
            record_consent(contact, purpose, rng.choice(["email", "sms"]),
                           rng.choice(["granted", "granted", "refused", "withdrawn"]))
        elif roll < 0.9:
            contact.refresh_from_db()
            services.contact_update(contact=contact, email="" if contact.email else f"back{step}@example.org")
        else:
            contact.refresh_from_db()
            services.contact_update(contact=contact, restricted=not contact.restricted)
        if step % 40 == 39:
            services.audience_count_deltas_compact()
        for code in ("email", "sms"):
            assert counted(purpose, code) == rows(purpose, code), (step, code)
