"""The hash chain of the consent ledger.

Each event's hash is SHA-256 over a domain tag, the previous event's hash and a canonical
(sorted-key, compact) JSON of the event's fields. Personal evidence enters only through its
keyed digest, so erasure can clear the evidence and the chain still verifies.
"""
from __future__ import annotations

import functools
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from django.db import connection

from .dbvalues import db_values
from .normalise import keyed_digest
from .state import StateValue

DOMAIN_TAG = "dpodesk/consent-event/v1"
GENESIS_HASH = "0" * 64
# Any constant: the key of the PostgreSQL advisory lock that serialises appends.
APPEND_LOCK_KEY = 0x44504F4C  # "DPOL"


def _instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


# json.dumps with these options builds an encoder per call (~2 µs of an event's ~8 of encoding).
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(data: dict) -> str:
    """Sorted keys, no spaces, UTF-8 as is: what json.dumps(data, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False) returns."""
    return _CANONICAL_ENCODER.encode(data)


def notice_digest(*, text: str, language: str) -> str:
    """The key of a stored notice: SHA-256 of its language and full text. The event's hash covers
    it, and the verifier recomputes it, so the text a contact saw cannot change unnoticed."""
    return hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()


def evidence_digest(*, ip: str | None, user_agent: str, note: str, document_sha256: str) -> str:
    return keyed_digest(canonical({"ip": ip or "", "user_agent": user_agent, "note": note,
                                   "document": document_sha256}))


def event_payload(event) -> dict:
    """What the hash covers: every field of the event but its evidence (covered by its digest)."""
    return {
        "sequence": event.sequence,
        "contact": event.contact_id,
        "purpose": event.purpose_id,
        "purpose_version": event.purpose_version,
        "channel": event.channel_id,
        "action": event.action,
        "method": event.method,
        "effective_at": _instant(event.effective_at),
        "recorded_at": _instant(event.recorded_at),
        "notice": event.notice.sha256 if event.notice_id else "",
        "collection_form": event.collection_form,
        "recorded_by": event.recorded_by_id,
        "evidence": event.evidence_digest,
        "idempotency_key": event.idempotency_key or "",
    }


def event_hash(event, previous_hash: str) -> str:
    material = f"{DOMAIN_TAG}\n{previous_hash}\n{canonical(event_payload(event))}"
    return hashlib.sha256(material.encode()).hexdigest()


def lock_for_append() -> None:
    """Serialise appends until the transaction ends, so two writers never fork the chain.
    SQLite (the embedded default) already serialises writers. Whatever writes current-consent
    rows takes this lock first, before any of those rows: one order, so that two writers never
    wait on each other (an append holds it and then writes its pair's row)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


@contextmanager
def prepared_cursor():
    """A cursor for the few statements every API write runs. On PostgreSQL it binds parameters
    server-side and prepares each statement, so PostgreSQL plans it once per connection (planning
    costs more than running these index look-ups); Django's wrapper still applies (its errors, the
    query log, execute wrappers). Behind a pooler in transaction mode, prepared statements need
    PgBouncer >= 1.21. Elsewhere: the usual cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's automatic preparing off (None also refuses prepare=True). Its
        # cursors bind client-side and never prepare, so this enables only the explicit ones here.
        raw.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors:
        cursor = connection._prepare_cursor(_preparing_cursor_class()(raw))
    with cursor:
        yield cursor


@functools.cache
def _preparing_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            result = super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)
            if self._query is None:  # a prepared run keeps no text: give Django's query log one
                self._query = _LoggedQuery(query.encode())
            return result

    return PreparingCursor


@dataclass(frozen=True)
class _LoggedQuery:
    query: bytes


