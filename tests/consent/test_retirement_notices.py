"""A purpose retired from the register: its grants lapse (an event each) and the contacts who had
consented are told by email, in their language, once per purpose, after commit, never in a request."""
from unittest import mock

import pytest
from django.core import mail

from consent import selectors, services
from consent.models import ConsentEvent, RetirementNotice
from registry import services as registry_services
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def grant(contact, purpose, channel):
    return services.consent_record(contact=contact, purpose=purpose, channel=channel, action="granted",
                                   method="web_form").event


@pytest.fixture
def people(newsletter, channels):
    fr = ContactFactory(email="lea@example.org", first_name="Léa", language="fr")
    en = ContactFactory(email="sam@example.org", first_name="Sam", language="en", phone="+33612000001")
    withdrawn = ContactFactory(email="wendy@example.org")
    phone_only = ContactFactory(email="", phone="+33612000000")
    grant(fr, newsletter, channels["email"])
    grant(en, newsletter, channels["email"])
    grant(en, newsletter, channels["sms"])  # two grants, one email
    grant(withdrawn, newsletter, channels["email"])
    services.consent_record(contact=withdrawn, purpose=newsletter, channel=channels["email"], action="withdrawn",
                            method="preference_centre")
    grant(phone_only, newsletter, channels["sms"])
    return {"fr": fr, "en": en, "withdrawn": withdrawn, "phone_only": phone_only}


def retire(purpose):
    registry_services.purpose_update(purpose=purpose, status="retired")


def test_contacts_who_had_consented_are_told_once_in_their_language(people, newsletter,
                                                                    django_capture_on_commit_callbacks):
    retire(newsletter)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.consent_lapse_outdated() == 4  # an event per grant, channel by channel
    assert len(callbacks) == 1  # the sending is enqueued after commit, once
    lapsed = ConsentEvent.objects.filter(action="lapsed")
    assert lapsed.count() == 4 and set(lapsed.values_list("method", flat=True)) == {"register_change"}

    by_address = {message.to[0]: message for message in mail.outbox}
    assert sorted(by_address) == ["lea@example.org", "sam@example.org"]  # one each; nothing to the others
    assert len(mail.outbox) == 2
    french, english = by_address["lea@example.org"], by_address["sam@example.org"]
    assert french.subject == "Nous avons arrêté un traitement que vous aviez accepté"
    assert "Bonjour Léa" in french.body and f"« {newsletter.name_fr} »" in french.body
    assert "http://127.0.0.1:8000/preferences/" in french.body
    assert english.subject == "We have stopped a processing you had agreed to"
    assert "Hello Sam" in english.body and f'"{newsletter.name_en}"' in english.body
    assert "http://127.0.0.1:8000/en/preferences/" in english.body
    assert RetirementNotice.objects.filter(sent_at__isnull=False).count() == 2
    assert not selectors.retirement_notices_due().exists()

    # Running again tells no one twice.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.consent_lapse_outdated() == 0
    assert callbacks == [] and len(mail.outbox) == 2
    assert services.retirement_notices_send() == 0 and len(mail.outbox) == 2


def test_the_preference_link_in_the_email_opens_the_centre(client, people, newsletter,
                                                           django_capture_on_commit_callbacks):
    import re

    retire(newsletter)
    with django_capture_on_commit_callbacks(execute=True):
        services.consent_lapse_outdated()
    message = next(m for m in mail.outbox if m.to == ["lea@example.org"])
    url = re.search(r"https?://\S+", message.body).group(0)
    page = client.get(re.sub(r"^https?://[^/]+", "", url))
    assert page.status_code == 200  # a forged or expired token gets 400


