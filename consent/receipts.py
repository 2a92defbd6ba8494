"""Consent receipts: the proof of one consent transaction, and a contact's whole consent record.

``receipt_json`` follows the fields of ISO/IEC TS 27560 (consent record information structure) and
validates against ``consent/schemas/consent-receipt.schema.json``; ``receipt_kantara`` is the same
transaction as a Kantara Consent Receipt v1.1; ``receipt_pdf`` is the human-readable receipt.
``contact_record_json`` / ``contact_record_pdf`` list a contact's current consents and every ledger
event about them.

Consent type. ISO/IEC 29184 and TS 27560 distinguish *expressed* consent (an affirmative act: a
ticked box, a signed form, a "yes" on the phone) from *explicit* consent (expressed, and given in a
specific statement about the processing). The GDPR asks for the first in general (Art. 4(11)) and
for the second for special categories (Art. 9(2)(a)) and for transfers relying on the consent
derogation (Art. 49(1)(a)). A receipt therefore says ``explicit`` when the purpose's activity
processes Art. 9 data or transfers data under Art. 49, ``expressed`` otherwise, and
``not_applicable`` for a purpose that rests on another legal basis (its events are objections).

Queries are bounded: one query per table whatever the number of events (the register's details
come through ``select_related`` / ``Prefetch``). The contact record also asks
``selectors.consent_check`` once per purpose x channel the contact has a state for.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language, ngettext, override
from django.utils.translation import gettext as _

from registry.models import (
    ActivityDataCategory, Channel, DataCategory, LegalBasis, Organisation, Processor, Purpose, PurposeVersion,
    Recipient, Transfer,
)
from registry.selectors import organisation_get

from . import ledger, selectors
from .models import Action, ConsentEvent, ConsentState, Contact, Method
from .notices import privacy_notice_path
from .state import apply_event

SCHEMA_VERSION = "1.0.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "consent-receipt.schema.json"
KANTARA_VERSION = "KI-CR-v1.1.0"
DEFAULT_BASE_URL = "https://dpo-desk.invalid"
RECEIPT_TEMPLATE = "pdf/consent_receipt.html"
RECORD_TEMPLATE = "pdf/consent_record.html"
# Fixed for ever: receipt ids are uuid5(namespace, event hash), so a receipt keeps its id when re-issued.
RECEIPT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dpodesk:consent-receipt")

JURISDICTION = "FR"
REGION = "EU"
# The seeded recipient type of the controller's own departments: a recipient, not a third party.
INTERNAL_RECIPIENT_TYPE = "internal_service"
# Categories beyond Art. 9 that the receipt flags as sensitive: offences (Art. 10) and the NIR
# (whose use French law frames strictly, loi Informatique et Libertés art. 30).
SENSITIVE_GROUPS = {DataCategory.CnilGroup.SENSITIVE, DataCategory.CnilGroup.OFFENCES, DataCategory.CnilGroup.NIR}
WITHDRAWAL_METHODS = ["preference_centre", "unsubscribe_link", "contact_controller"]
CONSENT_TYPE_EXPRESSED = "expressed"
CONSENT_TYPE_EXPLICIT = "explicit"
CONSENT_TYPE_NOT_APPLICABLE = "not_applicable"
KANTARA_CONSENT_TYPES = {CONSENT_TYPE_EXPRESSED: "EXPRESSED", CONSENT_TYPE_EXPLICIT: "EXPLICIT",
                         CONSENT_TYPE_NOT_APPLICABLE: "N/A"}

# Kantara CR v1.1 appendix lists (purpose categories, categories of personal information).
_KANTARA_PURPOSE = {
    LegalBasis.CONTRACT: "2 - Contracted Service",
    LegalBasis.LEGAL_OBLIGATION: "12 - Legally Required Data Retention",
    LegalBasis.VITAL_INTERESTS: "14 - Protecting Your Health",
    LegalBasis.LEGITIMATE_INTERESTS: "15 - Protecting Our Interests",
}
_KANTARA_PURPOSE_MARKETING = "6 - Marketing"
_KANTARA_PURPOSE_DEFAULT = "1 - Core Function"
_KANTARA_PII_BY_CODE = {
    "contact_details": "2 - Contact", "images": "3 - Biometric", "biometric": "3 - Biometric",
    "genetic": "3 - Biometric", "racial_ethnic_origin": "3 - Biometric", "health": "6 - Health",
    "political_opinions": "13 - Psychological/Attitudinal", "religious_beliefs": "13 - Psychological/Attitudinal",
    "sex_life": "13 - Psychological/Attitudinal", "trade_union_membership": "14 - Membership",
    "purchase_history": "15 - Behavioural", "pseudonymised_identifiers": "5 - Network/Service",
}
_KANTARA_PII_BY_GROUP = {
    DataCategory.CnilGroup.IDENTITY: "1 - Biographical",
    DataCategory.CnilGroup.PERSONAL_LIFE: "1 - Biographical",
    DataCategory.CnilGroup.PROFESSIONAL_LIFE: "1 - Biographical",
    DataCategory.CnilGroup.ECONOMIC: "7 - Financial",
    DataCategory.CnilGroup.CONNECTION: "5 - Network/Service",
    DataCategory.CnilGroup.LOCATION: "15 - Behavioural",
    DataCategory.CnilGroup.INTERNET: "15 - Behavioural",
    DataCategory.CnilGroup.NIR: "8 - Official/Government Identifiers",
    DataCategory.CnilGroup.SENSITIVE: "13 - Psychological/Attitudinal",
    DataCategory.CnilGroup.OFFENCES: "10 - Judicial",
}


# --- helpers --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def receipt_schema() -> dict:
    """Our JSON Schema (draft 2020-12) of ``receipt_json``; its ``$defs`` also describe the record."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def receipt_id(*, event: ConsentEvent) -> str:
    """The stable id of the event's receipt: the same event always gets the same id."""
    return str(uuid.uuid5(RECEIPT_NAMESPACE, event.hash))


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _events_with_register(events: QuerySet[ConsentEvent]) -> QuerySet[ConsentEvent]:
    """Events with everything a receipt shows about them, one query per table."""
    return events.select_related("contact", "purpose__activity", "channel", "notice").prefetch_related(
        Prefetch("purpose__activity__data_category_links",
                 queryset=ActivityDataCategory.objects.select_related("category").order_by(
                     "category__position", "category__code")),
        Prefetch("purpose__activity__recipients",
                 queryset=Recipient.objects.select_related("recipient_type", "country").order_by("name", "pk")),
        Prefetch("purpose__activity__processors",
                 queryset=Processor.objects.select_related("country").order_by("name", "pk")),
        Prefetch("purpose__activity__transfers",
                 queryset=Transfer.objects.select_related("country", "safeguard").order_by("pk")),
    )


