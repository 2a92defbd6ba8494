"""Users named on admin pages (who recorded an event, requested a job, wrote a purpose's version,
confirmed a recipient task, changed a record) link to the user admin only for viewers who may open
it (registry.admin_users): the dpo group may not, and got a 403 behind each link."""
import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from registry.models import ProcessingActivity
from rights.models import RecipientTask
from tests.factories import ContactFactory, JobFactory, PurposeFactory, consent_purpose, record_consent
from tests.rights.factories import staff_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(staff_user, reference_data) -> dict[str, str]:
    """Admin pages naming ``staff_user``, by what names them."""
    event = record_consent(ContactFactory(), consent_purpose(), method="staff_form", recorded_by=staff_user)
    job = JobFactory(requested_by=staff_user)
    purpose = PurposeFactory(user=staff_user)
    ProcessingActivity.history.filter(id=purpose.activity_id).update(history_user=staff_user)
    task = RecipientTask.objects.create(request=staff_request(by=staff_user), name="Routeur", mode="manual",
                                        status="done", confirmed_by=staff_user)
    return {
        "event recorded by": reverse("admin:consent_consentevent_change", args=[event.pk]),
        "job requested by": reverse("admin:registry_job_change", args=[job.pk]),
        "purpose version written by": reverse("admin:registry_purpose_change", args=[purpose.pk]),
        "recipient task confirmed by": reverse("admin:rights_recipienttask_change", args=[task.pk]),
        "history author": reverse("admin:registry_processingactivity_history", args=[purpose.activity_id]),
    }


def user_link(user) -> str:
    return f'href="{reverse("admin:auth_user_change", args=[user.pk])}"'


def test_the_dpo_reads_the_name_without_a_link_it_may_not_follow(client, dpo_user, staff_user, pages):
    client.force_login(dpo_user)
    assert client.get(reverse("admin:auth_user_change", args=[staff_user.pk])).status_code == 403
    for what, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, what
        page = response.content.decode()
        assert staff_user.username in page, what
        assert user_link(staff_user) not in page, what
    page = client.get(pages["event recorded by"]).content.decode()
    assert "field-recorded_by_as_text" in page and "enregistré par" in page.lower()  # the field's own label


def test_an_administrator_gets_the_link(client, staff_user, pages):
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw-root-2026!"))
    for what, url in pages.items():
        page = client.get(url).content.decode()
        assert user_link(staff_user) in page, what
