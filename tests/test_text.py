"""Folding for search and usernames (issue 15.4): letters that Unicode does not decompose
(œ, æ, ß, ø, đ, ł, þ…) fold into their usual Latin spelling, as people type them."""

from datetime import date

import pytest

from ep import accounts, demandes
from ep.accounts import make_username
from ep.models import Caisse, Partner
from ep.text import fold, search_words

from .conftest import account


@pytest.mark.parametrize(
    "typed, folded",
    [
        ("Hélène", "helene"),
        ("Cœur", "coeur"),
        ("ŒUVRAY", "oeuvray"),
        ("Ærwan", "aerwan"),
        ("Lætitia", "laetitia"),
        ("Straße", "strasse"),
        ("GROẞ", "gross"),
        ("Øyvind Bjørn", "oyvind bjorn"),
        ("Đorđe", "dorde"),
        ("Ðóra", "dora"),
        ("Łukasz Wałęsa", "lukasz walesa"),
        ("Þórunn", "thorunn"),
        ("Ħamrun", "hamrun"),
        ("Işıl", "isil"),
        ("İlkay", "ilkay"),
        ("ﬁlle", "fille"),  # a ligature NFKD already takes apart
    ],
)
def test_letters_that_do_not_decompose_fold_into_their_latin_spelling(typed, folded):
    assert fold(typed) == folded


def test_what_a_search_types_and_what_it_finds_fold_alike():
    assert search_words("Cœur AERWAN coeur") == ["coeur", "aerwan"]
    assert fold(fold("Ærwan Œ")) == fold("Ærwan Œ")  # folding twice changes nothing


@pytest.mark.parametrize(
    "prenom, nom, username",
    [
        ("Ærwan", "Lefèvre-Œuvray", "aerwan.lefevre-oeuvray"),
        ("Jürgen", "Groß", "jurgen.gross"),
        ("Søren", "Kierkegaard", "soren.kierkegaard"),
        ("Łucja", "Þórsdóttir", "lucja.thorsdottir"),
    ],
)
def test_usernames_keep_those_letters_in_their_latin_spelling(ctx, prenom, nom, username):
    assert make_username(prenom, nom) == username


def test_an_account_is_found_by_its_latin_spelling(client, login_as, app):
    with app.test_request_context():
        created = accounts.create_technicien(
            account("gestionnaire.demo"),
            {
                "civilite": "M.",
                "nom": "Lefèvre-Œuvray",
                "prenom": "Ærwan",
                "fonction": "Médiateur",
                "telephone": "01 23 45 67 89",
                "email": "ae.lefevre@example.org",
            },
            True,
        )
    assert created.username == "aerwan.lefevre-oeuvray"
    login_as("gestionnaire.demo")
    for typed in ("aerwan", "oeuvray", "ÆRWAN", "lefevre-oeuvray"):
        page = client.get("/accounts/", query_string={"q": typed}).get_data(as_text=True)
        assert "Ærwan Lefèvre-Œuvray" in page and "Théo" not in page, typed


def test_a_request_is_found_by_its_latin_spelling(client, login_as, app):
    with app.test_request_context():
        cpam = Caisse.get(Caisse.name == "CPAM de Démo").id
        demandes.submit(
            account("technicien.demo"),
            {
                "caisse": cpam,
                "offer": "document",
                "motif": "attestation_droits",
                "commentaire": "Attestation de droits.",
                "civilite": "Mme",
                "prenom": "Lætitia",
                "nom": "Cœur",
                "date_naissance": date(1970, 3, 1),
                "departement": "68",
                "informed": True,
            },
            [],
        )
    login_as("technicien.demo")
    page = client.get("/demandes/?q=coeur laetitia").get_data(as_text=True)
    assert "Lætitia Cœur" in page and "Lucie Fictive" not in page
    login_as("caisse.demo")
    page = client.get("/demandes/queue?q=COEUR").get_data(as_text=True)
    assert "Lætitia Cœur" in page and "Lucie Fictive" not in page


def test_a_structure_is_found_by_its_latin_spelling(client, login_as, app):
    Partner.update(name="Œuvre sociale de Démo").where(Partner.name == "CCAS Voisin").execute()
    login_as("caisse.demo")
    page = client.get("/?structure=oeuvre").get_data(as_text=True)
    assert "Œuvre sociale de Démo" in page and "CCAS de Démo" not in page
