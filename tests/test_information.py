"""The notice handed to the assuré (issue 14.5): per convention, the periods of the real
settings, the rights, both parties' contacts; linked from the request form in a new tab."""

from datetime import date, timedelta
from html import unescape

import pytest

from ep import information
from ep.models import Caisse, Contact, Convention, Partner


def convention(partner="CCAS de Démo", caisse="CPAM de Démo"):
    return Convention.get(
        (Convention.partner == Partner.get(Partner.name == partner))
        & (Convention.caisse == Caisse.get(Caisse.name == caisse))
    )


def read(response):
    return unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "days, words", [(365, "1 an"), (730, "2 ans"), (60, "2 mois"), (45, "45 jours"), (1, "1 jour")]
)
def test_periods_in_words(days, words):
    assert information.duration_fr(days) == words


def test_the_notice_says_what_why_how_long_the_rights_and_whom_to_contact(app, client, login_as):
    app.config["EP_RETENTION_CLOSED_DAYS"] = 730
    app.config["EP_WAITING_PARTNER_CLOSE_DAYS"] = 45
    with app.app_context():
        conv = convention()
    login_as("technicien.demo")
    response = client.get(f"/information/{conv.id}")
    page = read(response)
    assert response.status_code == 200
    assert "ce que CCAS de Démo transmet à CPAM de Démo" in page
    assert "après 2 ans" in page and "après 45 jours sans réponse" in page
    assert "gardée 1 an" in page  # EP_JOURNAL_RETENTION_DAYS
    for right in ("accéder", "rectifier", "effacement", "limitation", "opposer", "CNIL"):
        assert right in page
    assert "dpo.ccas@example.org" in page and "dpo.cpam@example.org" in page
    assert "Gaëlle Exemple" in page  # the structure's référent
    assert "partenaires@example.org" not in page  # the caisse's référent: it has a DPO
    assert "style=" not in page  # print CSS only, never inline


def test_a_caisse_without_dpo_is_reached_through_its_referents(app, client, login_as):
    with app.app_context():
        cpam = Caisse.get(Caisse.name == "CPAM de Démo")
        Contact.delete().where((Contact.caisse == cpam) & (Contact.role == "dpo")).execute()
        conv = convention()
    login_as("technicien.demo")
    page = read(client.get(f"/information/{conv.id}"))
    assert "La caisse n'a pas indiqué son délégué" in page
    assert "partenaires@example.org" in page


def test_only_a_few_contacts_of_each_so_that_it_stays_one_page(ctx):
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    for n in range(6):
        Contact.create(partner=ccas, role="referent", name=f"Référent {n}", email=f"r{n}@ex.org")
    notice = information.notice(convention())
    assert len(notice.partner_contacts) == information.PARTNER_CONTACTS
    assert notice.partner_contacts[0].role == "dpo"  # the DPO first


def test_an_ended_convention_has_no_notice(app, client, login_as):
    with app.app_context():
        conv = convention()
        Convention.update(ends_on=date.today() - timedelta(days=1)).where(
            Convention.id == conv.id
        ).execute()
    login_as("technicien.demo")
    assert client.get(f"/information/{conv.id}").status_code == 404


def test_the_request_form_links_the_chosen_caisse_s_notice_in_a_new_tab(app, client, login_as):
    with app.app_context():
        conv = convention()
    login_as("technicien.demo")
    query = {"caisse": conv.caisse_id, "offer": "document", "motif": "attestation_droits"}
    for headers in ({}, {"HX-Request": "true"}):  # the page, and the block htmx swaps in
        page = read(client.get("/demandes/new", query_string=query, headers=headers))
        link = page[page.index('id="notice-link"') :]
        link = link[: link.index("</p>")]
        assert f'href="/information/{conv.id}"' in link
        assert 'target="_blank"' in link and 'rel="noopener"' in link
        assert "(s'ouvre dans un nouvel onglet)" in link