@dataclass(frozen=True)
class Tail:
    """What an unlocked append reads in one query (PostgreSQL): the ledger's last event, the pair's
    current consent, whether the purpose uses the channel, the first event of the idempotency key,
    the id of the notice by its hash (None when absent or not asked) and, for the check the API
    answers with, the channel's suppression entries (source, created_at) of the contact's address
    (None when not asked for). ``asked``: what it was read for (contact, purpose, channel,
    idempotency key, author, address digest), so that a read made ahead (``tail_columns`` in the
    API's first query) is used only for the append it fits."""

    sequence: int
    hash: str
    state: StateValue | None
    channel_allowed: bool
    first_event_id: int | None
    notice_id: int | None
    suppression: tuple[tuple[str, datetime], ...] | None = None
    asked: tuple | None = None


def _sql_names():
    from registry.models import Purpose

    from .models import ConsentEvent, ConsentState, Notice

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def col(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    return table, col, ConsentEvent, ConsentState, Notice, Purpose.channels.through


TAIL_WIDTH = 12  # the columns of tail_columns


def tail_columns(contact: str, purpose: str, channel: str) -> tuple[str, str]:
    """(select list, joins) that read a Tail for the contact, purpose and channel given as SQL
    expressions (columns of the query they join). The select list's parameters, in this order, are
    ``tail_params``'s; the joins have none."""
    from .models import SuppressionEntry as Entry

    table, col, Event, State, Notice, PurposeChannel = _sql_names()
    entries = (f"FROM {table(Entry)} x WHERE x.{col(Entry, 'channel')} = {channel} AND x.{col(Entry, 'digest')} = %s "
               f"ORDER BY x.id")
    seq, key, author = col(Event, "sequence"), col(Event, "idempotency_key"), col(Event, "recorded_by")
    state_columns = ", ".join(f"s.{col(State, name)}" for name in
                              ("status", "purpose_version", "since", "expires_at", "last_event"))
    select = f"""t.{seq}, t.{col(Event, "hash")}, {state_columns},
               EXISTS (SELECT 1 FROM {table(PurposeChannel)} pc WHERE pc.{col(PurposeChannel, "purpose")} = {purpose}
                                                             AND pc.{col(PurposeChannel, "channel")} = {channel}),
               (SELECT e.id FROM {table(Event)} e WHERE e.{key} = %s AND e.{author} IS NOT DISTINCT FROM %s
                 ORDER BY e.{seq} LIMIT 1),
               (SELECT n.id FROM {table(Notice)} n WHERE n.{col(Notice, "sha256")} = %s),
               ARRAY(SELECT x.{col(Entry, "source")} {entries}), ARRAY(SELECT x.{col(Entry, "created_at")} {entries})"""
    joins = f"""
          LEFT JOIN LATERAL (SELECT e.{seq}, e.{col(Event, "hash")} FROM {table(Event)} e
                              ORDER BY e.{seq} DESC LIMIT 1) t ON true
          LEFT JOIN {table(State)} s ON s.{col(State, "contact")} = {contact} AND s.{col(State, "purpose")} = {purpose}
                                    AND s.{col(State, "channel")} = {channel}"""
    return select, joins


def tail_params(*, idempotency_key: str | None, recorded_by_id: int | None, notice_sha256: str | None,
                address_digest: str | None) -> list:
    """The parameters of ``tail_columns``'s select list (its joins have none of their own)."""
    return [idempotency_key, recorded_by_id, notice_sha256, address_digest, address_digest]


def tail_from_row(values, *, asked: tuple, address_digest: str | None) -> Tail:
    """The Tail of ``tail_columns``'s TAIL_WIDTH values."""
    (sequence, last_hash, status, purpose_version, since, expires_at, last_event_id, allowed, first_event_id,
     notice_id, sources, created) = values
    state = None if status is None else StateValue(status, purpose_version, since, expires_at, last_event_id)
    suppression = tuple(zip(sources, created)) if address_digest is not None else None
    return Tail(sequence or 0, last_hash or GENESIS_HASH, state, bool(allowed), first_event_id, notice_id,
                suppression, asked)


@functools.cache
def _read_tail_sql() -> str:
    # The pair's ids as columns of one row, so that tail_params are the only other parameters.
    select, joins = tail_columns("pair.contact", "pair.purpose", "pair.channel")
    return (f"SELECT {select}\n          FROM (SELECT %s::bigint AS contact, %s::bigint AS purpose, "
            f"%s::bigint AS channel) pair{joins}")


def read_tail(*, contact_id: int, purpose_id: int, channel_id: int, idempotency_key: str | None,
              recorded_by_id: int | None, notice_sha256: str | None, address_digest: str | None = None) -> Tail:
    """PostgreSQL: the Tail for appending one event of this contact x purpose x channel; with the
    suppression entries of ``address_digest`` (selectors.stored_address_digest) when given."""
    params = tail_params(idempotency_key=idempotency_key, recorded_by_id=recorded_by_id, notice_sha256=notice_sha256,
                         address_digest=address_digest) + [contact_id, purpose_id, channel_id]
    with prepared_cursor() as cursor:
        cursor.execute(_read_tail_sql(), params)
        row = cursor.fetchone()
    if notice_sha256 is not None and row[9] is not None:
        remember_notice(sha256=notice_sha256, notice_id=row[9])
    return tail_from_row(row, asked=(contact_id, purpose_id, channel_id, idempotency_key, recorded_by_id,
                                     address_digest), address_digest=address_digest)


# Notice ids by hash, as this process last saw them: a hint for the unlocked and direct appends,
# which their statements check. A notice never changes once committed, but a hint may name a row
# of a transaction rolled back since, or of a test database emptied since.
_NOTICE_IDS: dict[str, int] = {}
_NOTICE_IDS_MAX = 4096


def remember_notice(*, sha256: str, notice_id: int) -> None:
    if len(_NOTICE_IDS) >= _NOTICE_IDS_MAX:
        _NOTICE_IDS.clear()
    _NOTICE_IDS[sha256] = notice_id


def known_notice_id(sha256: str) -> int | None:
    return _NOTICE_IDS.get(sha256)


def forget_notice(sha256: str) -> None:
    _NOTICE_IDS.pop(sha256, None)


@functools.cache
def _append_one_sql(with_state: bool) -> str:
    from registry.models import Purpose

    table, col, Event, State, Notice, _PurposeChannel = _sql_names()
    event_fields = [field for field in Event._meta.concrete_fields if not field.primary_key]

    def values(fields) -> str:  # typed, as the client binds the parameters as literals
        return ", ".join(f"%s::{field.db_type(connection)}" for field in fields)

    # The notice's id may come from _NOTICE_IDS: written only if that notice is still the one hashed.
    # The consent's expiry was computed from the purpose's validity as the caller read it: written
    # only if it still is the purpose's (services.consent_validity_apply).
    sql = f"""
        WITH appended AS (
            INSERT INTO {table(Event)} ({", ".join(col(Event, f.name) for f in event_fields)})
            SELECT {values(event_fields)} FROM (SELECT pg_advisory_xact_lock(%s)) serialised
             WHERE (%s::bigint IS NULL OR EXISTS (SELECT 1 FROM {table(Notice)} n
                                                  WHERE n.id = %s::bigint AND n.{col(Notice, "sha256")} = %s))
               AND EXISTS (SELECT 1 FROM {table(Purpose)} p WHERE p.id = %s::bigint
                              AND p.{col(Purpose, "consent_validity_months")} IS NOT DISTINCT FROM %s::integer)
            RETURNING id)"""
    if not with_state:
        return sql + "\n        SELECT appended.id, false FROM appended"
    state_fields = [field for field in State._meta.concrete_fields if field.name not in ("id", "last_event")]
    columns = [col(State, f.name) for f in state_fields] + [col(State, "last_event")]
    state_upsert = _state_upsert_sql(columns, f"SELECT {values(state_fields)}, appended.id FROM appended")
    return sql + f""",
        state AS ({state_upsert})
        SELECT appended.id, EXISTS (SELECT 1 FROM state) FROM appended"""


def _state_upsert_sql(columns: list[str], select: str) -> str:
    """Write the pair's current consent, the ``columns`` (quoted) of ConsentState from ``select``,
    by apply_event's rule: an event dated before the current consent changes nothing. Evaluated on
    the row as it is when written, so a newer event written meanwhile is never overwritten."""
    table, col, _Event, State, _Notice, _PurposeChannel = _sql_names()
    unique = ", ".join(col(State, name) for name in ("contact", "purpose", "channel"))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in unique)
    return f"""
            INSERT INTO {table(State)} ({", ".join(columns)})
            {select}
            ON CONFLICT ({unique}) DO UPDATE SET {updates}
             WHERE {table(State)}.{col(State, "since")} <= EXCLUDED.{col(State, "since")}
            RETURNING 1"""