def _load_event(event: ConsentEvent) -> ConsentEvent:
    return _events_with_register(ConsentEvent.objects.filter(pk=event.pk)).get()


def _purpose_versions(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], PurposeVersion]:
    """The texts of these (purpose id, version) pairs, in one query."""
    pairs = set(pairs)
    if not pairs:
        return {}
    rows = PurposeVersion.objects.filter(purpose_id__in={p for p, _v in pairs}, version__in={v for _p, v in pairs})
    return {(row.purpose_id, row.version): row for row in rows if (row.purpose_id, row.version) in pairs}


def _receipt_language(event: ConsentEvent) -> str:
    """The language of the transaction: the notice's, else the contact's."""
    if event.notice_id and event.notice.language:
        return event.notice.language
    return event.contact.language or settings.LANGUAGE_CODE


def _pii_principal(contact: Contact, channel: Channel) -> dict[str, Any]:
    """The contact id and one identifier: the address of the event's channel when there is one."""
    preferred = {"email": ("email",), "sms": ("phone",), "phone": ("phone",)}.get(channel.code, ())
    for field in (*preferred, "email", "phone", "external_ref"):
        value = getattr(contact, field)
        if value:
            return {"contact_id": contact.pk, "identifier_type": field, "identifier": value}
    return {"contact_id": contact.pk, "identifier_type": "contact_id", "identifier": str(contact.pk)}


