"""A consent's whole life through the browser: a staff member records a newsletter sign-up at the
desk, the contact confirms the double opt-in from the emailed link, then withdraws from the
preference centre; the check API and the ledger follow each step."""
import email
import email.policy
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.utils.translation import gettext, override

from consent import selectors
from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, Contact
from registry.models import Channel
from tests.factories import OrganisationFactory, PurposeFactory

pytestmark = pytest.mark.e2e

PERSON = "camille.durand@example.org"
STAFF_PASSWORD = "Staff-e2e-pass-2026"
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


@pytest.fixture
def signup_form(reference_data, roles):
    OrganisationFactory()
    email_channel = Channel.objects.get(code="email")
    newsletter = PurposeFactory(slug="newsletter", legal_basis="consent", channels=[email_channel])
    form = CollectionForm.objects.create(slug="accueil", name_fr="Inscription à l'accueil", public=True,
                                         double_opt_in=True)
    box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=email_channel)
    return form, box, newsletter, email_channel


@pytest.fixture
def mailbox(settings, live_server, tmp_path):
    """Mail goes to files, with links to the live server."""
    directory = tmp_path / "outbox"
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(directory)
    settings.PUBLIC_BASE_URL = live_server.url
    return directory


def _messages(directory: Path) -> list:
    """Every message the file backend wrote, oldest file first."""
    found = []
    for path in sorted(directory.glob("*.log"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        for chunk in path.read_bytes().split(MAIL_SEPARATOR):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk, policy=email.policy.default))
    return found


def _message_ids(directory: Path) -> set[str]:
    return {message["Message-ID"] for message in _messages(directory)} if directory.exists() else set()


def _link_in_new_mail(directory: Path, to: str, path_part: str, *, seen: set[str], timeout: float = 10.0) -> str:
    """The one link containing ``path_part`` in the mail sent to ``to`` since ``seen`` (the
    Message-IDs already there), waiting for the file if needed. Other mails (a receipt…) are ignored."""
    deadline = time.monotonic() + timeout
    while True:
        links = []
        for message in _messages(directory) if directory.exists() else []:
            if message["Message-ID"] in seen or message["To"] != to:
                continue
            body = message.get_body(preferencelist=("plain",)).get_content()
            links += [url for url in re.findall(r"https?://\S+", body) if path_part in url]
        if links or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(links) == 1, f"expected one new {path_part} link in the mail to {to}, found {links}"
    return links[0]


