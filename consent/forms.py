"""Forms of the consent admin. They validate input only: every write goes through consent.services."""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from registry.models import Channel

from . import csvfiles
from .models import CollectionFormItem, Contact, SuppressionEntry

# Opposition lists above this size belong in a background job, not in one admin request.
SUPPRESSION_IMPORT_MAX_BYTES = 10 * 1024 * 1024
# Sources a person may choose; "erasure" is written by the erasure job only.
STAFF_SUPPRESSION_SOURCES = [
    (SuppressionEntry.Source.OPPOSITION_LIST.value, SuppressionEntry.Source.OPPOSITION_LIST.label),
    (SuppressionEntry.Source.UNSUBSCRIBE.value, SuppressionEntry.Source.UNSUBSCRIBE.label),
    (SuppressionEntry.Source.MANUAL.value, SuppressionEntry.Source.MANUAL.label),
]


class ServiceErrorFormMixin:
    """Shows a ValidationError raised by a service (after the form first validated) as form errors.

    The admin re-runs the view with ``service_error`` set on the form class: see
    ``consent.admin.ServiceWriteAdminMixin``."""

    service_error: ValidationError | None = None

    def _post_clean(self) -> None:
        super()._post_clean()
        error = self.service_error
        if error is None:
            return
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error)


class ContactAdminForm(ServiceErrorFormMixin, forms.ModelForm):
    class Meta:
        model = Contact
        fields = "__all__"

    def _get_validation_exclusions(self):
        # Uniqueness is the service's to judge, on the normalised values (and with a message
        # under the field rather than "constraint contact_email_unique is violated").
        return super()._get_validation_exclusions() | {"email", "external_ref"}


class SuppressionAddForm(forms.Form):
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=Channel.objects.all())
    value = forms.CharField(
        label=_("Address or number"), max_length=254, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Only its keyed digest is kept: the address or number itself is never stored."),
    )
    source = forms.ChoiceField(label=_("Source"), choices=STAFF_SUPPRESSION_SOURCES,
                               initial=SuppressionEntry.Source.MANUAL)
    note = forms.CharField(label=_("Note"), max_length=255, required=False,
                           help_text=_("Why it was added. Do not write the address here."))


class SuppressionImportForm(forms.Form):
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=Channel.objects.all())
    source = forms.ChoiceField(label=_("Source"), choices=STAFF_SUPPRESSION_SOURCES,
                               initial=SuppressionEntry.Source.OPPOSITION_LIST)
    note = forms.CharField(label=_("Note"), max_length=255, required=False,
                           help_text=_("Where the list comes from, e.g. the partner and the date of the file."))
    file = forms.FileField(
        label=_("File"),
        help_text=_("A CSV or text file, one email address or phone number per line (UTF-8 or Windows-1252). "
                    "A header line is allowed. Nothing is imported if any line is invalid."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > SUPPRESSION_IMPORT_MAX_BYTES:
            raise ValidationError(
                _("This file is too large (%(size)s MB); the limit is %(limit)s MB.")
                % {"size": round(upload.size / 1024 / 1024, 1), "limit": SUPPRESSION_IMPORT_MAX_BYTES // 1024 // 1024}
            )
        upload.seek(0)
        try:
            self._text = csvfiles.decode(upload.read())
        except UnicodeDecodeError:
            raise ValidationError(_("This file is not text (UTF-8 or Windows-1252).")) from None
        return upload

    def lines(self) -> list[str]:
        """The file's lines, decoded as every uploaded file is (csvfiles.decode)."""
        return self._text.splitlines()


class CollectionFormItemForm(forms.ModelForm):
    """A box of a collection form: the purpose must use the channel (the same rule as recording)."""

    class Meta:
        model = CollectionFormItem
        fields = ("purpose", "channel", "position")

    def clean(self):
        data = super().clean()
        purpose, channel = data.get("purpose"), data.get("channel")
        if purpose and channel and not purpose.channels.filter(pk=channel.pk).exists():
            self.add_error("channel", _("The purpose %(purpose)s does not use this channel.")
                           % {"purpose": purpose.slug})
        if purpose and purpose.status != purpose.Status.ACTIVE:
            self.add_error("purpose", _("This purpose is retired."))
        return data


class ConsentImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_(
        "Columns: email, phone, first_name, last_name, purpose, channel, status, date, method, source "
        "(separated by semicolons, commas or tabs)."))
    valid_rows_only = forms.BooleanField(label=_("Import the valid lines only"), required=False, help_text=_(
        "By default nothing is imported when a line is rejected."))