def _controller(organisation: Organisation | None) -> dict[str, Any] | None:
    if organisation is None:
        return None
    return {
        "name": organisation.name,
        "legal_form": organisation.legal_form,
        "siren": organisation.siren,
        "address": {"street": organisation.address, "postal_code": organisation.postal_code,
                    "city": organisation.city, "country": organisation.country},
        "email": organisation.email,
        "phone": organisation.phone,
        "representative": ({"name": organisation.representative_name, "address": organisation.representative_address,
                            "email": organisation.representative_email}
                           if organisation.representative_name else None),
        "dpo": {
            "name": organisation.dpo_name,
            "company": organisation.dpo_company,
            "address": " ".join(filter(None, [organisation.dpo_address, organisation.dpo_postal_code,
                                              organisation.dpo_city])),
            "email": organisation.dpo_email,
            "phone": organisation.dpo_phone,
            "cnil_designation": organisation.cnil_dpo_designation,
        },
    }


def _jurisdiction(purpose: Purpose, channel: Channel) -> dict[str, Any]:
    laws = [
        {"code": "eu-gdpr", "name": "Regulation (EU) 2016/679 (GDPR)"},
        {"code": "fr-loi-78-17", "name": "Loi n° 78-17 du 6 janvier 1978 relative à l'informatique, "
                                         "aux fichiers et aux libertés"},
    ]
    if purpose.direct_marketing and channel.electronic:
        laws.append({"code": "fr-cpce-l34-5", "name": "Code des postes et des communications électroniques, "
                                                      "art. L.34-5"})
    if purpose.direct_marketing and channel.code == "phone":
        laws.append({"code": "fr-code-conso-l223-1", "name": "Code de la consommation, art. L.223-1"})
    return {"country": JURISDICTION, "region": REGION, "applicable_law": laws}


def _country(country) -> dict[str, Any] | None:
    if country is None:
        return None
    return {"code": (country.iso_code or country.code).upper(), "label": country.label, "adequacy": country.adequacy}


def _is_sensitive(category: DataCategory) -> bool:
    return category.special_category or category.cnil_group in SENSITIVE_GROUPS


def _proof(event: ConsentEvent) -> dict[str, Any]:
    """What lets anyone check the record: the hash is SHA-256 over the domain tag, the previous hash
    and the canonical JSON of ``payload`` (see consent.ledger)."""
    return {
        "sequence": event.sequence,
        "hash": event.hash,
        "previous_hash": event.previous_hash,
        "algorithm": f"sha256({ledger.DOMAIN_TAG!r} LF previous_hash LF canonical_json(payload))",
        "payload": ledger.event_payload(event),
        "content_matches_hash": ledger.event_hash(event, event.previous_hash) == event.hash,
    }


def _consent_type(purpose: Purpose, categories: list[ActivityDataCategory], transfers: list[Transfer]) -> str:
    if purpose.legal_basis != LegalBasis.CONSENT:
        return CONSENT_TYPE_NOT_APPLICABLE
    art9 = any(link.category.special_category for link in categories)
    art49 = any(t.safeguard is not None and t.safeguard.gdpr_article.lower().replace("art.", "").strip().startswith("49")
                for t in transfers)
    return CONSENT_TYPE_EXPLICIT if art9 or art49 else CONSENT_TYPE_EXPRESSED


def _is_english() -> bool:
    return (get_language() or "fr").startswith("en")


# When/how the consent ends (ISO/IEC TS 27560 "termination"), with the DPV 2.3 duration concept.
TERMINATION_DPV = {"until_time": "dpv:UntilTimeDuration", "temporal": "dpv:TemporalDuration",
                   "until_withdrawn": "dpv:UntilEventDuration"}
_ENDING_ACTIONS = (Action.REFUSED, Action.WITHDRAWN, Action.EXPIRED, Action.LAPSED)


