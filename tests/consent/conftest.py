import pytest

from registry.models import Channel, DataSubjectCategory
from tests.factories import PurposeFactory


@pytest.fixture
def channels(reference_data):
    return {c.code: c for c in Channel.objects.all()}


@pytest.fixture
def categories(reference_data):
    return {c.code: c for c in DataSubjectCategory.objects.all()}


@pytest.fixture
def newsletter(channels):
    """A consent-based purpose on email and SMS, consent valid 24 months."""
    return PurposeFactory(slug="newsletter", legal_basis="consent", consent_validity_months=24,
                          channels=[channels["email"], channels["sms"]])


@pytest.fixture
def postal_appeals(channels, categories):
    """An opt-out (legitimate interests) postal purpose for donors."""
    return PurposeFactory(slug="postal-appeals", legal_basis="legitimate_interests", direct_marketing=True,
                          legitimate_interest="Appeals to past donors.", channels=[channels["postal"]],
                          data_subject_categories=[categories["donor"]])
