"""A change of a purpose's consent validity reaches the grants already given: the
``consent_validity`` job gives each the expiry the new validity says, as the fold of its events does."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consent import selectors, services
from consent.models import ConsentEvent, ConsentState
from consent.state import fold
from registry import services as registry_services
from registry.models import Job, Purpose

pytestmark = pytest.mark.django_db


def grant(contact, purpose, channel, days_ago):
    return services.consent_record(contact=contact, purpose=purpose, channel=channel, action="granted",
                                   method="web_form", effective_at=timezone.now() - timedelta(days=days_ago))


@pytest.fixture
def grants(newsletter, channels):
    """Under the newsletter's 24 months: grants of 20, 14 and 2 months ago, and a withdrawn one."""
    people = [services.contact_create(email=f"p{n}@example.org") for n in range(4)]
    for person, days in zip(people, (610, 430, 60, 500)):
        grant(person, newsletter, channels["email"], days)
    services.consent_record(contact=people[3], purpose=newsletter, channel=channels["email"], action="withdrawn",
                            method="preference_centre")
    return people


def allowed(people, newsletter, channels):
    return [selectors.consent_check(contact=p, purpose=newsletter, channel=channels["email"]).allowed for p in people]


def states_equal_the_fold(purpose):
    for state in ConsentState.objects.filter(purpose=purpose):
        events = ConsentEvent.objects.filter(contact_id=state.contact_id, purpose=purpose, channel=state.channel)
        folded = fold(events, validity_months=purpose.consent_validity_months)
        assert (state.status, state.since, state.expires_at) == (folded.status, folded.since, folded.expires_at)


def test_shortening_the_validity_ends_the_older_grants_at_once(grants, newsletter, channels, dpo_user,
                                                               django_capture_on_commit_callbacks):
    assert allowed(grants, newsletter, channels) == [True, True, True, False]
    assert selectors.audience_count(purpose=newsletter, channel=channels["email"]) == 3
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.purpose_update(purpose=newsletter, consent_validity_months=12, user=dpo_user)
    job = Job.objects.get(kind="consent_validity")
    assert (job.status, job.params, job.requested_by, job.counts) == ("done", {"purpose": newsletter.pk}, dpo_user,
                                                                       {"changed": 3})
    newsletter.refresh_from_db()
    states_equal_the_fold(newsletter)
    assert allowed(grants, newsletter, channels) == [False, False, True, False]
    assert selectors.audience_count(purpose=newsletter, channel=channels["email"]) == 1  # the audience follows
    assert [row["contact_id"] for row in selectors.audience_rows(purpose=newsletter, channel=channels["email"])] == [
        grants[2].pk]
    # The periodic expiry then writes their events, dated when the new validity ended them.
    assert services.consent_expire_due() == 2
    expired = ConsentEvent.objects.filter(action="expired").order_by("contact_id")
    assert [event.contact_id for event in expired] == [grants[0].pk, grants[1].pk]
    assert all(event.effective_at < timezone.now() - timedelta(days=30) for event in expired)
    states_equal_the_fold(newsletter)


def test_lengthening_or_removing_the_validity_lets_grants_last(grants, newsletter, channels, dpo_user,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.purpose_update(purpose=newsletter, consent_validity_months=12, user=dpo_user)
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.purpose_update(purpose=newsletter, consent_validity_months=36, user=dpo_user)
    newsletter.refresh_from_db()
    states_equal_the_fold(newsletter)
    assert allowed(grants, newsletter, channels) == [True, True, True, False]
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.purpose_update(purpose=newsletter, consent_validity_months=None, user=dpo_user)
    assert set(ConsentState.objects.filter(status="granted").values_list("expires_at", flat=True)) == {None}
    assert Job.objects.filter(kind="consent_validity", status="done").count() == 3


def test_no_job_when_the_validity_stays_and_a_rerun_changes_nothing(grants, newsletter, dpo_user,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.purpose_update(purpose=newsletter, position=3, user=dpo_user)
    assert not Job.objects.filter(kind="consent_validity").exists()
    # In chunks smaller than the grants, twice: the second pass finds every expiry already right.
    newsletter.consent_validity_months = 12
    newsletter.save()
    progress = []
    assert services.consent_validity_apply(purpose=newsletter, chunk_size=2, report=progress.append) == 3
    assert progress == [66, 99]
    assert services.consent_validity_apply(purpose=newsletter, chunk_size=2) == 0
    states_equal_the_fold(newsletter)


def test_an_append_holding_the_purpose_read_before_the_change_gets_the_new_expiry(
        newsletter, channels, dpo_user, django_capture_on_commit_callbacks):
    """What an import (its purposes read once per file) or a request in flight does: it holds the
    Purpose read before the DPO's change and appends after the job ran."""
    anne = services.contact_create(email="anne@example.org")
    held = Purpose.objects.get(pk=newsletter.pk)  # validity 24
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.purpose_update(purpose=newsletter, consent_validity_months=12, user=dpo_user)
    services.consent_record(contact=anne, purpose=held, channel=channels["email"], action="granted",
                            method="web_form", effective_at=timezone.now() - timedelta(days=400))
    newsletter.refresh_from_db()
    states_equal_the_fold(newsletter)
    assert not selectors.consent_check(contact=anne, purpose=newsletter, channel=channels["email"]).allowed
    # Many at once (an import's batch), with the purpose read even earlier.
    held.consent_validity_months = 36
    people = [services.contact_create(email=f"batch{n}@example.org") for n in range(3)]
    services.consent_record_many(requests=[
        services.EventRequest(contact=person, purpose=held, channel=channels["email"], action="granted",
                              method="paper", effective_at=timezone.now() - timedelta(days=400))
        for person in people])
    assert held.consent_validity_months == 12  # read again under the append lock
    states_equal_the_fold(newsletter)


def test_the_rest_api_and_the_admin_create_the_job(client, newsletter, channels, dpo_user,
                                                   django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(dpo_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/v1/registry/purposes/{newsletter.slug}/", {"consent_validity_months": 6},
                             format="json")
    assert response.status_code == 200, response.content
    refused = api.patch(f"/api/v1/registry/purposes/{newsletter.slug}/",
                        {"consent_validity_months": 7, "legal_basis": "legitimate_interests"}, format="json")
    assert refused.status_code == 400
    assert Job.objects.filter(kind="consent_validity", status="done").count() == 1  # none for the refused one

    client.force_login(dpo_user)
    purpose = Purpose.objects.get(pk=newsletter.pk)
    data = {"activity": purpose.activity.pk, "slug": purpose.slug, "status": "active", "position": "0",
            "name_fr": purpose.name_fr, "name_en": purpose.name_en, "text_fr": purpose.text_fr,
            "text_en": purpose.text_en, "legal_basis": "consent",
            "channels": [channels["email"].pk, channels["sms"].pk], "retention_months": "12",
            "retention_start": "collection", "consent_validity_months": "18", "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0", "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:registry_purpose_change", args=[purpose.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Job.objects.filter(kind="consent_validity", status="done").count() == 2
    assert Purpose.objects.get(pk=purpose.pk).consent_validity_months == 18
