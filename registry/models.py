"""The processing register (GDPR Art. 30, CNIL register model) and the job journal."""
from __future__ import annotations

from django.conf import settings
from django.core.files.storage import storages
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.models import HistoricalRecords

from .validators import validate_siren


def shown_in_english() -> bool:
    """Whether texts shown in both languages are shown in English now (French, the default, otherwise)."""
    return (get_language() or "fr").startswith("en")


def shown_text(french: str, english: str) -> str:
    """A text the DPO writes in French and may write in English: the English one in English when it
    is written, else the French one."""
    return english if english and shown_in_english() else french


class BilingualLabel(models.Model):
    """A reference-table row with a stable code, French and English labels and a DPV concept."""

    code = models.SlugField(_("code"), max_length=80, unique=True)
    label_fr = models.CharField(_("label (French)"), max_length=255)
    label_en = models.CharField(_("label (English)"), max_length=255)
    dpv_concept = models.CharField(
        _("DPV concept"),
        max_length=120,
        blank=True,
        help_text=_("The matching W3C DPV 2.3 term, e.g. dpv:Customer, when one exists."),
    )
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        abstract = True
        ordering = ["position", "code"]

    @property
    def label(self) -> str:
        return self.label_en if shown_in_english() else self.label_fr

    def __str__(self) -> str:
        return self.label


class DataSubjectCategory(BilingualLabel):
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("data-subject category")
        verbose_name_plural = _("data-subject categories")


class DataCategory(BilingualLabel):
    """A category of personal data, grouped as the CNIL register model groups them."""

    class CnilGroup(models.TextChoices):
        IDENTITY = "identity", _("Civil status, identity, identification data, images")
        PERSONAL_LIFE = "personal_life", _("Personal life (lifestyle, family situation, etc.)")
        PROFESSIONAL_LIFE = "professional_life", _("Professional life (CV, education, career, etc.)")
        ECONOMIC = "economic", _("Economic and financial information (income, financial and tax situation, etc.)")
        CONNECTION = "connection", _("Connection data (IP address, logs, etc.)")
        LOCATION = "location", _("Location data (movements, GPS, GSM data, etc.)")
        INTERNET = "internet", _("Internet data (cookies, trackers, browsing, etc.)")
        NIR = "nir", _("Social security number (NIR)")
        SENSITIVE = "sensitive", _("Sensitive data (GDPR Art. 9)")
        OFFENCES = "offences", _("Criminal convictions and offences (GDPR Art. 10)")

    cnil_group = models.CharField(_("CNIL group"), max_length=30, choices=CnilGroup.choices)
    special_category = models.BooleanField(
        _("special category (Art. 9)"),
        default=False,
        help_text=_("Health, biometric, genetic, political, religious, union, sexual, ethnic data."),
    )
    description = models.TextField(_("description"), blank=True)
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("data category")
        verbose_name_plural = _("data categories")


class RecipientType(BilingualLabel):
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("recipient type")
        verbose_name_plural = _("recipient types")


class SecurityMeasure(BilingualLabel):
    class Kind(models.TextChoices):
        TECHNICAL = "technical", _("Technical")
        ORGANISATIONAL = "organisational", _("Organisational")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.TECHNICAL)
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("security measure")
        verbose_name_plural = _("security measures")


class TransferSafeguard(BilingualLabel):
    gdpr_article = models.CharField(_("GDPR article"), max_length=40, blank=True)
    is_valid = models.BooleanField(
        _("valid"),
        default=True,
        help_text=_("False for a mechanism no longer usable, e.g. the Privacy Shield (CJEU C-311/18)."),
    )
    validity_note = models.TextField(_("validity note"), blank=True)
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("transfer safeguard")
        verbose_name_plural = _("transfer safeguards")


class Country(BilingualLabel):
    class Adequacy(models.TextChoices):
        EEA = "eea", _("EU / EEA")
        ADEQUATE = "adequate", _("Adequate (Commission decision)")
        ADEQUATE_CERTIFIED = "adequate_certified", _(
            "Adequate only for certified recipients (e.g. EU-US Data Privacy Framework)"
        )
        NOT_ADEQUATE = "not_adequate", _("Not adequate")

    iso_code = models.CharField(_("ISO 3166 code"), max_length=2, blank=True)
    adequacy = models.CharField(_("adequacy"), max_length=20, choices=Adequacy.choices)
    adequacy_decision = models.CharField(_("adequacy decision"), max_length=255, blank=True)
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("country")
        verbose_name_plural = _("countries")
        ordering = ["label_fr"]


