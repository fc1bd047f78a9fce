"""Accessibility (RGAA / WCAG 2.1 AA): axe-core on every page of every profile, after htmx
swaps and with forms showing errors; keyboard-only request; focus; errors tied to fields.
Screenshots of each profile's main page, desktop and phone, for a reviewer to look at."""

import os
import sqlite3
from pathlib import Path

import pytest

from .conftest import act, axe, link_in, login, mail_to, screenshot, settle


def ids(server):
    """Objects to visit, read from the server's own database (SQLite: the default run)."""
    if os.environ.get("EP_BROWSER_DATABASE_URL"):
        pytest.skip("reads the SQLite file of the default run")
    db = sqlite3.connect(Path(server["instance"]) / "ep.sqlite3")
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    found = {
        "ccas": one("SELECT id FROM partner WHERE name = 'CCAS de Démo'"),
        "voisin": one("SELECT id FROM partner WHERE name = 'CCAS Voisin'"),
        "tech": one("SELECT id FROM account WHERE username = 'technicien.demo'"),
        "gest_voisin": one("SELECT id FROM account WHERE username = 'gestionnaire.voisin'"),
        "demande": one(
            "SELECT d.id FROM demande d JOIN attachment a ON a.demande_id = d.id "
            "JOIN partner p ON p.id = d.partner_id WHERE p.name = 'CCAS de Démo'"
        ),
        "demande_voisin": one(
            "SELECT d.id FROM demande d JOIN partner p ON p.id = d.partner_id "
            "WHERE p.name = 'CCAS Voisin'"
        ),
    }
    completed = db.execute(
        f"SELECT id FROM review WHERE partner_id = {found['ccas']} AND status = 'completed'"
    ).fetchone()
    found["review"] = completed[0] if completed else completed_review(server, found)
    found["conv"] = one(
        f"SELECT c.id FROM convention c JOIN caisse k ON k.id = c.caisse_id "
        f"WHERE c.partner_id = {found['voisin']} AND k.name = 'CPAM de Démo'"
    )
    found["contact"] = one(
        "SELECT c.id FROM contact c JOIN caisse k ON k.id = c.caisse_id "
        "WHERE k.name = 'CPAM de Démo' ORDER BY c.id"
    )
    found["offer"] = one(
        "SELECT o.id FROM offer o JOIN caisse k ON k.id = o.caisse_id "
        "WHERE o.code = 'document' AND k.name = 'CPAM de Démo'"
    )
    found["motif"] = one(f"SELECT id FROM motif WHERE offer_id = {found['offer']}")
    found["breach"] = one("SELECT min(id) FROM breach")  # the demo's (issue 14.3)
    found["conv_ccas"] = one(
        f"SELECT c.id FROM convention c JOIN caisse k ON k.id = c.caisse_id "
        f"WHERE c.partner_id = {found['ccas']} AND k.name = 'CPAM de Démo'"
    )
    db.close()
    return found


def completed_review(server, found):
    """A completed review of CCAS de Démo, made through the rule functions."""
    from ep import create_app, reviews
    from ep.models import Account

    app = create_app({"EP_INSTANCE_PATH": str(server["instance"])})
    with app.test_request_context():
        gest = Account.get(Account.username == "gestionnaire.demo")
        caisse = Account.get(Account.username == "caisse.demo")
        review = reviews.start(gest)
        for row in reviews.rows(review):
            a = row["account"]
            who = caisse if a.id == gest.id else gest
            reviews.decide(who, review, a, "keep", attestations=True)
        reviews.complete(gest, review)
    from ep.db import database

    database.close()
    return review.id


