"""The notice handed to the assuré (issue 14.5) in Chromium: printed to PDF in A4, it is one
page, with the longest realistic contact lists (more contacts than it shows, long names,
functions and addresses); it passes axe; the request form opens it in a new tab. The breach
report form (issue 14.3): its clock and facts follow the choices; each page passes axe."""

import re
from datetime import datetime, timedelta

from .conftest import act, axe, login, logout, screenshot, settle

# Realistic but long: hyphenated names, functions of a body of several CCAS, long addresses.
CONTACTS = {
    "gestionnaire.demo": [
        (
            "referent",
            "Marie-Christine Lefebvre-Duplessis",
            "Responsable du pôle accès aux droits et accompagnement social des familles",
            "03 89 00 00 41",
            "marie-christine.lefebvre-duplessis@ccas-de-demo.example.org",
        ),
        (
            "referent",
            "Jean-Baptiste Martin-Schneider",
            "Coordinateur des travailleurs sociaux et des bénévoles de l'accueil",
            "03 89 00 00 42",
            "jean-baptiste.martin-schneider@ccas-de-demo.example.org",
        ),
        (
            "dpo",
            "Service mutualisé de protection des données des communes de l'agglomération",
            "Délégation à la protection des données (RGPD)",
            "03 89 00 00 43",
            "protection-des-donnees@agglomeration-de-demo.example.org",
        ),
    ],
    "caisse.demo": [
        (
            "dpo",
            "Anne-Sophie Bernard-Klein",
            "Déléguée adjointe à la protection des données de l'Assurance Maladie",
            "03 89 00 00 51",
            "anne-sophie.bernard-klein@cpam-de-demo.example.org",
        ),
        (
            "dpo",
            "Secrétariat du délégué à la protection des données",
            "CPAM de Démo, direction de la conformité et des risques",
            "03 89 00 00 52",
            "secretariat-dpo@cpam-de-demo.example.org",
        ),
    ],
}


def add_contacts(page):
    for username, contacts in CONTACTS.items():
        login(page, username)
        for role, name, function, phone, email in contacts:
            page.goto("/contacts/")
            page.select_option("#role", role)
            page.fill("#name", name)
            page.fill("#function", function)
            page.fill("#phone", phone)
            page.fill("#email", email)
            act(page, "button:has-text('Ajouter le contact')")
            assert name in page.content()
        logout(page)


def remove_contacts(page):
    page.on("dialog", lambda dialog: dialog.accept())
    for username, contacts in CONTACTS.items():
        login(page, username)
        for _, name, *_ in contacts:
            page.goto("/contacts/")
            item = page.locator("ul.contacts > li", has_text=name)
            act(page, item.get_by_role("button", name="Retirer"))
        logout(page)


def test_the_notice_prints_on_one_a4_page(page, context, server, console_errors, tmp_path):
    add_contacts(page)
    try:
        login(page, "technicien.demo")
        page.goto("/demandes/new")
        page.select_option("#caisse", label="CPAM de Démo")
        settle(page)
        page.select_option("#offer", "document")
        settle(page)
        page.select_option("#motif", "attestation_droits")
        settle(page)
        link = page.locator("#notice-link a")
        assert "(s'ouvre dans un nouvel onglet)" in link.inner_text()
        page.fill("#nom", "Martin")  # typed work stays where it is
        with context.expect_page() as opened:
            link.click()
        notice = opened.value
        notice.wait_for_load_state("load")
        assert page.input_value("#nom") == "Martin"
        assert "CPAM de Démo" in notice.locator("h1").inner_text()
        text = notice.locator("main").inner_text()
        assert "Service mutualisé de protection des données" in text  # the DPO first
        assert "Jean-Baptiste" not in text  # a few contacts of each, not all
        assert "Anne-Sophie Bernard-Klein" in text
        violations = axe(notice, "notice")
        screenshot(notice, "information-notice")
        pdf = notice.pdf(format="A4", print_background=False)
        (tmp_path / "notice.pdf").write_bytes(pdf)
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
        assert pages == 1, f"the notice prints on {pages} pages"
        assert violations == []
        notice.close()
    finally:
        logout(page)
        remove_contacts(page)
    assert console_errors == []


def test_a_breach_report_in_the_browser(page, server, console_errors):
    login(page, "gestionnaire.demo")
    act(page, "nav >> text=Violations de données")
    violations = axe(page, "breaches")
    act(page, "a:has-text('Signaler une violation de données')")
    act(page, "button:has-text('Envoyer le signalement')")
    page.fill("#description", "")
    act(page, "button:has-text('Envoyer le signalement')")
    assert page.locator("#error-summary").count() == 1
    violations += axe(page, "breach form with errors")
    noticed = datetime.now() - timedelta(hours=1)
    page.fill("#noticed_on", noticed.date().isoformat())
    page.fill("#noticed_time", noticed.strftime("%H:%M"))
    page.get_by_label(re.compile(r"technicien\.demo")).check()
    settle(page)
    assert "il reste" in page.locator("#breach_facts").inner_text()
    assert "Compte technicien.demo" in page.locator("#breach_facts").inner_text()
    page.fill("#description", "Session laissée ouverte sur un poste en libre accès.")
    page.get_by_label("CPAM de Démo").check()
    act(page, "button:has-text('Envoyer le signalement')")
    assert "est enregistré" in page.locator("#messages").inner_text()
    assert "dans le délai" in page.content()
    violations += axe(page, "breach report")
    assert violations == []
    assert console_errors == []
