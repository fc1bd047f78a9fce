"""Information published by a caisse to its partners (issue 12.1): who sees what, until
when, in which order, who opened it; the document's checks; the pages of both sides."""

import hashlib
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage

from ep import partners, publications
from ep.demo import DEMO_PDF, demo_file
from ep.models import (
    AuditEvent,
    Caisse,
    Convention,
    Partner,
    Publication,
    PublicationOpening,
    PublicationRead,
)
from ep.rules import RuleError
from ep.text import search_words

from .conftest import account, make_app
from .test_attachments import make_pdf, open_action_javascript, padded_pdf

TODAY = date.today()


def publish(agent="caisse.demo", titre="Nouveaux horaires", texte="Accueil le mardi.", **kw):
    return publications.publish(account(agent), titre, texte, **kw)


def seen_by(username, today=None):
    """Titles of the items `username`'s structure reads, in the list's order."""
    return [p.titre for p in publications.listed_for(account(username), today=today)]


def partner(name):
    return Partner.get(Partner.name == name)


def file(name, data):
    return FileStorage(BytesIO(data), filename=name, content_type="application/pdf")


def uploads(app):
    folder = Path(app.instance_path) / "uploads"
    return set(folder.iterdir()) if folder.exists() else set()


@pytest.fixture(autouse=True)
def _no_demo_items(app):
    """The demo's own items are left out: each test publishes what it counts."""
    with app.app_context():
        Publication.delete().execute()


# Who sees what


def test_an_item_for_all_partners_reaches_every_structure_of_the_caisse_only(ctx):
    publish(titre="Pour tous les partenaires de la CPAM")
    publish("carsat.demo", titre="Pour les partenaires de la CARSAT")
    for user in ("technicien.demo", "gestionnaire.demo"):  # CPAM and CARSAT
        assert set(seen_by(user)) == {
            "Pour tous les partenaires de la CPAM",
            "Pour les partenaires de la CARSAT",
        }
    for user in ("technicien.voisin", "gestionnaire.voisin"):  # CPAM only
        assert seen_by(user) == ["Pour tous les partenaires de la CPAM"]


def test_an_item_for_chosen_structures_reaches_them_only(ctx):
    publish(titre="Pour Voisin", partner_ids=[partner("CCAS Voisin").id])
    assert seen_by("technicien.voisin") == ["Pour Voisin"]
    assert seen_by("technicien.demo") == []


def test_only_structures_in_force_with_the_caisse_may_be_chosen(ctx):
    with pytest.raises(RuleError, match="convention en vigueur") as refused:
        publish("carsat.demo", partner_ids=[partner("CCAS Voisin").id])
    assert refused.value.field == "partners"
    with pytest.raises(RuleError, match="Choisissez au moins une structure"):
        publish(partner_ids=[])
    assert not Publication.select().exists()


def test_a_structure_that_joins_later_reads_the_items_for_all_partners(ctx):
    publish(titre="Pour tous")
    publish(titre="Pour Voisin", partner_ids=[partner("CCAS Voisin").id])
    newcomer, _ = partners.create_partner(
        account("caisse.demo"),
        "CCAS Nouveau",
        "26800002300013",
        8,
        {"signed_on": TODAY, "starts_on": TODAY, "habilitation_deadline_days": 5},
        ["contact"],
    )
    assert [p.titre for p in Publication.for_partner(newcomer.id)] == ["Pour tous"]


def test_a_structure_whose_channel_is_closed_reads_nothing_of_that_caisse(ctx):
    publish(titre="De la CPAM")
    publish("carsat.demo", titre="De la CARSAT")
    agent = account("caisse.demo")
    convention = Convention.get(
        (Convention.partner == partner("CCAS de Démo")) & (Convention.caisse == agent.caisse_id)
    )
    partners.cut_off(agent, convention, "Perte des identifiants")
    assert seen_by("technicien.demo") == ["De la CARSAT"]
    partners.restore(agent, Convention.get_by_id(convention.id))
    assert set(seen_by("technicien.demo")) == {"De la CPAM", "De la CARSAT"}
    Convention.update(ends_on=TODAY).where(Convention.id == convention.id).execute()
    assert seen_by("technicien.demo") == ["De la CARSAT"]


