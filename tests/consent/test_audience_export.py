"""The streamed audience export (issue 3): the format-2 unsubscribe token (and the links already sent),
the portable Python path, and its bytes: on PostgreSQL the same bytes come from COPY (compared here when
the tests run on PostgreSQL, and in tests/integration/test_audience_copy.py)."""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from consent import emails, selectors, services, tokens
from consent.api.views import ConsentAudienceView
from consent.models import ConsentEvent, Contact, SuppressionEntry
from registry.exports.csv_export import excel_safe
from registry.models import DataSubjectCategory
from tests.factories import ContactFactory, PurposeFactory, channel, consent_purpose, record_consent

pytestmark = pytest.mark.django_db

AUDIENCE = "/api/v1/consent/audience/"
ON_POSTGRESQL = connection.vendor == "postgresql"

# Cells a spreadsheet or a CSV/JSON writer treats specially: every one must come out the same way.
TRICKY_REFS = ["", "plain", "a,b", 'say "hi"', "line\nbreak", "cr\rhere", "crlf\r\nx", "\ttab", "=SUM(A1)",
               "+33612345678", "+1+2", "-5", "@me", "ünïcødé ✓", "back\\slash", "ctl\x01\x1fx", "del\x7f",
               "sep\u2028x", " lead and trail ", "'quoted"]
TRICKY_EMAILS = ["=cmd@example.org", "+tag@example.org", "-dash@example.org", "@at@example.org",
                 "o'neil@example.org", 'q"uote@example.org', "comma,x@example.org", "élodie@exämple.fr"]


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000").removeprefix("http://testserver")


def tricky_audience(*, size: int = 0) -> dict:
    """Contacts in every situation the export distinguishes, with cells that need quoting, escaping or
    the spreadsheet guard; ``size`` more plain ones. Returns the purposes, for both paths to export."""
    newsletter = consent_purpose("export-news", channels=("email", "sms"))
    customer = DataSubjectCategory.objects.get(code="customer")
    offers = PurposeFactory(slug="export-offers", legal_basis="legitimate_interests", direct_marketing=True,
                            legitimate_interest="Offers to customers.", channels=[channel("email")],
                            data_subject_categories=[customer])
    email, sms = channel("email"), channel("sms")
    long_ago = timezone.now() - timedelta(days=40)
    people = []
    for n, ref in enumerate(TRICKY_REFS):
        contact = ContactFactory(email=f"ref{n}@example.org", phone=f"+336123450{n:02d}")
        Contact.objects.filter(pk=contact.pk).update(external_ref=ref, language=("fr", "en", "de")[n % 3])
        people.append(contact)
    for n, address in enumerate(TRICKY_EMAILS):
        contact = ContactFactory(email=f"tricky{n}@example.org", phone=f"+336123460{n:02d}")
        # Stored as given: the export takes the stored address as it is (no second validation).
        Contact.objects.filter(pk=contact.pk).update(email=address, language="en" if n % 2 else "fr")
        people.append(contact)
    for n in range(size):
        people.append(ContactFactory(email=f"bulk{n}@example.org", phone=f"+33650{n:06d}"))
    for n, contact in enumerate(people):
        if n % 4 != 1:  # the opt-out purpose targets customers only
            contact.data_subject_categories.add(customer)
        record_consent(contact, newsletter, "email", effective_at=long_ago)
        record_consent(contact, newsletter, "sms", effective_at=long_ago)
    # Suppression: a manual entry blocks; an erasure entry blocks a grant older than it, not a newer one.
    blocked, erased_before, erased_after = people[1], people[2], people[3]
    services.suppression_add(channel=email, value=Contact.objects.get(pk=blocked.pk).email,
                             source=SuppressionEntry.Source.MANUAL)
    services.suppression_add(channel=sms, value=Contact.objects.get(pk=blocked.pk).phone,
                             source=SuppressionEntry.Source.OPPOSITION_LIST)
    for contact in (erased_before, erased_after):
        services.suppression_add(channel=email, value=contact.email, source=SuppressionEntry.Source.ERASURE)
    record_consent(erased_after, newsletter, "email", action="withdrawn")
    record_consent(erased_after, newsletter, "email")  # consent given again after the erasure's entry
    # Stored addresses with an apostrophe, accents: the digest is the same in SQL and in Python.
    for address in ("o'neil@example.org", "élodie@exämple.fr"):
        services.suppression_add(channel=email, value=address, source=SuppressionEntry.Source.UNSUBSCRIBE)
    tricky = Contact.objects.get(email="=cmd@example.org")
    SuppressionEntry.objects.create(channel=email, source=SuppressionEntry.Source.MANUAL,
                                    digest=hashlib.sha256(b"never matches").hexdigest())
    return {"newsletter": newsletter, "offers": offers, "blocked": blocked, "erased_before": erased_before,
            "erased_after": erased_after, "tricky": tricky, "people": people}


