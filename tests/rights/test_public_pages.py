"""The requester's public pages, end to end with the test client: the form, the email link, the
status page (answer, withdraw) and the download, with their tokens and headers."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.core import mail, signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from registry import services as registry_services
from registry import validators
from rights import forms as rights_forms
from rights import services, tokens
from rights.models import DownloadLink, MandateStatus, RectificationChange, RequestEvent, RightsRequest, Status
from tests.factories import ActivityFactory, ContactFactory, JobFactory, PurposeFactory

from .factories import staff_request, verified_request, web_request

pytestmark = pytest.mark.django_db

EMAIL = "camille.durand@example.org"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def form_data(**fields) -> dict:
    return {"kind": "access", "requester_name": "Camille Durand", "requester_email": EMAIL,
            "requester_phone": "", "customer_reference": "", "details": "", "website": "", **fields}


def url(name: str, *args, language: str = "fr") -> str:
    with translation.override(language):
        return reverse(name, args=args)


def assert_private(response, *, referrer_policy: str = "no-referrer"):
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == referrer_policy


def pdf_upload(name="mandate.pdf", content=b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n", content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


# --- The form -----------------------------------------------------------------------------------


def test_form_page_in_french_and_english(client):
    response = client.get("/rights/new/")
    assert response.status_code == 200
    assert '<html lang="fr">' in response.content.decode()
    assert_private(response, referrer_policy="same-origin")  # no token in this URL; CSRF needs the Origin
    body = response.content.decode()
    for name in ("kind", "requester_name", "requester_email", "fix_field_1", "fix_value_3", "on_behalf",
                 "mandate_document", "website", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in body
    assert 'enctype="multipart/form-data"' in body
    assert body.count('class="rectification-row"') == rights_forms.RECTIFICATION_ROWS
    with translation.override("en"):
        response = client.get("/en/rights/new/")
        body = response.content.decode()
    assert '<html lang="en">' in body
    assert "Exercise your rights on your personal data" in body
    assert '<option value="last_name">last name</option>' in body  # the contact field's translated label


def test_every_control_of_the_rectification_table_has_its_own_label(client):
    """A screen reader names each select and input of each row, not only the column headers."""
    for prefix, words in (("", None), ("/en", ("Data to correct (row {row})", "Correct value (row {row})"))):
        body = client.get(f"{prefix}/rights/new/").content.decode()
        rows = re.findall(r'<tr class="rectification-row">.*?</tr>', body, re.DOTALL)
        assert len(rows) == rights_forms.RECTIFICATION_ROWS
        for row, html in enumerate(rows, start=1):
            for part, tag in (("field", "select"), ("value", "input")):
                control_id = f"id_fix_{part}_{row}"
                assert re.search(rf'<{tag} [^>]*id="{control_id}"', html), (row, part)
                label = re.search(rf'<label for="{control_id}" class="visually-hidden">([^<]+)</label>', html)
                assert label and label.group(1).strip(), (row, part)
                if words:
                    assert label.group(1) == words[part == "value"].format(row=row)


def test_filing_creates_a_waiting_request_and_mails_after_commit(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/rights/new/", form_data(requester_phone="06 12 34 56 78", details="All of it"))
    assert response.status_code == 302 and response["Location"] == "/rights/sent/"
    request = RightsRequest.objects.get()
    assert (request.kind, request.status, request.language, request.received_via) == (
        "access", Status.AWAITING_VERIFICATION, "fr", "web_form")
    assert (request.requester_email, request.requester_phone, request.details) == (EMAIL, "+33612345678", "All of it")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL]
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'id="check-mailbox"' in page.content.decode()


def test_english_form_files_an_english_request(client, django_capture_on_commit_callbacks):
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        response = client.post("/en/rights/new/", form_data())
    assert response["Location"] == "/en/rights/sent/"
    assert RightsRequest.objects.get().language == "en"
    assert "/en/rights/verify/" in mail.outbox[0].body


def test_filled_honeypot_gets_the_same_redirect_and_files_nothing(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/rights/new/", form_data(website="http://spam.example"))
    assert response.status_code == 302 and response["Location"] == "/rights/sent/"
    assert not RightsRequest.objects.exists()
    assert callbacks == []


@pytest.mark.parametrize("fields, field, fragment", [
    ({"requester_email": "not-an-email"}, "requester_email", ""),
    ({"requester_email": ""}, "requester_email", ""),
    ({"requester_name": ""}, "requester_name", ""),
    ({"requester_phone": "12"}, "requester_phone", "phone"),
    ({"kind": "teleport"}, "kind", ""),
    ({"kind": "rectification"}, "fix_field_1", "correct"),
    ({"kind": "rectification", "fix_field_1": "last_name", "fix_value_1": ""}, "fix_value_1", "correct value"),
    ({"kind": "rectification", "fix_field_1": "", "fix_value_1": "Dupont"}, "fix_field_1", "data to correct"),
    ({"kind": "rectification", "fix_field_1": "is_superuser", "fix_value_1": "1"}, "fix_field_1", ""),
    ({"kind": "rectification", "fix_field_1": "city", "fix_value_1": "Lyon", "fix_field_2": "city",
      "fix_value_2": "Paris"}, "fix_field_2", "another row"),
    ({"on_behalf": "on"}, "subject_name", "person you represent"),
    ({"on_behalf": "on", "subject_name": "Léa Durand"}, "representative_capacity", "capacity"),
    ({"on_behalf": "on", "subject_name": "Léa Durand", "representative_capacity": "parent"}, "mandate_document",
     "mandate"),
])
def test_invalid_input_reshows_the_form_with_field_messages(client, fields, field, fragment):
    with translation.override("en"):
        response = client.post("/en/rights/new/", form_data(**fields))
        # The messages are lazy: read them in the language of the request, not the one active after it.
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert field in errors, errors
        assert fragment.lower() in " ".join(errors[field]).lower()
    assert 'id="form-has-errors"' in response.content.decode()
    assert not RightsRequest.objects.exists()


def test_rectification_rows_become_requested_corrections(client):
    response = client.post("/rights/new/", form_data(
        kind="rectification", fix_field_1="last_name", fix_value_1="Dupont-Durand",
        fix_field_2="", fix_value_2="", fix_field_3="city", fix_value_3=" Lyon "))
    assert response.status_code == 302
    request = RightsRequest.objects.get()
    assert list(request.rectifications.values_list("field", "new_value", "decision")) == [
        ("last_name", "Dupont-Durand", RectificationChange.Decision.PENDING),
        ("city", "Lyon", RectificationChange.Decision.PENDING),
    ]


@pytest.mark.parametrize("language, field, value, fragment", [
    ("en", "email", "not-an-email", "Enter a valid email address"),
    ("fr", "email", "not-an-email", "Saisissez une adresse électronique valide"),
    ("en", "phone", "123", "Enter a valid phone number"),
    ("fr", "phone", "123", "Saisissez un numéro de téléphone valide"),
    ("en", "country", "Narnia", "two-letter code"),
    ("en", "country", "ZZ", "two-letter code"),
    ("en", "postal_code", "1234567890123", "at most 12 characters"),
])
def test_a_value_that_cannot_be_applied_is_refused_on_its_row(client, language, field, value, fragment):
    """The value is checked as the contact's update will check it: the message is on the row, and
    nothing is filed."""
    with translation.override(language):
        response = client.post(url("rights:new", language=language), form_data(
            kind="rectification", fix_field_1="city", fix_value_1="Lyon", fix_field_2=field, fix_value_2=value))
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == ["fix_value_2"], errors
        assert fragment in " ".join(errors["fix_value_2"])
    body = response.content.decode()
    rows = re.findall(r'<tr class="rectification-row">.*?</tr>', body, re.DOTALL)
    assert "errorlist" not in rows[0] and "errorlist" in rows[1] and fragment in rows[1]
    assert not RightsRequest.objects.exists()


def test_valid_values_are_filed_in_their_normal_form(client):
    response = client.post("/rights/new/", form_data(
        kind="rectification", fix_field_1="email", fix_value_1=" Camille.NEW@Example.ORG ",
        fix_field_2="phone", fix_value_2="06 98 76 54 32", fix_field_3="country", fix_value_3="be"))
    assert response.status_code == 302
    assert list(RightsRequest.objects.get().rectifications.values_list("field", "new_value")) == [
        ("email", "camille.new@example.org"), ("phone", "+33698765432"), ("country", "BE")]


def test_rows_are_ignored_for_other_kinds(client):
    client.post("/rights/new/", form_data(kind="access", fix_field_1="city", fix_value_1="Lyon"))
    assert not RightsRequest.objects.get().rectifications.exists()


def test_objection_keeps_the_purposes_chosen_and_access_ignores_them(client):
    activity = ActivityFactory()
    newsletter = PurposeFactory(activity=activity, name_fr="Lettre d'information", name_en="Newsletter")
    PurposeFactory(activity=activity, name_fr="Retirée", name_en="Retired one", status="retired")
    page = client.get("/rights/new/").content.decode()
    assert "Lettre d&#x27;information" in page and "Retirée" not in page
    client.post("/rights/new/", form_data(kind="objection", purposes=[newsletter.pk]))
    client.post("/rights/new/", form_data(kind="access", requester_email="other@example.org",
                                          purposes=[newsletter.pk]))
    objection, access = RightsRequest.objects.order_by("pk")
    assert list(objection.purposes.all()) == [newsletter]
    assert not access.purposes.exists()


def test_on_behalf_with_a_pdf_mandate(client):
    response = client.post("/rights/new/", form_data(
        on_behalf="on", subject_name="Léa Durand", representative_capacity="parent",
        mandate_document=pdf_upload()))
    assert response.status_code == 302
    request = RightsRequest.objects.get()
    assert (request.on_behalf, request.subject_name, request.representative_capacity, request.mandate_status) == (
        True, "Léa Durand", "parent", MandateStatus.TO_CHECK)
    with request.mandate_document.open("rb") as handle:
        assert handle.read().startswith(b"%PDF-")


def test_png_and_jpeg_mandates_are_accepted(client):
    for number, (name, content) in enumerate([("livret.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32),
                                              ("acte.JPG", b"\xff\xd8\xff\xe0" + b"0" * 32)]):
        response = client.post("/rights/new/", form_data(
            requester_email=f"rep{number}@example.org", on_behalf="on", subject_name="Léa Durand",
            representative_capacity="heir", mandate_document=pdf_upload(name, content, "image/png")))
        assert response.status_code == 302, response.context["form"].errors
    assert RightsRequest.objects.filter(on_behalf=True).count() == 2


@pytest.mark.parametrize("name, content", [
    ("mandate.pdf", b"MZ\x90\x00 this is a program"),  # wrong content behind a .pdf name
    ("mandate.exe", b"%PDF-1.4 but named .exe"),
    ("mandate.txt", b"just words"),
])
def test_mandate_of_the_wrong_type_is_refused(client, name, content):
    with translation.override("en"):
        response = client.post("/en/rights/new/", form_data(
            on_behalf="on", subject_name="Léa Durand", representative_capacity="lawyer",
            mandate_document=pdf_upload(name, content, "application/pdf")))
        assert response.status_code == 200  # the messages are lazy: read them in English, inside the block
        assert "PDF, JPEG or PNG" in " ".join(response.context["form"].errors["mandate_document"])
    assert not RightsRequest.objects.exists()


def test_mandate_too_large_is_refused(client, monkeypatch):
    monkeypatch.setattr(validators, "SCANNED_DOCUMENT_MAX_BYTES", 100)  # the rule shared with consent
    with translation.override("en"):
        response = client.post("/en/rights/new/", form_data(
            on_behalf="on", subject_name="Léa Durand", representative_capacity="lawyer",
            mandate_document=pdf_upload(content=b"%PDF-1.4" + b"x" * 200)))
        assert response.status_code == 200
        assert "too large" in " ".join(response.context["form"].errors["mandate_document"])


def test_known_and_unknown_emails_get_the_same_answer(client, django_capture_on_commit_callbacks):
    ContactFactory(email="known@example.org", first_name="Known", last_name="Person")
    answers = []
    for email in ("known@example.org", "nobody@example.org"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post("/rights/new/", form_data(requester_email=email))
        assert mail.outbox == []  # nothing is sent inside the web request
        assert len(callbacks) == 1  # the verification mail is enqueued after commit, for both
        page = client.get(response["Location"])
        answers.append((response.status_code, response["Location"], page.status_code,
                        CSRF_INPUT.sub("", page.content.decode())))
    assert answers[0] == answers[1]
    assert RightsRequest.objects.count() == 2
    assert not RightsRequest.objects.filter(request_contacts__isnull=False).exists()  # no match before the link


def test_too_many_requests_per_email_get_a_readable_429(client, settings):
    settings.RATELIMIT_PER_EMAIL = "2/h"
    for _ in range(2):
        assert client.post("/rights/new/", form_data()).status_code == 302
    with translation.override("en"):
        response = client.post("/en/rights/new/", form_data(requester_email=EMAIL.upper()))
    assert response.status_code == 429
    assert 'id="too-many-requests"' in response.content.decode()
    assert "Too many attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert RightsRequest.objects.count() == 2
    assert client.post("/rights/new/", form_data(requester_email="another@example.org")).status_code == 302


def test_too_many_requests_per_ip(client, settings):
    settings.RATELIMIT_PER_IP = "3/h"
    for number in range(3):
        assert client.post("/rights/new/", form_data(requester_email=f"p{number}@example.org")).status_code == 302
    assert client.post("/rights/new/", form_data(requester_email="p9@example.org")).status_code == 429
    # The honeypot and invalid posts count too: a robot gets no free tries.
    assert client.post("/rights/new/", form_data(website="x")).status_code == 429
    other = client.post("/rights/new/", form_data(requester_email="p10@example.org"), REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 302


# --- Verification ---------------------------------------------------------------------------------


def test_verify_get_shows_a_button_and_post_verifies(client):
    request = web_request()
    token = tokens.verify_token(request=request)
    response = client.get(url("rights:verify", token))
    assert response.status_code == 200 and 'id="verify-button"' in response.content.decode()
    assert_private(response)
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION  # a mail scanner's GET verifies nothing
    response = client.post(url("rights:verify", token))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.VERIFIED
    assert response["Location"].startswith("/rights/status/")
    assert tokens.read_status_token(response["Location"].split("/")[-2]) == request
    again = client.post(url("rights:verify", token))  # a second click changes nothing
    assert again.status_code == 302
    assert request.events.filter(code=RequestEvent.Code.VERIFIED).count() == 1


def _foreign_token(salt: str, *, request: RightsRequest, other: RightsRequest, **extra) -> str:
    """Signed with the real key, but carrying another request's link key: bound to no request."""
    return signing.dumps({"r": request.pk, "k": other.link_key, **extra}, salt=salt, compress=True)


