"""The import's fast paths give exactly what the slow ones gave: memoised email and phone
normalisation, the French date read without strptime, the cheap contact check, events built from
positional values, and the bulk writes (contacts with their history rows, events, current consent),
which on PostgreSQL go by COPY (tests/integration/test_consent_import_copy.py compares both there)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db.models import signals
from django.utils import timezone
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

import consent.imports  # noqa: F401  (registers the consent_import job kind)
from consent import imports, services
from consent.imports import parse_date, validate_rows
from consent.models import Action, ConsentEvent, ConsentState, Contact, Method
from consent.normalise import clear_memos, normalise_email, normalise_phone
from consent.selectors import contact_reachable_on, ledger_verify
from consent.state import fold
from tests.factories import ContactFactory, record_consent

HEADER = "email;phone;first_name;last_name;purpose;channel;status;date;method;source"


# --- Reference implementations: the code before the fast paths ---------------------------------


def reference_email(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(_("Enter a valid email address (%(error)s).") % {"error": exc}, code="invalid_email")
    return f"{result.local_part.lower()}@{result.domain.lower()}"


def reference_date(value: str) -> datetime:
    value = value.strip()
    parsed = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for pattern in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
            try:
                parsed = datetime.strptime(value, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        try:
            parsed = datetime.combine(date.fromisoformat(value), time())
        except ValueError:
            raise ValueError(_("unreadable date %(value)s (expected ISO 8601 or dd/mm/yyyy [HH:MM])")
                             % {"value": repr(value)}) from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/Paris"))
    return parsed


def outcome(function, value):
    try:
        return ("ok", function(value))
    except ValidationError as exc:
        return ("invalid", exc.code, exc.messages)
    except ValueError as exc:
        return ("error", str(exc))


EMAILS = [
    "alice@example.org", "Alice.Martin+news@Example.ORG", "  bob@example.org ", "a_b-c/d=e?f^g`h{i|j}k~l@x-y.example",
    "user@xn--bcher-kva.de", "user@bücher.de", "Élodie@example.org", "postmaster@example.org", "x@localhost",
    "a@b.invalid", "a@example.local", "a..b@example.org", ".a@example.org", "a.@example.org", "a@-example.org",
    "a@example-.org", "a@example..org", "a@example.org.", "@example.org", "a@", "a", '"quoted"@example.org',
    "Name <a@example.org>", "a@[127.0.0.1]", "a@123.com", "a@1.2.3.4", "a@example.test", "a b@example.org",
    "x" * 64 + "@example.org", "x" * 65 + "@example.org", "x" * 240 + "@example.org", "y" * 64 + "@" + "d" * 63 +
    "." + "e" * 63 + "." + "f" * 50 + ".org", "a@" + "d" * 64 + ".org", "a@exa_mple.org", "a@xn--.org",
]


@pytest.mark.parametrize("value", EMAILS)
def test_email_fast_path_equals_email_validator(value):
    clear_memos()
    expected = outcome(reference_email, value)
    assert outcome(normalise_email, value) == expected  # cold
    assert outcome(normalise_email, value) == expected  # its domain memoised


@settings(max_examples=300, deadline=None)
@given(local=st.text(alphabet="aZ09._-+!#'~@", min_size=0, max_size=12),
       domain=st.text(alphabet="abXY09.-_", min_size=0, max_size=14))
def test_email_fast_path_equals_email_validator_on_random_addresses(local, domain):
    value = f"{local}@{domain}"
    assert outcome(normalise_email, value) == outcome(reference_email, value)


@pytest.mark.parametrize("value, region", [
    ("06 12 34 56 78", None), ("+33612345678", None), ("0033 6 12 34 56 78", None), ("12", None),
    ("+1 650 253 0000", None), ("0470 12 34 56", "BE"), ("0470 12 34 56", None), ("not a number", None), ("", None),
])
def test_phone_memo_equals_phonenumbers(value, region):
    import phonenumbers
    from django.conf import settings as django_settings

    def reference(raw):
        raw = (raw or "").strip()
        if not raw:
            return ""
        try:
            number = phonenumbers.parse(raw, region or django_settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError(_("Enter a valid phone number, e.g. +33 6 12 34 56 78."), code="invalid_phone")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    clear_memos()
    expected = outcome(reference, value)
    for _twice in range(2):
        assert outcome(lambda raw: normalise_phone(raw, region=region), value) == expected


def test_phone_memo_is_per_region():
    clear_memos()
    assert normalise_phone("0470 12 34 56", region="BE") == "+32470123456"
    assert normalise_phone("0470 12 34 56", region="FR") == "+33470123456"
    assert normalise_phone("0470 12 34 56") == "+33470123456"  # PHONE_DEFAULT_REGION


DATES = ["15/04/2024 09:30", "15/04/2024 09:30:15", "15/04/2024", "31/02/2024", "00/01/2024", "15/13/2024",
         "15/04/2024 24:00", "15/04/2024 23:60", "15/04/2024 23:59:60", "15/04/0000", "5/4/2024", "15/04/2024  09:30",
         "15/04/2024T09:30", "2024-04-15", "2024-04-15T09:30:00+02:00", "29/02/2023", "29/02/2024 00:00",
         "١٥/٠٤/٢٠٢٤", " 15/04/2024 09:30 "]


@pytest.mark.parametrize("value", DATES)
def test_french_date_fast_path_equals_strptime(value):
    assert outcome(parse_date, value) == outcome(reference_date, value)


@settings(max_examples=300, deadline=None)
@given(day=st.integers(0, 39), month=st.integers(0, 19), year=st.integers(1, 2999), hour=st.integers(0, 29),
       minute=st.integers(0, 69), second=st.one_of(st.none(), st.integers(0, 69)), with_time=st.booleans())
def test_french_date_fast_path_equals_strptime_on_random_dates(day, month, year, hour, minute, second, with_time):
    value = f"{day:02d}/{month:02d}/{year:04d}"
    if with_time:
        value += f" {hour:02d}:{minute:02d}" + (f":{second:02d}" if second is not None else "")
    assert outcome(parse_date, value) == outcome(reference_date, value)


# --- The batch: contacts, events, states ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [
    {"email": "a@example.org", "phone": "+33612345678", "first_name": "A", "last_name": "B", "source": "x"},
    {"email": "a@bücher.de", "phone": "", "first_name": "", "last_name": "", "source": ""},
    {"email": "", "phone": "+33612345678", "first_name": "x" * 151, "last_name": "", "source": ""},
    {"email": "a@example.org", "phone": "+336123456789012345678", "first_name": "", "last_name": "", "source": ""},
    {"email": "a" * 250 + "@example.org", "phone": "", "first_name": "", "last_name": "", "source": "s" * 256},
    {"email": "not-an-email", "phone": "", "first_name": "", "last_name": "", "source": ""},
])
def test_contact_check_equals_full_clean(fields):
    contact = Contact(external_ref="", **fields)
    try:
        contact.full_clean(validate_unique=False, validate_constraints=False)
        expected = True
    except ValidationError:
        expected = False
    assert imports._contact_fields_valid(contact) is expected


@pytest.mark.django_db
def test_positional_event_equals_keyword_event(newsletter, channels, dpo_user):
    contact = ContactFactory()
    now = timezone.now()
    values = dict(contact_id=contact.pk, purpose_id=newsletter.pk, purpose_version=3, channel_id=channels["email"].pk,
                  action="granted", method="paper", effective_at=now, recorded_at=now, notice_id=None,
                  collection_form="import:x", recorded_by_id=dpo_user.pk, evidence_ip="10.0.0.1",
                  evidence_user_agent="ua", evidence_note="note", idempotency_key="k", evidence_digest="d" * 64)
    fast, slow = services._new_event(**values), ConsentEvent(**values)
    for field in ConsentEvent._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(slow, field.attname), field.name
    assert fast._state.adding and fast.pk is None and fast.contact == contact
    with pytest.raises(IndexError):
        services._new_event(not_a_field=1, **values)


@pytest.mark.django_db
def test_a_built_contact_equals_a_constructed_one(monkeypatch):
    values = dict(email="ann@example.org", phone="+33612345678", external_ref="", first_name="Ann",
                  last_name="Lee", source="import:salon.csv")
    fast, slow = services.contact_build(**values), Contact(**values)
    for field in Contact._meta.concrete_fields:
        if field.name != "collected_at":
            assert getattr(fast, field.attname) == getattr(slow, field.attname), field.name
    # The callable default runs for each contact, as __init__ runs it.
    assert abs(fast.collected_at - slow.collected_at) < timedelta(seconds=5)
    assert services.contact_build(**values).collected_at >= fast.collected_at
    assert services.contact_build(collected_at=slow.collected_at, **values).collected_at == slow.collected_at
    assert fast._state.adding and fast.pk is None
    services.contacts_bulk_create(contacts=[fast])
    stored = Contact.objects.get(pk=fast.pk)
    assert (stored.email, stored.language, stored.country, stored.history.count()) == ("ann@example.org", "fr", "FR", 1)
    # A receiver of post_init (none in the app) makes it go through __init__, which runs it.
    seen = []
    monkeypatch.setattr(signals.post_init, "has_listeners", lambda sender=None: True)
    monkeypatch.setattr(signals.post_init, "send", lambda sender, **kwargs: seen.append(sender))
    services.contact_build(**values)
    assert seen == [Contact]


def _big_file(contacts: int, *, offset: int = 0) -> bytes:
    lines = []
    for number in range(offset, offset + contacts):
        email, phone = f"bulk{number}@example.org", f"+3375{number:07d}"
        lines.append(f"{email};{phone};Bulk;N{number};newsletter;email;granted;15/04/2024 09:{number % 60:02d};"
                     f"paper;Salon")
        lines.append(f"{email};{phone};Bulk;N{number};newsletter;sms;{'refused' if number % 3 else 'granted'};"
                     f"2024-04-16T10:00:00;event;Salon")
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def _run(content: bytes, capture, user=None):
    from registry.models import Job

    with capture(execute=True):
        job = services.consent_import_start(file_name="bulk.csv", content=content, valid_rows_only=False,
                                            requested_by=user)
    return Job.objects.get(pk=job.pk)


def assert_states_are_the_fold():
    for state in ConsentState.objects.select_related("purpose", "channel", "contact"):
        events = ConsentEvent.objects.filter(contact=state.contact, purpose=state.purpose, channel=state.channel)
        value = fold(events, validity_months=state.purpose.consent_validity_months)
        assert (state.status, state.since, state.expires_at, state.last_event_id, state.purpose_version) == (
            value.status, value.since, value.expires_at, value.last_event_id, value.purpose_version)
        assert state.reachable == contact_reachable_on(contact=state.contact, channel_code=state.channel.code)


@pytest.mark.django_db
def test_big_batches_write_contacts_history_events_and_states(newsletter, django_capture_on_commit_callbacks,
                                                              settings, dpo_user):
    """Batches above services.COPY_MIN_ROWS: the bulk path (COPY on PostgreSQL, the ORM on SQLite)."""
    settings.CONSENT_IMPORT_BATCH_SIZE = 2 * services.COPY_MIN_ROWS
    count = services.COPY_MIN_ROWS + 10  # two lines each: a batch and a bit
    job = _run(_big_file(count), django_capture_on_commit_callbacks, dpo_user)

    assert (job.status, job.error) == ("done", "")
    assert job.counts == {"rows": 2 * count, "valid": 2 * count, "rejected": 0, "written": 2 * count,
                          "last_row": 2 * count + 1}
    assert Contact.objects.count() == count
    history = Contact.history.model
    tracked = [field.attname for field in history.tracked_fields]
    for contact in Contact.objects.all():
        [row] = history.objects.filter(id=contact.pk)  # one creation row each, as contact_create writes
        assert row.history_type == "+" and row.history_change_reason is None and row.history_user_id is None
        assert [getattr(row, name) for name in tracked] == [getattr(contact, name) for name in tracked]
        # one instant per batch (the ORM's auto_now fields take theirs a few µs apart)
        assert abs(contact.updated_at - contact.created_at).total_seconds() < 1
        assert abs(row.history_date - contact.created_at).total_seconds() < 1
        assert (contact.source, contact.first_name, contact.country, contact.language) == ("Salon", "Bulk", "FR", "fr")
    events = list(ConsentEvent.objects.order_by("sequence"))
    assert len(events) == 2 * count
    keys = [f"import:{job.pk}:{line}" for line in range(2, 2 * count + 2)]
    assert [event.idempotency_key for event in events] == keys
    assert {event.recorded_by_id for event in events} == {dpo_user.pk}
    assert all(event.notice_id for event in events if event.action in (Action.GRANTED, Action.REFUSED))
    assert ledger_verify() == (2 * count, None)
    assert ConsentState.objects.count() == 2 * count
    assert_states_are_the_fold()


@pytest.mark.django_db
def test_big_batch_updates_existing_states(newsletter, channels, django_capture_on_commit_callbacks, settings):
    """Pairs that already have a current consent are updated in place (the upsert), new ones added."""
    settings.CONSENT_IMPORT_BATCH_SIZE = 1000
    known = [ContactFactory(email=f"bulk{n}@example.org", phone=f"+3375{n:07d}") for n in range(0, 60, 2)]
    for contact in known:
        record_consent(contact, newsletter, "email", effective_at=datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")))
    Contact.objects.filter(pk=known[0].pk).update(restricted=True)
    before = {state.contact_id: state.pk for state in ConsentState.objects.all()}

    job = _run(_big_file(60), django_capture_on_commit_callbacks)

    assert job.counts["written"] == 120 and Contact.objects.count() == 60
    assert ConsentState.objects.count() == 30 + 120 - 30  # 30 email rows updated, 90 new
    for contact_id, pk in before.items():  # the same rows, now at the import's grant
        state = ConsentState.objects.get(contact_id=contact_id, channel=channels["email"])
        assert state.pk == pk and state.since.astimezone(ZoneInfo("Europe/Paris")).date() == date(2024, 4, 15)
    restricted = ConsentState.objects.get(contact=known[0], channel=channels["email"])
    assert restricted.reachable is False and restricted.status == Action.GRANTED
    assert ledger_verify()[1] is None
    assert_states_are_the_fold()


@pytest.mark.django_db
def test_big_batch_with_late_events_keeps_the_fold(newsletter, channels, django_capture_on_commit_callbacks,
                                                   settings):
    """Events dated before a pair's current consent change nothing, in the ledger or in the batch:
    each row keeps the event that made it (the pair's last event by date, not by line)."""
    settings.CONSENT_IMPORT_BATCH_SIZE = 1000
    known = [ContactFactory(email=f"late{n}@example.org") for n in range(30)]
    for contact in known:
        record_consent(contact, newsletter, "email", effective_at=datetime(2025, 6, 1, tzinfo=ZoneInfo("UTC")))
    lines = [f"late{n}@example.org;;;;newsletter;email;withdrawn;01/03/2024 10:00;paper;x" for n in range(30)]
    for n in range(30):  # new pairs: a grant, then an older refusal, then a withdrawal older still
        lines += [f"late-new{n}@example.org;;;;newsletter;email;granted;01/05/2024 10:00;paper;x",
                  f"late-new{n}@example.org;;;;newsletter;email;refused;01/04/2024 10:00;paper;x",
                  f"late-new{n}@example.org;;;;newsletter;email;withdrawn;01/03/2024 10:00;paper;x"]
    job = _run(("\n".join([HEADER, *lines]) + "\n").encode(), django_capture_on_commit_callbacks)

    assert (job.status, job.counts["written"]) == ("done", 120)
    assert set(ConsentState.objects.filter(contact__in=known).values_list("status", flat=True)) == {Action.GRANTED}
    news = ConsentState.objects.filter(contact__email__startswith="late-new").select_related("last_event")
    assert news.count() == 30 and {(s.status, s.last_event.action) for s in news} == {(Action.GRANTED,) * 2}
    assert ledger_verify() == (150, None)
    assert_states_are_the_fold()


@pytest.mark.django_db
def test_a_contact_created_meanwhile_sends_the_batch_line_by_line(newsletter, django_capture_on_commit_callbacks,
                                                                  settings, monkeypatch):
    """The batch's insert meets a contact another writer created after the look-up: the batch is
    rolled back and written line by line, which finds that contact."""
    settings.CONSENT_IMPORT_BATCH_SIZE = 1000
    original = services.contacts_bulk_create

    def racing(*, contacts):
        ContactFactory(email=contacts[5].email)  # committed by "someone else" just before our insert
        monkeypatch.setattr(services, "contacts_bulk_create", original)
        original(contacts=contacts)

    monkeypatch.setattr(services, "contacts_bulk_create", racing)
    job = _run(_big_file(60), django_capture_on_commit_callbacks)

    assert (job.status, job.counts["written"], job.counts["rejected"]) == ("done", 120, 0)
    assert Contact.objects.count() == 60
    assert Contact.objects.get(email="bulk5@example.org").events.count() == 2
    assert ledger_verify()[1] is None
    assert_states_are_the_fold()


@pytest.mark.django_db
def test_validation_of_a_big_file_names_each_bad_line(newsletter):
    """The memoised paths still reject: an address or a number seen valid before is looked up again
    only when it is exactly the same text."""
    content = _big_file(3).decode().splitlines()
    content += ["bulk0@example;+3375000000;;;newsletter;email;granted;15/04/2024 09:00;paper;x",
                "bulk1@example.org;+33750000001;;;newsletter;email;granted;31/02/2024 09:00;paper;x"]
    result = validate_rows(("\n".join(content) + "\n").encode())
    assert [row.line for row in result.valid] == [2, 3, 4, 5, 6, 7]
    assert result.rejected[8].startswith("email:") and "phone:" in result.rejected[8]
    assert "'31/02/2024 09:00'" in result.rejected[9]  # "unreadable date" in the active language
    assert Method.PAPER in {row.method for row in result.valid}
