"""System check: a field that looks personal must be declared in the data map (or exempted)."""
from __future__ import annotations

import re

from django.apps import apps
from django.core import checks

from .datamap import datamap

PERSONAL_FIELD = re.compile(
    r"(^|_)(e?mail|email_address|phone|mobile|telephone|first_name|last_name|surname|given_name|"
    r"full_name|birth|birthdate|date_of_birth|address|street|ip|ip_address|user_agent|iban|nir)($|_)"
)
# Framework tables outside the register's scope; each reason is shown by the data-map page.
FRAMEWORK_APPS = {"admin", "contenttypes", "sessions", "django_celery_beat", "authtoken"}


def looks_personal(field_name: str) -> bool:
    return bool(PERSONAL_FIELD.search(field_name))


def undeclared_personal_fields(model) -> list[str]:
    if model._meta.app_label in FRAMEWORK_APPS or datamap.is_exempt(model):
        return []
    source = datamap.source_for(model)
    declared = set(source.fields) if source else set()
    return [
        f.name
        for f in model._meta.concrete_fields
        if looks_personal(f.name) and f.name not in declared
    ]


@checks.register("dpo_desk")
def check_personal_fields_declared(app_configs=None, **kwargs):
    errors = []
    for model in apps.get_models():
        missing = undeclared_personal_fields(model)
        if missing:
            errors.append(
                checks.Error(
                    f"{model._meta.label} has field(s) that look personal but are not in the data map: "
                    f"{', '.join(missing)}.",
                    hint=(
                        "Declare the model in its app's privacy.py with datamap.declare(...) "
                        "listing these fields, or datamap.exempt(model, reason=...)."
                    ),
                    obj=model,
                    id="registry.E001",
                )
            )
    return errors