@pytest.mark.parametrize("name, make, salt", [
    ("rights:verify", lambda r: tokens.verify_token(request=r), tokens.VERIFY_SALT),
    ("rights:status", lambda r: tokens.status_token(request=r), tokens.STATUS_SALT),
])
def test_bad_tokens_are_404(client, name, make, salt):
    request = web_request()
    other = web_request(email="other.person@example.org")
    token = make(request)
    bad = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # tampered
        _foreign_token(salt, request=request, other=other),  # bound to another request
        make(other).replace(":", ";", 1),  # garbage
        tokens.download_token.__name__,  # not a token at all
    ]
    # A token of one kind is no token of another.
    bad.append(tokens.status_token(request=request) if name == "rights:verify"
               else tokens.verify_token(request=request))
    # The status token also opens the answer and withdraw actions.
    attempts = [("get", name), ("post", name)] if name == "rights:verify" else [
        ("get", name), ("get", "rights:withdraw"), ("post", "rights:withdraw"), ("post", "rights:answer")]
    for value in bad:
        for method, view in attempts:
            response = getattr(client, method)(url(view, value), {"answer": "x"} if method == "post" else None)
            assert response.status_code == 404, (value, method, view)
            assert_private(response)
            assert 'id="invalid-link"' in response.content.decode()
    # Revoking the links (a new link key) turns the real token into a 404 too.
    RightsRequest.objects.filter(pk=request.pk).update(link_key="revoked")
    assert client.get(url(name, token)).status_code == 404
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION


