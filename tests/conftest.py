"""Shared test set-up: files and mail under tmp_path, Celery eager outside integration tests,
and in CI (CI=true) a skipped integration or browser test fails the run."""
from __future__ import annotations

import os

import pytest
from django.apps import apps as django_apps
from django.core.files.storage import storages
from django.db import models

from config.celery_app import app as celery_app
from registry.storage import PrivateStorage

REQUIRED_IN_CI = ("tests/integration/", "tests/e2e/")
_skipped_required: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and any(part in report.nodeid for part in REQUIRED_IN_CI):
        _skipped_required.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"} and _skipped_required:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "CI=true but integration/browser tests were skipped:\n  " + "\n  ".join(_skipped_required)
        if reporter:
            reporter.write_line(message, red=True, bold=True)
        session.exitstatus = 1


def _private_file_fields():
    private = storages["private"]
    for model in django_apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField) and (
                field.storage is private or getattr(field, "_storage_callable", None) is not None
            ):
                yield field


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path, monkeypatch):
    """Media, private files and mail go to this test's tmp_path."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    private_root = tmp_path / "private"
    private = PrivateStorage(location=str(private_root))
    for field in _private_file_fields():
        monkeypatch.setattr(field, "storage", private)
    return private_root


@pytest.fixture(autouse=True)
def _empty_cache(settings):
    """Each test starts with an empty cache (rate-limit counters), held in memory: a shared Redis or
    the embedded default's var/cache is never flushed by the tests."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "tests"}}
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts as a new process would: no purpose or notice known to the direct append
    (a stale one is only a hint its statement refuses, but would change a test's query count)."""
    from consent import ledger, services

    services._TARGETS.clear()
    ledger._NOTICE_IDS.clear()


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """A request's LocaleMiddleware leaves its language active in the thread: the next test must
    not inherit it (a page asked in English made the next test's admin page English)."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Unit tests run tasks in-process; integration tests talk to a real worker."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def reference_data(db):
    """The migrations' reference rows (re-seeded: a transactional test's flush removes them)."""
    from registry.reference_data import seed_reference_data

    seed_reference_data(django_apps)


@pytest.fixture
def roles(db):
    from registry.roles import sync_roles

    sync_roles(django_apps)


def _user_in(role: str, username: str, *, is_staff: bool = True):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username + "-2026!", is_staff=is_staff,
                                    email=f"{username}@example.org")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def dpo_user(roles):
    return _user_in("dpo", "dpo")


@pytest.fixture
def staff_user(roles):
    return _user_in("staff", "staffer")


@pytest.fixture
def auditor_user(roles):
    return _user_in("auditor", "auditor")


@pytest.fixture
def integration_user(roles):
    return _user_in("integration", "crm", is_staff=False)
