"""Benchmark: CSV import of consents (``consent_import`` job), in events per second, against COPY of the
same file into a plain table.

Generates a CSV of EVENTS lines in the import's columns (email, phone, first_name, last_name, purpose,
channel, status, date, method, source): new contacts with two consents each (newsletter by email,
SMS promotions by SMS), then runs the import as the app does (``consent.services.consent_import_start``:
the file goes to private storage and the job runs, here eagerly in this process, validating every
line then writing them in batches: contacts and their history rows, then the events and current-consent
rows, on PostgreSQL with ``COPY``; each batch is read and chained while the one before commits, see
``consent.imports.write_rows``; ``CONSENT_IMPORT_PIPELINE=False`` in settings turns that off). Baseline in the same run:
``COPY`` of the same file into a table of text columns. The job's report must say every line was written.
Both the validation alone and the job start cold (``consent.normalise`` memoises domains and numbers).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk \\
        .venv/bin/python bench/consent_import.py [--events 20000] [--batch-size N] [--profile] [--smoke]
"""
from __future__ import annotations

import csv
import io
import random
import time
import uuid

import _common

TARGET_EVENTS_PER_S = 10_000
COLUMNS = ("email", "phone", "first_name", "last_name", "purpose", "channel", "status", "date", "method", "source")


def build_csv(events: int, run_id: str, phone_offset: int, seed: int = 5) -> bytes:
    """Two lines per new contact; emails and phones unseen in the database (a known phone would make
    the new contact a duplicate candidate of another)."""
    import consent_data

    from consent import demo

    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(COLUMNS)
    for number in range(events // 2 + events % 2):
        email = f"import-{run_id}-{number}@{consent_data.EMAIL_DOMAIN}"
        phone = f"+3375{phone_offset + number:07d}"
        first, last = rng.choice(demo.FIRST_NAMES), rng.choice(demo.LAST_NAMES)
        day = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2025 {rng.randint(8, 19):02d}:{rng.randint(0, 59):02d}"
        method = rng.choice(["paper", "web_form", "event", "staff_form"])
        writer.writerow([email, phone, first, last, "newsletter", "email", "granted", day, method, "Salon 2025"])
        if 2 * number + 1 < events:
            writer.writerow([email, phone, first, last, "sms-promotions", "sms",
                             rng.choice(["granted", "granted", "refused"]), day, method, "Salon 2025"])
    return buffer.getvalue().encode("utf-8")


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="lines of the CSV file (one event each)")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of the job")
    parser.add_argument("--batch-size", type=int, help="the job's batch size (settings.CONSENT_IMPORT_BATCH_SIZE; "
                        "default: the app's)")
    args = parser.parse_args()
    if args.smoke:
        args.events = 500
    with _common.start(args) as bench:
        run(bench, args)


def run(bench, args) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from consent.imports import DEFAULT_BATCH_SIZE, validate_rows
    from consent.models import Contact
    from consent.normalise import clear_memos
    from consent.services import consent_import_start
    from registry.models import Job

    if args.batch_size:
        settings.CONSENT_IMPORT_BATCH_SIZE = args.batch_size
    run_id = uuid.uuid4().hex[:10]
    phone_offset = Contact.objects.filter(phone__startswith="+3375").count()
    content = build_csv(args.events, run_id, phone_offset)
    dpo = get_user_model().objects.get(username="dpo")

    # The job's first pass alone (reads and checks every line, writes nothing).
    clear_memos()
    validate_seconds, validation = _common.best_of(1, lambda: validate_rows(content))
    assert len(validation.valid) == args.events and not validation.rejected, validation.rejected

    # Baseline: COPY of the same file into a table of text columns, best of 3.
    def copy_file():
        with _common.psycopg_connect(bench.database) as pg, pg.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_import_copy ("
                           + ", ".join(f"{name} text" for name in COLUMNS) + ")")
            cursor.execute("TRUNCATE bench_import_copy")
            with cursor.copy("COPY bench_import_copy FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';')") as copy:
                copy.write(content)
            cursor.execute("SELECT count(*) FROM bench_import_copy")
            return cursor.fetchone()[0]

    copy_seconds, copied = _common.best_of(3, copy_file)
    assert copied == args.events, copied

    def import_file():
        clear_memos()  # the job's validation as cold as the first pass measured above
        job = consent_import_start(file_name=f"bench-{run_id}.csv", content=content, valid_rows_only=False,
                                   requested_by=dpo)
        return Job.objects.get(pk=job.pk)  # eager Celery: the job ran when its row was committed

    backend = _BackendCpu()
    process_started = time.process_time()
    started = time.perf_counter()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        job = profiler.runcall(import_file)
    else:
        job = import_file()
    import_seconds = time.perf_counter() - started
    process_cpu = time.process_time() - process_started
    backend_cpu = backend.seconds()
    counts = job.counts or {}
    assert job.status == Job.Status.DONE, (job.status, job.error)
    assert counts.get("written") == args.events and not counts.get("rejected"), counts

    import_rate = args.events / import_seconds
    copy_rate = args.events / copy_seconds
    sql_seconds, sql_cpu = sql_alone(job)
    sql_rate = args.events / sql_seconds
    dataset = bench.dataset
    print()
    batch_size = getattr(settings, "CONSENT_IMPORT_BATCH_SIZE", DEFAULT_BATCH_SIZE)
    print(f"consent import, {args.events:,} lines into {dataset.contacts:,} contacts / {dataset.events:,} events, "
          f"batches of {batch_size:,}; {_common.machine()}")
    print(_common.table([
        ["COPY of the same file into a text table (baseline, best of 3)", f"{copy_seconds:.3f}", f"{copy_rate:,.0f}",
         "1"],
        ["the job's rows into the app's tables by SQL alone (INSERT ... SELECT, keys checked; rolled back)",
         f"{sql_seconds:.2f}", f"{sql_rate:,.0f}", f"{copy_rate / sql_rate:,.0f}"],
        ["consent_import job (validate, then write in batches)", f"{import_seconds:.2f}", f"{import_rate:,.0f}",
         f"{copy_rate / import_rate:,.0f}"],
        ["  of which: validate_rows, first pass alone", f"{validate_seconds:.2f}",
         f"{args.events / validate_seconds:,.0f}", f"{copy_rate / (args.events / validate_seconds):,.0f}"],
        ["  of which: writing (job minus validation)", f"{import_seconds - validate_seconds:.2f}",
         f"{args.events / max(import_seconds - validate_seconds, 1e-9):,.0f}",
         f"{copy_rate / (args.events / max(import_seconds - validate_seconds, 1e-9)):,.0f}"],
    ], ["series", "seconds", "events/s", "x slower"]))
    # Where the job's time goes: its Python (all threads, one GIL) and its PostgreSQL backend. With
    # the two overlapping perfectly, the job cannot take less than the larger of them.
    cpu = f"job CPU: Python {process_cpu:.2f} s (all threads)"
    if backend_cpu is not None:
        floor = max(process_cpu, backend_cpu)
        cpu += (f", PostgreSQL backend {backend_cpu:.2f} s; floor with perfect overlap {floor:.2f} s "
                f"= {args.events / floor:,.0f} events/s")
    print(cpu)
    if sql_cpu is not None:
        # What PostgreSQL spends on these rows with no Python at all: with the validation's time added,
        # a lower bound of the job on this machine, whatever the application does.
        floor = validate_seconds + sql_cpu
        print(f"PostgreSQL alone: {sql_cpu:.2f} s of backend CPU for the job's rows; with the validation, "
              f"{floor:.2f} s = {args.events / floor:,.0f} events/s at best on this machine")
    print(f"import: {import_rate:,.0f} events/s (target >= {TARGET_EVENTS_PER_S:,}: "
          f"{'met' if import_rate >= TARGET_EVENTS_PER_S else 'MISSED'}), job #{job.pk}: {counts}")
    if args.profile:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(45)
        stream2 = io.StringIO()
        pstats.Stats(profiler, stream=stream2).sort_stats("tottime").print_stats(15)
        print(stream2.getvalue())
        print(stream.getvalue())
    extra = "" if bench.smoke else f"--events {args.events}"
    if args.database:
        extra = f"--database {args.database} {extra}"
    if args.batch_size:
        extra += f" --batch-size {args.batch_size}"
    print("reproduce: " + _common.reproduce("consent_import.py", bench, extra.strip()))