def body(purpose, code: str, fmt: str, *, use_copy: bool | None = None) -> bytes:
    return b"".join(ConsentAudienceView.body(purpose=purpose, channel=channel(code), fmt=fmt, use_copy=use_copy))


def expected_csv(rows: list[dict]) -> bytes:
    """What the export must write, computed apart: csv.writer's dialect, excel_safe on every text cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(selectors.AUDIENCE_COLUMNS)
    for row in rows:
        writer.writerow([row["contact_id"], *(excel_safe(row[c]) for c in selectors.AUDIENCE_COLUMNS[1:])])
    return out.getvalue().encode()


def expected_ndjson(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def expected_rows(data: dict, purpose, code: str) -> list[dict]:
    """The rows from first principles: consent_check's answer per contact, the stored address, the
    format-2 link in the contact's language (the default language's for one the site lacks)."""
    rows = []
    ch = channel(code)
    for contact in Contact.objects.filter(pk__in=[c.pk for c in data["people"]]).order_by("pk"):
        if not selectors.consent_check(contact=contact, purpose=purpose, channel=ch).allowed:
            continue
        language = contact.language if contact.language in ("fr", "en") else "fr"
        rows.append({"contact_id": contact.pk, "external_ref": contact.external_ref,
                     "address": selectors.contact_addresses(contact=contact)[code], "language": contact.language,
                     "unsubscribe_url": emails.unsubscribe_url(contact_id=contact.pk, purpose_id=purpose.pk,
                                                               channel_id=ch.pk, language=language)})
    return rows


# --- The format-2 unsubscribe token ---------------------------------------------------------------


def test_format_2_token_is_the_ids_and_a_truncated_hmac(settings):
    token = tokens.unsubscribe_token(contact_id=42, purpose_id=7, channel_id=3)
    key = hmac.new(settings.SECRET_KEY.encode(), b"consent.unsubscribe.v2", hashlib.sha256).digest()
    assert token == "42.7.3." + hmac.new(key, b"42.7.3", hashlib.sha256).hexdigest()[:32]
    assert re.fullmatch(r"42\.7\.3\.[0-9a-f]{32}", token)
    assert tokens.unsubscribe_token(contact_id=42, purpose_id=7, channel_id=3) == token  # no timestamp
    assert tokens.read_unsubscribe_token(token) == (42, 7, 3)
    maker = tokens.unsubscribe_token_maker(purpose_id=7, channel_id=3)
    assert maker(42) == token and maker(43) == tokens.unsubscribe_token(contact_id=43, purpose_id=7, channel_id=3)


@pytest.mark.parametrize("forged", [
    "43.7.3.{mac}",  # another contact under this mac
    "42.7.4.{mac}",  # another channel
    "042.7.3.{mac}",  # the same ids, written otherwise: not what was signed
    "42.7.3.{MAC}",  # the mac in capitals
    "42.7.3.{mac}0",
    "42.7.3.{short}",
    "42.7.3",
    "",
])
def test_format_2_token_refuses_any_change(forged):
    mac = tokens.unsubscribe_token(contact_id=42, purpose_id=7, channel_id=3).rsplit(".", 1)[1]
    assert tokens.read_unsubscribe_token(forged.format(mac=mac, MAC=mac.upper(), short=mac[:-1])) is None


def test_format_1_tokens_already_sent_are_still_read():
    old = tokens.make(tokens.UNSUBSCRIBE_SALT, c=42, p=7, ch=3)  # the signing.dumps links in sent emails
    assert ":" in old
    assert tokens.read_unsubscribe_token(old) == (42, 7, 3)
    assert tokens.read_unsubscribe_token(old[:-2] + "xx") is None
    assert tokens.read_unsubscribe_token(tokens.make(tokens.PREFERENCES_SALT, c=42)) is None


def test_a_rotated_secret_key_keeps_format_2_links_working(settings):
    token = tokens.unsubscribe_token(contact_id=5, purpose_id=6, channel_id=1)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-" + "x" * 40
    assert tokens.read_unsubscribe_token(token) is None
    settings.SECRET_KEY_FALLBACKS = [old]
    assert tokens.read_unsubscribe_token(token) == (5, 6, 1)
    assert tokens.unsubscribe_token(contact_id=5, purpose_id=6, channel_id=1) != token  # new links: new key


@pytest.mark.parametrize("link_format", ["format 1 (sent before)", "format 2"])
def test_unsubscribe_page_and_one_click_post_take_both_formats(newsletter, channels, link_format):
    contact = services.contact_create(email="both.formats@example.org")
    record_consent(contact, newsletter, "email")
    ids = {"contact_id": contact.pk, "purpose_id": newsletter.pk, "channel_id": channels["email"].pk}
    if link_format.startswith("format 1"):
        token = tokens.make(tokens.UNSUBSCRIBE_SALT, c=contact.pk, p=newsletter.pk, ch=channels["email"].pk)
        url = path_of(emails.unsubscribe_url(**ids)).replace(tokens.unsubscribe_token(**ids), token)
    else:
        url = path_of(emails.unsubscribe_url(**ids))
        assert re.fullmatch(r"/unsubscribe/\d+\.\d+\.\d+\.[0-9a-f]{32}/", url)
    mail_client = Client(enforce_csrf_checks=True)
    assert mail_client.get(url).status_code == 200
    assert mail_client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200  # RFC 8058
    assert selectors.consent_check(contact=contact, purpose=newsletter,
                                   channel=channels["email"]).reason == "withdrawn"
    assert ConsentEvent.objects.filter(contact=contact, method="unsubscribe").count() == 1
    forged = url[:-2] + ("0" if url[-2] != "0" else "1") + "/"  # the token's last character changed
    assert mail_client.post(forged, {"List-Unsubscribe": "One-Click"}).status_code == 404


def test_unsubscribe_url_parts_rebuild_the_reversed_url():
    token = tokens.unsubscribe_token(contact_id=9, purpose_id=8, channel_id=7)
    for language in ("fr", "en"):
        head, tail = emails.unsubscribe_url_parts(language=language)
        assert head + token + tail == emails.unsubscribe_url(contact_id=9, purpose_id=8, channel_id=7,
                                                             language=language)
    assert emails.unsubscribe_url_parts_by_language()["en"][0].endswith("/en/unsubscribe/")
    assert emails.unsubscribe_url_parts_by_language()["fr"][0].endswith("/unsubscribe/")


# --- The export's bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("purpose_key,code", [("newsletter", "email"), ("newsletter", "sms"), ("offers", "email")])
def test_export_writes_exactly_the_expected_bytes(reference_data, integration_user, fmt, purpose_key, code):
    """Through the API, on whichever path the database takes (COPY on PostgreSQL), against bytes
    computed apart with csv.writer, excel_safe and json.dumps."""
    data = tricky_audience()
    purpose = data[purpose_key]
    rows = expected_rows(data, purpose, code)
    ids = [row["contact_id"] for row in rows]
    if code == "email":
        suppressed = Contact.objects.filter(email__in=["o'neil@example.org", "élodie@exämple.fr"])
        assert len(suppressed) == 2 and not {c.pk for c in suppressed} & set(ids)
        assert data["tricky"].pk in ids
        assert data["blocked"].pk not in ids and data["erased_before"].pk not in ids
        # An erasure's entry yields to a consent given after it; an opt-out purpose has no such consent.
        assert (data["erased_after"].pk in ids) is (purpose_key == "newsletter")
    else:
        assert data["blocked"].pk not in ids and data["erased_before"].pk in ids
    assert {row["language"] for row in rows} == {"fr", "en", "de"}
    client = APIClient()
    client.force_authenticate(integration_user)
    response = client.get(AUDIENCE, {"purpose": purpose.slug, "channel": code, "format": fmt})
    assert response.status_code == 200 and response.streaming
    got = b"".join(response.streaming_content)
    assert got == (expected_csv(rows) if fmt == "csv" else expected_ndjson(rows))
    if fmt == "csv":
        parsed = list(csv.DictReader(io.StringIO(got.decode(), newline="")))
        assert [row["external_ref"] for row in parsed] == [excel_safe(row["external_ref"]) for row in rows]
        assert "'=cmd@example.org" in [row["address"] for row in parsed] or code == "sms"
    else:
        assert [json.loads(line) for line in got.decode().split("\n") if line] == rows


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the COPY path is PostgreSQL's")
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("purpose_key,code", [("newsletter", "email"), ("newsletter", "sms"), ("offers", "email")])
def test_copy_and_python_paths_write_the_same_bytes(reference_data, fmt, purpose_key, code):
    data = tricky_audience(size=30)
    purpose = data[purpose_key]
    assert selectors.audience_copy_supported(channel=channel(code))
    by_copy = body(purpose, code, fmt, use_copy=True)
    assert by_copy == body(purpose, code, fmt, use_copy=False)
    assert by_copy.count(b"\n") >= 35


def test_postal_audiences_take_the_python_path(reference_data):
    # Its digest needs Python's Unicode lower() and split(): PostgreSQL's lower() follows the locale.
    assert selectors.audience_copy_supported(channel=channel("postal")) is False
    assert selectors.audience_copy_supported(channel=channel("email")) is ON_POSTGRESQL


def test_python_path_neither_validates_stored_addresses_nor_reverses_per_row(reference_data, monkeypatch):
    data = tricky_audience(size=20)
    calls = {"reverse": 0}
    real_reverse = emails.reverse

    def counting_reverse(*args, **kwargs):
        calls["reverse"] += 1
        return real_reverse(*args, **kwargs)

    def no_validation(*args, **kwargs):
        raise AssertionError("a stored address was validated again")

    monkeypatch.setattr(emails, "reverse", counting_reverse)
    monkeypatch.setattr("consent.normalise.validate_email", no_validation)
    monkeypatch.setattr("consent.normalise.phonenumbers.parse", no_validation)
    for code in ("email", "sms"):
        rows = list(selectors.audience_rows(purpose=data["newsletter"], channel=channel(code)))
        assert len(rows) >= 40
    assert calls["reverse"] == 2 * 2  # once per language of the site, per export


def test_python_path_chunks_of_bytes(reference_data):
    data = tricky_audience(size=5)
    chunks = list(ConsentAudienceView.body(purpose=data["newsletter"], channel=channel("email"), fmt="csv",
                                           use_copy=False))
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    assert len(chunks) == 1  # fewer rows than a batch: one write, not one per row
    assert chunks[0].startswith(b"contact_id,external_ref,address,language,unsubscribe_url\r\n")