def test_expired_verify_link_is_404():
    start = datetime(2027, 3, 1, 9, 0, tzinfo=dt_timezone.utc)
    with time_machine.travel(start, tick=False):
        request = web_request()
        token = tokens.verify_token(request=request)
    from django.test import Client

    client = Client()
    with time_machine.travel(start + timedelta(days=6, hours=23), tick=False):
        assert client.get(url("rights:verify", token)).status_code == 200
    with time_machine.travel(start + timedelta(days=7, minutes=1), tick=False):
        assert client.get(url("rights:verify", token)).status_code == 404
        assert client.post(url("rights:verify", token)).status_code == 404
    request.refresh_from_db()
    assert request.status == Status.AWAITING_VERIFICATION


def test_expired_status_link_is_404(client, settings):
    start = datetime(2027, 3, 1, 9, 0, tzinfo=dt_timezone.utc)
    with time_machine.travel(start, tick=False):
        request = verified_request()
        token = tokens.status_token(request=request)
    with time_machine.travel(start + timedelta(days=settings.RIGHTS_STATUS_LINK_DAYS + 1), tick=False):
        assert client.get(url("rights:status", token)).status_code == 404
        assert client.post(url("rights:withdraw", token)).status_code == 404
    request.refresh_from_db()
    assert request.status == Status.VERIFIED


