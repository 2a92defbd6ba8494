"""registry.queries.in_values: the same rows as ``__in``, one array parameter on PostgreSQL."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import ConsentState, Contact
from registry.queries import in_values
from tests.factories import ContactFactory, consent_purpose, record_consent


@pytest.mark.django_db
def test_in_values_finds_what_in_finds(reference_data):
    purpose = consent_purpose()
    contacts = [ContactFactory(email=f"c{n}@example.org", phone=f"+3361234567{n}") for n in range(4)]
    for contact in contacts[:3]:
        record_consent(contact, purpose, "email")
    ids = [contact.pk for contact in contacts] + [10**12]
    emails = ["c1@example.org", "c3@example.org", "nobody@example.org"]
    phones = ["+33612345670", "+33612345672"]
    for name, values, model in (("contact_id", ids, ConsentState), ("contact", ids, ConsentState),
                                ("email", emails, Contact), ("phone", phones, Contact), ("email", [], Contact)):
        expected = set(model.objects.filter(**{f"{name}__in": values}).values_list("pk", flat=True))
        assert set(model.objects.filter(in_values(name, values)).values_list("pk", flat=True)) == expected
    assert ConsentState.objects.filter(in_values("contact_id", ids)).count() == 3


@pytest.mark.django_db
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="elsewhere in_values is __in")
def test_on_postgresql_the_values_are_one_parameter(reference_data):
    with CaptureQueriesContext(connection) as queries:
        list(Contact.objects.filter(in_values("email", [f"x{n}@example.org" for n in range(300)])))
    assert "= ANY(" in queries.captured_queries[0]["sql"]