def _check(live_server, token_key: str | None, address: str = PERSON) -> tuple[int, dict]:
    """GET the check endpoint with a DRF token (no browser cookies involved)."""
    query = urllib.parse.urlencode({"purpose": "newsletter", "channel": "email", "email": address})
    request = urllib.request.Request(f"{live_server.url}/api/v1/consent/check/?{query}",
                                     headers={"Accept": "application/json"})
    if token_key:
        request.add_header("Authorization", f"Token {token_key}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _staff_logs_in(page, live_server, *, username: str, form) -> None:
    """Log in through the admin's page and land on the form's staff page."""
    form_path = f"/staff/forms/{form.slug}/"
    page.goto(f"{live_server.url}/admin/login/?next={form_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{form_path}")


def test_desk_sign_up_double_opt_in_then_withdrawal_in_the_preference_centre(live_server, page, signup_form,
                                                                               mailbox):
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    form, box, newsletter, email_channel = signup_form
    staffer = User.objects.create_user("desk-e2e", password=STAFF_PASSWORD, is_staff=True)
    staffer.groups.add(Group.objects.get(name="staff"))
    crm = User.objects.create_user("crm-e2e", password="Crm-e2e-pass-2026", is_staff=False)
    crm.groups.add(Group.objects.get(name="integration"))
    token = Token.objects.create(user=crm).key

    # The API wants credentials; with the integration token the person is not known yet.
    assert _check(live_server, None)[0] in (401, 403)
    status, body = _check(live_server, token)
    assert status == 200 and body["allowed"] is False and body["reason"] == "unknown_contact"

    # 1. The staff member logs in and lands on the staff collection form.
    _staff_logs_in(page, live_server, username="desk-e2e", form=form)
    page.wait_for_selector("#collection-form")
    assert page.locator(".staff-banner").count() == 1
    assert "Julien Moreau" in page.inner_text("#art13-notice")  # the DPO, in the Art. 13 notice
    checkbox = page.locator(f"#collection-form input[type=checkbox][name='box_{box.pk}']")
    assert checkbox.count() == 1
    assert page.locator("#collection-form input[type=checkbox]:checked").count() == 0  # never pre-ticked
    assert not checkbox.is_checked()

    page.fill("#collection-form input[name='email']", PERSON)
    checkbox.check()
    page.select_option("#collection-form select[name='method']", "staff_form")
    page.click("#collection-form button[type=submit]")
    page.wait_for_selector("#check-mailbox")
    assert page.locator("#collection-form").count() == 0

    contact = Contact.objects.get(email=PERSON)
    pending = ConsentEvent.objects.get(contact=contact)
    assert (pending.action, pending.method, pending.recorded_by) == ("pending", "staff_form", staffer)
    assert pending.collection_form == form.slug and "Julien Moreau" in pending.notice.text

    # Until confirmed, the contact may not be emailed.
    status, body = _check(live_server, token)
    assert status == 200
    assert (body["allowed"], body["status"], body["reason"]) == (False, "pending", "no_consent")

    # 2. The contact opens the link from the mail, in a browser of their own (not logged in).
    confirm_url = _link_in_new_mail(mailbox, PERSON, "/consent/confirm/", seen=set())
    assert confirm_url.startswith(live_server.url + "/")
    contact_context = page.context.browser.new_context(locale="fr-FR")
    try:
        contact_page = contact_context.new_page()
        contact_page.set_default_timeout(20_000)
        contact_page.goto(confirm_url)
        confirm_button = contact_page.locator("#confirm-button")
        assert confirm_button.is_visible()
        # Opening the link (a mail scanner would) confirms nothing.
        assert _check(live_server, token)[1]["status"] == "pending"
        confirm_button.click()
        contact_page.wait_for_selector("#confirmed")
        assert contact_page.locator("#confirm-button").count() == 0

        # 3. Now the check says yes.
        status, body = _check(live_server, token)
        assert status == 200
        assert (body["allowed"], body["status"], body["reason"]) == (True, "granted", "consent_granted")

        # 4. The contact asks for the preference-centre link, with the same answer as for anyone.
        seen = _message_ids(mailbox)  # the request's mail is the one that comes after these
        answers = {}
        for address in ("nobody@example.org", PERSON):
            contact_page.goto(f"{live_server.url}/preferences/")
            contact_page.fill("main input[name='email']", address)
            contact_page.click("main form button[type=submit]")
            contact_page.wait_for_selector("#link-sent")
            assert contact_page.locator("main input[name='email']").count() == 0
            answers[address] = contact_page.inner_text("main")
        assert answers["nobody@example.org"] == answers[PERSON]  # nothing tells whether an address is known

        preferences_url = _link_in_new_mail(mailbox, PERSON, "/preferences/", seen=seen)
        assert not [m for m in _messages(mailbox) if m["To"] == "nobody@example.org"]
        assert preferences_url.startswith(live_server.url + "/")
        contact_page.goto(preferences_url)
        row = contact_page.locator("#preferences tr[data-purpose='newsletter'][data-channel='email']")
        assert row.count() == 1
        with override("fr"):
            receiving, not_receiving, saved = gettext("You receive it"), gettext("You do not receive it"), gettext(
                "Your choice is saved.")
        assert row.locator(".status").inner_text().strip() == receiving
        assert row.locator("button.choice-grant").count() == 0
        row.locator("button.choice-withdraw").click()

        contact_page.wait_for_selector(".messages li.success")
        assert contact_page.inner_text(".messages li.success").strip() == saved
        assert contact_page.url == preferences_url  # back on the same page (post/redirect/get)
        row = contact_page.locator("#preferences tr[data-purpose='newsletter'][data-channel='email']")
        assert row.locator(".status").inner_text().strip() == not_receiving
        assert row.locator("button.choice-withdraw").count() == 0
        assert row.locator("button.choice-grant").count() == 1
    finally:
        contact_context.close()

    # 5. The check says no, because of the withdrawal.
    status, body = _check(live_server, token)
    assert status == 200
    assert (body["allowed"], body["status"], body["reason"]) == (False, "withdrawn", "withdrawn")

    # The ledger holds the three steps, in order, and its hash chain is whole.
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))
    assert [(e.action, e.method) for e in events] == [
        ("pending", "staff_form"), ("granted", "double_opt_in"), ("withdrawn", "preference_centre")]
    assert all(e.purpose_id == newsletter.pk and e.channel_id == email_channel.pk for e in events)
    assert events[1].notice_id == events[0].notice_id  # confirmed under the notice read at the desk
    assert events[1].evidence_ip and events[2].evidence_ip  # the contact's own requests
    checked, chain_break = selectors.ledger_verify()
    assert chain_break is None and checked == ConsentEvent.objects.count() == 3


