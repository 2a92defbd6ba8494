"""factory_boy factories for the register. Reference rows are created on demand by code."""
from __future__ import annotations

import factory
from django.apps import apps as django_apps

from registry import models as m


def ref(model, code: str, **defaults):
    """A reference row by code, created if the seed did not make it."""
    row, _ = model.objects.get_or_create(code=code, defaults={"label_fr": code, "label_en": code, **defaults})
    return row


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Organisation

    name = "Association Les Amis du Patrimoine"
    legal_form = "Association loi 1901"
    siren = "732829320"
    address = "12 rue des Archives"
    postal_code = "75004"
    city = "Paris"
    email = "contact@amis-patrimoine.example"
    phone = "+33 1 42 00 00 00"
    head_name = "Claire Martin"
    dpo_name = "Julien Moreau"
    dpo_email = "dpo@amis-patrimoine.example"
    dpo_phone = "+33 1 42 00 00 01"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ProcessingActivity

    reference = factory.Sequence(lambda n: f"T-{n:03d}")
    name = factory.Sequence(lambda n: f"Activité {n}")
    description = "Gestion des adhérents et de leurs cotisations."
    status = m.ProcessingActivity.Status.ACTIVE


class PurposeFactory(factory.django.DjangoModelFactory):
    """Creates through the service, so version 1 and its text are recorded like in the app."""

    class Meta:
        model = m.Purpose

    activity = factory.SubFactory(ActivityFactory)
    slug = factory.Sequence(lambda n: f"purpose-{n}")
    name_fr = factory.Sequence(lambda n: f"Finalité {n}")
    name_en = factory.Sequence(lambda n: f"Purpose {n}")
    text_fr = "Nous utilisons votre adresse pour vous envoyer notre lettre d'information."
    text_en = "We use your address to send you our newsletter."
    legal_basis = "consent"
    retention_months = 36
    retention_start = "last_contact"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from registry.services import purpose_create

        return purpose_create(**kwargs)


def channel(code: str = "email"):
    return ref(m.Channel, code)


def seeded_apps():
    return django_apps


# --- Register details (added for the PDF export tests) ---------------------------------------


def data_category(code: str = "identity", *, special_category: bool = False, **defaults):
    group = "sensitive" if special_category else "identity"
    return ref(m.DataCategory, code, cnil_group=defaults.pop("cnil_group", group),
               special_category=special_category, **defaults)


def country(code: str = "us", *, adequacy: str = "adequate_certified", **defaults):
    return ref(m.Country, code, adequacy=adequacy, iso_code=defaults.pop("iso_code", code[:2].upper()), **defaults)


class RecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Recipient

    name = factory.Sequence(lambda n: f"Destinataire {n}")
    recipient_type = factory.LazyFunction(lambda: ref(m.RecipientType, "internal"))


class ProcessorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Processor

    name = factory.Sequence(lambda n: f"Sous-traitant {n}")
    service = "Hébergement"


class ActivityDataCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ActivityDataCategory

    activity = factory.SubFactory(ActivityFactory)
    category = factory.LazyFunction(data_category)
    retention = "3 ans"


class TransferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Transfer

    activity = factory.SubFactory(ActivityFactory)
    recipient_name = factory.Sequence(lambda n: f"Overseas Inc. {n}")
    country = factory.LazyFunction(country)
    safeguard = factory.LazyFunction(lambda: ref(m.TransferSafeguard, "scc", gdpr_article="Art. 46(2)(c)"))


class JobFactory(factory.django.DjangoModelFactory):
    """A job row as the journal holds it (no enqueue: use services.job_create for that)."""

    class Meta:
        model = m.Job

    kind = "register_pdf"
