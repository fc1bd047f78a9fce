"""Attachments (§3.1) beyond their type: PDFs with active content are refused, as are PDFs
that cannot be checked; each account may upload a limited volume a day. The PDFs are real,
built with pypdf's writer."""

import io
from datetime import datetime, timedelta

import pytest
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from ep import demandes
from ep.demo import DEMO_PDF
from ep.models import Attachment, Demande
from ep.rules import RuleError

from .conftest import account
from .test_demandes import form, rule_data, upload

ACTIVE = "contient du contenu actif"


def name(value):
    return NameObject(value)


def action(kind, **entries):
    return DictionaryObject(
        {name("/Type"): name("/Action"), name("/S"): name(kind)}
        | {name(f"/{k}"): v for k, v in entries.items()}
    )


def js(code="app.alert('bonjour');"):
    return action("/JavaScript", JS=TextStringObject(code))


def annotation(writer, page, subtype, **entries):
    annot = DictionaryObject(
        {
            name("/Type"): name("/Annot"),
            name("/Subtype"): name(subtype),
            name("/Rect"): ArrayObject([FloatObject(0), FloatObject(0)] + [FloatObject(99)] * 2),
        }
        | {name(f"/{k}"): v for k, v in entries.items()}
    )
    page[name("/Annots")] = ArrayObject([writer._add_object(annot)])


