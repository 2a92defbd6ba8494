"""The audience export (design §4, consent/audience/): exactly the contacts consent_check allows
(with an address on the channel), streamed, with a number of queries that does not grow per row."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from consent import selectors, services
from consent.emails import unsubscribe_url
from consent.models import Contact, SuppressionEntry
from registry.exports.csv_export import excel_safe
from registry.services import purpose_update
from tests.api_clients import client_for
from tests.factories import ContactFactory, PurposeFactory

pytestmark = pytest.mark.django_db

AUDIENCE = "/api/v1/consent/audience/"


def record(contact, purpose, channel, action, **kwargs):
    kwargs.setdefault("method", "web_form")
    return services.consent_record(contact=contact, purpose=purpose, channel=channel, action=action, **kwargs)


def read(response) -> list[dict]:
    assert response.status_code == 200, getattr(response, "data", None)
    assert response.streaming is True
    body = b"".join(response.streaming_content).decode()
    if response["Content-Type"].startswith("text/csv"):
        rows = list(csv.DictReader(io.StringIO(body)))
        for row in rows:
            row["contact_id"] = int(row["contact_id"])
        return rows
    return [json.loads(line) for line in body.splitlines() if line]


def expected_ids(contacts, purpose, channel) -> set[int]:
    """consent_check's answer, for those with an address on the channel (nobody else can be sent to)."""
    allowed = set()
    for contact in contacts:
        contact = Contact.objects.get(pk=contact.pk)
        if not selectors.contact_addresses(contact=contact).get(channel.code):
            continue
        if selectors.consent_check(contact=contact, purpose=purpose, channel=channel).allowed:
            allowed.add(contact.pk)
    return allowed


@pytest.fixture
def mix(newsletter, postal_appeals, channels, categories):
    """About thirty contacts in every situation the rule set distinguishes."""
    email, sms, postal = channels["email"], channels["sms"], channels["postal"]
    donor, other_category = categories["donor"], next(c for code, c in categories.items() if code != "donor")
    long_ago = timezone.now() - timedelta(days=3 * 365)  # newsletter consent lasts 24 months
    people = {}

    def person(name, **fields):
        fields.setdefault("email", f"{name}@example.org")
        fields.setdefault("address_line1", f"{len(people) + 1} rue {name.title()}")
        fields.setdefault("postal_code", "75011")
        fields.setdefault("city", "Paris")
        people[name] = ContactFactory(**fields)
        return people[name]

    # Consent purpose (newsletter, email + sms).
    for i in range(4):
        record(person(f"granted{i}", phone=f"+3361234560{i}"), newsletter, email, "granted")
    record(people["granted0"], newsletter, sms, "granted")
    record(people["granted1"], newsletter, sms, "granted")
    withdrawn = person("withdrawn", phone="+33612345610")
    record(withdrawn, newsletter, email, "granted")
    record(withdrawn, newsletter, email, "withdrawn")
    record(withdrawn, newsletter, sms, "granted")
    record(withdrawn, newsletter, sms, "withdrawn")
    record(person("refused"), newsletter, email, "refused")
    person("never")
    for i in range(2):
        record(person(f"expired{i}", phone=f"+3361234562{i}"), newsletter, email, "granted", effective_at=long_ago)
        record(people[f"expired{i}"], newsletter, sms, "granted", effective_at=long_ago)
    for i in range(3):  # granted before the material change below
        record(person(f"lapsed{i}", phone=f"+3361234563{i}"), newsletter, email, "granted")
        record(people[f"lapsed{i}"], newsletter, sms, "granted")
    restricted = person("restricted", phone="+33612345640")
    record(restricted, newsletter, email, "granted")
    record(restricted, newsletter, sms, "granted")
    suppressed = person("suppressed", email="Suppressed@Example.org", phone="+33612345641")
    record(suppressed, newsletter, email, "granted")
    record(suppressed, newsletter, sms, "granted")
    services.suppression_add(channel=email, value="SUPPRESSED@example.org", source=SuppressionEntry.Source.MANUAL)
    services.suppression_add(channel=sms, value="06 12 34 56 41", source=SuppressionEntry.Source.MANUAL)
    anonymised = person("anonymised", phone="+33612345642", data_subject_categories=[donor])
    record(anonymised, newsletter, email, "granted")
    record(anonymised, newsletter, sms, "granted")
    no_phone = person("nophone", phone="")  # granted on email only: SMS has nobody to send to
    record(no_phone, newsletter, email, "granted")

    # Opt-out purpose (postal appeals to donors).
    for i in range(4):
        person(f"donor{i}", data_subject_categories=[donor])
    person("notdonor", data_subject_categories=[other_category])
    person("nocategory")
    objected = person("objected", data_subject_categories=[donor])
    record(objected, postal_appeals, postal, "objected")
    lifted = person("lifted", data_subject_categories=[donor])
    record(lifted, postal_appeals, postal, "objected")
    record(lifted, postal_appeals, postal, "objection_lifted")
    person("donornoaddress", address_line1="", postal_code="", city="", data_subject_categories=[donor])
    person("donorcityonly", address_line1="", postal_code="", city="Lyon", data_subject_categories=[donor])
    person("donorrestricted", data_subject_categories=[donor])
    person("donorsuppressed", address_line1="3  Rue  du Stop", postal_code="69001", city="Lyon",
           data_subject_categories=[donor])
    services.suppression_add(channel=postal, value="3 rue du stop 69001 LYON", source=SuppressionEntry.Source.MANUAL)
    for name in ("granted0", "granted2"):
        people[name].data_subject_categories.add(donor)

    for name in ("restricted", "donorrestricted"):  # as the restriction of a rights request does
        services.contact_update(contact=people[name], restricted=True)
    services.contact_anonymise(contact=anonymised)

    # A material change of the newsletter's text: earlier grants lapse; later ones count.
    purpose_update(purpose=newsletter, change_kind="material", text_fr="Nouveau texte de la lettre.",
                   text_en="New newsletter text.")
    newsletter.refresh_from_db()
    for i in range(2):
        record(person(f"regranted{i}", phone=f"+3361234565{i}"), newsletter, email, "granted")
        record(people[f"regranted{i}"], newsletter, sms, "granted")
    record(people["lapsed2"], newsletter, email, "granted")  # granted again on the new text, email only
    return list(people.values())


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("purpose_name,channel_code", [("newsletter", "email"), ("newsletter", "sms"),
                                                       ("postal_appeals", "postal")])