PAGES = {
    "caisse.demo": [
        "/",
        "/demandes/queue",
        "/demandes/queue?taken=none&activity=partner_reply",  # issue 10.5 filters
        "/demandes/{demande}",
        "/partners/",
        "/partners/new",
        "/partners/{voisin}",
        "/partners/conventions/{conv}/edit",
        "/partners/{voisin}/gestionnaires/new",
        "/accounts/{gest_voisin}",
        "/accounts/{gest_voisin}/edit",
        "/caisse/export",
        "/audit/",
        "/aide",
        "/preferences",
        "/password",
        "/contacts/",
        "/contacts/{contact}/edit",
        "/conventions/echeances",
        "/audit/?consultations=y",  # issue 14.4: the reads, one account's run as one line
        "/audit/?compte=personne&demande=x&du=2026-02-01&au=2026-01-01",  # errors by fields
        "/catalogue/",
        "/catalogue/offers/{offer}",
        "/catalogue/motifs/{motif}",
        "/rgpd/",  # issue 14.2: caisse.demo is the CPAM's référent RGPD
        "/rgpd/referents",
        "/rgpd/{demande_voisin}/rectify",
        "/violations/",  # issue 14.3
        "/violations/{breach}",
    ],
    "gestionnaire.demo": [
        "/",
        "/accounts/",
        "/accounts/new",
        "/accounts/{tech}",
        "/accounts/{tech}/edit",
        "/reviews/",
        "/partners/{ccas}",
        "/audit/",
        "/aide",
        "/preferences",
        "/contacts/",
        "/conventions/",
        "/rgpd/",  # issue 14.2: gestionnaire.demo is the structure's référent RGPD
        "/rgpd/referents",
        "/rgpd/{demande}/rectify",
        "/violations/",  # issue 14.3
        "/violations/nouveau",
        "/violations/{breach}",
        "/information/{conv_ccas}",  # issue 14.5
    ],
    "technicien.demo": [
        "/",
        "/demandes/new",
        "/demandes/",
        "/demandes/?activity=unread",
        "/demandes/{demande}",
        "/aide",
        "/preferences",
        "/password",
        "/conventions/",
        "/information/{conv_ccas}",  # issue 14.5
    ],
    "technicien.voisin": ["/", "/demandes/", "/demandes/{demande_voisin}", "/set-password/x"],
}


@pytest.mark.parametrize("user", list(PAGES))
def test_every_page_of_every_profile_passes_axe(page, server, console_errors, user):
    found = ids(server)
    login(page, user)
    violations = []
    for path in PAGES[user]:
        page.goto(path.format(**found))
        settle(page)
        assert page.locator("h1").count() == 1, path  # 403, 404 and 410 pages included
        violations += axe(page, user)
    assert violations == []
    assert console_errors == []


def test_anonymous_pages_and_login_errors_pass_axe(page, server, console_errors):
    violations = []
    for path in (
        "/login",
        "/forgot",
        "/accessibilite",
        "/mentions-legales",
        "/donnees-personnelles",
    ):
        page.goto(path)
        violations += axe(page)
    page.goto("/forgot")
    page.fill("#username", "technicien.voisin")
    act(page, "button:has-text('Recevoir un lien')")
    page.goto(link_in(mail_to(server, "technicien.voisin@example.org", "/reset-password/")))
    assert page.locator("#password").count() == 1
    page.fill("#password", "azerty")
    settle(page)
    page.wait_for_timeout(500)  # rules checked as the user types
    settle(page)
    assert "au moins 12" in page.locator("#password_feedback").inner_text()
    violations += axe(page, "reset password with live feedback")
    page.goto("/login")
    page.fill("#username", "personne")
    page.fill("#password", "mauvais")
    act(page, "button:has-text('Se connecter')")
    assert page.locator("#error-summary").count() == 1
    violations += axe(page, "login error")
    assert violations == []
    assert console_errors == []


FORMS = [
    ("gestionnaire.demo", "/accounts/new", "Créer le compte et envoyer le lien"),
    ("technicien.demo", "/demandes/new", "Envoyer la demande"),
    ("caisse.demo", "/partners/new", "Enregistrer la structure et la convention"),
    ("technicien.demo", "/password", "Changer mon mot de passe"),
    ("gestionnaire.demo", "/rgpd/", "Rechercher"),
    ("gestionnaire.demo", "/violations/nouveau", "Envoyer le signalement"),
]


