"""The Art. 13 notice, generated from the register (never typed by hand): a collection form's, shown
and stored with each consent it collects, and one purpose's, on its public page (``privacy-notice``)."""
from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import override

from registry.models import ActivityDataCategory, ProcessingActivity, Purpose, Transfer
from registry.selectors import organisation_get

from .models import CollectionForm

CNIL_COMPLAINT_URL = "https://www.cnil.fr/fr/plaintes"


def _with_what_the_notice_shows(purposes: QuerySet[Purpose]) -> QuerySet[Purpose]:
    return purposes.select_related("activity").prefetch_related(
        "channels",
        Prefetch("activity", queryset=ProcessingActivity.objects.prefetch_related(
            "recipients", "processors",
            Prefetch("transfers", queryset=Transfer.objects.select_related("country", "safeguard")),
            # In the register's order, as the receipts list them.
            Prefetch("data_category_links", queryset=ActivityDataCategory.objects.select_related("category").order_by(
                "category__position", "category__code")),
        )),
    )


def form_purposes(*, form: CollectionForm) -> list[Purpose]:
    """The form's purposes, each once, with what the notice shows about them."""
    ids = list(form.items.values_list("purpose_id", flat=True).distinct())
    purposes = _with_what_the_notice_shows(Purpose.objects.filter(pk__in=ids))
    return sorted(purposes, key=lambda p: ids.index(p.pk))


def published_purpose(*, slug: str) -> Purpose | None:
    """The purpose whose notice the public page shows: any but those of an activity still in draft
    (not yet in the register the DPO stands by). A retired one stays readable: receipts of consents
    given to it link to its notice."""
    return _with_what_the_notice_shows(
        Purpose.objects.filter(slug=slug).exclude(activity__status=ProcessingActivity.Status.DRAFT)
    ).first()


def purpose_retired(purpose: Purpose) -> bool:
    return (purpose.status == Purpose.Status.RETIRED
            or purpose.activity.status == ProcessingActivity.Status.RETIRED)


def rights_form_url(*, language: str) -> str:
    """The rights form (design §4) in the notice's language, absolute: the stored notice is also read
    in receipts, PDFs and emails, where a bare path leads nowhere."""
    with override(language):
        return settings.PUBLIC_BASE_URL + reverse("rights:new")


def privacy_notice_path(*, purpose: Purpose, language: str) -> str:
    """The path of the purpose's public notice page in ``language`` (``/en/`` for English)."""
    with override(language):
        return reverse("consent:privacy-notice", args=[purpose.slug])


def form_notice_text(*, form: CollectionForm, language: str) -> str:
    """The notice as plain text: what is stored (once, keyed by hash) as proof of what was shown."""
    return notice_text(purposes=form_purposes(form=form), language=language, age_15=form.require_age_15)


def purpose_privacy_notice_text(*, purpose: Purpose, language: str) -> str:
    """One purpose's Art. 13 notice, as a collection form asking only for it would show it (not
    ``services.purpose_notice_text``: the purpose's own name and text, what a preference-centre grant shows)."""
    return notice_text(purposes=[purpose], language=language)


def notice_text(*, purposes: list[Purpose], language: str, age_15: bool = False) -> str:
    """The notice of ``purposes`` (from _with_what_the_notice_shows) in ``language``, as plain text;
    ``age_15`` adds the line for a form asking to confirm being 15 or older."""
    with override(language):
        text = render_to_string("consent/art13_notice.txt", {
            "organisation": organisation_get(),
            "purposes": purposes,
            "rights_form_url": rights_form_url(language=language),
            "cnil_url": CNIL_COMPLAINT_URL,
            "age_15": age_15,
        })
    # Templates leave blank runs; the stored text is compact and stable.
    lines = [line.rstrip() for line in text.splitlines()]
    compact = []
    for line in lines:
        if line or (compact and compact[-1]):
            compact.append(line)
    return "\n".join(compact).strip() + "\n"
