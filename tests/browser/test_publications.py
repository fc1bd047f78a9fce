"""Information of the caisse (issue 12.1) in a browser, from the login page: a caisse agent
publishes, the partner's technicien sees "Nouveau" on the home until it opens the item, and
a structure that is not the caisse's partner sees nothing; axe on every new page, and the
pages fit a 320 px wide phone."""

from ep.demo import DEMO_PDF

from .conftest import act, axe, login, logout, screenshot, settle
from .test_journeys import MODES, new_page


def publish(page, title, text, pdf=None):
    act(page, "nav >> text=Informations publiées")
    act(page, "text=Publier une information")
    page.fill("#titre", title)
    page.fill("#texte", text)
    if pdf:
        page.set_input_files("#fichier", str(pdf))
    assert page.locator("#audience-0").is_checked()  # all the partners, by default
    act(page, 'button:has-text("Publier l\'information")')
    assert "L'information est publiée" in page.locator("#messages").inner_text()
    assert page.locator("h1").inner_text() == title


def news(page, title):
    """The item's line in the home's short list."""
    return page.locator("section[aria-labelledby=news-title] li", has_text=title)


@MODES
def test_information_journey(new_context, server, tmp_path, js):
    page, errors = new_page(new_context, js)
    mode = "Js" if js else "Html"
    title = f"Fermeture exceptionnelle {mode}"
    pdf = tmp_path / "fermeture.pdf"
    pdf.write_bytes(DEMO_PDF)

    # The CPAM's agent publishes to all its partners, with a document.
    login(page, "caisse.demo")
    publish(page, title, "L'accueil des partenaires sera fermé le 24 décembre.", pdf)
    assert page.locator("a:has-text('fermeture.pdf')").count() == 1
    assert "0 structure sur 2" in page.locator("main").inner_text()
    logout(page)

    # A technicien of CCAS Voisin (a CPAM partner) sees it new on the home, opens it.
    login(page, "technicien.voisin")
    assert news(page, title).count() == 1
    assert "Nouveau" in news(page, title).inner_text()
    act(page, news(page, title).locator("a"))
    assert page.locator("h1").inner_text() == title
    main = page.locator("main").inner_text()
    assert "CPAM de Démo" in main and "fermé le 24 décembre" in main
    assert page.locator("a:has-text('fermeture.pdf')").count() == 1
    act(page, "nav >> text=Accueil")
    assert news(page, title).count() == 1
    assert "Nouveau" not in news(page, title).inner_text()
    logout(page)

    # The CARSAT's agent publishes to its partners: CCAS de Démo, not CCAS Voisin.
    carsat_title = f"Ateliers retraite {mode}"
    login(page, "carsat.demo")
    publish(page, carsat_title, "Des ateliers de préparation à la retraite ont lieu en mars.")
    logout(page)
    login(page, "technicien.voisin")
    assert carsat_title not in page.locator("main").inner_text()
    act(page, "nav >> text=Informations des caisses")
    listed = page.locator("main").inner_text()
    assert title in listed and carsat_title not in listed
    logout(page)

    # CCAS de Démo, partner of both, sees both; its own marker is still "Nouveau".
    login(page, "technicien.demo")
    assert "Nouveau" in news(page, carsat_title).inner_text()
    assert "Nouveau" in news(page, title).inner_text()
    act(page, "nav >> text=Informations des caisses")
    page.fill("#q", "ATELIERS retraite")
    if js:
        settle(page)
        page.wait_for_timeout(400)  # the search waits 300 ms after typing
        settle(page)
    else:
        act(page, "button:has-text('Rechercher')")
    listed = page.locator("#publication_list").inner_text()
    assert carsat_title in listed and "CARSAT de Démo" in listed and title not in listed
    logout(page)

    # The CPAM's agent sees that one structure opened it.
    login(page, "caisse.demo")
    act(page, "nav >> text=Informations publiées")
    row = page.locator("tr", has=page.locator(f"a:has-text('{title}')"))
    assert "1 / 2" in row.inner_text()
    assert errors == []


PHONE = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 900}


def check(page, name, violations, region=None):
    """axe on the page as it is, then no horizontal scroll at 320 px (or, given a `region`,
    nothing in it wider than the screen); a screenshot of each."""
    violations += axe(page, name)
    screenshot(page, f"informations-{name}-desktop")
    page.set_viewport_size(PHONE)
    settle(page)
    screenshot(page, f"informations-{name}-telephone")
    if region:
        wide = page.evaluate(
            f"""() => [...document.querySelectorAll({region!r} + ', ' + {region!r} + ' *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .map(e => e.tagName + ' ' + e.textContent.trim().slice(0, 40))"""
        )
        assert wide == [], f"{name}: wider than the screen: {wide}"
    else:
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px wider than the screen"
    page.set_viewport_size(DESKTOP)


def test_information_pages_pass_axe_and_fit_a_phone(page, server, console_errors):
    violations = []
    login(page, "caisse.demo")
    page.goto("/informations/new")
    act(page, 'button:has-text("Publier l\'information")')  # empty: errors by the fields
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check(page, "formulaire-erreurs", violations)
    page.goto("/informations/new")
    check(page, "formulaire", violations)
    page.goto("/informations/gestion")
    check(page, "caisse-liste", violations)
    act(page, "main a:has-text('Permanences d')")
    check(page, "caisse-information", violations)
    logout(page)

    login(page, "gestionnaire.voisin")
    # The home's table of conventions (main/_conventions.html, before issue 12) is wider
    # than a phone: only the information's section is checked there.
    check(page, "accueil-gestionnaire", violations, region="section[aria-labelledby=news-title]")
    act(page, "nav >> text=Informations des caisses")
    check(page, "partenaire-liste", violations)
    act(page, "main a:has-text('Réunion d')")
    check(page, "partenaire-information", violations)
    assert violations == []
    assert console_errors == []
