"""The register as CSV, one row per activity, with the columns of the CNIL's register model.

The French wordings used by every register export (legal bases, retention periods, the CNIL's
data-category groups, the controller and DPO blocks) live here too; ``ods`` and ``jsonld`` import
them, so the three formats say the same thing.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.utils import timezone

from ..models import DataCategory, LegalBasis, Organisation, ProcessingActivity, Purpose, Transfer

Group = DataCategory.CnilGroup

# The CNIL model's data-category groups, in its order, with the short heading used as a CSV column.
CNIL_GROUP_COLUMNS: dict[str, str] = {
    Group.IDENTITY: "État civil, identité, données d'identification, images",
    Group.PERSONAL_LIFE: "Vie personnelle",
    Group.PROFESSIONAL_LIFE: "Vie professionnelle",
    Group.ECONOMIC: "Informations d'ordre économique et financier",
    Group.CONNECTION: "Données de connexion",
    Group.LOCATION: "Données de localisation",
    Group.INTERNET: "Internet",
    Group.NIR: "NIR",
    Group.SENSITIVE: "Données sensibles",
    Group.OFFENCES: "Infractions",
}

CSV_COLUMNS: list[str] = [
    "Nom du traitement",
    "N° / RÉF",
    "Date de création",
    "Dernière mise à jour",
    "Responsable du traitement",
    "Délégué à la protection des données",
    "Finalité principale",
    "Sous-finalités",
    "Base(s) légale(s)",
    "Catégories de personnes concernées",
    *CNIL_GROUP_COLUMNS.values(),
    "Destinataires",
    "Sous-traitants",
    "Transferts hors UE",
    "Durées de conservation",
    "Mesures de sécurité",
    "AIPD",
]

LEGAL_BASIS_FR: dict[str, str] = {
    LegalBasis.CONSENT: "Consentement (art. 6.1.a RGPD)",
    LegalBasis.CONTRACT: "Exécution d'un contrat (art. 6.1.b RGPD)",
    LegalBasis.LEGAL_OBLIGATION: "Obligation légale (art. 6.1.c RGPD)",
    LegalBasis.VITAL_INTERESTS: "Sauvegarde des intérêts vitaux (art. 6.1.d RGPD)",
    LegalBasis.PUBLIC_TASK: "Mission d'intérêt public (art. 6.1.e RGPD)",
    LegalBasis.LEGITIMATE_INTERESTS: "Intérêt légitime (art. 6.1.f RGPD)",
}

RETENTION_START_FR: dict[str, str] = {
    Purpose.RetentionStart.COLLECTION: "à compter de la collecte",
    Purpose.RetentionStart.LAST_CONTACT: "à compter du dernier contact",
    Purpose.RetentionStart.END_OF_CONTRACT: "à compter de la fin du contrat",
    Purpose.RetentionStart.END_OF_RELATIONSHIP: "à compter de la fin de la relation",
    Purpose.RetentionStart.TRANSACTION: "à compter de la transaction",
    Purpose.RetentionStart.EVENT: "à compter de l'événement enregistré",
}

ROLE_FR: dict[str, str] = {
    ProcessingActivity.Role.JOINT_CONTROLLER: "responsable conjoint du traitement",
    ProcessingActivity.Role.PROCESSOR: "sous-traitant",
}

# One item per line inside a cell: Excel shows it as a multi-line cell, and ";" stays the separator.
ITEM_SEPARATOR = "\n"
# Excel runs a cell starting with one of these as a formula (CSV injection, OWASP): a leading
# apostrophe makes it plain text. Phone numbers ("+33 …") would otherwise show as #NAME?.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def active_purposes(activity: ProcessingActivity) -> list[Purpose]:
    """The purposes the register shows (selectors.activities_for_export leaves retired ones out)."""
    return list(activity.purposes.all())


def transfers_of(activity: ProcessingActivity) -> list[Transfer]:
    """The activity's transfers in the order they were recorded (the prefetch leaves it open)."""
    return sorted(activity.transfers.all(), key=lambda transfer: transfer.pk)


