"""Attachments (§3.1) beyond their type: PDFs with active content are refused, as are PDFs
that cannot be checked; each account may upload a limited volume a day. The PDFs are real,
built with pypdf's writer."""

import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

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

from ep import attachments, demandes
from ep.demo import DEMO_PDF
from ep.models import Account, Attachment, Demande, Message
from ep.rules import RuleError

from .conftest import account
from .test_demandes import PNG, form, rule_data, upload

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


# Files of a form that comes back (issue 10.3): kept on the server, listed as already
# attached, sent with the form when it finally goes, removed after a day otherwise.


def held_token(page):
    return re.search(r'name="held" value="([A-Za-z0-9_-]+)"', page).group(1)


def held_list(page):
    """The list of files already attached to the form, as shown under the file field."""
    found = re.search(r'<fieldset[^>]*id="held_uploads".*?</fieldset>', page, re.S)
    return found.group(0) if found else ""


def uploads_on_disk(app):
    folder = Path(app.config["EP_INSTANCE_PATH"]) / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def post_form(client, data, files=()):
    data = dict(data)
    if files:
        data["pieces_jointes"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post("/demandes/new", data=data, content_type="multipart/form-data")


COMES_BACK = {
    "nir": {"commentaire": "NIR 1 85 05 78 006 048 30"},  # refused by the form
    "missing-name": {"nom": ""},  # refused by the rule
    "health-words": {"commentaire": "Sortie d'hospitalisation : attestation de droits."},
    "duplicate": {},  # the same assuré and motif as an open request
    "refresh": {"refresh": "1"},  # the lists refreshed without JavaScript
}


@pytest.mark.parametrize("reason", COMES_BACK)
def test_files_of_a_form_that_comes_back_are_kept_and_sent_with_it(client, login_as, reason):
    login_as("technicien.demo")
    if reason == "duplicate":
        assert post_form(client, form()).status_code == 303
    before = Demande.select().count()
    response = post_form(
        client, form(**COMES_BACK[reason]), [(DEMO_PDF, "justificatif.pdf"), (PNG, "avis.png")]
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and Demande.select().count() == before
    assert "justificatif.pdf" in held_list(page) and "avis.png" in held_list(page)
    assert "déjà jointes" in held_list(page)
    final = form(confirm_health="y", confirm_duplicate="y", held=held_token(page))
    assert post_form(client, final).status_code == 303
    demande = Demande.select().order_by(Demande.id.desc()).first()
    sent = {a.filename: attachments.path_of(a).read_bytes() for a in demande.attachments}
    assert sent == {"justificatif.pdf": DEMO_PDF, "avis.png": PNG}


def test_files_of_a_reply_that_comes_back_are_kept_and_sent_with_it(client, login_as):
    d = Demande.get(Demande.assure_nom == "Fictive")  # waits for the partner
    login_as("technicien.demo")
    response = client.post(
        f"/demandes/{d.id}/reply",
        data={
            "body": "Il sort d'une chimiothérapie.",
            "pieces_jointes": (io.BytesIO(PNG), "a.png"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="confirm_health"' in page
    assert "a.png" in held_list(page)
    data = {"body": "Il sort d'une chimiothérapie.", "confirm_health": "y"}
    response = client.post(f"/demandes/{d.id}/reply", data={**data, "held": held_token(page)})
    assert response.status_code == 303
    message = Message.select().where(Message.demande == d).order_by(Message.id.desc()).first()
    assert [a.filename for a in message.attachments] == ["a.png"]


def test_files_chosen_when_the_caisse_closes_go_with_the_closing_message(client, login_as):
    """The closing button used to drop the chosen files without a word."""
    d = Demande.get(Demande.assure_nom == "Inventée")  # CARSAT, which may send documents
    Demande.update(status="in_progress", closed_at=None).where(Demande.id == d.id).execute()
    login_as("carsat.demo")
    response = client.post(
        f"/demandes/{d.id}/close",
        data={"body": "Notification jointe.", "pieces_jointes": (io.BytesIO(DEMO_PDF), "n.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    message = Message.select().where(Message.demande == d).order_by(Message.id.desc()).first()
    assert message.kind == "close" and [a.filename for a in message.attachments] == ["n.pdf"]


def test_files_are_checked_before_being_kept(client, login_as, app):
    login_as("technicien.demo")
    before = uploads_on_disk(app)
    trap = make_pdf(open_action_javascript)
    page = post_form(client, form(nom=""), [(trap, "piege.pdf"), (DEMO_PDF, "bon.pdf")])
    page = page.get_data(as_text=True)
    assert "contenu actif" in page and 'id="pieces_jointes-error"' in page
    assert "bon.pdf" in held_list(page) and "piege.pdf" not in held_list(page)
    assert len(uploads_on_disk(app)) == len(before) + 1


def test_kept_files_count_in_the_limit_of_five(client, login_as):
    login_as("technicien.demo")
    page = post_form(client, form(nom=""), [(PNG, f"{i}.png") for i in range(4)])
    token = held_token(page.get_data(as_text=True))
    page = post_form(client, form(nom="", held=token), [(PNG, "5.png"), (PNG, "6.png")])
    page = page.get_data(as_text=True)
    assert "5 pièces jointes au plus" in page and held_list(page).count("<li>") == 4
    assert post_form(client, form(held=token)).status_code == 303
    assert Demande.select().order_by(Demande.id.desc()).first().attachments.count() == 4


def test_kept_files_count_in_the_daily_volume(client, login_as, app):
    app.config["EP_MAX_UPLOAD_MB_PER_DAY"] = 1
    login_as("technicien.demo")
    # under 500 kB each: the test client spools larger bodies to a file it never closes
    for name in ("a.pdf", "b.pdf"):
        post_form(client, form(nom=""), [(padded_pdf(450 * 1024), name)])
    page = post_form(client, form(nom="Autre"), [(padded_pdf(200 * 1024), "c.pdf")])
    assert page.status_code == 200
    assert "1 Mo par jour" in page.get_data(as_text=True)


def test_a_kept_file_can_be_removed_before_sending(client, login_as, app):
    login_as("technicien.demo")
    before = uploads_on_disk(app)
    page = post_form(client, form(nom=""), [(DEMO_PDF, "garder.pdf"), (PNG, "retirer.png")])
    page = page.get_data(as_text=True)
    token = held_token(page)
    box = re.search(r'<input[^>]*name="remove_upload"[^>]*value="(\d+)"[^>]*id="([^"]+)"', page)
    assert box and f'for="{box.group(2)}"' in page  # a labelled control per file
    ids = re.findall(r'name="remove_upload"[^>]*value="(\d+)"', page)
    assert len(ids) == 2
    page = post_form(client, form(nom="", held=token, remove_upload=ids[1])).get_data(as_text=True)
    assert "garder.pdf" in held_list(page) and "retirer.png" not in held_list(page)
    assert len(uploads_on_disk(app)) == len(before) + 1  # gone from the disk too
    assert post_form(client, form(held=token)).status_code == 303
    demande = Demande.select().order_by(Demande.id.desc()).first()
    assert [a.filename for a in demande.attachments] == ["garder.pdf"]


def colleague(app):
    """Another active technicien of CCAS de Démo."""
    from ep import accounts
    from ep.accounts import accept_cgu

    with app.test_request_context():
        other = accounts.create_technicien(
            account("gestionnaire.demo"),
            {
                "civilite": "Mme",
                "nom": "Collègue",
                "prenom": "Claire",
                "fonction": "Conseillère",
                "telephone": "01 23 45 67 89",
                "email": "claire.collegue@example.org",
            },
            True,
        )
        accounts.set_password(
            other, "un mot de passe assez long 2026", "un mot de passe assez long 2026"
        )
        accept_cgu(Account.get_by_id(other.id), app.config["EP_CGU_VERSION"])
    return Account.get_by_id(other.id)


def test_kept_files_belong_to_the_account_that_chose_them(client, login_as, app):
    other = colleague(app)
    login_as("technicien.demo")
    page = post_form(client, form(nom=""), [(DEMO_PDF, "a-moi.pdf")]).get_data(as_text=True)
    token = held_token(page)
    login_as(other.username)  # same structure, same token: nothing of it shows or leaves
    page = post_form(client, form(nom="", held=token)).get_data(as_text=True)
    assert "a-moi.pdf" not in page
    assert post_form(client, form(nom="Autre", held=token)).status_code == 303
    assert Demande.select().order_by(Demande.id.desc()).first().attachments.count() == 0
    login_as("technicien.demo")
    assert post_form(client, form(held=token)).status_code == 303
    demande = Demande.select().order_by(Demande.id.desc()).first()
    assert [a.filename for a in demande.attachments] == ["a-moi.pdf"]


def test_abandoned_kept_files_leave_the_disk_after_a_day(client, login_as, app):
    from .test_housekeeping import housekeeping

    login_as("technicien.demo")
    before = uploads_on_disk(app)
    page = post_form(client, form(nom=""), [(DEMO_PDF, "oublie.pdf")]).get_data(as_text=True)
    token = held_token(page)
    assert len(uploads_on_disk(app)) == len(before) + 1
    assert "abandonnées : 0" in housekeeping(app, date.today() + timedelta(days=1))
    assert len(uploads_on_disk(app)) == len(before) + 1
    assert "abandonnées : 1" in housekeeping(app, date.today() + timedelta(days=2))
    assert uploads_on_disk(app) == before
    assert post_form(client, form(held=token)).status_code == 303
    assert Demande.select().order_by(Demande.id.desc()).first().attachments.count() == 0