def test_an_item_is_shown_until_its_end_date_included(ctx):
    publish(titre="Jusqu'à demain", ends_on=TODAY + timedelta(days=1))
    assert seen_by("technicien.voisin", today=TODAY + timedelta(days=1)) == ["Jusqu'à demain"]
    assert seen_by("technicien.voisin", today=TODAY + timedelta(days=2)) == []


def test_an_end_date_in_the_past_is_refused(ctx):
    with pytest.raises(RuleError, match="déjà passée") as refused:
        publish(ends_on=TODAY - timedelta(days=1))
    assert refused.value.field == "ends_on"


def test_a_withdrawn_item_disappears_for_partners_and_is_audited(ctx):
    item = publish(titre="Erreur de date")
    publications.withdraw(account("caisse.demo"), item)
    assert seen_by("technicien.voisin") == []
    item = Publication.get_by_id(item.id)
    assert item.is_withdrawn and item.withdrawn_by_id == account("caisse.demo").id
    event = AuditEvent.select().where(AuditEvent.action == "publication_withdrawn").get()
    assert event.caisse_id == account("caisse.demo").caisse_id
    assert "Erreur de date" in event.detail
    with pytest.raises(RuleError, match="déjà retirée"):
        publications.withdraw(account("caisse.demo"), item)


def test_another_caisse_s_agent_can_neither_withdraw_nor_pin(ctx):
    item = publish()
    for act in (publications.withdraw, publications.pin, publications.unpin):
        with pytest.raises(RuleError):
            act(account("carsat.demo"), item)
    assert Publication.get_by_id(item.id).withdrawn_at is None
    assert not Publication.get_by_id(item.id).pinned


def test_pinned_items_come_first_then_the_newest(ctx):
    first = publish(titre="Première")
    publish(titre="Deuxième")
    publish(titre="Troisième")
    Publication.update(created_at=first.created_at - timedelta(minutes=5)).where(
        Publication.id == first.id
    ).execute()
    assert seen_by("technicien.voisin") == ["Troisième", "Deuxième", "Première"]
    publications.pin(account("caisse.demo"), first)
    assert seen_by("technicien.voisin") == ["Première", "Troisième", "Deuxième"]
    publications.unpin(account("caisse.demo"), Publication.get_by_id(first.id))
    assert seen_by("technicien.voisin") == ["Troisième", "Deuxième", "Première"]
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions[-5:] == [
        "publication_published",
        "publication_published",
        "publication_published",
        "publication_pinned",
        "publication_unpinned",
    ]


def test_an_item_published_pinned_is_audited_as_pinned(ctx):
    publish(pinned=True)
    event = AuditEvent.select().order_by(AuditEvent.id.desc()).get()
    assert event.action == "publication_published" and "épinglée" in event.detail


def test_a_withdrawn_item_is_no_longer_pinned(ctx):
    item = publish(pinned=True)
    publications.withdraw(account("caisse.demo"), item)
    assert not Publication.get_by_id(item.id).pinned


# Read markers and the caisse's counts


def reach(item):
    item = Publication.get_by_id(item.id)
    return publications.reach(item.caisse_id, [item])[item.id]


def test_the_caisse_counts_the_structures_that_opened_an_item(ctx):
    everyone = publish(titre="Pour tous")
    chosen = publish(titre="Pour Voisin", partner_ids=[partner("CCAS Voisin").id])
    assert reach(everyone) == (0, 2) and reach(chosen) == (0, 1)
    publications.mark_read(account("technicien.demo"), everyone)
    assert reach(everyone) == (1, 2)
    publications.mark_read(account("gestionnaire.demo"), everyone)  # same structure
    assert reach(everyone) == (1, 2)
    publications.mark_read(account("gestionnaire.voisin"), everyone)
    publications.mark_read(account("technicien.voisin"), chosen)
    assert reach(everyone) == (2, 2) and reach(chosen) == (1, 1)
    assert PublicationOpening.select().count() == 3