# --- Status page ----------------------------------------------------------------------------------


def test_status_page_shows_the_requester_timeline_only(client, staff_user):
    ContactFactory(email=EMAIL)
    request = verified_request(requester_phone="0612345678")
    someone = ContactFactory(email="cousin@example.org", phone="+33612345678", first_name="Cousin",
                             last_name="Secret")
    services.rights_request_add_contact(request=request, contact=someone, by=staff_user,
                                        note="INTERNAL-NOTE checked the ID card")
    services.rights_request_assign(request=request, assignee=staff_user, by=staff_user)
    services.rights_request_ask(request=request, question="Which postal address did you give us?", by=staff_user)
    token = tokens.status_token(request=request)
    with translation.override("en"):
        response = client.get(url("rights:status", token, language="en"))
    body = response.content.decode()
    assert response.status_code == 200
    assert_private(response)
    assert request.reference in body and "Access (Art. 15)" in body
    assert 'id="due-on"' in body
    assert "Which postal address did you give us?" in body
    assert 'id="answer-button"' in body and 'id="withdraw-link"' in body
    for secret in ("INTERNAL-NOTE", "cousin@example.org", "Secret", staff_user.username, "+33612345678"):
        assert secret not in body, secret
    codes = re.findall(r'data-code="([a-z_]+)"', body)
    assert codes == ["received", "verification_sent", "verified", "asked"]


