"""Rights requests (GDPR Art. 15-21): the request, its timeline, the contacts it covers, the
Art. 19 tasks for recipients, the download links of its exports, and the counts left of
requests that were never verified."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from consent.models import Contact
from registry.models import Job, Processor, Purpose, Recipient, private_storage

# No 0/O or 1/I/L: references are read out on the phone and typed from paper letters.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference() -> str:
    """A public reference that cannot be guessed (about 59 bits), e.g. DR-7KQ2-M9XA-P3TB."""
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))
    return f"DR-{body[:4]}-{body[4:8]}-{body[8:]}"


def new_link_key() -> str:
    return secrets.token_urlsafe(16)


class Kind(models.TextChoices):
    ACCESS = "access", _("Access (Art. 15)")
    RECTIFICATION = "rectification", _("Rectification (Art. 16)")
    ERASURE = "erasure", _("Erasure (Art. 17)")
    RESTRICTION = "restriction", _("Restriction (Art. 18)")
    OBJECTION = "objection", _("Objection (Art. 21)")
    PORTABILITY = "portability", _("Portability (Art. 20)")


class Status(models.TextChoices):
    RECEIVED = "received", _("Received")
    AWAITING_VERIFICATION = "awaiting_verification", _("Awaiting verification")
    VERIFIED = "verified", _("Verified")
    IN_PROGRESS = "in_progress", _("In progress")
    AWAITING_REQUESTER = "awaiting_requester", _("Awaiting the requester")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", pgettext_lazy("rights request status", "Rejected")
    # Contexts: the same English words are consent statuses elsewhere, with other French words.
    WITHDRAWN = "withdrawn", pgettext_lazy("rights request status", "Withdrawn")
    EXPIRED = "expired", pgettext_lazy("rights request status", "Expired")


OPEN_STATUSES = (Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.VERIFIED, Status.IN_PROGRESS,
                 Status.AWAITING_REQUESTER)
CLOSED_STATUSES = (Status.COMPLETED, Status.REJECTED, Status.WITHDRAWN, Status.EXPIRED)


class ReceivedVia(models.TextChoices):
    WEB_FORM = "web_form", _("Public web form")
    API = "api", _("API (another system)")
    POST = "post", _("Post")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    IN_PERSON = "in_person", _("In person")


class VerificationMethod(models.TextChoices):
    EMAIL_LINK = "email_link", _("Link sent to the email address")
    ID_DOCUMENT = "id_document", _("Identity document checked")
    KNOWN_CHANNEL = "known_channel", _("Answer through contact details already on file")
    IN_PERSON = "in_person", _("In person")
    OTHER = "other", _("Other means (described in the note)")


class Capacity(models.TextChoices):
    PARENT = "parent", _("Parent or holder of parental authority")
    GUARDIAN = "guardian", _("Legal guardian")
    LAWYER = "lawyer", _("Lawyer")
    HEIR = "heir", _("Heir")
    OTHER = "other", _("Other mandate")


class MandateStatus(models.TextChoices):
    NOT_REQUIRED = "not_required", _("Not required")
    TO_CHECK = "to_check", _("To check")
    ACCEPTED = "accepted", pgettext_lazy("proof of mandate", "Accepted")
    REFUSED = "refused", pgettext_lazy("proof of mandate", "Refused")


class RejectionReason(models.TextChoices):
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("Manifestly unfounded (Art. 12(5))")
    EXCESSIVE = "excessive", _("Excessive, in particular repetitive (Art. 12(5))")
    IDENTITY_NOT_ESTABLISHED = "identity_not_established", _("Identity not established (Art. 12(6), 11(2))")
    LEGAL_EXCEPTION = "legal_exception", _("A legal exception applies")


class RightsRequest(models.Model):
    """One request of a data subject (or their representative) to exercise a right."""

    reference = models.CharField(_("reference"), max_length=20, unique=True, default=new_reference, editable=False)
    kind = models.CharField(_("right exercised"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=30, choices=Status.choices, default=Status.RECEIVED,
                              db_index=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="fr")
    received_via = models.CharField(_("received via"), max_length=20, choices=ReceivedVia.choices,
                                    default=ReceivedVia.WEB_FORM)
    requester_name = models.CharField(_("requester name"), max_length=255)
    requester_email = models.EmailField(_("requester email"), max_length=254, blank=True)
    requester_phone = models.CharField(_("requester phone (E.164)"), max_length=20, blank=True)
    customer_reference = models.CharField(_("customer reference"), max_length=120, blank=True)
    details = models.TextField(_("details"), blank=True)
    purposes = models.ManyToManyField(
        Purpose, verbose_name=_("purposes concerned"), blank=True, related_name="+",
        help_text=_("For an objection or a restriction: the purposes concerned (none: all of them)."),
    )
    on_behalf = models.BooleanField(_("made on behalf of someone else"), default=False)
    subject_name = models.CharField(_("person concerned"), max_length=255, blank=True,
                                    help_text=_("When the request is made on someone else's behalf."))
    representative_capacity = models.CharField(_("capacity of the representative"), max_length=20,
                                               choices=Capacity.choices, blank=True)
    mandate_document = models.FileField(_("proof of mandate"), storage=private_storage,
                                        upload_to="rights/mandates/%Y/%m/", blank=True)
    mandate_status = models.CharField(_("proof of mandate"), max_length=20, choices=MandateStatus.choices,
                                      default=MandateStatus.NOT_REQUIRED)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verification_method = models.CharField(_("verified by"), max_length=20, choices=VerificationMethod.choices,
                                           blank=True)
    verification_note = models.TextField(_("verification note"), blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("identity verified by"),
                                    on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    due_on = models.DateField(_("due on"), db_index=True)
    extension_months = models.PositiveSmallIntegerField(_("extension (months)"), default=0)
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assignee"), on_delete=models.PROTECT,
                                 null=True, blank=True, related_name="assigned_rights_requests")
    outcome = models.TextField(_("outcome"), blank=True)
    rejection_reason = models.CharField(_("reason for refusal"), max_length=30, choices=RejectionReason.choices,
                                        blank=True)
    rejection_text = models.TextField(_("explanation of the refusal"), blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    tasks_override_reason = models.TextField(
        _("reason for closing with open recipient tasks"), blank=True,
        help_text=_("Filled by the DPO only, when the request must close before every recipient confirmed."),
    )
    # Binds every emailed link to this request; changing it revokes them all.
    link_key = models.CharField(max_length=32, default=new_link_key, editable=False)
    # Once an erasure request is closed, only what proves it is kept: keyed digests, not the values.
    email_digest = models.CharField(_("email (keyed digest)"), max_length=64, blank=True)
    phone_digest = models.CharField(_("phone (keyed digest)"), max_length=64, blank=True)
    pseudonymised_at = models.DateTimeField(_("pseudonymised at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    contacts = models.ManyToManyField(Contact, verbose_name=_("contacts concerned"), through="RequestContact",
                                      related_name="rights_requests", blank=True)
    history = HistoricalRecords(excluded_fields=["link_key"])

    class Meta:
        ordering = ["due_on", "received_at"]
        verbose_name = _("rights request")
        verbose_name_plural = _("rights requests")
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class RequestContact(models.Model):
    """A contact the request covers. Only the verified email matches by itself; any other match
    (phone, name, customer reference) is added by staff who checked the identity."""

    class MatchedBy(models.TextChoices):
        EMAIL = "email", _("Verified email")
        STAFF = "staff", _("Added by staff after checking identity")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="request_contacts")
    contact = models.ForeignKey(Contact, verbose_name=_("contact"), on_delete=models.PROTECT, related_name="+")
    matched_by = models.CharField(_("matched by"), max_length=10, choices=MatchedBy.choices)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("added by"), on_delete=models.PROTECT,
                                 null=True, blank=True, related_name="+")
    added_at = models.DateTimeField(_("added at"), default=timezone.now)
    note = models.CharField(_("how the identity was checked"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("contact concerned")
        verbose_name_plural = _("contacts concerned")
        constraints = [models.UniqueConstraint(fields=["request", "contact"], name="request_contact_unique")]

    def __str__(self) -> str:
        return f"{self.request_id} → {self.contact_id}"


class RequestEvent(models.Model):
    """One line of a request's timeline: who did what, when. Written only by rights.services."""

    class Code(models.TextChoices):
        RECEIVED = "received", _("Request received")
        VERIFICATION_SENT = "verification_sent", _("Verification link sent")
        VERIFIED = "verified", _("Identity verified")
        CONTACT_ADDED = "contact_added", _("Contact added to the request")
        CONTACT_REMOVED = "contact_removed", _("Contact removed from the request")
        MANDATE_CHECKED = "mandate_checked", _("Proof of mandate checked")
        ASSIGNED = "assigned", _("Assigned")
        STARTED = "started", _("Handling started")
        ASKED = "asked", _("Question to the requester")
        ANSWERED = "answered", _("Answer from the requester")
        SUSPENDED = "suspended", _("Deadline suspended")
        RESUMED = "resumed", _("Deadline resumed")
        EXTENDED = "extended", _("Deadline extended")
        JOB_STARTED = "job_started", _("Job started")
        JOB_FINISHED = "job_finished", _("Job finished")
        JOB_CANCELLED = "job_cancelled", _("Job cancelled: the request was closed before it ran")
        RECTIFICATION_DECIDED = "rectification_decided", _("Rectification decided")
        RESTRICTION_LIFTED = "restriction_lifted", _("Restriction lifted")
        OBJECTION_DECIDED = "objection_decided", _("Objection decided")
        TASK_CREATED = "task_created", _("Recipient task created")
        TASK_CONFIRMED = "task_confirmed", _("Recipient task confirmed")
        DOWNLOADED = "downloaded", _("Export downloaded")
        REMINDER_SENT = "reminder_sent", _("Deadline reminder sent")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn by the requester")
        PSEUDONYMISED = "pseudonymised", _("Request pseudonymised")
        NOTE = "note", _("Note")

    class Actor(models.TextChoices):
        REQUESTER = "requester", _("Requester")
        STAFF = "staff", _("Staff")
        SYSTEM = "system", _("System")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("at"), default=timezone.now)
    code = models.CharField(_("event"), max_length=30, choices=Code.choices)
    actor = models.CharField(_("actor"), max_length=10, choices=Actor.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT,
                             null=True, blank=True, related_name="+")
    text = models.TextField(_("text"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("request event")
        verbose_name_plural = _("request events")

    def __str__(self) -> str:
        return f"{self.request_id} {self.code}"


class Suspension(models.Model):
    """Time the deadline stands still while the requester is asked to prove their identity (Art. 12(6))."""

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="suspensions")
    started_at = models.DateTimeField(_("from"))
    ended_at = models.DateTimeField(_("to"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=255)

    class Meta:
        ordering = ["started_at"]
        verbose_name = _("suspension of the deadline")
        verbose_name_plural = _("suspensions of the deadline")


class RectificationChange(models.Model):
    """One correction asked for: a contact field and its new value, then staff's decision."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("To decide")
        APPLIED = "applied", _("Applied")
        REFUSED = "refused", pgettext_lazy("requested correction", "Refused")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="rectifications")
    field = models.CharField(_("field"), max_length=50)
    new_value = models.CharField(_("new value"), max_length=255)
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING)
    reason = models.TextField(_("reason (when refused)"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("requested correction")
        verbose_name_plural = _("requested corrections")


class RecipientTask(models.Model):
    """Art. 19: telling a recipient or processor of a rectification, erasure or restriction."""

    class Mode(models.TextChoices):
        EMAIL = "email", _("Notification email")
        MANUAL = "manual", _("Manual task in the other system")

    class TaskStatus(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="recipient_tasks")
    recipient = models.ForeignKey(Recipient, verbose_name=_("recipient"), on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+")
    processor = models.ForeignKey(Processor, verbose_name=_("processor"), on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+")
    name = models.CharField(_("organisation"), max_length=255)
    mode = models.CharField(_("how"), max_length=10, choices=Mode.choices)
    status = models.CharField(_("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("confirmed by"),
                                     on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("recipient task (Art. 19)")
        verbose_name_plural = _("recipient tasks (Art. 19)")

    def __str__(self) -> str:
        return self.name


class DownloadLink(models.Model):
    """The requester's access to an export: bound to the request, expiring, with counted uses.
    The file is deleted from storage when the link expires."""

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="download_links")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    max_uses = models.PositiveSmallIntegerField(_("downloads allowed"))
    uses = models.PositiveSmallIntegerField(_("downloads made"), default=0)
    file_deleted_at = models.DateTimeField(_("file deleted at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("download link")
        verbose_name_plural = _("download links")


class UnverifiedRequestCount(models.Model):
    """Requests never verified are deleted when they expire; only their number is kept."""

    month = models.DateField(_("month"))
    kind = models.CharField(_("right exercised"), max_length=20, choices=Kind.choices)
    count = models.PositiveIntegerField(_("count"), default=0)

    class Meta:
        ordering = ["-month", "kind"]
        verbose_name = _("expired unverified requests")
        verbose_name_plural = _("expired unverified requests")
        constraints = [models.UniqueConstraint(fields=["month", "kind"], name="unverified_count_unique")]


class Proof(models.Model):
    """A PDF proof as it was issued to the requester: kept as sent, with its digest."""

    class ProofKind(models.TextChoices):
        ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement of receipt")
        CERTIFICATE = "certificate", _("Certificate of fulfilment")
        REFUSAL = "refusal", _("Reasoned refusal")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="proofs")
    kind = models.CharField(_("document"), max_length=20, choices=ProofKind.choices)
    language = models.CharField(_("language"), max_length=8)
    file = models.FileField(_("file"), storage=private_storage, upload_to="rights/proofs/%Y/%m/")
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("proof")
        verbose_name_plural = _("proofs")
        constraints = [models.UniqueConstraint(fields=["request", "kind"], name="proof_kind_unique")]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind}"
