"""Consent statistics for the DPO: counts per purpose x channel now and per month (Europe/Paris),
in a few queries, and the admin page with its server-rendered SVG chart."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import override
from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from consent import selectors, services
from consent.stats import stats_context
from registry.services import purpose_update
from tests.factories import ContactFactory, PurposeFactory

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


def month_start(offset: int):
    """The first day of the month ``offset`` months from this one, in Paris."""
    return timezone.localtime(timezone.now(), PARIS).date().replace(day=1) + relativedelta(months=offset)


def paris(day, hour=12):
    return datetime.combine(day, time(hour), tzinfo=PARIS)


def record(contact, purpose, channel, action, effective_at=None):
    return services.consent_record(contact=contact, purpose=purpose, channel=channel, action=action,
                                   method="web_form", effective_at=effective_at)


@pytest.fixture
def known_events(newsletter, postal_appeals, channels, categories):
    email, sms, postal = channels["email"], channels["sms"], channels["postal"]
    offers = PurposeFactory(slug="offers", legal_basis="consent", channels=[email])
    c = {i: ContactFactory(phone=f"+3361234500{i}") for i in range(1, 9)}
    record(c[1], newsletter, email, "granted", paris(month_start(-2) + timedelta(days=14)))
    record(c[2], newsletter, email, "granted", paris(month_start(-2) + timedelta(days=3)))
    record(c[2], newsletter, email, "withdrawn", paris(month_start(-1) + timedelta(days=3)))
    # 30 months ago, valid 24 months: expired now (no job has written it), outside the window.
    record(c[3], newsletter, email, "granted", paris(month_start(-30) + timedelta(days=1)))
    record(c[4], newsletter, sms, "granted", paris(month_start(-1) + timedelta(days=5)))
    record(c[4], newsletter, email, "refused")  # now
    # 23:30 UTC on the last day of a month is already the next month in Paris.
    boundary = datetime.combine(month_start(-3) - timedelta(days=1), time(23, 30), tzinfo=ZoneInfo("UTC"))
    record(c[6], newsletter, sms, "granted", boundary)
    c[5].data_subject_categories.add(categories["donor"])
    record(c[5], postal_appeals, postal, "objected", paris(month_start(-1) + timedelta(days=1)))
    record(c[7], offers, email, "granted")
    purpose_update(purpose=offers, change_kind="material", text_fr="Nouveau texte.", text_en="New text.")
    offers.refresh_from_db()
    record(c[8], offers, email, "granted")
    return {"newsletter": newsletter, "postal_appeals": postal_appeals, "offers": offers}


def by_pair(stats):
    return {(row.purpose.slug, row.channel.code): row for row in stats.rows}


def test_counts_match_the_known_events(known_events, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        stats = selectors.consent_stats(months=12)
    assert stats.months[0] == month_start(-11) and stats.months[-1] == month_start(0) and len(stats.months) == 12
    rows = by_pair(stats)
    assert set(rows) == {("newsletter", "email"), ("newsletter", "sms"), ("postal-appeals", "postal"),
                         ("offers", "email")}

    assert rows["newsletter", "email"].current == {"granted": 1, "withdrawn": 1, "expired": 1, "refused": 1}
    assert rows["newsletter", "sms"].current == {"granted": 2}
    assert rows["postal-appeals", "postal"].current == {"objected": 1}
    assert rows["offers", "email"].current == {"lapsed": 1, "granted": 1}
    assert rows["newsletter", "email"].total == 4
    assert rows["newsletter", "email"].current_row() == [1, 0, 1, 1, 1, 0, 0, 0]

    assert rows["newsletter", "email"].monthly == {
        month_start(-2): {"granted": 2}, month_start(-1): {"withdrawn": 1}, month_start(0): {"refused": 1}}
    assert rows["newsletter", "sms"].monthly == {month_start(-3): {"granted": 1}, month_start(-1): {"granted": 1}}
    assert rows["postal-appeals", "postal"].monthly == {month_start(-1): {"objected": 1}}
    assert rows["offers", "email"].monthly == {month_start(0): {"granted": 2}}


def test_window_and_statuses_are_consistent_with_consent_check(known_events, channels):
    stats = selectors.consent_stats(months=40)
    rows = by_pair(stats)
    assert rows["newsletter", "email"].monthly[month_start(-30)] == {"granted": 1}
    # The number of allowed contacts equals the effective "granted" count of a consent purpose.
    from consent.models import Contact

    newsletter = known_events["newsletter"]
    allowed = sum(selectors.consent_check(contact=contact, purpose=newsletter, channel=channels["email"]).allowed
                  for contact in Contact.objects.all())
    assert allowed == rows["newsletter", "email"].current["granted"]
    one = selectors.consent_stats(months=1)
    assert one.months == [month_start(0)]
    assert by_pair(one)["newsletter", "email"].monthly == {month_start(0): {"refused": 1}}


def test_active_purposes_without_any_consent_are_listed_with_zeros(newsletter):
    rows = by_pair(selectors.consent_stats())
    assert rows["newsletter", "email"].current == {} and rows["newsletter", "email"].monthly == {}
    assert stats_context(selectors.consent_stats())["rows"][0]["chart"]["has_events"] is False


def test_chart_geometry(known_events):
    context = stats_context(selectors.consent_stats(months=12))
    row = next(r for r in context["rows"] if (r["stats"].purpose.slug, r["stats"].channel.code) == ("newsletter", "email"))
    chart = row["chart"]
    assert chart["peak"] == 2 and len(chart["bars"]) == 12
    tallest = next(bar for bar in chart["bars"] if bar["month"] == month_start(-2))
    assert tallest["segments"][0]["height"] == 140 and tallest["segments"][0]["y"] == chart["top"]


@pytest.fixture
def page_url():
    with override("en"):  # the assertions read the English page
        return reverse("admin:consent_stats")


def test_page_renders_for_an_auditor(client, auditor_user, known_events, page_url):
    client.force_login(auditor_user)
    response = client.get(page_url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Consent statistics" in body
    main = body.split('id="content-main"', 1)[1].split("<!-- END Content -->")[0]
    assert main.count('<figure class="consent-chart"') == 4
    assert main.count("<svg") == 4  # every pair here has events in the window
    assert 'data-purpose="newsletter" data-channel="email"' in body
    assert 'data-action="granted" data-count="2"' in body
    assert "http://" not in main.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in main and "<script" not in main
    assert response.context["months_shown"] == 12
    assert client.get(page_url, {"months": "24"}).context["months_shown"] == 24
    assert client.get(page_url, {"months": "x"}).status_code == 200


def test_page_renders_in_french(client, auditor_user, known_events):
    client.force_login(auditor_user)
    with override("fr"):  # French: the default, unprefixed URL
        url = reverse("admin:consent_stats")
    response = client.get(url)
    assert response.status_code == 200
    # Decimal commas would break the SVG: coordinates stay in the C locale.
    body = response.content.decode()
    assert 'height="140.0"' in body and 'x="55.0"' in body
    assert "Finalité" in body and "Statistiques des consentements" in body  # the French catalogue


def test_page_is_403_without_the_permission(client, roles, page_url):
    user = User.objects.create_user(username="clerk", password="pw-clerk-2026!", is_staff=True)
    client.force_login(user)
    assert client.get(page_url).status_code == 403
