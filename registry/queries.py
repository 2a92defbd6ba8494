"""Query helpers shared by the apps' selectors and services."""
from __future__ import annotations

from collections.abc import Collection

from django.db import connection
from django.db.models import Field, ForeignObject, Lookup, Q


@Field.register_lookup
@ForeignObject.register_lookup
class AnyOf(Lookup):
    """``<column> = ANY(%s)``: the values as ONE array parameter (PostgreSQL only)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs]
        return f"{lhs} = ANY(%s)", (*lhs_params, values)


def in_values(name: str, values: Collection) -> Q:
    """``Q(<name>__in=values)``, on PostgreSQL written ``<name> = ANY(%s)``: for the hundreds of keys
    of an import batch, Django's compiling of an IN list and psycopg's splitting of the query at each
    of its placeholders cost more than PostgreSQL's look-up itself (500 absent contact ids: 2.5 ms
    instead of 5)."""
    lookup = "any_of" if connection.vendor == "postgresql" else "in"
    return Q(**{f"{name}__{lookup}": values})
