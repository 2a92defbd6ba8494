"""The register PDF (GDPR Art. 30) and the job machinery that builds it, read back with pypdf."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pypdf
import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override

from registry import job_kinds, selectors, services
from registry.exports import pdf
from registry.models import (
    Channel, DataSubjectCategory, Job, ProcessingActivity, SecurityMeasure, TransferSafeguard,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------


def read_pdf(content: bytes) -> pypdf.PdfReader:
    assert content[:5] == b"%PDF-", content[:40]
    return pypdf.PdfReader(io.BytesIO(content))


def page_texts(reader: pypdf.PdfReader) -> list[str]:
    # Extraction splits lines at odd places in table cells: compare on collapsed whitespace.
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def whole_text(reader: pypdf.PdfReader) -> str:
    return "\n".join(page_texts(reader))


def outline_titles(outline):
    for item in outline:
        if isinstance(item, list):
            yield from outline_titles(item)
        else:
            yield item.title


def output_pdf(job: Job) -> pypdf.PdfReader:
    with job.output.open("rb") as handle:
        return read_pdf(handle.read())


@pytest.fixture
def register(db):
    """An organisation and three activities (one draft, one retired: neither is exported)."""
    organisation = f.OrganisationFactory(cnil_dpo_designation="DPO-123456")
    # Codes of our own, so the labels are ours whatever the seeded reference tables hold.
    health = f.data_category("test-health", special_category=True, label_fr="Données de santé",
                             label_en="Health data")
    identity = f.data_category("test-identity", label_fr="État civil", label_en="Identity")
    members = f.ref(DataSubjectCategory, "test-members", label_fr="Adhérents", label_en="Members")
    email = f.ref(Channel, "test-email", label_fr="Courriel", label_en="Email")
    encryption = f.ref(SecurityMeasure, "test-encryption", label_fr="Chiffrement", label_en="Encryption")
    scc = f.ref(TransferSafeguard, "test-scc", label_fr="Clauses types", label_en="Standard clauses",
                gdpr_article="Art. 46(2)(c)")
    usa = f.country("test-us", adequacy="adequate_certified", label_fr="États-Unis", label_en="United States")

    adhesions = f.ActivityFactory(reference="ADH-01", name="Gestion des adhésions", name_en="Membership records",
                                  dpia_required=True,
                                  dpia_done_on=timezone.localdate() - timedelta(days=30))
    adhesions.data_subject_categories.add(members)
    adhesions.security_measures.add(encryption)
    adhesions.recipients.add(f.RecipientFactory(name="Trésorerie"))
    adhesions.processors.add(f.ProcessorFactory(name="HébergeurSûr SAS"))
    f.ActivityDataCategoryFactory(activity=adhesions, category=identity, retention="Durée de l'adhésion + 3 ans",
                                  retention_en="Length of membership + 3 years")
    f.ActivityDataCategoryFactory(activity=adhesions, category=health, description="Allergies (sorties)",
                                  description_en="Allergies (outings)")
    f.TransferFactory(activity=adhesions, recipient_name="MailCloud Inc.", country=usa, safeguard=scc)
    f.PurposeFactory(activity=adhesions, slug="membership", name_fr="Gestion de l'adhésion",
                     name_en="Membership management", legal_basis="contract", channels=[email],
                     retention_note="Pièces comptables : 10 ans", retention_note_en="Accounting records: 10 years")

    newsletter = f.ActivityFactory(reference="COM-02", name="Lettre d'information")  # no English name
    f.PurposeFactory(activity=newsletter, slug="newsletter", name_fr="Envoi de la lettre",
                     name_en="Sending the newsletter", legal_basis="consent", direct_marketing=True)

    events = f.ActivityFactory(reference="EVT-03", name="Sorties et visites")
    f.PurposeFactory(activity=events, slug="events", name_fr="Organisation des sorties",
                     name_en="Organising outings", legal_basis="legitimate_interests",
                     legitimate_interest="Faire vivre l'association",
                     legitimate_interest_en="Keeping the association alive")

    draft = f.ActivityFactory(reference="DRA-09", name="Brouillon", status=ProcessingActivity.Status.DRAFT)
    retired = f.ActivityFactory(reference="OLD-99", name="Ancien traitement", status=ProcessingActivity.Status.RETIRED)
    return {"organisation": organisation, "activities": [adhesions, newsletter, events],
            "draft": draft, "retired": retired}


def render(language: str) -> pypdf.PdfReader:
    return read_pdf(pdf.register_pdf(organisation=selectors.organisation_get(),
                                     activities=selectors.activities_for_export(), language=language))


# --- the document -------------------------------------------------------------------------------


def test_pdf_lists_every_activity_the_controller_and_the_dpo(register):
    reader = render("fr")
    text = whole_text(reader)

    for activity in register["activities"]:
        assert activity.reference in text
        assert activity.name in text
    assert "DRA-09" not in text and "OLD-99" not in text  # drafts and retired activities stay out

    organisation = register["organisation"]
    cover = page_texts(reader)[0]
    for value in (organisation.name, organisation.siren, organisation.address, organisation.city,
                  organisation.dpo_name, organisation.dpo_email, organisation.dpo_phone, "DPO-123456"):
        assert value in cover, value
    with override("fr"):
        assert gettext("Record of processing activities") in cover


def test_pdf_has_contents_with_the_page_of_each_activity(register):
    reader = render("en")
    texts = page_texts(reader)
    toc_index = next(i for i, text in enumerate(texts) if text.startswith("Contents") or " Contents " in text)
    toc = texts[toc_index]

    with override("en"):
        names = {activity.reference: activity.shown_name for activity in register["activities"]}
    assert names["ADH-01"] == "Membership records"
    for reference, name in names.items():
        match = re.search(re.escape(f"{reference} — {name}") + r"[ .]*?(\d+)\b", toc)
        assert match, f"{reference} missing from the contents: {toc!r}"
        page = int(match.group(1))
        # The number is the page where the activity's section starts (its heading is there).
        assert f"{reference} — {name} Reference {reference}" in texts[page - 1]

    # Bookmarks too, so a reader can jump to an activity.
    titles = list(outline_titles(reader.outline))
    for reference, name in names.items():
        assert f"{reference} — {name}" in titles


def test_pdf_in_english(register):
    reader = render("en")
    text = whole_text(reader)

    assert page_texts(reader)[0].startswith("GDPR ARTICLE 30 Record of processing activities Controller")
    assert "Membership management" in text and "Gestion de l'adhésion" not in text
    # The register's texts written in English too; the French ones where none is.
    assert "ADH-01 — Membership records" in text and "Gestion des adhésions" not in text
    assert "COM-02 — Lettre d'information" in text
    assert "Length of membership + 3 years" in text and "Durée de l'adhésion" not in text
    assert "Allergies (outings)" in text and "Allergies (sorties)" not in text
    assert "Accounting records: 10 years" in text and "Pièces comptables" not in text
    assert "Contract (Art. 6(1)(b))" in text
    assert "Legitimate interests (Art. 6(1)(f))" in text
    assert "Keeping the association alive" in text and "Faire vivre" not in text
    assert "36 months from last contact" in text
    assert "Health data Art. 9 special category" in text
    assert "MailCloud Inc." in text and "United States" in text and "Standard clauses (Art. 46(2)(c))" in text
    assert "HébergeurSûr SAS" in text and "Trésorerie" in text and "Encryption" in text
    assert "Data protection impact assessment (DPIA) Required. Carried out on" in text
    # The running footer numbers every page as "page X / Y".
    assert f"page 2 / {len(reader.pages)}" in page_texts(reader)[1]


def test_pdf_in_french_uses_the_french_labels(register):
    text = whole_text(render("fr"))

    assert "Gestion de l'adhésion" in text and "Membership management" not in text
    assert "ADH-01 — Gestion des adhésions" in text and "Membership records" not in text
    assert "Durée de l'adhésion + 3 ans" in text and "Allergies (sorties)" in text and "outings" not in text
    assert "Pièces comptables : 10 ans" in text and "Accounting records" not in text
    assert "Faire vivre l'association" in text and "Keeping the association" not in text
    assert "Données de santé" in text and "Chiffrement" in text and "États-Unis" in text


def test_pdf_of_an_empty_register_without_organisation(db):
    text = whole_text(read_pdf(pdf.register_pdf(organisation=None, activities=[], language="en")))

    assert "The controller's details have not been entered yet." in text
    assert "The register has no processing activity yet." in text


def test_register_version_counts_every_change(register):
    before, last_before = pdf.register_version()
    activity = register["activities"][0]
    activity.name = "Gestion des adhésions (révisée)"
    activity.save()

    after, last_after = pdf.register_version()
    assert after == before + 1
    assert last_after >= last_before


def test_pdf_never_fetches_a_url(register, monkeypatch):
    """Register text is the DPO's: an <img> smuggled in must neither be fetched nor break rendering."""
    activity = register["activities"][0]
    activity.description = '<img src="http://169.254.169.254/latest/meta-data/">'
    activity.save()
    fetched = []
    monkeypatch.setattr("urllib.request.OpenerDirector.open", lambda *a, **k: fetched.append(a) or None)

    text = whole_text(render("en"))

    assert fetched == []
    assert "169.254.169.254" in text  # shown as text: the template escapes it
    for url in ("http://169.254.169.254/", "https://fonts.example/x.woff2", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            pdf._refuse_every_url()(url)


# --- the job ------------------------------------------------------------------------------------


def test_the_job_kind_is_registered_at_start_up():
    """Web and worker processes only run django.setup(): the kind must be known from there."""
    script = "import django; django.setup(); from registry.job_kinds import known_kinds; print(known_kinds())"
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert result.returncode == 0, result.stderr
    assert "'register_pdf'" in result.stdout


def test_job_runs_to_done_with_an_output_file(register, django_capture_on_commit_callbacks, _isolated_files):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(kind="register_pdf", params={"language": "en"})

    job.refresh_from_db()
    assert (job.status, job.progress, job.error, job.attempts) == ("done", 100, "", 1)
    assert job.enqueued_at and job.finished_at
    assert job.output_name == f"register-{timezone.localdate().isoformat()}.pdf"
    stored = _isolated_files / job.output.name
    assert stored.is_file()
    text = whole_text(output_pdf(job))
    assert "Record of processing activities" in text
    assert all(activity.reference in text for activity in register["activities"])


def test_unknown_job_kind_is_refused(db):
    with pytest.raises(ValidationError):
        services.job_create(kind="no_such_kind")


def test_running_a_job_twice_changes_nothing_the_second_time(register, _isolated_files):
    job = Job.objects.create(kind="register_pdf")

    first = services.job_run(job_id=job.pk)
    assert first.status == Job.Status.DONE
    stored = _isolated_files / first.output.name
    content, mtime = stored.read_bytes(), stored.stat().st_mtime_ns

    assert services.job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.output.name) == ("done", 1, first.output.name)
    assert stored.read_bytes() == content and stored.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name]


