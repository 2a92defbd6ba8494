"""The audience count reads the current-consent table alone: it must give the number of contacts of
the audience, and ConsentState.reachable must follow every change of address, restriction or
anonymisation, through every service that makes one."""
from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

from consent import selectors, services
from consent.models import ConsentState
from tests.consent.test_audience import mix, record  # noqa: F401 (the fixture)
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def reachable(contact, purpose, channel) -> bool:
    return ConsentState.objects.get(contact=contact, purpose=purpose, channel=channel).reachable


@pytest.mark.parametrize("purpose_name,channel_code", [("newsletter", "email"), ("newsletter", "sms"),
                                                       ("postal_appeals", "postal")])
def test_count_is_the_size_of_the_audience(request, mix, channels, purpose_name, channel_code):
    purpose = request.getfixturevalue(purpose_name)
    purpose.refresh_from_db()
    channel = channels[channel_code]
    count = selectors.audience_count(purpose=purpose, channel=channel)
    assert count == selectors.audience_queryset(purpose=purpose, channel=channel).count()
    # The count leaves suppression lists aside (keyed digests, applied as the rows stream).
    suppressed = sum(selectors.is_suppressed(contact=contact, channel=channel)
                     for contact in selectors.audience_queryset(purpose=purpose, channel=channel))
    assert len(list(selectors.audience_rows(purpose=purpose, channel=channel))) == count - suppressed
    assert count > 1


def test_reachable_follows_the_contact(newsletter, channels):
    email, sms = channels["email"], channels["sms"]
    contact = ContactFactory(email="ada@example.org", phone="+33612345678")
    record(contact, newsletter, email, "granted")
    record(contact, newsletter, sms, "granted")
    assert reachable(contact, newsletter, email) and reachable(contact, newsletter, sms)
    assert selectors.audience_count(purpose=newsletter, channel=email) == 1

    services.contact_update(contact=contact, phone="")  # SMS has nobody to send to; email unchanged
    assert reachable(contact, newsletter, email) and not reachable(contact, newsletter, sms)
    assert selectors.audience_count(purpose=newsletter, channel=sms) == 0
    services.contact_update(contact=contact, phone="06 12 34 56 78")
    assert reachable(contact, newsletter, sms)

    services.contact_update(contact=contact, restricted=True)  # Art. 18: nobody reaches them
    assert not reachable(contact, newsletter, email) and not reachable(contact, newsletter, sms)
    assert selectors.audience_count(purpose=newsletter, channel=email) == 0
    record(contact, newsletter, email, "granted")  # a new event keeps the flag right too
    assert not reachable(contact, newsletter, email)
    services.contact_update(contact=contact, restricted=False)
    assert reachable(contact, newsletter, email)
    assert selectors.audience_count(purpose=newsletter, channel=email) == 1

    services.contact_anonymise(contact=contact)
    assert not reachable(contact, newsletter, email) and not reachable(contact, newsletter, sms)
    assert selectors.audience_count(purpose=newsletter, channel=email) == 0


def test_a_state_written_for_an_unreachable_contact_is_not_reachable(newsletter, channels):
    contact = ContactFactory(email="", phone="+33612345679")
    record(contact, newsletter, channels["email"], "granted")  # e.g. on paper, the email to come later
    assert not reachable(contact, newsletter, channels["email"])
    services.contact_update(contact=contact, email="later@example.org")
    assert reachable(contact, newsletter, channels["email"])


def test_the_migration_computes_the_flag_of_existing_rows(mix, newsletter, channels):
    expected = {state.pk: state.reachable for state in ConsentState.objects.all()}
    assert not all(expected.values())  # the mix holds unreachable rows
    ConsentState.objects.update(reachable=True)
    migration = import_module("consent.migrations.0006_state_reachable")
    migration.compute_reachable(apps, None)
    assert {state.pk: state.reachable for state in ConsentState.objects.all()} == expected
