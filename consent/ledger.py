"""The hash chain of the consent ledger.

Each event's hash is SHA-256 over a domain tag, the previous event's hash and a canonical
(sorted-key, compact) JSON of the event's fields. Personal evidence enters only through its
keyed digest, so erasure can clear the evidence and the chain still verifies.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from django.db import connection

from .normalise import keyed_digest

DOMAIN_TAG = "dpodesk/consent-event/v1"
GENESIS_HASH = "0" * 64
# Any constant: the key of the PostgreSQL advisory lock that serialises appends.
APPEND_LOCK_KEY = 0x44504F4C  # "DPOL"


def _instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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


def evidence_matches(event) -> bool:
    """Evidence still present must match the digest the hash covers; cleared evidence (erasure)
    is no longer checkable, and that is the point."""
    cleared = not (event.evidence_ip or event.evidence_user_agent or event.evidence_note or event.evidence_document)
    if cleared:
        return True
    document_sha = ""
    if event.evidence_document:
        hasher = hashlib.sha256()
        with event.evidence_document.open("rb") as document:
            for chunk in iter(lambda: document.read(1 << 16), b""):
                hasher.update(chunk)
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
    for event in events:
        if expected_sequence is not None and event.sequence != expected_sequence:
            return checked, ChainBreak(event.sequence, event.pk, f"sequence gap: expected {expected_sequence}")
        if event.previous_hash != previous:
            return checked, ChainBreak(event.sequence, event.pk, "previous_hash does not match the event before")
        if event_hash(event, previous) != event.hash:
            return checked, ChainBreak(event.sequence, event.pk, "content does not match its hash")
        if not evidence_matches(event):
            return checked, ChainBreak(event.sequence, event.pk, "evidence does not match its digest")
        previous = event.hash
        expected_sequence = event.sequence + 1
        checked += 1
    return checked, None
