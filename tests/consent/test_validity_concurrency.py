"""PostgreSQL, two connections: the validity job and a staff submission that completes a chosen
contact (which rewrites its consent rows' reachability) before appending never deadlock, as every
writer of current-consent rows takes the append lock before them."""
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from consent import services
from consent.models import Contact
from consent.state import grant_expiry
from registry.models import Purpose

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_validity_job_and_a_contact_completed_then_appended_do_not_deadlock(newsletter, channels):
    if connection.vendor != "postgresql":
        pytest.skip("two connections with row locks: PostgreSQL's")
    lea = services.contact_create(phone="06 11 22 33 44", first_name="Léa", last_name="Martin")
    for code in ("sms", "email"):  # the email grant is not reachable yet: she has no email
        services.consent_record(contact=lea, purpose=newsletter, channel=channels[code], action="granted",
                                method="staff_form", effective_at=timezone.now() - timedelta(days=30))
    Purpose.objects.filter(pk=newsletter.pk).update(consent_validity_months=12)
    desk_completed, job_started = threading.Event(), threading.Event()
    errors = {}

    def desk():  # form_submit for a chosen contact: complete it, then append, in one transaction
        try:
            with transaction.atomic():
                contact = Contact.objects.get(pk=lea.pk)
                services.contact_update(contact=contact, email="lea@example.org")
                desk_completed.set()
                job_started.wait(5)
                time.sleep(0.3)  # the job is now waiting for the append lock this transaction holds
                services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                        action="withdrawn", method="staff_form")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors["desk"] = repr(exc)
        finally:
            connections.close_all()

    def job():
        try:
            desk_completed.wait(5)
            job_started.set()
            services.consent_validity_apply(purpose=newsletter)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors["job"] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=desk), threading.Thread(target=job)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == {}
    states = {state.channel.code: state for state in lea.consent_states.select_related("channel")}
    assert (states["email"].status, states["email"].reachable) == ("withdrawn", True)
    assert states["sms"].expires_at == grant_expiry(states["sms"].since, 12)  # the job's work, done
