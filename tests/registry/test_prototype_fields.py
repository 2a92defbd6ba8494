"""registry.api.prototype_fields: shallow copies of the declared fields behave as DRF's deep copies."""
import copy

import pytest
from rest_framework import serializers

from consent.api.serializers import CheckQuerySerializer, ConsentEventCreateSerializer
from registry.api.prototype_fields import PrototypeFieldsMixin
from registry.models import DataSubjectCategory
from tests.factories import ContactFactory, consent_purpose


class DeepCopiedEventSerializer(ConsentEventCreateSerializer):
    """The same serializer with DRF's own get_fields: the reference."""

    def get_fields(self):
        return copy.deepcopy(self._declared_fields)


class WithChildren(PrototypeFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=5)
    tags = serializers.ListField(child=serializers.CharField(max_length=3))
    categories = serializers.SlugRelatedField(slug_field="code", many=True,
                                              queryset=DataSubjectCategory.objects.all())


@pytest.fixture
def consent_register(reference_data):
    consent_purpose("newsletter")
    ContactFactory(email="a@example.org")


BODIES = [
    {"email": "a@example.org", "purpose": "newsletter", "channel": "email", "action": "granted", "method": "api"},
    {"email": "a@example.org", "purpose": "nope", "channel": "email", "action": "granted", "method": "api"},
    {"phone": "12", "purpose": "newsletter", "channel": "fax", "action": "sideways", "method": "api",
     "evidence_ip": "999.1.1.1", "language": "de", "collection_form": "x" * 81},
    {"contact_id": 0, "email": "b@example.org", "purpose": "newsletter", "channel": "email",
     "action": "withdrawn", "method": "api", "effective_at": "not a date"},
    {},
]


@pytest.mark.django_db
@pytest.mark.parametrize("body", BODIES)
def test_validation_and_errors_equal_drfs_own_deep_copies(body, consent_register):
    fast, reference = ConsentEventCreateSerializer(data=body), DeepCopiedEventSerializer(data=body)
    assert fast.is_valid() == reference.is_valid()
    assert fast.errors == reference.errors
    if not reference.errors:
        assert fast.validated_data == reference.validated_data


@pytest.mark.django_db
def test_each_instance_has_its_own_bound_fields(consent_register):
    first, second = CheckQuerySerializer(data={}), CheckQuerySerializer(data={})
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
        assert first.fields[name] is not CheckQuerySerializer._declared_fields[name]
        assert CheckQuerySerializer._declared_fields[name].parent is None  # the declared field stays unbound


@pytest.mark.django_db
def test_fields_with_children_are_still_deep_copied():
    first, second = WithChildren(data={}), WithChildren(data={})
    assert first.fields["tags"].child is not second.fields["tags"].child
    assert first.fields["tags"].child.parent is first.fields["tags"]
    assert first.fields["categories"].child_relation is not second.fields["categories"].child_relation
    # A plain field shares its (read-only) validators with the declared one, never its binding.
    assert first.fields["name"].validators is WithChildren._declared_fields["name"].validators
    assert not WithChildren(data={"name": "toolong", "tags": ["abcd"], "categories": []}).is_valid()
