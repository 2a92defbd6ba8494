"""The demo's contacts and their consent histories (seed_demo's consent extension)."""
from io import StringIO

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, ConsentState, Contact
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


def test_demo_contacts_are_idempotent():
    call_command("seed_demo", stdout=StringIO())
    events = ConsentEvent.objects.count()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "(0 created), consent events added: 0" in out.getvalue()
    assert ConsentEvent.objects.count() == events and Contact.objects.count() == 60
