"""The register as JSON-LD in the W3C Data Privacy Vocabulary (DPV 2.3) and its EU-GDPR extension.

One ``dpv:Process`` per purpose of each exported activity, with its purpose, personal data, legal
basis (``eu-gdpr:A6-1-a``…``f``), controller, data subjects, recipients and processors, storage
duration (ISO 8601), security measures and third-country transfers. The controller is a
``dpv:DataController`` with its DPO. Every ``dpv:`` and ``eu-gdpr:`` term used is one DPV 2.3
defines (the tests check them against the vocabulary's Turtle files); a ``dpv_concept`` stored in the
register is used only when it names a term of those two namespaces.

Our own things (activities, purposes, categories, recipients…) get IRIs under ``DEFAULT_BASE``, or
under the ``REGISTER_JSONLD_BASE`` setting when a deployment has a namespace it controls.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from django.conf import settings

from ..models import (
    LEGAL_BASIS_DPV,
    DataCategory,
    Organisation,
    ProcessingActivity,
    Purpose,
    SecurityMeasure,
    Transfer,
)
from .csv_export import (
    active_purposes,
    dpo_uses_organisation_address,
    local_date,
    postal_address,
    retention_text,
    transfers_of,
)

DPV = "https://w3id.org/dpv#"
EU_GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
DEFAULT_BASE = "urn:dpodesk:"

CONTEXT_PREFIXES = {
    "dpv": DPV,
    "eu-gdpr": EU_GDPR,
    "dct": "http://purl.org/dc/terms/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

_CURIE = re.compile(r"^(dpv|eu-gdpr):[A-Za-z][A-Za-z0-9_-]*$")
# "46(2)(c)", "Art. 46(2)(c)", "47"…: article, paragraph, point.
_ARTICLE = re.compile(r"(\d+)(?:\s*\((\d+)\))?(?:\s*\(([a-z])\))?")
# Chapter V terms of the EU-GDPR extension that a safeguard's article can name.
_TRANSFER_BASES = {
    *(f"A46-2-{point}" for point in "abcdef"), "A46-3-a", "A46-3-b",
    *(f"A49-1-{point}" for point in "abcdefg"), "A49-2",
}


def register_jsonld(*, organisation: Organisation | None, activities: list[ProcessingActivity]) -> dict:
    """The register as a JSON-LD document (a dict ready for ``json.dumps``)."""
    builder = _Builder(base=getattr(settings, "REGISTER_JSONLD_BASE", DEFAULT_BASE))
    controller = builder.controller(organisation) if organisation is not None else None
    for activity in activities:
        builder.activity(activity, controller)
    return {"@context": {**CONTEXT_PREFIXES, "dpodesk": builder.base}, "@graph": builder.nodes()}


def dpv_term(value: str) -> str | None:
    """A stored DPV concept as a compact IRI, or None when it is not a dpv:/eu-gdpr: term."""
    value = (value or "").strip()
    for prefix, namespace in (("dpv", DPV), ("eu-gdpr", EU_GDPR)):
        if value.startswith(namespace):
            value = f"{prefix}:{value[len(namespace):]}"
    return value if _CURIE.match(value) else None


def iso_duration(months: int) -> str:
    return f"P{months}M"


def _texts(fr: str, en: str = "") -> list[dict[str, str]]:
    return [{"@value": value, "@language": language} for value, language in ((fr, "fr"), (en, "en")) if value]


def _date(value) -> dict[str, str] | None:
    value = local_date(value)
    return {"@value": value.isoformat(), "@type": "xsd:date"} if value else None


def _ref(node_id: str) -> dict[str, str]:
    return {"@id": node_id}


def _types(*terms: str | None) -> list[str]:
    return list(dict.fromkeys(term for term in terms if term))


def _clean(node: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values, so no property is stated without a value."""
    return {key: value for key, value in node.items() if value not in (None, "", [], {})}


