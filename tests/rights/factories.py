"""Rights-request builders for the tests: through rights.services, like the app."""
from __future__ import annotations

from rights import services
from rights.models import ReceivedVia, RightsRequest


def web_request(*, kind: str = "access", email: str = "camille.durand@example.org", name: str = "Camille Durand",
                language: str = "fr", **fields) -> RightsRequest:
    """A request filed through the public form: it waits for the email link."""
    return services.rights_request_create(kind=kind, requester_name=name, requester_email=email, language=language,
                                          received_via=ReceivedVia.WEB_FORM, **fields)


def verified_request(**fields) -> RightsRequest:
    """A web request whose email link was opened: matched to the contacts holding the email."""
    return services.rights_request_verify_email(request=web_request(**fields))


def staff_request(*, by, kind: str = "access", name: str = "Camille Durand", email: str = "",
                  received_via: str = ReceivedVia.POST, **fields) -> RightsRequest:
    """A request received by post or phone and entered by staff."""
    return services.rights_request_create(kind=kind, requester_name=name, requester_email=email,
                                          received_via=received_via, created_by=by, **fields)
