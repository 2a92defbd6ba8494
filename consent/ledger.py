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
from typing import Iterator

from django.db import connection

from .normalise import keyed_digest
from .state import StateValue

DOMAIN_TAG = "dpodesk/consent-event/v1"
GENESIS_HASH = "0" * 64
# Any constant: the key of the PostgreSQL advisory lock that serialises appends.
APPEND_LOCK_KEY = 0x44504F4C  # "DPOL"


def _instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    SQLite (the embedded default) already serialises writers."""
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
    the id of the notice by its hash (None when absent) and, for the check the API answers with,
    the channel's suppression entries (source, created_at) of the contact's address (None when
    not asked for)."""

    sequence: int
    hash: str
    state: StateValue | None
    channel_allowed: bool
    first_event_id: int | None
    notice_id: int | None
    suppression: tuple[tuple[str, datetime], ...] | None = None


def _sql_names():
    from registry.models import Purpose

    from .models import ConsentEvent, ConsentState, Notice

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def col(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    return table, col, ConsentEvent, ConsentState, Notice, Purpose.channels.through


@functools.cache
def _read_tail_sql() -> str:
    from .models import SuppressionEntry as Entry

    table, col, Event, State, Notice, PurposeChannel = _sql_names()
    entries = (f"FROM {table(Entry)} x WHERE x.{col(Entry, 'channel')} = %s AND x.{col(Entry, 'digest')} = %s "
               f"ORDER BY x.id")
    seq, key, author = col(Event, "sequence"), col(Event, "idempotency_key"), col(Event, "recorded_by")
    state_columns = ", ".join(f"s.{col(State, name)}" for name in
                              ("status", "purpose_version", "since", "expires_at", "last_event"))
    return f"""
        SELECT t.{seq}, t.{col(Event, "hash")}, {state_columns},
               EXISTS (SELECT 1 FROM {table(PurposeChannel)} pc WHERE pc.{col(PurposeChannel, "purpose")} = %s
                                                             AND pc.{col(PurposeChannel, "channel")} = %s),
               (SELECT e.id FROM {table(Event)} e WHERE e.{key} = %s AND e.{author} IS NOT DISTINCT FROM %s
                 ORDER BY e.{seq} LIMIT 1),
               (SELECT n.id FROM {table(Notice)} n WHERE n.{col(Notice, "sha256")} = %s),
               ARRAY(SELECT x.{col(Entry, "source")} {entries}), ARRAY(SELECT x.{col(Entry, "created_at")} {entries})
          FROM (SELECT 1 AS one) one
          LEFT JOIN LATERAL (SELECT e.{seq}, e.{col(Event, "hash")} FROM {table(Event)} e
                              ORDER BY e.{seq} DESC LIMIT 1) t ON true
          LEFT JOIN {table(State)} s ON s.{col(State, "contact")} = %s AND s.{col(State, "purpose")} = %s
                                    AND s.{col(State, "channel")} = %s"""


def read_tail(*, contact_id: int, purpose_id: int, channel_id: int, idempotency_key: str | None,
              recorded_by_id: int | None, notice_sha256: str | None, address_digest: str | None = None) -> Tail:
    """PostgreSQL: the Tail for appending one event of this contact x purpose x channel; with the
    suppression entries of ``address_digest`` (selectors.stored_address_digest) when given."""
    with prepared_cursor() as cursor:
        cursor.execute(_read_tail_sql(), [purpose_id, channel_id, idempotency_key, recorded_by_id, notice_sha256,
                                          channel_id, address_digest, channel_id, address_digest,
                                          contact_id, purpose_id, channel_id])
        (sequence, last_hash, status, purpose_version, since, expires_at, last_event_id, allowed, first_event_id,
         notice_id, sources, created) = cursor.fetchone()
    state = None if status is None else StateValue(status, purpose_version, since, expires_at, last_event_id)
    suppression = tuple(zip(sources, created)) if address_digest is not None else None
    return Tail(sequence or 0, last_hash or GENESIS_HASH, state, bool(allowed), first_event_id, notice_id,
                suppression)


@functools.cache
def _append_one_sql(with_state: bool) -> str:
    table, col, Event, State, _Notice, _PurposeChannel = _sql_names()
    event_fields = [field for field in Event._meta.concrete_fields if not field.primary_key]

    def values(fields) -> str:  # typed, as the client binds the parameters as literals
        return ", ".join(f"%s::{field.db_type(connection)}" for field in fields)

    sql = f"""
        WITH appended AS (
            INSERT INTO {table(Event)} ({", ".join(col(Event, f.name) for f in event_fields)})
            SELECT {values(event_fields)} FROM (SELECT pg_advisory_xact_lock(%s)) serialised
            RETURNING id)"""
    if not with_state:
        return sql + "\n        SELECT appended.id, false FROM appended"
    state_fields = [field for field in State._meta.concrete_fields if field.name not in ("id", "last_event")]
    columns = [col(State, f.name) for f in state_fields] + [col(State, "last_event")]
    unique = ", ".join(col(State, name) for name in ("contact", "purpose", "channel"))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in unique)
    # apply_event's rule: an event dated before the current consent changes nothing. Evaluated on
    # the row as it is when written, so a newer event written meanwhile is never overwritten.
    return sql + f""",
        state AS (
            INSERT INTO {table(State)} ({", ".join(columns)})
            SELECT {values(state_fields)}, appended.id FROM appended
            ON CONFLICT ({unique}) DO UPDATE SET {updates}
             WHERE {table(State)}.{col(State, "since")} <= EXCLUDED.{col(State, "since")}
            RETURNING 1)
        SELECT appended.id, EXISTS (SELECT 1 FROM state) FROM appended"""


def append_one(event, state=None) -> bool:
    """PostgreSQL: insert ``event`` (its sequence and hashes set) and upsert the pair's current
    consent ``state`` (an unsaved ConsentState, or None to leave it) in ONE statement, under the
    append lock. Sets ``event.pk``; returns whether the state row was written. An IntegrityError
    means another writer appended this sequence (or this idempotency key) first."""
    from .models import ConsentEvent, ConsentState

    def prepared(obj, fields) -> list:
        return [field.get_db_prep_save(field.pre_save(obj, True), connection=connection) for field in fields]

    params = prepared(event, [f for f in ConsentEvent._meta.concrete_fields if not f.primary_key])
    params.append(APPEND_LOCK_KEY)
    if state is not None:
        params += prepared(state, [f for f in ConsentState._meta.concrete_fields
                                   if f.name not in ("id", "last_event")])
    with prepared_cursor() as cursor:
        cursor.execute(_append_one_sql(state is not None), params)
        event.pk, state_written = cursor.fetchone()
    event._state.adding = False
    return state_written


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
