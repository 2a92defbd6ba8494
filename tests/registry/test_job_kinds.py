"""Job kinds by their labels (registry.job_kinds): the journal's list, filter and page and Job.__str__
show what a job does in the active language; the stored kind stays a code."""
import pytest
from django.urls import reverse
from django.utils import translation

from registry.job_kinds import job_kind_label, known_kinds
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

LABELS = {"consent_import": "Consent import", "consent_validity": "Consent validity update",
          "register_pdf": "Register PDF", "rights_fulfil": "Rights request fulfilment",
          "rights_delete_files": "Deletion of erased data's files"}


def test_every_registered_kind_has_its_label_and_an_unknown_kind_shows_its_code():
    assert set(LABELS) <= set(known_kinds())
    with translation.override("en"):
        assert {kind: job_kind_label(kind) for kind in LABELS} == LABELS
        assert all(job_kind_label(kind) != kind for kind in known_kinds())
        assert job_kind_label("retired_kind") == "retired_kind"
    with translation.override("fr"):
        assert job_kind_label("consent_import") == "Import de consentements"
        assert job_kind_label("register_pdf") == "PDF du registre"


def test_str_names_the_kind_by_its_label():
    job = JobFactory(kind="consent_import", status="done")
    with translation.override("en"):
        assert str(job) == f"Consent import #{job.pk} (Done)"
        assert str(JobFactory(kind="retired_kind")).startswith("retired_kind #")
    with translation.override("fr"):
        assert str(job) == f"Import de consentements #{job.pk} (Terminée)"
    job.refresh_from_db()
    assert job.kind == "consent_import"  # the code is what is stored


@pytest.mark.parametrize("prefix, imported, pdf", [("", "Import de consentements", "PDF du registre"),
                                                   ("/en", "Consent import", "Register PDF")])
def test_the_journal_lists_and_shows_kinds_by_their_labels(client, dpo_user, prefix, imported, pdf):
    job = JobFactory(kind="consent_import")
    JobFactory(kind="register_pdf")
    changelist, change = reverse("admin:registry_job_changelist"), reverse("admin:registry_job_change", args=[job.pk])
    client.force_login(dpo_user)
    page = client.get(prefix + changelist).content.decode()
    assert f'<td class="field-kind_label">{imported}</td>' in page
    assert f'<td class="field-kind_label">{pdf}</td>' in page
    assert '<td class="field-kind_label">consent_import</td>' not in page
    detail = client.get(prefix + change).content.decode()
    assert f'<div class="readonly">{imported}</div>' in detail


def test_the_kind_filter_offers_the_stored_kinds_by_label_and_filters(client, dpo_user):
    imported = JobFactory(kind="consent_import")
    pdf = JobFactory(kind="register_pdf")
    retired = JobFactory(kind="retired_kind")
    client.force_login(dpo_user)
    url = "/en" + reverse("admin:registry_job_changelist")
    page = client.get(url).content.decode()
    filter_html = page[page.index('id="changelist-filter"'):]
    for kind, label in (("consent_import", "Consent import"), ("register_pdf", "Register PDF"),
                        ("retired_kind", "retired_kind")):
        assert f'<a href="?kind={kind}">{label}</a>' in filter_html, kind
    assert "Rights request fulfilment" not in filter_html  # no job of that kind in the journal
    listed = client.get(url, {"kind": "register_pdf"}).context["cl"].result_list
    assert list(listed) == [pdf]
    assert list(client.get(url, {"kind": "retired_kind"}).context["cl"].result_list) == [retired]
    assert {job.pk for job in client.get(url).context["cl"].result_list} == {imported.pk, pdf.pk, retired.pk}