def sql_alone(job) -> tuple[float, float | None]:
    """Write again, by SQL alone, the rows the job wrote (its new contacts and their history rows,
    its events, their current consent) under other keys, in one transaction with every foreign key
    checked, then roll back: what PostgreSQL itself spends on them, with no Python and no network
    in between. (seconds, backend CPU seconds or None)."""
    from django.db import connection, transaction

    from consent.models import ConsentEvent, ConsentState, Contact

    offset = 10**12  # keys no row has
    prefix = f"import:{job.pk}:"
    event_ids = "(SELECT id FROM consent_consentevent WHERE idempotency_key LIKE %(prefix)s)"
    contact_ids = f"(SELECT DISTINCT contact_id FROM consent_consentevent WHERE id IN {event_ids})"
    history = Contact.history.model

    def replay(model, where: str, changed: dict[str, str]) -> str:
        columns = [field.column for field in model._meta.concrete_fields
                   if not (field.primary_key and field.column not in changed)]
        values = [changed.get(column, column) for column in columns]
        return (f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM {model._meta.db_table} WHERE {where}")

    shifted = f"id + {offset}"
    statements = [
        replay(Contact, f"id IN {contact_ids}", {"id": shifted, "email": "'sql-alone-' || email"}),
        replay(history, f"id IN {contact_ids} AND history_type = '+'", {"id": shifted, "email": "'sql-alone-' || email"}),
        replay(ConsentEvent, f"id IN {event_ids}", {
            "id": shifted, "sequence": f"sequence + {offset}", "contact_id": f"contact_id + {offset}",
            "idempotency_key": "'sql-alone:' || idempotency_key"}),
        replay(ConsentState, f"contact_id IN {contact_ids}", {
            "contact_id": f"contact_id + {offset}", "last_event_id": f"last_event_id + {offset}"}),
        "SET CONSTRAINTS ALL IMMEDIATE",  # the deferred foreign-key checks a commit runs
    ]
    backend = _BackendCpu()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, {"prefix": f"{prefix}%"} if "%(prefix)s" in statement else None)
        seconds = time.perf_counter() - started
        cpu = backend.seconds()
        transaction.set_rollback(True)
    return seconds, cpu


class _BackendCpu:
    """CPU time used by this process's PostgreSQL backend since creation (user + system, from
    /proc: only when the server runs on this machine; else ``seconds()`` is None). The eager job
    runs on Django's connection, whose backend this is."""

    def __init__(self) -> None:
        import os

        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.path = f"/proc/{cursor.fetchone()[0]}/stat"
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._read()

    def _read(self) -> float | None:
        try:
            with open(self.path) as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime (fields 14 and 15)

    def seconds(self) -> float | None:
        end = self._read()
        return None if end is None or self.start is None else end - self.start


if __name__ == "__main__":
    main()
