"""Contacts, the rules of recording, the check, expiry and lapse, suppression."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent import selectors, services
from consent.models import ConsentEvent, ConsentState, Contact, Notice, SuppressionEntry
from consent.normalise import suppression_digest
from registry import services as registry_services

pytestmark = pytest.mark.django_db


def grant(contact, purpose, channel, **kwargs):
    return services.consent_record(contact=contact, purpose=purpose, channel=channel, action="granted",
                                   method=kwargs.pop("method", "web_form"), **kwargs).event


# --- contacts -------------------------------------------------------------------------------

def test_email_and_phone_are_normalised_and_email_is_unique():
    contact = services.contact_create(email=" Alice@XN--BCHER-KVA.de ", phone="06 12 34 56 78")
    assert (contact.email, contact.phone) == ("alice@bücher.de", "+33612345678")
    with pytest.raises(ValidationError) as excinfo:
        services.contact_create(email="ALICE@bücher.de")
    assert "email" in excinfo.value.message_dict
    assert Contact.objects.count() == 1


def test_shared_phone_is_a_duplicate_candidate_not_an_error():
    first = services.contact_create(email="a@example.org", phone="+33142000000")
    second = services.contact_create(email="b@example.org", phone="01 42 00 00 00")
    assert selectors.contact_duplicate_candidates(contact=second) == [first]


def test_a_new_email_with_a_known_phone_makes_another_contact():
    first = services.contact_create(email="a@example.org", phone="+33142000000")
    second, created = services.contact_get_or_create(email="b@example.org", phone="01 42 00 00 00")
    assert created and second != first and second.email == "b@example.org"
    assert selectors.contact_duplicate_candidates(contact=second) == [first]
    # Without an email (nor an external reference), the phone finds the oldest contact holding it.
    assert services.contact_get_or_create(phone="01 42 00 00 00") == (first, False)


@pytest.mark.parametrize("fields,error", [({"email": "not-an-email"}, "email"), ({"phone": "12"}, "phone"),
                                          ({}, "email")])
def test_bad_contact_input_is_refused_with_the_field(fields, error):
    with pytest.raises(ValidationError) as excinfo:
        services.contact_create(**fields)
    assert error in excinfo.value.message_dict
    assert not Contact.objects.exists()


def test_contact_found_by_each_identifier():
    contact = services.contact_create(email="c@example.org", phone="0612345678", external_ref="CRM-1")
    assert selectors.contact_find(contact_id=contact.pk) == contact
    assert selectors.contact_find(email="C@Example.org") == contact
    assert selectors.contact_find(phone="+33 6 12 34 56 78") == contact
    assert selectors.contact_find(external_ref="CRM-1") == contact
    found, created = services.contact_get_or_create(email="c@EXAMPLE.org")
    assert found == contact and not created


def test_get_or_create_returns_the_contact_inserted_between_lookup_and_insert(monkeypatch):
    """The IntegrityError path: the other request's row lands after our look-up, unseen by the
    uniqueness checks (they ran before it committed), so our INSERT fails on the unique index; it
    fails in its own savepoint and the contact the other request created is returned."""
    from django.db import IntegrityError
    from django.db.models.query import QuerySet

    real_find, real_exists, real_save = selectors.contact_find, QuerySet.exists, Contact.save
    insert_errors = []

    def find_then_the_other_request_inserts(**lookup):
        if not Contact.objects.filter(email="race@example.org").first():
            Contact.objects.create(email="race@example.org", source="other request")
            return None
        return real_find(**lookup)

    def checks_blind_to_the_other_row(queryset):
        return False if queryset.model is Contact else real_exists(queryset)

    def save(self, *args, **kwargs):
        try:
            return real_save(self, *args, **kwargs)
        except IntegrityError as exc:
            insert_errors.append(exc)
            raise

    monkeypatch.setattr(selectors, "contact_find", find_then_the_other_request_inserts)
    monkeypatch.setattr(QuerySet, "exists", checks_blind_to_the_other_row)
    monkeypatch.setattr(Contact, "validate_constraints", lambda self, exclude=None: None)  # full_clean's check
    monkeypatch.setattr(Contact, "save", save)
    contact, created = services.contact_get_or_create(email="Race@Example.org", source="this request")
    assert len(insert_errors) == 1  # the unique index refused our row...
    assert not created and contact.source == "other request"  # ...and the other one came back
    assert Contact.objects.count() == 1


def test_get_or_create_returns_the_contact_committed_after_the_lookup(monkeypatch):
    real_find = selectors.contact_find
    calls = []

    def find_misses_once(**lookup):
        calls.append(lookup)
        if len(calls) == 1:
            services.contact_create(email="late@example.org", source="other request")
            return None
        return real_find(**lookup)

    monkeypatch.setattr(selectors, "contact_find", find_misses_once)
    contact, created = services.contact_get_or_create(email="late@example.org")
    assert (created, contact.source, Contact.objects.count()) == (False, "other request", 1)


def test_get_or_create_still_refuses_bad_input():
    with pytest.raises(ValidationError):
        services.contact_get_or_create(email="a@example.org", phone="12")
    assert not Contact.objects.exists()


# --- recording rules ------------------------------------------------------------------------

def test_grant_records_purpose_version_notice_and_state(newsletter, channels):
    contact = services.contact_create(email="d@example.org", language="en")
    event = grant(contact, newsletter, channels["email"], evidence_ip="203.0.113.5", evidence_user_agent="UA")
    assert event.purpose_version == newsletter.version == 1
    assert event.notice.language == "en" and newsletter.text_en in event.notice.text
    state = ConsentState.objects.get(contact=contact, purpose=newsletter, channel=channels["email"])
    assert state.status == "granted" and state.last_event == event
    assert state.expires_at == event.effective_at.replace(year=event.effective_at.year + 2)


def test_the_same_notice_text_is_stored_once(newsletter, channels):
    for email in ("e1@example.org", "e2@example.org"):
        grant(services.contact_create(email=email), newsletter, channels["email"])
    assert Notice.objects.count() == 1


def test_consent_is_recordable_only_on_the_purposes_channels(newsletter, channels):
    contact = services.contact_create(email="f@example.org")
    with pytest.raises(ValidationError) as excinfo:
        grant(contact, newsletter, channels["postal"])
    assert "channel" in excinfo.value.message_dict
    assert not ConsentEvent.objects.exists()


def test_legitimate_interest_purposes_take_objections_not_consent(postal_appeals, channels):
    contact = services.contact_create(email="g@example.org")
    with pytest.raises(ValidationError) as excinfo:
        grant(contact, postal_appeals, channels["postal"])
    assert "action" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.consent_record(contact=contact, purpose=postal_appeals, channel=channels["postal"],
                                action="objection_lifted", method="api")
    services.consent_record(contact=contact, purpose=postal_appeals, channel=channels["postal"],
                            action="objected", method="api")
    services.consent_record(contact=contact, purpose=postal_appeals, channel=channels["postal"],
                            action="objection_lifted", method="api")
    assert ConsentEvent.objects.count() == 2


def test_consent_purposes_take_withdrawals_not_objections(newsletter, channels):
    contact = services.contact_create(email="h@example.org")
    with pytest.raises(ValidationError) as excinfo:
        services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="objected",
                                method="api")
    assert "action" in excinfo.value.message_dict


@pytest.mark.parametrize("action,method", [("expired", "api"), ("lapsed", "web_form"), ("granted", "expiry"),
                                           ("granted", "double_opt_in"), ("granted", "carrier_pigeon"),
                                           ("teleported", "api")])
def test_system_and_unknown_codes_are_refused(newsletter, channels, action, method):
    contact = services.contact_create(email="i@example.org")
    with pytest.raises(ValidationError):
        services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action=action,
                                method=method)
    assert not ConsentEvent.objects.exists()


def test_future_effective_date_is_refused(newsletter, channels):
    contact = services.contact_create(email="j@example.org")
    with pytest.raises(ValidationError) as excinfo:
        grant(contact, newsletter, channels["email"], effective_at=timezone.now() + timedelta(days=1))
    assert "effective_at" in excinfo.value.message_dict


def test_double_opt_in_pending_then_confirmed(newsletter, channels):
    contact = services.contact_create(email="k@example.org")
    services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="pending",
                            method="web_form")
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).status == "pending"
    grant(contact, newsletter, channels["email"], method="double_opt_in")
    assert selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).allowed


def test_idempotency_keys_are_scoped_to_who_records(newsletter, channels, staff_user, integration_user):
    contact = services.contact_create(email="idem@example.org")

    def record(user, action):
        return services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                       action=action, method="api", recorded_by=user, idempotency_key="k-1")

    crm, shop, nobody = record(integration_user, "granted"), record(staff_user, "withdrawn"), record(None, "granted")
    assert crm.created and shop.created and nobody.created
    assert len({crm.event.pk, shop.event.pk, nobody.event.pk}) == 3
    again = record(integration_user, "granted"), record(staff_user, "withdrawn"), record(None, "granted")
    assert [r.created for r in again] == [False, False, False]
    assert [r.event.pk for r in again] == [crm.event.pk, shop.event.pk, nobody.event.pk]
    assert ConsentEvent.objects.count() == 3


def test_idempotency_key_returns_the_first_event(newsletter, channels):
    contact = services.contact_create(email="l@example.org")
    first = services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                                    method="api", idempotency_key="crm-42")
    again = services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                    action="granted", method="api", idempotency_key="crm-42")
    assert first.created and not again.created and again.event == first.event
    # The same key for another event is refused: answering with the grant would lose the withdrawal.
    with pytest.raises(ValidationError) as refused:
        services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                action="withdrawn", method="api", idempotency_key="crm-42")
    assert "idempotency_key" in refused.value.message_dict
    assert ConsentEvent.objects.count() == 1


# --- the check ------------------------------------------------------------------------------

def check(contact, purpose, channel, **kwargs):
    return selectors.consent_check(contact=contact, purpose=purpose, channel=channel, **kwargs)


def test_check_follows_grant_and_withdrawal(newsletter, channels):
    contact = services.contact_create(email="m@example.org")
    assert (check(contact, newsletter, channels["email"]).reason, check(contact, newsletter, channels["email"]).status) \
        == ("no_consent", "none")
    grant(contact, newsletter, channels["email"])
    result = check(contact, newsletter, channels["email"])
    assert result.allowed and result.reason == "consent_granted" and result.regime == "consent"
    assert not check(contact, newsletter, channels["sms"]).allowed  # per channel
    services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="withdrawn",
                            method="preference_centre")
    result = check(contact, newsletter, channels["email"])
    assert (result.allowed, result.status, result.reason) == (False, "withdrawn", "withdrawn")


def test_unknown_anonymised_restricted_suppressed(newsletter, channels):
    assert check(None, newsletter, channels["email"]).reason == "unknown_contact"
    contact = services.contact_create(email="n@example.org", phone="0611223344")
    grant(contact, newsletter, channels["email"])
    grant(contact, newsletter, channels["sms"])
    services.suppression_add(channel=channels["sms"], value="+33 6 11 22 33 44", source="opposition_list")
    assert check(contact, newsletter, channels["sms"]).reason == "suppressed"
    assert check(contact, newsletter, channels["email"]).allowed
    services.contact_update(contact=contact, restricted=True)
    assert check(contact, newsletter, channels["email"]).reason == "restricted"
    Contact.objects.filter(pk=contact.pk).update(anonymised_at=timezone.now())
    contact.refresh_from_db()
    assert check(contact, newsletter, channels["email"]).reason == "anonymised"


def test_channel_not_allowed(newsletter, channels):
    contact = services.contact_create(email="o@example.org")
    assert check(contact, newsletter, channels["postal"]).reason == "channel_not_allowed"


def test_expiry_in_the_check_and_by_the_periodic_job(newsletter, channels):
    contact = services.contact_create(email="p@example.org")
    event = grant(contact, newsletter, channels["email"], effective_at=timezone.now() - timedelta(days=800))
    result = check(contact, newsletter, channels["email"])
    assert (result.allowed, result.status, result.reason) == (False, "expired", "expired")
    assert services.consent_expire_due() == 1
    expired = ConsentEvent.objects.latest("sequence")
    assert (expired.action, expired.method) == ("expired", "expiry")
    assert expired.effective_at == ConsentState.objects.get(contact=contact, channel=channels["email"]).since
    assert expired.effective_at > event.effective_at
    assert services.consent_expire_due() == 0  # idempotent


def test_material_change_makes_earlier_grants_lapse(newsletter, channels, dpo_user):
    contact = services.contact_create(email="q@example.org")
    grant(contact, newsletter, channels["email"])
    registry_services.purpose_update(purpose=newsletter, text_fr="Nouveau texte", change_kind="minor", user=dpo_user)
    assert check(contact, newsletter, channels["email"]).allowed  # a minor change keeps consents
    registry_services.purpose_update(purpose=newsletter, text_fr="Autre finalité", change_kind="material",
                                     user=dpo_user)
    result = check(contact, newsletter, channels["email"])
    assert (result.allowed, result.status, result.reason) == (False, "lapsed", "outdated_version")
    assert services.consent_lapse_outdated() == 1
    assert ConsentEvent.objects.latest("sequence").method == "register_change"
    assert services.consent_lapse_outdated() == 0
    grant(contact, newsletter, channels["email"])  # consenting again to the new text
    assert check(contact, newsletter, channels["email"]).allowed


def test_a_channel_the_purpose_drops_ends_its_consents(newsletter, channels, dpo_user):
    """The expiry job still expires a grant on a channel the purpose no longer uses (it used to fail on
    the channel rule, every hour), and the lapse job lapses such grants and pending consents, so that
    they do not come back if the channel is added again later: the contact agreed to another notice."""
    texter = services.contact_create(email="r@example.org", phone="06 12 34 56 78")
    grant(texter, newsletter, channels["sms"], effective_at=timezone.now() - timedelta(days=800))
    kept = grant(texter, newsletter, channels["email"])
    waiting = services.contact_create(email="s@example.org", phone="06 12 34 56 79")
    services.consent_record(contact=waiting, purpose=newsletter, channel=channels["sms"], action="pending",
                            method="web_form")
    recent = services.contact_create(email="t@example.org", phone="06 12 34 56 70")
    grant(recent, newsletter, channels["sms"])
    registry_services.purpose_update(purpose=newsletter, channels=[channels["email"]], user=dpo_user)

    assert services.consent_expire_due() == 1
    assert ConsentState.objects.get(contact=texter, channel=channels["sms"]).status == "expired"
    assert services.consent_lapse_outdated() == 2  # the recent grant and the pending one; not the expired
    lapsed = ConsentEvent.objects.filter(action="lapsed")
    assert {(e.contact_id, e.channel.code, e.method) for e in lapsed} == {
        (waiting.pk, "sms", "register_change"), (recent.pk, "sms", "register_change")}
    assert services.consent_lapse_outdated() == 0
    assert check(texter, newsletter, channels["email"]).allowed  # the email grant stays
    assert ConsentState.objects.get(contact=texter, channel=channels["email"]).last_event_id == kept.pk

    registry_services.purpose_update(purpose=newsletter, channels=[channels["email"], channels["sms"]], user=dpo_user)
    for contact in (texter, waiting, recent):
        assert not check(contact, newsletter, channels["sms"]).allowed
    # An event a person asks for is still refused on a channel the purpose does not use.
    registry_services.purpose_update(purpose=newsletter, channels=[channels["email"]], user=dpo_user)
    with pytest.raises(ValidationError) as excinfo:
        services.consent_record(contact=recent, purpose=newsletter, channel=channels["sms"], action="withdrawn",
                                method="web_form")
    assert "channel" in excinfo.value.message_dict


def test_the_periodic_jobs_end_the_consents_of_an_erased_contact_and_never_stop_on_one(newsletter, channels,
                                                                                      dpo_user, monkeypatch):
    """A grant left live on a channel dropped before the contact's erasure used to make the expiry and
    lapse jobs fail on every run (the contact was anonymised), so nobody else's consent expired or lapsed."""
    erased = services.contact_create(email="u@example.org", phone="06 12 34 56 71")
    grant(erased, newsletter, channels["sms"], effective_at=timezone.now() - timedelta(days=800))
    other = services.contact_create(email="v@example.org")
    grant(other, newsletter, channels["email"], effective_at=timezone.now() - timedelta(days=800))
    registry_services.purpose_update(purpose=newsletter, channels=[channels["email"]], user=dpo_user)
    services.contact_anonymise(contact=erased)

    assert services.consent_expire_due() == 2
    assert {state.status for state in ConsentState.objects.all()} == {"expired"}
    # One pair that the ledger refuses is logged and skipped; the others are still written.
    registry_services.purpose_update(purpose=newsletter, text_fr="Nouveau texte", change_kind="material",
                                     user=dpo_user)
    grant(other, newsletter, channels["email"])
    third = services.contact_create(email="w@example.org")
    grant(third, newsletter, channels["email"])
    registry_services.purpose_update(purpose=newsletter, text_fr="Texte encore", change_kind="material",
                                     user=dpo_user)
    recording = services.consent_record

    def refuse_other(**kwargs):
        if kwargs["contact"].pk == other.pk:
            raise ValidationError({"contact": ["Refused."]})
        return recording(**kwargs)

    monkeypatch.setattr(services, "consent_record", refuse_other)
    assert services.consent_lapse_outdated() == 1
    assert ConsentState.objects.get(contact=third).status == "lapsed"
    assert ConsentState.objects.get(contact=other, channel=channels["email"]).status == "granted"


