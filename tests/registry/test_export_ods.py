"""The register in the CNIL's ODS model, read back with odfpy and compared with the CNIL's file."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from django.db import connection
from django.utils import timezone
from django.test.utils import CaptureQueriesContext
from odf import teletype
from odf.namespaces import OFFICENS, TABLENS
from odf.opendocument import load
from odf.table import Table, TableRow

from registry.exports import register_export
from registry.exports.ods import (
    EXAMPLE_SHEET, LIST_SHEET, LISTS_SHEET, MAX_ROWS, MODEL_SHEET, TEMPLATE_PATH, TUTORIAL_SHEET, register_ods,
)
from registry.models import DataCategory, RecipientType
from tests import factories as f

pytestmark = pytest.mark.django_db

COLUMNS = 12  # A-L: everything the CNIL's sheets fill


def cell_text(cell) -> str:
    """A cell's text without its comment (office:annotation)."""
    return "\n".join(teletype.extractText(child) for child in cell.childNodes
                     if child.qname != (OFFICENS, "annotation")).strip()


def grid(table) -> list[list[str]]:
    """The sheet as rows of COLUMNS texts; the template's long runs of empty rows are left out."""
    rows = []
    for row in table.getElementsByType(TableRow):
        repeat = int(row.attributes.get((TABLENS, "number-rows-repeated"), 1))
        if repeat > 100:
            break
        texts: list[str] = []
        for cell in row.childNodes:
            if cell.qname[1] not in ("table-cell", "covered-table-cell"):
                continue
            texts += [cell_text(cell)] * min(int(cell.attributes.get((TABLENS, "number-columns-repeated"), 1)),
                                             COLUMNS)
        rows += [(texts + [""] * COLUMNS)[:COLUMNS]] * repeat
    return rows


def sheets(content: bytes) -> dict[str, object]:
    doc = load(io.BytesIO(content))
    return {table.getAttribute("name"): table for table in doc.spreadsheet.getElementsByType(Table)}


@pytest.fixture(scope="module")
def cnil_example() -> list[list[str]]:
    """The CNIL's example record sheet, as published."""
    return grid(sheets(TEMPLATE_PATH.read_bytes())[EXAMPLE_SHEET])


@pytest.fixture
def payroll(db):
    """An activity shaped like the CNIL's example (payroll): a main purpose and three sub-purposes,
    three data-category groups, one category of people, three recipients, three measures, one transfer."""
    organisation = f.OrganisationFactory(dpo_address="3 place du Marché", dpo_postal_code="69002",
                                         dpo_city="Lyon", dpo_company="DPO Conseil SARL")
    activity = f.ActivityFactory(reference="PAIE-1", name="Gestion de la paie", started_on=date(2018, 5, 26))
    for index, name in enumerate(["Gestion de la paie", "Calcul des rémunérations",
                                  "Versements aux organismes sociaux", "Ordre de virement à la banque"]):
        f.PurposeFactory(activity=activity, name_fr=name, position=index, legal_basis="legal_obligation",
                         retention_months=60, retention_start="transaction")
    for code, group, description in [("exp-identity", DataCategory.CnilGroup.IDENTITY, "Noms, prénoms, adresses"),
                                     ("exp-bank", DataCategory.CnilGroup.ECONOMIC, "RIB"),
                                     ("exp-nir", DataCategory.CnilGroup.NIR, "Numéros de sécurité sociale")]:
        f.ActivityDataCategoryFactory(activity=activity, description=description, retention="",
                                      category=f.data_category(code, cnil_group=group))
    activity.data_subject_categories.add(f.data_subject_category("exp-employees", label_fr="Salariés"))
    for code, type_label, name in [
        ("exp-internal", "Service interne qui traite les données", "Dir. Administrative et Financière"),
        ("exp-partner", "Partenaires institutionnels ou commerciaux", "Organismes sociaux"),
        ("exp-abroad", "Destinataires dans des pays tiers ou organisations internationales", "Banque d'Andorre"),
    ]:
        activity.recipients.add(f.RecipientFactory(name=name, recipient_type=f.ref(RecipientType, code,
                                                                                   label_fr=type_label)))
    activity.security_measures.add(*(f.security_measure(code, label_fr=label, position=index) for index, (code, label)
                                     in enumerate([("exp-software", "Mesures de protection des logiciels"),
                                                   ("exp-backup", "Sauvegarde des données"),
                                                   ("exp-access", "Contrôle d'accès des utilisateurs")])))
    f.TransferFactory(activity=activity, recipient_name="Banque d'Andorre", documentation="Contrat du 23/01/2018",
                      country=f.country("exp-ad", adequacy="adequate", label_fr="Andorre"),
                      safeguard=f.safeguard("exp-scc", label_fr="Clauses contractuelles types (CCT)"))
    return organisation, activity


