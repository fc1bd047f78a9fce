"""The session's time limit (issue 10.2, RGAA 13.1): warned before, extended in one action,
and when it has passed anyway, any action says so and the typed work comes back."""

import time

from ep.models import Draft

from .conftest import PASSWORD, account, make_app

IDENTITY = {
    "caisse": "",
    "offer": "signalement",
    "motif": "urgence",
    "civilite": "Mme",
    "nom": "Brouillon-Exemple",
    "prenom": "Zélie",
    "date_naissance": "1950-02-03",
    "departement": "68",
    "commentaire": "Texte tapé pendant une longue conversation téléphonique.",
}


def login(client, username="technicien.demo", url="/login"):
    return client.post(url, data={"username": username, "password": PASSWORD})


def age_session(client, minutes):
    with client.session_transaction() as session:
        session["seen"] -= minutes * 60


def test_an_expired_session_keeps_the_typed_request_for_after_the_login(client):
    login(client)
    age_session(client, 31)
    response = client.post(
        "/demandes/new", data=IDENTITY, headers={"Referer": "http://ep.test/demandes/new"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=/demandes/new")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "session a expiré" in page and "formulaire" in page
    assert login(client, url=response.headers["Location"]).headers["Location"] == "/demandes/new"
    form = client.get("/demandes/new").get_data(as_text=True)
    assert 'value="Brouillon-Exemple"' in form
    assert "Texte tapé pendant une longue conversation" in form
    assert "rétabli" in form
    assert not Draft.select().exists()  # used once, then gone


def test_the_draft_mentions_files_to_join_again(client):
    import io

    login(client)
    age_session(client, 31)
    client.post(
        "/demandes/new",
        data={**IDENTITY, "pieces_jointes": (io.BytesIO(b"%PDF-1.4 x"), "avis.pdf")},
        content_type="multipart/form-data",
        headers={"Referer": "http://ep.test/demandes/new"},
    )
    login(client)
    form = client.get("/demandes/new").get_data(as_text=True)
    assert "joignez de nouveau" in form


def test_a_draft_comes_back_to_its_author_only(app):
    first = app.test_client()
    login(first)
    age_session(first, 31)
    first.post("/demandes/new", data=IDENTITY, headers={"Referer": "http://ep.test/demandes/new"})
    login(first, "technicien.voisin")
    page = first.get("/demandes/new").get_data(as_text=True)
    assert "Brouillon-Exemple" not in page
    assert not Draft.select().exists()  # another person logged in: the draft is dropped


def test_an_expired_htmx_action_is_sent_to_the_login_page(client):
    login(client)
    age_session(client, 31)
    response = client.post(
        "/demandes/new", data=IDENTITY, headers={"HX-Request": "true", "HX-Target": "x"}
    )
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_a_post_whose_session_cookie_is_gone_leads_to_the_login_page(tmp_path):
    """The browser dropped the cookie: the CSRF check used to answer a bare 400 that htmx
    ignored (nothing happened on screen)."""
    from ep import demo

    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        demo.load(PASSWORD)
    client = app.test_client()
    response = client.post(
        "/demandes/new", data=IDENTITY, headers={"Referer": "http://ep.test/demandes/new"}
    )
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "session a expiré" in page
    boosted = client.post(
        "/demandes/new", data=IDENTITY, headers={"HX-Request": "true", "HX-Boosted": "true"}
    )
    assert boosted.status_code == 303


def test_staying_connected_extends_the_session_in_one_action(client):
    login(client)
    with client.session_transaction() as session:
        session["seen"] -= 29 * 60
    response = client.post("/session/prolonger", headers={"HX-Request": "true"})
    assert response.status_code == 204
    with client.session_transaction() as session:
        assert time.time() - session["seen"] < 5
    without_js = client.post("/session/prolonger", headers={"Referer": "http://ep.test/aide"})
    assert without_js.status_code == 303 and without_js.headers["Location"].endswith("/aide")


def test_every_page_tells_when_the_session_ends_and_offers_to_stay(client, app):
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert 'data-idle-seconds="1800"' in page  # for the warning (ep.js)
    assert "Rester connecté" in page and 'action="/session/prolonger"' in page
    assert "30 minutes" in page
    assert account("technicien.demo").state == "active"