def local_date(value: date | datetime | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def format_months(months: int) -> str:
    if months % 12 == 0:
        years = months // 12
        return f"{years} an" if years == 1 else f"{years} ans"
    return f"{months} mois"


def retention_text(purpose: Purpose) -> str:
    """The purpose's retention rule in French, e.g. "3 ans à compter du dernier contact"."""
    parts = []
    if purpose.retention_months:
        parts.append(format_months(purpose.retention_months))
        if purpose.retention_start:
            parts.append(RETENTION_START_FR.get(purpose.retention_start, purpose.retention_start))
    text = " ".join(parts)
    if purpose.retention_note:
        text = f"{text} ({purpose.retention_note})" if text else purpose.retention_note
    return text


def legal_basis_text(purpose: Purpose) -> str:
    text = LEGAL_BASIS_FR.get(purpose.legal_basis, "")
    if purpose.legal_basis == LegalBasis.LEGITIMATE_INTERESTS and purpose.legitimate_interest:
        text = f"{text} : {purpose.legitimate_interest}"
    return text


def is_sensitive(category: DataCategory) -> bool:
    """Art. 9 special categories and Art. 10 offences: the CNIL model's "données sensibles" block."""
    return category.special_category or category.cnil_group in (Group.SENSITIVE, Group.OFFENCES)


def postal_address(*parts: str) -> str:
    return ", ".join(part.strip() for part in parts if part and part.strip())


def dpo_uses_organisation_address(organisation: Organisation) -> bool:
    """An in-house DPO with no address of their own is reached at the organisation's."""
    return not organisation.dpo_address and not organisation.dpo_company


def transfer_safeguard_text(transfer: Transfer) -> str:
    """The safeguard as the CNIL model's list names it, or why none is needed."""
    if transfer.safeguard is not None:
        text = transfer.safeguard.label_fr
        if not transfer.safeguard.is_valid:
            text += " (garantie qui n'est plus valable)"
        return text
    adequacy = transfer.country.adequacy
    if adequacy in ("eea", "adequate") or (adequacy == "adequate_certified" and transfer.dpf_certified):
        return "Pays adéquat"
    return "Aucune garantie"


def controller_text(organisation: Organisation | None, activity: ProcessingActivity) -> str:
    lines = []
    if organisation is not None:
        name = organisation.name
        if organisation.head_name:
            name += f" (représentant légal : {organisation.head_name})"
        lines.append(name)
        lines.append(postal_address(organisation.address, f"{organisation.postal_code} {organisation.city}",
                                    organisation.country))
        lines.append(" — ".join(value for value in (organisation.email, organisation.phone) if value))
        if organisation.siren:
            lines.append(f"SIREN {organisation.siren}")
        if organisation.representative_name:
            lines.append(f"Représentant dans l'UE : {organisation.representative_name}")
    if activity.role in ROLE_FR:
        lines.append(f"Notre rôle : {ROLE_FR[activity.role]}")
    if activity.joint_controllers:
        lines.append(f"Responsables conjoints : {activity.joint_controllers}")
    return ITEM_SEPARATOR.join(line for line in lines if line)


def dpo_text(organisation: Organisation | None) -> str:
    if organisation is None:
        return ""
    name = organisation.dpo_name
    if organisation.dpo_company:
        name += f" ({organisation.dpo_company})"
    if dpo_uses_organisation_address(organisation):
        address = ""
    else:
        address = postal_address(organisation.dpo_address,
                                 f"{organisation.dpo_postal_code} {organisation.dpo_city}")
    lines = [name, address, " — ".join(v for v in (organisation.dpo_email, organisation.dpo_phone) if v)]
    if organisation.cnil_dpo_designation:
        lines.append(f"Désignation CNIL n° {organisation.cnil_dpo_designation}")
    return ITEM_SEPARATOR.join(line for line in lines if line)


def dpia_text(activity: ProcessingActivity) -> str:
    if activity.dpia_done_on:
        return f"Réalisée le {activity.dpia_done_on.isoformat()}"
    if activity.dpia_required:
        return "Requise, non réalisée"
    return "Non requise"


def category_text(link) -> str:
    """An activity's data category: its label, and what it covers for this activity."""
    label = link.category.label_fr
    return f"{label} : {link.description}" if link.description else label


def _lines(items) -> str:
    return ITEM_SEPARATOR.join(item for item in items if item)


def _row(organisation: Organisation | None, activity: ProcessingActivity) -> list[str]:
    purposes = active_purposes(activity)
    links = list(activity.data_category_links.all())
    by_group: dict[str, list[str]] = {group: [] for group in CNIL_GROUP_COLUMNS}
    for link in links:
        group = Group.SENSITIVE if link.category.special_category else link.category.cnil_group
        by_group.setdefault(group, []).append(category_text(link))

    retention = [f"{p.name_fr} : {text}" for p in purposes if (text := retention_text(p))]
    retention += [f"{link.category.label_fr} : {link.retention}" for link in links if link.retention]
    recipients = [
        f"{r.recipient_type.label_fr} : {r.name}" + (f" — {r.description}" if r.description else "")
        for r in activity.recipients.all()
    ]
    processors = [
        p.name + (f" ({postal_address(p.service, p.country.label_fr if p.country else '')})"
                  if p.service or p.country else "")
        for p in activity.processors.all()
    ]
    transfers = [
        postal_address(t.recipient_name, t.country.label_fr, transfer_safeguard_text(t))
        + (f" — {t.documentation}" if t.documentation else "")
        for t in transfers_of(activity)
    ]
    measures = [m.label_fr for m in activity.security_measures.all()]
    if activity.security_details:
        measures.append(activity.security_details)

    created = local_date(activity.created_at)
    updated = local_date(activity.updated_at)
    row = [
        activity.name,
        activity.reference,
        created.isoformat() if created else "",
        updated.isoformat() if updated else "",
        controller_text(organisation, activity),
        dpo_text(organisation),
        purposes[0].name_fr if purposes else "",
        _lines(p.name_fr for p in purposes[1:]),
        _lines(f"{p.name_fr} : {legal_basis_text(p)}" for p in purposes if p.legal_basis),
        _lines(c.label_fr for c in activity.data_subject_categories.all()),
        *(_lines(by_group[group]) for group in CNIL_GROUP_COLUMNS),
        _lines(recipients),
        _lines(processors),
        _lines(transfers),
        _lines(retention),
        _lines(measures),
        dpia_text(activity),
    ]
    return [excel_safe(cell) for cell in row]


# A phone number in E.164 (what consent.normalise stores) starts with "+" yet cannot carry a
# formula: left as it is, so a mailing tool importing an SMS audience gets a usable number.
_E164 = re.compile(r"\+[1-9][0-9]{5,14}")


def excel_safe(value: str) -> str:
    """The cell as plain text for a spreadsheet: a leading apostrophe before a formula trigger.
    Every CSV this project writes for people to open (the register, the consent audience) uses it."""
    if _E164.fullmatch(value):
        return value
    return "'" + value if value.startswith(_FORMULA_TRIGGERS) else value


def excel_csv(rows: Iterable[Iterable[Any]]) -> bytes:
    """Rows (the header first) as CSV bytes for Excel as French DPOs open it: ";" as separator,
    because French Excel takes the list separator from the regional settings, where "," is the
    decimal mark, and splits a double-clicked .csv on ";"; UTF-8 with a byte-order mark, without
    which Excel reads the file as Windows-1252 and garbles every accent. Values holding ";", quotes
    or line breaks are quoted (RFC 4180), so any CSV reader given ``delimiter=";"`` (and the
    ``utf-8-sig`` codec) gets them back whole. The caller makes its cells ``excel_safe``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def register_csv(*, organisation: Organisation | None, activities: list[ProcessingActivity]) -> bytes:
    """The register as CSV bytes (``excel_csv``), one row per activity, headers ``CSV_COLUMNS``."""
    return excel_csv([CSV_COLUMNS, *(_row(organisation, activity) for activity in activities)])
