from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    services.job_run(job_id=job_id)


@shared_task(ignore_result=True)
def sweep_stranded_jobs() -> None:
    services.job_sweep_stranded()