class Channel(BilingualLabel):
    electronic = models.BooleanField(
        _("electronic communication"),
        default=False,
        help_text=_("Email and SMS prospecting need prior consent (CPCE L.34-5)."),
    )
    history = HistoricalRecords()

    class Meta(BilingualLabel.Meta):
        verbose_name = _("channel")
        verbose_name_plural = _("channels")


class Recipient(models.Model):
    name = models.CharField(_("name"), max_length=255)
    recipient_type = models.ForeignKey(
        RecipientType, verbose_name=_("type"), on_delete=models.PROTECT, related_name="recipients"
    )
    description = models.TextField(_("details"), blank=True)
    notification_email = models.EmailField(
        _("notification email"),
        blank=True,
        help_text=_("Where rectification, erasure and restriction notices are sent (Art. 19)."),
    )
    country = models.ForeignKey(
        Country, verbose_name=_("country"), on_delete=models.PROTECT, null=True, blank=True
    )
    dpv_concept = models.CharField(_("DPV concept"), max_length=120, blank=True, default="dpv:Recipient")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")

    def __str__(self) -> str:
        return self.name


class Processor(models.Model):
    """A processor (sous-traitant, Art. 28) acting on the controller's behalf."""

    name = models.CharField(_("name"), max_length=255)
    service = models.CharField(_("service provided"), max_length=255, blank=True)
    address = models.TextField(_("address"), blank=True)
    country = models.ForeignKey(
        Country, verbose_name=_("country"), on_delete=models.PROTECT, null=True, blank=True
    )
    notification_email = models.EmailField(_("notification email"), blank=True)
    contract_signed_on = models.DateField(_("Art. 28 contract signed on"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("processor")
        verbose_name_plural = _("processors")

    def __str__(self) -> str:
        return self.name


class Organisation(models.Model):
    """The controller. One row: the organisation keeping this register."""

    name = models.CharField(_("controller name"), max_length=255)
    legal_form = models.CharField(_("legal form"), max_length=120, blank=True)
    siren = models.CharField(_("SIREN"), max_length=9, blank=True, validators=[validate_siren])
    address = models.CharField(_("address"), max_length=255)
    postal_code = models.CharField(_("postal code"), max_length=12)
    city = models.CharField(_("city"), max_length=120)
    country = models.CharField(_("country"), max_length=120, default="France")
    email = models.EmailField(_("email"))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    head_name = models.CharField(
        _("head of the organisation"), max_length=255, blank=True,
        help_text=_("The person legally responsible for the organisation (CNIL model: responsable)."),
    )
    representative_name = models.CharField(
        _("EU representative"), max_length=255, blank=True,
        help_text=_("Only when the controller is established outside the EU (Art. 27)."),
    )
    representative_address = models.TextField(_("EU representative address"), blank=True)
    representative_email = models.EmailField(_("EU representative email"), blank=True)
    dpo_name = models.CharField(_("DPO name"), max_length=255)
    dpo_company = models.CharField(_("DPO company (if external)"), max_length=255, blank=True)
    dpo_address = models.CharField(_("DPO address"), max_length=255, blank=True)
    dpo_postal_code = models.CharField(_("DPO postal code"), max_length=12, blank=True)
    dpo_city = models.CharField(_("DPO city"), max_length=120, blank=True)
    dpo_email = models.EmailField(_("DPO email"))
    dpo_phone = models.CharField(_("DPO phone"), max_length=40, blank=True)
    cnil_dpo_designation = models.CharField(
        _("CNIL DPO designation number"), max_length=40, blank=True
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisation")

    def __str__(self) -> str:
        return self.name


class ProcessingActivity(models.Model):
    """A processing activity (traitement), one record of the register."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    class Role(models.TextChoices):
        CONTROLLER = "controller", _("Controller")
        JOINT_CONTROLLER = "joint_controller", _("Joint controller")
        PROCESSOR = "processor", _("Processor")

    reference = models.CharField(
        _("reference"), max_length=40, unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", _("Letters, digits, dot, dash, underscore."))],
    )
    # The French name is also the register's (CSV and ODS for the CNIL are in French).
    name = models.CharField(_("name (French)"), max_length=255)
    name_en = models.CharField(
        _("name (English)"), max_length=255, blank=True,
        help_text=_("Shown to contacts reading in English; when blank, they see the French text."),
    )
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    role = models.CharField(_("our role"), max_length=20, choices=Role.choices, default=Role.CONTROLLER)
    joint_controllers = models.TextField(_("joint controllers"), blank=True)
    owner_department = models.CharField(_("department in charge"), max_length=255, blank=True)
    data_subject_categories = models.ManyToManyField(
        DataSubjectCategory, verbose_name=_("data-subject categories"), blank=True, related_name="activities"
    )
    data_categories = models.ManyToManyField(
        DataCategory, verbose_name=_("data categories"), through="ActivityDataCategory",
        blank=True, related_name="activities",
    )
    recipients = models.ManyToManyField(
        Recipient, verbose_name=_("recipients"), blank=True, related_name="activities"
    )
    processors = models.ManyToManyField(
        Processor, verbose_name=_("processors"), blank=True, related_name="activities"
    )
    security_measures = models.ManyToManyField(
        SecurityMeasure, verbose_name=_("security measures"), blank=True, related_name="activities"
    )
    security_details = models.TextField(_("security details"), blank=True)
    data_source = models.TextField(_("source of the data"), blank=True)
    dpia_required = models.BooleanField(_("DPIA required"), default=False)
    dpia_done_on = models.DateField(_("DPIA done on"), null=True, blank=True)
    started_on = models.DateField(_("processing started on"), null=True, blank=True)
    created_at = models.DateTimeField(_("record created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("record updated"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[data_subject_categories, recipients, processors, security_measures])

    class Meta:
        ordering = ["reference"]
        verbose_name = _("processing activity")
        verbose_name_plural = _("processing activities")

    def __str__(self) -> str:
        return f"{self.reference} — {self.name}"

    @property
    def shown_name(self) -> str:
        """The name contacts read (receipts, access export, register PDF): in the active language,
        the French one when there is no English one."""
        return shown_text(self.name, self.name_en)


class ActivityDataCategory(models.Model):
    """A data category processed by an activity, with what it covers and how long it is kept."""

    activity = models.ForeignKey(ProcessingActivity, on_delete=models.CASCADE, related_name="data_category_links")
    category = models.ForeignKey(DataCategory, verbose_name=_("category"), on_delete=models.PROTECT)
    # The French texts are also the register's (CSV and ODS for the CNIL are in French).
    description = models.CharField(_("description (French)"), max_length=500, blank=True)
    description_en = models.CharField(
        _("description (English)"), max_length=500, blank=True,
        help_text=_("Shown to contacts reading in English; when blank, they see the French text."),
    )
    retention = models.CharField(_("retention (French)"), max_length=255, blank=True)
    retention_en = models.CharField(
        _("retention (English)"), max_length=255, blank=True,
        help_text=_("Shown to contacts reading in English; when blank, they see the French text."),
    )
    history = HistoricalRecords()

    class Meta:
        unique_together = [("activity", "category")]
        verbose_name = _("data category of the activity")
        verbose_name_plural = _("data categories of the activity")

    def __str__(self) -> str:
        return str(self.category)

    @property
    def shown_description(self) -> str:
        """What the category covers, in the active language (the French text when there is no English one)."""
        return shown_text(self.description, self.description_en)

    @property
    def shown_retention(self) -> str:
        """How long the category is kept, in the active language (the French text when there is no English one)."""
        return shown_text(self.retention, self.retention_en)

    def shown_data(self) -> dict[str, str]:
        """The category as contacts read it (receipts, the access export): code, label, what it
        covers and how long it is kept, in the active language."""
        return {"code": self.category.code, "label": self.category.label,
                "description": self.shown_description, "retention": self.shown_retention}


class Transfer(models.Model):
    """A transfer of personal data outside the EU/EEA (GDPR Chapter V)."""

    activity = models.ForeignKey(ProcessingActivity, on_delete=models.CASCADE, related_name="transfers")
    recipient_name = models.CharField(_("recipient organisation"), max_length=255)
    country = models.ForeignKey(Country, verbose_name=_("country"), on_delete=models.PROTECT)
    safeguard = models.ForeignKey(
        TransferSafeguard, verbose_name=_("safeguard"), on_delete=models.PROTECT, null=True, blank=True
    )
    dpf_certified = models.BooleanField(
        _("recipient certified under the Data Privacy Framework"), default=False,
        help_text=_("The US adequacy decision (2023/1795) covers only DPF-certified recipients."),
    )
    documentation = models.CharField(_("documentation"), max_length=255, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("third-country transfer")
        verbose_name_plural = _("third-country transfers")

    def __str__(self) -> str:
        return f"{self.recipient_name} ({self.country})"


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent (Art. 6(1)(a))")
    CONTRACT = "contract", _("Contract (Art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c))")
    VITAL_INTERESTS = "vital_interests", _("Vital interests (Art. 6(1)(d))")
    PUBLIC_TASK = "public_task", _("Public task (Art. 6(1)(e))")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests (Art. 6(1)(f))")


# The W3C DPV 2.3 EU-GDPR term for each legal basis.
LEGAL_BASIS_DPV = {
    LegalBasis.CONSENT: "eu-gdpr:A6-1-a",
    LegalBasis.CONTRACT: "eu-gdpr:A6-1-b",
    LegalBasis.LEGAL_OBLIGATION: "eu-gdpr:A6-1-c",
    LegalBasis.VITAL_INTERESTS: "eu-gdpr:A6-1-d",
    LegalBasis.PUBLIC_TASK: "eu-gdpr:A6-1-e",
    LegalBasis.LEGITIMATE_INTERESTS: "eu-gdpr:A6-1-f",
}


class ShownText:
    """A purpose's name and text, as shown to contacts, in the active language (French unless English):
    the purpose's current ones, or those of one of its versions."""

    @property
    def name(self) -> str:
        return self.name_en if shown_in_english() else self.name_fr

    @property
    def text(self) -> str:
        return self.text_en if shown_in_english() else self.text_fr


def legal_basis_needs_consent(legal_basis: str) -> bool:
    """Whether reaching someone for a purpose on this basis needs their grant: consent, and a basis
    not declared yet (then nobody is reachable, since a grant is recorded only on the consent basis)."""
    return legal_basis in (LegalBasis.CONSENT, "")


class Purpose(ShownText, models.Model):
    """A purpose (finalité) of an activity. Its text shown to contacts is versioned."""

    class RetentionStart(models.TextChoices):
        COLLECTION = "collection", _("collection")
        LAST_CONTACT = "last_contact", _("last contact")
        END_OF_CONTRACT = "end_of_contract", _("end of the contract")
        END_OF_RELATIONSHIP = "end_of_relationship", _("end of the relationship")
        TRANSACTION = "transaction", _("the transaction")
        EVENT = "event", _("the recorded event")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    activity = models.ForeignKey(
        ProcessingActivity, verbose_name=_("activity"), on_delete=models.CASCADE, related_name="purposes"
    )
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=255)
    name_en = models.CharField(_("name (English)"), max_length=255)
    text_fr = models.TextField(_("text shown to contacts (French)"))
    text_en = models.TextField(_("text shown to contacts (English)"))
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    legal_basis = models.CharField(_("legal basis"), max_length=30, choices=LegalBasis.choices, blank=True)
    # The French text is also the register's (CSV and ODS for the CNIL are in French).
    legitimate_interest = models.TextField(
        _("legitimate interest pursued (French)"), blank=True,
        help_text=_("Required when the legal basis is legitimate interests (Art. 13(1)(d))."),
    )
    legitimate_interest_en = models.TextField(
        _("legitimate interest pursued (English)"), blank=True,
        help_text=_("Shown to contacts reading in English; when blank, they see the French text."),
    )
    dpv_purpose = models.CharField(
        _("DPV purpose"), max_length=120, blank=True,
        help_text=_("W3C DPV 2.3 purpose concept, e.g. dpv:DirectMarketing."),
    )
    channels = models.ManyToManyField(Channel, verbose_name=_("channels"), blank=True, related_name="purposes")
    data_subject_categories = models.ManyToManyField(
        DataSubjectCategory, verbose_name=_("data-subject categories"), blank=True, related_name="purposes",
        help_text=_("Who this purpose reaches; for opt-out purposes, who may be contacted."),
    )
    direct_marketing = models.BooleanField(_("direct marketing"), default=False)
    retention_months = models.PositiveIntegerField(
        _("retention (months)"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1200)]
    )
    retention_start = models.CharField(
        _("retention starts at"), max_length=30, choices=RetentionStart.choices, blank=True
    )
    # The French note is also the register's (CSV and ODS for the CNIL are in French).
    retention_note = models.CharField(_("retention note (French)"), max_length=255, blank=True)
    retention_note_en = models.CharField(
        _("retention note (English)"), max_length=255, blank=True,
        help_text=_("Shown to contacts reading in English; when blank, they see the French note."),
    )
    consent_validity_months = models.PositiveIntegerField(
        _("consent validity (months)"), null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_("After this, consent must be asked again."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    position = models.PositiveIntegerField(_("position"), default=0)
    history = HistoricalRecords(m2m_fields=[channels, data_subject_categories])

    class Meta:
        ordering = ["activity__reference", "position", "slug"]
        verbose_name = _("purpose")
        verbose_name_plural = _("purposes")

    @property
    def needs_consent(self) -> bool:
        return legal_basis_needs_consent(self.legal_basis)

    @property
    def legal_basis_dpv(self) -> str:
        return LEGAL_BASIS_DPV.get(self.legal_basis, "")

    @property
    def shown_legitimate_interest(self) -> str:
        """The legitimate interest pursued, as Art. 13(1)(d) tells it to contacts: in the active
        language, the French text when there is no English one."""
        return shown_text(self.legitimate_interest, self.legitimate_interest_en)

    @property
    def shown_retention_note(self) -> str:
        """The retention note in the active language, the French one when there is no English one.
        Not versioned, like the rest of the retention rule: only names and texts are (PurposeVersion)."""
        return shown_text(self.retention_note, self.retention_note_en)

    @property
    def shown_retention_period(self) -> str:
        """The retention period in the active language, e.g. "36 months from last contact" ("" when
        none is set). The one wording of the notice, the receipts, the access export and the register PDF."""
        if not self.retention_months:
            return ""
        return ngettext("%(months)s month from %(start)s", "%(months)s months from %(start)s",
                        self.retention_months) % {"months": self.retention_months,
                                                  "start": self.get_retention_start_display()}

    @property
    def shown_retention(self) -> str:
        """The period and the note, e.g. "36 months from last contact; Prescription : 3 ans"."""
        return "; ".join(part for part in (self.shown_retention_period, self.shown_retention_note) if part)

    def __str__(self) -> str:
        return self.name


class PurposeVersion(ShownText, models.Model):
    """Every text a purpose has shown to contacts. Consent proofs point at one of these."""

    class ChangeKind(models.TextChoices):
        INITIAL = "initial", _("Initial text")
        MINOR = "minor", _("Minor (wording; earlier consents stay valid)")
        MATERIAL = "material", _("Material (earlier consents lapse)")

    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    name_fr = models.CharField(_("name (French)"), max_length=255)
    name_en = models.CharField(_("name (English)"), max_length=255)
    text_fr = models.TextField(_("text (French)"))
    text_en = models.TextField(_("text (English)"))
    change_kind = models.CharField(_("change"), max_length=10, choices=ChangeKind.choices)
    change_note = models.CharField(_("reason for the change"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["purpose", "-version"]
        constraints = [models.UniqueConstraint(fields=["purpose", "version"], name="purpose_version_unique")]
        verbose_name = _("purpose text version")
        verbose_name_plural = _("purpose text versions")

    def __str__(self) -> str:
        return f"{self.purpose.slug} v{self.version}"


def private_storage():
    return storages["private"]


class Job(models.Model):
    """A long operation as a row: survives a broker outage, shows progress, is swept when stranded."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=50)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    output = models.FileField(_("output file"), storage=private_storage, upload_to="jobs/%Y/%m/", blank=True)
    output_name = models.CharField(_("output file name"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    enqueued_at = models.DateTimeField(_("last enqueued"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        from .job_kinds import job_kind_label  # imports this module: the kinds' labels live with their handlers

        return f"{job_kind_label(self.kind)} #{self.pk} ({self.get_status_display()})"
