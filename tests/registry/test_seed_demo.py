"""``manage.py seed_demo``: a realistic demo register and one login per role, idempotent."""
from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from registry import models as m
from registry.demo import ACTIVITIES, DEMO_USERS
from registry.services import purpose_update
from tests.registry.test_reference_data import dpv_term_defined

pytestmark = pytest.mark.django_db

EXPECTED_LEGAL_BASIS = {
    "member-management": "contract",
    "tax-receipts": "legal_obligation",
    "donor-postal-appeals": "legitimate_interests",
    "customer-orders": "contract",
    "loyalty-programme": "contract",
    "newsletter": "consent",
    "sms-promotions": "consent",
    "phone-prospecting": "consent",
    "customer-offers-email": "legitimate_interests",
    "opposition-list": "legal_obligation",
    "rights-requests": "legal_obligation",
    "recruitment": "contract",
    "video-surveillance": "legitimate_interests",
    "web-analytics": "consent",
}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DEMO_CONTACTS = 12  # the consent extension's contacts: tests/consent/test_demo.py covers them


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(debug):
    return seed()


def _purpose(slug: str) -> m.Purpose:
    return m.Purpose.objects.get(slug=slug)


def _codes(manager) -> set[str]:
    return set(manager.values_list("code", flat=True))


def _snapshot() -> dict[str, object]:
    """Every row count the command touches, history tables included, and every purpose version."""
    counts: dict[str, object] = {}
    for model in (m.Organisation, m.ProcessingActivity, m.Purpose, m.PurposeVersion, m.Recipient, m.Processor,
                  m.Transfer, m.ActivityDataCategory, m.DataCategory, m.Country, m.Channel):
        counts[model.__name__] = model.objects.count()
        if hasattr(model, "history"):
            counts["Historical" + model.__name__] = model.history.count()
    User = get_user_model()
    counts["users"] = User.objects.count()
    counts["memberships"] = User.groups.through.objects.count()
    counts["tokens"] = list(Token.objects.values_list("key", flat=True))
    counts["versions"] = dict(m.Purpose.objects.values_list("slug", "version"))
    return counts


def test_running_twice_changes_nothing(demo):
    first = _snapshot()
    assert first["ProcessingActivity"] == len(ACTIVITIES) >= 10
    assert first["Purpose"] == len(EXPECTED_LEGAL_BASIS)
    assert first["Organisation"] == 1

    output = seed()

    assert _snapshot() == first
    assert set(m.Purpose.objects.values_list("version", flat=True)) == {1}
    assert m.PurposeVersion.objects.count() == m.Purpose.objects.count()
    assert "0 created" in output and "0 updated" in output


def test_expected_purposes_and_legal_bases(demo):
    assert dict(m.Purpose.objects.values_list("slug", "legal_basis")) == EXPECTED_LEGAL_BASIS
    for purpose in m.Purpose.objects.all():
        assert purpose.name_fr and purpose.name_en and purpose.text_fr and purpose.text_en, purpose.slug
        assert dpv_term_defined(purpose.dpv_purpose), (purpose.slug, purpose.dpv_purpose)
        assert purpose.retention_months and purpose.retention_start, purpose.slug
        # English readers see a note of their own (legal references kept as in French).
        assert bool(purpose.retention_note_en) == bool(purpose.retention_note), purpose.slug
        assert purpose.status == "active" and purpose.activity.status == "active"
        if purpose.legal_basis == "legitimate_interests":
            assert purpose.legitimate_interest.strip() and purpose.legitimate_interest_en.strip(), purpose.slug
        if purpose.consent_validity_months:
            assert purpose.legal_basis == "consent", purpose.slug
        # The service recorded version 1 with the text shown, by the demo DPO.
        version = purpose.versions.get()
        assert (version.version, version.change_kind, version.text_fr) == (1, "initial", purpose.text_fr)
        assert version.created_by.username == "dpo"


def test_marketing_purposes_follow_french_rules(demo):
    newsletter = _purpose("newsletter")
    assert _codes(newsletter.channels) == {"email"}
    assert (newsletter.consent_validity_months, newsletter.direct_marketing) == (36, True)

    sms = _purpose("sms-promotions")
    assert (sms.legal_basis, _codes(sms.channels), sms.direct_marketing) == ("consent", {"sms"}, True)

    phone = _purpose("phone-prospecting")
    assert (phone.legal_basis, _codes(phone.channels), phone.direct_marketing) == ("consent", {"phone"}, True)
    assert "L.223-1" in phone.text_fr and "2025-594" in phone.retention_note
    assert "2025-594" in phone.retention_note_en and "Consumers' prior consent" in phone.retention_note_en

    soft_opt_in = _purpose("customer-offers-email")
    assert _codes(soft_opt_in.data_subject_categories) == {"customer"}
    assert _codes(soft_opt_in.channels) == {"email"}
    assert soft_opt_in.direct_marketing and "L.34-5" in soft_opt_in.legitimate_interest
    assert "analogues" in soft_opt_in.legitimate_interest

    postal = _purpose("donor-postal-appeals")
    assert (_codes(postal.channels), _codes(postal.data_subject_categories)) == ({"postal"}, {"donor"})
    assert postal.direct_marketing

    # Electronic prospecting without consent only under the soft opt-in.
    for purpose in m.Purpose.objects.filter(direct_marketing=True).exclude(legal_basis="consent"):
        electronic = set(purpose.channels.filter(electronic=True).values_list("code", flat=True))
        assert not electronic or purpose.slug == "customer-offers-email", purpose.slug
    assert not m.Purpose.objects.filter(direct_marketing=True, legal_basis="legitimate_interests",
                                        channels__code="phone").exists()