def test_requester_answers_on_the_status_page(client, staff_user):
    request = verified_request()
    services.rights_request_ask(request=request, question="Which address?", by=staff_user)
    token = tokens.status_token(request=request)
    empty = client.post(url("rights:answer", token), {"answer": "   "})
    assert empty.status_code == 400 and "answer" in empty.context["answer_form"].errors
    assert_private(empty)
    response = client.post(url("rights:answer", token), {"answer": "12 rue des Lilas, Lyon"})
    assert response.status_code == 302 and response["Location"] == url("rights:status", token)
    request.refresh_from_db()
    assert request.status == Status.VERIFIED
    assert request.events.get(code=RequestEvent.Code.ANSWERED).text == "12 rue des Lilas, Lyon"
    page = client.get(response["Location"]).content.decode()
    assert "12 rue des Lilas, Lyon" in page and 'id="answer-button"' not in page
    twice = client.post(url("rights:answer", token), {"answer": "again"})  # no question pending any more
    assert twice.status_code == 400
    assert request.events.filter(code=RequestEvent.Code.ANSWERED).count() == 1


def test_withdraw_needs_confirmation(client, django_capture_on_commit_callbacks):
    request = verified_request()
    token = tokens.status_token(request=request)
    confirm = client.get(url("rights:withdraw", token))
    assert confirm.status_code == 200 and 'id="withdraw-button"' in confirm.content.decode()
    assert_private(confirm)
    request.refresh_from_db()
    assert request.status == Status.VERIFIED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("rights:withdraw", token))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.WITHDRAWN
    assert [m.subject for m in mail.outbox if request.reference in m.subject]  # the "withdrawn" email
    page = client.get(url("rights:status", token)).content.decode()
    assert 'id="withdraw-link"' not in page and 'data-code="withdrawn"' in page
    assert client.get(url("rights:withdraw", token)).status_code == 302  # nothing left to confirm
    assert client.post(url("rights:withdraw", token)).status_code == 302  # and nothing happens
    assert request.events.filter(code=RequestEvent.Code.WITHDRAWN).count() == 1