def test_sheets_are_tutorial_list_one_per_activity_and_lists(db):
    f.OrganisationFactory()
    f.full_activity(reference="ADH-01")
    f.full_activity(reference="NEWS-02")
    export = register_export(fmt="ods")
    assert export.content_type == "application/vnd.oasis.opendocument.spreadsheet"
    assert list(sheets(export.content)) == [TUTORIAL_SHEET, LIST_SHEET, "ADH-01", "NEWS-02", LISTS_SHEET]


def test_list_sheet_has_the_controller_dpo_and_every_activity(db):
    organisation = f.OrganisationFactory()
    first = f.full_activity(reference="ADH-01", name="Gestion des adhésions", purposes=2)
    f.ActivityFactory(reference="NEWS-02", name="Lettre d'information")
    rows = grid(sheets(register_export(fmt="ods").content)[LIST_SHEET])

    assert rows[0][1:9:2] == ["Nom :", "Prénom :", "Adresse :", "Adresse mél :"]
    assert [rows[0][2], rows[0][6], rows[0][8]] == [organisation.head_name, organisation.address, organisation.email]
    assert [rows[1][2], rows[1][4], rows[1][6]] == [organisation.postal_code, organisation.city, organisation.phone]
    assert rows[4][2] == organisation.dpo_name and rows[5][8] == organisation.dpo_email
    # The CNIL's example row is replaced by ours, one row each.
    assert "(EXEMPLE) Gestion de la paie" not in {row[0] for row in rows}
    assert rows[8][:2] == ["Gestion des adhésions", "ADH-01"]
    assert rows[8][2] == timezone.localdate(first.created_at).strftime("%d/%m/%Y")
    assert rows[8][4] == ", ".join(p.name_fr for p in first.purposes.order_by("position"))
    assert rows[8][7] == "Oui"  # health data
    assert rows[9][:2] == ["Lettre d'information", "NEWS-02"] and rows[9][7] == "Non"
    assert rows[10][:2] == ["", ""]


def test_list_sheet_grows_past_its_prepared_rows(db):
    for index in range(30):
        f.ActivityFactory(reference=f"T-{index:02d}")
    table = sheets(register_export(fmt="ods").content)[LIST_SHEET]
    rows = grid(table)
    assert [row[1] for row in rows[8:38]] == [f"T-{index:02d}" for index in range(30)]
    total = sum(int(row.attributes.get((TABLENS, "number-rows-repeated"), 1))
                for row in table.getElementsByType(TableRow))
    assert total <= MAX_ROWS


def test_record_sheet_is_filled_where_the_cnil_example_is(payroll, cnil_example):
    organisation, activity = payroll
    rows = grid(sheets(register_export(fmt="ods").content)["PAIE-1"])

    # Same layout as the CNIL's example, line for line (both drop the unused lines of the model).
    assert [row[0] for row in rows[2:]] == [row[0] for row in cnil_example[2:]]
    for header in (8, 13, 19, 24, 27, 32, 37):
        assert rows[header][:8] == cnil_example[header][:8]

    assert rows[0][7] == rows[4][1] == "PAIE-1"
    assert rows[3][1] == "Gestion de la paie"
    assert rows[5][1] == "26/05/2018"
    assert rows[9][1:8] == [f"{organisation.name} — {organisation.head_name}", organisation.address,
                            organisation.postal_code, organisation.city, organisation.country,
                            organisation.phone, organisation.email]
    assert rows[10][1:8] == [organisation.dpo_name, "3 place du Marché", "69002", "Lyon", "",
                             organisation.dpo_phone, organisation.dpo_email]
    assert rows[11][1] == "DPO Conseil SARL"
    assert [row[1] for row in rows[14:18]] == [
        "Gestion de la paie — base légale : Obligation légale (art. 6.1.c RGPD)",
        "Calcul des rémunérations — base légale : Obligation légale (art. 6.1.c RGPD)",
        "Versements aux organismes sociaux — base légale : Obligation légale (art. 6.1.c RGPD)",
        "Ordre de virement à la banque — base légale : Obligation légale (art. 6.1.c RGPD)",
    ]
    assert [(row[0], row[1], row[4]) for row in rows[20:23]] == [
        ("État civil, identité, données d'identification, images…", "Noms, prénoms, adresses",
         "5 ans à compter de la transaction"),
        ("Informations d'ordre économique et financier (revenus, situation financière, situation fiscale, etc.)",
         "RIB", "5 ans à compter de la transaction"),
        ("Numéro de Sécurité Sociale (ou NIR)", "Numéros de sécurité sociale", "5 ans à compter de la transaction"),
    ]
    assert rows[25][1] == "Salariés"
    assert [(row[1], row[4]) for row in rows[28:31]] == [
        ("Destinataires dans des pays tiers ou organisations internationales", "Banque d'Andorre"),
        ("Service interne qui traite les données", "Dir. Administrative et Financière"),
        ("Partenaires institutionnels ou commerciaux", "Organismes sociaux"),
    ]
    assert [row[1] for row in rows[33:36]] == [
        "Mesures de protection des logiciels", "Sauvegarde des données", "Contrôle d'accès des utilisateurs",
    ]
    assert [rows[38][i] for i in (1, 2, 3, 5)] == [
        "Banque d'Andorre", "Andorre", "Clauses contractuelles types (CCT)", "Contrat du 23/01/2018",
    ]
    assert not any("Sélectionnez un élément" in text for row in rows for text in row)