def make_pdf(build=None, pages=1):
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    if build:
        build(writer, writer.pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def document_javascript(w, page):
    w.add_open_action(JavaScript("this.print();"))  # the document-level JavaScript name tree


def open_action_javascript(w, page):
    w.root_object[name("/OpenAction")] = w._add_object(js())


def open_action_launch(w, page):
    w.root_object[name("/OpenAction")] = action(
        "/Launch",
        F=TextStringObject("cmd.exe"),
        Win=DictionaryObject({name("/F"): TextStringObject("cmd.exe")}),
    )


def catalog_aa_javascript(w, page):
    w.root_object[name("/AA")] = DictionaryObject({name("/WC"): js()})


def page_aa_javascript(w, page):
    page[name("/AA")] = DictionaryObject({name("/O"): w._add_object(js())})


def link_javascript(w, page):
    annotation(w, page, "/Link", A=js())


def link_launch(w, page):
    annotation(w, page, "/Link", A=action("/Launch", F=TextStringObject("../../evil.exe")))


def chained_javascript(w, page):
    """A harmless first action whose /Next runs JavaScript."""
    first = action("/URI", URI=TextStringObject("https://example.org/"), Next=w._add_object(js()))
    annotation(w, page, "/Link", A=first)


def embedded_file(w, page):
    w.add_attachment("note.txt", b"bonjour")


def file_attachment_annotation(w, page):
    data = DecodedStreamObject()
    data.set_data(b"bonjour")
    data[name("/Type")] = name("/EmbeddedFile")
    spec = DictionaryObject(
        {
            name("/Type"): name("/Filespec"),
            name("/F"): TextStringObject("note.txt"),
            name("/EF"): DictionaryObject({name("/F"): w._add_object(data)}),
        }
    )
    annotation(w, page, "/FileAttachment", FS=w._add_object(spec))


def rich_media(w, page):
    annotation(w, page, "/RichMedia", RichMediaContent=DictionaryObject())


def xfa_form(w, page):
    w.root_object[name("/AcroForm")] = DictionaryObject(
        {name("/Fields"): ArrayObject(), name("/XFA"): ArrayObject()}
    )


def outline_javascript(w, page):
    item = w.add_outline_item(title="Début", page_number=0)
    item.get_object()[name("/A")] = w._add_object(js())


@pytest.mark.parametrize(
    "build",
    [
        document_javascript,
        open_action_javascript,
        open_action_launch,
        catalog_aa_javascript,
        page_aa_javascript,
        link_javascript,
        link_launch,
        chained_javascript,
        embedded_file,
        file_attachment_annotation,
        rich_media,
        xfa_form,
        outline_javascript,
    ],
)
def test_pdf_with_active_content_is_refused_and_nothing_saved(ctx, build):
    before = (Demande.select().count(), Attachment.select().count())
    with pytest.raises(RuleError, match=ACTIVE) as exc:
        demandes.submit(account("technicien.demo"), rule_data(), [upload(make_pdf(build), "a.pdf")])
    assert exc.value.field == "pieces_jointes"
    assert "Enregistrer au format PDF" in exc.value.message
    assert (Demande.select().count(), Attachment.select().count()) == before


def test_names_written_with_escapes_are_still_recognised(ctx):
    """/J#61vaScript is /JavaScript to a viewer: a parser sees it, a search for bytes not."""
    content = make_pdf(open_action_javascript)
    hidden = content.replace(b"/JavaScript", b"/J#61vaScript").replace(b"/JS", b"/J#53")
    assert b"/JavaScript" not in hidden and b"/JS" not in hidden
    with pytest.raises(RuleError, match=ACTIVE):
        demandes.submit(account("technicien.demo"), rule_data(), [upload(hidden, "a.pdf")])


def uri_link_outline_and_form(w, page):
    annotation(w, page, "/Link", A=action("/URI", URI=TextStringObject("https://example.org/")))
    w.add_outline_item(title="Début", page_number=0)
    field = DictionaryObject(
        {
            name("/FT"): name("/Tx"),
            name("/T"): TextStringObject("nom"),
            name("/V"): TextStringObject("Exemple"),
            name("/Ff"): NumberObject(0),
        }
    )
    w.root_object[name("/AcroForm")] = DictionaryObject(
        {name("/Fields"): ArrayObject([w._add_object(field)])}
    )


@pytest.mark.parametrize(
    "content",
    [DEMO_PDF, make_pdf(), make_pdf(pages=40), make_pdf(uri_link_outline_and_form)],
    ids=["demo", "blank", "forty-pages", "links-outline-form"],
)
def test_ordinary_pdfs_pass(ctx, content):
    d = demandes.submit(account("technicien.demo"), rule_data(), [upload(content, "a.pdf")])
    assert d.attachments.count() == 1


def encrypted(user_password):
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt(user_password, owner_password="proprietaire", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (encrypted("secret"), "chiffré"),
        (encrypted(""), "chiffré"),  # opens without a password, but its content is hidden
        (b"%PDF-1.7\n" + bytes(range(256)) * 40, "illisible"),
        (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R", "illisible"),
    ],
    ids=["password", "owner-password-only", "garbage", "truncated"],
)
def test_pdfs_that_cannot_be_checked_are_refused(ctx, content, message):
    with pytest.raises(RuleError, match=message) as exc:
        demandes.submit(account("technicien.demo"), rule_data(), [upload(content, "a.pdf")])
    assert exc.value.field == "pieces_jointes"


def test_active_pdf_is_refused_by_the_field_in_the_form(client, login_as):
    login_as("technicien.demo")
    before = Demande.select().count()
    data = form()
    data["pieces_jointes"] = (io.BytesIO(make_pdf(open_action_javascript)), "piege.pdf")
    response = client.post("/demandes/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "contenu actif" in page and "piege.pdf" in page
    assert Demande.select().count() == before


def padded_pdf(size):
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_metadata({"/Keywords": "x" * size})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_daily_upload_volume_is_capped_per_account(ctx, app):
    app.config["EP_MAX_UPLOAD_MB_PER_DAY"] = 1
    tech = account("technicien.demo")
    six_hundred_kb = padded_pdf(600 * 1024)
    first = demandes.submit(tech, rule_data(nom="Premier"), [upload(six_hundred_kb, "a.pdf")])
    before = (Demande.select().count(), Attachment.select().count())
    with pytest.raises(RuleError, match="1 Mo par jour") as exc:
        demandes.submit(tech, rule_data(nom="Second"), [upload(six_hundred_kb, "b.pdf")])
    assert exc.value.field == "pieces_jointes"
    with pytest.raises(RuleError, match="1 Mo par jour"):
        demandes.reply(tech, first, "Un autre document.", [upload(six_hundred_kb, "c.pdf")])
    assert (Demande.select().count(), Attachment.select().count()) == before
    # Another account has its own allowance; yesterday's uploads no longer count.
    demandes.submit(account("technicien.voisin"), rule_data(), [upload(six_hundred_kb, "d.pdf")])
    Attachment.update(created_at=datetime.now() - timedelta(days=1)).where(
        Attachment.uploaded_by == tech
    ).execute()
    demandes.submit(tech, rule_data(nom="Lendemain"), [upload(six_hundred_kb, "e.pdf")])


def test_one_submission_over_the_daily_cap_saves_nothing(ctx, app):
    app.config["EP_MAX_UPLOAD_MB_PER_DAY"] = 1
    before = (Demande.select().count(), Attachment.select().count())
    files = [upload(padded_pdf(400 * 1024), f"{i}.pdf") for i in range(3)]
    with pytest.raises(RuleError, match="1 Mo par jour"):
        demandes.submit(account("technicien.demo"), rule_data(), files)
    assert (Demande.select().count(), Attachment.select().count()) == before


def test_daily_cap_is_told_by_the_field_in_the_form(client, login_as, app):
    app.config["EP_MAX_UPLOAD_MB_PER_DAY"] = 1
    with app.test_request_context():
        demandes.submit(
            account("technicien.demo"),
            rule_data(nom="Autre"),
            [upload(padded_pdf(600 * 1024), "a.pdf")],
        )
    login_as("technicien.demo")
    before = (Demande.select().count(), Attachment.select().count())
    data = form()
    # under 500 kB: the test client spools larger bodies to a file it never closes
    data["pieces_jointes"] = (io.BytesIO(padded_pdf(450 * 1024)), "b.pdf")
    response = client.post("/demandes/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "1 Mo par jour et par compte" in page and "il vous reste 0,4 Mo" in page
    assert (Demande.select().count(), Attachment.select().count()) == before