def test_a_purpose_without_a_legal_basis_reaches_no_one(channels, categories):
    """Undeclared is not opt-out: it used to answer "allowed" to everyone of the email channel."""
    from tests.factories import PurposeFactory

    undeclared = PurposeFactory(slug="undeclared", legal_basis="", direct_marketing=True,
                                channels=[channels["email"], channels["postal"]])
    contact = services.contact_create(email="x@example.org", address_line1="1 rue Haute", city="Lyon",
                                      data_subject_categories=list(categories.values()))
    for code in ("email", "postal"):
        result = check(contact, undeclared, channels[code])
        assert (result.allowed, result.reason, result.regime) == (False, "no_consent", "consent")
        assert selectors.audience_count(purpose=undeclared, channel=channels[code]) == 0
        assert not selectors.audience_queryset(purpose=undeclared, channel=channels[code]).exists()
    with pytest.raises(ValidationError):  # and no grant can make it reachable before its basis is set
        grant(contact, undeclared, channels["email"])
    assert all(row.purpose != undeclared for row in selectors.preference_rows(contact=contact))
    assert services.unsubscribe(contact=contact, purpose=undeclared, channel=channels["email"]) is None


def test_a_consent_dated_before_a_material_change_counts_as_given_to_the_earlier_text(newsletter, channels,
                                                                                      dpo_user):
    """A paper form signed before the text changed materially, recorded after: stamped with the version
    then in force and its text, so it lapses like the grants given then (it used to count as a grant
    of the new text)."""
    first_text = services.purpose_notice_text(purpose=newsletter, language="fr")
    registry_services.purpose_update(purpose=newsletter, text_fr="Nouvelle finalité", change_kind="material",
                                     user=dpo_user)
    newsletter.refresh_from_db()
    late = services.contact_create(email="late@example.org")
    paper = grant(late, newsletter, channels["email"], method="paper",
                  effective_at=timezone.now() - timedelta(days=400))
    assert (paper.purpose_version, paper.notice.text) == (1, first_text)
    result = check(late, newsletter, channels["email"])
    assert (result.allowed, result.status, result.reason) == (False, "lapsed", "outdated_version")
    assert services.consent_lapse_outdated() == 1
    today = grant(services.contact_create(email="today@example.org"), newsletter, channels["email"],
                  method="paper", effective_at=timezone.now())
    assert today.purpose_version == 2 and "Nouvelle finalité" in today.notice.text
    assert check(today.contact, newsletter, channels["email"]).allowed


