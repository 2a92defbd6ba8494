import smtplib

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


# Emails to a person go from the worker, retried while the mail server refuses them; the request that
# recorded their consent has answered by then (services.after_commit).
EMAIL_RETRY = {"autoretry_for": (OSError, smtplib.SMTPException), "retry_backoff": 60, "max_retries": 5}


@shared_task(ignore_result=True, **EMAIL_RETRY)
def send_preference_link(contact_id: int) -> None:
    from .emails import send_preference_link as send

    send(contact_id=contact_id)


@shared_task(ignore_result=True, **EMAIL_RETRY)
def send_double_opt_in(event_id: int) -> None:
    from .emails import send_double_opt_in as send

    send(event_id=event_id)


@shared_task(ignore_result=True, **EMAIL_RETRY)
def send_consent_receipts(event_ids: list[int]) -> None:
    from .emails import send_consent_receipts as send

    send(event_ids=event_ids)