def test_more_items_than_the_model_has_lines(db):
    activity = f.full_activity(reference="BIG-1", purposes=8)
    for index in range(5):
        activity.recipients.add(f.RecipientFactory(name=f"Partenaire {index}"))
    rows = grid(sheets(register_export(fmt="ods").content)["BIG-1"])
    labels = [row[0] for row in rows]
    purposes = [p.name_fr for p in activity.purposes.order_by("position")]

    main = labels.index("Finalité principale")
    assert rows[main][1].startswith(purposes[0])
    assert labels[main + 1:main + 8] == [f"Sous-finalité {n}" for n in range(1, 8)]  # the model has 5
    assert [rows[main + n][1].split(" — ")[0] for n in range(1, 8)] == purposes[1:]
    first = labels.index("Destinataire 1")
    assert labels[first:first + 7] == [f"Destinataire {n}" for n in range(1, 8)]  # the model has 4
    assert "HébergeurSûr SAS — Hébergement (France)" in {row[4] for row in rows[first:first + 7]}


def test_sensitive_data_and_transfers_have_their_blocks(db):
    f.OrganisationFactory(representative_name="EU Rep BV", representative_email="rep@example.eu")
    f.full_activity(reference="HEALTH-1", joint_controllers="Fédération régionale")
    plain = f.ActivityFactory(reference="PLAIN-2")
    f.PurposeFactory(activity=plain)
    tables = sheets(register_export(fmt="ods").content)

    health = grid(tables["HEALTH-1"])
    labels = [row[0] for row in health]
    assert "Données sensibles" in labels
    line = health[labels.index("Données de santé")]
    assert (line[1], line[4]) == ("Allergies (sorties)", "Durée de la sortie")
    assert health[labels.index("Représentant")][1] == "EU Rep BV"
    assert health[labels.index("Responsable(s) conjoint(s)")][1] == "Fédération régionale"
    measures = health[labels.index("Mesure de sécurité 3")]
    assert (measures[1], measures[4]) == ("Autres mesures (à préciser)", "Journalisation des accès")
    transfer = health[labels.index("Organisme destinataire 1")]
    assert transfer[1:4] == ["MailCloud Inc.", "États-Unis", "Clauses contractuelles types (CCT)"]

    plain_rows = grid(tables["PLAIN-2"])
    labels = [row[0] for row in plain_rows]
    assert "Données sensibles" not in labels and "Représentant" in labels
    assert "Responsable(s) conjoint(s)" not in labels and "Sous-finalité 1" not in labels
    assert plain_rows[labels.index("Organisme destinataire 1")][1] == "Aucun transfert hors UE"


def test_no_reference_to_the_removed_sheets_is_left(db):
    f.OrganisationFactory()
    f.full_activity(reference="ADH-01")
    content = register_export(fmt="ods").content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read("content.xml").decode() + archive.read("settings.xml").decode()
        manifest = archive.read("META-INF/manifest.xml").decode()
        names = set(archive.namelist())
    assert MODEL_SHEET not in xml and EXAMPLE_SHEET not in xml
    listed = re.findall(r'manifest:full-path="([^"]+)"', manifest)
    assert len(listed) == len(set(listed))
    assert {path for path in listed if path != "/"} <= names


def test_sheet_names_are_valid_and_unique(db):
    long = "REGISTRE-DES-ACTIVITES-DE-TRAITEMENT"  # 36 characters
    f.ActivityFactory(reference=long + "-A")
    f.ActivityFactory(reference=long + "-B")
    f.ActivityFactory(reference="a/b:c")
    names = list(sheets(register_export(fmt="ods").content))[2:-1]
    assert len(set(names)) == 3
    assert all(len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name) for name in names)
    assert "a_b_c" in names


def test_empty_register_still_opens(db):
    content = register_ods(organisation=None, activities=[])
    assert list(sheets(content)) == [TUTORIAL_SHEET, LIST_SHEET, LISTS_SHEET]


def test_query_count_does_not_grow_with_activities(db, django_assert_max_num_queries):
    f.OrganisationFactory()
    f.full_activity(reference="Q-0")
    with CaptureQueriesContext(connection) as queries:
        register_export(fmt="ods")
    for index in range(1, 5):
        f.full_activity(reference=f"Q-{index}", purposes=3)
    with django_assert_max_num_queries(len(queries)):
        register_export(fmt="ods")
    assert len(queries) <= 14  # organisation, activities and one query per prefetched relation
