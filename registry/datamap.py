"""The personal-data source registry (the data map).

Each app declares, in its ``privacy.py``, every model holding personal data: how to find
one subject's records from a contact, which fields hold what category of data, how each
field is anonymised, and which purposes the data serves. Export, rectification, erasure
and retention walk this registry; nothing keeps a hand-made list of tables.
Modelled on ``django.contrib.admin.sites.AdminSite.register`` and its autodiscovery.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from django.conf import settings
from django.db import models
from django.utils.module_loading import autodiscover_modules


class Strategy:
    """How a field is anonymised. ``apply`` returns the value to store instead."""

    code = "strategy"

    def apply(self, value: Any, *, field: models.Field) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return self.code


class Blank(Strategy):
    code = "blank"

    def apply(self, value: Any, *, field: models.Field) -> Any:
        return None if field.null else ""


class FixedToken(Strategy):
    code = "token"

    def __init__(self, token: str = "anonymised") -> None:
        self.token = token

    def apply(self, value: Any, *, field: models.Field) -> Any:
        return self.token

    def describe(self) -> str:
        return f"token:{self.token}"


class KeyedHash(Strategy):
    """HMAC-SHA256 with the settings' key: lets a later match be made without the clear value."""

    code = "hash"

    def apply(self, value: Any, *, field: models.Field) -> Any:
        if value in (None, ""):
            return value
        key = getattr(settings, "PSEUDONYMISATION_KEY", settings.SECRET_KEY).encode()
        digest = hmac.new(key, str(value).strip().lower().encode(), hashlib.sha256).hexdigest()
        max_length = getattr(field, "max_length", None)
        return digest[:max_length] if max_length else digest


class TruncateDate(Strategy):
    code = "truncate_date"

    def __init__(self, to: str = "year") -> None:
        if to not in {"year", "month"}:
            raise ValueError("TruncateDate keeps a 'year' or a 'month'")
        self.to = to

    def apply(self, value: Any, *, field: models.Field) -> Any:
        if value is None:
            return None
        kwargs = {"day": 1} if self.to == "month" else {"month": 1, "day": 1}
        if isinstance(value, datetime):
            return value.replace(hour=0, minute=0, second=0, microsecond=0, **kwargs)
        if isinstance(value, date):
            return value.replace(**kwargs)
        return value

    def describe(self) -> str:
        return f"truncate_date:{self.to}"


@dataclass(frozen=True)
class PersonalField:
    """One personal field of a source: its data category (a DataCategory code) and anonymisation."""

    category: str
    anonymise: Strategy = field(default_factory=Blank)
    export: bool = True


# From a contact (or any subject object) to the queryset of this source's records for them.
SubjectLookup = Callable[[Any], models.QuerySet]


@dataclass
class Source:
    model: type[models.Model]
    fields: dict[str, PersonalField]
    purposes: list[str]
    subject: SubjectLookup | None
    description: str = ""
    history_model: type[models.Model] | None = None
    # The field that dates the anonymisation of a record (set by registry.erasure), if any.
    anonymised_marker: str = ""
    # Called with the ids of the records just anonymised, in the same transaction: what the owning
    # app derives from them (e.g. whether a contact can still be reached) follows.
    after_anonymise: Callable[[list[Any]], None] | None = None

    @property
    def label(self) -> str:
        return self.model._meta.label


@dataclass(frozen=True)
class Exemption:
    model: type[models.Model]
    reason: str


class AlreadyDeclared(Exception):
    pass


class DataMap:
    def __init__(self) -> None:
        self._registry: dict[type[models.Model], Source] = {}
        self._exemptions: dict[type[models.Model], Exemption] = {}

    def declare(
        self,
        model: type[models.Model],
        *,
        fields: dict[str, PersonalField],
        purposes: list[str],
        subject: SubjectLookup | None,
        description: str = "",
        anonymised_marker: str = "",
        after_anonymise: Callable[[list[Any]], None] | None = None,
    ) -> Source:
        """Declare ``model`` as a source of personal data. Its simple-history table is covered too.
        ``anonymised_marker`` and ``after_anonymise``: see Source."""
        if model in self._registry or model in self._exemptions:
            raise AlreadyDeclared(f"{model._meta.label} is already in the data map")
        named = [*fields, *([anonymised_marker] if anonymised_marker else [])]
        unknown = [name for name in named if name not in {f.name for f in model._meta.get_fields()}]
        if unknown:
            raise ValueError(f"{model._meta.label} has no field(s) {', '.join(unknown)}")
        history = getattr(model, "history", None)
        history_model = getattr(history, "model", None) if history is not None else None
        source = Source(model, fields, list(purposes), subject, description, history_model, anonymised_marker,
                        after_anonymise)
        self._registry[model] = source
        return source

    def exempt(self, model: type[models.Model], *, reason: str) -> None:
        """Leave ``model`` out of the data map, with the reason written down for the DPO."""
        if not reason.strip():
            raise ValueError("An exemption needs a written reason")
        if model in self._registry or model in self._exemptions:
            raise AlreadyDeclared(f"{model._meta.label} is already in the data map")
        self._exemptions[model] = Exemption(model, reason)

    def sources(self) -> list[Source]:
        return sorted(self._registry.values(), key=lambda s: s.label)

    def exemptions(self) -> list[Exemption]:
        return sorted(self._exemptions.values(), key=lambda e: e.model._meta.label)

    def source_for(self, model: type[models.Model]) -> Source | None:
        if model in self._registry:
            return self._registry[model]
        for source in self._registry.values():
            if source.history_model is model:
                return source
        return None

    def is_exempt(self, model: type[models.Model]) -> bool:
        if model in self._exemptions:
            return True
        base = getattr(model, "instance_type", None)  # simple-history models point at their base
        return base in self._exemptions if base else False


datamap = DataMap()


def autodiscover() -> None:
    autodiscover_modules("privacy", register_to=datamap)


def anonymised_values(source: Source, record: models.Model) -> dict[str, Any]:
    """What each declared personal field of ``record`` becomes under its strategy."""
    return {
        name: spec.anonymise.apply(getattr(record, name), field=record._meta.get_field(name))
        for name, spec in source.fields.items()
    }
