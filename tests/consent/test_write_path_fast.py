"""The cheaper computations of the import's write path give exactly what they replace."""
from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection

from consent import imports
from consent.normalise import keyed_digest
from consent.state import add_months


def test_add_months_equals_relativedelta():
    zone, rng = ZoneInfo("Europe/Paris"), random.Random(3)
    values = [datetime(2024, 1, 31, 12, tzinfo=zone), datetime(2023, 2, 28, tzinfo=zone),
              datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=zone),
              datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=zone),  # the hour that happens twice
              datetime(2025, 3, 30, 2, 30, tzinfo=zone)]  # the hour that does not happen
    for _ in range(5000):
        instant = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(40 * 365 * 86400), microseconds=rng.randrange(10**6))
        values.append(instant.astimezone(zone))
    for value in values:
        for months in (1, 6, 12, 13, 24, 25, 36, 120, 0, -1, -13):
            expected = value + relativedelta(months=months)
            got = add_months(value, months)
            assert (got, got.fold, got.tzinfo, got.isoformat()) == (
                expected, expected.fold, expected.tzinfo, expected.isoformat()), (value, months)


def test_keyed_digest_equals_hmac_new(settings):
    for value in ("", "a", "é" * 500, '{"ip":"","note":"x"}'):
        assert keyed_digest(value) == hmac.new(settings.PSEUDONYMISATION_KEY.encode(), value.encode(),
                                               hashlib.sha256).hexdigest()
    settings.PSEUDONYMISATION_KEY = "another key"  # a key changed (tests, rotation) is taken at once
    assert keyed_digest("a") == hmac.new(b"another key", b"a", hashlib.sha256).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_no_pipeline_on_sqlite_nor_inside_a_transaction(settings):
    from django.db import transaction

    if connection.vendor == "postgresql":
        assert imports._pipelined() is True
        settings.CONSENT_IMPORT_PIPELINE = False
        assert imports._pipelined() is False
    else:
        assert imports._pipelined() is False  # SQLite: one batch at a time, as before
    settings.CONSENT_IMPORT_PIPELINE = True
    with transaction.atomic():
        assert imports._pipelined() is False  # a caller's transaction: its commit is not the job's
