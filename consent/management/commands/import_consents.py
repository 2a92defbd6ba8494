"""``manage.py import_consents FILE``: the admin's import, from the command line."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.celery_app import app as celery_app
from consent.services import consent_import_start
from registry.models import Job
from registry.selectors import job_wait_finished


class Command(BaseCommand):
    help = ("Import contacts and their consents from a CSV file (email, phone, first_name, last_name, purpose, "
            "channel, status, date, method, source) as a consent_import job. Nothing is written when a line is "
            "rejected, unless --valid-rows-only.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file")
        parser.add_argument("--valid-rows-only", action="store_true", help="import the valid lines, skip the others")
        parser.add_argument("--user", help="username recorded as the person who asked for the import")
        parser.add_argument("--wait", action="store_true", help="wait for the job to end and print its report")
        parser.add_argument("--timeout", type=float, default=3600.0, help="with --wait: seconds (default 3600)")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        try:
            job = consent_import_start(file_name=path.name, content=content,
                                       valid_rows_only=options["valid_rows_only"], requested_by=user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        self.stdout.write(f"Import job #{job.pk} created for {path.name}.")
        if options["wait"]:
            job = self._wait(job.pk, options["timeout"])
        elif celery_app.conf.task_always_eager:  # the job ran when the row was committed, if it was
            job = Job.objects.get(pk=job.pk)
            if job.status not in (Job.Status.DONE, Job.Status.FAILED):
                return
        else:
            return
        self._print_report(job)
        if job.status == Job.Status.FAILED:
            raise CommandError(job.error or f"Job #{job.pk} failed.")
        counts = job.counts or {}
        if counts.get("rejected") and not options["valid_rows_only"]:
            raise CommandError(f"Nothing imported: {counts['rejected']} line(s) rejected. Correct them, or run "
                               "again with --valid-rows-only.")

    def _wait(self, job_id: int, timeout: float) -> Job:
        job = job_wait_finished(job_id=job_id, timeout=timeout)
        if job.status not in (Job.Status.DONE, Job.Status.FAILED):
            raise CommandError(f"Job #{job_id} is still {job.status} ({job.progress}%) after {timeout:.0f}s.")
        return job

    def _print_report(self, job: Job) -> None:
        counts = job.counts or {}
        self.stdout.write(
            f"Job #{job.pk} {job.status}: {counts.get('rows', 0)} line(s), {counts.get('valid', 0)} valid, "
            f"{counts.get('rejected', 0)} rejected, {counts.get('written', 0)} written."
        )
        if not job.output:
            return
        with job.output.open("rb") as handle:
            report = handle.read().decode("utf-8-sig")
        for row in csv.DictReader(io.StringIO(report), delimiter=";"):
            if row["status"] != "written":
                self.stdout.write(f"  line {row['line']}: {row.get('label') or row['status']} {row['reason']}".rstrip())
