"""The purpose's retention as contacts read it: one wording for the Art. 13 notice, the receipts,
the access export and the register PDF (Purpose.shown_retention_period / shown_retention)."""
from __future__ import annotations

import pytest
from django.utils.translation import override

from tests.factories import PurposeFactory

pytestmark = pytest.mark.django_db


def test_the_period_in_each_language_with_the_note():
    purpose = PurposeFactory(retention_months=36, retention_start="last_contact",
                             retention_note="Prescription : 3 ans", retention_note_en="Limitation: 3 years")
    with override("en"):
        assert purpose.shown_retention_period == "36 months from last contact"
        assert purpose.shown_retention == "36 months from last contact; Limitation: 3 years"
    with override("fr"):
        assert purpose.shown_retention_period == "36 mois après le dernier contact"
        assert purpose.shown_retention == "36 mois après le dernier contact; Prescription : 3 ans"


def test_one_month_is_singular_and_a_note_alone_stands_alone():
    with override("en"):
        assert PurposeFactory(retention_months=1, retention_start="collection").shown_retention_period \
            == "1 month from collection"
        noted = PurposeFactory(retention_months=None, retention_start="", retention_note="Durée légale")
        assert noted.shown_retention_period == "" and noted.shown_retention == "Durée légale"
