"""API token authentication answered from the shared cache: no query per request once warm.

DRF's TokenAuthentication reads the token and its user (1 query), then RoleModelPermissions asks
ModelBackend for the user's and its groups' permissions (2 more: its cache lives on a user object
that is new every request). Here one cache read (Redis with REDIS_URL, else the file cache) gives
the token's user id, whether it is a superuser, and its permission names; request.user is the real
User, loaded only if a view touches it.

Invalidation: every change that can revoke or narrow access (a token deleted or created, a user
saved or deleted, group memberships, a user's, a group's or a permission's changes) replaces the
cache's *generation*, so every entry becomes stale and is read again from the database on the next
request. An entry also never outlives CACHE_SECONDS, whatever happens (e.g. a queryset.update() of
users sends no signal). The generation is read before the database, and replaced again on commit,
so an entry computed from rows a concurrent transaction was changing never survives it.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

# The longest a "valid" answer may be served from the cache (a backstop: signals normally clear it).
CACHE_SECONDS = 300
GENERATION_KEY = "api-auth:generation"
# The join tables whose rows grant permissions; m2m_changed is matched on them so that historical
# models (data migrations: registry.roles.sync_roles) invalidate too.
_PERMISSION_TABLES = {"auth_user_groups", "auth_user_user_permissions", "auth_group_permissions"}


@dataclass(frozen=True)
class TokenAuth:
    """request.auth of a token-authenticated request: who, and what they may do (as ModelBackend says)."""

    user_id: int
    is_superuser: bool
    permissions: frozenset[str]

    def has_perms(self, perms) -> bool:
        """User.has_perms for an active user (inactive ones are refused at authentication)."""
        return self.is_superuser or all(perm in self.permissions for perm in perms)


def _entry_key(key: str) -> str:
    # The token itself never becomes a cache key (Redis keys and file names are readable).
    return "api-auth:token:" + hashlib.sha256(key.encode()).hexdigest()


def invalidate() -> None:
    """Make every cached authentication stale: now, and again once the current transaction commits."""
    cache.set(GENERATION_KEY, secrets.token_hex(8), timeout=None)
    transaction.on_commit(lambda: cache.set(GENERATION_KEY, secrets.token_hex(8), timeout=None))


def _generation() -> str | None:
    generation = cache.get(GENERATION_KEY)
    if generation is None:  # first use, or evicted: a new one, so no older entry can match it
        cache.add(GENERATION_KEY, secrets.token_hex(8), timeout=None)
        generation = cache.get(GENERATION_KEY)
    return generation


def _lazy_user(auth: TokenAuth):
    """The real User, read on first use; its permission cache primed with the cached names (the same
    set ModelBackend would compute), so has_perm() in views costs no further query."""
    def load():
        user = get_user_model().objects.filter(pk=auth.user_id, is_active=True).first()
        if user is None:  # deleted or deactivated since the cache entry was read
            return AnonymousUser()
        user._perm_cache = set(auth.permissions)
        return user

    return SimpleLazyObject(load)


class CachedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's TokenAuthentication, answered from the cache when warm."""

    def authenticate_credentials(self, key):
        entry_key = _entry_key(key)
        found = cache.get_many([GENERATION_KEY, entry_key])
        generation, entry = found.get(GENERATION_KEY), found.get(entry_key)
        if generation is not None and entry is not None and entry[0] == generation:
            return _lazy_user(entry[1]), entry[1]
        generation = generation or _generation()  # read BEFORE the database (see the module's docstring)
        token = Token.objects.select_related("user").filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        auth = TokenAuth(user_id=user.pk, is_superuser=user.is_superuser,
                         permissions=frozenset(user.get_all_permissions()))
        if generation is not None:
            cache.set(entry_key, (generation, auth), timeout=CACHE_SECONDS)
        return user, auth


# --- Invalidation -----------------------------------------------------------------------------


@receiver(post_save, sender=Token, dispatch_uid="api_auth_token_saved")
@receiver(post_delete, sender=Token, dispatch_uid="api_auth_token_deleted")
@receiver(post_delete, sender=Group, dispatch_uid="api_auth_group_deleted")
@receiver(post_delete, sender=Permission, dispatch_uid="api_auth_permission_deleted")
def _access_changed(sender, **kwargs) -> None:
    invalidate()


def _user_saved(sender, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login changes nobody's access
    invalidate()


def _user_deleted(sender, **kwargs) -> None:
    invalidate()


post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="api_auth_user_saved")
post_delete.connect(_user_deleted, sender=get_user_model(), dispatch_uid="api_auth_user_deleted")


@receiver(m2m_changed, dispatch_uid="api_auth_memberships_changed")
def _memberships_changed(sender, action, **kwargs) -> None:
    # Any side (user.groups.add(), group.user_set.remove(), group.permissions.set(), ...).
    if action in ("post_add", "post_remove", "post_clear") and sender._meta.db_table in _PERMISSION_TABLES:
        invalidate()
