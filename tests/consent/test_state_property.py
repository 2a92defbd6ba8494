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
        st.sampled_from(["pending", "granted", "refused", "withdrawn", "objected", "objection_lifted"]),
        st.sampled_from(["web_form", "api", "double_opt_in", "paper"]),
        st.integers(min_value=0, max_value=2000),  # minutes before now: late and out-of-order events
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