def test_a_material_change_lapses_without_telling_the_purpose_is_retired(people, newsletter, dpo_user,
                                                                         django_capture_on_commit_callbacks):
    registry_services.purpose_update(purpose=newsletter, text_fr="Autre texte", change_kind="material",
                                     user=dpo_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.consent_lapse_outdated() == 4
    assert not RetirementNotice.objects.exists() and mail.outbox == []


def test_nothing_is_sent_inside_the_lapse_transaction(people, newsletter):
    """The emails wait for the commit: a lapse rolled back tells no one."""
    retire(newsletter)
    services.consent_lapse_outdated()  # the test's transaction never commits: no on_commit callback runs
    assert mail.outbox == []
    assert RetirementNotice.objects.filter(sent_at__isnull=True).count() == 2


def test_a_failing_address_does_not_hold_back_the_others_and_is_retried(people, newsletter,
                                                                         django_capture_on_commit_callbacks):
    from consent import emails

    retire(newsletter)
    real_send = emails.send_purpose_retired

    def refuse_lea(*, contact, purpose):
        if contact.email == "lea@example.org":
            raise ConnectionRefusedError("mail server said no")
        return real_send(contact=contact, purpose=purpose)

    with mock.patch.object(emails, "send_purpose_retired", side_effect=refuse_lea):
        with django_capture_on_commit_callbacks(execute=True):
            services.consent_lapse_outdated()
    assert [m.to for m in mail.outbox] == [["sam@example.org"]]
    failed = RetirementNotice.objects.get(contact=people["fr"])
    assert (failed.sent_at, failed.attempts) == (None, 1)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # the next hourly run
        assert services.consent_lapse_outdated() == 0
    assert len(callbacks) == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["lea@example.org", "sam@example.org"]
    assert RetirementNotice.objects.filter(sent_at__isnull=True).count() == 0


def test_a_notice_that_keeps_failing_is_given_up(people, newsletter, settings):
    from consent import emails

    retire(newsletter)
    services.consent_lapse_outdated()
    with mock.patch.object(emails, "send_purpose_retired", side_effect=ConnectionRefusedError):
        for _run in range(settings.JOB_MAX_ATTEMPTS):
            assert services.retirement_notices_send() == 0
    assert set(RetirementNotice.objects.values_list("attempts", flat=True)) == {settings.JOB_MAX_ATTEMPTS}
    assert not selectors.retirement_notices_due().exists()
    assert services.retirement_notices_send() == 0 and mail.outbox == []


def test_a_contact_erased_before_the_email_is_not_written_to(people, newsletter):
    retire(newsletter)
    services.consent_lapse_outdated()
    services.contact_anonymise(contact=people["fr"])
    assert services.retirement_notices_send() == 1
    assert [m.to for m in mail.outbox] == [["sam@example.org"]]
    assert not selectors.retirement_notices_due().exists()


def test_the_task_sends_them(people, newsletter):
    from consent.tasks import send_retirement_notices

    retire(newsletter)
    services.consent_lapse_outdated()
    send_retirement_notices.delay()
    assert sorted(m.to[0] for m in mail.outbox) == ["lea@example.org", "sam@example.org"]


def test_notices_are_in_the_data_map():
    from registry.datamap import datamap

    source = datamap.source_for(RetirementNotice)
    assert source is not None and "sent_at" in source.fields


def test_a_retired_purposes_grants_read_lapsed_before_the_job_writes_it(people, newsletter, channels):
    """Until consent_lapse_outdated has written the lapse events, the check, and the statistics'
    current counts, already say lapsed (design §3: lapsed covers a purpose retired), not granted."""
    retire(newsletter)
    assert not ConsentEvent.objects.filter(action="lapsed").exists()
    newsletter.refresh_from_db()
    result = selectors.consent_check(contact=people["fr"], purpose=newsletter, channel=channels["email"])
    assert (result.allowed, result.status, result.reason) == (False, "lapsed", "outdated_version")
    withdrawn = selectors.consent_check(contact=people["withdrawn"], purpose=newsletter, channel=channels["email"])
    assert withdrawn.status == "withdrawn"  # only grants lapse
    row = next(row for row in selectors.consent_stats().rows
               if (row.purpose.pk, row.channel.pk) == (newsletter.pk, channels["email"].pk))
    assert row.current == {"lapsed": 2, "withdrawn": 1}
