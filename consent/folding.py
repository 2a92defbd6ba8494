"""Names compared the way people type them: case and accents ignored ("helene" finds "Hélène").

One map, applied the same way in Python (the query typed) and in the database (the stored names):
on PostgreSQL ``translate(lower(name), …)`` then ``replace()`` of each ligature (which an expression
index on the last name serves: migrations 0011 and 0013), on SQLite (the embedded default) a
function registered on each connection. Letters people type as others also fold: "ø" as "o", "ł"
as "l", and the ligatures as their two letters ("laetitia" finds "Lætitia", "coeur" "Cœur")."""
from __future__ import annotations

import functools
import unicodedata

from django.db.backends.signals import connection_created
from django.db.models import CharField, Func
from django.dispatch import receiver


def _accent_map() -> dict[str, str]:
    """Each Latin letter that is a plain letter with accents (Latin-1 and Latin Extended-A: French,
    Spanish, German, Polish, Czech…), upper or lower case, to its plain lower-case letter."""
    mapping = {}
    for code in range(0xC0, 0x180):
        character = chr(code)
        base, *marks = unicodedata.normalize("NFD", character)
        if base.isascii() and base.isalpha() and marks and all(unicodedata.combining(mark) for mark in marks):
            mapping[character] = base.lower()
    return mapping


# Letters that are no accented plain letter, typed as one (both cases: the map comes before lower()).
OTHER_LETTERS = {"Ø": "o", "ø": "o", "Ł": "l", "ł": "l", "Đ": "d", "đ": "d", "Ð": "d", "ð": "d",
                 "Ħ": "h", "ħ": "h", "Ŀ": "l", "ŀ": "l", "Ŧ": "t", "ŧ": "t", "ı": "i", "ſ": "s"}
# Ligatures, typed as two letters: lower case only, as they are replaced after lower() (translate()
# maps one character to one, so PostgreSQL replaces each).
LIGATURES = {"æ": "ae", "œ": "oe", "ß": "ss", "ĳ": "ij", "þ": "th"}

ACCENTS = {**_accent_map(), **OTHER_LETTERS}
_FROM, _TO = "".join(ACCENTS), "".join(ACCENTS.values())
_TABLE = str.maketrans(ACCENTS)
_LIGATURE_TABLE = str.maketrans(LIGATURES)
SQLITE_FUNCTION = "dpo_folded"


def folded(value: str) -> str:
    # The map first: it folds capitals too, and Python's lower() of "İ" is two characters where
    # PostgreSQL's is one. (On a database whose locale is plain "C", lower() leaves the non-ASCII
    # capitals the map does not know, Æ or Ø, as they are: use a UTF-8 locale such as C.UTF-8.)
    return value.translate(_TABLE).lower().translate(_LIGATURE_TABLE)


def sql_folded(column: str) -> str:
    """PostgreSQL's ``folded()`` of ``column``: the very expression of the index of migration 0013,
    so that a search by ``Folded`` uses it."""
    expression = f"translate(lower({column}), '{_FROM}', '{_TO}')"
    for ligature, letters in LIGATURES.items():
        expression = f"replace({expression}, '{ligature}', '{letters}')"
    return expression


class Folded(Func):
    """``folded()`` of a text column, in SQL."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=sql_folded("%(expressions)s"), **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function=SQLITE_FUNCTION, **extra)


@receiver(connection_created, dispatch_uid="consent_folding_sqlite")
def _register_on_sqlite(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 1, _folded_or_none, deterministic=True)


@functools.lru_cache(maxsize=4096)
def _folded_or_none(value):
    return folded(value) if isinstance(value, str) else value
