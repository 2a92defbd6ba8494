"""Demo contacts with consent histories, loaded by ``manage.py seed_demo``. Idempotent: a contact
that already has ledger events is left as it is."""
from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from registry.demo import register_demo_extension
from registry.models import Channel, DataSubjectCategory, Purpose

from . import services
from .models import CollectionForm, CollectionFormItem, Contact

FIRST_NAMES = ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Jules", "Inès", "Gabriel", "Sarah",
               "Arthur", "Emma", "Nathan", "Jade", "Paul", "Zoé", "Raphaël", "Alice", "Tom"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
              "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier"]
CITIES = [("75011", "Paris"), ("69003", "Lyon"), ("13006", "Marseille"), ("33000", "Bordeaux"), ("59000", "Lille"),
          ("44000", "Nantes"), ("67000", "Strasbourg"), ("31000", "Toulouse")]
SOURCES = ["Formulaire du site", "Stand — Journées du patrimoine", "Boutique en ligne", "Bulletin papier",
           "Import CRM 2025"]
CATEGORY_MIX = [["member"], ["donor"], ["customer"], ["prospect"], ["member", "donor"], ["customer", "donor"],
                ["professional_contact"]]
METHODS = ["web_form", "staff_form", "paper", "event", "api"]


# (slug, French and English names, public, double opt-in, asks to confirm 15 or older,
#  boxes as (purpose slug, channel code))
DEMO_FORMS = [
    ("lettre", ("Inscription à la lettre d'information", "Newsletter sign-up"), True, True, True,
     [("newsletter", "email"), ("sms-promotions", "sms")]),
    ("accueil", ("Accueil — recueil par le personnel", "Front desk — collected by staff"), False, False, False,
     [("newsletter", "email"), ("sms-promotions", "sms"), ("phone-prospecting", "phone"),
      ("donor-postal-appeals", "postal")]),
]


@register_demo_extension
def seed_forms(*, dpo) -> str:
    """A public sign-up form (double opt-in, /forms/lettre/) and a staff desk form (/staff/forms/accueil/),
    so that the demo can be tried at once. A form already there is left as it is."""
    purposes = {p.slug: p for p in Purpose.objects.all()}
    channels = {c.code: c for c in Channel.objects.all()}
    created = []
    for slug, (name_fr, name_en), public, double_opt_in, age_15, boxes in DEMO_FORMS:
        form, new = CollectionForm.objects.get_or_create(slug=slug, defaults={
            "name_fr": name_fr, "name_en": name_en, "public": public, "double_opt_in": double_opt_in,
            "require_age_15": age_15})
        if not new:
            continue
        for position, (purpose, channel) in enumerate(boxes):
            if purpose in purposes and channel in channels:
                CollectionFormItem.objects.create(form=form, purpose=purposes[purpose], channel=channels[channel],
                                                  position=position)
        created.append(f"/{'forms' if public else 'staff/forms'}/{slug}/")
    return f"Collection forms: {len(DEMO_FORMS)} ({', '.join(created) or 'none'} created)."


@register_demo_extension
def seed_contacts(*, dpo) -> str:
    total = getattr(settings, "DEMO_CONTACTS", 300)
    rng = random.Random(2026)  # the same demo every time
    categories = {c.code: c for c in DataSubjectCategory.objects.all()}
    channels = {c.code: c for c in Channel.objects.all()}
    purposes = {p.slug: p for p in Purpose.objects.filter(slug__in=[
        "newsletter", "sms-promotions", "phone-prospecting", "donor-postal-appeals", "customer-offers-email"])}
    now = timezone.now()
    created = events = 0
    for number in range(1, total + 1):
        email = f"contact{number:03d}@demo.dpo-desk.example"
        if Contact.objects.filter(email=email).exists():
            continue  # its story was told when it was created (some stories have no event)
        postal_code, city = rng.choice(CITIES)
        mix = rng.choice(CATEGORY_MIX)
        contact = services.contact_create(
            email=email, phone=f"+3361{number:07d}", first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES), address_line1=f"{rng.randint(1, 120)} rue de la République",
            postal_code=postal_code, city=city, language="en" if number % 10 == 0 else "fr",
            source=rng.choice(SOURCES), collected_at=now - timedelta(days=rng.randint(30, 900)),
            external_ref=f"CRM-{number:05d}", data_subject_categories=[categories[c] for c in mix],
        )
        created += 1
        events += _history(rng, contact=contact, purposes=purposes, channels=channels, now=now, dpo=dpo)
    return f"Contacts: {total} ({created} created), consent events added: {events}."


def _history(rng, *, contact, purposes, channels, now, dpo) -> int:
    """A plausible story per contact: grants, some withdrawals, double opt-ins left to expire,
    opt-out objections."""
    count = 0
    start = contact.collected_at

    def record(slug, channel, action, method, days_after):
        nonlocal count
        when = min(start + timedelta(days=days_after), now - timedelta(minutes=1))
        services.consent_record(contact=contact, purpose=purposes[slug], channel=channels[channel], action=action,
                                method=method, effective_at=when, recorded_by=dpo if method == "staff_form" else None,
                                collection_form="demo-" + slug, evidence_note="Données de démonstration")
        count += 1

    method = rng.choice(METHODS)
    if rng.random() < 0.7:
        record("newsletter", "email", "granted", method, 0)
        if rng.random() < 0.2:
            record("newsletter", "email", "withdrawn", "preference_centre", rng.randint(10, 300))
    elif rng.random() < 0.5:
        record("newsletter", "email", "refused", method, 0)
    elif rng.random() < 0.5:  # a double opt-in never confirmed: pending, then expired by the periodic job
        record("newsletter", "email", "pending", "web_form", 0)
        record("newsletter", "email", "expired", "expiry", settings.DOUBLE_OPT_IN_DAYS + 1)
    if rng.random() < 0.35:
        record("sms-promotions", "sms", "granted", method, 1)
        if rng.random() < 0.25:
            record("sms-promotions", "sms", "withdrawn", "unsubscribe", rng.randint(20, 400))
    if rng.random() < 0.15:
        record("phone-prospecting", "phone", "granted", "phone", 2)
    if rng.random() < 0.1:
        record("donor-postal-appeals", "postal", "objected", "paper", rng.randint(5, 200))
    if rng.random() < 0.08:
        record("customer-offers-email", "email", "objected", "unsubscribe", rng.randint(5, 200))
    return count
