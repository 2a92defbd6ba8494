"""Emails about rights requests: to the requester in their language, Art. 19 notices, staff digest."""
from __future__ import annotations

import re
from datetime import date, datetime
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import translation
from django.utils.formats import date_format

from rights import emails, services
from rights.models import Proof, RecipientTask, RightsRequest, Status
from tests.factories import OrganisationFactory

from .factories import staff_request, verified_request, web_request
from .test_proofs import ERASURE_COUNTS, completed_request, pdf_text, purpose_with_recipients

pytestmark = pytest.mark.django_db

EMAIL = "camille.durand@example.org"
RECEIVED = datetime(2027, 1, 4, 9, 0, tzinfo=dt_timezone.utc)  # due 4 February 2027
ART_17 = re.compile(r"[Aa]rt\. 17\b")  # "Art. 17" in English, "art. 17" in French


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def localised_date(day, language: str) -> str:
    with translation.override(language):
        return date_format(day, "DATE_FORMAT")


def send(request, message: str, **extra):
    mail.outbox.clear()
    emails.send_request_email(request_id=request.pk, message=message, extra=extra)
    assert len(mail.outbox) == 1, mail.outbox
    return mail.outbox[0]


def attached_pdf(message) -> tuple[str, str]:
    [(name, content, mimetype)] = message.attachments
    assert mimetype == "application/pdf"
    return name, pdf_text(content)