def test_a_structure_whose_channel_closed_leaves_both_counts(ctx):
    item = publish()
    publications.mark_read(account("technicien.voisin"), item)
    agent = account("caisse.demo")
    voisin = Convention.get(
        (Convention.partner == partner("CCAS Voisin")) & (Convention.caisse == agent.caisse_id)
    )
    partners.cut_off(agent, voisin, "Fraude")
    assert reach(item) == (0, 1)


def test_opening_an_item_marks_it_read_for_that_account_only(ctx):
    item = publish()
    tech, gest = account("technicien.demo"), account("gestionnaire.demo")
    assert [p.unread for p in publications.listed_for(tech)] == [1]
    publications.mark_read(tech, item)
    assert [p.unread for p in publications.listed_for(tech)] == [0]
    assert [p.unread for p in publications.listed_for(gest)] == [1]


def test_opening_an_item_again_writes_nothing(ctx, writes):
    item = publish()
    tech = account("technicien.demo")
    publications.mark_read(tech, item)
    assert writes
    writes.clear()
    publications.mark_read(tech, item)
    assert writes == []
    assert PublicationRead.select().count() == 1


def test_the_caisse_s_own_reading_is_not_a_structure_s(ctx):
    item = publish()
    publications.mark_read(account("caisse.demo"), item)
    assert reach(item) == (0, 2) and not PublicationRead.select().exists()


def test_the_home_shows_pinned_and_recent_items_with_their_markers(ctx):
    for n in range(7):
        publish(titre=f"Information {n}")
    oldest = Publication.get(Publication.titre == "Information 0")
    publications.pin(account("caisse.demo"), oldest)
    tech = account("technicien.voisin")
    publications.mark_read(tech, Publication.get(Publication.titre == "Information 6"))
    items, unread = publications.home(tech)
    assert [p.titre for p in items] == [
        "Information 0",
        "Information 6",
        "Information 5",
        "Information 4",
        "Information 3",
    ]
    assert [p.unread for p in items] == [1, 0, 1, 1, 1]
    assert unread == 6


# Search


@pytest.mark.parametrize("search", ["reunion", "RÉUNION", "Réunion partenaires", "ÉTÉ", "ete"])
def test_the_search_folds_case_and_accents_on_title_and_text(ctx, search):
    publish(titre="Réunion des partenaires", texte="Le programme de l'été.")
    publish(titre="Horaires", texte="Accueil le mardi.")
    found = publications.listed_for(account("technicien.voisin"), words=search_words(search))
    assert [p.titre for p in found] == ["Réunion des partenaires"]


# The document


def test_a_pdf_is_stored_outside_the_database_with_its_checksum(ctx):
    item = publish(fichier=demo_file("calendrier.pdf"))
    path = publications.path_of(item)
    assert path.read_bytes() == DEMO_PDF
    assert path.parent == Path(ctx.instance_path) / "uploads"
    assert item.filename == "calendrier.pdf" and item.content_type == "application/pdf"
    assert item.sha256 == hashlib.sha256(DEMO_PDF).hexdigest() and item.size == len(DEMO_PDF)


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("affiche.png", PNG, "n'est pas un PDF"),
        ("note.pdf", b"Bonjour, ceci est du texte.", "n'est pas un PDF"),
        ("vide.pdf", b"", "est vide"),
        ("script.pdf", make_pdf(open_action_javascript), "contenu actif"),
    ],
)
def test_a_file_that_is_not_a_plain_pdf_is_refused_and_nothing_is_kept(ctx, name, data, message):
    before = uploads(ctx)
    with pytest.raises(RuleError, match=message) as refused:
        publish(fichier=file(name, data))
    assert refused.value.field == "fichier"
    assert not Publication.select().exists()
    assert uploads(ctx) == before


