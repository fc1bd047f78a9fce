"""End-to-end journeys, each from the login page as a user would, with and without JavaScript."""

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from ep.demo import DEMO_PDF

from .conftest import act, link_in, login, logout, mail_to, settle

MODES = pytest.mark.parametrize("js", [True, False], ids=["js", "sans-js"])


def new_page(new_context, js):
    context = new_context(java_script_enabled=js)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    dialogs = []
    # Irreversible actions ask "are you sure?" (hx-confirm); the user says yes.
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.dialogs = dialogs
    return page, errors


def choose(page, js, selector, **option):
    """Pick an option; without JavaScript, ask the server for the dependent choices."""
    page.select_option(selector, **option)
    if js:
        settle(page)
    else:
        act(page, "button:has-text('Actualiser les offres et motifs')")


def open_demande(page, reference):
    act(page, f"a:has-text('{reference}')")
    assert page.locator("h1").inner_text() == f"Demande n° {reference}"


@MODES
def test_request_journey(new_context, server, tmp_path, js):
    page, errors = new_page(new_context, js)
    who = "Alice" if js else "Bruno"
    address = f"{who.lower()}.parcours@example.org"

    # A gestionnaire creates a technicien account.
    login(page, "gestionnaire.demo")
    act(page, "nav >> text=Comptes")
    act(page, "text=Créer un compte technicien")
    page.check("#civilite-0")
    page.fill("#nom", "Parcours")
    page.fill("#prenom", who)
    page.fill("#fonction", "Conseillère sociale")
    page.fill("#telephone", "01 23 45 67 89")
    page.fill("#email", address)
    for box in ("#attest_employment", "#attest_equipment", "#attest_email"):
        page.check(box)
    act(page, "button:has-text('Créer le compte et envoyer le lien')")
    assert "est créé" in page.locator("#messages").inner_text()
    logout(page)

    # The technicien opens the e-mailed link, sets a password, accepts the CGU.
    body = mail_to(server, address)
    username = re.search(r"Identifiant : (\S+)", body).group(1)
    page.goto(link_in(body))
    secret = f"Le jardin fleurit en plein hiver {len(who) * 7}"
    page.fill("#password", secret)
    page.fill("#password_confirm", secret)
    act(page, "button:has-text('Enregistrer mon mot de passe')")
    assert "mot de passe est enregistré" in page.locator("#messages").inner_text()
    login(page, username, secret)
    assert page.locator("h1").inner_text() == "CCAS de Démo"

    # ... and submits a request with an attachment.
    act(page, "nav >> text=Nouvelle demande")
    choose(page, js, "#caisse", label="CPAM de Démo")
    choose(page, js, "#offer", value="etude_dossier")
    page.select_option("#motif", value="c2s")
    page.check("#civilite-1")
    page.fill("#nom", f"Assuré{who}")
    page.fill("#prenom", "Pierre")
    page.fill("#date_naissance", "1958-06-14")
    page.select_option("#departement", value="2A")
    page.check("#informed")
    page.fill("#commentaire", "Étude de la C2S : les justificatifs de ressources sont joints.")
    pdf = tmp_path / "ressources.pdf"
    pdf.write_bytes(DEMO_PDF)
    page.set_input_files("#pieces_jointes", str(pdf))
    act(page, "button:has-text('Envoyer la demande')")
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Demande n° "), heading
    reference = heading.removeprefix("Demande n° ")
    assert page.locator("a:has-text('ressources.pdf')").count() == 1
    logout(page)

    # The caisse agent takes it, answers, and asks for more.
    login(page, "caisse.demo")
    act(page, "nav >> text=Demandes reçues")
    open_demande(page, reference)
    act(page, "button:has-text('Prendre en charge')")
    page.fill("#body", "Nous étudions votre demande.")
    act(page, "button:has-text('Envoyer le message')")
    page.fill("#body", "Merci de joindre le dernier avis d'imposition.")
    act(page, "button:has-text('Demander un complément')")
    assert "En attente du partenaire" in page.locator("main").inner_text()
    logout(page)

    # The technicien answers.
    login(page, username, secret)
    act(page, "nav >> text=Demandes de la structure")
    open_demande(page, reference)
    page.fill("#body", "L'avis d'imposition a été remis à l'accueil de la caisse.")
    act(page, "button:has-text('Envoyer le message')")
    assert "En cours de traitement" in page.locator("main").inner_text()
    logout(page)

    # The caisse closes it.
    login(page, "caisse.demo")
    act(page, "nav >> text=Demandes reçues")
    open_demande(page, reference)
    page.fill("#body", "Droits ouverts, courrier envoyé à l'assuré.")
    act(page, "button:has-text('Clôturer la demande')")
    logout(page)

    # The technicien sees it closed in the history.
    login(page, username, secret)
    act(page, "nav >> text=Demandes de la structure")
    row = page.locator("tr", has=page.locator(f"a:has-text('{reference}')"))
    assert "Clôturée" in row.inner_text()
    assert errors == []