@pytest.mark.parametrize("user, path, button", FORMS, ids=[f[1] for f in FORMS])
def test_forms_with_errors_pass_axe_focus_the_summary_and_tie_errors(
    page, console_errors, user, path, button
):
    login(page, user)
    page.goto(path)
    act(page, f"button:has-text('{button}')")
    assert page.locator("#error-summary").count() == 1
    assert page.evaluate("document.activeElement.id") == "error-summary"
    untied = page.evaluate(
        """() => [...document.querySelectorAll('[aria-invalid="true"]')].filter(el => {
            const ids = (el.getAttribute('aria-describedby') || '').split(/\\s+/);
            return !ids.some(id => id && document.getElementById(id)
                && document.getElementById(id).classList.contains('error-message'));
        }).map(el => el.id)"""
    )
    assert untied == []
    invalid = page.locator('[aria-invalid="true"]').count()
    assert invalid >= 1
    assert axe(page, "errors") == []
    assert console_errors == []


def test_htmx_swaps_pass_axe_and_move_the_focus(page, server, console_errors):
    login(page, "gestionnaire.demo")
    page.goto("/accounts/")
    page.fill("#q", "theo")
    settle(page)
    page.wait_for_timeout(400)  # the search waits 300 ms after typing
    settle(page)
    assert page.locator("#account_list tbody tr").count() == 1
    assert axe(page, "after search") == []
    page.locator("summary").first.click()
    act(page, "button:has-text('Inactiver maintenant')")
    assert "est inactivé" in page.evaluate("document.activeElement.textContent")
    assert axe(page, "after row update") == []
    act(page, "button:has-text('Réactiver')")
    assert "est réactivé" in page.evaluate("document.activeElement.textContent")

    act(page, "nav >> text=Revues")
    act(page, "button:has-text('Commencer')")
    card = page.locator("li.review-row", has=page.locator("h3", has_text="Théo Exemple"))
    card.get_by_label("Conserver", exact=True).check()
    act(page, card.locator("button:has-text('Enregistrer la décision')"))
    assert "attestations" in page.evaluate("document.activeElement.textContent")
    assert axe(page, "review row with error") == []
    assert console_errors == []

    act(page, "button:has-text('Se déconnecter')")
    login(page, "technicien.demo")
    page.goto("/demandes/new")
    page.select_option("#caisse", label="CPAM de Démo")
    settle(page)
    page.select_option("#offer", value="contact")
    settle(page)
    assert page.locator("#identite").count() == 0
    assert axe(page, "demande form after swap") == []


