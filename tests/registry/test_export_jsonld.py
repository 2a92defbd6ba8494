"""The register as W3C DPV 2.3 JSON-LD, parsed back with rdflib and checked against the vocabulary."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef

from registry import models as m
from registry.exports import register_export
from registry.exports.jsonld import DPV as DPV_IRI
from registry.exports.jsonld import EU_GDPR as EU_GDPR_IRI
from registry.exports.jsonld import register_jsonld
from tests import factories as f

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning"),  # rdflib's parser
]

STANDARDS_DIR = Path(os.environ.get("DPO_STANDARDS_DIR", Path(settings.BASE_DIR).parent / "shared" / "standards"))
DPV = Namespace(DPV_IRI)
EU_GDPR = Namespace(EU_GDPR_IRI)
DCT = Namespace("http://purl.org/dc/terms/")
XSD_DURATION = URIRef("http://www.w3.org/2001/XMLSchema#duration")


@pytest.fixture(scope="module")
def vocabulary() -> Graph:
    """DPV 2.3 core and its EU-GDPR extension, as published (loaded once for this module)."""
    graph = Graph()
    for name in ("dpv-2.3-dpv.ttl", "dpv-2.3-eu-gdpr.ttl"):
        path = STANDARDS_DIR / name
        if not path.exists():
            pytest.skip(f"{path} not found (set DPO_STANDARDS_DIR to the shared/standards folder)")
        graph.parse(path, format="turtle")
    return graph


def parse(document: dict) -> Graph:
    return Graph().parse(data=json.dumps(document), format="json-ld")


def vocabulary_terms_used(graph: Graph) -> set[URIRef]:
    """Every dpv:/eu-gdpr: IRI the graph uses as a predicate, a type or an object."""
    used = set()
    for _, predicate, obj in graph:
        used.add(predicate)
        if isinstance(obj, URIRef):
            used.add(obj)
    return {term for term in used if str(term).startswith((DPV_IRI, EU_GDPR_IRI))}


def assert_terms_defined(graph: Graph, vocabulary: Graph) -> None:
    undefined = {term for term in vocabulary_terms_used(graph) if (term, None, None) not in vocabulary}
    assert not undefined, f"terms not defined by DPV 2.3: {sorted(undefined)}"


def processes(graph: Graph) -> list[URIRef]:
    return list(graph.subjects(RDF.type, DPV.Process))


def purpose_slug(graph: Graph, process: URIRef) -> str:
    return str(graph.value(graph.value(process, DPV.hasPurpose), DCT.identifier))


@pytest.fixture
def register(db):
    organisation = f.OrganisationFactory(cnil_dpo_designation="DPO-12345")
    adhesions = f.full_activity(reference="ADH-01", name="Gestion des adhésions", purposes=3,
                                joint_controllers="Fédération régionale")
    newsletter = f.full_activity(reference="NEWS-02", name="Lettre d'information", purposes=1)
    newsletter.purposes.update(dpv_purpose="dpv:CommunicationForCustomerCare")
    f.full_activity(reference="DRAFT-03", status=m.ProcessingActivity.Status.DRAFT)
    return organisation, [adhesions, newsletter]


def test_one_process_per_purpose_with_its_legal_basis(register):
    _, activities = register
    export = register_export(fmt="jsonld")
    assert export.content_type == "application/ld+json"
    document = json.loads(export.content)
    assert document["@context"]["dpv"] == "https://w3id.org/dpv#"
    assert document["@context"]["eu-gdpr"] == "https://w3id.org/dpv/legal/eu/gdpr#"
    graph = parse(document)

    purposes = {p.slug: p for activity in activities for p in activity.purposes.all()}
    found = processes(graph)
    assert len(found) == len(purposes) == 4
    assert {purpose_slug(graph, process) for process in found} == set(purposes)
    for process in found:
        purpose = purposes[purpose_slug(graph, process)]
        assert set(graph.objects(process, DPV.hasLegalBasis)) == {
            EU_GDPR[m.LEGAL_BASIS_DPV[purpose.legal_basis].split(":")[1]]
        }
        assert str(graph.value(process, DPV.hasLegalBasis)).split("#")[1].startswith("A6-1-")
        node = graph.value(process, DPV.hasPurpose)
        assert Literal(purpose.name_fr, lang="fr") in set(graph.objects(node, RDFS.label))
        assert (node, RDF.type, DPV.CommunicationForCustomerCare if purpose.dpv_purpose else DPV.Purpose) in graph


def test_an_activity_is_titled_in_english_too_when_its_english_name_is_written(register):
    _, (adhesions, newsletter) = register
    m.ProcessingActivity.objects.filter(pk=adhesions.pk).update(name_en="Membership records")
    graph = parse(json.loads(register_export(fmt="jsonld").content))
    titles = {str(graph.value(node, DCT.identifier)): set(graph.objects(node, DCT.title))
              for node in graph.subjects(DCT.title, None)}
    assert titles["ADH-01"] == {Literal("Gestion des adhésions", lang="fr"), Literal("Membership records", lang="en")}
    assert titles["NEWS-02"] == {Literal("Lettre d'information", lang="fr")}


def test_every_vocabulary_term_is_defined_by_dpv(register, vocabulary):
    graph = parse(register_jsonld(organisation=register[0], activities=register[1]))
    assert vocabulary_terms_used(graph) >= {DPV.Process, DPV.hasPurpose, DPV.hasLegalBasis, EU_GDPR["A6-1-a"]}
    assert_terms_defined(graph, vocabulary)


def test_every_seeded_reference_row_exports_defined_terms(reference_data, vocabulary):
    """The seed's dpv_concept values, used as types, must be DPV terms too."""
    activity = f.ActivityFactory(reference="ALL-1")
    f.PurposeFactory(activity=activity, dpv_purpose="dpv:DirectMarketing")
    activity.data_subject_categories.add(*m.DataSubjectCategory.objects.all())
    for category in m.DataCategory.objects.all():
        f.ActivityDataCategoryFactory(activity=activity, category=category)
    activity.security_measures.add(*m.SecurityMeasure.objects.all())
    for recipient_type in m.RecipientType.objects.all():
        activity.recipients.add(f.RecipientFactory(recipient_type=recipient_type))
    countries = list(m.Country.objects.all()) or [f.country()]
    for index, safeguard in enumerate(list(m.TransferSafeguard.objects.all()) + [None]):
        f.TransferFactory(activity=activity, safeguard=safeguard, country=countries[index % len(countries)])
    graph = parse(register_jsonld(organisation=f.OrganisationFactory(), activities=[activity]))
    assert_terms_defined(graph, vocabulary)


