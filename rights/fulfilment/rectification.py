"""Fulfilment of rectification requests (Art. 16).

Each correction staff approved is applied to every contact of the request through
``consent.services.contact_update``: the contact's history keeps the values before and after, and
the same normal forms and uniqueness rules apply as anywhere else. A correction the service refuses
(an email another contact already holds, an invalid number) becomes refused, with the service's
reason, instead of failing the job. Applying again changes nothing: a value already in place is
left alone (no new history row).
"""
from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from consent import services as consent_services
from consent.models import ConsentState, Contact
from consent.normalise import normalise_email, normalise_phone
from registry.models import Purpose

from ..models import RectificationChange, RightsRequest
from ..selectors import request_contacts
from . import Fulfilment, Job, ProgressReporter, SourceCount, fulfils

Decision = RectificationChange.Decision


def purposes_served(contacts: Iterable[Contact]) -> list[int]:
    """The purposes a contact's data serves: those they have a consent state for, and those aimed at
    their data-subject categories (Art. 19: the recipients of these purposes are told)."""
    contacts = list(contacts)
    ids = set(ConsentState.objects.filter(contact__in=contacts).values_list("purpose_id", flat=True))
    ids |= set(Purpose.objects.filter(data_subject_categories__contacts__in=contacts).values_list("pk", flat=True))
    return sorted(ids)


def field_label(field: str) -> str:
    try:
        return capfirst(str(Contact._meta.get_field(field).verbose_name))
    except Exception:  # noqa: BLE001 - a field name the model no longer has is shown as is
        return field


def _in_place(contact: Contact, field: str, value: str) -> bool:
    """Whether the contact already holds the new value (in its normal form)."""
    normalise = {"email": normalise_email, "phone": normalise_phone}.get(field)
    if normalise is not None:
        try:
            value = normalise(value)
        except ValidationError:
            return False
    return str(getattr(contact, field) or "") == value


@fulfils("rectification")
def rectify(*, request: RightsRequest, job: Job, report: ProgressReporter) -> Fulfilment:
    contacts = list(request_contacts(request=request).order_by("pk"))
    changes = list(request.rectifications.filter(decision=Decision.APPLIED).order_by("pk"))
    updated = 0
    applied: list[RectificationChange] = []
    partly: list[tuple[RectificationChange, str]] = []
    for index, change in enumerate(changes, start=1):
        done, failures = False, []
        for contact in contacts:
            contact.refresh_from_db()
            if contact.anonymised_at:
                failures.append(_("the record was anonymised"))
                continue
            if _in_place(contact, change.field, change.new_value):
                done = True
                continue
            try:
                with transaction.atomic():
                    consent_services.contact_update(contact=contact, **{change.field: change.new_value})
            except ValidationError as exc:
                failures.append(" ".join(exc.messages))
                continue
            updated += 1
            done = True
        reason = "; ".join(dict.fromkeys(failures))
        if done:
            applied.append(change)
            if failures:
                partly.append((change, reason))
        else:
            RectificationChange.objects.filter(pk=change.pk).update(
                decision=Decision.REFUSED, reason=_("Could not be applied: %(reason)s") % {"reason": reason})
        report(int(90 * index / max(1, len(changes))))
    refused = list(request.rectifications.filter(decision=Decision.REFUSED).order_by("pk"))

    lines = []
    if applied:
        lines.append(_("Corrected: %(fields)s.") % {"fields": ", ".join(field_label(c.field) for c in applied)})
    for change, reason in partly:
        lines.append(_("%(field)s: corrected, but not on every record we hold: %(reason)s")
                     % {"field": field_label(change.field), "reason": reason})
    if refused:
        # Said once, with its reason: the completion email lists only the values written.
        lines.append(_("Not corrected:") if applied else _("No correction was made:"))
        lines += [f"- {field_label(c.field)}: {c.reason}" for c in refused]
    if not lines:
        lines.append(_("No correction was asked for."))
    return Fulfilment(
        outcome="\n".join(lines),
        sources=[SourceCount(Contact._meta.label, updated, "updated")],
        purpose_ids=purposes_served(contacts) if applied else [],
    )
