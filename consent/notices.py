"""The Art. 13 notice of a collection form, generated from the register (never typed by hand)."""
from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import override

from registry.models import ProcessingActivity, Purpose, Transfer
from registry.selectors import organisation_get

from .models import CollectionForm

CNIL_COMPLAINT_URL = "https://www.cnil.fr/fr/plaintes"


def form_purposes(*, form: CollectionForm) -> list[Purpose]:
    """The form's purposes, each once, with what the notice shows about them."""
    ids = list(form.items.values_list("purpose_id", flat=True).distinct())
    purposes = Purpose.objects.filter(pk__in=ids).select_related("activity").prefetch_related(
        "channels",
        Prefetch("activity", queryset=ProcessingActivity.objects.prefetch_related(
            "recipients", "processors",
            Prefetch("transfers", queryset=Transfer.objects.select_related("country", "safeguard")),
        )),
    )
    return sorted(purposes, key=lambda p: ids.index(p.pk))


def rights_form_url(*, language: str) -> str:
    """The rights form (design §4) in the notice's language, absolute: the stored notice is also read
    in receipts, PDFs and emails, where a bare path leads nowhere."""
    with override(language):
        return settings.PUBLIC_BASE_URL + reverse("rights:new")


def form_notice_text(*, form: CollectionForm, language: str) -> str:
    """The notice as plain text: what is stored (once, keyed by hash) as proof of what was shown."""
    with override(language):
        text = render_to_string("consent/art13_notice.txt", {
            "organisation": organisation_get(),
            "purposes": form_purposes(form=form),
            "rights_form_url": rights_form_url(language=language),
            "cnil_url": CNIL_COMPLAINT_URL,
            "age_15": form.require_age_15,
        })
    # Templates leave blank runs; the stored text is compact and stable.
    lines = [line.rstrip() for line in text.splitlines()]
    compact = []
    for line in lines:
        if line or (compact and compact[-1]):
            compact.append(line)
    return "\n".join(compact).strip() + "\n"
