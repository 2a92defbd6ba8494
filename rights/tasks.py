"""Thin Celery tasks: each calls one service or sends one email."""
from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_request_email(request_id: int, message: str, extra: dict | None = None) -> None:
    from .emails import send_request_email as send

    send(request_id=request_id, message=message, extra=extra or {})


@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_recipient_notice(task_id: int) -> None:
    from .emails import send_recipient_notice as send

    send(task_id=task_id)


@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_answer_notice(request_id: int) -> None:
    from .emails import send_answer_notice as send

    send(request_id=request_id)


@shared_task(ignore_result=True)
def expire_unverified_requests() -> None:
    services.rights_request_expire_unverified()


@shared_task(ignore_result=True)
def expire_download_links() -> None:
    services.download_links_expire()


@shared_task(ignore_result=True)
def send_deadline_reminders() -> None:
    services.rights_deadline_reminders_send()


@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_deadline_digest(email: str, request_ids: list[int], day: str) -> None:
    from .emails import send_deadline_digest as send

    send(email=email, request_ids=request_ids, day=day)