class _Builder:
    def __init__(self, *, base: str) -> None:
        self.base = base
        self._nodes: dict[str, dict[str, Any] | None] = {}

    def nodes(self) -> list[dict[str, Any]]:
        return [node for node in self._nodes.values() if node is not None]

    def reserve(self, node_id: str) -> None:
        """Keep a place in the graph for a node made later, so a reader meets it before its parts."""
        self._nodes.setdefault(node_id, None)

    def iri(self, *parts: object) -> str:
        return "dpodesk:" + "/".join(quote(str(part), safe="-._~") for part in parts)

    def add(self, node: dict[str, Any]) -> dict[str, str]:
        if self._nodes.get(node["@id"]) is None:
            self._nodes[node["@id"]] = _clean(node)
        return _ref(node["@id"])

    # --- the controller -----------------------------------------------------------------

    def controller(self, org: Organisation) -> dict[str, str]:
        controller_id = self.iri("controller")
        self.reserve(controller_id)
        dpo_address = (postal_address(org.address, f"{org.postal_code} {org.city}", org.country)
                       if dpo_uses_organisation_address(org)
                       else postal_address(org.dpo_address, f"{org.dpo_postal_code} {org.dpo_city}"))
        dpo = self.add({
            "@id": self.iri("dpo"),
            "@type": "dpv:DataProtectionOfficer",
            "dpv:hasName": postal_address(org.dpo_name, org.dpo_company),
            "dpv:hasAddress": dpo_address,
            "dpv:hasContact": [value for value in (org.dpo_email, org.dpo_phone) if value],
            "dpv:hasIdentifier": org.cnil_dpo_designation,
        })
        representative = None
        if org.representative_name:
            representative = self.add({
                "@id": self.iri("eu-representative"),
                "@type": "dpv:Representative",
                "dpv:hasName": org.representative_name,
                "dpv:hasAddress": org.representative_address,
                "dpv:hasContact": org.representative_email,
            })
        register = self.add({
            "@id": self.iri("register"),
            "@type": "dpv:RecordsOfActivities",
            "dct:title": _texts("Registre des activités de traitement", "Record of processing activities"),
            "dct:publisher": _ref(controller_id),
        })
        return self.add({
            "@id": controller_id,
            "@type": "dpv:DataController",
            "dpv:hasName": org.name,
            "dpv:hasAddress": postal_address(org.address, f"{org.postal_code} {org.city}", org.country),
            "dpv:hasContact": [value for value in (org.email, org.phone) if value],
            "dpv:hasIdentifier": f"SIREN {org.siren}" if org.siren else "",
            "dpv:hasDataProtectionOfficer": dpo,
            "dpv:hasRepresentative": representative,
            "dpv:hasRecordOfActivity": register,
        })

    # --- one activity: a node for the record, a dpv:Process per purpose -------------------

    def activity(self, activity: ProcessingActivity, controller: dict[str, str] | None) -> None:
        activity_id = self.iri("activity", activity.reference)
        purposes = active_purposes(activity)
        self.reserve(activity_id)
        for purpose in purposes:
            self.reserve(self.iri("process", purpose.slug))
        common = {
            "dct:isPartOf": _ref(activity_id),
            "dpv:hasDataController": controller,
            "dpv:hasJointDataControllers": self.joint_controllers(activity, activity_id),
            "dpv:hasPersonalData": [self.data_category(link.category)
                                    for link in activity.data_category_links.all()],
            "dpv:hasRecipient": [self.recipient(r) for r in activity.recipients.all()]
                                + [self.processor(p) for p in activity.processors.all()],
            "dpv:hasTechnicalOrganisationalMeasure": self.measures(activity, activity_id),
            "dpv:hasImpactAssessment": self.dpia(activity, activity_id),
            "dpv:hasThirdCountry": [self.country(t.country) for t in transfers_of(activity)
                                    if t.country.adequacy != "eea"],
            "dpv:hasProcessing": [self.transfer(t) for t in transfers_of(activity)],
        }
        activity_subjects = [self.data_subject(c) for c in activity.data_subject_categories.all()]
        processes = []
        for purpose in purposes:
            subjects = [self.data_subject(c) for c in purpose.data_subject_categories.all()]
            processes.append(self.add({
                "@id": self.iri("process", purpose.slug),
                "@type": "dpv:Process",
                "rdfs:label": _texts(f"{activity.name} — {purpose.name_fr}", purpose.name_en),
                "dpv:hasPurpose": self.purpose(purpose),
                "dpv:hasLegalBasis": _ref(LEGAL_BASIS_DPV[purpose.legal_basis]) if purpose.legal_basis else None,
                "dpv:hasDataSubject": subjects or activity_subjects,
                "dpv:hasStorageCondition": self.storage(purpose),
                **common,
            }))
        self.add({
            "@id": activity_id,
            "dct:identifier": activity.reference,
            "dct:title": _texts(activity.name, activity.name_en),
            "dct:description": activity.description,
            "dct:created": _date(activity.created_at),
            "dct:modified": _date(activity.updated_at),
            "dct:isPartOf": _ref(self.iri("register")) if controller else None,
            "dpv:hasProcess": processes,
        })

    def purpose(self, purpose: Purpose) -> dict[str, str]:
        return self.add({
            "@id": self.iri("purpose", purpose.slug),
            "@type": dpv_term(purpose.dpv_purpose) or "dpv:Purpose",
            "dct:identifier": purpose.slug,
            "rdfs:label": _texts(purpose.name_fr, purpose.name_en),
            "dct:description": _texts(purpose.text_fr, purpose.text_en),
        })

    def storage(self, purpose: Purpose) -> dict[str, Any] | None:
        label = retention_text(purpose)
        if not label:
            return None
        return _clean({
            "@type": "dpv:StorageDuration",
            "rdf:value": ({"@value": iso_duration(purpose.retention_months), "@type": "xsd:duration"}
                          if purpose.retention_months else None),
            "rdfs:label": _texts(label),
        })

    def data_category(self, category: DataCategory) -> dict[str, str]:
        if category.special_category:
            kind = "dpv:SpecialCategoryPersonalData"
        elif category.cnil_group == DataCategory.CnilGroup.OFFENCES:
            kind = "dpv:SensitivePersonalData"
        else:
            kind = "dpv:PersonalData"
        return self.add({
            "@id": self.iri("data-category", category.code),
            "@type": _types(kind, dpv_term(category.dpv_concept)),
            "dct:identifier": category.code,
            "rdfs:label": _texts(category.label_fr, category.label_en),
            "dct:description": category.description,
        })

    def data_subject(self, category) -> dict[str, str]:
        return self.add({
            "@id": self.iri("data-subject", category.code),
            "@type": _types("dpv:DataSubject", dpv_term(category.dpv_concept)),
            "dct:identifier": category.code,
            "rdfs:label": _texts(category.label_fr, category.label_en),
        })

    def recipient(self, recipient) -> dict[str, str]:
        return self.add({
            "@id": self.iri("recipient", recipient.pk),
            "@type": _types("dpv:Recipient", dpv_term(recipient.recipient_type.dpv_concept),
                            dpv_term(recipient.dpv_concept)),
            "dpv:hasName": recipient.name,
            "dct:description": recipient.description,
            "rdfs:comment": _texts(recipient.recipient_type.label_fr, recipient.recipient_type.label_en),
        })

    def processor(self, processor) -> dict[str, str]:
        return self.add({
            "@id": self.iri("processor", processor.pk),
            "@type": "dpv:DataProcessor",
            "dpv:hasName": processor.name,
            "dct:description": processor.service,
            "dpv:hasAddress": _one_line(processor.address),
            "dpv:hasCountry": self.country(processor.country) if processor.country else None,
        })

    def country(self, country) -> dict[str, str]:
        return self.add({
            "@id": self.iri("country", country.iso_code or country.code),
            "@type": "dpv:Country" if country.adequacy == "eea" else "dpv:ThirdCountry",
            "dct:identifier": country.iso_code,
            "rdfs:label": _texts(country.label_fr, country.label_en),
        })

    def measures(self, activity: ProcessingActivity, activity_id: str) -> list[dict[str, Any]]:
        measures = [
            self.add({
                "@id": self.iri("security-measure", measure.code),
                "@type": _types("dpv:OrganisationalMeasure" if measure.kind == SecurityMeasure.Kind.ORGANISATIONAL
                                else "dpv:TechnicalMeasure", dpv_term(measure.dpv_concept)),
                "rdfs:label": _texts(measure.label_fr, measure.label_en),
            })
            for measure in activity.security_measures.all()
        ]
        if activity.security_details:
            measures.append(self.add({
                "@id": f"{activity_id}/security-details",
                "@type": "dpv:TechnicalOrganisationalMeasure",
                "dct:description": activity.security_details,
            }))
        return measures

    def dpia(self, activity: ProcessingActivity, activity_id: str) -> dict[str, str] | None:
        if not activity.dpia_done_on:
            return None
        return self.add({"@id": f"{activity_id}/dpia", "@type": "dpv:DPIA", "dct:date": _date(activity.dpia_done_on)})

    def joint_controllers(self, activity: ProcessingActivity, activity_id: str) -> dict[str, str] | None:
        if not activity.joint_controllers:
            return None
        return self.add({
            "@id": f"{activity_id}/joint-controllers",
            "@type": "dpv:JointDataControllers",
            "dct:description": activity.joint_controllers,
        })

    def transfer(self, transfer: Transfer) -> dict[str, str]:
        """A transfer outside the EU/EEA: where to, to whom, on which Chapter V ground and safeguard."""
        transfer_id = self.iri("transfer", transfer.pk)
        country = self.country(transfer.country)
        legal_bases: list[dict[str, str]] = []
        measures: list[dict[str, str]] = []
        safeguard = transfer.safeguard
        article = _article(safeguard.gdpr_article) if safeguard else None
        article_term = _transfer_basis(article) if article else None
        if article_term:
            legal_bases.append(_ref(article_term))
        elif transfer.country.adequacy == "adequate" or (
                transfer.country.adequacy == "adequate_certified" and transfer.dpf_certified):
            legal_bases.append(_ref("eu-gdpr:A45-3"))
        if safeguard is not None:
            # An adequacy decision (Art. 45) or a derogation (Art. 49) is a ground for the transfer;
            # clauses, rules, codes and certifications (Art. 46, 47) are measures taken for it.
            is_basis = bool(article) and article[0] in ("45", "49")
            node = self.add({
                "@id": self.iri("transfer-safeguard", safeguard.code),
                "@type": dpv_term(safeguard.dpv_concept) or (
                    "dpv:DataTransferLegalBasis" if is_basis else "dpv:OrganisationalMeasure"),
                "rdfs:label": _texts(safeguard.label_fr, safeguard.label_en),
                "rdfs:comment": _texts("", safeguard.validity_note),
            })
            (legal_bases if is_basis else measures).append(node)
        importer = self.add({
            "@id": f"{transfer_id}/importer",
            "@type": "dpv:DataImporter",
            "dpv:hasName": transfer.recipient_name,
            "dpv:hasCountry": country,
        })
        return self.add({
            "@id": transfer_id,
            "@type": "dpv:CrossBorderTransfer",
            "rdfs:label": _texts(f"Transfert vers {transfer.recipient_name} ({transfer.country.label_fr})",
                                 f"Transfer to {transfer.recipient_name} ({transfer.country.label_en})"),
            "dpv:hasRecipient": importer,
            "dpv:hasThirdCountry" if transfer.country.adequacy != "eea" else "dpv:hasCountry": country,
            "dpv:hasLegalBasis": legal_bases,
            "dpv:hasTechnicalOrganisationalMeasure": measures,
            "dct:description": transfer.documentation,
        })


def _article(text: str) -> tuple[str, str | None, str | None] | None:
    """Article, paragraph and point of "46(2)(c)", "Art. 46(2)(c)", "47"…"""
    match = _ARTICLE.search(text or "")
    return match.groups() if match else None


def _transfer_basis(article: tuple[str, str | None, str | None]) -> str | None:
    """The EU-GDPR extension's term for a safeguard's article, e.g. 46(2)(c) → eu-gdpr:A46-2-c."""
    number, paragraph, point = article
    if number == "45":
        return "eu-gdpr:A45-3"
    if number == "47":  # binding corporate rules are the safeguard of Art. 46(2)(b)
        return "eu-gdpr:A46-2-b"
    term = "-".join(part for part in (f"A{number}", paragraph, point) if part)
    return f"eu-gdpr:{term}" if term in _TRANSFER_BASES else None


def _one_line(value: str) -> str:
    return ", ".join(line.strip() for line in (value or "").splitlines() if line.strip())
