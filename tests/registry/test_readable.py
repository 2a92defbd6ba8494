"""Stored JSON as people read it on admin pages (registry.readable): a job's parameters and counts
as "label: value" lists, never the raw JSON; the stored data unchanged."""
import re

import pytest
from django.urls import reverse
from django.utils import translation

from registry.readable import readable_html
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_labels_formatters_and_nesting():
    data = {"language": "fr", "include_drafts": False, "rows": 0, "file": "", "retry_job": 12,
            "erasure": {"sources": [{"source": "consent.Contact", "count": 2, "action": "anonymised"}],
                        "at": "2026-01-02"},
            "unknown_key": [1, 2]}
    with translation.override("en"):
        html = readable_html(data)
    assert html.startswith('<ul class="readable-values">')
    for item in ("<li>language: French</li>", "<li>drafts included: no</li>", "<li>lines read: 0</li>",
                 "<li>retry job: #12</li>", "<li>unknown_key: 1, 2</li>",
                 "<li>data: contacts, count: 2, action: anonymised</li>", "<li>at: Jan. 2, 2026</li>"):
        assert item in html, item
    assert "stored file" not in html  # an empty value is left out
    assert readable_html({}) == "" and readable_html({"file": ""}) == ""


def test_stored_text_is_escaped():
    html = readable_html({"file_name": "<script>alert(1)</script>.csv", "sources": [{"reason": "<b>x</b>"}]})
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_the_job_page_shows_parameters_and_counts_as_lists(client, dpo_user):
    params = {"file": "imports/2026/01/abc-contacts.csv", "file_name": "contacts.csv", "valid_rows_only": True}
    counts = {"rows": 3, "valid": 2, "rejected": 1, "written": 2, "last_row": 3}
    job = JobFactory(kind="consent_import", status="done", params=params, counts=counts)
    client.force_login(dpo_user)
    response = client.get("/en" + reverse("admin:registry_job_change", args=[job.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    for item in ("<li>file name: contacts.csv</li>", "<li>valid lines only: yes</li>", "<li>lines read: 3</li>",
                 "<li>rejected lines: 1</li>", "<li>lines written: 2</li>"):
        assert item in page, item
    assert "&quot;file_name&quot;" not in page and "&quot;rows&quot;" not in page  # no raw JSON
    assert "Parameters" in page and "Counts" in page  # the fields' own labels
    job.refresh_from_db()
    assert (job.params, job.counts) == (params, counts)


ERASURE_COUNTS = {"erasure": {
    "contacts": [7], "withdrawn": 2,
    "sources": [{"source": "consent.Contact", "count": 1, "action": "anonymised"},
                {"source": "registry.Job", "count": 1, "action": "deleted"},
                {"source": "consent.Contact", "count": 1, "action": "some_new_action"}],
}}


def rows(page: str) -> list[set[str]]:
    """The "label: value" parts of each innermost list item, whatever the order of the keys
    (PostgreSQL's jsonb sorts them; SQLite keeps them as written)."""
    return [set(item.split(", ")) for item in re.findall(r"<li>([^<]*)</li>", page)]


@pytest.mark.parametrize("prefix, anonymised, deleted", [
    ("", "données: contacts, nombre: 1, action: anonymisé", "données: tâches, nombre: 1, action: supprimé"),
    ("/en", "data: contacts, count: 1, action: anonymised", "data: jobs, count: 1, action: deleted"),
])
def test_the_job_page_names_an_erasure_s_actions_in_the_active_language(client, dpo_user, prefix, anonymised,
                                                                         deleted):
    job = JobFactory(kind="rights_fulfil", status="done", params={"request_id": 3}, counts=ERASURE_COUNTS)
    url = reverse("admin:registry_job_change", args=[job.pk])
    client.force_login(dpo_user)
    shown = rows(client.get(prefix + url).content.decode())
    assert set(anonymised.split(", ")) in shown and set(deleted.split(", ")) in shown
    assert any("action: some_new_action" in row for row in shown)  # a code without a label shows as it is
    job.refresh_from_db()
    assert job.counts == ERASURE_COUNTS  # the codes are the data: only their display changes


def test_action_codes_read_in_french():
    with translation.override("fr"):
        html = readable_html({"sources": [{"action": code} for code in ("exported", "updated", "flagged", "objected",
                                                                         "withdrawn")]})
    for label in ("exporté", "rectifié", "limité", "opposition enregistrée", "consentement retiré"):
        assert f"<li>action: {label}</li>" in html, label
