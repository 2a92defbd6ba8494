"""The demo's contacts and their consent histories (seed_demo's consent extension)."""
from io import StringIO

import pytest
from django.core.management import call_command

from consent.models import CollectionForm, ConsentEvent, ConsentState, Contact
from consent.selectors import ledger_verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_demo(settings):
    settings.DEBUG = True
    settings.DEMO_CONTACTS = 60
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_demo_contacts_have_histories_and_a_sound_ledger():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Contacts: 60 (60 created)" in out.getvalue()
    assert Contact.objects.count() == 60
    assert ConsentEvent.objects.filter(action="granted").exists()
    assert ConsentEvent.objects.filter(action="withdrawn").exists()
    assert ConsentState.objects.filter(status="granted").exists()
    checked, broken = ledger_verify()
    assert broken is None and checked == ConsentEvent.objects.count()


def test_demo_forms_can_be_tried_at_once(client, django_user_model):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Collection forms: 2 (/forms/lettre/, /staff/forms/accueil/ created)" in out.getvalue()
    public, desk = CollectionForm.objects.get(slug="lettre"), CollectionForm.objects.get(slug="accueil")
    assert (public.public, public.double_opt_in, public.require_age_15) == (True, True, True)
    assert [(i.purpose.slug, i.channel.code) for i in public.items.all()] == [("newsletter", "email"),
                                                                            ("sms-promotions", "sms")]
    assert not desk.public and desk.items.count() == 4
    page = client.get("/forms/lettre/")
    assert page.status_code == 200 and b'type="checkbox"' in page.content
    assert "<h1>Inscription à la lettre d&#x27;information</h1>" in page.content.decode()
    assert "<h1>Newsletter sign-up</h1>" in client.get("/en/forms/lettre/").content.decode()
    client.force_login(django_user_model.objects.get(username="staff"))
    assert client.get("/staff/forms/accueil/").status_code == 200
    # Some double opt-ins were left unconfirmed: the statistics have expired consents to show.
    assert ConsentEvent.objects.filter(action="pending").exists()
    assert ConsentEvent.objects.filter(action="expired", method="expiry").exists()
    call_command("seed_demo", stdout=(again := StringIO()))
    assert "Collection forms: 2 (none created)" in again.getvalue() and CollectionForm.objects.count() == 2


def test_demo_contacts_are_idempotent():
    call_command("seed_demo", stdout=StringIO())
    events = ConsentEvent.objects.count()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "(0 created), consent events added: 0" in out.getvalue()
    assert ConsentEvent.objects.count() == events and Contact.objects.count() == 60