def test_audience_is_what_consent_check_allows(request, mix, channels, integration_user, fmt, purpose_name,
                                               channel_code):
    purpose = request.getfixturevalue(purpose_name)
    purpose.refresh_from_db()
    channel = channels[channel_code]
    assert len(mix) >= 30
    expected = expected_ids(mix, purpose, channel)
    assert expected  # the mix has someone to reach, and someone not to
    assert expected != {c.pk for c in mix}

    # The unsubscribe tokens are the ids and an HMAC of them, no timestamp: the test computes the same.
    response = client_for(integration_user).get(AUDIENCE, {"purpose": purpose.slug, "channel": channel.code,
                                                           "format": fmt})
    rows = read(response)
    assert {row["contact_id"] for row in rows} == expected
    assert len(rows) == len(expected)  # each contact once
    assert [row["contact_id"] for row in rows] == sorted(expected)
    for row in rows:
        assert list(row) == list(selectors.AUDIENCE_COLUMNS)
        contact = Contact.objects.get(pk=row["contact_id"])
        address = selectors.contact_addresses(contact=contact)[channel.code]
        # CSV is for spreadsheets too: "+33…" would run as a formula there (see the CSV injection test below).
        assert row["address"] == (excel_safe(address) if fmt == "csv" else address)
        assert row["language"] == contact.language
        assert row["external_ref"] == contact.external_ref
        assert row["unsubscribe_url"] == unsubscribe_url(contact_id=contact.pk, purpose_id=purpose.pk,
                                                         channel_id=channel.pk, language=contact.language)


def test_audience_names_the_expected_people(mix, newsletter, postal_appeals, channels):
    """A readable check of the mix, beside the set equality above."""
    by_id = {c.pk: c for c in mix}

    def names(purpose, code):
        rows = selectors.audience_rows(purpose=purpose, channel=channels[code])
        return sorted(by_id[row["contact_id"]].email.split("@")[0] for row in rows)

    newsletter.refresh_from_db()
    assert names(newsletter, "email") == ["lapsed2", "regranted0", "regranted1"]
    assert names(newsletter, "sms") == ["regranted0", "regranted1"]
    assert names(postal_appeals, "postal") == ["donor0", "donor1", "donor2", "donor3", "donorcityonly",
                                               "granted0", "granted2", "lifted"]


def test_opt_out_purpose_without_categories_reaches_everyone_with_an_address(channels):
    purpose = PurposeFactory(slug="catalogue", legal_basis="legitimate_interests",
                             legitimate_interest="Our yearly catalogue.", channels=[channels["postal"]])
    with_address = ContactFactory(address_line1="1 rue A", postal_code="75001", city="Paris")
    objected = ContactFactory(address_line1="2 rue B", postal_code="75002", city="Paris")
    record(objected, purpose, channels["postal"], "objected")
    without = ContactFactory()
    rows = list(selectors.audience_rows(purpose=purpose, channel=channels["postal"]))
    assert [row["contact_id"] for row in rows] == [with_address.pk]
    assert rows[0]["address"] == "1 rue A 75001 Paris"
    assert expected_ids([with_address, objected, without], purpose, channels["postal"]) == {with_address.pk}


def test_csv_has_a_header_and_is_an_attachment(newsletter, channels, staff_user):
    response = client_for(staff_user).get(AUDIENCE, {"purpose": "newsletter", "channel": "email"})
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="audience-newsletter-email.csv"'
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == [",".join(selectors.AUDIENCE_COLUMNS)]


