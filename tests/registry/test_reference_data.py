"""The reference tables: seeded by the data migration from the CNIL's lists, corrected to today."""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings

from registry import models as m
from registry.reference_data import reference_rows, seed_reference_data

pytestmark = pytest.mark.django_db

STANDARDS_DIR = Path(os.environ.get("DPO_STANDARDS_DIR", Path(settings.BASE_DIR).parent / "shared" / "standards"))
DPV_FILES = {"dpv": "dpv-2.3-dpv.ttl", "eu-gdpr": "dpv-2.3-eu-gdpr.ttl"}
_ODS_NAME = "cnil-registre-traitement-simplifie.ods"
# The ODS export may ship its own copy of the CNIL model.
CNIL_ODS = next((path for path in (STANDARDS_DIR / _ODS_NAME, Path(settings.BASE_DIR) / "registry" / "exports" / _ODS_NAME)
                 if path.exists()), STANDARDS_DIR / _ODS_NAME)

REFERENCE_MODELS = [m.DataSubjectCategory, m.DataCategory, m.RecipientType, m.SecurityMeasure,
                    m.TransferSafeguard, m.Country, m.Channel]
EU_MEMBER_STATES = {"at", "be", "bg", "cy", "cz", "de", "dk", "ee", "es", "fi", "fr", "gr", "hr", "hu", "ie", "it",
                    "lt", "lu", "lv", "mt", "nl", "pl", "pt", "ro", "se", "si", "sk"}


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"standards file {path} not found (set DPO_STANDARDS_DIR to the shared/standards folder)")
    return path


@lru_cache(maxsize=None)
def _terms_in(prefix: str) -> frozenset[str]:
    text = _require(STANDARDS_DIR / DPV_FILES[prefix]).read_text(encoding="utf-8")
    # Every term a Turtle file defines starts a statement at the beginning of a line.
    return frozenset(re.findall(rf"^({re.escape(prefix)}:[A-Za-z0-9_-]+)\s", text, flags=re.MULTILINE))


def dpv_term_defined(term: str) -> bool:
    """Whether ``term`` (``dpv:X`` or ``eu-gdpr:X``) is defined by the W3C DPV 2.3 files we follow."""
    prefix = term.split(":", 1)[0]
    return prefix in DPV_FILES and term in _terms_in(prefix)


def _row_counts() -> dict[str, int]:
    counts = {}
    for model in REFERENCE_MODELS:
        counts[model.__name__] = model.objects.count()
        counts["Historical" + model.__name__] = model.history.count()
    return counts


def test_migrations_seed_every_reference_table():
    for model_name, rows in reference_rows().items():
        model = django_apps.get_model("registry", model_name)
        assert set(model.objects.values_list("code", flat=True)) == {row["code"] for row in rows}, model_name
    assert m.Country.objects.count() > 200
    assert m.DataCategory.objects.count() >= 20


def test_required_codes_exist():
    assert set(m.DataCategory.objects.values_list("code", flat=True)) >= {
        "identity", "contact_details", "connection", "economic", "images", "health", "bank_details", "nir",
        "personal_life", "professional_life", "location", "internet", "consent_records",
    }
    assert set(m.DataSubjectCategory.objects.values_list("code", flat=True)) >= {
        "customer", "prospect", "member", "donor", "professional_contact", "employee", "job_applicant", "supplier",
        "service_provider", "internal_service", "visitor", "volunteer", "other",
    }
    assert set(m.RecipientType.objects.values_list("code", flat=True)) >= {"internal_service", "processor",
                                                                           "public_authority", "other"}


def test_cnil_order_is_kept():
    codes = list(m.DataSubjectCategory.objects.order_by("position").values_list("code", flat=True))
    cnil = ["employee", "internal_service", "customer", "supplier", "service_provider", "prospect", "job_applicant"]
    assert [code for code in codes if code in cnil] == cnil
    assert codes[-1] == "other"
    labels = list(m.SecurityMeasure.objects.order_by("position").values_list("label_fr", flat=True))
    assert labels[:6] == ["Mesures de traçabilité", "Mesures de protection des logiciels", "Sauvegarde des données",
                          "Chiffrement des données", "Contrôle d'accès des utilisateurs", "Contrôle des sous-traitants"]


def test_art9_categories_are_flagged_and_offences_are_separate():
    special = set(m.DataCategory.objects.filter(special_category=True).values_list("code", flat=True))
    assert special == {"racial_ethnic_origin", "political_opinions", "religious_beliefs", "trade_union_membership",
                       "genetic", "biometric", "health", "sex_life"}
    assert set(m.DataCategory.objects.filter(cnil_group="sensitive").values_list("code", flat=True)) == special
    offences = m.DataCategory.objects.get(code="criminal_offences")
    assert (offences.cnil_group, offences.special_category) == ("offences", False)
    assert m.DataCategory.objects.get(code="images").cnil_group == "identity"
    assert m.DataCategory.objects.get(code="bank_details").cnil_group == "economic"
    assert not m.DataCategory.objects.get(code="identity").special_category


def test_privacy_shield_is_invalid_and_dpf_valid():
    shield = m.TransferSafeguard.objects.get(code="privacy_shield")
    assert shield.is_valid is False
    assert "C-311/18" in shield.validity_note and "16 July 2020" in shield.validity_note
    dpf = m.TransferSafeguard.objects.get(code="eu_us_dpf")
    assert (dpf.is_valid, dpf.gdpr_article) == (True, "45")
    assert "2023/1795" in dpf.label_en
    scc = m.TransferSafeguard.objects.get(code="scc")
    assert (scc.is_valid, scc.gdpr_article) == (True, "46(2)(c)")
    assert "2021/914" in scc.validity_note
    assert m.TransferSafeguard.objects.get(code="bcr").gdpr_article == "47"
    assert m.TransferSafeguard.objects.get(code="art49_derogation").gdpr_article == "49"
    assert list(m.TransferSafeguard.objects.filter(is_valid=False).values_list("code", flat=True)) == ["privacy_shield"]


