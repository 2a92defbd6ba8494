from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_siren(value: str) -> None:
    """A SIREN is nine digits whose Luhn checksum is valid (INSEE)."""
    if not (len(value) == 9 and value.isdigit() and luhn_valid(value)):
        raise ValidationError(_("A SIREN is 9 digits with a valid check digit."), code="invalid_siren")


# A scanned document kept as evidence (a consent's signed paper form, a rights request's proof of
# mandate): PDF, JPEG or PNG, recognised by its first bytes (the browser's content type and the file
# name are only what the sender says), with a file name of the same type, and this size at most.
SCANNED_DOCUMENT_MAX_BYTES = 5 * 1024 * 1024
SCANNED_DOCUMENT_SIGNATURES = {
    b"%PDF-": "pdf",
    b"\xff\xd8\xff": "jpeg",
    b"\x89PNG\r\n\x1a\n": "png",
}
SCANNED_DOCUMENT_EXTENSIONS = {"pdf": (".pdf",), "jpeg": (".jpg", ".jpeg"), "png": (".png",)}


def scanned_document_type(upload) -> str | None:
    """"pdf", "jpeg" or "png" from the file's first bytes (None for anything else); the file is
    left at its start."""
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for signature, kind in SCANNED_DOCUMENT_SIGNATURES.items():
        if head.startswith(signature):
            return kind
    return None


def scanned_document_help_text() -> str:
    """What a scanned document may be, for a form's help text (in the active language)."""
    return _("PDF, JPEG or PNG, %(size)s at most.") % {"size": filesizeformat(SCANNED_DOCUMENT_MAX_BYTES)}


def validate_scanned_document(upload) -> None:
    """A scanned document is a PDF, JPEG or PNG (by its content, and named as one) of
    SCANNED_DOCUMENT_MAX_BYTES at most. Used by every form and service that keeps one."""
    if upload.size > SCANNED_DOCUMENT_MAX_BYTES:
        raise ValidationError(
            _("The file is too large (%(size)s): send a file of %(max)s at most.")
            % {"size": filesizeformat(upload.size), "max": filesizeformat(SCANNED_DOCUMENT_MAX_BYTES)},
            code="file_too_large")
    kind = scanned_document_type(upload)
    if kind is None or not (upload.name or "").lower().endswith(SCANNED_DOCUMENT_EXTENSIONS[kind]):
        raise ValidationError(_("Send a PDF, JPEG or PNG file."), code="file_type")