def append_one(event, state=None, *, validity_months: int | None) -> bool | None:
    """PostgreSQL: insert ``event`` (its sequence and hashes set) and upsert the pair's current
    consent ``state`` (an unsaved ConsentState, or None to leave it) in ONE statement, under the
    append lock. Sets ``event.pk``; returns whether the state row was written, or None (nothing
    written) when the event's notice id is not that of its notice (a stale hint) or the purpose's
    consent validity is not ``validity_months`` any more (the one ``state`` was computed with). An
    IntegrityError means another writer appended this sequence (or this idempotency key) first."""
    from .models import ConsentEvent, ConsentState

    params = db_values(event, _fields(ConsentEvent, exclude=("id",)))
    notice_sha = event.notice.sha256 if event.notice_id else None
    params += [APPEND_LOCK_KEY, event.notice_id, event.notice_id, notice_sha, event.purpose_id, validity_months]
    if state is not None:
        params += db_values(state, _fields(ConsentState, exclude=("id", "last_event")))
    with prepared_cursor() as cursor:
        cursor.execute(_append_one_sql(state is not None), params)
        row = cursor.fetchone()
    if row is None:
        return None
    event.pk, state_written = row
    event._state.adding = False
    return state_written


@functools.cache
def _fields(model, *, exclude: tuple[str, ...]) -> tuple:
    return tuple(field for field in model._meta.concrete_fields if field.name not in exclude)


