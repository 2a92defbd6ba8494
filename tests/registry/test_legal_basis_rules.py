"""Rights per legal basis: the DPV table, and what GDPR Arts. 7(3), 17(3), 20(1) and 21(1) say about it."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from registry.models import LEGAL_BASIS_DPV, LegalBasis
from registry.legal_basis_rules import (
    DATA_FILE,
    KIND_ARTICLE,
    LEGAL_BASIS_ARTICLE,
    TABLE,
    kind_applies,
    load_table,
    objection_is_withdrawal,
    rights_for,
)

SHARED_STANDARDS = Path(settings.BASE_DIR).parent / "shared" / "standards"
LEGAL_BASES = [choice.value for choice in LegalBasis]
KINDS = ["access", "rectification", "erasure", "restriction", "portability", "objection"]


@pytest.mark.skipif(not SHARED_STANDARDS.is_dir(), reason="shared standards folder (outside the repo) is absent")
def test_copy_equals_the_shared_standard_byte_for_byte():
    shared = SHARED_STANDARDS / DATA_FILE.name
    assert shared.is_file()
    assert DATA_FILE.read_bytes() == shared.read_bytes()


def test_data_file_lives_in_the_app():
    assert DATA_FILE == Path(settings.BASE_DIR) / "registry" / "data" / "dpv-2.3-legal_basis_rights_mapping.csv"
    assert DATA_FILE.is_file()


def test_legal_basis_codes_match_the_register():
    assert set(LEGAL_BASIS_ARTICLE) == set(LEGAL_BASES)
    assert {code: f"eu-gdpr:{article}" for code, article in LEGAL_BASIS_ARTICLE.items()} == {
        str(code): iri for code, iri in LEGAL_BASIS_DPV.items()
    }


def test_kind_articles():
    assert KIND_ARTICLE == {
        "access": "A15",
        "rectification": "A16",
        "erasure": "A17",
        "restriction": "A18",
        "portability": "A20",
        "objection": "A21",
    }


def test_table_is_loaded_once_and_equals_a_fresh_parse():
    assert load_table() == TABLE
    assert rights_for("consent") is rights_for("consent")


def test_table_has_a_plain_row_for_every_legal_basis():
    assert {f"A6-1-{letter}" for letter in "abcdef"} <= set(TABLE)


def test_sub_rows_agree_with_their_plain_basis_on_request_rights():
    """The explicit/non-explicit consent (and other) sub-rows give the same A7-3, A15..A21 as A6-1-x."""
    relevant = {"A7-3", "A15", "A16", "A17", "A18", "A19", "A20", "A21"}
    sub_rows = {concept: rights for concept, rights in TABLE.items() if concept.count("-") > 2}
    assert {"A6-1-a-explicit-consent", "A6-1-a-non-explicit-consent"} <= set(sub_rows)
    for concept, rights in sub_rows.items():
        plain = concept[: len("A6-1-x")]
        assert rights & relevant == TABLE[plain] & relevant, concept


@pytest.mark.parametrize(("legal_basis", "expected"), [
    ("consent", {"A7-3", "A13", "A14", "A15", "A16", "A17", "A18", "A20", "A22", "A77"}),
    ("contract", {"A13", "A14", "A15", "A16", "A17", "A18", "A20", "A22", "A77"}),
    # No A14 (Art. 14(5)(c): obtaining laid down by law) and no A22 under a legal obligation.
    ("legal_obligation", {"A13", "A15", "A16", "A18", "A77"}),
    ("vital_interests", {"A13", "A14", "A15", "A16", "A17", "A18", "A22", "A77"}),
    ("public_task", {"A13", "A14", "A15", "A16", "A18", "A21", "A22", "A77"}),
    ("legitimate_interests", {"A13", "A14", "A15", "A16", "A17", "A18", "A21", "A22", "A77"}),
])
def test_rights_for(legal_basis, expected):
    assert rights_for(legal_basis) == frozenset(expected)


def test_rights_for_accepts_the_register_enum():
    assert rights_for(LegalBasis.CONSENT) == rights_for("consent")


# Every kind x legal basis pair, from the law; the CSV agrees on all 36.
#  - access (15), rectification (16), restriction (18): no condition on the legal basis.
#  - erasure (17): not "to the extent that processing is necessary" for a legal obligation or a public
#    task (17(3)(b)). Under a public task, 17(1)(c) still allows erasure after a successful Art. 21(1)
#    objection; the DPV table (which we follow) leaves A17 out for A6-1-e, so that case goes through
#    an objection request.
#  - portability (20(1)(a)): only processing based on consent (6(1)(a), 9(2)(a)) or a contract (6(1)(b));
#    20(3) adds that it does not apply to a public task.
#  - objection (21(1)): only processing based on 6(1)(e) or (f). Objecting to direct marketing (21(2))
#    under consent is a withdrawal of consent (7(3)): see objection_is_withdrawal.
EXPECTED = {
    ("access", "consent"): True,
    ("access", "contract"): True,
    ("access", "legal_obligation"): True,
    ("access", "vital_interests"): True,
    ("access", "public_task"): True,
    ("access", "legitimate_interests"): True,
    ("rectification", "consent"): True,
    ("rectification", "contract"): True,
    ("rectification", "legal_obligation"): True,
    ("rectification", "vital_interests"): True,
    ("rectification", "public_task"): True,
    ("rectification", "legitimate_interests"): True,
    ("erasure", "consent"): True,
    ("erasure", "contract"): True,
    ("erasure", "legal_obligation"): False,
    ("erasure", "vital_interests"): True,
    ("erasure", "public_task"): False,
    ("erasure", "legitimate_interests"): True,
    ("restriction", "consent"): True,
    ("restriction", "contract"): True,
    ("restriction", "legal_obligation"): True,
    ("restriction", "vital_interests"): True,
    ("restriction", "public_task"): True,
    ("restriction", "legitimate_interests"): True,
    ("portability", "consent"): True,
    ("portability", "contract"): True,
    ("portability", "legal_obligation"): False,
    ("portability", "vital_interests"): False,
    ("portability", "public_task"): False,
    ("portability", "legitimate_interests"): False,
    ("objection", "consent"): False,
    ("objection", "contract"): False,
    ("objection", "legal_obligation"): False,
    ("objection", "vital_interests"): False,
    ("objection", "public_task"): True,
    ("objection", "legitimate_interests"): True,
}


def test_expected_covers_every_pair():
    assert set(EXPECTED) == {(kind, basis) for kind in KINDS for basis in LEGAL_BASES}
    assert len(EXPECTED) == 36


@pytest.mark.parametrize(("kind", "legal_basis", "applies"),
                         [(kind, basis, applies) for (kind, basis), applies in EXPECTED.items()])
def test_kind_applies(kind, legal_basis, applies):
    assert kind_applies(kind=kind, legal_basis=legal_basis) is applies


@pytest.mark.parametrize(("legal_basis", "expected"), [
    ("consent", True),
    ("contract", False),
    ("legal_obligation", False),
    ("vital_interests", False),
    ("public_task", False),
    ("legitimate_interests", False),
])
def test_objection_is_withdrawal(legal_basis, expected):
    assert objection_is_withdrawal(legal_basis=legal_basis) is expected


def test_withdrawal_only_under_consent():
    assert [basis for basis in LEGAL_BASES if "A7-3" in rights_for(basis)] == ["consent"]


@pytest.mark.parametrize("legal_basis", ["", "Consent", "A6-1-a", "eu-gdpr:A6-1-a", "legitimate_interest"])
def test_unknown_legal_basis_raises(legal_basis):
    with pytest.raises(ValueError):
        rights_for(legal_basis)
    with pytest.raises(ValueError):
        kind_applies(kind="access", legal_basis=legal_basis)
    with pytest.raises(ValueError):
        objection_is_withdrawal(legal_basis=legal_basis)


@pytest.mark.parametrize("kind", ["", "Access", "A15", "withdrawal", "notification"])
def test_unknown_kind_raises(kind):
    with pytest.raises(ValueError):
        kind_applies(kind=kind, legal_basis="consent")


def test_load_table_refuses_a_foreign_file(tmp_path):
    wrong_columns = tmp_path / "columns.csv"
    wrong_columns.write_text('"basis","right"\n"https://w3id.org/dpv/legal/eu/gdpr#A6-1-a","x"\n')
    with pytest.raises(ValueError):
        load_table(wrong_columns)
    wrong_iri = tmp_path / "iri.csv"
    wrong_iri.write_text('"legal_basis","right"\n"https://example.org/A6-1-a","https://w3id.org/dpv/legal/eu/gdpr#A15"\n')
    with pytest.raises(ValueError):
        load_table(wrong_iri)