def test_staff_finds_a_returning_person_by_name_and_records_on_their_contact(live_server, page, reference_data,
                                                                               roles):
    """At the desk, a person who signed up before gives only their name: the staff member finds
    them, sees what they chose before, and records the new choice on that same contact."""
    from django.contrib.auth.models import Group, User

    from consent import services

    OrganisationFactory()
    email_channel, sms_channel = Channel.objects.get(code="email"), Channel.objects.get(code="sms")
    newsletter = PurposeFactory(slug="newsletter", legal_basis="consent", channels=[email_channel, sms_channel])
    form = CollectionForm.objects.create(slug="guichet", name_fr="Guichet", public=False, double_opt_in=False)
    CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=email_channel)
    sms_box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=sms_channel, position=1)
    returning = services.contact_create(email="ines.garnier@example.org", first_name="Inès", last_name="Garnier")
    services.consent_record(contact=returning, purpose=newsletter, channel=email_channel, action="granted",
                            method="web_form")
    services.contact_create(email="ines.other@example.org", first_name="Inès", last_name="Bertin")
    staffer = User.objects.create_user("desk-search", password=STAFF_PASSWORD, is_staff=True)
    staffer.groups.add(Group.objects.get(name="staff"))

    _staff_logs_in(page, live_server, username="desk-search", form=form)

    page.fill("#contact-search input[name='q']", "ines GARNIER")  # typed without the accent of Inès
    page.click("#contact-search button[type=submit]")
    page.wait_for_selector(f"#contact-results tr[data-contact='{returning.pk}']")
    assert page.locator("#contact-results tbody tr").count() == 1  # Inès Bertin is not a Garnier
    page.click(f"#contact-results tr[data-contact='{returning.pk}'] a.choose-contact")
    page.wait_for_selector("#chosen-contact")
    assert "Inès Garnier" in page.inner_text("#chosen-contact")
    assert page.input_value("#collection-form input[name='email']") == "ines.garnier@example.org"
    with override("fr"):
        granted, none = gettext("consent granted"), gettext("no consent recorded")
    statuses = page.locator("#collection-form .box-status").all_inner_texts()
    assert len(statuses) == 2 and granted in statuses[0] and none in statuses[1]
    assert page.locator("#collection-form input[type=checkbox]:checked").count() == 0  # still never pre-ticked

    page.fill("#collection-form input[name='phone']", "06 12 34 56 78")
    page.check(f"#collection-form input[name='box_{sms_box.pk}']")
    page.select_option("#collection-form select[name='method']", "staff_form")
    page.click("#collection-form button[type=submit]")
    page.wait_for_selector("#collection-form", state="detached")

    returning.refresh_from_db()
    assert returning.phone == "+33612345678" and Contact.objects.count() == 2
    event = ConsentEvent.objects.filter(contact=returning).latest("sequence")
    assert (event.channel, event.action, event.method, event.recorded_by) == (sms_channel, "granted", "staff_form",
                                                                               staffer)
    assert selectors.consent_check(contact=returning, purpose=newsletter, channel=sms_channel).allowed
    # The email consent given before is untouched: only the ticked box was recorded.
    assert list(ConsentEvent.objects.filter(contact=returning).values_list("channel__code", "action")
                .order_by("sequence")) == [("email", "granted"), ("sms", "granted")]
