"""Art. 12(3) deadlines: one month (clamped), Paris calendar days, French holidays, suspensions, extensions.

Every expected date below was computed by hand and checked against the calendar; weekdays are asserted
where the case depends on them.
"""
from __future__ import annotations

from calendar import FRIDAY, MONDAY, SATURDAY, SUNDAY, THURSDAY, TUESDAY, WEDNESDAY
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from dateutil.easter import easter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rights.deadlines import (
    PARIS,
    add_months,
    days_left,
    due_date,
    extension_notice_deadline,
    is_working_day,
    local_day,
    next_working_day,
    suspended_days,
)


def paris(year, month, day, hour=10, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def utc(year, month, day, hour=10, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_paris_is_europe_paris():
    assert PARIS == ZoneInfo("Europe/Paris")


# --- local_day -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("moment", "expected"), [
    # CEST (UTC+2): 22:30 UTC on 31 March is 00:30 on 1 April in Paris.
    (utc(2026, 3, 31, 22, 30), date(2026, 4, 1)),
    (utc(2026, 3, 31, 21, 59), date(2026, 3, 31)),
    # CET (UTC+1) in winter: the day changes at 23:00 UTC.
    (utc(2026, 1, 15, 22, 59), date(2026, 1, 15)),
    (utc(2026, 1, 15, 23, 0), date(2026, 1, 16)),
    # Night of the spring-forward change (29 March 2026): still CET at 23:30 UTC on the 28th.
    (utc(2026, 3, 28, 23, 30), date(2026, 3, 29)),
    (paris(2026, 6, 1, 0, 0), date(2026, 6, 1)),
    # Another zone: 20:00 in New York (EDT, UTC-4) is 02:00 the next day in Paris.
    (datetime(2026, 6, 1, 20, 0, tzinfo=ZoneInfo("America/New_York")), date(2026, 6, 2)),
])
def test_local_day(moment, expected):
    assert local_day(moment) == expected


def test_local_day_refuses_naive_datetime():
    with pytest.raises(ValueError):
        local_day(datetime(2026, 3, 31, 22, 30))


def test_local_day_refuses_a_date():
    with pytest.raises(TypeError):
        local_day(date(2026, 3, 31))


# --- add_months ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),  # 2028 is a leap year
    (date(2026, 1, 29), 1, date(2026, 2, 28)),
    (date(2028, 1, 29), 1, date(2028, 2, 29)),
    (date(2026, 1, 28), 1, date(2026, 2, 28)),
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2026, 3, 30), 1, date(2026, 4, 30)),
    (date(2026, 4, 30), 1, date(2026, 5, 30)),  # not the month's end: 30 April -> 30 May
    (date(2026, 5, 31), 1, date(2026, 6, 30)),
    (date(2026, 7, 31), 1, date(2026, 8, 31)),
    (date(2026, 12, 31), 1, date(2027, 1, 31)),  # across the year
    (date(2026, 12, 15), 1, date(2027, 1, 15)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2027, 11, 30), 3, date(2028, 2, 29)),
    (date(2026, 8, 31), 6, date(2027, 2, 28)),
    (date(2026, 10, 31), 2, date(2026, 12, 31)),
    (date(2026, 2, 28), 12, date(2027, 2, 28)),
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 1, 15), 0, date(2026, 1, 15)),
])
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


# --- working days ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "weekday", "working"), [
    (date(2026, 3, 10), TUESDAY, True),
    (date(2026, 3, 14), SATURDAY, False),
    (date(2026, 3, 15), SUNDAY, False),
    (date(2026, 1, 1), THURSDAY, False),  # jour de l'an
    (date(2026, 4, 3), FRIDAY, True),  # Good Friday: a holiday only in Alsace-Moselle
    (date(2026, 4, 6), MONDAY, False),  # lundi de Pâques
    (date(2026, 5, 1), FRIDAY, False),  # fête du travail
    (date(2026, 5, 8), FRIDAY, False),  # victoire 1945
    (date(2026, 5, 14), THURSDAY, False),  # Ascension
    (date(2026, 5, 25), MONDAY, False),  # lundi de Pentecôte
    (date(2027, 5, 17), MONDAY, False),  # lundi de Pentecôte
    (date(2026, 7, 14), TUESDAY, False),  # fête nationale
    (date(2028, 8, 15), TUESDAY, False),  # Assomption
    (date(2027, 11, 1), MONDAY, False),  # Toussaint
    (date(2026, 11, 11), WEDNESDAY, False),  # armistice 1918
    (date(2026, 12, 25), FRIDAY, False),  # Noël
    (date(2025, 12, 26), FRIDAY, True),  # Saint-Étienne: Alsace-Moselle only
])
def test_is_working_day(day, weekday, working):
    assert day.weekday() == weekday
    assert is_working_day(day) is working


