"""The DPO's admin: purposes inline through the versioning service, completeness warnings, filters, history."""
import pytest
from django.urls import reverse

from registry.models import Purpose
from tests.factories import ActivityFactory, PurposeFactory, channel, ref
from registry.models import Country, DataCategory, Transfer, TransferSafeguard

pytestmark = pytest.mark.django_db


def inline_management(prefix, total, initial):
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def activity_post(activity, purposes: list[dict], initial: int = 0):
    data = {"reference": activity.reference, "name": activity.name, "description": activity.description,
            "status": activity.status, "role": activity.role}
    data.update(inline_management("purposes", len(purposes), initial))
    data.update(inline_management("data_category_links", 0, 0))
    data.update(inline_management("transfers", 0, 0))
    for index, purpose in enumerate(purposes):
        for key, value in purpose.items():
            data[f"purposes-{index}-{key}"] = value
    return data


PURPOSE_FIELDS = {"slug": "adhesion", "status": "active", "position": "0", "name_fr": "Adhésion",
                  "name_en": "Membership", "text_fr": "Texte v1", "text_en": "Text v1", "legal_basis": "contract",
                  "retention_months": "36", "retention_start": "end_of_relationship", "activity": ""}


def test_dpo_adds_a_purpose_inline_and_it_is_versioned(client, dpo_user):
    activity = ActivityFactory()
    client.force_login(dpo_user)
    url = reverse("admin:registry_processingactivity_change", args=[activity.pk])
    response = client.post(url, activity_post(activity, [{**PURPOSE_FIELDS, "activity": activity.pk}]))
    assert response.status_code == 302, response.context["errors"] if response.context else response
    purpose = Purpose.objects.get(slug="adhesion")
    assert purpose.activity == activity and purpose.version == 1
    assert purpose.versions.get().text_fr == "Texte v1"


def test_inline_text_change_needs_change_kind_then_bumps_version(client, dpo_user):
    purpose = PurposeFactory(slug="adhesion", legal_basis="contract", text_fr="Texte v1", text_en="Text v1")
    activity = purpose.activity
    client.force_login(dpo_user)
    url = reverse("admin:registry_processingactivity_change", args=[activity.pk])
    row = {**PURPOSE_FIELDS, "id": purpose.pk, "activity": activity.pk, "text_fr": "Texte v2",
           "retention_start": "last_contact"}
    refused = client.post(url, activity_post(activity, [row], initial=1))
    assert refused.status_code == 200
    assert "minor or material" in refused.content.decode() or "mineur" in refused.content.decode()
    purpose.refresh_from_db()
    assert purpose.version == 1
    accepted = client.post(url, activity_post(activity, [{**row, "change_kind": "material"}], initial=1))
    assert accepted.status_code == 302
    purpose.refresh_from_db()
    assert purpose.version == 2 and purpose.text_fr == "Texte v2"
    assert list(purpose.versions.values_list("version", flat=True)) == [2, 1]