def test_ndjson_content_type(newsletter, channels, auditor_user):
    contact = ContactFactory()
    record(contact, newsletter, channels["email"], "granted")
    response = client_for(auditor_user).get(AUDIENCE, {"purpose": "newsletter", "channel": "email",
                                                       "format": "ndjson"})
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["address"] for line in lines] == [contact.email]


def _build(newsletter, channel, count, start):
    for i in range(count):
        contact = ContactFactory(email=f"bulk{start + i}@example.org")
        record(contact, newsletter, channel, "granted")
        if i % 5 == 0:
            services.suppression_add(channel=channel, value=contact.email, source=SuppressionEntry.Source.MANUAL)


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_query_count_does_not_grow_with_the_audience(newsletter, channels, integration_user,
                                                     django_assert_max_num_queries, fmt):
    client = client_for(integration_user)
    params = {"purpose": "newsletter", "channel": "email", "format": fmt}
    read(client.get(AUDIENCE, params))  # warm the user's permission cache
    counts = []
    for total in (30, 60):
        _build(newsletter, channels["email"], total - (30 if counts else 0), start=len(counts) * 1000)
        with django_assert_max_num_queries(12):
            with CaptureQueriesContext(connection) as queries:
                rows = read(client.get(AUDIENCE, params))
        assert len(rows) == total - total // 5
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_small_chunks_check_suppression_per_chunk(newsletter, channels, django_assert_max_num_queries):
    _build(newsletter, channels["email"], 25, start=0)
    newsletter.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        rows = list(selectors.audience_rows(purpose=newsletter, channel=channels["email"], chunk_size=10))
    assert len(rows) == 20
    suppression_queries = [q for q in queries.captured_queries if "suppressionentry" in q["sql"].lower()]
    assert len(suppression_queries) == 3  # 10 + 10 + 5


@pytest.mark.parametrize("params,field", [
    ({"channel": "email"}, "purpose"),
    ({"purpose": "newsletter"}, "channel"),
    ({"purpose": "nope", "channel": "email"}, "purpose"),
    ({"purpose": "newsletter", "channel": "pigeon"}, "channel"),
    ({"purpose": "newsletter", "channel": "postal"}, "channel"),
    ({"purpose": "newsletter", "channel": "email", "format": "xlsx"}, "format"),
    ({"purpose": "newsletter\x00", "channel": "email"}, "purpose"),
])
def test_bad_parameters_are_400_with_field_errors(newsletter, postal_appeals, integration_user, params, field):
    response = client_for(integration_user).get(AUDIENCE, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_retired_purpose_is_400(newsletter, integration_user):
    from registry.models import Purpose

    Purpose.objects.filter(pk=newsletter.pk).update(status=Purpose.Status.RETIRED)
    response = client_for(integration_user).get(AUDIENCE, {"purpose": "newsletter", "channel": "email"})
    assert response.status_code == 400
    assert "purpose" in response.json()["errors"]


def test_permissions(newsletter, roles):
    from django.contrib.auth.models import User

    assert APIClient().get(AUDIENCE, {"purpose": "newsletter", "channel": "email"}).status_code in (401, 403)
    nobody = User.objects.create_user(username="nobody", password="pw-nobody-2026!")
    assert client_for(nobody).get(AUDIENCE, {"purpose": "newsletter", "channel": "email"}).status_code == 403


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0",
                                   "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(newsletter, channels, integration_user, value):
    """CSV injection (OWASP): the register's CSV rule, applied to the audience. NDJSON keeps the value."""
    catalogue = PurposeFactory(slug="catalogue", legal_basis="legitimate_interests",
                               legitimate_interest="Our yearly catalogue.", channels=[channels["postal"]])
    contact = ContactFactory(external_ref=value.strip(), address_line1=value, postal_code="75001", city="Paris",
                             phone="+33612345678")
    record(contact, newsletter, channels["sms"], "granted")
    client = client_for(integration_user)

    postal = read(client.get(AUDIENCE, {"purpose": catalogue.slug, "channel": "postal"}))
    assert [(row["address"], row["external_ref"]) for row in postal] == [
        ("'" + value + " 75001 Paris", excel_safe(value.strip()))]
    sms = read(client.get(AUDIENCE, {"purpose": "newsletter", "channel": "sms"}))
    # An E.164 number cannot hold a formula: kept usable for the mailing tool that imports it.
    assert [row["address"] for row in sms] == ["+33612345678"]
    assert excel_safe("+33612345678") == "+33612345678" and excel_safe("+1+2") == "'+1+2"
    for row in sms + postal:
        assert row["external_ref"].startswith("'") or not row["external_ref"].startswith(("=", "+", "-", "@"))
        assert row["unsubscribe_url"].startswith("http") and str(row["contact_id"]).isdigit()

    ndjson = read(client.get(AUDIENCE, {"purpose": catalogue.slug, "channel": "postal", "format": "ndjson"}))
    assert [row["address"] for row in ndjson] == [value + " 75001 Paris"]
