"""Every model pointing at a Contact is in the data map (declared or exempted with a reason),
so export, erasure and retention cannot miss it (design §2)."""
from django.apps import apps
from django.db import models

from consent.models import Contact
from registry.datamap import datamap


def test_every_model_with_a_foreign_key_to_contact_is_in_the_data_map():
    missing = []
    for model in apps.get_models():
        points_at_contact = any(
            isinstance(field, models.ForeignKey) and field.related_model is Contact
            for field in model._meta.get_fields()
        )
        if points_at_contact and datamap.source_for(model) is None and not datamap.is_exempt(model):
            missing.append(model._meta.label)
    assert not missing, (
        f"{', '.join(missing)} point(s) at Contact but are not in the data map. Declare each in its app's "
        "privacy.py with datamap.declare(Model, fields=..., purposes=..., subject=lambda contact: ...) or "
        "datamap.exempt(Model, reason='why it holds no personal data')."
    )


def test_contact_and_its_history_are_declared():
    source = datamap.source_for(Contact)
    assert {"email", "phone", "first_name", "last_name"} <= set(source.fields)
    assert datamap.source_for(Contact.history.model) is source
