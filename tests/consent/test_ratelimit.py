"""Rate limits of the public consent pages (registry.ratelimit): a readable 429 in French and English
with Retry-After, per client IP and per email, the email never in clear in the cache."""
from unittest import mock

import pytest
from django.core import mail
from django.core.cache import cache

from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, Contact
from registry import ratelimit
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

ALICE = "198.51.100.7"
BOB = "203.0.113.9"


@pytest.fixture
def limits(settings):
    settings.RATELIMIT_PER_IP = "3/h"
    settings.RATELIMIT_PER_EMAIL = "2/h"
    return settings


@pytest.fixture
def signup(newsletter, channels):
    form = CollectionForm.objects.create(slug="signup", name_fr="Inscription", public=True, double_opt_in=False)
    box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["email"])
    return form, box


def ask_link(client, email, ip=ALICE, prefix="", **extra):
    return client.post(f"{prefix}/preferences/", {"email": email}, REMOTE_ADDR=ip, **extra)


def test_preference_link_requests_get_a_readable_429_after_the_ip_limit(client, limits):
    for n in range(3):
        assert ask_link(client, f"someone{n}@example.org").status_code == 200
    response = ask_link(client, "someone3@example.org")
    assert response.status_code == 429
    page = response.content.decode()
    assert '<html lang="fr">' in page and "Trop de tentatives" in page and "Réessayez dans" in page
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 3600 + 5
    # Another client is not held back by the first one's counter.
    assert ask_link(client, "someone4@example.org", ip=BOB).status_code == 200


def test_the_429_page_is_in_english_under_en(client, limits):
    for n in range(3):
        ask_link(client, f"someone{n}@example.org", prefix="/en")
    response = ask_link(client, "someone3@example.org", prefix="/en")
    assert response.status_code == 429
    page = response.content.decode()
    assert '<html lang="en">' in page and "Too many attempts" in page and "Please try again in" in page
    assert response["Retry-After"].isdigit()