def review_card(page, name):
    return page.locator("li.review-row", has=page.locator("h3", has_text=name))


@MODES
def test_review_journey(new_context, server, js):
    page, errors = new_page(new_context, js)
    due = (date.today() + timedelta(days=30)).isoformat()

    login(page, "caisse.demo")
    act(page, "nav >> text=Partenaires")
    act(page, "a:has-text('CCAS Voisin')")
    page.fill("#due_on", due)
    act(page, "button:has-text('Demander la revue')")
    assert "La revue est demandée" in page.locator("#messages").inner_text()
    logout(page)

    login(page, "gestionnaire.voisin")
    act(page, "nav >> text=Revues")
    act(page, "button:has-text('Commencer la revue')")
    assert "0 / 2" in page.locator("#review-progress").inner_text()
    card = review_card(page, "Tania Voisin-Exemple")
    card.get_by_label("Conserver", exact=True).check()
    for name in ("attest_employment", "attest_equipment", "attest_email"):
        card.locator(f"input[name={name}]").check()
    act(page, card.locator("button:has-text('Enregistrer la décision')"))
    assert "1 / 2" in page.locator("#review-progress").inner_text()
    if js:  # updated in place, focus on the recorded decision
        assert page.evaluate("document.activeElement.classList.contains('decision')")
    logout(page)

    login(page, "caisse.demo")
    act(page, "nav >> text=Partenaires")
    act(page, "a:has-text('CCAS Voisin')")
    act(page, "a:has-text('Voir la revue')")
    card = review_card(page, "Gérard Voisin-Exemple")
    card.get_by_label("Conserver", exact=True).check()
    act(page, card.locator("button:has-text('Enregistrer la décision')"))
    logout(page)

    login(page, "gestionnaire.voisin")
    act(page, "nav >> text=Revues")
    act(page, "button:has-text('Reprendre la revue')")
    act(page, "button:has-text('Terminer la revue et appliquer les décisions')")
    if js:
        assert page.dialogs == [
            "Terminer la revue et appliquer les décisions ? Elle ne pourra plus être modifiée."
        ]
    assert "La revue est terminée" in page.locator("#messages").inner_text()
    assert "Terminée" in page.locator("main").inner_text()
    assert errors == []


@MODES
def test_caisse_exports_the_user_list(new_context, server, js):
    page, errors = new_page(new_context, js)
    login(page, "caisse.demo")
    act(page, "nav >> text=Exports")
    with page.expect_download() as info:
        page.click("button:has-text('Télécharger en CSV')")
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpartenaire;profil;identifiant;")
    assert b"technicien.demo" in data and b"gestionnaire.voisin" in data
    page.check("text=CCAS Voisin")
    with page.expect_download() as info:
        page.click("button:has-text('Télécharger en Excel (XLSX)')")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    names = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert names == {"CCAS Voisin"}
    assert errors == []


@MODES
def test_enter_in_the_request_form_sends_it(new_context, server, js):
    """Issue 10.8: the refresh button of the offers used to be the form's default button, so
    Enter in a field refreshed the form instead of sending it: without JavaScript, and with it
    too once htmx had swapped the choices in (htmx parses the fragment's <noscript> as HTML)."""
    page, errors = new_page(new_context, js)
    login(page, "technicien.demo")
    act(page, "nav >> text=Nouvelle demande")
    choose(page, js, "#caisse", label="CPAM de Démo")
    choose(page, js, "#offer", value="document")
    page.select_option("#motif", value="attestation_droits")
    page.check("#civilite-0")
    page.fill("#prenom", "Agathe")
    page.fill("#date_naissance", "1971-05-06")
    page.select_option("#departement", value="68")
    page.check("#informed")
    page.fill("#commentaire", "Attestation de droits demandée, envoyée avec la touche Entrée.")
    page.fill("#nom", "Entree" + ("Js" if js else "Html"))
    page.press("#nom", "Enter")
    settle(page)
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Demande n° "), page.locator("main").inner_text()
    assert "est envoyée" in page.locator("#messages").inner_text()
    assert errors == []