def test_a_double_opt_in_asked_before_a_material_change_cannot_be_confirmed(newsletter, channels, dpo_user):
    contact = services.contact_create(email="doi@example.org")
    pending = services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"],
                                      action="pending", method="web_form").event
    registry_services.purpose_update(purpose=newsletter, text_fr="Nouvelle finalité", change_kind="material",
                                     user=dpo_user)
    with pytest.raises(ValidationError) as excinfo:
        services.consent_confirm(pending_event_id=pending.pk)
    assert excinfo.value.code == "not_recordable"
    assert not ConsentEvent.objects.filter(action="granted").exists()
    assert not check(contact, newsletter, channels["email"]).allowed


def test_a_retired_activity_ends_its_purposes_consents(newsletter, channels):
    contact = services.contact_create(email="y@example.org")
    grant(contact, newsletter, channels["email"])
    registry_services.activity_save(activity=newsletter.activity, status="retired")
    newsletter.refresh_from_db()
    assert newsletter.status == "retired"
    assert not check(contact, newsletter, channels["email"]).allowed
    assert services.consent_lapse_outdated() == 1
    assert ConsentState.objects.get(contact=contact).status == "lapsed"


def test_a_national_phone_number_is_read_in_the_contact_country():
    belgian = services.contact_create(email="be@example.org", phone="0470 12 34 56", country="BE")
    assert belgian.phone == "+32470123456"  # not the French landline +33470123456
    reunion = services.contact_create(email="re@example.org", phone="0692 12 34 56", country="RE")
    assert reunion.phone == "+262692123456"
    assert services.contact_create(email="fr@example.org", phone="06 12 34 56 78").phone == "+33612345678"
    moved = services.contact_update(contact=belgian, country="FR", phone="06 12 34 56 79")
    assert moved.phone == "+33612345679"
    assert services.contact_update(contact=reunion, phone="0692 12 34 57").phone == "+262692123457"