# --- Verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language, prefix", [("fr", "/rights/verify/"), ("en", "/en/rights/verify/")])
def test_filing_sends_the_verification_link_after_commit(language, prefix, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = web_request(language=language)
    [message] = mail.outbox
    assert message.to == [EMAIL]
    with translation.override(language):
        assert message.subject == translation.gettext("Confirm your request %(reference)s") % {
            "reference": request.reference}
    link = re.search(r"(http://\S+/verify/\S+/)", message.body).group(1)
    assert link.startswith("http://127.0.0.1:8000" + prefix)
    assert link in html_of(message)
    assert "/status/" not in message.body  # no status link before the address is proven
    assert message.attachments == []
    response = Client().post(link.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.VERIFIED


def test_verification_then_acknowledgement_with_its_pdf(django_capture_on_commit_callbacks):
    OrganisationFactory()
    with time_machine.travel(RECEIVED, tick=False):
        request = web_request(language="en")
        with django_capture_on_commit_callbacks(execute=True):
            services.rights_request_verify_email(request=request)
    [message] = mail.outbox
    request.refresh_from_db()
    due = localised_date(request.due_on, "en")
    assert due == "Feb. 4, 2027"
    assert request.reference in message.subject and "received" in message.subject
    assert due in message.body and due in html_of(message)
    assert "http://127.0.0.1:8000/en/rights/status/" in message.body
    assert message.reply_to == ["dpo@amis-patrimoine.example"]
    name, text = attached_pdf(message)
    assert name == f"{request.reference}-acknowledgement.pdf"
    assert due in text
    assert Proof.objects.filter(request=request, kind="acknowledgement").count() == 1


def test_french_and_english_bodies_follow_the_request_language():
    with time_machine.travel(RECEIVED, tick=False):
        french = verified_request()
        english = verified_request(email="jane.doe@example.org", name="Jane Doe", language="en")
    fr = send(french, "acknowledgement")
    en = send(english, "acknowledgement")
    assert "4 février 2027" in fr.body and "Feb. 4, 2027" not in fr.body
    assert "Feb. 4, 2027" in en.body and "février" not in en.body
    assert "http://127.0.0.1:8000/rights/status/" in fr.body and "/en/" not in fr.body
    assert "We will answer by" in en.body and "Hello Jane Doe," in en.body
    assert 'lang="en"' in html_of(en) and 'lang="fr"' in html_of(fr)
    with translation.override("fr"):
        assert fr.subject == translation.gettext("We have received your request %(reference)s") % {
            "reference": french.reference}


# --- The steps ------------------------------------------------------------------------------------


def test_question_extension_withdrawal(staff_user, django_capture_on_commit_callbacks):
    with time_machine.travel(RECEIVED, tick=False):
        request = verified_request(language="en")
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.rights_request_ask(request=request, question="Which postal address?", by=staff_user)
        [question] = mail.outbox
        assert "Which postal address?" in question.body and "Which postal address?" in html_of(question)
        services.rights_request_answer(request=request, answer="Lyon")
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.rights_request_extend(request=request, months=2, reason="Many archives to search",
                                           by=staff_user)
        [extension] = mail.outbox
        request.refresh_from_db()
        assert "Many archives to search" in extension.body
        assert localised_date(request.due_on, "en") in extension.body  # the new due date
        assert request.due_on.isoformat() == "2027-04-05"
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.rights_request_withdraw(request=request)
        [withdrawn] = mail.outbox
        assert "withdrawn" in withdrawn.subject and request.reference in withdrawn.body


def test_refusal_email_carries_the_reason_the_cnil_and_the_pdf(staff_user, django_capture_on_commit_callbacks):
    request = verified_request(language="en")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.rights_request_reject(request=request, reason_code="excessive", text="Fifth request this month",
                                       by=staff_user)
    [message] = mail.outbox
    assert "Fifth request this month" in message.body and "Excessive" in message.body
    assert "CNIL" in message.body and "3 place de Fontenoy" in message.body
    assert "3 place de Fontenoy" in html_of(message)
    name, text = attached_pdf(message)
    assert name.endswith("-refusal.pdf") and "Fifth request this month" in text


def test_completed_access_points_to_the_download_and_attaches_the_certificate(staff_user,
                                                                            django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request = completed_request(by=staff_user, kind="access", language="en", outcome="We exported 3 records.")
    message = next(m for m in mail.outbox if "carried out" in m.subject)
    assert request.reference in message.subject
    assert "We exported 3 records." in message.body
    assert "download" in message.body and "/en/rights/status/" in message.body
    name, text = attached_pdf(message)
    assert name.endswith("-certificate.pdf") and "Certificate of fulfilment" in text


def test_completed_erasure_reaches_the_requester_after_pseudonymisation(staff_user,
                                                                      django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        # In English, explicitly: the subject, the body and the file name are checked word for word.
        request = completed_request(by=staff_user, kind="erasure", language="en", counts=ERASURE_COUNTS)
    request.refresh_from_db()
    assert request.requester_email == "" and request.pseudonymised_at is not None
    [message] = [m for m in mail.outbox if "carried out" in m.subject]
    assert message.to == [EMAIL]  # the address came with the task, not from the row
    assert "Camille Durand" in message.body and "anonym" not in message.body
    name, text = attached_pdf(message)
    assert name.endswith("-certificate.pdf")
    assert "Camille" not in text and EMAIL not in text and "download" not in message.body
    assert Proof.objects.get(request=request, kind="certificate").file  # the certificate is kept


def test_restriction_lifting_notice_with_its_date():
    request = verified_request(kind="restriction", language="en")
    message = send(request, "restriction_lifting", date="2027-06-01", reason="The accuracy was checked")
    assert "June 1, 2027" in message.body and "The accuracy was checked" in message.body
    assert "18(3)" in message.body
    soon = send(request, "restriction_lifting")
    assert "will soon be lifted" in soon.body


def test_no_email_no_request_no_mail(staff_user):
    by_post = staff_request(by=staff_user)  # entered from a letter: answered by post
    for message in ("acknowledgement", "question", "completed"):
        emails.send_request_email(request_id=by_post.pk, message=message, extra={})
    emails.send_request_email(request_id=999999, message="verification", extra={})  # deleted since
    assert mail.outbox == []
    with pytest.raises(ValueError):
        emails.send_request_email(request_id=by_post.pk, message="nonsense", extra={})


def test_unverified_request_expired_before_the_task_ran(django_capture_on_commit_callbacks):
    request = web_request()
    RightsRequest.objects.filter(pk=request.pk).delete()
    emails.send_request_email(request_id=request.pk, message="verification", extra={})
    assert mail.outbox == []


# --- Art. 19 notices ------------------------------------------------------------------------------


def test_recipient_notice_names_the_reference_the_action_and_the_email_only(staff_user,
                                                                         django_capture_on_commit_callbacks):
    OrganisationFactory()
    purpose = purpose_with_recipients()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request = completed_request(by=staff_user, kind="erasure", purposes=[purpose], counts=ERASURE_COUNTS,
                                    confirm_tasks=False, customer_reference="CUST-4242")
    notices = [m for m in mail.outbox if m.to == ["privacy@partner.example"]]
    assert len(notices) == 1
    notice = notices[0]
    assert request.reference in notice.subject and ART_17.search(notice.subject)
    with translation.override(settings.LANGUAGE_CODE):  # notices go out in the site's language
        assert notice.subject == translation.gettext(
            "Erasure of personal data to carry out (GDPR Art. 17 and 19) — %(reference)s") % {
            "reference": request.reference}
    assert EMAIL in notice.body and EMAIL in html_of(notice)
    for extra in ("Camille", "Durand", "+33612345678", "CUST-4242"):
        assert extra not in notice.body
    assert notice.reply_to == ["dpo@amis-patrimoine.example"]
    email_task = RecipientTask.objects.get(request=request, mode="email")
    manual_task = RecipientTask.objects.get(request=request, mode="manual")
    assert email_task.notified_at is not None and manual_task.notified_at is None
    assert email_task.status == RecipientTask.TaskStatus.OPEN  # staff still confirm it was done
    mail.outbox.clear()
    emails.send_recipient_notice(task_id=email_task.pk)  # a retried task sends nothing twice
    emails.send_recipient_notice(task_id=manual_task.pk)  # nobody to email
    emails.send_recipient_notice(task_id=999999)
    assert mail.outbox == []


def test_rectification_notice_lists_the_applied_corrections(staff_user):
    from tests.factories import ContactFactory

    purpose = purpose_with_recipients()
    ContactFactory(email=EMAIL, first_name="Camille", last_name="Durand")
    request = verified_request(kind="rectification", rectifications=[("last_name", "Durand-Martin"),
                                                                     ("city", "Lyon")])
    last_name, city = request.rectifications.order_by("pk")
    services.rights_request_decide_rectification(change=last_name, apply=True, by=staff_user)
    services.rights_request_decide_rectification(change=city, apply=False, reason="No", by=staff_user)
    job = services.rights_request_fulfil(request=request, by=staff_user)
    services.rights_request_record_fulfilment(request=request, job=job, outcome="Corrected",
                                              purpose_ids=[purpose.pk])
    task = RecipientTask.objects.get(request=request, mode="email")
    mail.outbox.clear()
    emails.send_recipient_notice(task_id=task.pk)
    [notice] = mail.outbox
    assert "Durand-Martin" in notice.body and "Lyon" not in notice.body
    assert EMAIL in notice.body


# --- Staff digest ---------------------------------------------------------------------------------


def test_deadline_digest_flags_overdue_and_carries_no_requester_data(staff_user):
    with time_machine.travel(RECEIVED, tick=False):
        overdue = verified_request(requester_phone="0612345678")
        soon = staff_request(by=staff_user, name="Jane Doe", email="jane.doe@example.org")
        closed = verified_request(email="closed@example.org")
        services.rights_request_withdraw(request=closed)
    RightsRequest.objects.filter(pk=overdue.pk).update(due_on=date(2027, 2, 1))
    RightsRequest.objects.filter(pk=soon.pk).update(due_on=date(2027, 2, 8))
    emails.send_deadline_digest(email="dpo@example.org", request_ids=[soon.pk, overdue.pk, closed.pk],
                                day="2027-02-03")
    [message] = mail.outbox
    assert message.to == ["dpo@example.org"]
    with translation.override(settings.LANGUAGE_CODE):  # the digest goes out in the site's language
        subject = translation.gettext("Rights requests: %(due)d due soon, %(overdue)d overdue") % {
            "due": 1, "overdue": 1}
        overdue_flag = translation.gettext("OVERDUE")
    assert message.subject == subject
    lines = [line for line in message.body.splitlines() if line.startswith("- ")]
    assert [line.split(" · ")[0][2:] for line in lines] == [overdue.reference, soon.reference]  # closed left out
    assert lines[0].endswith(" · " + overdue_flag)
    assert overdue_flag not in lines[1] and "OVERDUE" not in lines[1]
    assert f"/admin/rights/rightsrequest/{overdue.pk}/change/" in message.body
    assert f"/admin/rights/rightsrequest/{soon.pk}/change/" in message.body
    for personal in (EMAIL, "Camille", "Jane", "jane.doe", "+33612345678"):
        assert personal not in message.body and personal not in html_of(message)
    mail.outbox.clear()
    emails.send_deadline_digest(email="dpo@example.org", request_ids=[closed.pk], day="2027-02-03")
    assert mail.outbox == []


# --- The requester's answer, to staff ---------------------------------------------------------------


def answer_on_the_status_page(request, answer: str = "12 rue des Lilas, Lyon"):
    from django.urls import reverse

    from rights import tokens

    response = Client().post(reverse("rights:answer", args=[tokens.status_token(request=request)]),
                             {"answer": answer})
    assert response.status_code == 302


def test_the_assignee_hears_of_the_answer_after_commit(staff_user, dpo_user, django_capture_on_commit_callbacks):
    OrganisationFactory()
    request = verified_request()
    services.rights_request_assign(request=request, assignee=staff_user, by=dpo_user)
    services.rights_request_ask(request=request, question="Which postal address?", by=staff_user)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer_on_the_status_page(request)
    assert mail.outbox == [] and len(callbacks) == 1  # nothing leaves before the commit
    callbacks[0]()
    [message] = mail.outbox
    assert message.to == [staff_user.email]
    with translation.override(settings.LANGUAGE_CODE):  # staff emails go out in the site's language
        assert message.subject == translation.gettext("Request %(reference)s: the requester answered") % {
            "reference": request.reference}
    admin_url = f"http://127.0.0.1:8000/admin/rights/rightsrequest/{request.pk}/change/"
    assert admin_url in message.body and admin_url in html_of(message)
    assert request.reference in message.body
    for personal in ("12 rue des Lilas", "Lyon", EMAIL, "Camille", "Which postal address?"):
        assert personal not in message.body and personal not in html_of(message), personal


def test_nobody_assigned_the_dpo_hears_of_it(staff_user, dpo_user, django_capture_on_commit_callbacks):
    organisation = OrganisationFactory()
    request = verified_request()
    services.rights_request_ask(request=request, question="Which postal address?", by=staff_user)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.rights_request_answer(request=request, answer="Lyon")
    assert sorted(message.to[0] for message in mail.outbox) == sorted([organisation.dpo_email, dpo_user.email])
    assert all(len(message.to) == 1 for message in mail.outbox)  # one each: no one sees the others' addresses
    assert staff_user.email not in {message.to[0] for message in mail.outbox}


def test_the_answer_notice_is_in_english_when_the_site_is(settings, staff_user, django_capture_on_commit_callbacks):
    settings.LANGUAGE_CODE = "en"
    with time_machine.travel(RECEIVED, tick=False):
        request = verified_request(language="fr")
        services.rights_request_assign(request=request, assignee=staff_user, by=staff_user)
        services.rights_request_ask(request=request, question="Which postal address?", by=staff_user)
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.rights_request_answer(request=request, answer="Lyon")
    [message] = mail.outbox
    assert message.subject == f"Request {request.reference}: the requester answered"
    assert "The requester answered the question asked about request" in message.body
    assert "Feb. 4, 2027" in message.body and "as the request's assignee" in message.body


def test_no_mail_leaves_inside_the_web_request(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post("/rights/new/", {"kind": "access", "requester_name": "X Y", "requester_email": EMAIL})
    assert mail.outbox == [] and len(callbacks) == 1
    callbacks[0]()  # what the commit would run: the task, eager here
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL]