@MODES
def test_chosen_files_survive_a_form_that_comes_back(new_context, server, tmp_path, js):
    """Issue 10.3: the files chosen were silently gone when the form came back (here, to
    confirm words that suggest health data); now they are listed, may be removed, and leave
    with the request."""
    page, errors = new_page(new_context, js)
    login(page, "technicien.demo")
    act(page, "nav >> text=Nouvelle demande")
    choose(page, js, "#caisse", label="CPAM de Démo")
    choose(page, js, "#offer", value="document")
    page.select_option("#motif", value="attestation_droits")
    page.check("#civilite-1")
    page.fill("#nom", "Fichiers" + ("Js" if js else "Html"))
    page.fill("#prenom", "Gaston")
    page.fill("#date_naissance", "1950-03-04")
    page.select_option("#departement", value="75")
    page.check("#informed")
    page.fill("#commentaire", "Sortie d'hospitalisation : attestation de droits demandée.")
    (tmp_path / "avis.pdf").write_bytes(DEMO_PDF)
    (tmp_path / "brouillon.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40))
    page.set_input_files(
        "#pieces_jointes", [str(tmp_path / "avis.pdf"), str(tmp_path / "brouillon.png")]
    )
    act(page, "button:has-text('Envoyer la demande')")
    assert page.locator("h1").inner_text() == "Nouvelle demande"
    held = page.locator("#held_uploads")
    assert "avis.pdf" in held.inner_text() and "brouillon.png" in held.inner_text()
    page.check("#confirm_health")
    page.get_by_label("Retirer « brouillon.png »").check()
    act(page, "button:has-text('Envoyer la demande')")
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Demande n° "), page.locator("main").inner_text()
    assert page.locator("a:has-text('avis.pdf')").count() == 1
    assert "brouillon.png" not in page.locator("main").inner_text()
    assert errors == []


def row(page, reference):
    return page.locator("tr", has=page.locator(f"a:has-text('{reference}')"))


def filter_by(page, js, selector, **option):
    """Pick a filter; htmx applies it at once, a plain form needs its button."""
    page.select_option(selector, **option)
    if js:
        settle(page)
    else:
        act(page, "button:has-text('Filtrer')")


@MODES
def test_replies_are_seen_on_both_sides(new_context, server, js):
    """Issue 10.5: a caisse message that changes no status used to send no e-mail and mark
    nothing; the partner's answer looked like any request in progress in the queue."""
    page, errors = new_page(new_context, js)
    name = "Suivi" + ("Js" if js else "Html")
    login(page, "technicien.demo")
    act(page, "nav >> text=Nouvelle demande")
    choose(page, js, "#caisse", label="CPAM de Démo")
    choose(page, js, "#offer", value="etude_dossier")
    page.select_option("#motif", value="puma")
    page.check("#civilite-0")
    page.fill("#nom", name)
    page.fill("#prenom", "Irène")
    page.fill("#date_naissance", "1980-08-09")
    page.select_option("#departement", value="68")
    page.check("#informed")
    page.fill("#commentaire", "Ouverture de droits à étudier.")
    act(page, "button:has-text('Envoyer la demande')")
    reference = page.locator("h1").inner_text().removeprefix("Demande n° ")
    logout(page)

    # The caisse finds it among the requests nobody took, unread; takes it and writes.
    login(page, "caisse.demo")
    act(page, "a:has-text('non attribuée')")
    assert "Non lu" in row(page, reference).inner_text()
    open_demande(page, reference)
    act(page, "button:has-text('Prendre en charge')")
    page.fill("#body", "Pouvez-vous préciser la date d'arrivée en France ?")
    act(page, "button:has-text('Envoyer le message')")
    assert "En cours de traitement" in page.locator("main").inner_text()  # status unchanged
    logout(page)
    assert reference in mail_to(server, "technicien.demo@example.org")

    # The technicien sees it unread from the home page, reads it, answers.
    login(page, "technicien.demo")
    act(page, "a:has-text('non lue')")
    assert "Non lu" in row(page, reference).inner_text()
    open_demande(page, reference)
    assert "date d'arrivée en France" in page.locator("main").inner_text()
    act(page, "nav >> text=Demandes de la structure")
    assert "Non lu" not in row(page, reference).inner_text()
    open_demande(page, reference)
    page.fill("#body", "Arrivée le 3 mars, justificatif remis à l'accueil.")
    act(page, "button:has-text('Envoyer le message')")
    logout(page)
    assert reference in mail_to(server, "caisse.demo@example.org")

    # The agent's queue flags the answer; "Mes demandes" and the structure filter find it.
    login(page, "caisse.demo")
    act(page, "nav >> text=Demandes reçues")
    flags = row(page, reference).inner_text()
    assert "Réponse du partenaire" in flags and "Non lu" in flags
    filter_by(page, js, "#taken", value="me")
    filter_by(page, js, "#partner", label="CCAS de Démo")
    assert row(page, reference).count() == 1
    assert "taken=me" in page.url and "partner=" in page.url  # bookmarkable
    filter_by(page, js, "#partner", label="CCAS Voisin")
    assert row(page, reference).count() == 0
    assert errors == []
