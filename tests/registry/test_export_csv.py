"""The register as CSV for Excel (CNIL model columns), read back with csv.reader."""
from __future__ import annotations

import codecs
import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.utils import timezone
from django.test.utils import CaptureQueriesContext
from django.utils.translation import override

from registry import selectors
from registry.exports import register_export
from registry.exports.csv_export import CSV_COLUMNS, register_csv
from registry.models import DataCategory, ProcessingActivity, Purpose
from tests import factories as f

pytestmark = pytest.mark.django_db


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(codecs.BOM_UTF8), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))


def as_dicts(content: bytes) -> dict[str, dict[str, str]]:
    header, *rows = read_csv(content)
    return {row[1]: dict(zip(header, row, strict=True)) for row in rows}


@pytest.fixture
def register(db):
    organisation = f.OrganisationFactory()
    adhesions = f.full_activity(reference="ADH-01", name="Gestion des adhésions", purposes=3)
    f.ActivityDataCategoryFactory(
        activity=adhesions, description="RIB", retention="",
        category=f.data_category("exp-bank", cnil_group=DataCategory.CnilGroup.ECONOMIC,
                                 label_fr="Coordonnées bancaires", label_en="Bank details"),
    )
    f.full_activity(reference="NEWS-02", name="Lettre d'information", purposes=1)
    f.full_activity(reference="DRAFT-03", status=ProcessingActivity.Status.DRAFT)
    f.full_activity(reference="OLD-04", status=ProcessingActivity.Status.RETIRED)
    return organisation, adhesions


def test_header_row_is_the_cnil_columns(register):
    header, *_ = read_csv(register_export(fmt="csv").content)
    assert header == CSV_COLUMNS
    assert header[:2] == ["Nom du traitement", "N° / RÉF"]
    assert "Données sensibles" in header and "Transferts hors UE" in header


def test_one_row_per_active_activity(register):
    export = register_export(fmt="csv")
    assert export.content_type == "text/csv; charset=utf-8"
    assert export.filename.endswith(".csv")
    _, *rows = read_csv(export.content)
    assert [row[1] for row in rows] == ["ADH-01", "NEWS-02"]  # no draft, no retired activity
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)


def test_cells_carry_the_record(register):
    organisation, adhesions = register
    row = as_dicts(register_export(fmt="csv").content)["ADH-01"]
    purposes = list(adhesions.purposes.order_by("position"))

    assert row["Nom du traitement"] == "Gestion des adhésions"
    assert organisation.name in row["Responsable du traitement"]
    assert organisation.dpo_name in row["Délégué à la protection des données"]
    assert organisation.dpo_email in row["Délégué à la protection des données"]
    assert row["Finalité principale"] == purposes[0].name_fr
    assert row["Sous-finalités"].split("\n") == [p.name_fr for p in purposes[1:]]
    bases = row["Base(s) légale(s)"].split("\n")
    assert bases[0] == f"{purposes[0].name_fr} : Consentement (art. 6.1.a RGPD)"
    assert bases[1].startswith(f"{purposes[1].name_fr} : Intérêt légitime (art. 6.1.f RGPD)")
    assert "Faire connaître nos activités" in bases[1]  # the interest pursued, Art. 13(1)(d)
    assert bases[2] == f"{purposes[2].name_fr} : Exécution d'un contrat (art. 6.1.b RGPD)"
    assert row["Catégories de personnes concernées"] == "Adhérents"

    # Each category in the column of its CNIL group.
    assert row["État civil, identité, données d'identification, images"] == "État civil : Nom, prénom"
    assert row["Informations d'ordre économique et financier"] == "Coordonnées bancaires : RIB"
    assert row["Données sensibles"] == "Données de santé : Allergies (sorties)"
    assert row["Vie personnelle"] == row["NIR"] == row["Infractions"] == ""

    assert row["Destinataires"] == "Service interne qui traite les données : Trésorerie — Appels de cotisation"
    assert row["Sous-traitants"] == "HébergeurSûr SAS (Hébergement, France)"
    assert row["Transferts hors UE"] == (
        "MailCloud Inc., États-Unis, Clauses contractuelles types (CCT) — Contrat du 23/01/2024"
    )
    retention = row["Durées de conservation"].split("\n")
    assert f"{purposes[0].name_fr} : 3 ans à compter du dernier contact" in retention
    assert "État civil : 3 ans après la fin de l'adhésion" in retention
    assert row["Mesures de sécurité"].split("\n") == [
        "Sauvegarde des données", "Chiffrement des données", "Journalisation des accès",
    ]
    assert row["AIPD"] == "Requise, non réalisée"
    assert row["Date de création"] == timezone.localdate(adhesions.created_at).isoformat()


