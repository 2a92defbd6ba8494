"""An erasure's suppression entry stops re-imports and re-subscriptions *without* a new consent;
a consent given after the erasure counts again (check and audience follow one rule)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from consent import services
from consent.models import SuppressionEntry
from consent.selectors import audience_rows, consent_check
from tests.factories import ContactFactory, channel, consent_purpose, record_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(reference_data):
    return consent_purpose("after-erasure", channels=("email",))


def _audience(purpose):
    return [row["contact_id"] for row in audience_rows(purpose=purpose, channel=channel("email"))]


@pytest.mark.parametrize("source, allowed_after_new_consent", [
    (SuppressionEntry.Source.ERASURE, True),
    (SuppressionEntry.Source.OPPOSITION_LIST, False),
    (SuppressionEntry.Source.UNSUBSCRIBE, False),
])
def test_only_a_new_consent_lifts_an_erasure_entry(newsletter, source, allowed_after_new_consent):
    email = channel("email")
    old_grant = timezone.now() - timedelta(days=30)
    contact = ContactFactory(email="back.again@example.org")
    record_consent(contact, newsletter, "email", effective_at=old_grant)  # a grant from before the entry
    services.suppression_add(channel=email, value="back.again@example.org", source=source)

    result = consent_check(contact=contact, purpose=newsletter, channel=email)
    assert (result.allowed, result.reason) == (False, "suppressed")
    assert _audience(newsletter) == []

    record_consent(contact, newsletter, "email", action="withdrawn")
    record_consent(contact, newsletter, "email")  # a new consent, after the entry
    result = consent_check(contact=contact, purpose=newsletter, channel=email)
    assert result.allowed is allowed_after_new_consent
    assert _audience(newsletter) == ([contact.pk] if allowed_after_new_consent else [])