# --- The direct append: look-up, rules' preconditions, chain and write in one statement ----------


def payload_parts(event) -> tuple[str, str]:
    """The canonical payload of ``event`` around what only the database knows when it is sent: its
    contact's id and its sequence. ``event_hash`` hashes ``A + contact + B + sequence + "}"``;
    ``direct_hash_sql`` computes the same in SQL. (Keys are sorted and strings escape their quotes,
    so ``,"contact":0,"effective_at":`` and the final ``,"sequence":0}`` occur once.)"""
    payload = event_payload(event)
    payload["contact"], payload["sequence"] = 0, 0
    text = canonical(payload)
    head, contact_marker, rest = text.partition(',"contact":0,"effective_at":')
    middle, sequence_marker, end = rest.rpartition(',"sequence":0}')
    if not (contact_marker and sequence_marker) or end:
        raise ValueError("unexpected canonical payload")
    return head + ',"contact":', ',"effective_at":' + middle + ',"sequence":'


def with_notice(part_b: str, notice_sha256: str) -> str:
    """``payload_parts``' second part with another notice (its hash, or "" for none): the only field
    that differs between the events of a request for contacts of different languages."""
    head, marker, rest = part_b.partition(',"notice":"')
    _old, quote, tail = rest.partition('"')
    if not (marker and quote):
        raise ValueError("unexpected canonical payload")
    return head + marker + notice_sha256 + quote + tail


def direct_hash_sql(*, previous: str, contact: str, part_b: str, sequence: str) -> str:
    """SQL of event_hash for an event whose payload is ``payload_parts`` (``%(part_a)s``, then
    ``part_b``), given SQL expressions of the previous hash, the contact's id and the sequence: the
    same bytes as event_hash, UTF-8 of tag, previous hash and payload."""
    return (f"encode(sha256(convert_to(concat('{DOMAIN_TAG}', E'\\n', {previous}, E'\\n', %(part_a)s::text, "
            f"{contact}, {part_b}, {sequence}, '}}'), 'UTF8')), 'hex')")


