"""Contacts, the append-only consent ledger and the current-consent table derived from it."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from registry.models import Channel, DataSubjectCategory, Purpose, private_storage, shown_text


class Contact(models.Model):
    """A data subject. Email is normalised and unique when present; a shared phone is allowed."""

    email = models.EmailField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True, db_index=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    address_line1 = models.CharField(_("address"), max_length=255, blank=True)
    address_line2 = models.CharField(_("address (continued)"), max_length=255, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=12, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, default="FR")
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="fr")
    external_ref = models.CharField(_("external reference"), max_length=120, blank=True,
                                    help_text=_("The contact's identifier in the CRM or another system."))
    source = models.CharField(_("source of collection"), max_length=255, blank=True,
                              help_text=_("Where the data came from: form, event, import file, partner…"))
    collected_at = models.DateTimeField(_("collected at"), default=timezone.now)
    data_subject_categories = models.ManyToManyField(
        DataSubjectCategory, verbose_name=_("data-subject categories"), blank=True, related_name="contacts"
    )
    restricted = models.BooleanField(_("processing restricted (Art. 18)"), default=False)
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[data_subject_categories])

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(fields=["email"], condition=~Q(email=""), name="contact_email_unique"),
            models.UniqueConstraint(fields=["external_ref"], condition=~Q(external_ref=""),
                                    name="contact_external_ref_unique"),
        ]

    def __str__(self) -> str:
        if self.anonymised_at:
            return _("Anonymised contact #%(id)s") % {"id": self.pk}
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or f"#{self.pk}"


class Notice(models.Model):
    """The full text shown at collection, once per language, keyed by its SHA-256."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    language = models.CharField(_("language"), max_length=8)
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("first shown"), auto_now_add=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")

    def __str__(self) -> str:
        return f"{self.language} {self.sha256[:12]}"


class Action(models.TextChoices):
    PENDING = "pending", _("Pending (double opt-in sent)")
    GRANTED = "granted", _("Granted")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    EXPIRED = "expired", _("Expired")
    OBJECTED = "objected", _("Objected")
    OBJECTION_LIFTED = "objection_lifted", _("Objection lifted")
    LAPSED = "lapsed", _("Lapsed (purpose retired or materially changed)")


