"""What each group may do in the admin and the API."""
import pytest
from django.urls import reverse

from tests.factories import ActivityFactory, PurposeFactory

pytestmark = pytest.mark.django_db

REGISTER_MODELS = ("processingactivity", "purpose", "channel", "datacategory", "organisation", "recipient")


@pytest.mark.parametrize("model", REGISTER_MODELS)
def test_dpo_can_change_the_register(dpo_user, model):
    for action in ("view", "add", "change", "delete"):
        assert dpo_user.has_perm(f"registry.{action}_{model}")


@pytest.mark.parametrize("model", REGISTER_MODELS)
def test_staff_reads_but_cannot_change_the_register(staff_user, model):
    assert staff_user.has_perm(f"registry.view_{model}")
    for action in ("add", "change", "delete"):
        assert not staff_user.has_perm(f"registry.{action}_{model}")


def test_auditor_is_read_only_everywhere(auditor_user):
    perms = auditor_user.get_all_permissions()
    assert perms, "the auditor must at least read"
    assert all(p.split(".", 1)[1].startswith("view_") for p in perms)
    assert "registry.view_purposeversion" in perms and "registry.view_historicalpurpose" in perms


def test_integration_reads_only_the_purposes_and_channels_of_the_register(integration_user):
    register = {p for p in integration_user.get_all_permissions() if p.startswith("registry.")}
    assert register == {"registry.view_purpose", "registry.view_channel"}
    assert not integration_user.is_staff


def test_staff_sees_activity_read_only_in_admin(client, staff_user):
    activity = ActivityFactory()
    client.force_login(staff_user)
    page = client.get(reverse("admin:registry_processingactivity_change", args=[activity.pk]))
    assert page.status_code == 200
    assert b'name="name"' not in page.content  # no editable input
    posted = client.post(reverse("admin:registry_processingactivity_change", args=[activity.pk]),
                         {"reference": activity.reference, "name": "Hacked"})
    assert posted.status_code == 403
    activity.refresh_from_db()
    assert activity.name != "Hacked"


def test_auditor_cannot_add_a_purpose_in_admin(client, auditor_user):
    client.force_login(auditor_user)
    assert client.get(reverse("admin:registry_purpose_add")).status_code == 403


def test_integration_user_cannot_use_the_admin(client, integration_user):
    client.force_login(integration_user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("role_fixture,expected", [("dpo_user", 201), ("staff_user", 403), ("auditor_user", 403),
                                                   ("integration_user", 403)])
def test_only_the_dpo_writes_purposes_through_the_api(request, client, role_fixture, expected):
    user = request.getfixturevalue(role_fixture)
    activity = ActivityFactory()
    client.force_login(user)
    response = client.post("/api/v1/registry/purposes/", {
        "activity": activity.reference, "slug": "new-purpose", "name_fr": "Nouvelle", "name_en": "New",
        "text_fr": "Texte", "text_en": "Text", "legal_basis": "contract",
    }, content_type="application/json")
    assert response.status_code == expected


@pytest.mark.parametrize("role_fixture,expected", [("dpo_user", 200), ("staff_user", 200), ("auditor_user", 200),
                                                   ("integration_user", 403)])
def test_register_reads_through_the_api(request, client, role_fixture, expected):
    PurposeFactory()
    client.force_login(request.getfixturevalue(role_fixture))
    assert client.get("/api/v1/registry/purposes/").status_code == 200
    assert client.get("/api/v1/registry/channels/").status_code == 200
    assert client.get("/api/v1/registry/activities/").status_code == expected
    assert client.get("/api/v1/registry/export/?format=csv").status_code == expected


def test_an_integration_token_looks_up_the_slugs_and_codes_it_sends(client, integration_user, reference_data):
    """A CRM's token (not a session) lists the purposes and channels, to learn the slugs and codes that
    consent/events/ and consent/check/ take; it still cannot change them."""
    from rest_framework.authtoken.models import Token

    purpose = PurposeFactory(slug="crm-newsletter")
    auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=integration_user).key}"}
    purposes = client.get("/api/v1/registry/purposes/", **auth)
    assert purposes.status_code == 200
    assert purpose.slug in {row["slug"] for row in purposes.json()["results"]}
    channels = client.get("/api/v1/registry/channels/", **auth)
    assert channels.status_code == 200 and "email" in {row["code"] for row in channels.json()["results"]}
    assert client.get(f"/api/v1/registry/purposes/{purpose.slug}/", **auth).status_code == 200
    changed = client.patch(f"/api/v1/registry/purposes/{purpose.slug}/", {"name_en": "Hacked"},
                           content_type="application/json", **auth)
    assert changed.status_code == 403
    assert client.get("/api/v1/registry/activities/", **auth).status_code == 403


def test_anonymous_gets_401_from_the_api(client):
    response = client.get("/api/v1/registry/purposes/")
    assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")