@dataclass(frozen=True)
class DirectAppended:
    """What ``append_direct`` returns: the event's id, sequence, hashes and notice when it was
    written (None: a precondition did not hold, nothing written), whether the pair's consent row
    was written, the contact's row by column (None: not found) and the address's suppression entries."""

    event_id: int | None
    sequence: int | None
    previous_hash: str | None
    hash: str | None
    notice_id: int | None
    state_written: bool
    contact: dict[str, Any] | None
    suppression: tuple[tuple[str, datetime], ...]


@dataclass(frozen=True)
class Variant:
    """The event as it is for a contact whose stored language is ``language``: the notice shown
    (id and hash; None: none, or an id not known) and ``payload_parts``' second part."""

    language: str
    notice_id: int | None
    notice_sha256: str | None
    part_b: str


_DIRECT_COMPUTED_EVENT = ("contact", "notice", "sequence", "previous_hash", "hash")
_DIRECT_COMPUTED_STATE = ("id", "contact", "last_event")


@functools.cache
def _append_direct_sql(contact_column: str, variants: int) -> str:
    from registry.models import Channel, Purpose

    from .models import Contact
    from .models import SuppressionEntry as Entry

    table, col, Event, State, Notice, PurposeChannel = _sql_names()
    event_fields = [field for field in Event._meta.concrete_fields if not field.primary_key]
    state_fields = [field for field in State._meta.concrete_fields if field.name != "id"]
    seq, key, author, hash_ = (col(Event, name) for name in ("sequence", "idempotency_key", "recorded_by", "hash"))
    # Email and external reference are unique where not empty (partial indexes): said, so the
    # generic plan uses them.
    not_empty = f" AND c.{col(Contact, contact_column)} <> ''" if contact_column in ("email", "external_ref") else ""
    # A phone shared by several contacts names none of them here (the API refuses it: the usual path says why).
    only_holder = (f"AND NOT EXISTS (SELECT 1 FROM {table(Contact)} o WHERE o.{col(Contact, 'phone')} = f.{col(Contact, 'phone')} "
                   f"AND o.id <> f.id)\n               " if contact_column == "phone" else "")
    variant_rows = ", ".join(f"(%(language_{n})s::text, %(notice_id_{n})s::bigint, %(notice_sha_{n})s::text, "
                             f"%(part_b_{n})s::text)" for n in range(variants))
    assert GENESIS_HASH == "0" * 64  # spelt repeat('0', 64) below
    previous, sequence = f"COALESCE(t.{hash_}, repeat('0', 64))", f"COALESCE(t.{seq}, 0) + 1"
    computed = {
        "contact": "ok.contact_id", "notice": "ok.notice_id", "sequence": sequence, "previous_hash": previous,
        "hash": direct_hash_sql(previous=previous, contact="ok.contact_id", part_b="ok.part_b", sequence=sequence),
        "last_event": "a.id",
    }

    def value(field, prefix) -> str:  # typed (the column's type, shortest spelling: the SQL must stay short)
        db_type = field.db_type(connection)
        short = "text" if db_type.startswith(("varchar", "character varying")) else {
            "timestamp with time zone": "timestamptz"}.get(db_type, db_type)
        return computed.get(field.name) or f"%({prefix}{field.attname})s::{short}"

    state_upsert = _state_upsert_sql([col(State, f.name) for f in state_fields],
                                     f"SELECT {', '.join(value(f, 's_') for f in state_fields)} FROM appended a CROSS JOIN ok")
    entries = (f"FROM {table(Entry)} x WHERE x.{col(Entry, 'channel')} = %(channel)s "
               f"AND x.{col(Entry, 'digest')} = %(address_digest)s ORDER BY x.id")
    sql = f"""
        WITH found AS MATERIALIZED (
            SELECT c.* FROM {table(Contact)} c WHERE c.{col(Contact, contact_column)} = %(identifier)s{not_empty}
             ORDER BY c.id LIMIT 1),
        ok AS MATERIALIZED (
            SELECT f.id AS contact_id, v.notice_id, v.part_b
              FROM found f JOIN (VALUES {variant_rows}) v (language, notice_id, notice_sha, part_b)
                ON v.language = f.{col(Contact, "language")}::text
             WHERE f.{col(Contact, "anonymised_at")} IS NULL AND NOT f.{col(Contact, "restricted")}
               AND EXISTS (SELECT 1 FROM {table(Purpose)} p WHERE p.id = %(purpose)s
                                                        AND md5(p::text) = %(purpose_row)s)
               AND EXISTS (SELECT 1 FROM {table(Channel)} ch WHERE ch.id = %(channel)s
                                                         AND md5(ch::text) = %(channel_row)s)
               AND EXISTS (SELECT 1 FROM {table(PurposeChannel)} pc
                            WHERE pc.{col(PurposeChannel, "purpose")} = %(purpose)s
                              AND pc.{col(PurposeChannel, "channel")} = %(channel)s)
               {only_holder}AND NOT EXISTS (SELECT 1 FROM {table(Event)} e WHERE e.{key} = %(idempotency_key)s
                                                              AND e.{author} IS NOT DISTINCT FROM %(recorded_by)s::bigint)
               AND (v.notice_sha IS NULL
                    OR (SELECT n.{col(Notice, "sha256")} FROM {table(Notice)} n WHERE n.id = v.notice_id) = v.notice_sha)),
        serialised AS MATERIALIZED (SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY}) FROM ok),
        t AS MATERIALIZED (SELECT e.{seq}, e.{hash_} FROM {table(Event)} e, serialised ORDER BY e.{seq} DESC LIMIT 1),
        appended AS (
            INSERT INTO {table(Event)} ({", ".join(col(Event, f.name) for f in event_fields)})
            SELECT {", ".join(value(f, "e_") for f in event_fields)} FROM ok CROSS JOIN serialised LEFT JOIN t ON true
            RETURNING id, {seq}, {col(Event, "previous_hash")}, {hash_}, {col(Event, "notice")}),
        state AS ({state_upsert})
        SELECT a.id, a.{seq}, a.{col(Event, "previous_hash")}, a.{hash_}, a.{col(Event, "notice")},
               EXISTS (SELECT 1 FROM state), f.id IS NOT NULL,
               ARRAY(SELECT x.{col(Entry, "source")} {entries}), ARRAY(SELECT x.{col(Entry, "created_at")} {entries}),
               f.*
          FROM (SELECT 1 AS one) one LEFT JOIN found f ON true LEFT JOIN appended a ON true"""
    # The notice is compared by key (an EXISTS there lets the planner hash the whole notice table).
    # One line, short enough (and few enough parameters) for psycopg to cache its conversion to $n
    # placeholders: no "--" comment in it.
    return " ".join(sql.split())