def test_controller_and_its_dpo(register):
    organisation, activities = register
    graph = parse(register_jsonld(organisation=organisation, activities=activities))
    [controller] = graph.subjects(RDF.type, DPV.DataController)
    assert graph.value(controller, DPV.hasName) == Literal(organisation.name)
    assert "75004 Paris" in str(graph.value(controller, DPV.hasAddress))
    assert Literal(organisation.email) in set(graph.objects(controller, DPV.hasContact))
    dpo = graph.value(controller, DPV.hasDataProtectionOfficer)
    assert (dpo, RDF.type, DPV.DataProtectionOfficer) in graph
    assert graph.value(dpo, DPV.hasName) == Literal(organisation.dpo_name)
    assert Literal(organisation.dpo_email) in set(graph.objects(dpo, DPV.hasContact))
    for process in processes(graph):
        assert graph.value(process, DPV.hasDataController) == controller


def test_personal_data_subjects_recipients_and_storage(register):
    organisation, activities = register
    graph = parse(register_jsonld(organisation=organisation, activities=activities))
    process = next(p for p in processes(graph) if purpose_slug(graph, p) == activities[0].purposes.first().slug)

    data = {str(graph.value(node, DCT.identifier)): node for node in graph.objects(process, DPV.hasPersonalData)}
    assert set(data) == {"exp-identity", "exp-health"}
    assert (data["exp-health"], RDF.type, DPV.SpecialCategoryPersonalData) in graph  # Art. 9
    assert (data["exp-identity"], RDF.type, DPV.PersonalData) in graph
    assert (data["exp-identity"], RDF.type, DPV.SpecialCategoryPersonalData) not in graph

    [subject] = graph.objects(process, DPV.hasDataSubject)
    assert {DPV.DataSubject, DPV.Member} <= set(graph.objects(subject, RDF.type))

    recipients = list(graph.objects(process, DPV.hasRecipient))
    names = {str(graph.value(r, DPV.hasName)): r for r in recipients}
    assert set(names) == {"Trésorerie", "HébergeurSûr SAS"}
    assert (names["HébergeurSûr SAS"], RDF.type, DPV.DataProcessor) in graph
    assert (names["Trésorerie"], RDF.type, DPV.Recipient) in graph

    storage = graph.value(process, DPV.hasStorageCondition)
    assert (storage, RDF.type, DPV.StorageDuration) in graph
    assert graph.value(storage, RDF.value) == Literal("P36M", datatype=XSD_DURATION)
    assert Literal("3 ans à compter du dernier contact", lang="fr") in set(graph.objects(storage, RDFS.label))

    assert len(set(graph.objects(process, DPV.hasTechnicalOrganisationalMeasure))) == 3
    joint = graph.value(process, DPV.hasJointDataControllers)
    assert (joint, RDF.type, DPV.JointDataControllers) in graph


