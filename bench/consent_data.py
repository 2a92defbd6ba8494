"""Benchmark dataset: the demo register, then CONTACTS contacts and about CONTACTS x M consent events
written with COPY, for the demo's consent-based purposes (newsletter/email, sms-promotions/sms,
phone-prospecting/phone) and opt-out ones (donor-postal-appeals/postal, customer-offers-email/email).

The ledger is a real one: every event carries its evidence digest and its hash, chained in sequence
order, computed by the project's own ``consent.ledger`` functions, and every ConsentState row is
``consent.state.apply_event`` of the last event of its contact x purpose x channel (events of one pair
are generated in time order, so that is the fold). ``--smoke`` then proves it: it runs
``manage.py verify_consent_ledger`` and compares every state row with ``consent.state.fold`` over the
events (``--verify`` does the same at full size: minutes).

How it stays fast: secondary indexes and foreign keys of the four tables loaded are dropped, the
tables truncated and filled with ``COPY ... FREEZE`` in one transaction (a writer thread sends a chunk
while the next one is computed), then the indexes and constraints are built again exactly as the
migrations made them, then ``VACUUM ANALYZE``. The tables stay normal (logged) tables.

Other benchmarks import :func:`ensure_dataset`; the full-size database (``dpodesk_bench``) is kept and
reused while it holds the same contacts x events per contact. Run alone, this script rebuilds it and
reports its speed:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk \\
        .venv/bin/python bench/consent_data.py [--contacts 1000000] [--events-per-contact 5] [--verify] [--smoke]
"""
from __future__ import annotations

import io
import queue
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import _common

# (purpose slug, channel code, share of the events): the demo's purposes that have a channel and
# are either consent-based or opt-out marketing.
PAIRS = [
    ("newsletter", "email", 0.40),
    ("sms-promotions", "sms", 0.22),
    ("phone-prospecting", "phone", 0.14),
    ("donor-postal-appeals", "postal", 0.12),
    ("customer-offers-email", "email", 0.12),
]
CATEGORY_MIX = [["member"], ["donor"], ["customer"], ["prospect"], ["member", "donor"], ["customer", "donor"],
                ["professional_contact"], ["customer"], ["prospect"]]
USER_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
               "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
               "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
               "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"]
NOTE = "Données générées (banc d'essai)"
EMAIL_DOMAIN = "bench.dpo-desk.example"
CHUNK_CONTACTS = 10_000
TABLES = ("consent_contact", "consent_contact_data_subject_categories", "consent_consentevent",
          "consent_consentstate")


def contact_email(number: int) -> str:
    return f"c{number:07d}@{EMAIL_DOMAIN}"


def contact_phone(number: int) -> str:
    return f"+336{20000000 + number:08d}"  # a valid French mobile number, unique per contact


@dataclass
class Dataset:
    database: str
    contacts: int
    events_per_contact: int
    events: int
    states: int
    seconds: float  # generation: COPY, indexes, VACUUM (migrate and demo register apart)
    setup_seconds: float  # migrate + the demo register
    reused: bool = False
    phases: dict | None = None


# --- COPY text format ---------------------------------------------------------------------


def _text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return (str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))


def _columns(model, provided: list[str]) -> tuple[list[str], str]:
    """The table's columns: those the generator writes, then every other concrete column at its
    model default (so a field added by a migration does not break the COPY)."""
    from django.db import connection

    columns = list(provided)
    constants = []
    for field in model._meta.concrete_fields:
        if field.column in provided or field.primary_key:
            continue
        if not field.has_default() and not field.null:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = datetime.now(UTC)
            elif field.blank and field.get_internal_type() in ("CharField", "TextField", "FileField", "SlugField",
                                                               "EmailField"):
                value = ""
            else:
                raise SystemExit(f"consent_data: no value for {model.__name__}.{field.name}; update the generator")
        else:
            value = field.get_db_prep_save(field.get_default(), connection) if field.has_default() else None
        columns.append(field.column)
        constants.append(_text(value))
    return columns, ("\t" + "\t".join(constants)) if constants else ""


# --- Indexes: dropped before the load, built again after --------------------------------------