def test_whit_monday_2027_is_17_may_in_holidays_package():
    assert easter(2027) + timedelta(days=50) == date(2027, 5, 17)
    assert date(2027, 5, 17) in holidays.country_holidays("FR", years=2027)


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 3, 10), date(2026, 3, 10)),  # a working Tuesday is itself
    (date(2026, 3, 14), date(2026, 3, 16)),  # Saturday -> Monday
    (date(2026, 3, 15), date(2026, 3, 16)),  # Sunday -> Monday
    (date(2026, 5, 1), date(2026, 5, 4)),  # 1 May (Fri) then a weekend
    (date(2026, 5, 8), date(2026, 5, 11)),  # 8 May (Fri) then a weekend
    (date(2026, 5, 14), date(2026, 5, 15)),  # Ascension (Thu) -> Friday
    (date(2026, 7, 14), date(2026, 7, 15)),  # 14 July (Tue) -> Wednesday
    (date(2026, 12, 25), date(2026, 12, 28)),  # Christmas (Fri) then a weekend
    (date(2027, 5, 1), date(2027, 5, 3)),  # 1 May is a Saturday in 2027
    (date(2027, 5, 8), date(2027, 5, 10)),  # so is 8 May
    (date(2027, 5, 15), date(2027, 5, 18)),  # a weekend then Whit Monday
    (date(2027, 5, 17), date(2027, 5, 18)),  # Whit Monday -> Tuesday
    (date(2027, 12, 25), date(2027, 12, 27)),  # Christmas on a Saturday
    (date(2027, 12, 31), date(2027, 12, 31)),  # New Year's Eve is a working Friday
    (date(2028, 1, 1), date(2028, 1, 3)),  # New Year's Day on a Saturday
    (date(2026, 11, 1), date(2026, 11, 2)),  # Toussaint on a Sunday
])
def test_next_working_day(day, expected):
    assert next_working_day(day) == expected


# --- due_date --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("received_at", "expected", "weekday"), [
    (paris(2026, 2, 10), date(2026, 3, 10), TUESDAY),  # plain month
    (paris(2026, 1, 31), date(2026, 3, 2), MONDAY),  # clamped to Sat 28 Feb -> Monday
    (paris(2028, 1, 31), date(2028, 2, 29), TUESDAY),  # leap year, a working day
    (paris(2026, 3, 30), date(2026, 4, 30), THURSDAY),
    (paris(2026, 3, 31), date(2026, 4, 30), THURSDAY),  # clamped to 30 April
    (paris(2026, 4, 30), date(2026, 6, 1), MONDAY),  # 30 May is a Saturday
    (paris(2026, 5, 31), date(2026, 6, 30), TUESDAY),
    (paris(2026, 12, 31), date(2027, 2, 1), MONDAY),  # 31 Jan 2027 is a Sunday
    # 23:30 in Paris on 31 March is still 31 March ...
    (utc(2026, 3, 31, 21, 30), date(2026, 4, 30), THURSDAY),
    # ... but 22:30 UTC is 00:30 on 1 April: due 1 May (Fri, holiday), then the weekend.
    (utc(2026, 3, 31, 22, 30), date(2026, 5, 4), MONDAY),
    (utc(2026, 1, 14, 23, 30), date(2026, 2, 16), MONDAY),  # 15 Jan in Paris -> Sun 15 Feb
    (paris(2026, 2, 14), date(2026, 3, 16), MONDAY),  # Saturday -> Monday
    (paris(2026, 2, 15), date(2026, 3, 16), MONDAY),  # Sunday -> Monday
    (paris(2026, 4, 8), date(2026, 5, 11), MONDAY),  # 8 May (Fri) + weekend
    (paris(2026, 4, 14), date(2026, 5, 15), FRIDAY),  # Ascension
    (paris(2027, 4, 1), date(2027, 5, 3), MONDAY),  # 1 May 2027 is a Saturday
    (paris(2027, 4, 17), date(2027, 5, 18), TUESDAY),  # Whit Monday
    (paris(2027, 4, 15), date(2027, 5, 18), TUESDAY),  # Sat 15 May, Sun, Whit Monday
    (paris(2026, 6, 14), date(2026, 7, 15), WEDNESDAY),  # 14 July
    (paris(2026, 11, 25), date(2026, 12, 28), MONDAY),  # Christmas (Fri) + weekend
    (paris(2027, 11, 25), date(2027, 12, 27), MONDAY),  # Christmas on a Saturday
])
def test_due_date_one_month(received_at, expected, weekday):
    assert due_date(received_at=received_at) == expected
    assert expected.weekday() == weekday


