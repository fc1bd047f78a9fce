"""The request form follows the chosen caisse's catalogue (issue 12.3): the identity block
comes with a motif about an assuré (code AMELI) and goes with a partnership one, keeps what
was typed from one such motif to another; the document's destination is said. With and
without JavaScript."""

from .conftest import act, login, settle
from .test_journeys import MODES, choose, new_page


@MODES
def test_the_identity_block_follows_the_motif(new_context, server, js):
    page, errors = new_page(new_context, js)
    login(page, "technicien.demo")
    act(page, "nav >> text=Nouvelle demande")
    choose(page, js, "#caisse", label="CPAM de Démo")
    choose(page, js, "#offer", value="contact")
    assert page.locator("#identite").count() == 0
    assert "choisissez d'abord le motif" in page.locator("#demande_choices").inner_text()
    choose(page, js, "#motif", value="autre")  # code AMELI: about an assuré
    assert page.locator("#identite").is_visible()
    page.fill("#commentaire", "Code AMELI perdu par l'assuré.")
    act(page, "button:has-text('Envoyer la demande')")  # sent without the identity
    assert page.locator("#error-summary").is_visible()
    assert page.locator("#nom-error").is_visible() and page.locator("#prenom-error").is_visible()
    choose(page, js, "#motif", value="convention")  # the partnership: no assuré
    assert page.locator("#identite").count() == 0
    assert "aucune donnée d'assuré" in page.locator("#demande_choices").inner_text()

    choose(page, js, "#offer", value="document")
    assert "adresse connue de l'assuré" in page.locator("#document_destination").inner_text()
    choose(page, js, "#motif", value="attestation_droits")
    page.fill("#nom", "Gardé")
    choose(page, js, "#motif", value="ceam")  # another motif about an assuré
    if js:  # the block swapped by htmx keeps what was typed
        assert page.input_value("#nom") == "Gardé"
    page.check("#civilite-0")
    page.fill("#nom", "Catalogue" + ("Js" if js else "Html"))
    page.fill("#prenom", "Agathe")
    page.fill("#date_naissance", "1971-05-06")
    page.select_option("#departement", value="68")
    page.check("#informed")
    page.fill("#commentaire", "Certificat provisoire CEAM pour un séjour à l'étranger.")
    act(page, "button:has-text('Envoyer la demande')")
    settle(page)
    assert page.locator("h1").inner_text().startswith("Demande n° ")
    main = page.locator("main").inner_text()
    assert "Certificat provisoire CEAM" in main and "adresse connue de l'assuré" in main
    assert errors == []