class Method(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    STAFF_FORM = "staff_form", _("Staff form")
    PHONE = "phone", _("Phone")
    PAPER = "paper", _("Paper")
    EVENT = "event", _("Event")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    DOUBLE_OPT_IN = "double_opt_in", _("Double opt-in confirmation")
    PREFERENCE_CENTRE = "preference_centre", _("Preference centre")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
    RIGHTS_REQUEST = "rights_request", _("Rights request")
    ERASURE = "erasure", _("Erasure")
    EXPIRY = "expiry", _("Expiry")
    REGISTER_CHANGE = "register_change", _("Register change")


# The longest evidence note a person or a system may give (a sentence or two, not a document: a scan
# goes in evidence_document).
EVIDENCE_NOTE_MAX_LENGTH = 2000


class ConsentEvent(models.Model):
    """One entry of the append-only ledger. Never updated or deleted by the app (a PostgreSQL
    trigger enforces it), except the clearing of personal evidence on erasure, which the
    hash chain survives because it covers a keyed digest of that evidence."""

    # Every index costs each append (the hot write path): the foreign keys below are not indexed on
    # their own. The composite index serves look-ups by contact; a purpose, channel, notice or user
    # is deleted rarely enough (and PROTECT refuses it anyway) for a scan to be fine.
    sequence = models.BigIntegerField(_("sequence"), unique=True, editable=False)
    contact = models.ForeignKey(Contact, verbose_name=_("contact"), on_delete=models.PROTECT, related_name="events",
                                db_index=False)
    purpose = models.ForeignKey(Purpose, verbose_name=_("purpose"), on_delete=models.PROTECT, related_name="+",
                                db_index=False)
    purpose_version = models.PositiveIntegerField(_("purpose version"))
    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+",
                                db_index=False)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    method = models.CharField(_("method"), max_length=20, choices=Method.choices)
    effective_at = models.DateTimeField(_("effective at"))
    recorded_at = models.DateTimeField(_("recorded at"))
    notice = models.ForeignKey(Notice, verbose_name=_("notice shown"), on_delete=models.PROTECT, null=True,
                               blank=True, related_name="events", db_index=False)
    collection_form = models.CharField(_("collection form"), max_length=80, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+", db_index=False)
    evidence_ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    evidence_user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    evidence_note = models.TextField(_("note"), blank=True)
    evidence_document = models.FileField(_("scanned document"), storage=private_storage,
                                         upload_to="consent/evidence/%Y/%m/", blank=True)
    evidence_digest = models.CharField(_("evidence digest"), max_length=64)
    # Unique per author (the API client), not globally: two integrations may pick the same key.
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, null=True, blank=True)
    previous_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["contact", "purpose", "channel", "sequence"]),
            # Only the few events that carry a key (API retries, import lines). The pattern operator
            # class serves both the look-up by key and the import's prefix search whatever the
            # collation (PostgreSQL; other databases ignore it). No LIKE index on hashes.
            models.Index(fields=["idempotency_key"], condition=Q(idempotency_key__isnull=False),
                         opclasses=["varchar_pattern_ops"], name="consent_event_idempotency_idx"),
        ]
        # No index on ``hash``: nothing looks an event up by it, and each hash covers its unique
        # sequence, so two events never share one. An index of random 64-character keys, larger
        # than the table's other indexes together, would cost every append a random page write.
        constraints = [
            models.UniqueConstraint(fields=["recorded_by", "idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False, recorded_by__isnull=False),
                                    name="consent_event_idempotency_per_author"),
            # NULLs are distinct in a unique index: events without an author get their own constraint.
            models.UniqueConstraint(fields=["idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False, recorded_by__isnull=True),
                                    name="consent_event_idempotency_unattributed"),
        ]
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")

    def __str__(self) -> str:
        # Labels in the active language, e.g. "#567 — Granted — Jane Doe — Newsletter / Email".
        return (f"#{self.sequence} — {self.get_action_display()} — {self.contact} — "
                f"{self.purpose} / {self.channel}")


# The current-consent rows an audience of a consent-based purpose counts, before the expiry and
# version tests (selectors._current_grants): granted, to a reachable contact. Migration 0009's
# triggers test the same in SQL; tests/integration/test_audience_count.py holds them equal.
AUDIENCE_CONDITION = Q(status="granted", reachable=True)


class ConsentState(models.Model):
    """Current consent of a contact for a purpose on a channel: the fold of its events, written
    only by consent.services in the transaction that appends the event."""

    # consent_state_unique (contact, purpose, channel) serves look-ups by contact; the foreign keys
    # are not indexed on their own (each index costs every append). Only last_event is checked by
    # the database: a row's contact, purpose and channel are those of its last event, whose own
    # constraints check them, so three more checks per new row (a third of an import's commit)
    # would prove nothing more. Deleting a contact still deletes its rows (on_delete, in Django).
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_states", db_index=False,
                                db_constraint=False)
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    status = models.CharField(_("status"), max_length=20, choices=Action.choices)
    purpose_version = models.PositiveIntegerField(_("purpose version"))
    since = models.DateTimeField(_("since"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Kept by consent.services with the contact (address, restriction, anonymisation) so that an
    # audience count is a bare index-only count of the partial index below.
    reachable = models.BooleanField(
        _("reachable on this channel"), default=True,
        help_text=_("The contact has an address on this channel and is neither restricted nor anonymised."),
    )

    class Meta:
        verbose_name = _("current consent")
        verbose_name_plural = _("current consents")
        constraints = [
            models.UniqueConstraint(fields=["contact", "purpose", "channel"], name="consent_state_unique"),
        ]
        indexes = [
            # The audience of one purpose x channel: granted rows of reachable contacts, covering the
            # expiry and version tests so that a count never reads the table (PostgreSQL; SQLite
            # ignores INCLUDE).
            models.Index(fields=["purpose", "channel", "contact"], include=["expires_at", "purpose_version"],
                         condition=AUDIENCE_CONDITION, name="consent_state_granted_idx"),
            # The same rows by expiry date: the grants past their date that the expiry job has not
            # turned into events yet, which an audience count takes off AudienceCountDelta's sum.
            models.Index(fields=["purpose", "channel", "expires_at"], include=["purpose_version"],
                         condition=AUDIENCE_CONDITION, name="consent_state_grant_expiry_idx"),
        ]

    def __str__(self) -> str:
        # As a ledger event reads, e.g. "Jane Doe — Newsletter / Email — Granted" (active language).
        return f"{self.contact} — {self.purpose} / {self.channel} — {self.get_status_display()}"


class AudienceCountDelta(models.Model):
    """PostgreSQL: how many current-consent rows of a purpose x channel x purpose version are in
    AUDIENCE_CONDITION, as a sum of deltas, so that an audience count reads a few rows instead of
    counting half a million index entries. Written only by the statement triggers of migration
    0009, whatever statement changes ConsentState (ORM, COPY, raw SQL), in its transaction; rows are
    inserted, never updated, so concurrent writers never wait on each other.
    services.audience_count_deltas_compact sums them periodically. Holds no personal data."""

    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    purpose_version = models.PositiveIntegerField()
    delta = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["purpose", "channel", "purpose_version"], include=["delta"],
                                name="audience_count_delta_idx")]


class SuppressionEntry(models.Model):
    """An address or number that must never be contacted on a channel, kept as a keyed HMAC only."""

    class Source(models.TextChoices):
        OPPOSITION_LIST = "opposition_list", _("Imported opposition list")
        ERASURE = "erasure", _("Erasure")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe")
        MANUAL = "manual", _("Entered by staff")

    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(_("keyed digest"), max_length=64)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppression entry")
        verbose_name_plural = _("suppression entries")
        constraints = [models.UniqueConstraint(fields=["channel", "digest"], name="suppression_unique")]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.digest[:12]}"


