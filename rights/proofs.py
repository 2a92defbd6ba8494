"""The PDF proofs of a rights request, in the requester's language: the acknowledgement of receipt,
the certificate of fulfilment and the reasoned refusal. ``proof_issue`` is the one place a proof
is written: it renders once, keeps the file in private storage with its SHA-256, and returns the
same Proof every later time (a proof is kept as it was sent).

An erasure request's proofs name nobody: the request reference and a keyed hash of the email only,
since they outlive the erased data.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from consent.normalise import keyed_digest
from registry import readable
from registry.selectors import organisation_get

from .models import Kind, Proof, RecipientTask, RequestEvent, RightsRequest, Status

ProofKind = Proof.ProofKind
Code = RequestEvent.Code
TEMPLATES = {
    ProofKind.ACKNOWLEDGEMENT: "pdf/rights_acknowledgement.html",
    ProofKind.CERTIFICATE: "pdf/rights_certificate.html",
    ProofKind.REFUSAL: "pdf/rights_refusal.html",
}
# A certificate proves a request carried out; a refusal, a request refused.
REQUIRED_STATUS = {ProofKind.CERTIFICATE: Status.COMPLETED, ProofKind.REFUSAL: Status.REJECTED}


def email_hash(request: RightsRequest) -> str:
    """The keyed digest that identifies the requester's email in a proof without showing it."""
    if request.email_digest:
        return request.email_digest
    return keyed_digest(request.requester_email) if request.requester_email else ""


@dataclass(frozen=True)
class SourceLine:
    source: str
    name: str
    count: int
    action: str


@dataclass(frozen=True)
class KeptLine:
    source: str
    name: str
    count: int
    reason: str


def _source_name(label: str) -> str:
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


def _job_counts(request: RightsRequest) -> tuple[list[SourceLine], list[KeptLine]]:
    """Sources and kept records from every JOB_FINISHED event (a request may be carried out twice)."""
    sources: list[SourceLine] = []
    kept: list[KeptLine] = []
    for event in request.events.filter(code=Code.JOB_FINISHED).order_by("at", "pk"):
        counts = event.data.get("counts") or {}
        for item in counts.get("sources") or []:
            label = str(item.get("source", ""))
            action = str(item.get("action", ""))
            sources.append(SourceLine(label, _source_name(label), int(item.get("count") or 0),
                                      readable.action(action)))
        for item in counts.get("kept") or []:
            label = str(item.get("source", ""))
            kept.append(KeptLine(label, _source_name(label), int(item.get("count") or 0), str(item.get("reason", ""))))
    return sources, kept


def _who(event: RequestEvent | None) -> str:
    if event is None:
        return ""
    return event.user.get_username() if event.user_id else _("automatic job")


def _changes(request: RightsRequest) -> list[dict[str, Any]]:
    from .forms import rectifiable_field_choices

    labels = dict(rectifiable_field_choices())
    return [{"field": labels.get(change.field, change.field), "new_value": change.new_value,
             "decision": change.get_decision_display(), "reason": change.reason,
             "decided_by": change.decided_by.get_username() if change.decided_by_id else "",
             "decided_at": change.decided_at}
            for change in request.rectifications.select_related("decided_by")]


def _context(request: RightsRequest, kind: str) -> dict[str, Any]:
    anonymous = request.kind == Kind.ERASURE
    context: dict[str, Any] = {
        "rights_request": request,
        "organisation": organisation_get(),
        "generated_at": timezone.localtime(),
        "anonymous": anonymous,
        "email_hash": email_hash(request),
        "is_open": request.is_open,
        "proof_title": ProofKind(kind).label,
    }
    if kind == ProofKind.CERTIFICATE:
        sources, kept = _job_counts(request)
        events = request.events.select_related("user")
        started = events.filter(code=Code.JOB_STARTED).order_by("at", "pk").first()
        finished = events.filter(code=Code.JOB_FINISHED).order_by("-at", "-pk").first()
        completed = events.filter(code=Code.COMPLETED).order_by("-at", "-pk").first()
        context.update({
            "sources": sources,
            "kept": kept,
            "started_event": started,
            "started_by": _who(started) if started else "",
            "finished_event": finished,
            "completed_event": completed,
            "completed_by": _who(completed),
            "tasks": list(request.recipient_tasks.select_related("confirmed_by").order_by("name", "pk")),
            "task_done": RecipientTask.TaskStatus.DONE,
            "changes": _changes(request) if request.kind == Kind.RECTIFICATION else [],
        })
    return context


def proof_pdf(*, request: RightsRequest, kind: str, language: str | None = None) -> bytes:
    """Render one proof as an A4 PDF (no storage). Fonts are the system's, no resource from a URL."""
    from weasyprint import HTML  # heavy import: only where a PDF is made
    from weasyprint.urls import URLFetcher

    if kind not in TEMPLATES:
        raise ValidationError({"kind": [_("Unknown kind of proof: %(kind)s") % {"kind": kind}]})
    with override(language or request.language):
        html = render_to_string(TEMPLATES[kind], _context(request, kind))
        return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set())).write_pdf()


def proof_issue(*, request: RightsRequest, kind: str) -> Proof:
    """The request's proof of this kind: issued (rendered and stored) the first time, then the same
    one. A certificate needs a completed request, a refusal a rejected one."""
    existing = Proof.objects.filter(request=request, kind=kind).first()
    if existing is not None:
        return existing
    if kind not in TEMPLATES:
        raise ValidationError({"kind": [_("Unknown kind of proof: %(kind)s") % {"kind": kind}]})
    required = REQUIRED_STATUS.get(kind)
    if required and request.status != required:
        raise ValidationError({"kind": [_("This proof needs a request that is “%(status)s”.")
                                        % {"status": Status(required).label}]})
    content = proof_pdf(request=request, kind=kind)
    proof = Proof(request=request, kind=kind, language=request.language,
                  sha256=hashlib.sha256(content).hexdigest())
    proof.file.save(f"{request.reference}-{kind}.pdf", ContentFile(content), save=False)
    try:
        with transaction.atomic():
            proof.full_clean(validate_unique=False)
            proof.save()
    except (IntegrityError, ValidationError):
        # Issued meanwhile by another worker (or the row was refused): keep theirs, drop our file.
        proof.file.delete(save=False)
        existing = Proof.objects.filter(request=request, kind=kind).first()
        if existing is None:
            raise
        return existing
    return proof
