"""The audience export on real PostgreSQL: the rows built by the database and streamed by COPY
(consent.selectors.audience_copy_chunks) are byte for byte the portable Python path's output
(audience_rows + the view's CSV/NDJSON writers), for CSV and NDJSON, consent and opt-out purposes,
email and SMS; the statement stays out of Django's query log (it carries the keys); a client that
goes away mid-stream cancels the COPY and leaves the connection usable. No Celery worker is needed;
the skip when DATABASE_URL/REDIS_URL are missing comes from this folder's conftest.
"""
from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent import selectors, tokens
from consent.api.views import ConsentAudienceView
from tests.consent.test_audience_export import body, tricky_audience
from tests.factories import ContactFactory, channel, consent_purpose, record_consent

pytestmark = pytest.mark.integration


def test_pgcrypto_is_there(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'")
        assert cursor.fetchone() == (1,)


@pytest.mark.parametrize("purpose_key,code", [("newsletter", "email"), ("newsletter", "sms"), ("offers", "email")])
def test_copy_writes_the_python_paths_bytes(reference_data, purpose_key, code):
    data = tricky_audience(size=150)
    purpose = data[purpose_key]
    for fmt in ("csv", "ndjson"):
        with CaptureQueriesContext(connection) as queries:
            by_copy = body(purpose, code, fmt, use_copy=True)
        by_python = body(purpose, code, fmt, use_copy=False)
        assert by_copy == by_python, fmt
        lines = by_copy.count(b"\n")
        assert lines >= 100, (fmt, lines)
        logged = " ".join(q["sql"] for q in queries.captured_queries)
        assert "COPY" not in logged and "set_config" not in logged  # the keys stay out of the query log
        # Nor are they in the long statement, which pg_stat_activity shows while it runs.
        statement = selectors.audience_copy_sql(purpose=purpose, channel=channel(code), fmt=fmt)
        for key in (tokens.unsubscribe_key(), settings.PSEUDONYMISATION_KEY.encode()):
            assert key.hex() not in statement + logged
        with connection.cursor() as cursor:  # and the session no longer holds them
            cursor.execute("SELECT current_setting('dpodesk.audience_digest_key'), "
                           "current_setting('dpodesk.audience_token_key')")
            assert cursor.fetchone() == ("", "")


def test_the_api_takes_the_copy_path(reference_data, integration_user, monkeypatch):
    from rest_framework.test import APIClient

    data = tricky_audience()
    monkeypatch.setattr(selectors, "audience_rows", None)  # the Python path would fail
    client = APIClient()
    client.force_authenticate(integration_user)
    response = client.get("/api/v1/consent/audience/", {"purpose": data["newsletter"].slug, "channel": "email"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).count(b"\r\n") > 20


def test_a_client_gone_mid_stream_cancels_the_copy(transactional_db, reference_data):
    from consent.models import ConsentState, Contact

    purpose = consent_purpose("copy-cancel", channels=("email",))
    record_consent(ContactFactory(email="first@example.org"), purpose, "email")
    state = ConsentState.objects.get()
    # Enough rows (~3 MB) that the server is still sending when the client goes away; the ledger
    # does not matter here, so the rows are written in bulk beside one real grant.
    contacts = Contact.objects.bulk_create(Contact(email=f"gone{n}@example.org") for n in range(20000))
    ConsentState.objects.bulk_create(
        ConsentState(contact=contact, purpose=purpose, channel=state.channel, status=state.status,
                     purpose_version=state.purpose_version, since=state.since, last_event=state.last_event)
        for contact in contacts)
    stream = selectors.audience_copy_chunks(purpose=purpose, channel=channel("email"), fmt="csv")
    first = next(stream)
    assert first.count(b"\r\n") == 1000
    stream.close()  # what the WSGI server does when the client disconnects
    assert connection.connection.info.transaction_status.name == "IDLE"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), current_setting('dpodesk.audience_digest_key') FROM consent_contact")
        assert cursor.fetchone() == (20001, "")  # usable, and the key cleared
    whole = b"".join(ConsentAudienceView.body(purpose=purpose, channel=channel("email"), fmt="csv"))
    assert whole.count(b"\r\n") == 20002