def _secondary_ddl(cursor) -> tuple[list[str], list[str]]:
    """(statements dropping, statements re-creating) every index and unique/foreign-key constraint
    of the loaded tables but their primary keys, exactly as the migrations made them."""
    drop, create = [], []
    cursor.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
             FROM pg_constraint c
            WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f')
            ORDER BY c.contype DESC, c.conname""", [list(TABLES)])
    constraints = cursor.fetchall()
    for table, name, definition, kind in constraints:
        drop.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'u')""",
        [list(TABLES)])
    indexes = cursor.fetchall()
    drop += [f'DROP INDEX "{name}"' for name, _definition in indexes]
    # Build: unique constraints and indexes first (each makes its index), then foreign keys.
    create += [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
               for table, name, definition, kind in constraints if kind == "u"]
    create += [definition for _name, definition in indexes]
    create += [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
               for table, name, definition, kind in constraints if kind == "f"]
    return drop, create


# --- The generator --------------------------------------------------------------------------


class _Event:
    """What consent.ledger.event_hash and consent.state.apply_event read from an event."""

    __slots__ = (
        "action",
        "channel_id",
        "collection_form",
        "contact_id",
        "effective_at",
        "evidence_digest",
        "idempotency_key",
        "method",
        "notice",
        "notice_id",
        "pk",
        "purpose_id",
        "purpose_version",
        "recorded_at",
        "recorded_by_id",
        "sequence",
    )


class _Notice:
    __slots__ = ("pk", "sha256")

    def __init__(self, pk: int, sha256: str) -> None:
        self.pk, self.sha256 = pk, sha256


def _register():
    """The demo register's rows the generator refers to, and the notices each purpose shows."""
    from django.contrib.auth import get_user_model

    from consent import services
    from registry.models import Channel, DataSubjectCategory, Purpose

    purposes = {p.slug: p for p in Purpose.objects.filter(slug__in=[slug for slug, _c, _w in PAIRS])}
    channels = {c.code: c for c in Channel.objects.all()}
    missing = [slug for slug, _c, _w in PAIRS if slug not in purposes]
    if missing:
        raise SystemExit(f"consent_data: the demo register has no purpose {', '.join(missing)}")
    categories = {c.code: c.pk for c in DataSubjectCategory.objects.all()}
    notices = {}
    for slug, _channel, _weight in PAIRS:
        for language in ("fr", "en"):
            notice = services.notice_for(text=services.purpose_notice_text(purpose=purposes[slug], language=language),
                                         language=language)
            notices[(purposes[slug].pk, language)] = _Notice(notice.pk, notice.sha256)
    dpo = get_user_model().objects.get(username="dpo")
    return purposes, channels, categories, notices, dpo.pk


def _writer(connection, statements: dict[str, str], chunks: queue.Queue, failure: list) -> None:
    """Send each chunk's COPYs while the generator computes the next one."""
    try:
        with connection.cursor() as cursor:
            while True:
                chunk = chunks.get()
                if chunk is None:
                    return
                for table, payload in chunk:
                    with cursor.copy(statements[table]) as copy:
                        copy.write(payload)
    except BaseException as exc:  # noqa: BLE001 - handed to the generator thread, which raises it
        failure.append(exc)
        while chunks.get() is not None:  # let the producer finish
            pass


