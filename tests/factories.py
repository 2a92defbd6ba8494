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


# --- Whole activities (added for the CSV, ODS and JSON-LD export tests) -----------------------


def data_subject_category(code: str = "exp-members", **defaults):
    return ref(m.DataSubjectCategory, code, **defaults)


def security_measure(code: str = "exp-encryption", **defaults):
    return ref(m.SecurityMeasure, code, **defaults)


def safeguard(code: str = "exp-scc", **defaults):
    return ref(m.TransferSafeguard, code, **{"gdpr_article": "46(2)(c)", **defaults})


def full_activity(*, purposes: int = 2, **fields) -> m.ProcessingActivity:
    """An active activity with every part of a register record, labelled with codes of its own
    (``exp-…``), so it does not depend on the seeded reference tables: ``purposes`` purposes
    (consent, then legitimate interests, contract…), identity and Art. 9 health data, members, an
    internal recipient, a processor, two security measures and a transfer to the US under SCCs."""
    activity = ActivityFactory(**{"dpia_required": True, "security_details": "Journalisation des accès", **fields})
    bases = ["consent", "legitimate_interests", "contract", "legal_obligation", "public_task", "vital_interests"]
    members = data_subject_category("exp-members", label_fr="Adhérents", label_en="Members",
                                    dpv_concept="dpv:Member")
    for index in range(purposes):
        basis = bases[index % len(bases)]
        PurposeFactory(
            activity=activity, position=index, legal_basis=basis,
            legitimate_interest="Faire connaître nos activités" if basis == "legitimate_interests" else "",
            data_subject_categories=[members],
        )
    activity.data_subject_categories.add(members)
    ActivityDataCategoryFactory(
        activity=activity, description="Nom, prénom", retention="3 ans après la fin de l'adhésion",
        category=data_category("exp-identity", label_fr="État civil", label_en="Identity"),
    )
    ActivityDataCategoryFactory(
        activity=activity, description="Allergies (sorties)", retention="Durée de la sortie",
        category=data_category("exp-health", special_category=True, label_fr="Données de santé",
                               label_en="Health data"),
    )
    activity.recipients.add(RecipientFactory(
        name="Trésorerie", description="Appels de cotisation",
        recipient_type=ref(m.RecipientType, "exp-internal", label_fr="Service interne qui traite les données"),
    ))
    activity.processors.add(ProcessorFactory(name="HébergeurSûr SAS", country=country(
        "exp-fr", adequacy="eea", iso_code="FR", label_fr="France", label_en="France")))
    activity.security_measures.add(
        security_measure("exp-encryption", label_fr="Chiffrement des données", label_en="Encryption"),
        security_measure("exp-backup", label_fr="Sauvegarde des données", label_en="Backup"),
    )
    TransferFactory(
        activity=activity, recipient_name="MailCloud Inc.", documentation="Contrat du 23/01/2024",
        country=country("exp-us", adequacy="adequate_certified", iso_code="US", label_fr="États-Unis",
                        label_en="United States"),
        safeguard=safeguard("exp-scc", label_fr="Clauses contractuelles types (CCT)",
                            label_en="Standard contractual clauses"),
    )
    return activity


# --- Consent (added for the consent API tests) ----------------------------------------------


class ContactFactory(factory.django.DjangoModelFactory):
    """Creates through consent.services.contact_create, so email and phone are normalised."""

    class Meta:
        model = "consent.Contact"

    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Durand {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from consent.services import contact_create

        return contact_create(**kwargs)


# --- consent (admin/ledger) ---------------------------------------------------------------------
# Contacts: ContactFactory above (through consent.services.contact_create).


def consent_purpose(slug: str = "ledger-newsletter", *, channels=("email", "sms"), **fields):
    """A consent-based purpose on the given channels (made once per slug)."""
    existing = m.Purpose.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    return PurposeFactory(slug=slug, legal_basis="consent", channels=[channel(code) for code in channels], **fields)


def record_consent(contact, purpose, channel_code: str = "email", action: str = "granted", **kwargs):
    """One ledger event through consent.services.consent_record; returns the event."""
    from consent.services import consent_record

    kwargs.setdefault("method", "web_form")
    return consent_record(contact=contact, purpose=purpose, channel=channel(channel_code), action=action,
                          **kwargs).event