def test_a_country_is_an_iso_code_in_capitals():
    assert services.contact_create(email="be@example.org", country=" be ").country == "BE"
    contact = services.contact_create(email="fr@example.org")
    for value in ("ZZ", "Narnia", "FRA"):
        with pytest.raises(ValidationError) as raised:
            services.contact_update(contact=contact, country=value)
        assert list(raised.value.message_dict) == ["country"]
    contact.refresh_from_db()
    assert contact.country == "FR"
    # One field checked alone, as contact_update would store it.
    assert services.contact_field_check(field="phone", value="0470 12 34 56", country="BE") == "+32470123456"
    assert services.contact_field_check(field="email", value=" Ann@Example.ORG ") == "ann@example.org"
    with pytest.raises(ValidationError):
        services.contact_field_check(field="first_name", value="x" * 151)


def test_opt_out_regime(postal_appeals, channels, categories):
    donor = services.contact_create(email="r@example.org", address_line1="1 rue A", postal_code="75001",
                                    city="Paris", data_subject_categories=[categories["donor"]])
    customer = services.contact_create(email="s@example.org", data_subject_categories=[categories["customer"]])
    result = check(donor, postal_appeals, channels["postal"])
    assert result.allowed and result.regime == "opt_out"
    assert check(customer, postal_appeals, channels["postal"]).reason == "not_in_category"
    services.consent_record(contact=donor, purpose=postal_appeals, channel=channels["postal"], action="objected",
                            method="unsubscribe")
    assert check(donor, postal_appeals, channels["postal"]).reason == "objected"
    services.consent_record(contact=donor, purpose=postal_appeals, channel=channels["postal"],
                            action="objection_lifted", method="preference_centre")
    assert check(donor, postal_appeals, channels["postal"]).allowed