def test_refused_request_shows_the_reason_and_the_cnil(client, staff_user):
    request = verified_request()
    services.rights_request_reject(request=request, reason_code="excessive", text="Fifth request this month",
                                   by=staff_user)
    with translation.override("en"):
        body = client.get(url("rights:status", tokens.status_token(request=request), language="en")).content.decode()
    assert "Fifth request this month" in body and "Excessive" in body
    assert "CNIL" in body and "3 place de Fontenoy" in body


# --- Download -------------------------------------------------------------------------------------

ZIP_BYTES = b"PK\x03\x04 pretend this is the export"


def _export_link(request: RightsRequest) -> DownloadLink:
    job = JobFactory(kind=services.FULFIL_JOB_KIND, status="done", params={"request_id": request.pk})
    registry_services.job_attach_output(job=job, filename="my-data.zip", content=ZIP_BYTES)
    return services.download_link_create(request=request, job=job)


def test_download_link_on_the_status_page_counts_uses_and_stops(client, settings):
    settings.RIGHTS_DOWNLOAD_MAX_USES = 2
    request = verified_request()
    link = _export_link(request)
    with translation.override("en"):
        page = client.get(url("rights:status", tokens.status_token(request=request), language="en"))
    href = re.search(r'href="([^"]+)" class="download-link"', page.content.decode()).group(1)
    assert "2 downloads left" in page.content.decode()
    for use in (1, 2):
        response = client.get(href)
        assert response.status_code == 200
        assert_private(response)
        assert response["Content-Disposition"].startswith("attachment")
        assert "my-data.zip" in response["Content-Disposition"]
        assert b"".join(response.streaming_content) == ZIP_BYTES
        link.refresh_from_db()
        assert link.uses == use
    gone = client.get(href)
    assert gone.status_code == 410 and 'id="download-gone"' in gone.content.decode()
    assert_private(gone)
    link.refresh_from_db()
    assert link.uses == 2
    assert request.events.filter(code=RequestEvent.Code.DOWNLOADED).count() == 2
    page = client.get(url("rights:status", tokens.status_token(request=request))).content.decode()
    assert 'class="download-link"' not in page