@pytest.mark.parametrize(("received_at", "suspended", "expected"), [
    (paris(2026, 2, 10), 5, date(2026, 3, 16)),  # 10 Mar + 5 = Sun 15 Mar -> Monday
    (paris(2026, 2, 10), 7, date(2026, 3, 17)),
    (paris(2026, 1, 31), 3, date(2026, 3, 3)),  # clamp first (28 Feb), then add the days
    (paris(2026, 4, 20), 11, date(2026, 6, 1)),  # 20 May + 11 = Sun 31 May -> Monday
    (paris(2026, 4, 20), 0, date(2026, 5, 20)),
])
def test_due_date_with_suspension(received_at, suspended, expected):
    assert due_date(received_at=received_at, suspended=suspended) == expected


@pytest.mark.parametrize(("received_at", "extension_months", "suspended", "expected"), [
    (paris(2026, 2, 10), 1, 0, date(2026, 4, 10)),  # Friday
    (paris(2026, 2, 10), 2, 0, date(2026, 5, 11)),  # Sun 10 May -> Monday
    (paris(2026, 11, 30), 2, 0, date(2027, 3, 1)),  # clamped to Sun 28 Feb 2027 -> Monday 1 March
    (paris(2027, 11, 30), 2, 0, date(2028, 2, 29)),  # leap year, a Tuesday
    (paris(2026, 11, 30), 2, 2, date(2027, 3, 2)),  # 28 Feb + 2 = Tue 2 March
    (paris(2026, 10, 31), 1, 0, date(2026, 12, 31)),  # Thursday
    (paris(2026, 12, 31), 1, 0, date(2027, 3, 1)),  # clamped to Sun 28 Feb -> Monday
    (paris(2026, 3, 31), 2, 0, date(2026, 6, 30)),  # Tuesday
    (utc(2026, 3, 31, 22, 30), 2, 0, date(2026, 7, 1)),  # 1 April in Paris -> Wed 1 July
])
def test_due_date_with_extension(received_at, extension_months, suspended, expected):
    assert due_date(received_at=received_at, suspended=suspended, extension_months=extension_months) == expected


@pytest.mark.parametrize("kwargs", [
    {"extension_months": 3},
    {"extension_months": -1},
    {"suspended": -1},
    {"suspended": -1, "extension_months": 1},
])
def test_due_date_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        due_date(received_at=paris(2026, 2, 10), **kwargs)


def test_due_date_refuses_naive_receipt():
    with pytest.raises(ValueError):
        due_date(received_at=datetime(2026, 2, 10, 10, 0))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(received_at=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31),
                                timezones=st.just(UTC)),
       suspended=st.integers(min_value=0, max_value=120),
       extension_months=st.integers(min_value=0, max_value=2))
def test_due_date_is_the_first_working_day_on_or_after_the_period_end(received_at, suspended, extension_months):
    end = add_months(local_day(received_at), 1 + extension_months) + timedelta(days=suspended)
    due = due_date(received_at=received_at, suspended=suspended, extension_months=extension_months)
    assert is_working_day(due)
    assert end <= due < end + timedelta(days=7)
    assert not any(is_working_day(end + timedelta(days=n)) for n in range((due - end).days))
    assert due <= due_date(received_at=received_at, suspended=suspended + 1, extension_months=extension_months)


# --- extension_notice_deadline ---------------------------------------------------------------------------

@pytest.mark.parametrize(("received_at", "suspended", "expected"), [
    (paris(2026, 1, 31), 0, date(2026, 3, 2)),
    (paris(2026, 1, 31), 3, date(2026, 3, 3)),
    (paris(2026, 2, 10), 0, date(2026, 3, 10)),
    (utc(2026, 3, 31, 22, 30), 0, date(2026, 5, 4)),
])
def test_extension_notice_deadline_is_the_unextended_due_date(received_at, suspended, expected):
    assert extension_notice_deadline(received_at=received_at, suspended=suspended) == expected
    assert expected == due_date(received_at=received_at, suspended=suspended)
    assert expected < due_date(received_at=received_at, suspended=suspended, extension_months=1)


def test_extension_notice_deadline_refuses_negative_suspension():
    with pytest.raises(ValueError):
        extension_notice_deadline(received_at=paris(2026, 1, 31), suspended=-1)


# --- suspended_days --------------------------------------------------------------------------------------