def test_retired_purpose_allows_no_one(newsletter, channels):
    contact = services.contact_create(email="t@example.org")
    grant(contact, newsletter, channels["email"])
    registry_services.purpose_update(purpose=newsletter, status="retired")
    assert not check(contact, newsletter, channels["email"]).allowed
    assert services.consent_lapse_outdated() == 1  # an event per consent, method register_change
    lapsed = ConsentEvent.objects.latest("sequence")
    assert (lapsed.action, lapsed.method) == ("lapsed", "register_change")
    with pytest.raises(ValidationError):
        grant(contact, newsletter, channels["email"])


# --- suppression ----------------------------------------------------------------------------

@pytest.mark.parametrize("lines", [
    ['"email";"date"', '"alice@example.org";"2024-01-01"', '"BOB@example.org";"2024-01-02"'],
    ["Adresse e-mail,Source", '"alice@example.org","Bloctel"', "bob@example.org,x"],
    ["courriel\tdate", "alice@example.org\t2024-01-01", "", "bob@example.org\t2024-01-02"],
    ["alice@example.org", "bob@example.org"],
])
def test_suppression_lists_are_read_as_spreadsheets_write_them(channels, lines):
    """Quoted cells, ";" "," or tab, any header: the first column is the address."""
    report = services.suppression_import(channel=channels["email"], lines=lines)
    assert (report.added, report.rejected) == (2, [])
    expected = {suppression_digest("email", "alice@example.org"), suppression_digest("email", "bob@example.org")}
    assert set(SuppressionEntry.objects.values_list("digest", flat=True)) == expected


def test_suppression_import_all_or_nothing_and_never_in_clear(channels):
    bad = services.suppression_import(channel=channels["sms"], lines=["phone", "06 12 34 56 78", "not a number"])
    assert bad.rejected and bad.rejected[0][0] == 3 and not SuppressionEntry.objects.exists()
    good = services.suppression_import(channel=channels["sms"], lines=["06 12 34 56 78", "+33612345678", "0756789012"])
    assert (good.added, good.already_present, good.rejected) == (2, 0, [])
    again = services.suppression_import(channel=channels["sms"], lines=["0612345678"])
    assert (again.added, again.already_present) == (0, 1)
    stored = " ".join(SuppressionEntry.objects.values_list("digest", flat=True))
    assert "612345678" not in stored and len(stored.split()[0]) == 64
