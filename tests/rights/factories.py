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


# --- Fulfilment (rectification, erasure, restriction, objection) ------------------------------


def run_fulfilment(request, *, by, capture):
    """Start the request's fulfilment job as staff do and let it run (jobs run on commit)."""
    with capture(execute=True):
        job = services.rights_request_fulfil(request=request, by=by)
    job.refresh_from_db()
    request.refresh_from_db()
    return job


class Outbox(list):
    """The requester emails the services asked for: (request id, message, extra)."""

    def messages(self, request_id=None):
        return [message for pk, message, _extra in self if request_id in (None, pk)]


def record_notifications(monkeypatch) -> Outbox:
    """Replace rights.services._notify: tests read what would be sent, and no mail task runs."""
    outbox = Outbox()
    monkeypatch.setattr(services, "_notify",
                        lambda request, message, **extra: outbox.append((request.pk, message, extra)))
    return outbox