def test_a_file_over_the_size_limit_is_refused(ctx):
    ctx.config["EP_MAX_ATTACHMENT_MB"] = 1
    big = padded_pdf(1024 * 1024)
    with pytest.raises(RuleError, match="dépasse 1 Mo"):
        publish(fichier=file("gros.pdf", big))


def test_the_document_counts_in_the_agent_s_daily_volume(ctx):
    ctx.config["EP_MAX_UPLOAD_MB_PER_DAY"] = 1
    half = padded_pdf(600 * 1024)
    publish(fichier=file("un.pdf", half))
    with pytest.raises(RuleError, match="par jour"):
        publish(fichier=file("deux.pdf", half))
    assert Publication.select().count() == 1


def test_a_nir_in_the_title_or_text_is_refused(ctx):
    for fields in ({"titre": "NIR 1 85 05 78 006 084 91"}, {"texte": "185057800608491"}):
        with pytest.raises(RuleError, match="sécurité sociale"):
            publish(**fields)


# Pages


def page_of(client, url, **kw):
    response = client.get(url, **kw)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def post(client, url, data=None, **kw):
    return client.post(url, data=data or {}, **kw)


def test_the_caisse_publishes_through_the_form(app, client, login_as):
    login_as("caisse.demo")
    assert "Tous vos partenaires" in page_of(client, "/informations/new")
    response = post(
        client,
        "/informations/new",
        {
            "titre": "Permanence d'été",
            "texte": "L'accueil ferme à 16 h en août.",
            "audience": "chosen",
            "partners": [str(partner("CCAS Voisin").id)],
            "ends_on": (TODAY + timedelta(days=30)).isoformat(),
            "pinned": "y",
            "fichier": (BytesIO(DEMO_PDF), "horaires.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    item = Publication.get(Publication.titre == "Permanence d'été")
    assert response.headers["Location"].endswith(f"/informations/{item.id}")
    assert item.pinned and not item.all_partners and item.filename == "horaires.pdf"
    assert item.ends_on == TODAY + timedelta(days=30)
    shown = page_of(client, f"/informations/{item.id}")
    assert "<dt>Ouverte par</dt><dd>0 structure sur 1</dd>" in shown and "CCAS Voisin" in shown


def test_a_refused_form_keeps_the_chosen_pdf(app, client, login_as):
    login_as("caisse.demo")
    response = post(
        client,
        "/informations/new",
        {
            "titre": "",
            "texte": "Un texte.",
            "audience": "all",
            "fichier": (BytesIO(DEMO_PDF), "a.pdf"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Ce champ est obligatoire" in page
    assert "a.pdf" in page  # kept for the next submission
    held = page.split('name="held" value="')[1].split('"')[0]
    response = post(
        client,
        "/informations/new",
        {"titre": "Avec le document gardé", "texte": "Un texte.", "audience": "all", "held": held},
    )
    assert response.status_code == 303
    item = Publication.get(Publication.titre == "Avec le document gardé")
    assert item.filename == "a.pdf" and publications.path_of(item).read_bytes() == DEMO_PDF


def test_a_non_pdf_is_refused_by_the_field(app, client, login_as):
    login_as("caisse.demo")
    response = post(
        client,
        "/informations/new",
        {
            "titre": "Affiche",
            "texte": "Voir l'affiche.",
            "audience": "all",
            "fichier": (BytesIO(PNG), "affiche.pdf"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="fichier-error"' in page and "n&#39;est pas un PDF" in page
    assert not Publication.select().where(Publication.titre == "Affiche").exists()


def test_a_nir_in_the_form_is_refused_by_its_field(app, client, login_as):
    login_as("caisse.demo")
    response = post(
        client,
        "/informations/new",
        {"titre": "Rappel", "texte": "Assuré 185057800608491", "audience": "all"},
    )
    assert response.status_code == 200 and 'id="texte-error"' in response.get_data(as_text=True)
    assert not Publication.select().where(Publication.titre == "Rappel").exists()


def test_the_partner_sees_new_on_its_home_until_it_opens_the_item(app, client, login_as):
    with app.test_request_context():
        item = publish(titre="Campagne d'information")
    login_as("technicien.voisin")
    home = page_of(client, "/")
    assert "Campagne d&#39;information" in home and "Nouveau" in home
    shown = page_of(client, f"/informations/{item.id}")
    assert "CPAM de Démo" in shown and "Accueil le mardi." in shown
    assert "Nouveau" not in page_of(client, "/")
    login_as("gestionnaire.voisin")  # a colleague has not opened it yet
    assert "Nouveau" in page_of(client, "/")


def test_the_list_names_each_caisse_searches_and_pages(app, client, login_as):
    with app.test_request_context():
        for n in range(27):
            publish(titre=f"Information n° {n:02d}")
        publish("carsat.demo", titre="Réunion CARSAT")
    login_as("technicien.demo")
    first = page_of(client, "/informations/")
    assert "Réunion CARSAT" in first and "CARSAT de Démo" in first and "CPAM de Démo" in first
    assert "Page 1 sur 2" in first
    assert "Information n° 00" in page_of(client, "/informations/?page=2")
    found = page_of(client, "/informations/?q=reunion")
    assert "Réunion CARSAT" in found and "Information n°" not in found
    partial = page_of(client, "/informations/?q=REUNION", headers={"HX-Request": "true"})
    assert "<html" not in partial and 'id="publication_list"' in partial
    assert "Réunion CARSAT" in partial


def test_the_document_is_downloaded_by_those_who_see_the_item(app, client, login_as):
    with app.test_request_context():
        item = publish(fichier=demo_file("note.pdf"), partner_ids=[partner("CCAS Voisin").id])
    login_as("gestionnaire.voisin")
    response = client.get(f"/informations/{item.id}/fichier")
    assert response.status_code == 200 and response.data == DEMO_PDF
    assert "attachment" in response.headers["Content-Disposition"]
    response.close()
    login_as("technicien.demo")
    assert client.get(f"/informations/{item.id}/fichier").status_code == 404
    assert client.get(f"/informations/{item.id}").status_code == 404


def test_another_caisse_neither_sees_nor_acts_on_an_item(app, client, login_as):
    with app.test_request_context():
        item = publish()
    login_as("carsat.demo")
    assert client.get(f"/informations/{item.id}").status_code == 404
    assert "Nouveaux horaires" not in page_of(client, "/informations/gestion")
    for action in ("withdraw", "pin", "unpin"):
        assert post(client, f"/informations/{item.id}/{action}").status_code == 404
    assert Publication.get_by_id(item.id).withdrawn_at is None


def test_the_caisse_pins_and_withdraws_from_the_item_s_page(app, client, login_as):
    with app.test_request_context():
        item = publish()
    login_as("caisse.demo")
    assert post(client, f"/informations/{item.id}/pin").status_code == 303
    assert Publication.get_by_id(item.id).pinned
    assert "Épinglée" in page_of(client, "/informations/gestion")
    assert post(client, f"/informations/{item.id}/withdraw").status_code == 303
    listed = page_of(client, "/informations/gestion")
    assert "Retirée le" in listed
    login_as("technicien.voisin")
    assert client.get(f"/informations/{item.id}").status_code == 404


def test_the_caisse_s_list_shows_how_many_structures_opened_each_item(app, client, login_as):
    with app.test_request_context():
        item = publish()
        publications.mark_read(account("technicien.voisin"), item)
    login_as("caisse.demo")
    assert "1 / 2" in page_of(client, "/informations/gestion")


def test_the_demo_has_information_from_the_cpam(tmp_path):
    from ep import demo

    fresh = make_app(tmp_path / "demo")
    with fresh.test_request_context():
        demo.load("mot de passe de démo 2026")
        cpam = Caisse.get(Caisse.name == "CPAM de Démo")
        items = list(Publication.select().where(Publication.caisse == cpam))
        assert items and any(p.has_file for p in items) and any(p.pinned for p in items)
        assert all(publications.path_of(p).exists() for p in items if p.has_file)
