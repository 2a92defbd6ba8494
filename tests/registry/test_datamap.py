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


# --- What the data subject reads: slugs of files, titles, descriptions, purposes ------------------------


def test_a_source_has_a_slug_for_its_files_made_from_its_label_unless_declared():
    local = DataMap()
    person = local.declare(Person, fields={}, purposes=[], subject=None)
    assert person.slug == "registry-person" and person.slug_for(Person) == "registry-person"
    from registry.models import Recipient

    recipient = local.declare(Recipient, fields={}, purposes=[], subject=None, slug="recipients")
    assert recipient.slug_for(Recipient) == "recipients"
    assert recipient.slug_for(Recipient.history.model) == "recipients-history"


@pytest.mark.parametrize("slug", ["Recipients", "recipient_contacts", "recipients.csv", "-recipients", "a--b"])
def test_a_slug_is_lower_case_words_joined_by_hyphens(slug):
    from registry.models import Recipient

    with pytest.raises(ValueError, match="slug"):
        DataMap().declare(Recipient, fields={}, purposes=[], subject=None, slug=slug)


def test_two_sources_never_share_a_file_name():
    from registry.models import Processor, Recipient

    local = DataMap()
    local.declare(Recipient, fields={}, purposes=[], subject=None, slug="parties")  # and parties-history
    with pytest.raises(ValueError, match="another source"):
        local.declare(Person, fields={}, purposes=[], subject=None, slug="parties")
    with pytest.raises(ValueError, match="another source"):
        local.declare(Person, fields={}, purposes=[], subject=None, slug="parties-history")
    other = DataMap()
    other.declare(Person, fields={}, purposes=[], subject=None, slug="suppliers-history")
    with pytest.raises(ValueError, match="another source"):  # its history's file would be Person's
        other.declare(Processor, fields={}, purposes=[], subject=None, slug="suppliers")


def test_titles_are_translated_and_a_history_table_is_named_after_its_source():
    from django.utils import translation

    from consent.models import Contact

    source = datamap.source_for(Contact)
    with translation.override("en"):
        assert source.title_for(Contact) == "contacts"
        assert source.title_for(Contact.history.model) == "contacts: history of changes"  # not "historical contacts"
    with translation.override("fr"):
        assert source.title_for(Contact.history.model).startswith("contacts")


def test_every_declaration_shown_to_the_data_subject_is_translatable_and_named():
    """Descriptions and titles are gettext_lazy strings: the export renders them in the request's language."""
    from django.utils.functional import Promise

    slugs = []
    for source in datamap.sources():
        assert isinstance(source.description, Promise) and str(source.description), source.label
        assert not source.title or isinstance(source.title, Promise), source.label
        slugs += [source.slug_for(m) for m in (source.model, source.history_model) if m is not None]
        assert "." not in source.slug and "_" not in source.slug, source.label  # chosen, not the model's label
    assert len(slugs) == len(set(slugs))
    assert {"contact", "contact-history", "consent-events", "rights-requests"} <= set(slugs)


def test_declared_purposes_are_purposes_of_the_demo_register():
    """A source names purposes by slug (no database id): each must be one the demo register declares, e.g.
    the rights app's sources serve "rights-requests" (R-07), not the contact's marketing purposes."""
    from registry.demo import ACTIVITIES
    from rights.models import RightsRequest

    register = {purpose["slug"] for activity in ACTIVITIES for purpose in activity["purposes"]}
    for source in datamap.sources():
        assert set(source.purposes) <= register, (source.label, source.purposes)
    assert datamap.source_for(RightsRequest).purposes == ["rights-requests"]


@pytest.mark.django_db
def test_the_rights_sources_are_anonymised_despite_their_legal_obligation():
    """Their purpose rests on a legal obligation (no right to erasure), but what the law asks to keep is
    the proof their anonymisation leaves: erasure anonymises them. Another source serving it is kept."""
    from registry.erasure import legal_hold_reason
    from registry.models import Recipient
    from rights.models import RightsRequest
    from tests.factories import PurposeFactory

    PurposeFactory(slug="rights-requests", legal_basis="legal_obligation")
    assert legal_hold_reason(datamap.source_for(RightsRequest)) == ""
    held = DataMap().declare(Recipient, fields={}, purposes=["rights-requests"], subject=None)
    assert legal_hold_reason(held)  # kept, with the reason (Art. 17(3)(b))
