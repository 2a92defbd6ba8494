"""The scan of a paper consent is kept as proof: a PDF, JPEG or PNG within the size limit, by the
rule the rights request's proof of mandate follows (registry.validators), on the staff page and in
consent.services alike. Anything else is refused under the file field and nothing is recorded."""
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from consent.models import CollectionForm, CollectionFormItem, ConsentEvent, Contact
from registry import validators
from tests.factories import ContactFactory, record_consent

pytestmark = pytest.mark.django_db

URL = "/staff/forms/accueil/"

# A small but real PDF (one empty page) and a real 1x1 PNG.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b""))


PNG = _png()
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff this program cannot be run in DOS mode"


@pytest.fixture
def accueil(newsletter, channels):
    form = CollectionForm.objects.create(slug="accueil", name_fr="Accueil", public=False)
    box = CollectionFormItem.objects.create(form=form, purpose=newsletter, channel=channels["sms"])
    return form, box


def _post_paper(client, box, upload, *, prefix=""):
    return client.post(prefix + URL, {"phone": "06 98 76 54 32", "last_name": "Martin", "method": "paper",
                                      f"box_{box.pk}": "on", "evidence_document": upload,
                                      "evidence_note": "Salon"})


@pytest.mark.parametrize("name, content, content_type", [
    ("evil.exe", EXE, "application/x-msdos-program"),
    ("scan.html", HTML, "text/html"),
    ("scan.pdf", HTML, "application/pdf"),  # an HTML page renamed .pdf: its content says what it is
    ("scan.exe", PDF, "application/pdf"),  # a PDF's content behind a program's name
], ids=["exe", "html", "html-renamed-pdf", "pdf-renamed-exe"])
def test_staff_paper_consent_refuses_a_file_that_is_not_a_scan(client, staff_user, accueil, name, content,
                                                               content_type):
    _form, box = accueil
    client.force_login(staff_user)
    with translation.override("en"):
        response = _post_paper(client, box, SimpleUploadedFile(name, content, content_type=content_type),
                               prefix="/en")
        assert response.status_code == 200
        assert response.context["form"].errors["evidence_document"] == ["Send a PDF, JPEG or PNG file."]
    assert "Send a PDF, JPEG or PNG file." in response.content.decode()
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()


def test_the_refusal_is_in_french_on_the_french_page(client, staff_user, accueil):
    _form, box = accueil
    client.force_login(staff_user)
    response = _post_paper(client, box, SimpleUploadedFile("evil.exe", EXE))
    assert response.status_code == 200
    assert response.context["form"].errors["evidence_document"] == ["Envoyez un fichier PDF, JPEG ou PNG."]
    assert "Envoyez un fichier PDF, JPEG ou PNG." in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_staff_paper_consent_refuses_a_scan_too_large(client, staff_user, accueil, monkeypatch):
    monkeypatch.setattr(validators, "SCANNED_DOCUMENT_MAX_BYTES", 100)  # the limit shared with the mandates
    _form, box = accueil
    client.force_login(staff_user)
    with translation.override("en"):
        response = _post_paper(client, box, SimpleUploadedFile("scan.pdf", PDF, content_type="application/pdf"),
                               prefix="/en")
        errors = response.context["form"].errors["evidence_document"]
    assert response.status_code == 200 and len(errors) == 1 and "too large" in errors[0]
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("name, content", [("scan.pdf", PDF), ("scan.PNG", PNG)], ids=["pdf", "png"])
def test_staff_paper_consent_keeps_a_real_pdf_or_png(client, staff_user, accueil, name, content):
    _form, box = accueil
    client.force_login(staff_user)
    response = _post_paper(client, box, SimpleUploadedFile(name, content))
    assert response.status_code == 200
    assert "form" not in response.context or not response.context["form"].errors
    event = ConsentEvent.objects.get()
    assert (event.method, event.action, event.recorded_by) == ("paper", "granted", staff_user)
    with event.evidence_document.open("rb") as stored:
        assert stored.read() == content


def test_the_page_says_which_files_are_accepted(client, staff_user, accueil):
    client.force_login(staff_user)
    with translation.override("en"):
        page = client.get("/en" + URL).content.decode()
    assert "PDF, JPEG or PNG, 5.0\xa0MB at most." in page


@pytest.mark.parametrize("name, content", [("evil.exe", EXE), ("scan.pdf", HTML)], ids=["exe", "html-renamed-pdf"])
def test_the_service_refuses_a_document_that_is_not_a_scan(newsletter, name, content, _isolated_files):
    """The rule holds for any caller of consent.services, not only the staff page."""
    contact = ContactFactory(email="paper@example.org")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        record_consent(contact, newsletter, "email", "granted", method="paper",
                       evidence_document=SimpleUploadedFile(name, content))
    assert refused.value.message_dict == {"evidence_document": ["Send a PDF, JPEG or PNG file."]}
    assert not ConsentEvent.objects.exists()
    assert not [path for path in _isolated_files.rglob("*") if path.is_file()]  # no file kept either


def test_the_service_keeps_a_real_pdf(newsletter):
    contact = ContactFactory(email="paper@example.org")
    event = record_consent(contact, newsletter, "email", "granted", method="paper",
                           evidence_document=SimpleUploadedFile("scan.pdf", PDF))
    with event.evidence_document.open("rb") as stored:
        assert stored.read() == PDF
