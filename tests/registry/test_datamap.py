"""The data map: declarations, exemptions, the system check and the admin page."""
import pytest
from django.apps import apps
from django.db import models
from django.urls import reverse

from registry.checks import check_personal_fields_declared, looks_personal, undeclared_personal_fields
from registry.datamap import AlreadyDeclared, Blank, DataMap, FixedToken, KeyedHash, PersonalField, TruncateDate, datamap


class Person(models.Model):
    email = models.EmailField()
    first_name = models.CharField(max_length=50)
    joined_on = models.DateField()
    notes = models.TextField()

    class Meta:
        app_label = "registry"
        managed = False


def test_field_names_that_look_personal():
    assert all(looks_personal(n) for n in ("email", "phone", "first_name", "last_name", "ip_address",
                                           "postal_address", "date_of_birth", "user_agent", "mobile_phone"))
    assert not any(looks_personal(n) for n in ("name_fr", "reference", "status", "description", "shipping"))


def test_undeclared_personal_fields_are_reported_and_declaration_clears_them():
    local = DataMap()
    assert set(undeclared_personal_fields(Person)) >= {"email", "first_name"}
    local.declare(Person, fields={"email": PersonalField("contact_details"),
                                  "first_name": PersonalField("identity")},
                  purposes=["newsletter"], subject=lambda contact: Person.objects.none())
    source = local.source_for(Person)
    assert source.purposes == ["newsletter"]
    with pytest.raises(AlreadyDeclared):
        local.declare(Person, fields={}, purposes=[], subject=None)


def test_declaring_an_unknown_field_fails_loudly():
    with pytest.raises(ValueError, match="no field"):
        DataMap().declare(Person, fields={"emial": PersonalField("contact_details")}, purposes=[], subject=None)


def test_exemption_needs_a_reason():
    with pytest.raises(ValueError):
        DataMap().exempt(Person, reason=" ")


def test_system_check_fails_for_an_undeclared_personal_model():
    errors = check_personal_fields_declared()
    assert any(e.id == "registry.E001" and e.obj is Person for e in errors)
    assert "email" in next(e.msg for e in errors if e.obj is Person)


def test_every_installed_model_passes_the_check():
    """The project's real models: nothing personal is left undeclared (Person above is a test model)."""
    offenders = [m._meta.label for m in apps.get_models() if m is not Person and undeclared_personal_fields(m)]
    assert offenders == []


def test_anonymisation_strategies():
    char = models.CharField(max_length=10)
    nullable = models.DateField(null=True)
    assert Blank().apply("x", field=char) == "" and Blank().apply("x", field=nullable) is None
    assert FixedToken("anon").apply("x", field=char) == "anon"
    hashed = KeyedHash().apply("Alice@Example.org ", field=char)
    assert len(hashed) == 10 and hashed == KeyedHash().apply("alice@example.org", field=char)
    from datetime import date
    assert TruncateDate("year").apply(date(1990, 6, 7), field=nullable) == date(1990, 1, 1)
    assert TruncateDate("month").apply(date(1990, 6, 7), field=nullable) == date(1990, 6, 1)


def test_the_project_exempts_accounts_and_controller_details_with_reasons():
    labels = {e.model._meta.label: e.reason for e in datamap.exemptions()}
    assert "auth.User" in labels and "registry.Organisation" in labels
    assert all(reason.strip() for reason in labels.values())


@pytest.mark.django_db
def test_admin_page_lists_sources_and_exemptions(client, auditor_user):
    client.force_login(auditor_user)
    page = client.get(reverse("admin:datamap"))
    assert page.status_code == 200
    assert "auth.User" in page.content.decode()


@pytest.mark.django_db
def test_admin_datamap_needs_register_read_permission(client, integration_user):
    integration_user.is_staff = True
    integration_user.save()
    client.force_login(integration_user)
    assert client.get(reverse("admin:datamap")).status_code == 403


def test_an_anonymisation_marker_must_be_a_field_of_the_model():
    from registry.models import Recipient

    with pytest.raises(ValueError, match="no field"):
        DataMap().declare(Recipient, fields={}, purposes=[], subject=None, anonymised_marker="erased_on")


def test_contacts_are_marked_when_anonymised_and_their_consents_follow():
    from consent.models import Contact

    source = datamap.source_for(Contact)
    assert source.anonymised_marker == "anonymised_at" and callable(source.after_anonymise)
