"""Words for the codes of consent_check (status and reason), shown to staff and the DPO: the admin's
contact page and the staff collection page use the same ones."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from . import selectors
from .models import Action

REASON_LABELS = {
    selectors.Reason.CONSENT_GRANTED: _("consent granted"),
    selectors.Reason.NO_CONSENT: _("no consent recorded"),
    selectors.Reason.WITHDRAWN: _("consent withdrawn"),
    selectors.Reason.EXPIRED: _("consent expired"),
    selectors.Reason.OUTDATED_VERSION: _("given to an outdated text, or purpose retired"),
    selectors.Reason.OBJECTED: _("the contact objected"),
    selectors.Reason.NOT_IN_CATEGORY: _("not among the people this purpose reaches"),
    selectors.Reason.CHANNEL_NOT_ALLOWED: _("the purpose does not use this channel"),
    selectors.Reason.RESTRICTED: _("processing restricted (Art. 18)"),
    selectors.Reason.SUPPRESSED: _("on the suppression list"),
    selectors.Reason.ANONYMISED: _("contact anonymised"),
    selectors.Reason.UNKNOWN_CONTACT: _("unknown contact"),
}


def status_label(status: str) -> str:
    return Action(status).label if status in Action.values else _("none")
