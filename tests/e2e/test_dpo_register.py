"""A DPO logs into the admin, adds a purpose to an activity, asks for the register PDF and downloads it."""
import io

import pytest
from pypdf import PdfReader

from registry.models import Job, Purpose
from tests.factories import ActivityFactory, OrganisationFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def register(reference_data, roles):
    OrganisationFactory()
    return ActivityFactory(reference="T-042", name="Gestion des adhérents")


def test_dpo_adds_a_purpose_and_downloads_the_register_pdf(live_server, page, register, tmp_path):
    from django.contrib.auth.models import Group, User

    dpo = User.objects.create_user("dpo-e2e", password="Dpo-e2e-pass-2026", is_staff=True)
    dpo.groups.add(Group.objects.get(name="dpo"))

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "dpo-e2e")
    page.fill("#id_password", "Dpo-e2e-pass-2026")
    page.click("input[type=submit]")
    page.wait_for_selector("#dpo-desk-tools")

    # The activity's page warns that it has no purpose yet.
    page.goto(f"{live_server.url}/admin/registry/processingactivity/{register.pk}/change/")
    assert page.locator(".messagelist .warning").count() == 1

    page.click("#purposes-group .add-row a")
    form = "#purposes-0"
    page.fill(f"{form} input[name='purposes-0-slug']", "adhesion")
    page.fill(f"{form} input[name='purposes-0-name_fr']", "Gestion des adhésions")
    page.fill(f"{form} input[name='purposes-0-name_en']", "Membership management")
    page.fill(f"{form} textarea[name='purposes-0-text_fr']", "Nous traitons vos données pour gérer votre adhésion.")
    page.fill(f"{form} textarea[name='purposes-0-text_en']", "We process your data to manage your membership.")
    page.select_option(f"{form} select[name='purposes-0-legal_basis']", "contract")
    page.fill(f"{form} input[name='purposes-0-retention_months']", "36")
    page.select_option(f"{form} select[name='purposes-0-retention_start']", "end_of_relationship")
    page.click("input[name='_continue']")
    page.wait_for_selector(".messagelist .success")

    purpose = Purpose.objects.get(slug="adhesion")
    assert purpose.activity_id == register.pk and purpose.version == 1
    assert purpose.versions.get().text_fr.startswith("Nous traitons")
    assert "incomplete" not in page.inner_text("#content").lower()

    # Ask for the register PDF and download it from its job.
    page.goto(f"{live_server.url}/admin/")
    page.click("#dpo-desk-tools a[href$='/register-export/']")
    page.check("input[name='format'][value='pdf']")
    page.click("#register-export-form input[type=submit]")
    page.wait_for_selector("a.job-download", timeout=60_000)
    job = Job.objects.get(kind="register_pdf")
    assert job.status == Job.Status.DONE and job.requested_by == dpo

    with page.expect_download() as download_info:
        page.click("a.job-download")
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.suffix == ".pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(target.read_bytes())).pages)
    assert "T-042" in text and "Gestion des adhérents" in text
    assert "Gestion des adhésions" in text