def test_dpo_writes_the_english_name_and_data_category_texts_beside_the_french_ones(client, dpo_user):
    activity = ActivityFactory(name="Gestion des adhésions")
    category = ref(DataCategory, "exp-identity", label_fr="État civil", label_en="Identity")
    client.force_login(dpo_user)
    url = reverse("admin:registry_processingactivity_change", args=[activity.pk])
    page = client.get(url).content.decode()
    assert all(f'name="{field}"' in page for field in ("name", "name_en"))
    assert all(f'name="data_category_links-__prefix__-{field}"' in page
               for field in ("description", "description_en", "retention", "retention_en"))
    data = {**activity_post(activity, []), "name_en": "Membership records",
            **inline_management("data_category_links", 1, 0),
            "data_category_links-0-category": category.pk, "data_category_links-0-activity": activity.pk,
            "data_category_links-0-description": "Nom, prénom", "data_category_links-0-description_en": "Surname, first name",
            "data_category_links-0-retention": "3 ans", "data_category_links-0-retention_en": "3 years"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    activity.refresh_from_db()
    link = activity.data_category_links.get()
    assert (activity.name, activity.name_en) == ("Gestion des adhésions", "Membership records")
    assert (link.description, link.description_en, link.retention, link.retention_en) == (
        "Nom, prénom", "Surname, first name", "3 ans", "3 years")


def test_retiring_an_activity_retires_its_purposes(client, dpo_user):
    """Even when its purposes' inline rows still say active (the admin saves them after the activity)."""
    purpose = PurposeFactory(slug="adhesion", legal_basis="contract", text_fr="Texte v1", text_en="Text v1",
                             name_fr="Adhésion", name_en="Membership")
    activity = purpose.activity
    client.force_login(dpo_user)
    url = reverse("admin:registry_processingactivity_change", args=[activity.pk])
    row = {**PURPOSE_FIELDS, "id": purpose.pk, "activity": activity.pk, "retention_start": "last_contact"}
    activity.status = "retired"
    response = client.post(url, activity_post(activity, [row], initial=1), follow=True)
    assert response.redirect_chain, response.context["errors"]
    purpose.refresh_from_db()
    assert purpose.status == "retired"
    assert purpose.history.first().status == "retired"  # with its history row
    assert "Le traitement est retiré : sa finalité active" in response.content.decode()


def test_purpose_admin_page_changes_text_with_versions_listed(client, dpo_user):
    purpose = PurposeFactory(legal_basis="consent")
    email = channel("email")
    client.force_login(dpo_user)
    url = reverse("admin:registry_purpose_change", args=[purpose.pk])
    data = {"activity": purpose.activity.pk, "slug": purpose.slug, "status": "active", "position": "0",
            "name_fr": purpose.name_fr, "name_en": purpose.name_en, "text_fr": "Nouveau", "text_en": purpose.text_en,
            "change_kind": "minor", "legal_basis": "consent", "channels": [email.pk], "retention_months": "12",
            "retention_start": "collection", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
            "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "0"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    purpose.refresh_from_db()
    assert purpose.version == 2 and list(purpose.channels.all()) == [email]
    page = client.get(url).content.decode()
    assert "Nouveau" in page and purpose.text_fr in page


def test_completeness_warning_on_incomplete_activity(client, dpo_user):
    activity = ActivityFactory()
    PurposeFactory(activity=activity, legal_basis="", retention_months=None, retention_start="")
    us = ref(Country, "xx-test", adequacy="not_adequate")
    Transfer.objects.create(activity=activity, recipient_name="Cloud Inc", country=us)
    client.force_login(dpo_user)
    page = client.get(reverse("admin:registry_processingactivity_change", args=[activity.pk])).content.decode()
    assert "no legal basis" in page or "base légale" in page
    assert "Cloud Inc" in page
    listing = client.get(reverse("admin:registry_processingactivity_changelist")).content.decode()
    assert "dpo-incomplete" in listing


def test_valid_safeguard_or_dpf_certification_clears_the_transfer_warning(client, dpo_user):
    from registry.selectors import transfer_needs_safeguard

    activity = ActivityFactory()
    us = ref(Country, "us", adequacy="adequate_certified")
    shield = ref(TransferSafeguard, "privacy_shield", is_valid=False)
    scc = ref(TransferSafeguard, "scc")
    assert transfer_needs_safeguard(transfer=Transfer(activity=activity, recipient_name="A", country=us))
    assert not transfer_needs_safeguard(transfer=Transfer(activity=activity, recipient_name="A", country=us,
                                                          dpf_certified=True))
    assert transfer_needs_safeguard(transfer=Transfer(activity=activity, recipient_name="A", country=us,
                                                      safeguard=shield))
    assert not transfer_needs_safeguard(transfer=Transfer(activity=activity, recipient_name="A", country=us,
                                                          safeguard=scc))


def test_list_filters(client, dpo_user):
    consent_activity = ActivityFactory(name="Newsletter activity")
    PurposeFactory(activity=consent_activity, legal_basis="consent")
    contract_activity = ActivityFactory(name="Members activity")
    PurposeFactory(activity=contract_activity, legal_basis="contract")
    client.force_login(dpo_user)
    url = reverse("admin:registry_processingactivity_changelist")
    page = client.get(url, {"legal_basis": "consent"}).content.decode()
    assert "Newsletter activity" in page and "Members activity" not in page
    page = client.get(url, {"q": "Members"}).content.decode()
    assert "Members activity" in page and "Newsletter activity" not in page
    page = client.get(url, {"transfers": "no"}).content.decode()
    assert "Members activity" in page


def test_history_is_visible_in_admin(client, auditor_user):
    purpose = PurposeFactory()
    client.force_login(auditor_user)
    page = client.get(reverse("admin:registry_purpose_history", args=[purpose.pk]))
    assert page.status_code == 200


def test_register_export_page_downloads_csv(client, auditor_user):
    PurposeFactory()
    client.force_login(auditor_user)
    response = client.post(reverse("admin:register_export"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")


def test_auditor_cannot_start_the_pdf_job_staff_can(client, auditor_user, staff_user,
                                                     django_capture_on_commit_callbacks):
    PurposeFactory()
    client.force_login(auditor_user)
    assert client.post(reverse("admin:register_export"), {"format": "pdf"}).status_code == 403
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:register_export"), {"format": "pdf"})
    assert response.status_code == 302


def test_admin_in_french_by_default_and_english_under_en(client, dpo_user):
    client.force_login(dpo_user)
    french = client.get("/admin/").content.decode()
    english = client.get("/en/admin/").content.decode()
    assert 'lang="fr"' in french and 'lang="en"' in english
    # Our own strings come from the compiled French catalogue, not only Django's.
    assert "Exporter le registre" in french and "Export the register" in english
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert switched.status_code == 302 and switched["Location"] == "/en/admin/"
