"""The staff collection page finds a contact already on file (by name, email, phone or external
reference), shows their current choices under each box, and records on that very contact."""
import pytest
from django.contrib.auth.models import Permission, User

from consent import selectors, services
from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, Contact

pytestmark = pytest.mark.django_db
URL = "/staff/forms/desk/"


@pytest.fixture
def desk(newsletter, channels):
    form = CollectionForm.objects.create(slug="desk", name_fr="Accueil", public=False, double_opt_in=False)
    email_box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["email"])
    sms_box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["sms"], position=1)
    return form, email_box, sms_box


@pytest.fixture
def people():
    return {
        "anne": services.contact_create(email="anne.dupont@example.org", first_name="Anne", last_name="Dupont",
                                        external_ref="CRM-0042"),
        "marc": services.contact_create(email="marc@example.org", phone="01 45 45 45 45", first_name="Marc",
                                        last_name="Dupont"),
        "lea": services.contact_create(phone="01 45 45 45 45", first_name="Léa", last_name="Martin"),
        "paul": services.contact_create(email="paul@example.org", first_name="Paul", last_name="Durand"),
    }


def names(contacts):
    return [contact.first_name for contact in contacts]


def test_search_by_name_words_email_phone_or_external_ref(people):
    assert names(selectors.contact_search(query="dupont")) == ["Anne", "Marc"]  # by last name, then first
    assert names(selectors.contact_search(query="  DUP  ")) == ["Anne", "Marc"]  # a start, any case
    assert names(selectors.contact_search(query="anne dupont")) == ["Anne"]  # every word must match
    assert names(selectors.contact_search(query="Dupont Anne")) == ["Anne"]
    assert names(selectors.contact_search(query="Anne.Dupont@Example.ORG")) == ["Anne"]
    assert names(selectors.contact_search(query="+33 1 45 45 45 45")) == ["Marc", "Léa"]  # a shared landline
    assert names(selectors.contact_search(query="CRM-0042")) == ["Anne"]
    assert names(selectors.contact_search(query="LEA MARTIN")) == ["Léa"]  # accents aside, as people type
    assert selectors.contact_search(query="léa") == []  # a first name alone: one word must start the last name
    assert names(selectors.contact_search(query="Dùpönt Ânne")) == ["Anne"]
    assert selectors.contact_search(query="dup_nt") == []  # LIKE wildcards are taken literally
    assert selectors.contact_search(query="nobody") == []
    assert selectors.contact_search(query="   ") == []
    assert selectors.contact_search(query="Dupont\x00") == []  # PostgreSQL would refuse the NUL: no match
    assert selectors.contact_search(query="not-an-email@") == []  # an unreadable address finds nothing
    assert names(selectors.contact_search(query="dupont", limit=1)) == ["Anne"]


def test_search_never_finds_an_anonymised_contact(people):
    services.contact_anonymise(contact=people["paul"])
    assert selectors.contact_search(query="paul@example.org") == []
    assert selectors.contact_search(query="anonyme") == []


def test_staff_finds_a_contact_and_sees_their_current_choices(client, staff_user, desk, people, newsletter,
                                                              channels):
    form, email_box, sms_box = desk
    marc = people["marc"]
    services.consent_record(contact=marc, purpose=newsletter, channel=channels["sms"], action="granted",
                            method="staff_form")
    client.force_login(staff_user)

    page = client.get(URL, {"q": "dupont"}).content.decode()
    assert 'id="contact-results"' in page
    assert f'href="?contact={people["anne"].pk}"' in page and f'href="?contact={marc.pk}"' in page
    assert "Durand" not in page

    assert 'id="more-contacts"' not in page
    assert client.get(URL, {"q": "dup\x00ont"}).status_code == 200
    page = client.get(URL, {"q": "zzz"}).content.decode()
    assert 'id="no-contact-found"' in page
    assert "first name alone finds nobody" in page or "un prénom seul ne trouve personne" in page
    for number in range(selectors.CONTACT_SEARCH_LIMIT):  # more Dupont than a page shows
        services.contact_create(email=f"dupont{number}@example.org", last_name="Dupont")
    page = client.get(URL, {"q": "dupont"}).content.decode()
    assert page.count('class="choose-contact"') == selectors.CONTACT_SEARCH_LIMIT and 'id="more-contacts"' in page

    page = client.get(URL, {"contact": marc.pk}).content.decode()
    assert 'id="chosen-contact"' in page and "Marc Dupont" in page
    assert 'value="marc@example.org"' in page  # the form starts from what is on file
    assert f'name="contact" value="{marc.pk}"' in page
    # Under each box, the contact's consent now (the page is in French by default).
    assert page.count('class="box-status"') == 2
    assert '<span class="box-status">Maintenant : aucun consentement enregistré</span>' in page  # email
    assert '<span class="box-status">Maintenant : consentement donné</span>' in page  # SMS


