import pytest
from django.core.exceptions import ValidationError

from registry import services
from registry.models import PurposeVersion
from tests.factories import PurposeFactory

pytestmark = pytest.mark.django_db


def test_new_purpose_starts_at_version_one_with_its_text_kept():
    purpose = PurposeFactory(text_fr="Texte initial", text_en="Initial text")
    assert purpose.version == 1
    first = purpose.versions.get()
    assert (first.version, first.text_fr, first.text_en, first.change_kind) == (1, "Texte initial", "Initial text", "initial")


def test_text_change_bumps_version_and_keeps_every_earlier_text(dpo_user):
    purpose = PurposeFactory(text_fr="v1 fr", text_en="v1 en")
    services.purpose_update(purpose=purpose, text_fr="v2 fr", change_kind="minor", user=dpo_user)
    services.purpose_update(purpose=purpose, text_en="v3 en", change_kind="material", change_note="new partner",
                            user=dpo_user)
    purpose.refresh_from_db()
    assert purpose.version == 3
    texts = list(purpose.versions.order_by("version").values_list("version", "text_fr", "text_en", "change_kind"))
    assert texts == [(1, "v1 fr", "v1 en", "initial"), (2, "v2 fr", "v1 en", "minor"), (3, "v2 fr", "v3 en", "material")]
    assert purpose.versions.get(version=3).created_by == dpo_user


def test_change_without_text_change_keeps_version():
    purpose = PurposeFactory()
    services.purpose_update(purpose=purpose, retention_months=24)
    purpose.refresh_from_db()
    assert purpose.version == 1
    assert purpose.retention_months == 24
    assert PurposeVersion.objects.filter(purpose=purpose).count() == 1


def test_retention_notes_in_either_language_are_not_versioned():
    """Like the rest of the retention rule, the notes change without a new version or a change kind."""
    purpose = PurposeFactory()
    services.purpose_update(purpose=purpose, retention_note="Prescription : 5 ans",
                            retention_note_en="Limitation period: 5 years")
    purpose.refresh_from_db()
    assert (purpose.version, purpose.retention_note, purpose.retention_note_en) == (
        1, "Prescription : 5 ans", "Limitation period: 5 years")
    assert PurposeVersion.objects.filter(purpose=purpose).count() == 1


def test_text_change_without_saying_how_much_is_refused_and_writes_nothing():
    purpose = PurposeFactory(text_fr="avant")
    with pytest.raises(ValidationError) as excinfo:
        services.purpose_update(purpose=purpose, text_fr="après")
    assert "change_kind" in excinfo.value.message_dict
    purpose.refresh_from_db()
    assert (purpose.text_fr, purpose.version, purpose.versions.count()) == ("avant", 1, 1)


def test_legitimate_interest_purpose_must_say_which_interest():
    with pytest.raises(ValidationError) as excinfo:
        PurposeFactory(legal_basis="legitimate_interests", legitimate_interest="")
    assert "legitimate_interest" in excinfo.value.message_dict


def test_consent_validity_only_for_consent_purposes():
    with pytest.raises(ValidationError) as excinfo:
        PurposeFactory(legal_basis="contract", consent_validity_months=12)
    assert "consent_validity_months" in excinfo.value.message_dict


def test_history_records_each_change():
    purpose = PurposeFactory()
    services.purpose_update(purpose=purpose, retention_months=12)
    assert purpose.history.count() == 2
    assert purpose.history.first().retention_months == 12
