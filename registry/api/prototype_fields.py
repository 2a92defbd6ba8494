"""Serializer fields copied shallowly, for the request bodies the API parses most often.

DRF gives every serializer instance its own fields by deep-copying the declared ones, and a field's
deep copy calls its ``__init__`` again with deep copies of its arguments (a related field's queryset
included): for a body of fifteen fields that is more work than the rest of an API write. A plain
field keeps nothing per request but what ``bind`` sets on it (name, parent, label, source), and a
shallow copy gets those on its own; what it shares with the declared field (validators, messages,
choices, an unevaluated queryset that ``get_queryset`` clones) is only read. Fields with children
(lists, nested serializers, ``many=True``) bind their children too, so they are still deep-copied.
"""
from __future__ import annotations

import copy

from rest_framework import fields as drf_fields
from rest_framework.relations import ManyRelatedField
from rest_framework.serializers import BaseSerializer


def _copied_shallowly(field: drf_fields.Field) -> bool:
    return (type(field).__deepcopy__ is drf_fields.Field.__deepcopy__
            and not isinstance(field, (BaseSerializer, ManyRelatedField, drf_fields.ListField,
                                       drf_fields.DictField, drf_fields.HStoreField))
            and not hasattr(field, "child"))


class PrototypeFieldsMixin:
    """``get_fields`` by shallow copies of the declared fields (see the module's docstring)."""

    def get_fields(self):
        return {name: copy.copy(field) if _copied_shallowly(field) else copy.deepcopy(field)
                for name, field in self._declared_fields.items()}