def generate(*, database: str, contacts: int, events_per_contact: int, seed: int = 2026,
             verbose: bool = True) -> dict:
    """Fill the (migrated, demo-seeded, contact-less) scratch database. Returns counts and phase times."""
    from django.utils import timezone as dj_timezone

    from consent import ledger
    from consent.demo import CITIES, FIRST_NAMES, LAST_NAMES, SOURCES  # the demo's names and places
    from consent.models import ConsentEvent, ConsentState, Contact, SuppressionEntry
    from consent.normalise import suppression_digest
    from consent.state import apply_event

    purposes, channels, categories, notices, dpo_id = _register()
    pairs = []  # (purpose, channel, consent_based, validity months)
    for slug, code, weight in PAIRS:
        purpose = purposes[slug]
        pairs.append((purpose, channels[code], purpose.legal_basis == "consent", purpose.consent_validity_months,
                      weight))
    cumulative, total = [], 0.0
    for pair in pairs:
        total += pair[4]
        cumulative.append(total)
    email_pair_indexes = {i for i, p in enumerate(pairs) if p[1].code == "email"}
    phone_pair_indexes = {i for i, p in enumerate(pairs) if p[1].code in ("sms", "phone")}

    contact_cols, contact_tail = _columns(Contact, [
        "id", "email", "phone", "first_name", "last_name", "address_line1", "address_line2", "postal_code", "city",
        "country", "language", "external_ref", "source", "collected_at", "restricted", "anonymised_at",
        "created_at", "updated_at"])
    event_cols, event_tail = _columns(ConsentEvent, [
        "id", "sequence", "contact_id", "purpose_id", "purpose_version", "channel_id", "action", "method",
        "effective_at", "recorded_at", "notice_id", "collection_form", "recorded_by_id", "evidence_ip",
        "evidence_user_agent", "evidence_note", "evidence_document", "evidence_digest", "idempotency_key",
        "previous_hash", "hash"])
    state_cols, state_tail = _columns(ConsentState, [
        "id", "contact_id", "purpose_id", "channel_id", "status", "purpose_version", "since", "expires_at",
        "last_event_id", "reachable"])
    statements = {
        "consent_contact": f"COPY consent_contact ({', '.join(contact_cols)}) FROM STDIN WITH (FREEZE)",
        "consent_contact_data_subject_categories": "COPY consent_contact_data_subject_categories "
                                                   "(id, contact_id, datasubjectcategory_id) FROM STDIN WITH (FREEZE)",
        "consent_consentevent": f"COPY consent_consentevent ({', '.join(event_cols)}) FROM STDIN WITH (FREEZE)",
        "consent_consentstate": f"COPY consent_consentstate ({', '.join(state_cols)}) FROM STDIN WITH (FREEZE)",
    }

    # Evidence digests (an HMAC each) depend on the evidence only: a few thousand distinct ones.
    digest_cache: dict[tuple, str] = {}

    def digest_for(ip, user_agent, note):
        key = (ip, user_agent, note)
        value = digest_cache.get(key)
        if value is None:
            value = digest_cache[key] = ledger.evidence_digest(ip=ip, user_agent=user_agent, note=note,
                                                               document_sha256="")
        return value

    rng = random.Random(seed)
    now = dj_timezone.now().astimezone(UTC).replace(microsecond=0)
    now_us = int(now.timestamp()) * 1_000_000
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    day_us = 86_400 * 1_000_000
    category_ids = [[categories[code] for code in mix] for mix in CATEGORY_MIX]
    event_hash = ledger.event_hash
    previous = ledger.GENESIS_HASH
    sequence = 0
    state_id = 0
    link_id = 0
    events_total = 0
    suppressed: list[tuple[str, str]] = []  # (channel code, address)
    phases: dict[str, float] = {}

    import psycopg  # noqa: F401  (the COPY connection)

    started = time.perf_counter()
    connection = _common.psycopg_connect(database)
    with connection.cursor() as cursor:
        drop, create = _secondary_ddl(cursor)
        for statement in drop:
            cursor.execute(statement)
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    chunks: queue.Queue = queue.Queue(maxsize=2)
    failure: list = []
    writer = threading.Thread(target=_writer, args=(connection, statements, chunks, failure), daemon=True)
    writer.start()

    ev = _Event()
    ev.idempotency_key = None
    ev.notice = None
    for chunk_start in range(1, contacts + 1, CHUNK_CONTACTS):
        if failure:
            break
        contact_rows = io.StringIO()
        link_rows = io.StringIO()
        event_rows = io.StringIO()
        state_rows = io.StringIO()
        for number in range(chunk_start, min(contacts, chunk_start + CHUNK_CONTACTS - 1) + 1):
            r = rng.random
            has_email = r() >= 0.02
            has_phone = r() >= 0.06
            email = contact_email(number) if has_email else ""
            phone = contact_phone(number) if has_phone else ""
            language = "en" if r() < 0.1 else "fr"
            postal_code, city = CITIES[int(r() * len(CITIES))]
            collected_us = now_us - int((30 + r() * 970) * day_us)
            collected_at = (epoch + timedelta(microseconds=collected_us)).isoformat()
            restricted = "t" if r() < 0.003 else "f"
            contact_rows.write(
                f"{number}\t{email}\t{phone}\t{FIRST_NAMES[int(r() * len(FIRST_NAMES))]}\t"
                f"{LAST_NAMES[int(r() * len(LAST_NAMES))]}\t"
                f"{1 + int(r() * 120)} rue de la République\t\t{postal_code}\t{city}\tFR\t{language}\t"
                f"CRM-{number:07d}\t{SOURCES[int(r() * len(SOURCES))]}\t{collected_at}\t{restricted}\t\\N\t"
                f"{collected_at}\t{collected_at}{contact_tail}\n")
            for category_id in category_ids[int(r() * len(category_ids))]:
                link_id += 1
                link_rows.write(f"{link_id}\t{number}\t{category_id}\n")
            if has_email and r() < 0.002:
                suppressed.append(("email", email))
            if has_phone and r() < 0.002:
                suppressed.append(("sms", phone))

            allowed = [i for i in range(len(pairs))
                       if (has_email or i not in email_pair_indexes) and (has_phone or i not in phone_pair_indexes)]
            count = max(1, events_per_contact + int(r() * 5) - 2) if events_per_contact >= 3 else events_per_contact
            span = now_us - 3_600_000_000 - collected_us
            status: dict[int, str] = {}
            last: dict[int, tuple] = {}
            for index in range(count):
                pick = r() * total
                pair_index = 0
                while cumulative[pair_index] < pick:
                    pair_index += 1
                if pair_index not in allowed:
                    pair_index = allowed[int(r() * len(allowed))]
                purpose, channel, consent_based, validity, _w = pairs[pair_index]
                current = status.get(pair_index)
                if consent_based:
                    if current is None:
                        roll = r()
                        if channel.code == "email" and roll < 0.15:
                            action, method = "pending", "web_form"
                        elif roll < 0.87:
                            action = "granted"
                            method = "phone" if channel.code == "phone" else ("web_form", "staff_form", "paper",
                                                                               "event", "api")[int(r() * 5)]
                        else:
                            action, method = "refused", ("web_form", "staff_form", "paper")[int(r() * 3)]
                    elif current == "pending":
                        action, method = "granted", "double_opt_in"
                    elif current == "granted":
                        if r() < 0.6:
                            action, method = "withdrawn", ("preference_centre", "unsubscribe")[int(r() * 2)]
                        else:
                            action, method = "granted", "web_form"  # renewed
                    else:  # refused, withdrawn: given (again)
                        action, method = "granted", ("web_form", "staff_form", "api")[int(r() * 3)]
                else:
                    if current == "objected":
                        action, method = "objection_lifted", "preference_centre"
                    else:
                        action, method = "objected", ("unsubscribe", "paper", "preference_centre", "staff_form")[
                            int(r() * 4)]
                status[pair_index] = action

                if method in ("web_form", "double_opt_in", "preference_centre", "unsubscribe", "api"):
                    ip = f"203.0.{int(r() * 4) + 113}.{1 + int(r() * 250)}"
                    user_agent = USER_AGENTS[int(r() * 4)]
                    note = ""
                else:
                    ip, user_agent, note = None, "", NOTE
                sequence += 1
                effective_us = collected_us + int(span * (index + r() * 0.9) / count)
                effective_at = epoch + timedelta(microseconds=effective_us)
                notice = notices[(purpose.pk, language)] if action in ("pending", "granted", "refused") else None
                ev.pk = ev.sequence = sequence
                ev.contact_id = number
                ev.purpose_id = purpose.pk
                ev.purpose_version = purpose.version
                ev.channel_id = channel.pk
                ev.action = action
                ev.method = method
                ev.effective_at = ev.recorded_at = effective_at
                ev.notice = notice
                ev.notice_id = notice.pk if notice else None
                ev.collection_form = "bench-signup" if method == "web_form" else ""
                ev.recorded_by_id = dpo_id if method == "staff_form" else None
                ev.evidence_digest = digest_for(ip, user_agent, note)
                hashed = event_hash(ev, previous)
                stamp = effective_at.isoformat()
                event_rows.write(
                    f"{sequence}\t{sequence}\t{number}\t{purpose.pk}\t{purpose.version}\t{channel.pk}\t{action}\t"
                    f"{method}\t{stamp}\t{stamp}\t{ev.notice_id if notice else chr(92) + 'N'}\t{ev.collection_form}\t"
                    f"{ev.recorded_by_id or chr(92) + 'N'}\t{ip or chr(92) + 'N'}\t{user_agent}\t{note}\t\t"
                    f"{ev.evidence_digest}\t\\N\t{previous}\t{hashed}{event_tail}\n")
                previous = hashed
                last[pair_index] = (sequence, effective_at, action, purpose.version)
            events_total += count
            for pair_index, (event_id, effective_at, action, version) in last.items():
                purpose, channel, _consent_based, validity, _w = pairs[pair_index]
                # consent.selectors.contact_reachable_on: every contact has a postal address here.
                reachable = restricted == "f" and (has_email if channel.code == "email" else
                                                   has_phone if channel.code in ("sms", "phone") else True)
                ev.pk, ev.effective_at, ev.action, ev.purpose_version = event_id, effective_at, action, version
                value = apply_event(None, ev, validity_months=validity)  # the fold: events of a pair are in time order
                state_id += 1
                state_rows.write(
                    f"{state_id}\t{number}\t{purpose.pk}\t{channel.pk}\t{value.status}\t{value.purpose_version}\t"
                    f"{value.since.isoformat()}\t{value.expires_at.isoformat() if value.expires_at else chr(92) + 'N'}"
                    f"\t{value.last_event_id}\t{'t' if reachable else 'f'}{state_tail}\n")
        chunks.put([("consent_contact", contact_rows.getvalue()),
                    ("consent_contact_data_subject_categories", link_rows.getvalue()),
                    ("consent_consentevent", event_rows.getvalue()),
                    ("consent_consentstate", state_rows.getvalue())])
        done = min(contacts, chunk_start + CHUNK_CONTACTS - 1)
        if verbose and (done % 100_000 == 0 or done == contacts):
            elapsed = time.perf_counter() - started
            print(f"  {done:>9,} contacts, {events_total:>10,} events  {elapsed:7.1f} s  "
                  f"({events_total / elapsed:,.0f} events/s)", flush=True)
    chunks.put(None)
    writer.join()
    if failure:
        connection.rollback()
        raise failure[0]
    connection.commit()
    phases["copy"] = time.perf_counter() - started

    mark = time.perf_counter()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for statement in create:
            cursor.execute(statement)
        for table in ("consent_contact", "consent_contact_data_subject_categories", "consent_consentevent",
                      "consent_consentstate"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT coalesce(max(id), 1) FROM {table}))")
    phases["indexes"] = time.perf_counter() - mark

    mark = time.perf_counter()
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    connection.close()
    phases["vacuum"] = time.perf_counter() - mark

    # A few addresses on the suppression lists (keyed digests, as the app stores them).
    mark = time.perf_counter()
    SuppressionEntry.objects.bulk_create(
        [SuppressionEntry(channel=channels[code], digest=suppression_digest(code, address), source="opposition_list")
         for code, address in suppressed], batch_size=2000, ignore_conflicts=True)
    from django.db import connection as django_connection

    with django_connection.cursor() as cursor:  # without statistics the planner guesses an empty table
        cursor.execute("ANALYZE consent_suppressionentry")
    phases["suppression"] = time.perf_counter() - mark
    phases["total"] = time.perf_counter() - started
    return {"events": events_total, "states": state_id, "links": link_id, "suppressed": len(suppressed),
            "phases": phases}


