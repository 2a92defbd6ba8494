"""Response deadlines for rights requests, GDPR Art. 12(3).

The controller answers "within one month of receipt", extendable "by two further months" if it tells the
data subject so within the first month. Periods follow Regulation (EEC, Euratom) No 1182/71: a period in
months ends on the same day of the last month (or its last day if that day does not exist), and a period
ending on a public holiday, Saturday or Sunday ends at the end of the next working day (art. 3(2)(c), 3(4)).
Days spent waiting for the identity proof asked under Art. 12(6) suspend the period. Calendar days are
those of Europe/Paris, where the controller is, and holidays those of metropolitan France.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")
MAX_EXTENSION_MONTHS = 2


def local_day(moment: datetime) -> date:
    """The Paris calendar day of an aware moment: a request received at 23:30 UTC may already be tomorrow."""
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: its calendar day in Paris is unknown")
    return moment.astimezone(PARIS).date()


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, or the month's last day when it has none (1182/71 art. 3(2)(c))."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@cache
def _french_holidays(year: int) -> frozenset[date]:
    # No subdivision: metropolitan France, without Alsace-Moselle's Good Friday and 26 December.
    return frozenset(holidays.country_holidays("FR", years=year))


def is_working_day(day: date) -> bool:
    """Neither a weekend nor a French public holiday: a period cannot end on those days."""
    return day.weekday() < 5 and day not in _french_holidays(day.year)


def next_working_day(day: date) -> date:
    """The day itself if it is a working day, else the first one after it (1182/71 art. 3(4))."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def suspended_days(periods: Iterable[tuple[datetime, datetime | None]], *, now: datetime) -> int:
    """Paris calendar days spent waiting for identity proof; an open period runs until ``now``.

    Overlapping periods count once, so asking twice for the same proof does not stretch the deadline.
    An open period that starts after ``now`` (a clock a little behind) counts nothing rather than failing.
    """
    spans: list[tuple[date, date]] = []
    for start, end in periods:
        if end is None:
            end = max(now, start)
        if end < start:
            raise ValueError(f"suspension ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        spans.append((local_day(start), local_day(end)))
    total = 0
    covered_until: date | None = None
    for first, last in sorted(spans):
        if covered_until is not None and first < covered_until:
            first = covered_until
        if last > first:
            total += (last - first).days
            covered_until = last
    return total


def _check_suspended(suspended: int) -> None:
    if suspended < 0:
        raise ValueError(f"suspended days must be >= 0, got {suspended}")


def due_date(*, received_at: datetime, suspended: int = 0, extension_months: int = 0) -> date:
    """Last day to answer: receipt + 1 month (+ extension) + suspended days, moved to a working day."""
    _check_suspended(suspended)
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"extension_months must be between 0 and {MAX_EXTENSION_MONTHS}, got {extension_months}")
    end = add_months(local_day(received_at), 1 + extension_months) + timedelta(days=suspended)
    return next_working_day(end)


def extension_notice_deadline(*, received_at: datetime, suspended: int = 0) -> date:
    """Last day to tell the data subject of an extension: Art. 12(3) requires it within the first month."""
    return due_date(received_at=received_at, suspended=suspended)


def days_left(*, due: date, today: date) -> int:
    """Days until ``due`` (0 on the day itself), negative once the request is overdue."""
    return (due - today).days