def test_a_rerun_after_a_crash_replaces_the_output(register, settings, _isolated_files):
    job = Job.objects.create(kind="register_pdf")
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    first_name = job.output.name
    # The worker died after writing its file: the job is still "running" and its heartbeat stopped.
    stale = timezone.now() - timedelta(seconds=settings.JOB_STRANDED_AFTER_SECONDS + 60)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, heartbeat_at=stale, progress=40)

    rerun = services.job_run(job_id=job.pk)

    assert (rerun.status, rerun.attempts, rerun.progress) == ("done", 2, 100)
    files = [p for p in (_isolated_files / "jobs").rglob("*") if p.is_file()]
    assert [p.relative_to(_isolated_files).as_posix() for p in files] == [rerun.output.name]
    if rerun.output.name != first_name:
        assert not (_isolated_files / first_name).exists()


def test_a_failing_handler_leaves_the_job_failed_with_the_error(register, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise RuntimeError("WeasyPrint exploded")

    monkeypatch.setattr(pdf, "register_pdf", broken)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(kind="register_pdf")

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "RuntimeError: WeasyPrint exploded"
    assert job.progress < 100 and not job.output
    assert selectors.job_download_url(job=job) is None


def test_any_kind_that_raises_fails_cleanly(db, monkeypatch, django_capture_on_commit_callbacks):
    def explode(job, report):
        report(30)
        raise ValueError("no such purpose")

    monkeypatch.setitem(job_kinds._handlers, "test_explode", explode)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(kind="test_explode")

    job.refresh_from_db()
    assert (job.status, job.progress, job.error) == ("failed", 30, "ValueError: no such purpose")
    assert services.job_run(job_id=job.pk) is None  # a failed job is not retried by a redelivery


# --- the sweep ----------------------------------------------------------------------------------


@pytest.fixture
def stranded_jobs(db, settings):
    settings.JOB_STRANDED_AFTER_SECONDS = 600
    now = timezone.now()
    stale = now - timedelta(seconds=900)
    fresh = now - timedelta(seconds=60)
    return {
        "running_dead": f.JobFactory(status="running", attempts=1, started_at=stale, heartbeat_at=stale,
                                     enqueued_at=stale, created_at=stale),
        "running_alive": f.JobFactory(status="running", attempts=1, started_at=stale, heartbeat_at=fresh,
                                      enqueued_at=stale, created_at=stale),
        "pending_lost": f.JobFactory(status="pending", enqueued_at=stale, created_at=stale),
        "pending_never_enqueued": f.JobFactory(status="pending", enqueued_at=None, created_at=stale),
        "pending_fresh": f.JobFactory(status="pending", enqueued_at=fresh, created_at=stale),
        "done": f.JobFactory(status="done", progress=100, heartbeat_at=stale, created_at=stale),
    }


def test_sweep_re_enqueues_only_stranded_jobs(stranded_jobs, monkeypatch):
    from registry import tasks

    sent = []
    monkeypatch.setattr(tasks.run_job, "delay", lambda job_id: sent.append(job_id))

    swept = services.job_sweep_stranded()

    expected = {stranded_jobs[name].pk for name in ("running_dead", "pending_lost", "pending_never_enqueued")}
    assert set(swept) == expected and sorted(sent) == sorted(expected)
    for name in ("running_dead", "pending_lost", "pending_never_enqueued"):
        job = stranded_jobs[name]
        job.refresh_from_db()
        assert job.enqueued_at > timezone.now() - timedelta(seconds=30), name
    alive = stranded_jobs["running_alive"]
    alive.refresh_from_db()
    assert (alive.status, alive.attempts) == ("running", 1)


def test_swept_jobs_are_completed(register, stranded_jobs):
    services.job_sweep_stranded()  # Celery is eager here: each re-enqueued job runs at once

    for name, attempts in (("running_dead", 2), ("pending_lost", 1), ("pending_never_enqueued", 1)):
        job = stranded_jobs[name]
        job.refresh_from_db()
        assert (job.status, job.attempts, job.progress) == ("done", attempts, 100), name
        assert job.output
    alive = stranded_jobs["running_alive"]
    alive.refresh_from_db()
    assert alive.status == "running" and not alive.output
    assert services.job_sweep_stranded() == []


# --- the download view --------------------------------------------------------------------------


@pytest.fixture
def done_job(register):
    job = Job.objects.create(kind="register_pdf", params={"language": "en"})
    return services.job_run(job_id=job.pk)


def download(client, url):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.status_code == 200 else response.content
    return response, body


def test_download_with_a_signed_link(client, done_job):
    url = selectors.job_download_url(job=done_job)

    response, body = download(client, url)

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{done_job.output_name}"'
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    assert "Record of processing activities" in whole_text(read_pdf(body))


@pytest.mark.parametrize("token", ["", "garbage", "1:forged:signature"])
def test_download_refuses_a_bad_token(client, done_job, token):
    url = reverse("registry:job-download", args=[done_job.pk]) + (f"?token={token}" if token else "")

    assert client.get(url).status_code == 403


def test_download_refuses_a_token_for_another_job(client, done_job):
    other = Job.objects.create(kind="register_pdf")
    token = selectors.job_download_token(job=other)
    url = reverse("registry:job-download", args=[done_job.pk]) + f"?token={token}"

    assert client.get(url).status_code == 403


def test_download_refuses_an_expired_link(client, done_job, settings):
    settings.JOB_DOWNLOAD_LINK_MAX_AGE = 3600
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        url = selectors.job_download_url(job=done_job)
        traveller.shift(timedelta(seconds=3500))
        assert download(client, url)[0].status_code == 200
        traveller.shift(timedelta(seconds=200))
        assert client.get(url).status_code == 403


def test_download_without_token_needs_the_view_job_permission(client, done_job):
    url = reverse("registry:job-download", args=[done_job.pk])
    user = User.objects.create_user("someone", password="pw-someone-2026!")
    client.force_login(user)
    assert client.get(url).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="view_job", content_type__app_label="registry"))
    user = User.objects.get(pk=user.pk)  # drop the permission cache
    client.force_login(user)
    response, body = download(client, url)
    assert response.status_code == 200 and body.startswith(b"%PDF-")


def test_download_for_the_dpo_role(client, done_job, dpo_user):
    client.force_login(dpo_user)
    response, _ = download(client, reverse("registry:job-download", args=[done_job.pk]))
    assert response.status_code == 200


def test_download_of_an_unfinished_job_is_not_found(client, db, dpo_user):
    job = Job.objects.create(kind="register_pdf")
    client.force_login(dpo_user)

    assert client.get(reverse("registry:job-download", args=[job.pk])).status_code == 404
    assert selectors.job_download_url(job=job) is None


def test_output_is_never_under_media_url(client, done_job, settings, _isolated_files):
    stored = Path(done_job.output.path).resolve()
    assert stored.is_relative_to(_isolated_files.resolve())
    assert not stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    url = selectors.job_download_url(job=done_job)
    assert not url.lstrip("/").startswith(settings.MEDIA_URL.lstrip("/"))
    for guess in ("/" + settings.MEDIA_URL.lstrip("/") + done_job.output.name, "/" + done_job.output.name):
        assert client.get(guess).status_code == 404
    with pytest.raises(ValueError):
        done_job.output.url  # private storage has no URL at all