# --- Dataset management ----------------------------------------------------------------------

MARKER = "bench_dataset"


def _read_marker(database: str):
    with _common.psycopg_connect(database) as connection:
        exists = connection.execute("SELECT to_regclass(%s)", [MARKER]).fetchone()[0]
        if not exists:
            return None
        return connection.execute(
            f"SELECT contacts, events_per_contact, events, states, seconds, setup_seconds FROM {MARKER}").fetchone()


def _migrate_if_needed(*, verbose: bool) -> None:
    """A kept dataset follows the app's schema: migrations added since it was built are applied."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        if verbose:
            names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _backwards in plan)
            print(f"dataset: applied {names} ({time.perf_counter() - started:.1f} s)", flush=True)


def ensure_dataset(*, database: str, contacts: int, events_per_contact: int, regenerate: bool = False,
                   verbose: bool = True) -> Dataset:
    """The scratch database with this dataset: reused when it already holds it, else built."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if not regenerate and _common.database_exists(database):
        marker = _read_marker(database)
        if marker and marker[0] == contacts and marker[1] == events_per_contact:
            if verbose:
                print(f"dataset: reusing {database} ({marker[0]:,} contacts, {marker[2]:,} events)", flush=True)
            _migrate_if_needed(verbose=verbose)
            return Dataset(database, marker[0], marker[1], marker[2], marker[3], marker[4], marker[5], reused=True)
    _common.drop_database(database)
    _common.create_database(database)
    if verbose:
        print(f"dataset: building {database}: {contacts:,} contacts x ~{events_per_contact} events", flush=True)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    from registry.demo import seed_demo

    settings.DEMO_CONTACTS = 0  # the register and the logins; contacts come from the generator
    seed_demo()
    setup_seconds = time.perf_counter() - started
    result = generate(database=database, contacts=contacts, events_per_contact=events_per_contact, verbose=verbose)
    dataset = Dataset(database, contacts, events_per_contact, result["events"], result["states"],
                      result["phases"]["total"], setup_seconds, phases=result["phases"])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {MARKER} (contacts bigint, events_per_contact int, events bigint, states bigint,"
                       " seconds double precision, setup_seconds double precision, generated_at timestamptz)")
        cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s, %s, %s, %s, %s, now())",
                       [contacts, events_per_contact, dataset.events, dataset.states, dataset.seconds, setup_seconds])
    if verbose:
        print(f"dataset: {contacts:,} contacts, {dataset.events:,} events, {dataset.states:,} current-consent rows "
              f"in {dataset.seconds:.1f} s (+ {setup_seconds:.1f} s migrate and demo register)", flush=True)
    return dataset


