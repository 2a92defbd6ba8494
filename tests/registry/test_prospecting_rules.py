"""The register refuses opt-out prospecting where French law needs prior consent."""
import pytest
from django.core.exceptions import ValidationError

from registry.models import Channel, DataSubjectCategory
from tests.factories import PurposeFactory

pytestmark = pytest.mark.django_db


def opt_out(channel_codes, category_codes, **extra):
    return PurposeFactory(legal_basis="legitimate_interests", legitimate_interest="Prospecting.",
                          direct_marketing=True,
                          channels=list(Channel.objects.filter(code__in=channel_codes)),
                          data_subject_categories=list(DataSubjectCategory.objects.filter(code__in=category_codes)),
                          **extra)


@pytest.mark.parametrize("channel", ["email", "sms", "phone", "push"])
def test_opt_out_prospecting_of_prospects_is_refused(reference_data, channel):
    with pytest.raises(ValidationError) as excinfo:
        opt_out([channel], ["prospect"])
    assert "channels" in excinfo.value.message_dict


@pytest.mark.parametrize("channel", ["email", "sms", "push"])
def test_soft_opt_in_to_customers_and_professionals_is_accepted(reference_data, channel):
    assert opt_out([channel], ["customer"]).pk
    assert opt_out([channel], ["professional_contact"]).pk


def test_phone_prospecting_of_consumers_needs_consent_since_august_2026(reference_data):
    with pytest.raises(ValidationError) as excinfo:
        opt_out(["phone"], ["prospect", "customer"])
    assert "L.223-1" in " ".join(excinfo.value.message_dict["channels"])
    consent_based = PurposeFactory(legal_basis="consent", direct_marketing=True,
                                   channels=list(Channel.objects.filter(code="phone")))
    assert consent_based.pk


def test_postal_prospecting_stays_opt_out(reference_data):
    assert opt_out(["postal"], ["prospect", "donor"]).pk


def test_opt_out_with_no_category_is_refused_on_email(reference_data):
    with pytest.raises(ValidationError):
        opt_out(["email"], [])


def test_update_cannot_widen_an_opt_out_email_purpose_to_prospects(reference_data):
    from registry import services

    purpose = opt_out(["email"], ["customer"])
    with pytest.raises(ValidationError):
        services.purpose_update(purpose=purpose,
                                data_subject_categories=list(DataSubjectCategory.objects.filter(code="prospect")))
    assert list(purpose.data_subject_categories.values_list("code", flat=True)) == ["customer"]