def append_direct(*, contact_column: str, identifier: str, event, part_a: str, state: dict[str, Any],
                  variants: list[Variant],
                  purpose_row: str, channel_row: str, address_digest: str | None) -> DirectAppended:
    """PostgreSQL, one statement: find the contact whose ``contact_column`` is ``identifier`` (as
    contact_find does) and, if the preconditions under which the caller built ``event`` and
    ``state`` hold (the contact neither anonymised nor restricted, with the stored language of one
    of the ``variants``, whose notice, if any, is stored under that id; the purpose and channel
    rows as read (``*_row``: the md5 of each row); the channel one of the purpose's; the
    idempotency key unused by its author), append ``event`` for that contact after the ledger's
    tail, under the append lock, its hash computed from ``payload_parts`` (``part_a``, and each
    variant's ``part_b``), and upsert the pair's consent, ``state`` (its columns but the contact and
    the last event, by attname, as the database stores them).
    The statement is optimistic, as the unlocked append: its snapshot (READ COMMITTED: one per
    statement) is taken before it waits for the lock, so after waiting for another writer it reads
    the tail that writer has moved; the unique sequence then refuses the event (IntegrityError: that
    writer appended first) and the caller runs the statement again, with a new snapshot."""
    from .models import ConsentEvent, ConsentState

    event_fields = _fields(ConsentEvent, exclude=("id", *_DIRECT_COMPUTED_EVENT))
    state_fields = _fields(ConsentState, exclude=_DIRECT_COMPUTED_STATE)
    params = dict(zip((f"e_{f.attname}" for f in event_fields), db_values(event, event_fields)))
    params.update((f"s_{f.attname}", state[f.attname]) for f in state_fields)
    for n, variant in enumerate(variants):
        params.update({f"language_{n}": variant.language, f"notice_id_{n}": variant.notice_id,
                       f"notice_sha_{n}": variant.notice_sha256, f"part_b_{n}": variant.part_b})
    params.update(identifier=identifier, part_a=part_a, purpose=event.purpose_id,
                  channel=event.channel_id, purpose_row=purpose_row, channel_row=channel_row,
                  idempotency_key=event.idempotency_key, recorded_by=event.recorded_by_id,
                  address_digest=address_digest)
    with prepared_cursor() as cursor:
        cursor.execute(_append_direct_sql(contact_column, len(variants)), params)
        row = cursor.fetchone()
        # f.* is the table's columns as they are now (a column added or dropped since the statement was
        # prepared included): named from this result, by its raw field names (cheaper than description).
        result = cursor.cursor.pgresult
        names = [result.fname(index).decode() for index in range(9, result.nfields)]
    event_id, sequence, previous_hash, hash_, notice_id, state_written, found, sources, created = row[:9]
    return DirectAppended(event_id, sequence, previous_hash, hash_, notice_id, bool(state_written),
                          dict(zip(names, row[9:])) if found else None, tuple(zip(sources, created)))