class CollectionForm(models.Model):
    """A form collecting consent: which purposes on which channels, for the public or for staff."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=255)
    name_en = models.CharField(_("name (English)"), max_length=255)
    introduction_fr = models.TextField(_("introduction (French)"), blank=True)
    introduction_en = models.TextField(_("introduction (English)"), blank=True)
    public = models.BooleanField(_("public"), default=False,
                                 help_text=_("Public forms live at /forms/<slug>/; others only at /staff/forms/<slug>/."))
    double_opt_in = models.BooleanField(
        _("double opt-in for email"), default=True,
        help_text=_("Email consent takes effect only once the person confirms from the link we send."),
    )
    require_age_15 = models.BooleanField(
        _("ask to confirm being 15 or older"), default=False,
        help_text=_("Under 15, consent to an online service needs a parent's too (loi Informatique et Libertés art. 45)."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name_fr"]
        verbose_name = _("collection form")
        verbose_name_plural = _("collection forms")

    @property
    def name(self) -> str:
        """The title in the active language (the French one if a form made in code has no English one)."""
        return shown_text(self.name_fr, self.name_en)

    def __str__(self) -> str:
        return self.name


class CollectionFormItem(models.Model):
    """One box of a form: a purpose on a channel (never pre-ticked)."""

    form = models.ForeignKey(CollectionForm, on_delete=models.CASCADE, related_name="items")
    purpose = models.ForeignKey(Purpose, verbose_name=_("purpose"), on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["form", "purpose", "channel"], name="form_item_unique")]
        verbose_name = _("box of the form")
        verbose_name_plural = _("boxes of the form")

    def __str__(self) -> str:
        return f"{self.purpose.slug} / {self.channel.code}"


class RetirementNotice(models.Model):
    """A contact to tell, by email, that a purpose they had consented to was retired: one row per
    contact and purpose, written with the lapse event, marked ``sent_at`` once the email is sent."""

    contact = models.ForeignKey(Contact, verbose_name=_("contact"), on_delete=models.CASCADE,
                                related_name="retirement_notices")
    purpose = models.ForeignKey(Purpose, verbose_name=_("purpose"), on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)

    class Meta:
        verbose_name = _("retired purpose notice")
        verbose_name_plural = _("retired purpose notices")
        constraints = [
            models.UniqueConstraint(fields=["contact", "purpose"], name="retirement_notice_unique"),
        ]
        indexes = [models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True),
                                name="retirement_notice_unsent_idx")]

    def __str__(self) -> str:
        return f"{self.purpose_id} → {self.contact_id}"
