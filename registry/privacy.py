"""The registry app's data-map declarations."""
from django.contrib.auth import get_user_model

from .datamap import datamap
from .models import Organisation, Processor, Recipient

datamap.exempt(
    Organisation,
    reason="The controller's own identity and its DPO's published contact details "
    "(Art. 37(7) requires publishing them); not data of the register's data subjects.",
)
datamap.exempt(
    Recipient,
    reason="Business contact points of recipient organisations, kept to notify them (Art. 19).",
)
datamap.exempt(
    Processor,
    reason="Business contact points of processors (Art. 28 contracts).",
)
datamap.exempt(
    get_user_model(),
    reason="Staff and integration accounts of DPO Desk itself, covered by the organisation's "
    "HR and IT-access activities, not by the contact-facing sources.",
)