def test_country_adequacy_is_today_not_2019():
    country = {c.code: c for c in m.Country.objects.all()}
    assert country["us"].adequacy == "adequate_certified"
    assert "2023/1795" in country["us"].adequacy_decision
    for code, decision in {"jp": "2019/419", "kr": "2022/254", "gb": "2021/1772", "ch": "2000/518",
                           "ca": "PIPEDA", "il": "2011/61", "nz": "2013/65", "uy": "2012/484"}.items():
        assert country[code].adequacy == "adequate", code
        assert decision in country[code].adequacy_decision, code
    adequate = {code for code, c in country.items() if c.adequacy == "adequate"}
    assert adequate == {"ad", "ar", "ca", "fo", "gg", "im", "il", "jp", "je", "nz", "kr", "ch", "gb", "uy"}
    assert {code for code, c in country.items() if c.adequacy == "eea"} == EU_MEMBER_STATES | {"is", "li", "no"}
    assert country["fr"].adequacy == "eea"
    for code in ("ma", "in", "cn", "br", "gi", "au"):
        assert country[code].adequacy == "not_adequate", code
    for c in country.values():
        assert c.code == c.iso_code.lower() and len(c.iso_code) == 2 and c.iso_code.isupper(), c.code
        assert c.dpv_concept == ""
        assert c.label_fr and c.label_en


def test_every_country_of_the_cnil_list_is_there_with_its_cnil_label():
    odf_opendocument = pytest.importorskip("odf.opendocument")
    from odf import teletype
    from odf.table import Table, TableCell, TableRow

    doc = odf_opendocument.load(str(_require(CNIL_ODS)))
    sheet = next(t for t in doc.spreadsheet.getElementsByType(Table) if t.getAttribute("name") == "5_-_Listes")
    def values(row) -> list[str]:
        cells = []
        for cell in row.getElementsByType(TableCell):
            repeat = min(int(cell.getAttribute("numbercolumnsrepeated") or 1), 50)
            cells += [teletype.extractText(cell).strip()] * repeat
        return cells

    rows = [values(row) for row in sheet.getElementsByType(TableRow)]
    column = rows[0].index("Pays")
    cnil_countries = [row[column] for row in rows[2:] if len(row) > column and row[column]]
    assert len(cnil_countries) > 150
    labels = set(m.Country.objects.values_list("label_fr", flat=True))
    assert [name for name in cnil_countries if name not in labels] == []


def test_channels():
    channels = {c.code: c for c in m.Channel.objects.all()}
    assert {code for code, c in channels.items() if c.electronic} >= {"email", "sms", "push"}
    assert channels["phone"].electronic is False
    assert channels["postal"].electronic is False
    assert all(c.label_fr and c.label_en for c in channels.values())


def test_security_measure_kinds():
    kinds = dict(m.SecurityMeasure.objects.values_list("code", "kind"))
    assert kinds["encryption"] == kinds["access_control"] == kinds["pseudonymisation"] == "technical"
    assert kinds["processor_control"] == kinds["staff_awareness"] == kinds["confidentiality_agreements"] == "organisational"
    assert "physical_security" in kinds


def test_every_dpv_concept_is_defined_by_dpv_2_3():
    used = []
    for model in REFERENCE_MODELS:
        used += [(model.__name__, code, concept)
                 for code, concept in model.objects.exclude(dpv_concept="").values_list("code", "dpv_concept")]
    assert len(used) > 40
    assert [row for row in used if not dpv_term_defined(row[2])] == []
    assert m.DataSubjectCategory.objects.get(code="customer").dpv_concept == "dpv:Customer"
    assert m.DataCategory.objects.get(code="health").dpv_concept == "dpv:SpecialCategoryPersonalData"


def test_dpv_check_rejects_unknown_terms():
    assert dpv_term_defined("dpv:Customer")
    assert dpv_term_defined("eu-gdpr:A6-1-a")
    assert not dpv_term_defined("dpv:Prospect")
    assert not dpv_term_defined("dpv:Donor")
    assert not dpv_term_defined("schema:Person")


def test_seeding_again_creates_nothing_and_writes_nothing():
    before = _row_counts()
    seed_reference_data(django_apps)
    seed_reference_data(django_apps)
    assert _row_counts() == before


def test_seeding_restores_a_changed_row_and_clears_removed_values():
    shield = m.TransferSafeguard.objects.get(code="privacy_shield")
    shield.is_valid = True
    shield.label_en = "changed"
    shield.dpv_concept = "dpv:Customer"
    shield.save()
    m.Country.objects.filter(code="jp").update(adequacy="not_adequate")
    m.Channel.objects.filter(code="sms").delete()

    seed_reference_data(django_apps)

    shield.refresh_from_db()
    assert (shield.is_valid, shield.label_en, shield.dpv_concept) == (False, "EU-US Privacy Shield", "")
    assert m.Country.objects.get(code="jp").adequacy == "adequate"
    assert m.Channel.objects.get(code="sms").electronic is True
    assert m.TransferSafeguard.objects.filter(code="privacy_shield").count() == 1


def test_seeding_an_empty_table():
    # A transactional test's flush empties the tables: the seed must fill them from nothing.
    m.Country.objects.all().delete()
    seed_reference_data(django_apps)
    assert m.Country.objects.get(code="us").adequacy == "adequate_certified"
    assert m.Country.objects.count() == len(reference_rows()["Country"])
