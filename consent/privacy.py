"""The consent app's data-map declarations.

They declare no purposes (``purposes=[]``): what these records serve is the person's own, read by
rights.export from the record's purpose (a ledger event, a current consent) or else from the
contact's consents and data-subject categories."""
from django.apps import apps
from django.utils.translation import gettext_lazy as _

from registry.datamap import Blank, FixedToken, KeyedHash, PersonalField, TruncateDate, datamap

from .models import AudienceCountDelta, ConsentEvent, ConsentState, Contact, Notice, RetirementNotice, SuppressionEntry


def _contacts_anonymised(contact_ids: list[int]) -> None:
    """Their current consents can no longer reach them: the audience's index follows (reachable)."""
    from .services import consent_states_refresh_reachable

    consent_states_refresh_reachable(contact_ids=contact_ids)


datamap.declare(
    Contact,
    fields={
        "email": PersonalField("contact_details", KeyedHash()),
        "phone": PersonalField("contact_details", KeyedHash()),
        "first_name": PersonalField("identity", FixedToken("anonyme")),
        "last_name": PersonalField("identity", FixedToken("anonyme")),
        "address_line1": PersonalField("contact_details", Blank()),
        "address_line2": PersonalField("contact_details", Blank()),
        "postal_code": PersonalField("contact_details", Blank()),
        "city": PersonalField("contact_details", Blank()),
        "external_ref": PersonalField("identity", Blank()),
        "collected_at": PersonalField("consent_records", TruncateDate("month")),
    },
    purposes=[],
    subject=lambda contact: Contact.objects.filter(pk=contact.pk),
    slug="contact",
    description=_("The data subjects: identity and contact details, where they came from."),
    anonymised_marker="anonymised_at",
    after_anonymise=_contacts_anonymised,
)
datamap.declare(
    ConsentEvent,
    fields={
        "evidence_ip": PersonalField("connection", Blank()),
        "evidence_user_agent": PersonalField("connection", Blank()),
        "evidence_note": PersonalField("consent_records", Blank()),
        "evidence_document": PersonalField("consent_records", Blank()),
    },
    purposes=[],
    subject=lambda contact: ConsentEvent.objects.filter(contact=contact),
    slug="consent-events",
    description=_("The consent ledger (append-only): erasure clears the personal evidence only; "
                  "the chain covers its keyed digest."),
)
datamap.declare(
    ConsentState,
    fields={},
    purposes=[],
    subject=lambda contact: ConsentState.objects.filter(contact=contact),
    slug="current-consents",
    description=_("Current consent per purpose and channel, derived from the ledger."),
)
datamap.declare(
    RetirementNotice,
    fields={"sent_at": PersonalField("consent_records", TruncateDate("month"))},
    purposes=[],
    subject=lambda contact: RetirementNotice.objects.filter(contact=contact),
    slug="retirement-notices",
    description=_("Which contacts were told by email that a purpose they had consented to was retired, and when."),
)
# simple-history keeps which categories a contact belonged to at each change.
HistoricalContactCategories = apps.get_model("consent", "HistoricalContact_data_subject_categories")
datamap.declare(
    HistoricalContactCategories,
    fields={},
    purposes=[],
    subject=lambda contact: HistoricalContactCategories.objects.filter(contact=contact),
    slug="contact-categories-history",
    title=_("data-subject categories: history of changes"),
    description=_("The history of a contact's data-subject categories."),
)
datamap.exempt(Notice, reason="The texts shown at collection: the same for everyone, no personal data.")
datamap.exempt(SuppressionEntry, reason="Keyed HMACs only, never the clear address or number.")
datamap.exempt(AudienceCountDelta, reason="Counts of current consents per purpose and channel: no one in them.")