def test_third_country_transfer_with_its_safeguard(register):
    organisation, activities = register
    graph = parse(register_jsonld(organisation=organisation, activities=activities))
    process = processes(graph)[0]

    [country] = graph.objects(process, DPV.hasThirdCountry)
    assert (country, RDF.type, DPV.ThirdCountry) in graph
    assert Literal("États-Unis", lang="fr") in set(graph.objects(country, RDFS.label))
    [transfer] = graph.objects(process, DPV.hasProcessing)
    assert (transfer, RDF.type, DPV.CrossBorderTransfer) in graph
    assert graph.value(transfer, DPV.hasThirdCountry) == country
    assert set(graph.objects(transfer, DPV.hasLegalBasis)) == {EU_GDPR["A46-2-c"]}  # SCCs, Art. 46(2)(c)
    safeguard = graph.value(transfer, DPV.hasTechnicalOrganisationalMeasure)
    assert Literal("Clauses contractuelles types (CCT)", lang="fr") in set(graph.objects(safeguard, RDFS.label))
    importer = graph.value(transfer, DPV.hasRecipient)
    assert graph.value(importer, DPV.hasName) == Literal("MailCloud Inc.")
    assert graph.value(transfer, DCT.description) == Literal("Contrat du 23/01/2024")


def test_adequacy_without_safeguard_is_art_45(db):
    activity = f.ActivityFactory(reference="T-1")
    f.PurposeFactory(activity=activity)
    f.TransferFactory(activity=activity, safeguard=None, country=f.country("exp-ch", adequacy="adequate"))
    graph = parse(register_jsonld(organisation=None, activities=[activity]))
    [transfer] = graph.subjects(RDF.type, DPV.CrossBorderTransfer)
    assert set(graph.objects(transfer, DPV.hasLegalBasis)) == {EU_GDPR["A45-3"]}
    assert not list(graph.subjects(RDF.type, DPV.DataController))


def test_a_concept_outside_dpv_is_not_emitted(db, vocabulary):
    activity = f.ActivityFactory(reference="T-2")
    f.PurposeFactory(activity=activity, dpv_purpose="pd:NotAPurpose")
    f.ActivityDataCategoryFactory(activity=activity, category=f.data_category(
        "exp-email", dpv_concept="https://w3id.org/dpv/pd#EmailAddress"))
    graph = parse(register_jsonld(organisation=None, activities=[activity]))
    [process] = processes(graph)
    assert (graph.value(process, DPV.hasPurpose), RDF.type, DPV.Purpose) in graph
    assert not any("pd#" in str(term) or "pd:" in str(term) for term in graph.objects(None, RDF.type))
    assert_terms_defined(graph, vocabulary)


def test_query_count_does_not_grow_with_activities(db, django_assert_max_num_queries):
    f.OrganisationFactory()
    f.full_activity(reference="Q-0")
    with CaptureQueriesContext(connection) as queries:
        register_export(fmt="jsonld")
    for index in range(1, 5):
        f.full_activity(reference=f"Q-{index}", purposes=3)
    with django_assert_max_num_queries(len(queries)):
        document = json.loads(register_export(fmt="jsonld").content)
    assert len(queries) <= 14  # organisation, activities and one query per prefetched relation
    assert len(processes(parse(document))) == 2 + 4 * 3  # full_activity makes 2 purposes by default
