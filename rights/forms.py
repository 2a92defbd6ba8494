"""The public rights-request form and the requester's answer form. They parse and check input;
rights.services files the request and holds the rules."""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from consent.models import Contact
from consent.normalise import normalise_email, normalise_phone
from registry.models import ProcessingActivity, Purpose
from registry.validators import SCANNED_DOCUMENT_MAX_BYTES, validate_scanned_document

from .models import Capacity, Kind
from .services import RECTIFIABLE_FIELDS, rectification_value_check

# Rows of "field to correct / new value": a fixed number so the form works without JavaScript.
RECTIFICATION_ROWS = 3
KINDS_WITH_PURPOSES = (Kind.OBJECTION, Kind.RESTRICTION)
HONEYPOT_FIELD = "website"


# How the requester reads the contact fields (the model's names are staff's, e.g. "phone (E.164)").
PUBLIC_FIELD_LABELS = {
    "first_name": _("first name"),
    "last_name": _("last name"),
    "email": _("email address"),
    "phone": _("phone number"),
    "address_line1": _("postal address"),
    "address_line2": _("postal address (continued)"),
    "postal_code": _("postal code"),
    "city": _("city"),
    "country": _("country"),
    "language": _("language of our messages"),
}


def rectifiable_field_choices() -> list[tuple[str, str]]:
    """The contact fields a requester may ask to correct, with their translated labels."""
    return [(name, PUBLIC_FIELD_LABELS.get(name) or Contact._meta.get_field(name).verbose_name)
            for name in RECTIFIABLE_FIELDS]


class PurposeChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Purpose) -> str:
        return obj.name


class RightsRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("What do you want to do?"), choices=Kind.choices, widget=forms.RadioSelect)
    requester_name = forms.CharField(label=_("Your name"), max_length=255)
    requester_email = forms.EmailField(
        label=_("Your email"), max_length=254,
        help_text=_("We send you a link to confirm that this address is yours, then our answer."))
    requester_phone = forms.CharField(label=_("Your phone (optional)"), max_length=40, required=False)
    customer_reference = forms.CharField(
        label=_("Customer, member or donor number (optional)"), max_length=120, required=False,
        help_text=_("It helps us find your records."))
    details = forms.CharField(
        label=_("Details (optional)"), required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Anything that helps us handle your request."))
    purposes = PurposeChoiceField(
        label=_("Uses of your data concerned (optional)"), required=False, queryset=Purpose.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For an objection or a restriction. Tick none to mean all of them."))
    on_behalf = forms.BooleanField(label=_("I am making this request on behalf of someone else"), required=False)
    subject_name = forms.CharField(label=_("Name of the person you represent"), max_length=255, required=False)
    representative_capacity = forms.ChoiceField(
        label=_("You act as"), required=False, choices=[("", "—"), *Capacity.choices])
    # The proof of mandate is a scanned document: the rule shared with consent's paper forms.
    mandate_document = forms.FileField(
        label=_("Proof of your mandate"), required=False, validators=[validate_scanned_document],
        help_text=_("PDF, JPEG or PNG, %(size)s at most: power of attorney, family record book, certificate of "
                    "inheritance…") % {"size": filesizeformat(SCANNED_DOCUMENT_MAX_BYTES)})
    # Honeypot: hidden from people, filled by robots. A filled one files nothing.
    website = forms.CharField(label=_("Leave this field empty"), required=False,
                              widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purposes"].queryset = (
            Purpose.objects.filter(status=Purpose.Status.ACTIVE, activity__status=ProcessingActivity.Status.ACTIVE)
            .select_related("activity"))
        choices = [("", "—"), *rectifiable_field_choices()]
        for row in range(1, RECTIFICATION_ROWS + 1):
            # The table's headers name the columns; each control also has its own label, with its row,
            # for screen readers (the template renders it visually hidden).
            self.fields[f"fix_field_{row}"] = forms.ChoiceField(
                label=_("Data to correct (row %(row)d)") % {"row": row}, choices=choices, required=False)
            self.fields[f"fix_value_{row}"] = forms.CharField(
                label=_("Correct value (row %(row)d)") % {"row": row}, max_length=255, required=False)

    def rectification_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"fix_field_{row}"], self[f"fix_value_{row}"]) for row in range(1, RECTIFICATION_ROWS + 1)]

    def is_honeypot_filled(self) -> bool:
        return bool((self.data.get(HONEYPOT_FIELD) or "").strip())

    def clean_requester_email(self) -> str:
        try:
            return normalise_email(self.cleaned_data["requester_email"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_requester_phone(self) -> str:
        try:
            return normalise_phone(self.cleaned_data.get("requester_phone", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        changes = []
        if kind == Kind.RECTIFICATION:
            seen: set[str] = set()
            for row in range(1, RECTIFICATION_ROWS + 1):
                field, value = data.get(f"fix_field_{row}") or "", (data.get(f"fix_value_{row}") or "").strip()
                if field and not value:
                    self.add_error(f"fix_value_{row}", _("Give the correct value."))
                elif value and not field:
                    self.add_error(f"fix_field_{row}", _("Choose the data to correct."))
                elif field and field in seen:
                    self.add_error(f"fix_field_{row}", _("This data is already in another row."))
                elif field:
                    seen.add(field)
                    try:  # the rules the contact's update applies, in its normal form ("06…" -> "+336…")
                        changes.append((field, rectification_value_check(field=field, value=value)))
                    except ValidationError as exc:
                        self.add_error(f"fix_value_{row}", exc.messages)
            if not changes and not any(f"fix_{part}_{row}" in self.errors for part in ("field", "value")
                                       for row in range(1, RECTIFICATION_ROWS + 1)):
                self.add_error("fix_field_1", _("Say which data to correct and the correct value."))
        data["rectifications"] = changes
        if kind not in KINDS_WITH_PURPOSES:
            data["purposes"] = []
        if data.get("on_behalf"):
            if not (data.get("subject_name") or "").strip():
                self.add_error("subject_name", _("Give the name of the person you represent."))
            if not data.get("representative_capacity"):
                self.add_error("representative_capacity", _("Say in what capacity you act."))
            if not data.get("mandate_document") and "mandate_document" not in self.errors:
                self.add_error("mandate_document", _("Attach the proof of your mandate."))
        return data

    def service_arguments(self) -> dict:
        """The keyword arguments of services.rights_request_create this form gathered."""
        data = self.cleaned_data
        on_behalf = bool(data.get("on_behalf"))
        return {
            "kind": data["kind"],
            "requester_name": data["requester_name"],
            "requester_email": data["requester_email"],
            "requester_phone": data.get("requester_phone", ""),
            "customer_reference": data.get("customer_reference", ""),
            "details": data.get("details", ""),
            "purposes": list(data.get("purposes") or []),
            "rectifications": data.get("rectifications", []),
            "on_behalf": on_behalf,
            "subject_name": data.get("subject_name", "") if on_behalf else "",
            "representative_capacity": data.get("representative_capacity", "") if on_behalf else "",
            "mandate_document": data.get("mandate_document") if on_behalf else None,
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show the service's field errors on the matching fields (corrections on the first row)."""
        items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
        for field, messages in items:
            target = {"rectifications": "fix_field_1"}.get(field, field)
            for message in messages:
                self.add_error(target if target in self.fields else None, message)


class AnswerForm(forms.Form):
    answer = forms.CharField(label=_("Your answer"), max_length=5000, widget=forms.Textarea(attrs={"rows": 5}))