def test_one_email_is_limited_whatever_the_ip_and_the_answer_tells_nothing(client, limits,
                                                                          django_capture_on_commit_callbacks):
    ContactFactory(email="known@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [ask_link(client, " Known@Example.org", ip=f"192.0.2.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    assert len(mail.outbox) == 2  # the third request sent nothing
    statuses = [ask_link(client, "unknown@example.org", ip=f"192.0.2.{n}").status_code for n in range(10, 13)]
    assert statuses == [200, 200, 429]  # same answers for an address we do not know
    assert ask_link(client, "other@example.org", ip="192.0.2.99").status_code == 200


def test_only_posts_count(client, limits):
    for _n in range(10):
        assert client.get("/preferences/", REMOTE_ADDR=ALICE).status_code == 200
    assert ask_link(client, "a@example.org").status_code == 200


def test_public_form_is_limited_per_ip_and_per_email(client, limits, signup):
    form, box = signup

    def submit(email, ip):
        return client.post("/forms/signup/", {"email": email, f"box_{box.pk}": "on"}, REMOTE_ADDR=ip)

    assert [submit("zoe@example.org", f"192.0.2.{n}").status_code for n in range(3)] == [200, 200, 429]
    assert [submit(f"p{n}@example.org", ALICE).status_code for n in range(4)] == [200, 200, 200, 429]
    assert "Trop de tentatives" in submit("new@example.org", ALICE).content.decode()
    assert submit("new@example.org", BOB).status_code == 200
    assert not Contact.objects.filter(email="p3@example.org").exists()  # the refused POST recorded nothing
    assert ConsentEvent.objects.count() == 6


def test_staff_form_and_one_click_unsubscribe_are_not_limited(client, limits, signup, staff_user, channels,
                                                               newsletter):
    from consent.emails import unsubscribe_url
    from consent.services import consent_record

    contact = ContactFactory(phone="0612345678")
    consent_record(contact=contact, purpose=newsletter, channel=channels["sms"], action="granted", method="web_form")
    path = unsubscribe_url(contact_id=contact.pk, purpose_id=newsletter.pk, channel_id=channels["sms"].pk)
    path = path.split("://", 1)[1].split("/", 1)[1]
    for _n in range(5):
        assert client.post("/" + path, {"List-Unsubscribe": "One-Click"}, REMOTE_ADDR=ALICE).status_code == 200
    client.force_login(staff_user)
    _form, box = signup
    for n in range(5):
        response = client.post("/staff/forms/signup/", {"email": f"desk{n}@example.org", f"box_{box.pk}": "on",
                                                        "method": "staff_form"}, REMOTE_ADDR=ALICE)
        assert response.status_code == 200


def test_the_email_never_reaches_the_cache_in_clear(client, limits, settings):
    settings.PSEUDONYMISATION_KEY = "a-key-for-this-test"
    seen_values = []
    real = ratelimit.get_usage

    def spy(request, **kwargs):
        key = kwargs["key"]
        seen_values.append(key(kwargs["group"], request) if callable(key) else key)
        return real(request, **kwargs)

    with mock.patch.object(ratelimit, "get_usage", side_effect=spy):
        for _n in range(3):
            ask_link(client, "Secret.Person@Example.org")
    assert ALICE in seen_values
    hashed = ratelimit.email_key("secret.person@example.org")
    assert hashed in seen_values and hashed == ratelimit.email_key("  SECRET.person@example.ORG ")
    settings.PSEUDONYMISATION_KEY = "another-key"
    assert ratelimit.email_key("secret.person@example.org") != hashed  # keyed: not a plain hash anyone can redo

    stored = cache._cache  # LocMemCache: the stored keys and (pickled) values
    assert stored
    for cache_key, value in stored.items():
        for needle in ("secret", "person", "example.org"):
            assert needle not in cache_key.lower()
            assert needle.encode() not in value.lower()


def test_x_forwarded_for_is_ignored_unless_behind_a_trusted_proxy(rf, settings):
    request = rf.post("/preferences/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7")
    assert ratelimit.client_ip(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert ratelimit.client_ip(request) == "198.51.100.7"  # what our proxy saw; the first entry is the client's say
    settings.TRUSTED_PROXY_COUNT = 3  # fewer entries than proxies: fall back to the peer
    assert ratelimit.client_ip(request) == "10.0.0.2"
    assert ratelimit.client_ip(rf.post("/", REMOTE_ADDR="")) == ratelimit.UNKNOWN_CLIENT


def test_a_spoofed_x_forwarded_for_does_not_reset_the_count(client, limits):
    statuses = [ask_link(client, f"s{n}@example.org", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
                for n in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_ipv6_clients_are_counted_per_64(client, limits):
    statuses = [ask_link(client, f"v6-{n}@example.org", ip=f"2001:db8:1:2::{n + 1}").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert ask_link(client, "v6@example.org", ip="2001:db8:1:3::1").status_code == 200


def test_bad_rates_are_refused_at_start_up(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.settings import env_rate

    monkeypatch.setenv("RATELIMIT_PER_IP", "lots")
    with pytest.raises(ImproperlyConfigured):
        env_rate("RATELIMIT_PER_IP", "30/h")
    monkeypatch.setenv("RATELIMIT_PER_IP", "10/0m")
    with pytest.raises(ImproperlyConfigured):
        env_rate("RATELIMIT_PER_IP", "30/h")
    monkeypatch.setenv("RATELIMIT_PER_IP", "10/5m")
    assert env_rate("RATELIMIT_PER_IP", "30/h") == "10/5m"
    monkeypatch.delenv("RATELIMIT_PER_IP")
    assert env_rate("RATELIMIT_PER_IP", "30/h") == "30/h"


def test_forms_stay_open_when_the_cache_is_down(client, limits, caplog):
    with mock.patch.object(ratelimit, "get_usage", side_effect=ConnectionError("redis is down")):
        statuses = [ask_link(client, "a@example.org").status_code for _n in range(5)]
    assert statuses == [200] * 5
    assert "not counted" in caplog.text