def test_download_after_expiry(client):
    start = datetime(2027, 3, 1, 9, 0, tzinfo=dt_timezone.utc)
    with time_machine.travel(start, tick=False):
        request = verified_request()
        link = _export_link(request)
        token = tokens.download_token(link=link)
        assert client.get(url("rights:download", token)).status_code == 200
    # The row says expired (e.g. shortened by staff): 410, nothing counted.
    with time_machine.travel(start + timedelta(days=1), tick=False):
        DownloadLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        assert client.get(url("rights:download", token)).status_code == 410
    # Past the link's days the token itself is dead: 404.
    with time_machine.travel(start + timedelta(days=8), tick=False):
        assert client.get(url("rights:download", token)).status_code == 404
    link.refresh_from_db()
    assert link.uses == 1


def test_download_of_a_deleted_file_is_410(client):
    request = verified_request()
    link = _export_link(request)
    services.download_links_expire(now=link.expires_at + timedelta(seconds=1))
    assert client.get(url("rights:download", tokens.download_token(link=link))).status_code == 410


def test_bad_download_tokens_are_404(client):
    request = verified_request()
    other = verified_request(email="other.person@example.org")
    link = _export_link(request)
    other_link = _export_link(other)
    token = tokens.download_token(link=link)
    bad = [
        token[:-3] + "xyz",
        # Genuine request binding, but naming another request's link.
        signing.dumps({"r": request.pk, "k": request.link_key, "l": other_link.pk}, salt=tokens.DOWNLOAD_SALT,
                      compress=True),
        _foreign_token(tokens.DOWNLOAD_SALT, request=request, other=other, l=link.pk),
        tokens.status_token(request=request),
    ]
    for value in bad:
        response = client.get(url("rights:download", value))
        assert response.status_code == 404, value
        assert_private(response)
    link.refresh_from_db()
    other_link.refresh_from_db()
    assert (link.uses, other_link.uses) == (0, 0)


def test_every_public_page_is_private(client):
    request = verified_request()
    token = tokens.status_token(request=request)
    for path in ("/rights/new/", "/rights/sent/"):  # no token in these URLs
        response = client.get(path)
        assert response.status_code == 200, path
        assert_private(response, referrer_policy="same-origin")
    for path in (url("rights:verify", tokens.verify_token(request=request)), url("rights:status", token),
                 url("rights:withdraw", token)):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_private(response)


def test_token_pages_accept_a_post_without_csrf_cookie():
    """Under no-referrer, browsers send Origin: null: the token in the URL is the credential."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    request = web_request()
    response = browser.post(url("rights:verify", tokens.verify_token(request=request)), HTTP_ORIGIN="null")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "verified"
    form = browser.post("/rights/new/", form_data(), HTTP_ORIGIN="null")
    assert form.status_code == 403  # the form itself keeps its CSRF protection


def test_staff_entered_request_without_email_has_a_status_page(client, staff_user):
    request = staff_request(by=staff_user)
    response = client.get(url("rights:status", tokens.status_token(request=request)))
    assert response.status_code == 200 and request.reference in response.content.decode()


def test_objection_decision_is_shown_with_its_grounds(client, dpo_user):
    purpose = PurposeFactory(name_fr="Études statistiques", name_en="Statistical studies",
                             legal_basis="legitimate_interests", legitimate_interest="Improve our services")
    request = verified_request(kind="objection", language="en", purposes=[purpose])
    services.rights_request_decide_objection(request=request, purpose=purpose, overriding_grounds=True,
                                             reason="Required to keep the audit trail", by=dpo_user)
    with translation.override("en"):
        body = client.get(url("rights:status", tokens.status_token(request=request), language="en")).content.decode()
    assert 'data-code="objection_decided"' in body
    assert "Statistical studies: compelling legitimate grounds override your objection" in body
    assert "Required to keep the audit trail" in body
    assert dpo_user.username not in body
