"""PostgreSQL: the pipelined import (each batch read and chained ahead, while the batch before
commits) writes exactly the rows of the one-batch-at-a-time path, and falls back on it when
another writer appended in between."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

import consent.imports  # noqa: F401  (registers the consent_import job kind)
from consent import imports, services
from consent.models import ConsentEvent
from registry import services as registry_services
from tests.factories import ContactFactory, PurposeFactory, channel, record_consent
from tests.integration.test_consent_import_copy import (
    NOW,
    _check_ledger,
    _content,
    _write_and_roll_back,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
_ORIGINAL = {"plan_write": services.append_plan_write, "record_many": services.consent_record_many,
             "batch_ahead": imports._batch_ahead}


@pytest.fixture
def setup(reference_data, roles, dpo_user, monkeypatch):
    assert connection.vendor == "postgresql"
    newsletter = PurposeFactory(slug="int-newsletter", legal_basis="consent", consent_validity_months=24,
                                channels=[channel("email"), channel("sms")])
    known = ContactFactory(email="known@example.org", phone="+33612345678")
    record_consent(known, newsletter, "sms", effective_at=datetime(2024, 1, 1, tzinfo=UTC))
    job = registry_services.job_create(kind=imports.JOB_KIND, requested_by=dpo_user,
                                       params={"file": "x", "file_name": "pipe.csv"})
    rows = imports.validate_rows(_content(60)).valid
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return {"job": job, "rows": rows, "newsletter": newsletter, "known": known}


def _write(setup, monkeypatch, *, pipelined: bool, between=None) -> tuple[dict, dict]:
    """Write the rows in batches of 7 inside a rolled-back transaction; (snapshot, how many
    batches went by a plan written ahead / by the usual append)."""
    used = {"plan": 0, "usual": 0}
    plan_write, record_many = _ORIGINAL["plan_write"], _ORIGINAL["record_many"]

    def counted_plan_write(*, plan):
        result = plan_write(plan=plan)
        if result is not None:
            used["plan"] += 1
        return result

    def counted_record_many(*, requests):
        used["usual"] += len(requests) > 1  # an import's batch, not another writer's single event
        return record_many(requests=requests)

    monkeypatch.setattr(services, "append_plan_write", counted_plan_write)
    monkeypatch.setattr(services, "consent_record_many", counted_record_many)
    # The job's own transactions are pipelined; this test's outer one lets it roll everything back.
    monkeypatch.setattr(imports, "_pipelined", lambda: pipelined)
    if between is not None:
        batch_ahead = _ORIGINAL["batch_ahead"]

        def ahead_then_write(**kwargs):
            result = batch_ahead(**kwargs)
            if result[1] is not None:
                result[1].join()  # the chain built, as when the commit is quicker than it
            between()
            return result

        monkeypatch.setattr(imports, "_batch_ahead", ahead_then_write)
    return _write_and_roll_back(setup["job"], setup["rows"], file_name="pipe.csv", batch_size=7), used


def test_pipelined_and_one_batch_at_a_time_write_the_same_rows(setup, monkeypatch):
    piped, piped_used = _write(setup, monkeypatch, pipelined=True)
    plain, plain_used = _write(setup, monkeypatch, pipelined=False)

    batches = -(-len(setup["rows"]) // 7)
    assert plain_used == {"plan": 0, "usual": batches}
    assert piped_used == {"plan": batches - 1, "usual": 1}  # the first batch has no batch before it
    assert piped == plain
    assert len(piped["events"]) == 122 and len(piped["contacts"]) == 61 and len(piped["states"]) == 121


def test_a_write_between_two_batches_makes_the_next_one_append_the_usual_way(setup, monkeypatch):
    """Another writer appends after a batch was chained ahead: its plan is dropped (nothing of it
    written), the batch goes through consent_record_many after the new tail, the chain verifies and
    no line is lost or doubled."""
    other = ContactFactory(email="other@example.org")
    writes = []

    def another_writer():
        if len(writes) < 2:
            writes.append(record_consent(other, setup["newsletter"], "email"))

    snapshot, used = _write(setup, monkeypatch, pipelined=True, between=another_writer)

    batches = -(-len(setup["rows"]) // 7)
    assert used["plan"] == batches - 3 and used["usual"] == 3  # the first batch, then the two disturbed
    keys = [dict(values)["idempotency_key"] for _email, _doc, values in snapshot["events"]]
    imported = [key for key in keys if key and key.startswith("import:")]
    assert len(imported) == len(set(imported)) == 121
    assert len(snapshot["events"]) == 1 + 121 + 2  # the known contact's, the file's, the other writer's


def test_a_line_whose_key_is_already_in_the_ledger_is_not_written_twice(setup, monkeypatch, dpo_user):
    """A batch read ahead does not look its keys up (lines past the last committed one were never
    written); should one be in the ledger all the same, its unique constraint refuses the batch,
    which then goes line by line: the line answers with the event already there."""
    job, line = setup["job"], setup["rows"][9].line  # in the second batch, the first one read ahead
    existing = record_consent(setup["known"], setup["newsletter"], "email", recorded_by=dpo_user,
                              idempotency_key=imports.idempotency_key(job, line))

    snapshot, used = _write(setup, monkeypatch, pipelined=True)

    batches = -(-len(setup["rows"]) // 7)
    assert used == {"plan": batches - 2, "usual": 1}  # the refused plan's batch went line by line
    keys = [dict(values)["idempotency_key"] for _email, _doc, values in snapshot["events"]]
    imported = [key for key in keys if key and key.startswith("import:")]
    assert len(imported) == len(set(imported)) == 121
    assert len(snapshot["events"]) == 1 + 1 + 120  # the known contact's, the one with the key, the file's others
    assert ConsentEvent.objects.filter(idempotency_key=existing.idempotency_key).get() == existing


def test_append_plan_write_refuses_a_moved_tail(setup):
    """The plan is written only after the tail it was chained on: else nothing is written."""
    known, newsletter = setup["known"], setup["newsletter"]
    request = services.EventRequest(contact=known, purpose=newsletter, channel=channel("email"), action="granted",
                                    method="paper", idempotency_key="plan-test")
    with transaction.atomic():
        plan = services.append_plan_read(requests=[request])
        assert plan is not None
        assert services.append_plan_chain(plan=plan, tail=(0, "f" * 64)) is True  # not the real tail
        before = ConsentEvent.objects.count()
        assert services.append_plan_write(plan=plan) is None
        assert ConsentEvent.objects.count() == before
        assert services.append_plan_chain(plan=plan, tail=services.ledger_tail()) is True
        [recorded] = services.append_plan_write(plan=plan)
        assert recorded.created and recorded.event.pk and ConsentEvent.objects.count() == before + 1
        _check_ledger()


def test_a_pipelined_job_commits_batch_after_batch_and_the_ledger_verifies(transactional_db, reference_data, roles,
                                                                           dpo_user, settings, monkeypatch):
    """The real thing: the job's own transactions (eager Celery, autocommit), the chain of each batch
    built by a thread while the batch before commits."""
    newsletter = PurposeFactory(slug="int-newsletter", legal_basis="consent", consent_validity_months=24,
                                channels=[channel("email"), channel("sms")])
    known = ContactFactory(email="known@example.org", phone="+33612345678")
    record_consent(known, newsletter, "sms", effective_at=datetime(2024, 1, 1, tzinfo=UTC))
    settings.CONSENT_IMPORT_BATCH_SIZE = 7
    planned = []
    monkeypatch.setattr(services, "append_plan_write",
                        lambda *, plan: planned.append(_ORIGINAL["plan_write"](plan=plan)) or planned[-1])

    run = registry_services.job_run  # in this process, at once (no broker)
    monkeypatch.setattr(registry_services, "job_enqueue", lambda *, job_id: run(job_id=job_id))

    job = services.consent_import_start(file_name="pipe.csv", content=_content(60), valid_rows_only=False,
                                        requested_by=dpo_user)
    job.refresh_from_db()

    assert (job.status, job.error) == ("done", "")
    assert job.counts == {"rows": 121, "valid": 121, "rejected": 0, "written": 121, "last_row": 122}
    assert len(planned) == 17 and all(recorded is not None for recorded in planned)  # 18 batches, all but the first
    assert ConsentEvent.objects.filter(idempotency_key__startswith=f"import:{job.pk}:").count() == 121
    _check_ledger()


def test_a_batch_read_ahead_reads_no_consent_of_its_new_contacts(setup, django_assert_num_queries):
    """The contacts a batch numbered ahead have no current consent yet: append_plan_read and
    append_plan_write read only the known contact's, and the purposes' channels in one query."""
    known, newsletter = setup["known"], setup["newsletter"]
    other = PurposeFactory(slug="int-other", legal_basis="consent", channels=[channel("email")])
    record_consent(ContactFactory(), other, "email")  # its notice stored, as after a first batch
    with transaction.atomic():
        fresh = [services.contact_build(email=f"fresh{n}@example.org", phone="", external_ref="") for n in range(3)]
        services.contacts_draw_ids(contacts=fresh)
        requests = [services.EventRequest(contact=contact, purpose=purpose, channel=channel("email"),
                                          action="granted", method="paper", idempotency_key=f"fresh-{n}")
                    for n, (contact, purpose) in enumerate([(known, newsletter), *((c, other) for c in fresh)])]
        captured = []
        with connection.execute_wrapper(lambda execute, sql, params, *args: captured.append((sql, params)) or execute(sql, params, *args)):
            plan = services.append_plan_read(requests=requests, keys_unused=True,
                                             new_contact_ids=frozenset(c.id for c in fresh))
        assert plan is not None
        [(_sql, params)] = [(sql, params) for sql, params in captured if "consent_consentstate" in sql]
        assert list(params[0]) == [known.pk]  # the contacts read: not the new ones
        assert sum("registry_purpose_channels" in sql for sql, _params in captured) == 1  # both purposes at once
        assert plan.cache.purpose_channels == {newsletter.pk: {channel("email").pk, channel("sms").pk},
                                               other.pk: {channel("email").pk}}
        assert plan.current[(known.pk, newsletter.pk, channel("email").pk)] is None  # only an SMS grant

        services.contacts_bulk_create(contacts=fresh)
        assert services.append_plan_chain(plan=plan, tail=services.ledger_tail()) is True
        captured.clear()
        with connection.execute_wrapper(lambda execute, sql, params, *args: captured.append((sql, params)) or execute(sql, params, *args)):
            written = services.append_plan_write(plan=plan)
        assert written is not None and all(recorded.created for recorded in written)
        [(_sql, params)] = [(sql, params) for sql, params in captured
                            if sql.lstrip().startswith("SELECT") and "consent_consentstate" in sql]
        assert list(params[0]) == [known.pk]
        _check_ledger()
        transaction.set_rollback(True)