def test_the_retention_note_is_the_french_one_in_any_language(register):
    """The CNIL model is in French: the English note, shown to contacts, stays out of the CSV."""
    _organisation, adhesions = register
    purpose = adhesions.purposes.order_by("position").first()
    Purpose.objects.filter(pk=purpose.pk).update(retention_note="Prescription : 5 ans",
                                                 retention_note_en="Limitation period: 5 years")
    with override("en"):
        retention = as_dicts(register_export(fmt="csv").content)["ADH-01"]["Durées de conservation"]
    assert f"{purpose.name_fr} : 3 ans à compter du dernier contact (Prescription : 5 ans)" in retention.split("\n")
    assert "Limitation period" not in retention


def test_transfer_without_safeguard_says_so(db):
    activity = f.ActivityFactory(reference="T-1")
    f.TransferFactory(activity=activity, recipient_name="Cloud Ltd", safeguard=None,
                      country=f.country("exp-in", adequacy="not_adequate", label_fr="Inde"))
    f.TransferFactory(activity=activity, recipient_name="Shop Inc", safeguard=None, dpf_certified=True,
                      country=f.country("exp-us", adequacy="adequate_certified", label_fr="États-Unis"))
    row = as_dicts(register_csv(organisation=None, activities=[activity]))["T-1"]
    assert row["Transferts hors UE"].split("\n") == [
        "Cloud Ltd, Inde, Aucune garantie", "Shop Inc, États-Unis, Pays adéquat",
    ]
    assert row["Responsable du traitement"] == row["Délégué à la protection des données"] == ""


def test_semicolons_quotes_and_newlines_survive_a_round_trip(db):
    organisation = f.OrganisationFactory(name='Les "Amis"; du Patrimoine')
    activity = f.ActivityFactory(reference="T-2", name="Dons; legs\net libéralités", dpia_done_on=date(2026, 3, 1))
    f.PurposeFactory(activity=activity, name_fr='Reçus fiscaux; "CERFA"\nannuels')
    activity.recipients.add(f.RecipientFactory(name="Trésorier; bénévole", description="ligne 1\nligne 2"))
    content = register_csv(organisation=organisation, activities=[activity])

    rows = read_csv(content)
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Nom du traitement"] == "Dons; legs\net libéralités"
    assert row["Finalité principale"] == 'Reçus fiscaux; "CERFA"\nannuels'
    assert row["Responsable du traitement"].startswith('Les "Amis"; du Patrimoine')
    assert row["Destinataires"].endswith("Trésorier; bénévole — ligne 1\nligne 2")
    assert row["AIPD"] == "Réalisée le 2026-03-01"
    # Excel's separator is ";" (French settings); the file ends each record with CRLF.
    assert content.decode("utf-8-sig").splitlines()[0].count(";") == len(CSV_COLUMNS) - 1
    assert b"\r\n" in content


def test_a_value_excel_would_run_as_a_formula_is_made_text(db):
    activity = f.ActivityFactory(reference="T-3", name="=HYPERLINK(\"http://evil.example\";\"clic\")")
    row = as_dicts(register_csv(organisation=None, activities=[activity]))["T-3"]
    assert row["Nom du traitement"] == "'=HYPERLINK(\"http://evil.example\";\"clic\")"


def test_retired_purposes_are_left_out(db):
    activity = f.ActivityFactory(reference="T-4")
    f.PurposeFactory(activity=activity, name_fr="Actuelle", position=0)
    f.PurposeFactory(activity=activity, name_fr="Abandonnée", position=1, status="retired")
    activities = list(selectors.activities_for_export())
    row = as_dicts(register_csv(organisation=None, activities=activities))["T-4"]
    assert row["Finalité principale"] == "Actuelle"
    assert row["Sous-finalités"] == ""


def export_queries(fmt: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        register_export(fmt=fmt)
    return len(queries)


def test_query_count_does_not_grow_with_activities(db, django_assert_max_num_queries):
    f.OrganisationFactory()
    f.full_activity(reference="Q-0")
    one = export_queries("csv")
    for index in range(1, 5):
        f.full_activity(reference=f"Q-{index}", purposes=3)
    assert len(selectors.activities_for_export()) == 5
    with django_assert_max_num_queries(one):
        register_export(fmt="csv")
    assert one <= 14  # organisation, activities and one query per prefetched relation
