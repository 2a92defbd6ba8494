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
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from django.conf import settings
from django.db import models
from django.utils.module_loading import autodiscover_modules
from django.utils.text import slugify
from django.utils.translation import gettext as _


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


# A source's slug names its files in an access export (csv/<slug>.csv): readable, stable, the same in every language.
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
HISTORY_SLUG_SUFFIX = "-history"


@dataclass
class Source:
    model: type[models.Model]
    fields: dict[str, PersonalField]
    # Slugs of the register's purposes these records serve (resolved by slug: no database id in code).
    purposes: list[str]
    subject: SubjectLookup | None
    description: str = ""  # for the DPO and the data subject: a gettext_lazy string
    history_model: type[models.Model] | None = None
    # The field that dates the anonymisation of a record (set by registry.erasure), if any.
    anonymised_marker: str = ""
    # Called with the ids of the records just anonymised, in the same transaction: what the owning
    # app derives from them (e.g. whether a contact can still be reached) follows.
    after_anonymise: Callable[[list[Any]], None] | None = None
    slug: str = ""
    title: str = ""  # gettext_lazy; empty: the model's verbose_name_plural
    # False when what a legal obligation of its purposes requires keeping (the proof) survives the declared
    # anonymisation (keyed digests, references, dates): erasure then anonymises instead of keeping (registry.erasure).
    legal_hold: bool = True

    @property
    def label(self) -> str:
        return self.model._meta.label

    def slug_for(self, model: type[models.Model]) -> str:
        """The slug of this source's table, or of its simple-history table."""
        return f"{self.slug}{HISTORY_SLUG_SUFFIX}" if model is self.history_model else self.slug

    def title_for(self, model: type[models.Model]) -> str:
        """What the data subject reads for this source's table or its history table, in the current
        language (simple-history's own "historical …" names are not translated)."""
        title = str(self.title or self.model._meta.verbose_name_plural)
        if model is self.history_model:
            return _("%(source)s: history of changes") % {"source": title}
        return title


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
        slug: str = "",
        title: str = "",
        legal_hold: bool = True,
    ) -> Source:
        """Declare ``model`` as a source of personal data. Its simple-history table is covered too.
        ``slug`` (default: from the model's label) names its export files, ``<slug>-history`` its history's;
        ``title`` (default: the model's verbose_name_plural), ``anonymised_marker``, ``after_anonymise``
        and ``legal_hold``: see Source."""
        if model in self._registry or model in self._exemptions:
            raise AlreadyDeclared(f"{model._meta.label} is already in the data map")
        named = [*fields, *([anonymised_marker] if anonymised_marker else [])]
        unknown = [name for name in named if name not in {f.name for f in model._meta.get_fields()}]
        if unknown:
            raise ValueError(f"{model._meta.label} has no field(s) {', '.join(unknown)}")
        history = getattr(model, "history", None)
        history_model = getattr(history, "model", None) if history is not None else None
        slug = slug or slugify(model._meta.label.replace(".", "-").replace("_", "-"))
        self._check_slug(slug, model, history_model)
        source = Source(model, fields, list(purposes), subject, description, history_model, anonymised_marker,
                        after_anonymise, slug=slug, title=title, legal_hold=legal_hold)
        self._registry[model] = source
        return source

    def _check_slug(self, slug: str, model: type[models.Model], history_model: type[models.Model] | None) -> None:
        if not SLUG_PATTERN.match(slug):
            raise ValueError(f"{model._meta.label}: the slug {slug!r} is not lower-case words joined by hyphens")
        wanted = {slug, f"{slug}{HISTORY_SLUG_SUFFIX}"} if history_model is not None else {slug}
        taken = {s.slug_for(m) for s in self._registry.values() for m in (s.model, s.history_model) if m is not None}
        if wanted & taken:
            raise ValueError(f"{model._meta.label}: the slug {slug!r} names another source's files already")

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
