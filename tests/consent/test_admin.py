"""The consent admin: contacts through the services, the read-only ledger, suppression lists."""
from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext, override

from consent import services
from consent.models import ConsentEvent, ConsentState, Contact, Notice, SuppressionEntry
from consent.normalise import suppression_digest
from registry.models import Channel, DataSubjectCategory
from tests.factories import ContactFactory, consent_purpose, record_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(reference_data):
    return consent_purpose("admin-newsletter", channels=("email", "sms"))


def contact_post(**overrides):
    data = {
        "first_name": "Alice", "last_name": "Martin", "email": "", "phone": "", "language": "fr",
        "address_line1": "", "address_line2": "", "postal_code": "", "city": "", "country": "FR",
        "external_ref": "", "source": "Accueil", "collected_at_0": "2026-01-15", "collected_at_1": "10:00:00",
    }
    data.update(overrides)
    return data


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def table_dump(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return "\n".join(repr(row) for row in cursor.fetchall())


# --- contacts -------------------------------------------------------------------------------


def test_dpo_adds_a_contact_normalised_through_the_service(client, dpo_user, reference_data):
    customer = DataSubjectCategory.objects.get(code="customer")
    client.force_login(dpo_user)
    response = client.post(reverse("admin:consent_contact_add"), contact_post(
        email=" Alice.Martin@Example.ORG ", phone="06 12 34 56 78", data_subject_categories=[customer.pk]))
    assert response.status_code == 302, form_errors(response)
    contact = Contact.objects.get()
    assert (contact.email, contact.phone) == ("alice.martin@example.org", "+33612345678")
    assert list(contact.data_subject_categories.all()) == [customer]
    assert response["Location"] == reverse("admin:consent_contact_changelist")
    assert LogEntry.objects.filter(object_id=str(contact.pk), action_flag=ADDITION).exists()
    assert contact.history.first().history_user == dpo_user


def test_duplicate_email_is_a_form_error_not_a_500(client, dpo_user, reference_data):
    ContactFactory(email="alice@example.org")
    client.force_login(dpo_user)
    for typed in ("ALICE@example.org", "alice@example.org"):
        response = client.post(reverse("admin:consent_contact_add"), contact_post(email=typed))
        assert response.status_code == 200
        assert gettext("A contact with this email already exists.") in form_errors(response)["email"]
        # What was typed is still in the form.
        assert response.context["adminform"].form["email"].value() == typed
    assert Contact.objects.count() == 1


def test_invalid_phone_from_the_service_is_a_form_error(client, dpo_user, reference_data):
    client.force_login(dpo_user)
    response = client.post(reverse("admin:consent_contact_add"), contact_post(phone="12"))
    assert response.status_code == 200
    assert "phone" in form_errors(response)
    assert not Contact.objects.exists()


def test_staff_changes_a_contact_through_the_service(client, staff_user, reference_data):
    contact = ContactFactory(email="bob@example.org", phone="+33612345678")
    donor = DataSubjectCategory.objects.get(code="donor")
    client.force_login(staff_user)
    url = reverse("admin:consent_contact_change", args=[contact.pk])
    response = client.post(url, contact_post(email="Bob@Example.org", phone="01 42 00 00 00", first_name="Bob",
                                             data_subject_categories=[donor.pk], restricted="on"))
    assert response.status_code == 302, form_errors(response)
    contact.refresh_from_db()
    assert (contact.email, contact.phone, contact.first_name) == ("bob@example.org", "+33142000000", "Bob")
    assert contact.restricted
    assert list(contact.data_subject_categories.all()) == [donor]
    assert contact.history.first().history_user == staff_user


def test_change_refused_by_the_service_rolls_back_and_shows_the_error(client, dpo_user, reference_data):
    ContactFactory(email="taken@example.org")
    contact = ContactFactory(email="carol@example.org", first_name="Carol")
    client.force_login(dpo_user)
    url = reverse("admin:consent_contact_change", args=[contact.pk])
    response = client.post(url, contact_post(email="TAKEN@example.org", first_name="Caroline"))
    assert response.status_code == 200
    assert "email" in form_errors(response)
    contact.refresh_from_db()
    assert (contact.email, contact.first_name) == ("carol@example.org", "Carol")


def test_change_page_shows_timeline_newest_first_current_consents_and_duplicates(client, dpo_user, newsletter):
    contact = ContactFactory(email="dan@example.org", phone="+33142000000")
    other = ContactFactory(email="eve@example.org", phone="01 42 00 00 00")
    now = timezone.now()
    first = record_consent(contact, newsletter, "email", "granted", effective_at=now - timedelta(days=3),
                           collection_form="stand-salon", recorded_by=dpo_user)
    second = record_consent(contact, newsletter, "email", "withdrawn", effective_at=now - timedelta(days=2),
                            method="unsubscribe")
    third = record_consent(contact, newsletter, "sms", "granted", effective_at=now - timedelta(days=1))
    client.force_login(dpo_user)
    response = client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    assert response.status_code == 200
    assert [e.pk for e in response.context["consent_timeline"]] == [third.pk, second.pk, first.pk]
    html = response.content.decode()
    positions = [html.index(f'id="event-{e.sequence}"') for e in (third, second, first)]
    assert positions == sorted(positions)
    assert "stand-salon" in html
    assert reverse("admin:consent_notice_change", args=[first.notice_id]) in html

    rows = {(r["purpose"].slug, r["channel"].code): r for r in response.context["current_consents"]}
    assert rows[("admin-newsletter", "email")]["status"] == "withdrawn"
    assert rows[("admin-newsletter", "email")]["allowed"] is False
    assert rows[("admin-newsletter", "sms")]["status"] == "granted"
    assert rows[("admin-newsletter", "sms")]["allowed"] is True
    assert response.context["duplicate_candidates"] == [other]
    assert reverse("admin:consent_contact_change", args=[other.pk]) in html


def test_search_by_a_national_phone_number_finds_the_contact(client, staff_user, reference_data):
    wanted = ContactFactory(email="fanny@example.org", phone="+33612345678")
    ContactFactory(email="gilles@example.org", phone="+33698765432")
    client.force_login(staff_user)
    url = reverse("admin:consent_contact_changelist")
    response = client.get(url, {"q": "06 12 34 56 78"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]
    response = client.get(url, {"q": "FANNY@Example.org"})
    assert list(response.context["cl"].result_list) == [wanted]
    # With a filter on an M2M field as well.
    donor = DataSubjectCategory.objects.get(code="donor")
    ContactFactory(email="henri@example.org", phone="+33612345678", data_subject_categories=[donor])
    response = client.get(url, {"q": "06 12 34 56 78", "data_subject_categories__id__exact": donor.pk})
    assert [c.email for c in response.context["cl"].result_list] == ["henri@example.org"]


def test_staff_cannot_delete_a_contact_and_neither_can_the_dpo(client, staff_user, dpo_user, reference_data):
    contact = ContactFactory(email="hugo@example.org")
    delete_url = reverse("admin:consent_contact_delete", args=[contact.pk])
    for user in (staff_user, dpo_user):
        client.force_login(user)
        page = client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
        assert page.status_code == 200
        assert 'class="deletelink"' not in page.content.decode()
        assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_anonymised_contact_is_read_only(client, dpo_user, reference_data):
    contact = ContactFactory(email="ines@example.org")
    Contact.objects.filter(pk=contact.pk).update(anonymised_at=timezone.now())
    client.force_login(dpo_user)
    url = reverse("admin:consent_contact_change", args=[contact.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, contact_post(email="other@example.org")).status_code == 403


# --- the ledger -----------------------------------------------------------------------------


@pytest.fixture
def event(newsletter, dpo_user):
    contact = ContactFactory(email="jules@example.org")
    document = SimpleUploadedFile("bulletin.pdf", b"%PDF-1.4 signed form", content_type="application/pdf")
    return record_consent(contact, newsletter, "email", "granted", method="paper", recorded_by=dpo_user,
                          evidence_note="Bulletin papier", evidence_document=document)


@pytest.mark.parametrize("who", ["superuser", "dpo"])
def test_nobody_can_add_change_or_delete_a_consent_event(client, event, dpo_user, who):
    user = User.objects.create_superuser("root", "root@example.org", "pw-root-2026!") if who == "superuser" \
        else dpo_user
    client.force_login(user)
    change_url = reverse("admin:consent_consentevent_change", args=[event.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and 'class="deletelink"' not in html
    assert event.hash in html and event.previous_hash in html
    assert Notice.objects.get(pk=event.notice_id).text.splitlines()[0] in html
    assert "Bulletin papier" in html

    assert client.post(change_url, {"action": "refused"}).status_code == 403
    assert client.get(reverse("admin:consent_consentevent_delete", args=[event.pk])).status_code == 403
    assert client.post(reverse("admin:consent_consentevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:consent_consentevent_add")).status_code == 403
    changelist = client.get(reverse("admin:consent_consentevent_changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    for filters, expected in (({"action__exact": "granted", "method__exact": "paper"}, [event]),
                              ({"action__exact": "withdrawn"}, []),
                              ({"purpose__id__exact": event.purpose_id, "channel__id__exact": event.channel_id},
                               [event])):
        filtered = client.get(reverse("admin:consent_consentevent_changelist"), filters)
        assert list(filtered.context["cl"].result_list) == expected
    event.refresh_from_db()
    assert event.action == "granted" and ConsentEvent.objects.count() == 1


def test_a_consent_event_reads_with_labels_in_its_title(client, event, dpo_user):
    """'#567 — Granted — Jules Martin — Newsletter / Email', in the page's language, not '#567 granted 7/2'."""
    Contact.objects.filter(pk=event.contact_id).update(first_name="Jules", last_name="Martin")
    event = ConsentEvent.objects.get(pk=event.pk)
    with override("en"):
        expected = f"#{event.sequence} — Granted — Jules Martin — {event.purpose.name_en} / {event.channel.label_en}"
        assert str(event) == expected
    with override("fr"):
        french = (f"#{event.sequence} — {gettext('Granted')} — Jules Martin — {event.purpose.name_fr} / "
                  f"{event.channel.label_fr}")
        assert str(event) == french and "Consentement donné" in french  # an existing translation
        client.force_login(dpo_user)
        page = client.get(reverse("admin:consent_consentevent_change", args=[event.pk])).content.decode()
    assert escape(french) in page  # the page's heading and breadcrumbs


def test_a_current_consent_reads_like_its_events(client, event, dpo_user):
    """'Jules Martin — Newsletter / Email — Granted', not 'ConsentState object (12)'."""
    Contact.objects.filter(pk=event.contact_id).update(first_name="Jules", last_name="Martin")
    state = ConsentState.objects.select_related("contact", "purpose", "channel").get()
    with override("en"):
        assert str(state) == f"Jules Martin — {event.purpose.name_en} / {event.channel.label_en} — Granted"
    with override("fr"):
        french = f"Jules Martin — {event.purpose.name_fr} / {event.channel.label_fr} — Consentement donné"
        assert str(state) == french
        client.force_login(dpo_user)
        page = client.get(reverse("admin:consent_consentstate_change", args=[state.pk])).content.decode()
    assert escape(french) in page and "ConsentState object" not in page


def test_evidence_document_is_served_only_with_the_view_permission(client, event, staff_user):
    url = reverse("admin:consent_consentevent_evidence", args=[event.pk])
    page_url = reverse("admin:consent_consentevent_change", args=[event.pk])

    client.force_login(staff_user)  # staff may view the ledger
    assert url in client.get(page_url).content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 signed form"
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert "attachment" in response["Content-Disposition"]

    nobody = User.objects.create_user("nobody", password="pw-nobody-2026!", is_staff=True)
    client.force_login(nobody)
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_derived_tables_are_read_only(client, event, dpo_user):
    client.force_login(dpo_user)
    state = ConsentState.objects.get()
    for name, pk in (("consentstate", state.pk), ("notice", event.notice_id)):
        assert client.get(reverse(f"admin:consent_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:consent_{name}_change", args=[pk])).status_code == 200
        assert client.post(reverse(f"admin:consent_{name}_change", args=[pk]), {}).status_code == 403
        assert client.get(reverse(f"admin:consent_{name}_add")).status_code == 403
        assert client.get(reverse(f"admin:consent_{name}_delete", args=[pk])).status_code == 403
    response = client.get(reverse("admin:consent_consentstate_changelist"), {"status__exact": "granted"})
    assert list(response.context["cl"].result_list) == [state]


# --- suppression lists ----------------------------------------------------------------------


def upload(text: str, name: str = "opposition.csv", encoding: str = "utf-8"):
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def test_opposition_list_import_writes_digests_only(client, dpo_user, reference_data):
    email = Channel.objects.get(code="email")
    sms = Channel.objects.get(code="sms")
    client.force_login(dpo_user)
    changelist = client.get(reverse("admin:consent_suppressionentry_changelist"))
    import_url = reverse("admin:consent_suppressionentry_import")
    assert import_url in changelist.content.decode()
    with override("en"):  # the messages below are read in English
        import_url = reverse("admin:consent_suppressionentry_import")

    response = client.post(import_url, {
        "channel": email.pk, "source": "opposition_list", "note": "Liste partenaire 2026-01",
        "file": upload("email\nZoe.Secret@Example.org\nyann.hidden@example.net\n\nzoe.secret@example.org\n"),
    }, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("2 added" in m and "0 already" in m for m in messages), messages
    response = client.post(import_url, {
        "channel": sms.pk, "source": "opposition_list", "note": "",
        "file": upload("téléphone\n06 11 22 33 44\n", encoding="cp1252"),
    })
    assert response.status_code == 302

    assert SuppressionEntry.objects.count() == 3
    assert SuppressionEntry.objects.filter(channel=email, digest=suppression_digest("email", "zoe.secret@example.org"))
    assert SuppressionEntry.objects.filter(channel=sms, digest=suppression_digest("sms", "+33611223344"))
    dump = table_dump(SuppressionEntry._meta.db_table).lower() + table_dump("django_admin_log").lower()
    for clear in ("zoe.secret", "yann.hidden", "example.org", "example.net", "611223344", "11 22 33 44"):
        assert clear not in dump


def test_import_with_a_bad_line_writes_nothing_and_names_the_line(client, staff_user, reference_data):
    email = Channel.objects.get(code="email")
    client.force_login(staff_user)
    with override("en"):  # the report is read in English
        import_url = reverse("admin:consent_suppressionentry_import")
    response = client.post(import_url, {
        "channel": email.pk, "source": "opposition_list", "note": "",
        "file": upload("a@example.org\nb@example.org\nnot-an-address\nc@example.org\n"),
    })
    assert response.status_code == 200
    assert [number for number, _reason in response.context["rejected"]] == [3]
    html = response.content.decode()
    assert 'data-line="3"' in html and "line 3" in html
    assert not SuppressionEntry.objects.exists()


def test_a_list_file_that_is_not_text_is_a_form_error(client, staff_user, reference_data):
    """Read as every uploaded file (consent.csvfiles): UTF-8 or Windows-1252, else refused whole,
    never imported with characters replaced."""
    client.force_login(staff_user)
    response = client.post(reverse("admin:consent_suppressionentry_import"), {
        "channel": Channel.objects.get(code="email").pk, "source": "opposition_list", "note": "",
        "file": SimpleUploadedFile("list.csv", b"a@example.org\n\x81\x8d@example.org\n"),
    })
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["Ce fichier n'est pas du texte (UTF-8 ou Windows-1252)."]
    assert not SuppressionEntry.objects.exists()


def test_single_add_takes_the_clear_value_once_and_keeps_its_digest(client, dpo_user, reference_data):
    phone = Channel.objects.get(code="phone")
    client.force_login(dpo_user)
    url = reverse("admin:consent_suppressionentry_add")
    assert client.get(url).status_code == 200
    response = client.post(url, {"channel": phone.pk, "value": "01 42 00 00 00", "source": "manual",
                                 "note": "Courrier du 3 mars"})
    assert response.status_code == 302
    entry = SuppressionEntry.objects.get()
    assert entry.digest == suppression_digest("phone", "+33142000000") and entry.source == "manual"
    dump = table_dump(SuppressionEntry._meta.db_table) + table_dump("django_admin_log")
    assert "142000000" not in dump and "42 00 00 00" not in dump

    again = client.post(url, {"channel": phone.pk, "value": "+33 1 42 00 00 00", "source": "manual"})
    assert again.status_code == 302 and SuppressionEntry.objects.count() == 1
    refused = client.post(url, {"channel": phone.pk, "value": "12", "source": "manual"})
    assert refused.status_code == 200 and "value" in refused.context["form"].errors
    assert SuppressionEntry.objects.count() == 1


def test_existing_suppression_entries_cannot_be_changed_or_deleted(client, dpo_user, reference_data):
    entry, _created = services.suppression_add(channel=Channel.objects.get(code="email"), value="k@example.org",
                                               source="manual")
    client.force_login(dpo_user)
    change_url = reverse("admin:consent_suppressionentry_change", args=[entry.pk])
    page = client.get(change_url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(change_url, {"note": "x"}).status_code == 403
    assert client.post(reverse("admin:consent_suppressionentry_delete", args=[entry.pk]),
                       {"post": "yes"}).status_code == 403
    listing = client.get(reverse("admin:consent_suppressionentry_changelist")).content.decode()
    assert entry.digest[:12] in listing and entry.digest not in listing


def test_dpo_configures_a_collection_form_with_its_generated_notice(client, dpo_user, newsletter, channels):
    from consent.models import CollectionForm

    client.force_login(dpo_user)
    url = reverse("admin:consent_collectionform_add")
    data = {"name_fr": "Inscription", "name_en": "Sign-up", "slug": "inscription", "public": "on",
            "double_opt_in": "on", "active": "on",
            "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "0", "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "1000",
            "items-0-purpose": newsletter.pk, "items-0-channel": channels["postal"].pk, "items-0-position": "0"}
    refused = client.post(url, data)
    assert refused.status_code == 200 and not CollectionForm.objects.exists()  # newsletter is not postal
    data["items-0-channel"] = channels["email"].pk
    accepted = client.post(url, data)
    assert accepted.status_code == 302, (accepted.context["adminform"].form.errors,
                                         [f.errors for f in accepted.context["inline_admin_formsets"][0].formset])
    form = CollectionForm.objects.get(slug="inscription")
    page = client.get(reverse("admin:consent_collectionform_change", args=[form.pk])).content.decode()
    assert newsletter.text_fr.replace("'", "&#x27;") in page  # the generated Art. 13 notice
    listing = client.get(reverse("admin:consent_collectionform_changelist")).content.decode()
    assert "/forms/inscription/" in listing and "/staff/forms/inscription/" in listing
    assert "Inscription" in listing and "Sign-up" in listing  # both names listed
