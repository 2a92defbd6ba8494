"""Model instances' values as the database stores them, without the ORM's per-field round of
``get_db_prep_save`` where the value already is what the database driver takes (the write paths
that bypass the ORM: COPY and the ledger's one-statement append)."""
from __future__ import annotations

import functools
from operator import attrgetter
from typing import Iterable

from django.db import connection

# Field types whose Python value the driver (and the COPY adapter) takes as is; others go through
# get_db_prep_save.
PLAIN_FIELD_TYPES = {"AutoField", "BigAutoField", "BigIntegerField", "IntegerField", "PositiveIntegerField",
                     "PositiveSmallIntegerField", "SmallIntegerField", "CharField", "EmailField", "SlugField",
                     "TextField", "BooleanField", "DateTimeField", "ForeignKey", "GenericIPAddressField"}


@functools.cache
def _plan(fields: tuple) -> tuple:
    """(getter of the fields' attributes, [(index, field) to prepare])."""
    attnames = [field.attname for field in fields]
    getter = attrgetter(*attnames) if len(attnames) > 1 else (lambda obj: (getattr(obj, attnames[0]),))
    return getter, [(index, field) for index, field in enumerate(fields)
                    if field.get_internal_type() not in PLAIN_FIELD_TYPES]


def rows(objects: Iterable, fields: tuple) -> Iterable[tuple]:
    """Each object's values of these fields (a tuple of model fields), as the database stores them."""
    getter, prepared = _plan(fields)
    for obj in objects:
        values = getter(obj)
        if prepared:
            values = list(values)
            for index, field in prepared:
                values[index] = field.get_db_prep_save(values[index], connection)
            values = tuple(values)
        yield values


def db_values(obj, fields: tuple) -> list:
    """One object's values of these fields, as the database stores them."""
    return list(next(iter(rows([obj], fields))))