def tab_to(page, selector, limit=80):
    """Press Tab until the focused element matches the selector (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} never got the focus with Tab")


def choose_with_keys(page, selector, wanted):
    """Move a focused select with the arrow keys until it shows the wanted value."""
    for _ in range(120):
        if page.evaluate(f"document.querySelector({selector!r}).value") == wanted:
            return
        page.keyboard.press("ArrowDown")
        settle(page)  # each change may ask the server for the dependent choices
        if not page.evaluate(f"document.activeElement.matches({selector!r})"):
            raise AssertionError(f"{selector} lost the focus after a change")
    raise AssertionError(f"{wanted} not reachable in {selector}")


def test_request_journey_with_the_keyboard_only(page, console_errors):
    page.goto("/login")
    tab_to(page, "#username")
    page.keyboard.type("technicien.demo")
    page.keyboard.press("Tab")
    page.keyboard.type("mot de passe des parcours 2026")
    page.keyboard.press("Enter")
    settle(page)
    if "/cgu" in page.url:
        tab_to(page, "#accept")
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        settle(page)
    tab_to(page, "a[href='/demandes/new']")
    page.keyboard.press("Enter")
    settle(page)
    tab_to(page, "#caisse")
    cpam = page.evaluate(
        "[...document.querySelectorAll('#caisse option')]"
        ".find(o => o.text === 'CPAM de Démo').value"
    )
    choose_with_keys(page, "#caisse", cpam)
    settle(page)
    tab_to(page, "#offer")
    choose_with_keys(page, "#offer", "rendez_vous")
    settle(page)
    tab_to(page, "#motif")
    choose_with_keys(page, "#motif", "c2s")
    tab_to(page, "input[name=civilite]")
    page.keyboard.press("Space")
    tab_to(page, "#nom")
    page.keyboard.type("Clavier")
    page.keyboard.press("Tab")
    page.keyboard.type("Camille")
    tab_to(page, "#date_naissance")
    page.keyboard.type("03031975")
    tab_to(page, "#departement")
    choose_with_keys(page, "#departement", "01")
    tab_to(page, "#informed")
    page.keyboard.press("Space")
    tab_to(page, "#commentaire")
    page.keyboard.type("Rendez-vous souhaité pour une demande de C2S.")
    tab_to(page, "button[type=submit]:not(.button--light)")
    page.keyboard.press("Enter")
    settle(page)
    assert page.locator("h1").inner_text().startswith("Demande n° ")
    assert "Camille Clavier" in page.locator("main").inner_text()
    assert console_errors == []


SCREENS = {"desktop": {"width": 1280, "height": 900}, "telephone": {"width": 320, "height": 640}}


@pytest.mark.parametrize("user", ["caisse.demo", "gestionnaire.demo", "technicien.demo"])
def test_main_pages_are_readable_on_desktop_and_phone(page, user):
    login(page, user)
    main = {"caisse.demo": "/", "gestionnaire.demo": "/accounts/", "technicien.demo": "/demandes/"}
    for name, size in SCREENS.items():
        page.set_viewport_size(size)
        page.goto(main[user])
        settle(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{user} {name}: {overflow}px wider than the screen"
        screenshot(page, f"{user.split('.')[0]}-{name}")


def test_a_form_that_comes_back_with_kept_files_passes_axe(page, tmp_path, console_errors):
    """Issue 10.3: the files kept for a form that came back, each with its "Retirer" box."""
    from ep.demo import DEMO_PDF

    login(page, "technicien.demo")
    page.goto("/demandes/new")
    page.select_option("#caisse", label="CPAM de Démo")
    settle(page)
    (tmp_path / "justificatif.pdf").write_bytes(DEMO_PDF)
    page.set_input_files("#pieces_jointes", str(tmp_path / "justificatif.pdf"))
    act(page, "button:has-text('Envoyer la demande')")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "Pièce déjà jointe (1)" in page.locator("#held_uploads").inner_text()
    assert "justificatif.pdf" in page.locator("#held_uploads").inner_text()
    screenshot(page, "technicien-pieces-deja-jointes")
    assert axe(page, "kept files") == []
    assert console_errors == []


def with_rules(server, work):
    """Run rule functions on the server's own database, as another user acting meanwhile."""
    from ep import create_app
    from ep.db import database

    if os.environ.get("EP_BROWSER_DATABASE_URL"):
        pytest.skip("acts on the SQLite file of the default run")
    app = create_app({"EP_INSTANCE_PATH": str(server["instance"])})
    with app.test_request_context():
        result = work()
    database.close()
    return result


def test_a_reply_refused_on_a_request_closed_meanwhile_passes_axe(page, server, console_errors):
    """Issue 10.8: the refusal is said (error summary, focused) and the text kept."""
    from ep import demandes
    from ep.models import Account, Caisse, Demande

    def submit():
        return demandes.submit(
            Account.get(Account.username == "technicien.demo"),
            {
                "caisse": Caisse.get(Caisse.name == "CPAM de Démo").id,
                "offer": "contact",
                "motif": "offres",
                "commentaire": "Question sur les ateliers de prévention.",
            },
            [],
        ).id

    demande_id = with_rules(server, submit)
    login(page, "technicien.demo")
    page.goto(f"/demandes/{demande_id}")
    page.fill("#body", "Merci de nous envoyer le calendrier.")
    with_rules(
        server,
        lambda: demandes.close(
            Account.get(Account.username == "caisse.demo"),
            Demande.get_by_id(demande_id),
            "Calendrier envoyé par courrier.",
        ),
    )
    act(page, "button:has-text('Envoyer le message')")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "clôturée" in page.locator("#error-summary").inner_text()
    assert page.locator("#body").input_value() == "Merci de nous envoyer le calendrier."
    assert axe(page, "reply refused on a closed request") == []
    assert console_errors == []
