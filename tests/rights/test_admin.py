"""The rights admin: a list with the minimum of personal data and urgency at a glance, and a request
page where every change is an action calling a service and writing the timeline."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from registry.models import Job, ProcessingActivity, Recipient, RecipientType
from rights import services
from rights.models import (
    MandateStatus,
    Proof,
    RecipientTask,
    RectificationChange,
    RequestContact,
    RequestEvent,
    RightsRequest,
    Status,
    UnverifiedRequestCount,
)
from tests.factories import ContactFactory, PurposeFactory

from .factories import staff_request, verified_request, web_request

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:rights_rightsrequest_changelist")


def page(request) -> str:
    return reverse("admin:rights_rightsrequest_change", args=[request.pk])


def act(request, action: str) -> str:
    return reverse("admin:rights_rightsrequest_act", args=[request.pk, action])


def codes(request) -> list[str]:
    return list(RequestEvent.objects.filter(request=request).order_by("at", "pk").values_list("code", flat=True))


def listed(response) -> list[str]:
    """The references on a change list, in order."""
    return re.findall(r'<th class="field-reference"><a [^>]*>(DR-[0-9A-Z-]+)</a>', response.content.decode())


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def camille(db):
    return ContactFactory(email="camille.durand@example.org", phone="+33612345678", first_name="Camille",
                          last_name="Durand")


@pytest.fixture
def ages(staff_user):
    """One request per urgency: overdue, due within 7 days, on time, closed."""
    now = timezone.now()
    late = staff_request(by=staff_user, name="Louis Tardif", email="late@example.org",
                         received_at=now - timedelta(days=40))
    soon = staff_request(by=staff_user, name="Sophie Bientot", email="soon@example.org", kind="erasure",
                         received_at=now - timedelta(days=27))
    fresh = staff_request(by=staff_user, name="Fanny Neuve", email="fresh@example.org")
    closed = staff_request(by=staff_user, name="Claude Ferme", email="closed@example.org",
                           received_at=now - timedelta(days=50))
    services.rights_request_reject(request=closed, reason_code="excessive", text="Repeated.", by=staff_user)
    return {"late": late, "soon": soon, "fresh": fresh, "closed": closed}


# --- the list ------------------------------------------------------------------------------


def test_list_shows_no_requester_name_or_email(staff, ages):
    response = staff.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    for request in ages.values():
        assert request.reference in content
        assert request.requester_name not in content
        assert request.requester_email not in content


def test_urgency_badges_and_most_urgent_first(staff, ages):
    response = staff.get(CHANGELIST)
    content = response.content.decode()
    for key, urgency in [("late", "overdue"), ("soon", "due_soon"), ("fresh", "ok"), ("closed", "closed")]:
        row = re.search(rf"{ages[key].reference}.*?</tr>", content, re.DOTALL).group(0)
        assert f'data-urgency="{urgency}"' in row, key
    assert listed(response) == [ages[k].reference for k in ("late", "soon", "fresh", "closed")]
    # The urgency column sorts too (descending: closed first).
    urgency_column = 4  # position in list_display
    descending = staff.get(CHANGELIST, {"o": f"-{urgency_column}"})
    assert listed(descending)[0] == ages["closed"].reference


@pytest.mark.parametrize("params, expected", [
    ({"due": "overdue"}, ["late"]),
    ({"due": "due_soon"}, ["soon"]),
    ({"due": "ok"}, ["fresh"]),
    ({"open": "closed"}, ["closed"]),
    ({"open": "open"}, ["late", "soon", "fresh"]),
    ({"kind__exact": "erasure"}, ["soon"]),
    ({"status__exact": "rejected"}, ["closed"]),
    ({"assignee": "none"}, ["late", "soon", "fresh", "closed"]),
])
def test_filters(staff, ages, params, expected):
    assert listed(staff.get(CHANGELIST, params)) == [ages[k].reference for k in expected]


def test_assignee_filter_mine_and_by_person(staff, staff_user, dpo_user, ages):
    services.rights_request_assign(request=ages["fresh"], assignee=staff_user, by=dpo_user)
    services.rights_request_assign(request=ages["late"], assignee=dpo_user, by=dpo_user)
    assert listed(staff.get(CHANGELIST, {"assignee": "mine"})) == [ages["fresh"].reference]
    assert listed(staff.get(CHANGELIST, {"assignee": str(dpo_user.pk)})) == [ages["late"].reference]
    assert ages["late"].reference not in listed(staff.get(CHANGELIST, {"assignee": "none"}))


def test_search_by_reference_or_exact_email_only(staff, ages):
    reference = ages["soon"].reference
    assert listed(staff.get(CHANGELIST, {"q": reference.lower()})) == [reference]
    assert listed(staff.get(CHANGELIST, {"q": reference.replace("-", "")[2:]})) == [reference]
    assert listed(staff.get(CHANGELIST, {"q": " Soon@Example.ORG "})) == [reference]
    # No fragments of an address, no names: one cannot browse the requesters.
    assert listed(staff.get(CHANGELIST, {"q": "@example.org"})) == []
    assert listed(staff.get(CHANGELIST, {"q": "Sophie"})) == []


def test_nobody_deletes_a_request(client, dpo_user, ages):
    client.force_login(dpo_user)
    response = client.get(reverse("admin:rights_rightsrequest_delete", args=[ages["fresh"].pk]))
    assert response.status_code == 403
    assert RightsRequest.objects.filter(pk=ages["fresh"].pk).exists()


# --- the request page ------------------------------------------------------------------------


def test_request_page_shows_details_and_the_actions(staff, camille):
    request = verified_request(requester_phone="06 12 34 56 78")
    response = staff.get(page(request))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Camille Durand" in content and "camille.durand@example.org" in content
    for form_id in ("rights-action-assign", "rights-action-start", "rights-action-ask", "rights-action-extend",
                    "rights-action-fulfil", "rights-action-reject"):
        assert f'id="{form_id}"' in content, form_id
    assert 'class="timeline-event" data-code="verified"' in content
    assert f'class="request-contact" data-contact="{camille.pk}"' in content


def test_the_model_form_never_saves(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    response = staff.post(page(request), {"status": "completed", "requester_name": "Someone else"})
    assert response.status_code == 403
    request.refresh_from_db()
    assert (request.status, request.requester_name) == (Status.RECEIVED, "Camille Durand")


def test_auditor_sees_the_page_without_actions_and_cannot_post(client, auditor_user, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    client.force_login(auditor_user)
    response = client.get(page(request))
    assert response.status_code == 200
    assert "rights-action-" not in response.content.decode()
    assert client.get(CHANGELIST).status_code == 200
    for action, data in [("verify", {"method": "id_document", "note": "seen"}), ("assign", {"assignee": ""}),
                         ("reject", {"reason_code": "excessive", "text": "x"})]:
        assert client.post(act(request, action), data).status_code == 403, action
    assert codes(request) == ["received"]


def test_action_urls_refuse_get_and_unknown_actions(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert staff.get(act(request, "reject")).status_code == 405
    assert staff.post(act(request, "delete")).status_code == 404


def test_verify_assign_start_through_the_admin(staff, staff_user, camille):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    response = staff.post(act(request, "verify"), {"method": "id_document", "note": "Passport seen at the desk"})
    assert response.status_code == 302 and response["Location"] == page(request)
    request.refresh_from_db()
    assert (request.status, request.verified_by, request.verification_method) == (
        Status.VERIFIED, staff_user, "id_document")
    assert list(request.contacts.all()) == [camille]

    staff.post(act(request, "assign"), {"assignee": staff_user.pk})
    request.refresh_from_db()
    assert request.assignee == staff_user
    staff.post(act(request, "start"), {})
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS
    assert codes(request) == ["received", "verified", "contact_added", "assigned", "started"]
    verified = request.events.get(code="verified")
    assert (verified.user, verified.text) == (staff_user, "Passport seen at the desk")


def test_form_and_service_errors_show_on_the_page_not_a_500(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    # A form error: the note is required; what was typed stays in the form.
    response = staff.post(act(request, "verify"), {"method": "id_document", "note": ""})
    assert response.status_code == 200
    assert response.context["forms"]["verify"].errors["note"]
    # A service refusal: handling cannot start before the identity is verified.
    response = staff.post(act(request, "start"), {})
    assert response.status_code == 200
    form = response.context["forms"]["start"]
    assert form.non_field_errors()
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1 and form.non_field_errors()[0] in shown[0]
    assert form.non_field_errors()[0] in response.content.decode()
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert codes(request) == ["received"]


def test_ask_with_identity_proof_suspends_the_deadline(staff):
    request = verified_request()
    response = staff.post(act(request, "ask"), {"question": "Please send a copy of your ID card.",
                                                "identity_proof": "on"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.AWAITING_REQUESTER
    assert request.suspensions.filter(ended_at__isnull=True).exists()
    asked = request.events.get(code="asked")
    assert asked.data["identity_proof"] is True and asked.text == "Please send a copy of your ID card."
    assert "suspended" in codes(request)


def test_extend_and_reject(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    before = request.due_on
    response = staff.post(act(request, "extend"), {"months": "3", "reason": "Archives"})
    assert response.status_code == 200 and response.context["forms"]["extend"].errors["months"]
    staff.post(act(request, "extend"), {"months": "1", "reason": "Paper archives to search"})
    request.refresh_from_db()
    assert request.extension_months == 1 and request.due_on > before
    response = staff.post(act(request, "reject"), {"reason_code": "manifestly_unfounded", "text": ""})
    assert response.context["forms"]["reject"].errors["text"]
    staff.post(act(request, "reject"), {"reason_code": "manifestly_unfounded", "text": "No data is held."})
    request.refresh_from_db()
    assert (request.status, request.rejection_reason) == (Status.REJECTED, "manifestly_unfounded")
    assert codes(request)[-2:] == ["extended", "rejected"]
    assert "rights-action-reject" not in staff.get(page(request)).content.decode()


def test_a_phone_only_candidate_is_listed_but_added_only_with_a_note(staff, staff_user, camille):
    same_phone = ContactFactory(email="partner@example.org", phone="+33612345678", first_name="Dominique",
                                last_name="Martin")
    request = verified_request(requester_phone="06 12 34 56 78")
    content = staff.get(page(request)).content.decode()
    assert f'class="candidate" data-contact="{same_phone.pk}"' in content
    assert f'class="request-contact" data-contact="{same_phone.pk}"' not in content
    assert not RequestContact.objects.filter(request=request, contact=same_phone).exists()

    response = staff.post(act(request, "add_contact"), {"contact": same_phone.pk, "note": " "})
    assert response.status_code == 200
    assert not RequestContact.objects.filter(request=request, contact=same_phone).exists()
    candidate_form = next(c["form"] for c in response.context["candidates"] if c["contact"] == same_phone)
    assert candidate_form.errors["note"]

    staff.post(act(request, "add_contact"), {"contact": same_phone.pk,
                                             "note": "Called back on the number on file; same person."})
    link = RequestContact.objects.get(request=request, contact=same_phone)
    assert (link.matched_by, link.added_by) == ("staff", staff_user)
    added = request.events.filter(code="contact_added").last()
    assert added.data == {"contact": same_phone.pk, "matched_by": "staff"} and added.user == staff_user
    # Both contacts now in the request: the page asks staff to confirm the set.
    assert 'id="several-contacts"' in staff.get(page(request)).content.decode()


def test_contacts_cannot_be_added_before_verification(staff, staff_user, camille):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    assert "rights-action-add-other" not in staff.get(page(request)).content.decode()
    response = staff.post(act(request, "add_contact"), {"contact": camille.pk, "note": "Looks like her"})
    assert response.status_code == 200
    assert not request.contacts.exists()


def test_remove_a_contact_needs_a_reason(staff, camille):
    request = verified_request()
    response = staff.post(act(request, "remove_contact"), {"contact": camille.pk, "reason": ""})
    assert response.status_code == 200 and request.contacts.exists()
    staff.post(act(request, "remove_contact"), {"contact": camille.pk, "reason": "Homonym, different birth date"})
    assert not request.contacts.exists()
    removed = request.events.get(code="contact_removed")
    assert removed.text == "Homonym, different birth date"


def test_fulfil_asks_to_confirm_the_contacts_then_starts_the_job(staff, staff_user, camille):
    request = verified_request()
    form = re.search(r'<form [^>]*id="rights-action-fulfil".*?</form>', staff.get(page(request)).content.decode(),
                     re.S).group(0)
    assert 'action="%s"' % act(request, "fulfil") in form
    assert "1 contact concerné. Une tâche effectue le travail" in form
    assert '<input type="submit" class="default"' in form
    response = staff.post(act(request, "fulfil"), {})
    assert response.status_code == 200 and response.context["forms"]["fulfil"].errors["contacts_confirmed"]
    assert not Job.objects.exists()
    response = staff.post(act(request, "fulfil"), {"contacts_confirmed": "on"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.kind, job.params, job.requested_by) == ("rights_fulfil", {"request_id": request.pk}, staff_user)
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS and "job_started" in codes(request)
    content = staff.get(page(request)).content.decode()
    assert f'class="fulfil-job" data-job="{job.pk}" data-status="pending"' in content
    assert reverse("admin:registry_job_change", args=[job.pk]) in content


def test_mandate_download_and_decision(staff, client, auditor_user):
    request = web_request(on_behalf=True, subject_name="Léa Durand", representative_capacity="parent",
                          mandate_document=SimpleUploadedFile("livret.pdf", b"%PDF-1.4 family record book"))
    request = services.rights_request_verify_email(request=request)
    download = reverse("admin:rights_rightsrequest_mandate", args=[request.pk])
    response = staff.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 family record book"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    response = staff.post(act(request, "mandate"), {"decision": "accept", "note": ""})
    assert response.status_code == 200
    staff.post(act(request, "mandate"), {"decision": "accept", "note": "Family record book: she is the mother."})
    request.refresh_from_db()
    assert request.mandate_status == MandateStatus.ACCEPTED
    assert request.events.get(code="mandate_checked").data == {"accepted": True}


def test_proofs_are_served_to_staff_from_private_storage(staff, staff_user):
    request = staff_request(by=staff_user, email="camille.durand@example.org")
    proof = Proof(request=request, kind="acknowledgement", language="fr", sha256="0" * 64)
    proof.file.save("ack.pdf", ContentFile(b"%PDF-1.4 ack"), save=True)
    content = staff.get(page(request)).content.decode()
    link = reverse("admin:rights_rightsrequest_proof", args=[request.pk, proof.pk])
    assert link in content
    response = staff.get(link)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.4 ack"
    other = staff_request(by=staff_user, email="other@example.org")
    assert staff.get(reverse("admin:rights_rightsrequest_proof", args=[other.pk, proof.pk])).status_code == 404


# --- rectification -------------------------------------------------------------------------


def test_rectification_diff_and_decisions(staff, staff_user, camille):
    request = verified_request(kind="rectification", rectifications=[("city", "Lyon"), ("last_name", "Martin")])
    camille.city = "Paris"
    camille.save()
    content = staff.get(page(request)).content.decode()
    row = re.search(r'class="rectification" data-field="city".*?</tr>', content, re.DOTALL).group(0)
    assert "Paris" in row and "Lyon" in row
    city, name = request.rectifications.order_by("pk")
    staff.post(act(request, "rectification"), {"change": city.pk, "decision": "apply", "reason": ""})
    response = staff.post(act(request, "rectification"), {"change": name.pk, "decision": "refuse", "reason": ""})
    assert response.status_code == 200
    name.refresh_from_db()
    assert name.decision == RectificationChange.Decision.PENDING
    staff.post(act(request, "rectification"), {"change": name.pk, "decision": "refuse",
                                               "reason": "The civil-status record shows Durand."})
    city.refresh_from_db()
    name.refresh_from_db()
    assert (city.decision, city.decided_by) == ("applied", staff_user)
    assert (name.decision, name.reason) == ("refused", "The civil-status record shows Durand.")
    assert codes(request).count("rectification_decided") == 2


def test_approving_a_value_that_cannot_be_applied_is_refused_on_its_row(staff, camille):
    """A value filed before the form checked it (here an email without @) is not marked applied:
    the row says why, and staff can still refuse it with a reason."""
    request = verified_request(kind="rectification", rectifications=[("city", "Lyon")])
    change = RectificationChange.objects.create(request=request, field="email", new_value="not-an-email")
    response = staff.post(act(request, "rectification"), {"change": change.pk, "decision": "apply", "reason": ""})
    assert response.status_code == 200
    row = re.search(r'class="rectification" data-field="email".*?</tr>', response.content.decode(), re.DOTALL).group(0)
    assert "errorlist" in row and "Saisissez une adresse électronique valide" in row
    change.refresh_from_db()
    assert (change.decision, change.decided_by) == (RectificationChange.Decision.PENDING, None)
    assert "rectification_decided" not in codes(request)
    staff.post(act(request, "rectification"), {"change": change.pk, "decision": "refuse",
                                               "reason": "This is not an email address."})
    change.refresh_from_db()
    assert change.decision == RectificationChange.Decision.REFUSED


def test_a_change_of_another_request_is_refused(staff, camille):
    request = verified_request(kind="rectification", rectifications=[("city", "Lyon")])
    other = verified_request(kind="rectification", email="other@example.org", rectifications=[("city", "Nice")])
    change = other.rectifications.get()
    response = staff.post(act(request, "rectification"), {"change": change.pk, "decision": "apply"})
    assert response.status_code == 200
    change.refresh_from_db()
    assert change.decision == "pending"


# --- Art. 19 tasks and the DPO's override ---------------------------------------------------------


@pytest.fixture
def fulfilled_restriction(staff_user, camille, reference_data):
    """A restriction carried out, with two manual tasks (recipients that have no notification email)."""
    purpose = PurposeFactory(slug="donations")
    activity = ProcessingActivity.objects.get(pk=purpose.activity_id)
    kind = RecipientType.objects.first()
    activity.recipients.add(Recipient.objects.create(name="Imprimerie Dupont", recipient_type=kind),
                            Recipient.objects.create(name="Routeur Postal", recipient_type=kind))
    request = verified_request(kind="restriction")
    job = services.rights_request_fulfil(request=request, by=staff_user)
    services.rights_request_record_fulfilment(request=request, job=job, outcome="Restricted.",
                                              purpose_ids=[purpose.pk])
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS and request.recipient_tasks.count() == 2
    return request


def test_manual_tasks_are_confirmed_with_a_note_and_the_last_one_completes(staff, staff_user, fulfilled_restriction):
    request = fulfilled_restriction
    first, second = request.recipient_tasks.order_by("name")
    response = staff.post(act(request, "confirm_task"), {"task": first.pk, "note": ""})
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.status == RecipientTask.TaskStatus.OPEN
    staff.post(act(request, "confirm_task"), {"task": first.pk, "note": "Deleted from the printer's file."})
    first.refresh_from_db()
    assert (first.status, first.confirmed_by) == ("done", staff_user)
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS
    staff.post(act(request, "confirm_task"), {"task": second.pk, "note": "Removed from the mailing house's list."})
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert codes(request).count("task_confirmed") == 2 and codes(request)[-1] == "completed"


def test_only_the_dpo_closes_with_open_tasks(client, staff, staff_user, dpo_user, fulfilled_restriction):
    request = fulfilled_restriction
    assert "rights-action-close-override" not in staff.get(page(request)).content.decode()
    assert staff.post(act(request, "close_override"), {"reason": "Printer unreachable"}).status_code == 403
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS

    client.force_login(dpo_user)
    assert "rights-action-close-override" in client.get(page(request)).content.decode()
    response = client.post(act(request, "close_override"), {"reason": ""})
    assert response.status_code == 200
    client.post(act(request, "close_override"), {"reason": "The printer went out of business in 2025."})
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.tasks_override_reason == "The printer went out of business in 2025."
    completed = request.events.get(code="completed")
    assert completed.user == dpo_user and completed.text == request.tasks_override_reason


def test_task_and_count_lists_are_read_only(client, dpo_user, fulfilled_restriction):
    UnverifiedRequestCount.objects.create(month=timezone.now().date().replace(day=1), kind="access", count=3)
    client.force_login(dpo_user)
    tasks = client.get(reverse("admin:rights_recipienttask_changelist"))
    assert tasks.status_code == 200 and "Imprimerie Dupont" in tasks.content.decode()
    assert client.get(reverse("admin:rights_recipienttask_add")).status_code == 403
    counts = client.get(reverse("admin:rights_unverifiedrequestcount_changelist"))
    assert counts.status_code == 200
    assert client.get(reverse("admin:rights_unverifiedrequestcount_add")).status_code == 403


# --- requests entered by staff -------------------------------------------------------------------


def add_post(**overrides):
    data = {"kind": "access", "received_via": "phone", "received_at": "", "language": "fr",
            "requester_name": "Camille Durand", "requester_email": "", "requester_phone": "06 12 34 56 78",
            "customer_reference": "", "details": "Called the switchboard.", "representative_capacity": "",
            "verification_method": "", "verification_note": ""}
    data["received_at"] = (timezone.localtime() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data.update(overrides)
    return data


def test_staff_enter_a_phone_request_and_verify_it_at_once(staff, staff_user, camille):
    response = staff.post(reverse("admin:rights_rightsrequest_add"), add_post(
        requester_email="Camille.Durand@example.org", verify_now="on", verification_method="known_channel",
        verification_note="Called back on the number on file."))
    assert response.status_code == 302, response.context["form"].errors
    request = RightsRequest.objects.get()
    assert response["Location"] == page(request)
    assert (request.received_via, request.created_by, request.verified_by) == ("phone", staff_user, staff_user)
    assert request.status == Status.VERIFIED and request.verification_method == "known_channel"
    assert list(request.contacts.all()) == [camille]
    assert request.received_at < timezone.now() - timedelta(days=1)
    received = request.events.get(code="received")
    assert received.user == staff_user and received.data["via"] == "phone"


def test_add_form_errors_write_nothing(staff):
    url = reverse("admin:rights_rightsrequest_add")
    response = staff.post(url, add_post(verify_now="on", verification_method="id_document"))
    assert response.status_code == 200 and "verification_note" in response.context["form"].errors
    response = staff.post(url, add_post(requester_phone="12"))
    assert "requester_phone" in response.context["form"].errors
    response = staff.post(url, add_post(received_via="email"))  # by email: the address is needed
    assert "requester_email" in response.context["form"].errors
    response = staff.post(url, add_post(kind="rectification"))
    assert response.context["form"].non_field_errors()
    assert not RightsRequest.objects.exists()


def test_a_mandate_entered_by_staff_is_a_scan_as_on_the_public_form(staff, staff_user):
    """A proof of mandate received by post is a PDF, JPEG or PNG whoever uploads it: the admin's
    field and the service refuse anything else (registry.validators), and nothing is written."""
    url = reverse("admin:rights_rightsrequest_add")
    fields = {"on_behalf": "on", "subject_name": "Léa Durand", "representative_capacity": "parent"}
    page_html = staff.get(url).content.decode()
    assert "PDF, JPEG ou PNG, 5,0" in page_html  # the field says what it takes, in the page's language
    response = staff.post(url, add_post(received_via="post", **fields,
                                        mandate_document=SimpleUploadedFile("livret.pdf", b"<html><script>")))
    assert response.status_code == 200
    assert response.context["form"].errors["mandate_document"] == ["Envoyez un fichier PDF, JPEG ou PNG."]
    with pytest.raises(ValidationError) as refused:
        staff_request(by=staff_user, received_via="post", on_behalf=True, subject_name="Léa Durand",
                      representative_capacity="parent", mandate_document=SimpleUploadedFile("evil.exe", b"MZ\x90"))
    assert "mandate_document" in refused.value.message_dict
    assert not RightsRequest.objects.exists()
    response = staff.post(url, add_post(received_via="post", **fields,
                                        mandate_document=SimpleUploadedFile("livret.pdf", b"%PDF-1.4 record book")))
    assert response.status_code == 302, response.context["form"].errors
    assert RightsRequest.objects.get().mandate_document.read() == b"%PDF-1.4 record book"


def test_add_form_takes_the_corrections(staff):
    response = staff.post(reverse("admin:rights_rightsrequest_add"),
                          add_post(kind="rectification", received_via="post", new_city="Lyon"))
    assert response.status_code == 302, response.context["form"].errors
    request = RightsRequest.objects.get()
    assert list(request.rectifications.values_list("field", "new_value")) == [("city", "Lyon")]
    assert request.status == Status.RECEIVED


def test_auditor_cannot_add(client, auditor_user):
    client.force_login(auditor_user)
    assert client.get(reverse("admin:rights_rightsrequest_add")).status_code == 403


def test_english_admin(client, staff_user, ages):
    client.force_login(staff_user)
    with translation.override("en"):
        response = client.get("/en/admin/rights/rightsrequest/")
        assert response.status_code == 200
        assert "Overdue" in response.content.decode()
        detail = client.get(f"/en/admin/rights/rightsrequest/{ages['late'].pk}/change/")
        assert "Carry the request out" not in detail.content.decode()  # not verified yet
        assert "Verify the identity by another means" in detail.content.decode()


def test_the_timeline_details_read_as_labels_not_codes(staff, staff_user, camille):
    """Stored codes and counts (RequestEvent.data) show under their labels; the data is not changed."""
    request = verified_request()
    services.rights_request_start(request=request, by=staff_user)
    job = Job.objects.create(kind=services.FULFIL_JOB_KIND, params={"request_id": request.pk})
    counts = {"sources": [{"source": "consent.Contact", "count": 1, "action": "exported"}], "kept": []}
    services.rights_request_record_fulfilment(request=request, job=job, outcome="Sent.", counts=counts)

    def details(language: str) -> dict[str, str]:
        with translation.override(language):
            content = staff.get(page(request)).content.decode()  # reversed in the language: /en/… for English
        rows = re.findall(r'<tr class="timeline-event" data-code="([a-z_]+)">(.*?)</tr>', content, re.DOTALL)
        return {code: row for code, row in rows}

    english = details("en")
    assert "<li>received via: Public web form</li>" in english["received"]
    assert "<li>right exercised: Access (Art. 15)</li>" in english["received"]
    assert "<li>method: Link sent to the email address</li>" in english["verified"]
    assert f"<li>job: #{job.pk}</li>" in english["job_finished"]
    # One line per source; its keys in the order the database keeps them (jsonb sorts them on PostgreSQL).
    (source_line,) = re.findall(r"<li>([^<>]*count: 1[^<>]*)</li>", english["job_finished"])
    assert sorted(source_line.split(", ")) == ["action: exported", "count: 1", "data: contacts"]
    french = details("fr")
    assert "Formulaire public en ligne" in french["received"] and "reçue par" in french["received"]
    for row in (*english.values(), *french.values()):
        assert "web_form" not in row and "email_link" not in row and "{&#x27;" not in row and "{'" not in row
    assert RequestEvent.objects.get(request=request, code="received").data == {"via": "web_form", "kind": "access"}