def evidence_matches(event) -> bool:
    """Evidence still present must match the digest the hash covers; cleared evidence (erasure)
    is no longer checkable, and that is the point."""
    cleared = not (event.evidence_ip or event.evidence_user_agent or event.evidence_note or event.evidence_document)
    if cleared:
        return True
    document_sha = ""
    if event.evidence_document:
        hasher = hashlib.sha256()
        try:
            with event.evidence_document.open("rb") as document:
                for chunk in iter(lambda: document.read(1 << 16), b""):
                    hasher.update(chunk)
        except OSError:  # the scan is gone from storage: the proof no longer holds
            return False
        document_sha = hasher.hexdigest()
    return evidence_digest(ip=str(event.evidence_ip) if event.evidence_ip else None,
                           user_agent=event.evidence_user_agent, note=event.evidence_note,
                           document_sha256=document_sha) == event.evidence_digest


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    event_id: int
    problem: str


def verify_chain(events: Iterator) -> tuple[int, ChainBreak | None]:
    """Walk events in sequence order; returns (events checked, first break or None)."""
    previous = GENESIS_HASH
    expected_sequence = None
    checked = 0
    notices_intact: set[int] = set()
    for event in events:
        if expected_sequence is not None and event.sequence != expected_sequence:
            return checked, ChainBreak(event.sequence, event.pk, f"sequence gap: expected {expected_sequence}")
        if event.previous_hash != previous:
            return checked, ChainBreak(event.sequence, event.pk, "previous_hash does not match the event before")
        if event_hash(event, previous) != event.hash:
            return checked, ChainBreak(event.sequence, event.pk, "content does not match its hash")
        if event.notice_id and event.notice_id not in notices_intact:  # each notice's text hashed once
            if notice_digest(text=event.notice.text, language=event.notice.language) != event.notice.sha256:
                return checked, ChainBreak(event.sequence, event.pk, "the notice's text does not match its hash")
            notices_intact.add(event.notice_id)
        if not evidence_matches(event):
            return checked, ChainBreak(event.sequence, event.pk,
                                       "evidence does not match its digest (or its scanned document is missing)")
        previous = event.hash
        expected_sequence = event.sequence + 1
        checked += 1
    return checked, None