def test_staff_records_on_the_chosen_contact_and_fills_in_what_it_lacks(client, staff_user, desk, people):
    form, email_box, sms_box = desk
    anne = people["anne"]
    client.force_login(staff_user)
    # Anne has no phone on file: the number given at the desk is added to her contact, not to a new one.
    response = client.post(URL, {"contact": anne.pk, "email": "", "phone": "06 11 22 33 44", "method": "staff_form",
                                 f"box_{email_box.pk}": "on", f"box_{sms_box.pk}": "on"})
    assert response.status_code == 200 and 'id="collection-form"' not in response.content.decode()
    events = ConsentEvent.objects.filter(contact=anne).order_by("sequence")
    assert [(event.channel.code, event.action) for event in events] == [("email", "granted"), ("sms", "granted")]
    anne.refresh_from_db()
    assert anne.phone == "+33611223344" and anne.history.count() == 2
    assert Contact.objects.count() == 4
    assert selectors.consent_check(contact=anne, purpose=events[1].purpose, channel=events[1].channel).allowed


def test_a_contradicting_email_is_refused_and_nothing_is_recorded(client, staff_user, desk, people):
    form, email_box, sms_box = desk
    client.force_login(staff_user)
    response = client.post(URL, {"contact": people["anne"].pk, "email": "someone.else@example.org",
                                 "method": "staff_form", f"box_{email_box.pk}": "on"})
    page = response.content.decode()
    assert response.status_code == 200 and 'id="collection-form"' in page
    assert "anne.dupont@example.org" in page and 'id="chosen-contact"' in page
    assert not ConsentEvent.objects.exists()
    assert Contact.objects.get(pk=people["anne"].pk).email == "anne.dupont@example.org"


def test_an_anonymised_contact_cannot_be_chosen(client, staff_user, desk, people):
    form, email_box, _sms_box = desk
    paul = people["paul"]
    services.contact_anonymise(contact=paul)
    client.force_login(staff_user)
    for chosen in (paul.pk, "²", "9" * 30, "-1", ""):  # anonymised, or not a contact id at all
        response = client.get(URL, {"contact": chosen})
        assert response.status_code == 200 and 'id="chosen-contact"' not in response.content.decode()
    response = client.post(URL, {"contact": paul.pk, "email": "paul@example.org", "method": "staff_form",
                                 f"box_{email_box.pk}": "on"})
    assert response.status_code == 200 and "anonymis" in response.content.decode()
    for chosen in ("9" * 30, "x"):
        response = client.post(URL, {"contact": chosen, "email": "paul@example.org", "method": "staff_form",
                                     f"box_{email_box.pk}": "on"})
        assert response.status_code == 200 and "cherchez à nouveau" in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_without_the_right_to_read_contacts_there_is_no_search(client, desk, people):
    form, email_box, _sms_box = desk
    recorder = User.objects.create_user("recorder", password="x-Recorder-2026", is_staff=True)
    recorder.user_permissions.add(Permission.objects.get(codename="add_consentevent"))
    client.force_login(recorder)
    page = client.get(URL, {"q": "dupont", "contact": people["anne"].pk}).content.decode()
    assert 'id="contact-search"' not in page and "Dupont" not in page and 'id="chosen-contact"' not in page
    # A posted contact id is ignored: the email given finds (or makes) the contact, as before.
    client.post(URL, {"contact": people["anne"].pk, "email": "new.person@example.org", "method": "staff_form",
                      f"box_{email_box.pk}": "on"})
    assert ConsentEvent.objects.get().contact.email == "new.person@example.org"


