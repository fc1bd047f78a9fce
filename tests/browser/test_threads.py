"""An exchange opened by the caisse, in a real browser (issue 12.2): the agent writes to the
structure with a document, the technicien sees it unread, answers with a document, the agent
reads the answer and closes the exchange. Each page passes axe, and fits a 320 px screen."""

import pytest

from ep.demo import DEMO_PDF

from .conftest import ARTIFACTS, act, axe, login, logout, settle

MODES = pytest.mark.parametrize("js", [True, False], ids=["js", "sans-js"])
PHONE, DESKTOP = {"width": 320, "height": 640}, {"width": 1280, "height": 900}


def screenshot(page, name):
    """conftest's screenshot, with the text caret left as it is: Playwright hides it with an
    inline style, which our CSP refuses (an error in the console)."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, caret="initial")


def look(page, name, violations, note, js=True):
    """axe on the page, then a screenshot on a desktop and on a 320 px phone, where nothing
    may scroll sideways. Both are scripts run in the page: not without JavaScript."""
    if not js:
        return
    violations += axe(page, note)
    screenshot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    settle(page)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow}px wider than the screen"
    screenshot(page, f"{name}-telephone")
    page.set_viewport_size(DESKTOP)


@MODES
def test_exchange_journey(new_context, server, tmp_path, js):
    context = new_context(java_script_enabled=js)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    subject = f"Journée des partenaires ({'js' if js else 'sans js'})"
    violations = []

    # The caisse agent writes to the structure, with a document.
    login(page, "caisse.demo")
    act(page, "nav >> text=Échanges")
    act(page, "text=Écrire à une structure")
    page.select_option("#partner", label="CCAS de Démo")
    page.fill("#subject", subject)
    page.fill("#body", "Le programme de la journée des partenaires est joint.")
    programme = tmp_path / "programme.pdf"
    programme.write_bytes(DEMO_PDF)
    page.set_input_files("#pieces_jointes", str(programme))
    look(page, "echange-nouveau", violations, "nouvel échange", js)
    act(page, "button:has-text('Envoyer le message')")
    assert page.locator("h1").inner_text() == subject
    assert page.locator("a:has-text('programme.pdf')").count() == 1
    logout(page)

    # The technicien sees it unread, on the home page and in the list.
    login(page, "technicien.demo")
    home = page.locator("main").inner_text()
    assert "non lu" in home and "échange" in home
    act(page, "nav >> text=Échanges")
    assert page.locator("h1").inner_text() == "Échanges avec les caisses"
    row = page.locator("tr", has_text=subject)
    assert "Non lu" in row.inner_text()
    look(page, "echanges-technicien", violations, "liste des échanges", js)
    act(page, row.locator("a"))
    assert page.locator("h1").inner_text() == subject

    # ... and answers with a document.
    page.fill("#body", "Merci : nous serons deux, la liste est jointe.")
    liste = tmp_path / "liste.pdf"
    liste.write_bytes(DEMO_PDF)
    page.set_input_files("#pieces_jointes", str(liste))
    act(page, "button:has-text('Envoyer le message')")
    assert "Votre message est envoyé" in page.locator("#messages").inner_text()
    assert page.locator("a:has-text('liste.pdf')").count() == 1
    look(page, "echange-technicien", violations, "échange, côté structure", js)
    act(page, "nav >> text=Échanges")
    assert "Non lu" not in page.locator("tr", has_text=subject).inner_text()
    logout(page)

    # The agent sees the answer, then closes the exchange.
    login(page, "caisse.demo")
    act(page, "nav >> text=Échanges")
    row = page.locator("tr", has_text=subject)
    assert "Non lu" in row.inner_text()
    act(page, row.locator("a"))
    main = page.locator("main").inner_text()
    assert "Merci : nous serons deux" in main and "liste.pdf" in main
    look(page, "echange-caisse", violations, "échange, côté caisse", js)
    act(page, 'button:has-text("Clore l\'échange")')
    assert "Échange clos" in page.locator("main").inner_text()
    assert page.locator("#body").count() == 0
    if js:
        violations += axe(page, "échange clos")

    # The structure's page shows the latest exchanges with it.
    act(page, "nav >> text=Partenaires")
    act(page, "main a:has-text('CCAS de Démo')")
    section = page.locator("section", has_text="Échanges avec la structure")
    assert subject in section.inner_text()
    look(page, "echanges-structure", violations, "page de la structure", js)
    logout(page)

    assert violations == []
    assert errors == []
