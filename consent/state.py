"""Current consent as a fold of the ledger: one pure function, used by the service that appends
events (incrementally) and by the tests and the verifier (over the whole history)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.conf import settings

from .models import Action


@dataclass(frozen=True)
class StateValue:
    status: str
    purpose_version: int
    since: datetime
    expires_at: datetime | None
    last_event_id: int


def apply_event(state: StateValue | None, event, *, validity_months: int | None) -> StateValue | None:
    """The state after ``event``. Events are ordered by when they took effect, then by sequence:
    an event dated before the current state (a late import of an old paper form) changes nothing."""
    if state is not None and event.effective_at < state.since:
        return state
    expires_at = None
    if event.action == Action.GRANTED and validity_months:
        # Months are added on the controller's calendar whatever zone the caller used, so the
        # row written now and a fold over events read back in UTC agree across a DST change.
        local = event.effective_at.astimezone(ZoneInfo(settings.TIME_ZONE))
        expires_at = local + relativedelta(months=validity_months)
    return StateValue(event.action, event.purpose_version, event.effective_at, expires_at, event.pk)


def fold(events: Iterable, *, validity_months: int | None) -> StateValue | None:
    """The state after every event of one contact x purpose x channel, whatever their order."""
    state = None
    for event in sorted(events, key=lambda e: (e.effective_at, e.sequence)):
        state = apply_event(state, event, validity_months=validity_months)
    return state