def verify(*, generated_events: int) -> tuple[int, int, list]:
    """The checks the app itself would run: the ledger's hash chain (verify_consent_ledger, every event,
    the app's own appended ones included) and every ConsentState row equal to consent.state.fold over
    its events, with the right ``reachable`` flag. A row the generator wrote (its last event is a generated one) must match, or this
    exits; rows the app wrote since (the writing benchmarks) that do not match are returned as
    findings. Returns (events verified, rows checked, [(row, app's value, fold's value)])."""
    import re

    from django.core.management import call_command

    from consent.models import ConsentEvent, ConsentState, Contact
    from consent.selectors import contact_reachable_on
    from consent.state import fold
    from registry.models import Channel, Purpose

    out = io.StringIO()
    call_command("verify_consent_ledger", stdout=out)  # raises CommandError on the first broken event
    checked_events = int(re.search(r"verified: (\d+)", out.getvalue()).group(1))
    validity = dict(Purpose.objects.values_list("pk", "consent_validity_months"))
    codes = dict(Channel.objects.values_list("pk", "code"))
    states = ConsentState.objects.order_by("contact_id", "purpose_id", "channel_id")
    checked = 0
    batch: list[ConsentState] = []
    app_mismatches: list = []

    def check(batch):
        ids = {s.contact_id for s in batch}
        grouped: dict[tuple, list] = {}
        for event in ConsentEvent.objects.filter(contact_id__in=ids).only(
                "id", "sequence", "contact_id", "purpose_id", "channel_id", "action", "effective_at", "purpose_version"):
            grouped.setdefault((event.contact_id, event.purpose_id, event.channel_id), []).append(event)
        people = Contact.objects.in_bulk(ids)
        for state in batch:
            if state.reachable != contact_reachable_on(contact=people[state.contact_id],
                                                       channel_code=codes[state.channel_id]):
                raise SystemExit(f"consent_data: state {state.pk} reachable={state.reachable} is wrong")
            value = fold(grouped.pop((state.contact_id, state.purpose_id, state.channel_id), []),
                         validity_months=validity[state.purpose_id])
            got = (state.status, state.purpose_version, state.since, state.expires_at, state.last_event_id)
            if value is None or got != (value.status, value.purpose_version, value.since, value.expires_at,
                                        value.last_event_id):
                if state.last_event_id <= generated_events:
                    raise SystemExit(f"consent_data: state {state.pk} {got} is not the fold of its events ({value})")
                app_mismatches.append((state.pk, got, value))
        if grouped:
            raise SystemExit(f"consent_data: events without a current-consent row: {list(grouped)[:3]}")

    for state in states.iterator(chunk_size=5000):
        if batch and state.contact_id != batch[-1].contact_id and len(batch) >= 5000:
            check(batch)
            checked += len(batch)
            batch = []
        batch.append(state)
    if batch:
        check(batch)
        checked += len(batch)
    return checked_events, checked, app_mismatches


