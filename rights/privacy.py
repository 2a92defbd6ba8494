"""The rights app's data-map declarations.

Every source here serves the register's purpose of handling rights requests, named by its slug
(the demo register's R-07 declares it, under a legal obligation). Erasure still anonymises them
(``legal_hold=False``): the proof the law asks for is what the anonymisation keeps (reference,
dates, keyed digests of the email and phone; design §3)."""
from django.utils.translation import gettext_lazy as _

from registry.datamap import Blank, FixedToken, KeyedHash, PersonalField, datamap

from .models import (DownloadLink, Proof, RecipientTask, RectificationChange, RequestContact, RequestEvent,
                     RightsRequest, Suspension, UnverifiedRequestCount)


RIGHTS_PURPOSES = ["rights-requests"]


def _requests_of(contact):
    return RightsRequest.objects.filter(request_contacts__contact=contact).distinct()


datamap.declare(
    RightsRequest,
    fields={
        "requester_name": PersonalField("identity", FixedToken("anonyme")),
        "requester_email": PersonalField("contact_details", KeyedHash()),
        "requester_phone": PersonalField("contact_details", KeyedHash()),
        "customer_reference": PersonalField("identity", Blank()),
        "subject_name": PersonalField("identity", Blank()),
        "details": PersonalField("personal_life", Blank()),
        "verification_note": PersonalField("personal_life", Blank()),
        "mandate_document": PersonalField("identity", Blank()),
        # Set when an erasure request is pseudonymised: keyed HMACs, kept as proof of the erasure.
        "email_digest": PersonalField("pseudonymised_identifiers", Blank(), export=False),
        "phone_digest": PersonalField("pseudonymised_identifiers", Blank(), export=False),
    },
    purposes=RIGHTS_PURPOSES,
    legal_hold=False,
    subject=_requests_of,
    slug="rights-requests",
    description=_("Rights requests the contact made: who asked, how to reach them, what they wrote."),
)
datamap.declare(
    RequestContact,
    fields={"note": PersonalField("personal_life", Blank())},
    purposes=RIGHTS_PURPOSES,
    legal_hold=False,
    subject=lambda contact: RequestContact.objects.filter(contact=contact),
    slug="rights-request-contacts",
    description=_("Which contacts each rights request covers, and how staff checked the identity."),
)
datamap.declare(
    RequestEvent,
    fields={"text": PersonalField("personal_life", Blank())},
    purposes=RIGHTS_PURPOSES,
    legal_hold=False,
    subject=lambda contact: RequestEvent.objects.filter(request__in=_requests_of(contact)),
    slug="rights-request-events",
    description=_("The timeline of each request: questions, answers and decisions."),
)
datamap.declare(
    RectificationChange,
    fields={"new_value": PersonalField("identity", Blank()), "reason": PersonalField("personal_life", Blank())},
    purposes=RIGHTS_PURPOSES,
    legal_hold=False,
    subject=lambda contact: RectificationChange.objects.filter(request__in=_requests_of(contact)),
    slug="rectifications",
    description=_("Corrections asked for in rectification requests."),
)
datamap.declare(
    Proof,
    fields={"file": PersonalField("personal_life", Blank())},
    purposes=RIGHTS_PURPOSES,
    legal_hold=False,
    subject=lambda contact: Proof.objects.filter(request__in=_requests_of(contact)),
    slug="rights-proofs",
    description=_("The PDF proofs sent to the requester (acknowledgement, certificate, refusal)."),
)
datamap.exempt(Suspension, reason="Dates and a reason chosen by staff: no personal data.")
datamap.exempt(RecipientTask, reason="Which recipient organisation was told and by whom (staff): no data of the "
               "requester.")
datamap.exempt(DownloadLink, reason="Expiry and use counts of an export link; the file itself is the job's "
               "output, deleted when the link expires.")
datamap.exempt(UnverifiedRequestCount, reason="Counts per month and kind only.")
