"""PDF proofs of rights requests, read back with pypdf."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.formats import date_format
from pypdf import PdfReader

from consent.normalise import keyed_digest
from rights import proofs, services
from rights.models import Proof, RecipientTask, RightsRequest, Status
from tests.factories import (
    ActivityFactory,
    ContactFactory,
    OrganisationFactory,
    ProcessorFactory,
    PurposeFactory,
    RecipientFactory,
)

from .factories import verified_request

pytestmark = pytest.mark.django_db

NAME = "Camille Durand"
EMAIL = "camille.durand@example.org"
PHONE = "06 12 34 56 78"
ERASURE_COUNTS = {
    "sources": [{"source": "consent.Contact", "count": 1, "action": "anonymised"},
                {"source": "consent.HistoricalContact", "count": 3, "action": "anonymised"}],
    "kept": [{"source": "consent.ConsentEvent", "count": 4, "reason": "Proof of consent kept (Art. 7(1))"}],
}


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def proof_text(proof: Proof) -> str:
    with proof.file.open("rb") as handle:
        return pdf_text(handle.read())


def completed_request(*, by, kind: str = "access", language: str = "fr", purposes=(), outcome: str = "Done.",
                      counts: dict | None = None, confirm_tasks: bool = True, **fields) -> RightsRequest:
    """A web request verified, carried out by a job started by ``by`` and, once every Art. 19 task
    is confirmed, completed (through the services, as the app does)."""
    ContactFactory(email=fields.pop("email", EMAIL), first_name="Camille", last_name="Durand",
                   phone="+33612345678")
    request = verified_request(kind=kind, name=NAME, language=language, requester_phone=PHONE, **fields)
    job = services.rights_request_fulfil(request=request, by=by)
    services.rights_request_record_fulfilment(request=request, job=job, outcome=outcome,
                                              purpose_ids=[p.pk for p in purposes], counts=counts or {})
    if confirm_tasks:
        for task in RecipientTask.objects.filter(request=request):
            note = "Deleted in the CRM" if task.mode == "manual" else ""
            services.recipient_task_confirm(task=task, by=by, note=note)
    request.refresh_from_db()
    return request


def purpose_with_recipients():
    activity = ActivityFactory()
    activity.recipients.add(RecipientFactory(name="Partner CRM", notification_email="privacy@partner.example"))
    activity.processors.add(ProcessorFactory(name="Mailing Host SAS"))
    return PurposeFactory(activity=activity)


def test_acknowledgement_holds_the_due_date_in_the_requester_language():
    OrganisationFactory()
    with time_machine.travel(datetime(2027, 1, 4, 9, 0, tzinfo=dt_timezone.utc), tick=False):
        french = verified_request()
        english = verified_request(email="jane.doe@example.org", name="Jane Doe", language="en")
    fr_text = proof_text(proofs.proof_issue(request=french, kind="acknowledgement"))
    en_text = proof_text(proofs.proof_issue(request=english, kind="acknowledgement"))
    with translation.override("fr"):
        fr_due = date_format(french.due_on, "DATE_FORMAT")
    with translation.override("en"):
        en_due = date_format(english.due_on, "DATE_FORMAT")
    assert fr_due == "4 février 2027" and en_due == "Feb. 4, 2027"
    assert fr_due in fr_text and en_due not in fr_text
    assert en_due in en_text and "Acknowledgement of receipt" in en_text
    for text, request in ((fr_text, french), (en_text, english)):
        assert request.reference in text
        assert "Association Les Amis du Patrimoine" in text and "Julien Moreau" in text  # controller and DPO
    assert "Jane Doe" in en_text  # addressed to the requester (not an erasure)


def test_proof_issue_is_idempotent_and_keeps_the_digest():
    request = verified_request()
    first = proofs.proof_issue(request=request, kind="acknowledgement")
    with first.file.open("rb") as handle:
        content = handle.read()
    assert content.startswith(b"%PDF-")
    assert first.sha256 == hashlib.sha256(content).hexdigest()
    assert (first.language, first.kind) == ("fr", "acknowledgement")
    assert first.file.name.startswith("rights/proofs/") and request.reference in first.file.name
    with pytest.raises(ValueError):
        first.file.storage.url(first.file.name)  # private storage: never a public URL
    again = proofs.proof_issue(request=request, kind="acknowledgement")
    assert again.pk == first.pk and Proof.objects.filter(request=request).count() == 1


def test_proof_issued_meanwhile_by_another_worker_wins(monkeypatch):
    request = verified_request()
    render = proofs.proof_pdf

    def racing(**kwargs):
        content = render(**kwargs)
        Proof.objects.create(request=request, kind="acknowledgement", language="fr", sha256="0" * 64,
                             file="rights/proofs/theirs.pdf")
        return content

    monkeypatch.setattr(proofs, "proof_pdf", racing)
    proof = proofs.proof_issue(request=request, kind="acknowledgement")
    assert proof.sha256 == "0" * 64
    assert Proof.objects.filter(request=request).count() == 1


def test_certificate_and_refusal_need_the_matching_status(staff_user):
    request = verified_request()
    for kind in ("certificate", "refusal", "nonsense"):
        with pytest.raises(ValidationError):
            proofs.proof_issue(request=request, kind=kind)
    assert not Proof.objects.exists()


def test_erasure_certificate_names_nobody(staff_user):
    request = completed_request(by=staff_user, kind="erasure", outcome="Your data was erased from 2 sources.",
                                counts=ERASURE_COUNTS, customer_reference="CUST-4242")
    assert request.status == Status.COMPLETED
    for kind in ("certificate", "acknowledgement"):
        text = proof_text(proofs.proof_issue(request=request, kind=kind))
        flat = re.sub(r"\s+", "", text)
        for personal in ("Camille", "Durand", EMAIL, "camille.durand", "example.org", "+33612345678",
                         "0612345678", "612345678", "CUST-4242"):
            assert personal.lower() not in flat.lower(), (kind, personal)
        assert request.reference in text
        assert keyed_digest(EMAIL) in flat  # the keyed hash of the email identifies the request
    text = proof_text(Proof.objects.get(request=request, kind="certificate"))
    assert "Your data was erased from 2 sources." in text
    assert "Proof of consent kept (Art. 7(1))" in text and "consent.HistoricalContact" in text


def test_erasure_proofs_name_nobody_even_before_pseudonymisation(staff_user):
    """The template, not the later pseudonymisation, keeps the person out of an erasure proof."""
    ContactFactory(email=EMAIL, first_name="Camille", last_name="Durand")
    request = verified_request(kind="erasure", name=NAME, requester_phone=PHONE, customer_reference="CUST-4242",
                               details="Please erase Camille Durand")
    assert request.requester_email == EMAIL and request.pseudonymised_at is None
    for kind in ("acknowledgement", "certificate", "refusal"):
        flat = re.sub(r"\s+", "", pdf_text(proofs.proof_pdf(request=request, kind=kind))).lower()
        for personal in ("camille", "durand", "example.org", "612345678", "cust-4242"):
            assert personal not in flat, (kind, personal)
        assert keyed_digest(EMAIL) in flat


def test_erasure_certificate_uses_the_stored_digest_once_pseudonymised(staff_user):
    request = completed_request(by=staff_user, kind="erasure", counts=ERASURE_COUNTS)
    RightsRequest.objects.filter(pk=request.pk).update(requester_name="", requester_email="", requester_phone="",
                                                       email_digest="d" * 64)
    request.refresh_from_db()
    assert proofs.email_hash(request) == "d" * 64
    flat = re.sub(r"\s+", "", proof_text(proofs.proof_issue(request=request, kind="certificate")))
    assert "d" * 64 in flat


def test_certificate_says_what_was_done_by_whom_with_counts_and_recipients(staff_user, dpo_user):
    purpose = purpose_with_recipients()
    counts = {"sources": [{"source": "consent.Contact", "count": 1, "action": "restricted"}], "kept": []}
    request = completed_request(by=staff_user, kind="restriction", language="en", purposes=[purpose],
                                outcome="Your data is now restricted.", counts=counts)
    assert request.status == Status.COMPLETED
    text = proof_text(proofs.proof_issue(request=request, kind="certificate"))
    assert "Certificate of fulfilment" in text and request.reference in text
    assert "Your data is now restricted." in text
    assert "consent.Contact" in text and "restricted" in text
    assert "Partner CRM" in text and "Mailing Host SAS" in text  # the Art. 19 tasks
    assert text.count(staff_user.username) >= 3  # started the job, confirmed both tasks
    assert "Deleted in the CRM" in text
    assert NAME in text  # not an erasure: the certificate is addressed to the requester


def test_certificate_of_a_request_closed_by_the_automatic_job(staff_user):
    request = completed_request(by=staff_user, kind="access", language="en",
                                counts={"sources": [{"source": "consent.Contact", "count": 1, "action": "exported"}]})
    text = proof_text(proofs.proof_issue(request=request, kind="certificate"))
    assert "automatic job" in text and "exported" in text


def test_rectification_certificate_lists_the_decisions(staff_user):
    ContactFactory(email=EMAIL, first_name="Camille", last_name="Durand")
    request = verified_request(kind="rectification", language="en",
                               rectifications=[("last_name", "Durand-Martin"), ("city", "Lyon")])
    last_name, city = request.rectifications.order_by("pk")
    services.rights_request_decide_rectification(change=last_name, apply=True, by=staff_user)
    services.rights_request_decide_rectification(change=city, apply=False, reason="You live in Paris", by=staff_user)
    job = services.rights_request_fulfil(request=request, by=staff_user)
    services.rights_request_record_fulfilment(request=request, job=job, outcome="Last name corrected.")
    request.refresh_from_db()
    text = proof_text(proofs.proof_issue(request=request, kind="certificate"))
    assert "Durand-Martin" in text and "Applied" in text
    assert "You live in Paris" in text and "Refused" in text
    assert "last name" in text


def test_refusal_gives_the_reason_and_the_remedies(staff_user):
    OrganisationFactory()
    request = verified_request(language="en")
    services.rights_request_reject(request=request, reason_code="identity_not_established",
                                   text="The signature does not match.", by=staff_user)
    request.refresh_from_db()
    text = proof_text(proofs.proof_issue(request=request, kind="refusal"))
    assert "Reasoned refusal" in text
    assert "Identity not established" in text and "The signature does not match." in text
    assert "CNIL" in text and "3 place de Fontenoy" in text and "www.cnil.fr" in text
    assert "Article 79" in text  # the judicial remedy
