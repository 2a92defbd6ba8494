"""Emails to contacts, in their language, with the links they need. Sent after commit."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.utils.translation import override

from registry.models import Purpose
from registry.selectors import organisation_get, organisation_dpo_emails

from . import tokens
from .models import ConsentEvent, Contact


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


def _localised_path(language: str, name: str, token: str) -> str:
    with override(language):
        return reverse(name, args=[token])


def preference_centre_url(*, contact: Contact) -> str:
    return public_url(_localised_path(contact.language, "consent:preferences",
                                      tokens.preferences_token(contact_id=contact.pk)))


def confirmation_url(*, event: ConsentEvent) -> str:
    return public_url(_localised_path(_shown_language(event), "consent:confirm",
                                      tokens.confirm_token(event_id=event.pk)))


def unsubscribe_url(*, contact_id: int, purpose_id: int, channel_id: int, language: str = "fr") -> str:
    return public_url(_localised_path(language, "consent:unsubscribe", tokens.unsubscribe_token(
        contact_id=contact_id, purpose_id=purpose_id, channel_id=channel_id)))


_TOKEN_MARK = "0.0.0.unsubscribe-token-mark"  # path-safe: reverse() leaves it as it is


def unsubscribe_url_parts(*, language: str) -> tuple[str, str]:
    """(head, tail) with unsubscribe_url(...) == head + token + tail in ``language``: the audience
    export reverses the URL once per language, not once per row."""
    head, tail = public_url(_localised_path(language, "consent:unsubscribe", _TOKEN_MARK)).split(_TOKEN_MARK)
    return head, tail


def unsubscribe_url_parts_by_language() -> dict[str, tuple[str, str]]:
    """unsubscribe_url_parts of every language of the site (settings.LANGUAGES)."""
    return {code: unsubscribe_url_parts(language=code) for code, _name in settings.LANGUAGES}


def _message(*, contact: Contact, subject: str, template: str, context: dict) -> EmailMessage:
    """In the active language, signed by the controller (who is writing, and how to reach its DPO),
    answers going to the DPO."""
    organisation = organisation_get()
    body = render_to_string(template, {"contact": contact, "organisation": organisation, **context})
    return EmailMessage(subject=str(subject), body=body, to=[contact.email],
                        reply_to=organisation_dpo_emails(organisation) or None)


def _send(*, contact: Contact, subject: str, template: str, context: dict, language: str | None = None) -> None:
    with override(language or contact.language):
        message = _message(contact=contact, subject=_(subject), template=template, context=context)
    message.send()


def _shown_language(event: ConsentEvent) -> str:
    """The language of the notice the person was shown (the form's page), else the contact's."""
    return event.notice.language if event.notice_id else event.contact.language


def send_double_opt_in(*, event_id: int) -> None:
    event = ConsentEvent.objects.select_related("contact", "purpose", "channel", "notice").get(pk=event_id)
    language = _shown_language(event)
    with override(language):
        _send(contact=event.contact, subject=gettext_noop("Please confirm your subscription"),
              template="emails/double_opt_in.txt", language=language,
              context={"purpose": event.purpose, "url": confirmation_url(event=event),
                       "days": settings.DOUBLE_OPT_IN_DAYS})


def send_preference_link(*, contact_id: int) -> None:
    contact = Contact.objects.get(pk=contact_id)
    _send(contact=contact, subject=gettext_noop("Your communication preferences"),
          template="emails/preference_link.txt",
          context={"url": preference_centre_url(contact=contact), "days": settings.PREFERENCE_LINK_DAYS})


def send_purpose_retired(*, contact: Contact, purpose: Purpose) -> None:
    """Tell a contact that a purpose they had consented to is retired: their consent no longer applies."""
    _send(contact=contact, subject=gettext_noop("We have stopped a processing you had agreed to"),
          template="emails/purpose_retired.txt",
          context={"purpose": purpose, "url": preference_centre_url(contact=contact),
                   "days": settings.PREFERENCE_LINK_DAYS})


def send_consent_receipts(*, event_ids: list[int]) -> None:
    """The person's receipts (PDF) for consent given through a form, with their preference-centre link."""
    from .receipts import receipt_pdf

    events = list(ConsentEvent.objects.select_related("contact", "purpose", "channel", "notice")
                  .filter(pk__in=event_ids).order_by("sequence"))
    if not events or not events[0].contact.email:
        return
    contact = events[0].contact
    language = _shown_language(events[0])
    with override(language):
        message = _message(contact=contact, subject=_("Your consent receipt"), template="emails/consent_receipt.txt",
                           context={"events": events, "url": preference_centre_url(contact=contact)})
        for event in events:
            message.attach(f"consent-receipt-{event.sequence}.pdf",
                           receipt_pdf(event=event, language=language), "application/pdf")
    message.send()
