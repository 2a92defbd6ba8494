"""Fulfilment of restriction requests (Art. 18).

Every contact of the request is flagged ``restricted`` through ``consent.services.contact_update``
(the change is in the contact's history); from then on every consent check and every audience says
no. The flag is lifted only after the requester was told (Art. 18(3)): see
``rights.services.rights_request_announce_restriction_lifting`` and ``rights_request_lift_restriction``.
Flagging again changes nothing.
"""
from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from consent import services as consent_services
from consent.models import Contact

from ..models import RightsRequest
from ..selectors import request_contacts
from . import Fulfilment, Job, ProgressReporter, SourceCount, fulfils
from .rectification import purposes_served


@fulfils("restriction")
def restrict(*, request: RightsRequest, job: Job, report: ProgressReporter) -> Fulfilment:
    contacts = list(request_contacts(request=request).order_by("pk"))
    flagged = 0
    for contact in contacts:
        if contact.restricted or contact.anonymised_at:
            continue
        consent_services.contact_update(contact=contact, restricted=True)
        flagged += 1
    restricted = [c for c in contacts if c.restricted]
    report(90)
    outcome = ngettext(
        "The processing of your data is restricted (%(count)d record): we keep it but no longer use it, "
        "and we contact you no more, until the restriction is lifted. We will tell you before lifting it.",
        "The processing of your data is restricted (%(count)d records): we keep it but no longer use it, "
        "and we contact you no more, until the restriction is lifted. We will tell you before lifting it.",
        len(restricted)) % {"count": len(restricted)}
    if len(restricted) < len(contacts):
        outcome += "\n" + _("Some records had already been erased: nothing is left to restrict there.")
    return Fulfilment(outcome=outcome, sources=[SourceCount(Contact._meta.label, flagged, "flagged")],
                      purpose_ids=purposes_served(restricted))
