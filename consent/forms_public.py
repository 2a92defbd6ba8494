"""Forms of the public and staff pages: collection forms and the preference-centre request."""
from django import forms
from django.utils.translation import gettext_lazy as _

from registry.validators import scanned_document_help_text, validate_scanned_document

from . import selectors
from .labels import REASON_LABELS
from .models import EVIDENCE_NOTE_MAX_LENGTH, CollectionForm, Contact, Method

STAFF_METHODS = [
    (Method.STAFF_FORM, _("At the desk")),
    (Method.PHONE, _("By phone")),
    (Method.EVENT, _("At an event")),
    (Method.PAPER, _("Paper form (attach the scan)")),
]


class CollectionSubmissionForm(forms.Form):
    """One unticked box per purpose x channel of the form (boxes are never pre-ticked)."""

    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Mobile or phone"), required=False, max_length=40)
    first_name = forms.CharField(label=_("First name"), required=False, max_length=150)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=150)
    address_line1 = forms.CharField(label=_("Postal address"), required=False, max_length=255)
    postal_code = forms.CharField(label=_("Postal code"), required=False, max_length=12)
    city = forms.CharField(label=_("City"), required=False, max_length=120)

    def __init__(self, *args, collection_form: CollectionForm, staff: bool = False, may_choose_contact: bool = False,
                 chosen_contact: Contact | None = None, **kwargs):
        """``may_choose_contact``: a staff member who may read contacts records for one found by
        ``selectors.contact_search`` (the hidden ``contact`` field). ``chosen_contact``: that
        contact, whose current consent is shown under each box."""
        super().__init__(*args, **kwargs)
        self.collection_form = collection_form
        self.items = list(collection_form.items.select_related("purpose", "channel"))
        for item in self.items:
            self.fields[self.box_name(item)] = forms.BooleanField(
                label=self.box_label(item), required=False, initial=False, label_suffix="",
                help_text=self._status_now(chosen_contact, item) if chosen_contact is not None else "")
        if staff and may_choose_contact:
            self.fields["contact"] = forms.ModelChoiceField(
                queryset=Contact.objects.filter(anonymised_at__isnull=True), required=False, widget=forms.HiddenInput,
                error_messages={"invalid_choice": _("This contact no longer exists or was anonymised: search again.")})
        if collection_form.require_age_15:
            self.fields["age_confirmed"] = forms.BooleanField(label=_("I am 15 or older"), required=False,
                                                              label_suffix="")
        if staff:
            self.fields["method"] = forms.ChoiceField(label=_("How was consent given?"), choices=STAFF_METHODS)
            # The scan is kept as proof of consent: the rule of every scanned document (registry.validators).
            self.fields["evidence_document"] = forms.FileField(
                label=_("Scanned paper form"), required=False, validators=[validate_scanned_document],
                help_text=scanned_document_help_text())
            self.fields["evidence_note"] = forms.CharField(label=_("Note"), required=False,
                                                           max_length=EVIDENCE_NOTE_MAX_LENGTH,
                                                           widget=forms.Textarea(attrs={"rows": 2}))

    @staticmethod
    def box_name(item) -> str:
        return f"box_{item.pk}"

    @staticmethod
    def box_label(item) -> str:
        from registry.models import LegalBasis

        if item.purpose.legal_basis == LegalBasis.CONSENT:
            return _("I agree: %(purpose)s, by %(channel)s") % {"purpose": item.purpose.name,
                                                                 "channel": item.channel.label}
        return _("I do not want: %(purpose)s, by %(channel)s") % {"purpose": item.purpose.name,
                                                                   "channel": item.channel.label}

    def chosen_items(self):
        return [item for item in self.items if self.cleaned_data.get(self.box_name(item))]

    @staticmethod
    def _status_now(contact: Contact, item) -> str:
        result = selectors.consent_check(contact=contact, purpose=item.purpose, channel=item.channel)
        return _("Now: %(reason)s") % {"reason": REASON_LABELS.get(result.reason, result.reason)}

    def clean(self):
        data = super().clean()
        if not (data.get("email") or data.get("phone") or data.get("last_name") or data.get("contact")):
            raise forms.ValidationError(_("Give at least your email or your phone number."))
        if (self.cleaned_data.get("method") == Method.PAPER and not self.cleaned_data.get("evidence_document")
                and "evidence_document" not in self.errors):  # a refused file has its own message
            self.add_error("evidence_document", _("Attach the scan of the signed paper form."))
        return data

    def contact_fields(self) -> dict:
        names = ("email", "phone", "first_name", "last_name", "address_line1", "postal_code", "city")
        return {name: self.cleaned_data.get(name, "") for name in names}


class PreferenceLinkForm(forms.Form):
    email = forms.EmailField(label=_("Your email"))