def test_retention_rules(demo):
    def rule(slug):
        p = _purpose(slug)
        return p.retention_months, p.retention_start

    assert rule("tax-receipts") == (72, "transaction")
    assert "238 bis" in _purpose("tax-receipts").text_fr
    assert rule("recruitment") == (24, "last_contact")
    assert rule("video-surveillance") == (1, "collection")
    assert rule("web-analytics") == (25, "collection")
    assert _purpose("web-analytics").consent_validity_months == 13
    assert rule("opposition-list")[0] == 36
    assert "HMAC" in _purpose("opposition-list").retention_note
    assert rule("member-management") == (36, "end_of_contract")


def test_register_details(demo):
    organisation = m.Organisation.objects.get()
    organisation.full_clean()  # valid SIREN among others
    assert len(organisation.siren) == 9

    video = m.ProcessingActivity.objects.get(purposes__slug="video-surveillance")
    assert _codes(video.data_categories) == {"images"}
    assert video.name_en == "CCTV of the premises" and video.data_category_links.get().retention_en == "30 days"

    for activity in m.ProcessingActivity.objects.all():
        assert activity.data_subject_categories.exists(), activity.reference
        assert activity.security_measures.exists(), activity.reference
        assert activity.recipients.exists(), activity.reference
        links = list(activity.data_category_links.all())
        assert links, activity.reference
        assert all(link.description and link.retention for link in links), activity.reference
        # What contacts read of the register comes in English too (receipts, notices, access exports).
        assert activity.name_en and activity.name_en != activity.name, activity.reference
        assert all(link.description_en and link.retention_en for link in links), activity.reference
        # A processor receives the data: the CNIL sheet lists it among the recipients too.
        recipient_names = set(activity.recipients.values_list("name", flat=True))
        assert set(activity.processors.values_list("name", flat=True)) <= recipient_names, activity.reference
    for processor in m.Processor.objects.all():
        assert processor.contract_signed_on and processor.country, processor.name
    assert m.Recipient.objects.filter(recipient_type__code="public_authority", name__contains="DGFiP").exists()
    assert m.Recipient.objects.filter(recipient_type__code="processor", name="LettreMail Ltd").exists()


def test_transfers_have_valid_safeguards(demo):
    transfers = list(m.Transfer.objects.select_related("country", "safeguard"))
    assert transfers and all(t.safeguard.is_valid for t in transfers)
    us = [t for t in transfers if t.country.code == "us"]
    assert us and all(t.dpf_certified and t.safeguard.code == "eu_us_dpf" for t in us)
    scc = [t for t in transfers if t.safeguard.code == "scc"]
    assert scc and all(t.country.adequacy == "not_adequate" and not t.dpf_certified for t in scc)
    assert all(t.country.adequacy != "eea" for t in transfers)


def test_demo_users_and_roles(demo):
    User = get_user_model()
    users = {u.username: u for u in User.objects.prefetch_related("groups")}
    for username, group in {"dpo": "dpo", "staff": "staff", "auditor": "auditor", "integration": "integration"}.items():
        assert [g.name for g in users[username].groups.all()] == [group]
        assert not users[username].is_superuser
    assert users["dpo"].is_staff and users["staff"].is_staff and users["auditor"].is_staff
    assert not users["integration"].is_staff
    assert Token.objects.filter(user=users["integration"]).exists()
    assert users["admin"].is_superuser and users["admin"].is_staff
    for spec in DEMO_USERS:
        assert users[spec["username"]].check_password(spec["password"]), spec["username"]
        assert spec["username"] in demo and spec["password"] in demo
    assert Token.objects.get(user=users["integration"]).key in demo


def test_rerun_restores_changed_demo_data(demo):
    newsletter = _purpose("newsletter")
    purpose_update(purpose=newsletter, retention_note="changed", retention_note_en="changed too",
                   channels=[m.Channel.objects.get(code="sms")])
    purpose_update(purpose=newsletter, text_fr="Texte modifié.", change_kind="material")
    assert newsletter.version == 2
    User = get_user_model()
    integration = User.objects.get(username="integration")
    integration.set_password("something-else")
    integration.is_staff = True
    integration.save()
    m.Transfer.objects.filter(country__code="us").update(dpf_certified=False)
    video = m.ProcessingActivity.objects.get(purposes__slug="video-surveillance")
    m.ProcessingActivity.objects.filter(pk=video.pk).update(name_en="changed")
    video.data_category_links.update(description_en="changed", retention_en="changed")

    seed()

    video.refresh_from_db()
    assert video.name_en == "CCTV of the premises"
    assert video.data_category_links.get().description_en == "Images of the people filmed, date and time"

    newsletter.refresh_from_db()
    expected = next(p for a in ACTIVITIES for p in a["purposes"] if p["slug"] == "newsletter")
    assert newsletter.text_fr == expected["text_fr"]
    assert newsletter.retention_note == expected["retention_note"]
    assert newsletter.retention_note_en == expected["retention_note_en"]
    assert _codes(newsletter.channels) == {"email"}
    # Putting the demo text back is a third text version, recorded as a minor change.
    assert newsletter.version == 3
    assert newsletter.versions.get(version=3).change_kind == "minor"
    integration.refresh_from_db()
    assert integration.check_password("integration-demo-2026") and not integration.is_staff
    assert not m.Transfer.objects.filter(country__code="us", dpf_certified=False).exists()
    assert set(m.Purpose.objects.exclude(slug="newsletter").values_list("version", flat=True)) == {1}


def test_refuses_when_debug_is_false_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        seed()
    assert not m.ProcessingActivity.objects.exists()
    assert not get_user_model().objects.filter(username="dpo").exists()

    output = seed("--force")
    assert m.ProcessingActivity.objects.count() == len(ACTIVITIES)
    assert "dpo-demo-2026" in output