def _termination(event: ConsentEvent, validity_months: int | None, expires_at: datetime | None) -> dict[str, Any]:
    """How the consent of this event ends: at a date (the purpose's validity counted from the
    grant), a duration from the double opt-in confirmation, when withdrawn, or it already ended."""
    if event.purpose.legal_basis != LegalBasis.CONSENT:
        kind, ends_at = "not_applicable", None
        text = _("Not based on consent: the contact can object at any time.")
    elif event.action in _ENDING_ACTIONS:
        kind, ends_at = "ended", event.effective_at
        text = _("%(action)s on %(date)s") % {"action": Action(event.action).label,
                                                "date": _local_date(event.effective_at)} + "."
    elif expires_at is not None:
        kind, ends_at = "until_time", expires_at
        text = _("Until %(date)s, unless withdrawn earlier.") % {"date": _local_date(expires_at)}
    elif validity_months and event.action == Action.PENDING:
        kind, ends_at = "temporal", None
        text = ngettext("%(months)s month from the confirmation, unless withdrawn earlier.",
                        "%(months)s months from the confirmation, unless withdrawn earlier.",
                        validity_months) % {"months": validity_months}
    else:
        kind, ends_at = "until_withdrawn", None
        text = _("Until withdrawn.")
    return {"kind": kind, "dpv": TERMINATION_DPV.get(kind, ""), "ends_at": _utc(ends_at), "text": text}


def _purpose_entry(event: ConsentEvent, version: PurposeVersion | None) -> dict[str, Any]:
    """The purpose of the event, as the register describes it (read from prefetched relations)."""
    purpose, channel = event.purpose, event.channel
    activity = purpose.activity
    categories = list(activity.data_category_links.all())
    recipients = list(activity.recipients.all())
    processors = list(activity.processors.all())
    transfers = list(activity.transfers.all())
    english = _is_english()
    if version is not None:
        name = version.name_en if english else version.name_fr
        text = version.text_en if english else version.text_fr
    else:
        name, text = purpose.name, purpose.text
    after = apply_event(None, event, validity_months=purpose.consent_validity_months)
    return {
        "slug": purpose.slug,
        "name": name,
        "description": text,
        "version": event.purpose_version,
        "version_change": version.change_kind if version is not None else None,
        "version_date": _utc(version.created_at) if version is not None else None,
        "activity": {"reference": activity.reference, "name": activity.shown_name},
        "legal_basis": {"code": purpose.legal_basis, "dpv": purpose.legal_basis_dpv,
                        "label": purpose.get_legal_basis_display() if purpose.legal_basis else ""},
        "legitimate_interest": purpose.shown_legitimate_interest,
        "dpv_purpose": purpose.dpv_purpose,
        "direct_marketing": purpose.direct_marketing,
        "consent_type": _consent_type(purpose, categories, transfers),
        "channels": [{"code": channel.code, "label": channel.label, "electronic": channel.electronic}],
        "data_categories": [
            {**link.shown_data(), "dpv": link.category.dpv_concept,
             "special_category": link.category.special_category, "sensitive": _is_sensitive(link.category)}
            for link in categories
        ],
        "sensitive": any(_is_sensitive(link.category) for link in categories),
        "third_parties": {
            "recipients": [
                {"name": r.name, "type": r.recipient_type.code, "type_label": r.recipient_type.label,
                 "internal": r.recipient_type.code == INTERNAL_RECIPIENT_TYPE, "country": _country(r.country)}
                for r in recipients
            ],
            "processors": [{"name": p.name, "service": p.service, "country": _country(p.country)}
                           for p in processors],
            "transfers": [
                {"recipient": t.recipient_name, "country": _country(t.country),
                 "safeguard": ({"code": t.safeguard.code, "label": t.safeguard.label,
                                "gdpr_article": t.safeguard.gdpr_article, "valid": t.safeguard.is_valid}
                               if t.safeguard is not None else None),
                 "dpf_certified": t.dpf_certified}
                for t in transfers
            ],
        },
        "retention": {"months": purpose.retention_months, "start": purpose.retention_start,
                      "note": purpose.shown_retention_note, "text": purpose.shown_retention},
        "consent_validity_months": purpose.consent_validity_months,
        "expires_at": _utc(after.expires_at) if after is not None else None,
        "termination": _termination(event, purpose.consent_validity_months,
                                    after.expires_at if after is not None else None),
        "withdrawal_methods": WITHDRAWAL_METHODS if purpose.legal_basis == LegalBasis.CONSENT else [],
        "action": event.action,
        "action_label": str(Action(event.action).label),
        "proof": _proof(event),
    }


