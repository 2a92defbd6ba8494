"""ConsentState always equals the fold of the ledger, whatever the order and dates of events."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import services
from consent.models import ConsentEvent, ConsentState
from consent.state import fold

pytestmark = pytest.mark.django_db

steps = st.lists(
    st.tuples(
        st.sampled_from(["newsletter", "postal-appeals"]),
        st.sampled_from(["email", "sms", "postal"]),
        st.sampled_from(["pending", "granted", "refused", "withdrawn", "objected", "objection_lifted", "expired",
                         "lapsed"]),
        # expiry and register_change: what the periodic jobs record (expired, lapsed)
        st.sampled_from(["web_form", "api", "double_opt_in", "paper", "expiry", "register_change"]),
        st.integers(min_value=0, max_value=2000),  # minutes before now: late and out-of-order events
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_state_equals_fold_of_events(newsletter, postal_appeals, channels, steps):
    purposes = {"newsletter": newsletter, "postal-appeals": postal_appeals}
    contact = services.contact_create(last_name="Property")  # a new contact per example
    now = timezone.now()
    recorded = 0
    for slug, channel_code, action, method, minutes in steps:
        try:
            services.consent_record(contact=contact, purpose=purposes[slug], channel=channels[channel_code],
                                    action=action, method=method, effective_at=now - timedelta(minutes=minutes))
            recorded += 1
        except ValidationError:
            pass  # the rules refused it: nothing must have been written
    assert ConsentEvent.objects.filter(contact=contact).count() == recorded

    for purpose in purposes.values():
        for channel in channels.values():
            events = list(ConsentEvent.objects.filter(contact=contact, purpose=purpose, channel=channel))
            expected = fold(events, validity_months=purpose.consent_validity_months)
            state = ConsentState.objects.filter(contact=contact, purpose=purpose, channel=channel).first()
            if expected is None:
                assert state is None
                continue
            assert (state.status, state.since, state.expires_at, state.last_event_id, state.purpose_version) == (
                expected.status, expected.since, expected.expires_at, expected.last_event_id,
                expected.purpose_version)


def test_expiry_is_the_same_whatever_the_callers_time_zone():
    """A grant made in March, with a validity ending after a DST change: an event carrying a Paris
    datetime (as the import and the API pass) and the same instant read back in UTC (as the fold
    over stored events does) must give the same expiry."""
    from datetime import datetime, timezone as dt_timezone
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from consent.state import apply_event

    instant = datetime(2025, 3, 28, 11, 20, tzinfo=dt_timezone.utc)
    paris = SimpleNamespace(action="granted", purpose_version=1, pk=1,
                            effective_at=instant.astimezone(ZoneInfo("Europe/Paris")))
    utc = SimpleNamespace(action="granted", purpose_version=1, pk=1, effective_at=instant)
    from_paris = apply_event(None, paris, validity_months=36).expires_at
    from_utc = apply_event(None, utc, validity_months=36).expires_at
    assert from_paris == from_utc
    # 36 months on the Paris calendar: same wall-clock time, 28 March 2028 12:20 (CEST) = 10:20 UTC.
    assert from_utc == datetime(2028, 3, 28, 10, 20, tzinfo=dt_timezone.utc)


def test_an_expiry_falling_in_the_hour_repeated_when_clocks_go_back_equals_the_stored_instant():
    """36 months after 28 Oct 2026 02:33 Paris is 28 Oct 2029 02:33, an hour Paris lives twice. The fold
    must give an instant equal to the one the database stores (PEP 495: an ambiguous local time never
    compares equal across zones)."""
    from datetime import datetime, timezone as dt_timezone
    from types import SimpleNamespace

    from consent.state import apply_event

    event = SimpleNamespace(action="granted", purpose_version=1, pk=1,
                            effective_at=datetime(2026, 10, 28, 1, 33, 38, tzinfo=dt_timezone.utc))
    expires_at = apply_event(None, event, validity_months=36).expires_at
    assert expires_at == datetime(2029, 10, 28, 0, 33, 38, tzinfo=dt_timezone.utc)  # the first 02:33 (CEST)
    assert expires_at.tzinfo is dt_timezone.utc
