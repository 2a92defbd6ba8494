from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def expire_due_consents() -> None:
    services.consent_expire_due()


@shared_task(ignore_result=True)
def lapse_outdated_consents() -> None:
    services.consent_lapse_outdated()


@shared_task(ignore_result=True)
def expire_pending_double_opt_ins() -> None:
    services.consent_expire_pending()


@shared_task(acks_late=True, ignore_result=True)
def send_retirement_notices() -> None:
    services.retirement_notices_send()


@shared_task(ignore_result=True)
def compact_audience_counts() -> None:
    services.audience_count_deltas_compact()


@shared_task(ignore_result=True)
def send_preference_link(contact_id: int) -> None:
    from .emails import send_preference_link as send

    send(contact_id=contact_id)
