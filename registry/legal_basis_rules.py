"""Which data-subject rights apply under which Art. 6(1) legal basis, read from the W3C DPV 2.3 table.

``data/dpv-2.3-legal_basis_rights_mapping.csv`` is an unchanged copy of w3c/dpv
``2.3/legal/eu/gdpr/modules/legal_basis_rights_mapping.csv``: keeping the rule as data lets us follow the
standard instead of re-deriving GDPR Arts. 7(3), 17(3), 20(1) and 21(1) by hand.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

DATA_FILE = Path(__file__).resolve().parent / "data" / "dpv-2.3-legal_basis_rights_mapping.csv"
GDPR_IRI = "https://w3id.org/dpv/legal/eu/gdpr#"

# Our LegalBasis codes (registry.models) -> the DPV concept of the basis, as in registry.models.LEGAL_BASIS_DPV.
LEGAL_BASIS_ARTICLE: Mapping[str, str] = MappingProxyType({
    "consent": "A6-1-a",
    "contract": "A6-1-b",
    "legal_obligation": "A6-1-c",
    "vital_interests": "A6-1-d",
    "public_task": "A6-1-e",
    "legitimate_interests": "A6-1-f",
})

KIND_ARTICLE: dict[str, str] = {
    "access": "A15",
    "rectification": "A16",
    "erasure": "A17",
    "restriction": "A18",
    "portability": "A20",
    "objection": "A21",
}

WITHDRAWAL_ARTICLE = "A7-3"
OBJECTION_ARTICLE = KIND_ARTICLE["objection"]


def load_table(path: Path = DATA_FILE) -> Mapping[str, frozenset[str]]:
    """Parse the DPV CSV into {legal basis concept: rights}, e.g. {"A6-1-a": {"A15", "A7-3", ...}}."""
    rows: dict[str, set[str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["legal_basis", "right"]:
            raise ValueError(f"{path.name}: unexpected columns {reader.fieldnames}")
        for row in reader:
            basis, right = (_concept(row[column], path) for column in ("legal_basis", "right"))
            rows.setdefault(basis, set()).add(right)
    return MappingProxyType({basis: frozenset(rights) for basis, rights in rows.items()})


def _concept(iri: str, path: Path) -> str:
    if not iri.startswith(GDPR_IRI):
        raise ValueError(f"{path.name}: {iri!r} is not an EU GDPR concept of the DPV")
    return iri.removeprefix(GDPR_IRI)


# Parsed once, at import: the file is part of the code and never changes at run time.
TABLE: Mapping[str, frozenset[str]] = load_table()


def rights_for(legal_basis: str) -> frozenset[str]:
    """Articles of the rights a purpose on this legal basis gives (plain A6-1-x rows of the table)."""
    try:
        article = LEGAL_BASIS_ARTICLE[legal_basis]
    except KeyError:
        raise ValueError(f"unknown legal basis {legal_basis!r}") from None
    return TABLE[article]


def kind_applies(*, kind: str, legal_basis: str) -> bool:
    """Whether a request of this kind is a right the data subject has for a purpose on this basis."""
    try:
        article = KIND_ARTICLE[kind]
    except KeyError:
        raise ValueError(f"unknown request kind {kind!r}") from None
    return article in rights_for(legal_basis)


def objection_is_withdrawal(*, legal_basis: str) -> bool:
    """On consent there is no Art. 21 objection, but "I object" is a withdrawal under Art. 7(3)."""
    rights = rights_for(legal_basis)
    return WITHDRAWAL_ARTICLE in rights and OBJECTION_ARTICLE not in rights
