"""The yearly evaluation in Chromium (issue 13.4): the caisse opens Voisin's, its
gestionnaire answers with the keyboard's radio buttons, saves, sends; every page passes axe,
fits a 320 px screen without sideways scrolling, and the bilan prints without navigation.
Screenshots for a reviewer in tests/artifacts/screenshots/evaluation-*.png."""

import re
from datetime import date, timedelta

from .conftest import act, axe, login, logout, mail_to, screenshot, settle


def fits(page, width=320):
    """Nothing wider than the screen: no sideways scrolling."""
    page.set_viewport_size({"width": width, "height": 800})
    settle(page)
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def too_wide(page):
    """The elements that stick out of the screen (outside any scrolling region)."""
    return page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => !e.closest('.table-wrap')"
        " && e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
    )


def check(page, name, violations):
    violations += axe(page, name)
    screenshot(page, f"evaluation-{name}")
    assert fits(page), f"{name}: wider than 320 px: {too_wide(page)}"
    screenshot(page, f"evaluation-{name}-320")
    page.set_viewport_size({"width": 1280, "height": 900})
    # axe and the screenshots leave empty style attributes behind, which htmx would carry
    # over to the next page's elements of the same id (a CSP report no user would cause)
    page.evaluate("document.querySelectorAll('[style]').forEach(e => e.removeAttribute('style'))")


def test_open_answer_and_print_an_evaluation(page, server, console_errors):
    violations = []
    login(page, "caisse.demo")
    act(page, "nav >> text=Évaluations")
    assert page.locator("h1").inner_text() == "Évaluations annuelles du partenariat"
    check(page, "caisse-list", violations)
    act(page, "a:has-text('Le questionnaire de votre caisse')")
    check(page, "questionnaire", violations)
    act(page, page.get_by_role("link", name=re.compile("^Modifier")).first)
    check(page, "question", violations)
    page.goto("/evaluations")
    act(page, "a:has-text('Ouvrir l’évaluation'), a:has-text(\"Ouvrir l'évaluation\")")
    assert "CCAS Voisin" in page.locator("h1").inner_text()
    page.fill("#due_on", "2000-01-01")
    act(page, "button:has-text('Ouvrir l')")
    assert page.locator("#error-summary").count() == 1  # a date in the past
    check(page, "open-with-error", violations)
    page.fill("#due_on", (date.today() + timedelta(days=25)).isoformat())
    act(page, "button:has-text('Ouvrir l')")
    assert "est ouverte" in page.locator("#messages").inner_text()
    evaluation = re.search(r"/evaluations/(\d+)$", page.url).group(1)
    logout(page)

    link = re.search(
        r"(http://127\.0\.0\.1:\d+/evaluations/\d+/reponses)",
        mail_to(server, "gestionnaire.voisin@example.org", f"/evaluations/{evaluation}/"),
    ).group(1)
    login(page, "gestionnaire.voisin")
    page.goto(link)
    settle(page)
    check(page, "questionnaire-to-answer", violations)
    # keyboard: the first offer's group takes the focus, arrows choose within it
    page.locator("#q1_contact-0").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.locator("#q1_contact-2").is_checked()
    page.fill("#q2", "Des délais longs en septembre.")
    act(page, "button:has-text('Enregistrer')")
    assert "enregistrées" in page.locator("#messages").inner_text()
    assert page.locator("#q1_contact-2").is_checked()  # taken up as it was left
    act(page, "button:has-text('Envoyer les réponses')")
    assert page.locator("#error-summary").count() == 1  # four offers unrated
    check(page, "questionnaire-with-errors", violations)
    for code in ("document", "rendez_vous", "signalement", "etude_dossier"):
        page.locator(f"label[for='q1_{code}-5']").click()  # "sans objet"
    act(page, "button:has-text('Envoyer les réponses')")
    assert "sont envoyées" in page.locator("#messages").inner_text()
    assert "Des délais longs en septembre." in page.locator("main").inner_text()
    check(page, "bilan", violations)

    page.emulate_media(media="print")
    hidden = page.evaluate(
        "[...document.querySelectorAll('.site-nav, .site-header, .no-print, .button')]"
        ".every(el => getComputedStyle(el).display === 'none')"
    )
    assert hidden
    screenshot(page, "evaluation-bilan-print")
    page.emulate_media(media="screen")
    assert violations == []
    assert console_errors == []