def _third_party_names(entry: dict[str, Any]) -> list[str]:
    """Who receives the data besides the controller's own departments."""
    parties = entry["third_parties"]
    names = [r["name"] for r in parties["recipients"] if not r["internal"]]
    names += [p["name"] for p in parties["processors"]]
    names += [t["recipient"] for t in parties["transfers"]]
    return list(dict.fromkeys(names))


def _build_receipt(event: ConsentEvent, organisation: Organisation | None,
                   version: PurposeVersion | None, labels_language: str) -> dict[str, Any]:
    """The receipt with its labels in ``labels_language`` (``language`` stays the transaction's)."""
    with override(labels_language):
        notice = None
        if event.notice_id:
            notice = {"sha256": event.notice.sha256, "language": event.notice.language, "text": event.notice.text}
        return {
            "schema_version": SCHEMA_VERSION,
            "standard": "ISO/IEC TS 27560:2023",
            "receipt_id": receipt_id(event=event),
            "event_id": event.pk,
            "language": _receipt_language(event),
            "timestamp": _utc(event.effective_at),
            "recorded_at": _utc(event.recorded_at),
            "collection_method": event.method,
            "collection_method_label": str(Method(event.method).label),
            "collection_form": event.collection_form,
            "jurisdiction": _jurisdiction(event.purpose, event.channel),
            "pii_principal": _pii_principal(event.contact, event.channel),
            "controller": _controller(organisation),
            "notice": notice,
            "purposes": [_purpose_entry(event, version)],
        }


def _receipt_parts(event: ConsentEvent) -> tuple[ConsentEvent, Organisation | None, PurposeVersion | None]:
    event = _load_event(event)
    version = _purpose_versions([(event.purpose_id, event.purpose_version)]).get(
        (event.purpose_id, event.purpose_version))
    return event, organisation_get(), version


# --- one transaction ------------------------------------------------------------------------


def receipt_json(*, event: ConsentEvent) -> dict[str, Any]:
    """The receipt of one consent transaction with the fields of ISO/IEC TS 27560, in the language
    of the transaction. Valid against ``consent/schemas/consent-receipt.schema.json``."""
    event, organisation, version = _receipt_parts(event)
    return _build_receipt(event, organisation, version, _receipt_language(event))


def _local_date(value: datetime) -> str:
    return timezone.localtime(value).date().isoformat()


def _kantara_termination(entry: dict[str, Any], event: ConsentEvent) -> str:
    """When the consent ends and how long the data is kept, in words."""
    parts = []
    if event.action in (Action.WITHDRAWN, Action.REFUSED, Action.EXPIRED, Action.LAPSED, Action.OBJECTED):
        parts.append(_("%(action)s on %(date)s") % {"action": entry["action_label"],
                                                    "date": _local_date(event.effective_at)})
    after = apply_event(None, event, validity_months=event.purpose.consent_validity_months)
    if after is not None and after.expires_at:
        parts.append(_("Consent valid until %(date)s") % {"date": _local_date(after.expires_at)})
    if entry["withdrawal_methods"] and event.action in (Action.GRANTED, Action.PENDING):
        parts.append(_("Consent can be withdrawn at any time from the preference centre."))
    if entry["retention"]["text"]:
        parts.append(_("Data kept %(retention)s") % {"retention": entry["retention"]["text"]})
    return " ".join(p if p.endswith(".") else p + "." for p in parts) or "N/A"


def _kantara_purpose_category(purpose: Purpose) -> list[str]:
    if purpose.direct_marketing:
        return [_KANTARA_PURPOSE_MARKETING]
    return [_KANTARA_PURPOSE.get(purpose.legal_basis, _KANTARA_PURPOSE_DEFAULT)]


