"""API token authentication from the cache (registry.api.authentication): no query once warm, and
every change that revokes or narrows access is seen on the very next request."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.api import authentication
from registry.api.authentication import CACHE_SECONDS, GENERATION_KEY, TokenAuth

pytestmark = pytest.mark.django_db

# The check of an unknown contact: one query of its own (the look-up), whatever the caller may do.
CHECK = "/api/v1/consent/check/?purpose=letters&channel=email&contact_id=987654"
EVENTS = "/api/v1/consent/events/"


@pytest.fixture
def letters(reference_data):
    from registry.models import Channel
    from tests.factories import PurposeFactory

    return PurposeFactory(slug="letters", legal_basis="consent", channels=[Channel.objects.get(code="email")])


@pytest.fixture
def token(integration_user):
    return Token.objects.create(user=integration_user)


def client_with(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def _queries(api, url=CHECK):
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    return response, [query["sql"] for query in captured]


def test_a_warm_token_costs_no_query(letters, token):
    api = client_with(token.key)
    cold, cold_sql = _queries(api)
    assert cold.status_code == 200 and cold.json()["reason"] == "unknown_contact"
    assert any("authtoken_token" in sql for sql in cold_sql)
    warm, warm_sql = _queries(api)
    assert warm.status_code == 200 and warm.json() == cold.json()
    assert len(warm_sql) == 1, warm_sql  # the check's own look-up only
    assert not any(table in warm_sql[0] for table in ("authtoken_token", "auth_user", "auth_permission"))


def test_the_cache_holds_no_token_and_expires(letters, token):
    client_with(token.key).get(CHECK)
    entry_key = authentication._entry_key(token.key)
    generation, auth = cache.get(entry_key)
    assert generation == cache.get(GENERATION_KEY)
    assert auth == TokenAuth(user_id=token.user_id, is_superuser=False,
                             permissions=frozenset(token.user.get_all_permissions()))
    assert "consent.view_consentstate" in auth.permissions
    assert token.key not in entry_key
    assert 0 < CACHE_SECONDS <= 300
    assert cache._expire_info[cache.make_key(entry_key)] is not None  # LocMemCache: a finite expiry


def test_a_bad_token_is_refused_and_not_cached(letters):
    assert client_with("not-a-real-token").get(CHECK).status_code == 401
    assert cache.get(authentication._entry_key("not-a-real-token")) is None


def test_a_revoked_token_is_refused_on_the_next_request(letters, token):
    api = client_with(token.key)
    assert api.get(CHECK).status_code == 200
    assert api.get(CHECK).status_code == 200  # served from the cache
    token.delete()
    assert api.get(CHECK).status_code == 401


def test_a_rotated_token_replaces_the_old_one_at_once(letters, token, integration_user):
    old = client_with(token.key)
    assert old.get(CHECK).status_code == 200
    token.delete()
    new = Token.objects.create(user=integration_user)
    assert old.get(CHECK).status_code == 401
    assert client_with(new.key).get(CHECK).status_code == 200


@pytest.mark.parametrize("how", ["user.groups.remove", "group.user_set.remove", "user.groups.clear",
                                 "group.delete"])
def test_a_user_removed_from_integration_is_refused_on_the_next_request(letters, token, integration_user, how):
    api = client_with(token.key)
    assert api.get(CHECK).status_code == 200
    group = Group.objects.get(name="integration")
    if how == "user.groups.remove":
        integration_user.groups.remove(group)
    elif how == "group.user_set.remove":
        group.user_set.remove(integration_user)
    elif how == "user.groups.clear":
        integration_user.groups.clear()
    else:
        group.delete()
    assert api.get(CHECK).status_code == 403


def test_a_permission_taken_from_the_group_is_refused_then_given_back(letters, token):
    api = client_with(token.key)
    assert api.get(CHECK).status_code == 200
    group = Group.objects.get(name="integration")
    view_state = Permission.objects.get(codename="view_consentstate", content_type__app_label="consent")
    group.permissions.remove(view_state)
    assert api.get(CHECK).status_code == 403
    group.permissions.add(view_state)
    assert api.get(CHECK).status_code == 200
    view_state.group_set.remove(group)  # from the permission's side
    assert api.get(CHECK).status_code == 403


def test_a_deactivated_user_is_refused_on_the_next_request(letters, token, integration_user):
    api = client_with(token.key)
    assert api.get(CHECK).status_code == 200
    integration_user.is_active = False
    integration_user.save()
    assert api.get(CHECK).status_code == 401


def test_a_permission_given_to_the_user_counts_on_the_next_request(letters, reference_data, roles):
    from django.contrib.auth.models import User

    user = User.objects.create_user(username="newcomer", password="pw-newcomer-2026!")
    api = client_with(Token.objects.create(user=user).key)
    assert api.get(CHECK).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_consentstate"))
    assert api.get(CHECK).status_code == 200


def test_an_entry_of_an_older_generation_is_never_served(letters, token):
    api = client_with(token.key)
    api.get(CHECK)
    entry_key = authentication._entry_key(token.key)
    _generation, auth = cache.get(entry_key)
    forged = TokenAuth(user_id=auth.user_id, is_superuser=True, permissions=frozenset())
    cache.set(entry_key, ("an-older-generation", forged), timeout=CACHE_SECONDS)
    response, sql = _queries(api)
    assert response.status_code == 200 and any("authtoken_token" in query for query in sql)
    assert cache.get(entry_key)[1] == auth  # read again from the database
    cache.delete(GENERATION_KEY)  # evicted: a new generation, the entry is stale again
    _response, sql = _queries(api)
    assert any("authtoken_token" in query for query in sql)


def test_a_login_does_not_clear_the_cache(letters, token, client, integration_user):
    client_with(token.key).get(CHECK)
    generation = cache.get(GENERATION_KEY)
    client.force_login(integration_user)  # saves last_login only
    assert cache.get(GENERATION_KEY) == generation


def test_views_get_the_real_user(letters, token, integration_user):
    """request.user stays the User (loaded on first use): the ledger records who called."""
    from consent.models import ConsentEvent
    from tests.factories import ContactFactory

    contact = ContactFactory(email="alice@example.org")
    api = client_with(token.key)
    api.get(CHECK)  # warm
    payload = {"contact_id": contact.pk, "purpose": "letters", "channel": "email", "action": "granted",
               "method": "api"}
    response = api.post(EVENTS, payload, format="json")
    assert response.status_code == 201, response.content
    assert ConsentEvent.objects.get(pk=response.json()["id"]).recorded_by == integration_user
    record = api.get(f"/api/v1/consent/contacts/{contact.pk}/record/")  # has_perm("consent.view_contact")
    assert record.status_code == 200, record.content[:200]


def test_session_and_forced_authentication_keep_the_model_permissions(letters, integration_user, staff_user):
    api = APIClient()
    api.force_authenticate(integration_user)
    assert api.get(CHECK).status_code == 200
    api.force_authenticate(staff_user)
    assert api.get(CHECK).status_code == 200
    Group.objects.get(name="staff").permissions.clear()
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)  # ModelBackend caches on the instance
    api.force_authenticate(staff_user)
    assert api.get(CHECK).status_code == 403
