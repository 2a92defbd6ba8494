"""An access request through the browser: the contact files it on the public form, proves the email
is theirs from the link in the mail file, a staff member carries it out in the admin, and the
contact downloads the ZIP of their data from the status page."""
import io
import json
import zipfile

import pytest

from consent.models import Contact
from rights.models import RightsRequest
from tests.e2e.test_consent_journey import _link_in_new_mail, _message_ids, mailbox  # noqa: F401 (fixture)
from tests.factories import ContactFactory, OrganisationFactory, consent_purpose, record_consent

pytestmark = pytest.mark.e2e

PERSON = "camille.durand@example.org"
STAFF_PASSWORD = "Staff-e2e-rights-2026"


@pytest.fixture
def known_person(reference_data, roles):
    OrganisationFactory()
    contact = ContactFactory(email=PERSON, first_name="Camille", last_name="Durand", phone="+33612345678")
    newsletter = consent_purpose("newsletter", channels=("email",))
    record_consent(contact, newsletter, "email")
    # Someone else sharing the landline: must never be in the export.
    ContactFactory(email="dominique.petit@example.org", first_name="Dominique", last_name="Petit",
                   phone="+33612345678")
    return contact


def test_access_request_from_form_to_download(live_server, page, known_person, mailbox):  # noqa: F811
    from django.contrib.auth.models import Group, User

    staffer = User.objects.create_user("rights-e2e", password=STAFF_PASSWORD, is_staff=True)
    staffer.groups.add(Group.objects.get(name="staff"))

    # 1. The contact files an access request on the public form.
    page.goto(f"{live_server.url}/rights/new/")
    page.check("#rights-request-form input[name='kind'][value='access']")
    page.fill("#rights-request-form input[name='requester_name']", "Camille Durand")
    page.fill("#rights-request-form input[name='requester_email']", PERSON)
    page.fill("#rights-request-form input[name='requester_phone']", "06 12 34 56 78")
    page.click("#submit-request")
    page.wait_for_selector("#check-mailbox")
    request = RightsRequest.objects.get()
    assert (request.kind, request.status) == ("access", "awaiting_verification")
    assert not request.contacts.exists()  # nothing matched before the email is proven

    # 2. They open the verification link from the mail file; the GET alone verifies nothing.
    verify_url = _link_in_new_mail(mailbox, PERSON, "/rights/verify/", seen=set())
    page.goto(verify_url)
    page.wait_for_selector("#verify-button")
    request.refresh_from_db()
    assert request.status == "awaiting_verification"
    page.click("#verify-button")
    page.wait_for_selector("#request-summary")
    status_url = page.url
    assert "/rights/status/" in status_url
    assert page.inner_text("#reference").strip() == request.reference
    request.refresh_from_db()
    assert request.status == "verified"
    assert list(request.contacts.all()) == [known_person]  # by the verified email only, not the phone
    assert page.locator("a.download-link").count() == 0

    # 3. A staff member opens the request in the admin and carries it out.
    staff_context = page.context.browser.new_context(locale="fr-FR")
    try:
        staff_page = staff_context.new_page()
        staff_page.set_default_timeout(30_000)
        change_url = f"{live_server.url}/admin/rights/rightsrequest/{request.pk}/change/"
        staff_page.goto(f"{live_server.url}/admin/login/?next={change_url}")
        staff_page.fill("#id_username", "rights-e2e")
        staff_page.fill("#id_password", STAFF_PASSWORD)
        staff_page.click("input[type=submit]")
        staff_page.wait_for_selector("#rights-action-fulfil")
        assert "Dominique" in staff_page.inner_text("#contacts")  # the phone match: a candidate only
        staff_page.check("#rights-action-fulfil input[name='contacts_confirmed']")
        staff_page.click("#rights-action-fulfil input[type=submit]")
        staff_page.wait_for_selector("#jobs")
    finally:
        staff_context.close()
    request.refresh_from_db()
    assert request.status == "completed", request.status  # the job ran (Celery eager in this process)

    # 4. The contact downloads the ZIP from the status page.
    page.goto(status_url)
    page.wait_for_selector("a.download-link")
    with page.expect_download() as download_info:
        page.click("a.download-link")
    archive = zipfile.ZipFile(io.BytesIO(open(download_info.value.path(), "rb").read()))
    names = archive.namelist()
    assert "data.json" in names and any(name.endswith(".pdf") for name in names)
    data = json.loads(archive.read("data.json"))
    dumped = json.dumps(data)
    assert PERSON in dumped and "Dominique" not in dumped and "dominique.petit" not in dumped
    assert Contact.objects.count() == 2
    assert request.download_links.get().uses == 1
