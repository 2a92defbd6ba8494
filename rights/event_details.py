"""The details of a request's timeline event (RequestEvent.data, written by rights.services) as the
request page shows them: labels for the keys, the choice labels of the codes (registry.readable)."""
from __future__ import annotations

from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from registry import readable
from registry.models import Job, Purpose

from .fulfilment.rectification import field_label
from .models import (
    Kind,
    MandateStatus,
    ReceivedVia,
    RecipientTask,
    RectificationChange,
    RejectionReason,
    RequestContact,
    RequestEvent,
    RightsRequest,
    Status,
    VerificationMethod,
)
from .services import RESTRICTION_LIFTING_MARK


def _label(model, field: str):
    return model._meta.get_field(field).verbose_name


LABELS = {
    **readable.JOB_LABELS,  # a finished job's counts
    "via": _label(RightsRequest, "received_via"),
    "kind": _label(RightsRequest, "kind"),
    "status": _label(RightsRequest, "status"),
    "previous_status": _("previous status"),
    "due_on": _label(RightsRequest, "due_on"),
    "months": _("months"),
    "assignee": _label(RightsRequest, "assignee"),
    "name": _("name"),
    "method": _("method"),
    "identity_proof": _("proof of identity asked"),
    "accepted": _label(RightsRequest, "mandate_status"),
    "reason_code": _label(RightsRequest, "rejection_reason"),
    "contact": _("contact"),
    "matched_by": _label(RequestContact, "matched_by"),
    "field": _label(RectificationChange, "field"),
    "decision": _label(RectificationChange, "decision"),
    "job": _("job"),
    "counts": _label(Job, "counts"),
    "task": _("recipient task"),
    "mode": _label(RecipientTask, "mode"),
    "link": _("download link"),
    "use": _("downloads made"),
    "still_restricted": _("still restricted"),
    "slug": _label(Purpose, "slug"),
    "overriding_grounds": _("overriding legitimate grounds"),
    RESTRICTION_LIFTING_MARK: _("lifting of the restriction"),
    "lifting_on": _("lifting planned on"),
}

ANNOUNCED = {"announced": _("announced to the requester")}

VALUES = {
    **readable.JOB_VALUES,
    "via": readable.choice(ReceivedVia),
    "kind": readable.choice(Kind),
    "status": readable.choice(Status),
    "previous_status": readable.choice(Status),
    "due_on": readable.moment,
    "assignee": readable.ids,
    "method": readable.choice(VerificationMethod),
    "accepted": lambda accepted: str(MandateStatus.ACCEPTED.label if accepted else MandateStatus.REFUSED.label),
    "reason_code": readable.choice(RejectionReason),
    "contact": readable.ids,
    "matched_by": readable.choice(RequestContact.MatchedBy),
    "field": field_label,
    "decision": readable.choice(RectificationChange.Decision),
    "job": readable.ids,
    "task": readable.ids,
    "mode": readable.choice(RecipientTask.Mode),
    "link": readable.ids,
    "still_restricted": readable.ids,
    "purpose": readable.ids,
    RESTRICTION_LIFTING_MARK: lambda mark: str(ANNOUNCED.get(mark, mark)),
    "lifting_on": readable.moment,
}


def event_details(event: RequestEvent) -> SafeString:
    return readable.readable_html(event.data, labels=LABELS, values=VALUES)