def _kantara_pii(links: Iterable[ActivityDataCategory]) -> list[str]:
    codes = [_KANTARA_PII_BY_CODE.get(link.category.code) or _KANTARA_PII_BY_GROUP.get(link.category.cnil_group,
                                                                                         "1 - Biographical")
             for link in links]
    return sorted(dict.fromkeys(codes), key=lambda c: int(c.split(" ")[0]))


def receipt_kantara(*, event: ConsentEvent, base_url: str = DEFAULT_BASE_URL) -> dict[str, Any]:
    """The transaction as a Kantara Consent Receipt v1.1 (valid against the Kantara JSON Schema).

    ``policyUrl`` is the purpose's public notice page, in the receipt's language, under ``base_url``:
    the data subject can open it (the JSON receipt, with the text shown, needs an API token)."""
    event, organisation, version = _receipt_parts(event)
    language = _receipt_language(event)
    entry = _build_receipt(event, organisation, version, language)["purposes"][0]
    links = list(event.purpose.activity.data_category_links.all())
    third_parties = _third_party_names(entry)
    with override(language):
        purpose: dict[str, Any] = {
            "purpose": f"{entry['name']} ({entry['channels'][0]['label']})",
            "purposeCategory": _kantara_purpose_category(event.purpose),
            "consentType": KANTARA_CONSENT_TYPES[entry["consent_type"]],
            "piiCategory": _kantara_pii(links),
            "primaryPurpose": True,
            "termination": _kantara_termination(entry, event),
            "thirdPartyDisclosure": bool(third_parties),
        }
        if third_parties:
            purpose["thirdPartyName"] = ", ".join(third_parties)
        controllers = []
        if organisation is not None:
            controller: dict[str, Any] = {
                "piiController": organisation.name,
                "onBehalf": False,
                "contact": organisation.dpo_name,
                "address": {"streetAddress": organisation.address, "postalCode": organisation.postal_code,
                            "addressLocality": organisation.city, "addressCountry": organisation.country},
                "email": organisation.dpo_email or organisation.email,
                "phone": organisation.dpo_phone or organisation.phone,
            }
            controllers.append(controller)
        method = str(Method(event.method).label)
        return {
            "version": KANTARA_VERSION,
            "jurisdiction": JURISDICTION,
            "consentTimestamp": int(event.effective_at.timestamp()),
            "collectionMethod": f"{method} ({event.method})" + (
                f" — {event.collection_form}" if event.collection_form else ""),
            "consentReceiptID": receipt_id(event=event),
            "language": language,
            "piiPrincipalId": _pii_principal(event.contact, event.channel)["identifier"],
            "piiControllers": controllers,
            "policyUrl": base_url.rstrip("/") + privacy_notice_path(purpose=event.purpose, language=language),
            "services": [{"service": entry["activity"]["name"], "purposes": [purpose]}],
            "sensitive": entry["sensitive"],
            "spiCat": _kantara_pii(link for link in links if _is_sensitive(link.category)),
        }


def _render_pdf(template: str, context: dict[str, Any], language: str) -> bytes:
    # Heavy imports, only where a PDF is made. No resource comes from a URL (as for the register):
    # fonts are the system's DejaVu, styles are inline.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    with override(language):
        html = render_to_string(template, context)
        return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set())).write_pdf()


def receipt_pdf(*, event: ConsentEvent, language: str | None = None) -> bytes:
    """The receipt as an A4 PDF in ``language`` (default LANGUAGE_CODE, French); the notice stays
    in the language it was shown in."""
    language = language or settings.LANGUAGE_CODE
    event, organisation, version = _receipt_parts(event)
    receipt = _build_receipt(event, organisation, version, language)
    return _render_pdf(RECEIPT_TEMPLATE, {
        "receipt": receipt,
        "purpose": receipt["purposes"][0],
        "event": event,
        "contact": event.contact,
        "organisation": organisation,
        "state_after": apply_event(None, event, validity_months=event.purpose.consent_validity_months),
        "generated_at": timezone.localtime(),
    }, language)


# --- a contact's whole record ---------------------------------------------------------------