NOW = paris(2026, 3, 10, 12)


@pytest.mark.parametrize(("periods", "expected"), [
    ([], 0),
    # One period: 2 -> 9 March.
    ([(paris(2026, 3, 2, 9), paris(2026, 3, 9, 17))], 7),
    # Calendar days, not 24-hour days: 23:00 -> 01:00 spans one midnight.
    ([(paris(2026, 3, 2, 23), paris(2026, 3, 3, 1))], 1),
    # Zero-length, and a few hours within one Paris day.
    ([(paris(2026, 3, 2, 9), paris(2026, 3, 2, 9))], 0),
    ([(paris(2026, 3, 2, 9), paris(2026, 3, 2, 18))], 0),
    # Paris days of UTC moments: 22:30 UTC on 31 March is 1 April.
    ([(utc(2026, 3, 31, 22, 30), utc(2026, 4, 3, 10))], 2),
    # Across the DST change (29 March 2026): 47.5 real hours, two calendar days.
    ([(paris(2026, 3, 28, 12), paris(2026, 3, 30, 11, 30))], 2),
    # Two overlapping periods count once: 2 -> 12 March.
    ([(paris(2026, 3, 2), paris(2026, 3, 9)), (paris(2026, 3, 5), paris(2026, 3, 12))], 10),
    # Same, given in the other order.
    ([(paris(2026, 3, 5), paris(2026, 3, 12)), (paris(2026, 3, 2), paris(2026, 3, 9))], 10),
    # One inside the other.
    ([(paris(2026, 3, 2), paris(2026, 3, 20)), (paris(2026, 3, 5), paris(2026, 3, 6))], 18),
    # Back to back.
    ([(paris(2026, 3, 2), paris(2026, 3, 5)), (paris(2026, 3, 5), paris(2026, 3, 8))], 6),
    # Disjoint: 2 + 3.
    ([(paris(2026, 3, 2), paris(2026, 3, 4)), (paris(2026, 3, 10), paris(2026, 3, 13))], 5),
    # An open period runs to now (10 March).
    ([(paris(2026, 3, 2, 9), None)], 8),
    ([(paris(2026, 3, 10, 9), None)], 0),
    # An open period overlapping a closed one: 2 -> 10 March.
    ([(paris(2026, 3, 2), paris(2026, 3, 5)), (paris(2026, 3, 4), None)], 8),
    # A zero-length period inside another adds nothing.
    ([(paris(2026, 3, 2), paris(2026, 3, 5)), (paris(2026, 3, 3), paris(2026, 3, 3))], 3),
])
def test_suspended_days(periods, expected):
    assert suspended_days(periods, now=NOW) == expected


def test_suspended_days_accepts_any_iterable():
    periods = ((paris(2026, 3, d), paris(2026, 3, d + 1)) for d in (2, 3, 7))
    assert suspended_days(periods, now=NOW) == 3


def test_suspended_days_open_period_follows_now():
    periods = [(paris(2026, 3, 2, 9), None)]
    assert suspended_days(periods, now=utc(2026, 3, 20, 22, 59)) == 18  # 23:59 on the 20th in Paris
    assert suspended_days(periods, now=utc(2026, 3, 20, 23, 0)) == 19  # midnight: the 21st


def test_suspended_days_refuses_a_period_ending_before_it_starts():
    with pytest.raises(ValueError):
        suspended_days([(paris(2026, 3, 9), paris(2026, 3, 2))], now=NOW)


def test_suspended_days_open_period_starting_after_now_counts_nothing():
    assert suspended_days([(paris(2026, 3, 11), None)], now=NOW) == 0
    assert suspended_days([(paris(2026, 3, 2), paris(2026, 3, 4)), (paris(2026, 3, 11), None)], now=NOW) == 2


def test_suspended_days_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        suspended_days([(datetime(2026, 3, 2), datetime(2026, 3, 9))], now=NOW)


def test_suspended_days_feed_the_due_date():
    periods = [(paris(2026, 2, 12), paris(2026, 2, 15)), (paris(2026, 2, 14), paris(2026, 2, 17))]
    suspended = suspended_days(periods, now=NOW)
    assert suspended == 5
    assert due_date(received_at=paris(2026, 2, 10), suspended=suspended) == date(2026, 3, 16)


# --- days_left -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 2, 25), 5),
    (date(2026, 3, 1), 1),
    (date(2026, 3, 2), 0),
    (date(2026, 3, 5), -3),
    (date(2025, 12, 31), 61),
])
def test_days_left(today, expected):
    assert days_left(due=date(2026, 3, 2), today=today) == expected