def verify_counts() -> list[tuple[str, str, int]]:
    """Every consent-based purpose x channel: the audience count the app answers (PostgreSQL: the
    deltas kept by migration consent 0009's triggers) equals the count of the current-consent rows
    (the rule, selectors._current_grants), or this exits. Returns (purpose, channel, count)."""
    from django.utils import timezone

    from consent import selectors
    from registry.models import LegalBasis, Purpose

    now = timezone.now()
    counts = []
    for purpose in Purpose.objects.filter(legal_basis=LegalBasis.CONSENT, status=Purpose.Status.ACTIVE):
        for channel in purpose.channels.all():
            counted = selectors.audience_count(purpose=purpose, channel=channel, now=now)
            rows = selectors._current_grants(purpose=purpose, channel=channel, now=now).count()
            if counted != rows:
                raise SystemExit(f"consent_data: audience count {purpose.slug}/{channel.code} is {counted}, "
                                 f"the rows say {rows}")
            counts.append((purpose.slug, channel.code, counted))
    return counts


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="at full size too: verify the chain and the fold")
    parser.add_argument("--reuse", action="store_true", help="keep the dataset when the database already holds it")
    args = parser.parse_args()
    args.regenerate = not args.reuse
    with _common.start(args) as bench:
        dataset = bench.dataset
        if bench.smoke or args.verify:
            started = time.perf_counter()
            events, states, app_mismatches = verify(generated_events=dataset.events)
            print(f"verified: ledger chain of {events:,} events intact (verify_consent_ledger); {states:,} "
                  f"current-consent rows checked against the fold of their events, every generated one equal "
                  f"({time.perf_counter() - started:.1f} s)")
            counts = verify_counts()
            print(f"verified: the audience counts of {len(counts)} purpose x channel pairs equal their rows' counts "
                  f"({', '.join(f'{slug}/{code} {n:,}' for slug, code, n in counts)})")
            if app_mismatches:
                pk, got, value = app_mismatches[0]
                print(f"FINDING: {len(app_mismatches)} row(s) written by the app since the generation differ from "
                      f"the fold of their events, e.g. state {pk}: {got} vs fold {value}")
        phases = dataset.phases or {}
        print()
        print(f"consent dataset, {dataset.contacts:,} contacts, {dataset.events:,} events, {dataset.states:,} "
              f"current-consent rows; {_common.machine()}")
        if phases:
            rows = [[name, f"{seconds:.1f}"] for name, seconds in phases.items()]
            print(_common.table(rows, ["phase", "seconds"]))
            copy_rate = (dataset.events + dataset.states + 2 * dataset.contacts) / phases["copy"]
            print(f"COPY phase: {dataset.events / phases['copy']:,.0f} events/s ({copy_rate:,.0f} rows/s, all tables); "
                  f"whole generator {dataset.seconds / 60:.1f} min (target <= 20 min), "
                  f"+ {dataset.setup_seconds:.1f} s migrate and demo register")
        extra = " ".join(flag for flag, on in (("--reuse", args.reuse), ("--verify", args.verify and not bench.smoke))
                         if on)
        print("reproduce: " + _common.reproduce("consent_data.py", bench, extra))


if __name__ == "__main__":
    main()
