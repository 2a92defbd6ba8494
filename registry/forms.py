from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Purpose, PurposeVersion


class RegisterExportForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[
            ("pdf", _("PDF document (prepared as a job)")),
            ("ods", _("ODS workbook, CNIL register model")),
            ("csv", _("CSV, CNIL model columns")),
            ("jsonld", _("JSON-LD, W3C Data Privacy Vocabulary")),
        ],
        widget=forms.RadioSelect,
        initial="pdf",
    )


class PurposeAdminForm(forms.ModelForm):
    """The admin's purpose form: when the text shown to contacts changes, the DPO says how much."""

    change_kind = forms.ChoiceField(
        label=_("If the text shown to contacts changed"),
        choices=[("", "—"), (PurposeVersion.ChangeKind.MINOR, PurposeVersion.ChangeKind.MINOR.label),
                 (PurposeVersion.ChangeKind.MATERIAL, PurposeVersion.ChangeKind.MATERIAL.label)],
        required=False,
        help_text=_("A material change makes earlier consents lapse: contacts must consent again."),
    )
    change_note = forms.CharField(label=_("Reason for the change"), required=False, max_length=255)

    class Meta:
        model = Purpose
        fields = "__all__"
        help_texts = {"consent_validity_months": _(
            "Months before contacts are asked to consent again. A change applies to the consents already given "
            "too: each then expires that many months after it was given.")}

    def _post_clean(self):
        super()._post_clean()  # fields copied onto the instance and validated
        from . import services

        for field, messages in services.purpose_rule_errors(purpose=self.instance).items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        channels = self.cleaned_data.get("channels")
        categories = self.cleaned_data.get("data_subject_categories")
        if channels is not None and categories is not None:
            for field, messages in services.purpose_channel_rule_errors(
                legal_basis=self.instance.legal_basis, direct_marketing=self.instance.direct_marketing,
                channels=channels, category_codes=[c.code for c in categories],
            ).items():
                for message in messages:
                    self.add_error(field, message)
        error = services.purpose_change_kind_error(purpose=self.instance,
                                                   change_kind=self.cleaned_data.get("change_kind", ""))
        if error:
            self.add_error("change_kind", error)