def test_on_postgresql_a_name_search_uses_the_index_of_folded_last_names(people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the index is PostgreSQL's (SQLite scans its few contacts)")
    with CaptureQueriesContext(connection) as queries:
        assert names(selectors.contact_search(query="Dupont anne")) == ["Anne"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: show what a million would use
        cursor.execute("EXPLAIN " + queries.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "contact_last_name_folded" in plan, plan


def test_a_chosen_contact_keeps_its_postal_address_whole(client, staff_user, desk, people, channels, newsletter):
    form, _email_box, _sms_box = desk
    postal_box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["postal"],
                                                   position=2)
    newsletter.channels.add(channels["postal"])
    marc = people["marc"]
    services.contact_update(contact=marc, address_line1="1 rue A")  # no postal code nor city on file
    client.force_login(staff_user)
    response = client.post(URL, {"contact": marc.pk, "address_line1": "5 avenue B", "postal_code": "69001",
                                 "city": "Lyon", "method": "staff_form", f"box_{postal_box.pk}": "on"})
    assert "1 rue A" in response.content.decode() and 'id="collection-form"' in response.content.decode()
    marc.refresh_from_db()
    assert (marc.address_line1, marc.postal_code, marc.city) == ("1 rue A", "", "")  # not a mix of two addresses
    assert not ConsentEvent.objects.filter(contact=marc).exists()
    # A contact without any postal address on file gets the whole one given.
    anne = people["anne"]
    client.post(URL, {"contact": anne.pk, "address_line1": "5 avenue B", "postal_code": "69001", "city": "Lyon",
                      "method": "staff_form", f"box_{postal_box.pk}": "on"})
    anne.refresh_from_db()
    assert (anne.address_line1, anne.postal_code, anne.city) == ("5 avenue B", "69001", "Lyon")
    assert ConsentEvent.objects.get(contact=anne).channel == channels["postal"]


def test_on_a_double_opt_in_form_a_new_email_is_not_put_on_a_chosen_contact(client, staff_user, desk, people):
    form, email_box, _sms_box = desk
    form.double_opt_in = True
    form.save()
    lea = people["lea"]  # no email on file
    client.force_login(staff_user)
    response = client.post(URL, {"contact": lea.pk, "email": "typo.lea@example.org", "method": "staff_form",
                                 f"box_{email_box.pk}": "on"})
    assert 'id="collection-form"' in response.content.decode()
    lea.refresh_from_db()
    assert lea.email == "" and not ConsentEvent.objects.filter(contact=lea).exists()


def test_a_dotted_capital_i_folds_alike_in_python_and_in_the_database():
    services.contact_create(email="ince@example.org", first_name="Ayşe", last_name="İnce")
    assert names(selectors.contact_search(query="İnce")) == ["Ayşe"]
    assert names(selectors.contact_search(query="ince ayse")) == ["Ayşe"]


def test_ligatures_and_other_letters_are_found_as_people_type_them():
    services.contact_create(email="laetitia@example.org", first_name="Lætitia", last_name="Cœurdacier")
    services.contact_create(email="lukasz@example.org", first_name="Łukasz", last_name="Østergaard")
    services.contact_create(email="hans@example.org", first_name="Hans", last_name="Straßer")
    assert names(selectors.contact_search(query="laetitia coeurdacier")) == ["Lætitia"]
    assert names(selectors.contact_search(query="Cœurdacier LÆTITIA")) == ["Lætitia"]
    assert names(selectors.contact_search(query="lukasz oster")) == ["Łukasz"]
    assert names(selectors.contact_search(query="STRASSER")) == ["Hans"]
    assert names(selectors.contact_search(query="straßer")) == ["Hans"]
    assert selectors.contact_search(query="coeurdacier lukasz") == []


def test_python_and_the_database_fold_every_letter_alike():
    """The query is folded in Python, the stored names in SQL (PostgreSQL's expression, SQLite's
    function): both must give the same text for every letter the map knows, and a few it does not."""
    from django.db import connection

    from consent.folding import Folded, folded

    letters = "".join(chr(code) for code in range(0xC0, 0x180)) + "ẞAZaz-' "
    first, last = letters[:100], letters[100:]  # each within a name's 150 characters
    contact = services.contact_create(email="letters@example.org", first_name=first, last_name=last)
    stored = (Contact.objects.filter(pk=contact.pk).annotate(first=Folded("first_name"), last=Folded("last_name"))
              .values_list("first", "last").get())
    assert stored == (folded(first), folded(last)), connection.vendor
    assert all(letters in "".join(stored) for letters in ("ae", "oe", "ss", "th", "ij"))


def test_the_service_takes_a_chosen_contact_with_only_the_fields_given(desk, people):
    form, _email_box, sms_box = desk
    anne = people["anne"]  # an email on file, no phone
    outcome = services.form_submit(form=form, contact_fields={"phone": "06 11 22 33 44"}, chosen=[sms_box],
                                   method="staff_form", language="fr", contact=anne)
    assert outcome.contact == anne and not outcome.created_contact
    anne.refresh_from_db()
    assert (anne.email, anne.phone) == ("anne.dupont@example.org", "+33611223344")
