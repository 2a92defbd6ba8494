"""Current consent as a fold of the ledger: one pure function, used by the service that appends
events (incrementally) and by the tests and the verifier (over the whole history)."""
from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Iterable

from zoneinfo import ZoneInfo

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
    expires_at = grant_expiry(event.effective_at, validity_months) if event.action == Action.GRANTED else None
    return StateValue(event.action, event.purpose_version, event.effective_at, expires_at, event.pk)


def grant_expiry(effective_at: datetime, validity_months: int | None) -> datetime | None:
    """When a grant that took effect at ``effective_at`` expires under a validity of
    ``validity_months`` (None or 0: never). Months are added on the controller's calendar whatever
    zone the caller used, so the row written now and a fold over events read back in UTC agree
    across a DST change. The result goes back to UTC: a local time of the hour repeated when clocks
    go back never compares equal to an instant of another zone (PEP 495)."""
    if not validity_months:
        return None
    return add_months(effective_at.astimezone(_zone(settings.TIME_ZONE)), validity_months).astimezone(dt_timezone.utc)


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def add_months(value: datetime, months: int) -> datetime:
    """``value + relativedelta(months=months)``, the same instant to the microsecond, without
    building a relativedelta (an import computes one per granted event): same wall-clock time,
    day clamped to the end of a shorter month, zone kept, fold 0 (as relativedelta's addition leaves it)."""
    total = value.month - 1 + months
    year, month = value.year + total // 12, total % 12 + 1
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]),
                         fold=0)


def fold(events: Iterable, *, validity_months: int | None) -> StateValue | None:
    """The state after every event of one contact x purpose x channel, whatever their order."""
    state = None
    for event in sorted(events, key=lambda e: (e.effective_at, e.sequence)):
        state = apply_event(state, event, validity_months=validity_months)
    return state
