"""Fulfilment of objection requests (Art. 21), purpose by purpose, as the legal basis says.

- consent-based purpose: "I object" is a withdrawal (Art. 7(3)): ``withdrawn`` events;
- direct marketing (Art. 21(2)-(3)): ``objected`` at once on every channel of the purpose, no weighing;
- other purposes on legitimate interests or a public task (Art. 21(1)): the DPO records whether
  compelling legitimate grounds override the objection (``rights_request_decide_objection``); the
  job refuses to run while a decision is missing, and writes ``objected`` events where they do not;
- contract, legal obligation, vital interests: no right to object (DPV table): listed as not
  concerned, with the reason.

The purposes are those the request names, or, when it names none, every purpose the contact is in.
Running twice changes nothing: a channel already objected (or a consent already withdrawn) is skipped.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from consent import services as consent_services
from consent.models import Action, ConsentEvent, ConsentState, Contact, Method
from registry import legal_basis_rules
from registry.models import Purpose

from ..models import RequestEvent, RightsRequest
from ..selectors import request_contacts
from . import Fulfilment, Job, ProgressReporter, SourceCount, fulfils
from .rectification import purposes_served

WITHDRAWAL, DIRECT_MARKETING, DECISION, NOT_CONCERNED = "withdrawal", "direct_marketing", "decision", "not_concerned"


def treatment(purpose: Purpose) -> str:
    """How an objection to ``purpose`` is handled (see the module's docstring)."""
    basis = purpose.legal_basis
    if basis and legal_basis_rules.objection_is_withdrawal(legal_basis=basis):
        return WITHDRAWAL
    if purpose.direct_marketing:
        return DIRECT_MARKETING
    if not basis or legal_basis_rules.kind_applies(kind="objection", legal_basis=basis):
        return DECISION  # no basis in the register: the DPO looks at it like a legitimate interest
    return NOT_CONCERNED


def purposes_concerned(request: RightsRequest, contacts: list[Contact] | None = None) -> list[Purpose]:
    chosen = list(request.purposes.all())
    if chosen:
        return sorted(chosen, key=lambda p: p.slug)
    contacts = contacts if contacts is not None else list(request_contacts(request=request))
    return list(Purpose.objects.filter(pk__in=purposes_served(contacts)).order_by("slug"))


def objection_decisions(request: RightsRequest) -> dict[int, RequestEvent]:
    """The DPO's latest decision per purpose (OBJECTION_DECIDED events of the request)."""
    decided: dict[int, RequestEvent] = {}
    for event in request.events.filter(code=RequestEvent.Code.OBJECTION_DECIDED).order_by("at", "pk"):
        purpose_id = event.data.get("purpose")
        if purpose_id is not None:
            decided[int(purpose_id)] = event
    return decided


def decisions_missing(request: RightsRequest) -> list[Purpose]:
    """Purposes whose objection waits for the DPO's decision (Art. 21(1))."""
    decided = objection_decisions(request)
    return [p for p in purposes_concerned(request) if treatment(p) == DECISION and p.pk not in decided]


def _record(contact: Contact, purpose: Purpose, *, action: str, job: Job) -> int:
    """Write ``action`` (withdrawn or objected) on the purpose's channels that need it; how many."""
    written = 0
    states = {s.channel_id: s for s in ConsentState.objects.filter(contact=contact, purpose=purpose)}
    if action == Action.WITHDRAWN:
        targets = [(s.channel, s) for s in states.values() if s.status in (Action.GRANTED, Action.PENDING)]
    else:
        targets = [(c, states.get(c.pk)) for c in purpose.channels.all().order_by("code")]
        targets = [(c, s) for c, s in targets if s is None or s.status != Action.OBJECTED]
    for channel, _state in targets:
        if not purpose.channels.filter(pk=channel.pk).exists():
            continue
        consent_services.consent_record(contact=contact, purpose=purpose, channel=channel, action=action,
                                        method=Method.RIGHTS_REQUEST, recorded_by=job.requested_by)
        written += 1
    return written


@fulfils("objection")
def object_to(*, request: RightsRequest, job: Job, report: ProgressReporter) -> Fulfilment:
    contacts = [c for c in request_contacts(request=request).order_by("pk") if c.anonymised_at is None]
    purposes = purposes_concerned(request, contacts)
    decided = objection_decisions(request)
    missing = [p for p in purposes if treatment(p) == DECISION and p.pk not in decided]
    if missing:
        raise ValidationError({"purposes": [
            _("The DPO must first decide whether compelling legitimate grounds override the objection (Art. 21(1)) "
              "for: %(purposes)s.") % {"purposes": ", ".join(p.name for p in missing)}]})
    written = {Action.WITHDRAWN: 0, Action.OBJECTED: 0}
    lines: list[str] = []
    applied: list[int] = []
    for index, purpose in enumerate(purposes, start=1):
        how = treatment(purpose)
        if how == NOT_CONCERNED:
            lines.append(_("%(purpose)s: not concerned. It is based on %(basis)s, which gives no right to object "
                           "(Art. 21(1) covers legitimate interests and public tasks); the processing goes on.")
                         % {"purpose": purpose.name, "basis": purpose.get_legal_basis_display()})
            continue
        if how == DECISION and decided[purpose.pk].data.get("overriding_grounds"):
            lines.append(_("%(purpose)s: the processing goes on: compelling legitimate grounds override your "
                           "objection (Art. 21(1)): %(reason)s")
                         % {"purpose": purpose.name, "reason": decided[purpose.pk].text})
            continue
        action = Action.WITHDRAWN if how == WITHDRAWAL else Action.OBJECTED
        for contact in contacts:
            written[action] += _record(contact, purpose, action=action, job=job)
        applied.append(purpose.pk)
        if how == WITHDRAWAL:
            lines.append(_("%(purpose)s: your consent is withdrawn (an objection to a purpose based on consent "
                           "is a withdrawal, Art. 7(3)).") % {"purpose": purpose.name})
        else:
            lines.append(_("%(purpose)s: your objection is recorded on every channel; we no longer process your "
                           "data for this purpose.") % {"purpose": purpose.name})
        report(int(90 * index / max(1, len(purposes))))
    if not purposes:
        lines.append(_("We hold no data of yours processed for a purpose you could object to."))
    label = ConsentEvent._meta.label
    return Fulfilment(outcome="\n".join(lines), purpose_ids=applied,
                      sources=[SourceCount(label, count, str(action)) for action, count in written.items()])