def _record(contact: Contact, labels_language: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record as JSON data, and the objects it was read from (for the PDF's dates)."""
    now = timezone.now()
    events = list(ConsentEvent.objects.filter(contact=contact).select_related("purpose", "channel", "notice")
                  .order_by("sequence"))
    versions = _purpose_versions((e.purpose_id, e.purpose_version) for e in events)
    states = list(ConsentState.objects.filter(contact=contact).select_related("purpose", "channel", "last_event")
                  .order_by("purpose__position", "purpose__slug", "channel__position", "channel__code"))
    organisation = organisation_get()
    english = labels_language.startswith("en")
    with override(labels_language):
        current = []
        for state in states:
            check = selectors.consent_check(contact=contact, purpose=state.purpose, channel=state.channel, now=now)
            current.append({
                "purpose": state.purpose.slug,
                "purpose_name": state.purpose.name,
                "channel": state.channel.code,
                "channel_label": state.channel.label,
                "status": check.status,
                "status_label": str(Action(check.status).label) if check.status in Action.values else _("None"),
                "allowed": check.allowed,
                "reason": check.reason,
                "regime": check.regime,
                "since": _utc(check.since),
                "expires_at": _utc(check.expires_at),
                "purpose_version": state.purpose_version,
                "last_event_sequence": state.last_event.sequence,
            })
        notices: dict[str, dict[str, str]] = {}
        history = []
        for event in events:
            version = versions.get((event.purpose_id, event.purpose_version))
            if version is not None:
                name = version.name_en if english else version.name_fr
            else:
                name = event.purpose.name
            if event.notice_id and event.notice.sha256 not in notices:
                notices[event.notice.sha256] = {"sha256": event.notice.sha256, "language": event.notice.language,
                                                "text": event.notice.text}
            history.append({
                "event_id": event.pk,
                "receipt_id": receipt_id(event=event),
                "timestamp": _utc(event.effective_at),
                "recorded_at": _utc(event.recorded_at),
                "purpose": event.purpose.slug,
                "purpose_name": name,
                "purpose_version": event.purpose_version,
                "channel": event.channel.code,
                "channel_label": event.channel.label,
                "action": event.action,
                "action_label": str(Action(event.action).label),
                "method": event.method,
                "method_label": str(Method(event.method).label),
                "collection_form": event.collection_form,
                "notice": event.notice.sha256 if event.notice_id else None,
                "proof": _proof(event),
            })
    record = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _utc(now),
        "language": contact.language or settings.LANGUAGE_CODE,
        "contact": {
            "id": contact.pk,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "phone": contact.phone,
            "external_ref": contact.external_ref,
            "language": contact.language,
            "restricted": contact.restricted,
            "anonymised_at": _utc(contact.anonymised_at),
        },
        "controller": _controller(organisation),
        "jurisdiction": {"country": JURISDICTION, "region": REGION},
        "current_consents": current,
        "events": history,
        "notices": list(notices.values()),
        "integrity": {"events": len(history),
                      "all_hashes_match": all(e["proof"]["content_matches_hash"] for e in history)},
    }
    return record, {"organisation": organisation, "events": events, "states": states, "now": now}


def contact_record_json(*, contact: Contact) -> dict[str, Any]:
    """The contact's whole consent record: the current status per purpose x channel (as
    ``selectors.consent_check`` decides it) and every ledger event about them in ledger order,
    with the notices shown and the proof of each event. Labels are in the contact's language."""
    record, _objects = _record(contact, contact.language or settings.LANGUAGE_CODE)
    return record


def contact_record_pdf(*, contact: Contact, language: str | None = None) -> bytes:
    """The contact's consent record as a certificate (A4 PDF) in ``language`` (default LANGUAGE_CODE)."""
    language = language or settings.LANGUAGE_CODE
    record, objects = _record(contact, language)
    # The template shows dates in local time: pair each row with the datetimes it was built from.
    events = [{"row": row, "event": event} for row, event in zip(record["events"], objects["events"])]
    current = [{"row": row, "state": state} for row, state in zip(record["current_consents"], objects["states"])]
    return _render_pdf(RECORD_TEMPLATE, {
        "record": record,
        "events": events,
        "current": current,
        "contact": contact,
        "organisation": objects["organisation"],
        "generated_at": timezone.localtime(objects["now"]),
    }, language)
