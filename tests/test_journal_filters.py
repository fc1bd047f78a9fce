"""Issue 14.4: the journal as an investigation tool. Filters by account (author or account
concerned), action, request number and period, in the address (GET), errors by the field;
the access traces hidden unless asked, a run of one account's traces one line; the CSV of
the filtered view; each filter read in order from an index (tests/test_query_plans.py)."""

import csv
import io
import re
from datetime import datetime, timedelta

from ep import demandes
from ep.models import AuditEvent, Caisse, Partner

from .conftest import account
from .test_demandes import rule_data

START = datetime(2026, 3, 2, 9, 0)


def event(action, minutes, actor=None, concerned=None, caisse=None, partner="CCAS de Démo", **kw):
    """An event of the demo's structure at START + `minutes`."""
    return AuditEvent.create(
        at=START + timedelta(minutes=minutes),
        action=action,
        actor=account(actor) if actor else None,
        account=account(concerned) if concerned else None,
        caisse=Caisse.get(Caisse.name == caisse) if caisse else None,
        partner=Partner.get(Partner.name == partner) if partner else None,
        **kw,
    )


def details(html):
    """The journal lines' details shown on a page (marked "trace-…" by these tests)."""
    return re.findall(r"trace-[a-z0-9-]+", html)


def page(client, query=""):
    response = client.get("/audit/" + query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_reads_are_hidden_by_default_and_shown_when_asked(app, client, login_as):
    event("demande_viewed", 1, "caisse.demo", caisse="CPAM de Démo", detail="trace-lue")
    event("deactivated", 2, "gestionnaire.demo", "technicien.demo", detail="trace-action")
    login_as("gestionnaire.demo")
    html = page(client)
    assert "trace-action" in html and "trace-lue" not in html
    assert "Les consultations sont masquées" in html
    html = page(client, "?consultations=y")
    assert "trace-action" in html and "trace-lue" in html
    html = page(client, "?action=demande_viewed")  # asking for a read shows the reads
    assert details(html) == ["trace-lue"]


def test_a_run_of_one_account_s_reads_is_one_line(app, client, login_as):
    for n in range(4):
        event("demande_viewed", n, "caisse.demo", caisse="CPAM de Démo", detail=f"trace-lu-{n}")
    event("attachment_downloaded", 5, "caisse.demo", caisse="CPAM de Démo", detail="trace-lu-5")
    event("login", 6, "caisse.demo", "caisse.demo", caisse="CPAM de Démo", detail="trace-login")
    event("demande_viewed", 7, "carsat.demo", caisse="CPAM de Démo", detail="trace-seul")
    login_as("gestionnaire.demo")
    html = page(client, "?consultations=y")
    group = re.search(r'<tr class="read-group">.*?</tr>', html, re.S).group(0)
    assert "5 consultations" in group
    assert details(group) == [f"trace-lu-{n}" for n in (5, 3, 2, 1, 0)]
    assert html.count('class="read-group"') == 1  # one account's lone read stays a line
    assert details(html).index("trace-seul") < details(html).index("trace-login")


def test_an_account_s_events_as_author_or_as_the_account_concerned(app, client, login_as):
    event("deactivated", 1, "gestionnaire.demo", "technicien.demo", detail="trace-concerne")
    event("login", 2, "technicien.demo", "technicien.demo", detail="trace-connexion")
    event("demande_submitted", 3, "technicien.demo", caisse="CPAM de Démo", detail="trace-auteur")
    event("login", 4, "gestionnaire.demo", "gestionnaire.demo", detail="trace-autre")
    login_as("caisse.demo")
    html = page(client, "?compte=Technicien.Demo")  # case aside
    assert details(html) == ["trace-auteur", "trace-connexion", "trace-concerne"]
    assert 'value="Technicien.Demo"' in html


def test_an_account_outside_the_reader_s_journal_is_refused_by_its_field(client, login_as):
    login_as("gestionnaire.voisin")
    for name in ("technicien.demo", "carsat.demo", "personne"):
        html = page(client, f"?compte={name}")
        assert f"Aucun compte « {name} » dans votre journal." in html
        assert 'aria-invalid="true"' in html
    html = page(client, "?compte=caisse.demo")  # the agents of its own caisse
    assert "Aucun compte" not in html


def test_one_action(app, client, login_as):
    event("login", 1, "technicien.demo", "technicien.demo", detail="trace-login")
    event("logout", 2, "technicien.demo", "technicien.demo", detail="trace-logout")
    login_as("gestionnaire.demo")
    assert details(page(client, "?action=logout")) == ["trace-logout"]
    html = page(client, "?action=nimporte")
    assert "Choisissez une action de la liste." in html and "trace-login" in html


def test_one_request_s_events_by_its_number(app, client, login_as):
    with app.test_request_context():
        d = demandes.submit(account("technicien.demo"), rule_data(), [])
        other = demandes.submit(account("technicien.demo"), rule_data(nom="Autre"), [])
        demandes.take(account("caisse.demo"), d)
    login_as("caisse.demo")
    client.get(f"/demandes/{d.id}")
    for number in (d.reference, str(d.id)):
        html = page(client, f"?demande={number}&consultations=y")
        shown = re.findall(r"demande \d{6}", html)
        assert shown and set(shown) == {f"demande {d.reference}"}
        assert "Demande consultée" in html and "Demande prise en charge" in html
    assert f"demande {other.reference}" in page(client)


def test_a_request_out_of_scope_or_not_a_number_is_refused_by_its_field(app, client, login_as):
    with app.test_request_context():
        voisin = demandes.submit(account("technicien.voisin"), rule_data(nom="Voisine"), [])
    login_as("gestionnaire.demo")
    for value in (voisin.reference, "12a", "99999999"):
        html = page(client, f"?demande={value}")
        assert "Aucune demande de ce numéro dans votre périmètre" in html


def test_a_period_its_last_day_included(app, client, login_as):
    event("login", -60 * 24, "technicien.demo", "technicien.demo", detail="trace-veille")
    event("login", 0, "technicien.demo", "technicien.demo", detail="trace-jour")
    event("login", 60 * 24, "technicien.demo", "technicien.demo", detail="trace-lendemain")
    login_as("gestionnaire.demo")
    day = START.date().isoformat()
    assert details(page(client, f"?du={day}&au={day}")) == ["trace-jour"]
    assert details(page(client, f"?du={day}")) == ["trace-lendemain", "trace-jour"]
    later = (START.date() + timedelta(days=1)).isoformat()
    html = page(client, f"?du={later}&au={day}")
    assert "La date de fin précède la date de début." in html
    assert details(html) == ["trace-lendemain"]  # the other filter still applies


def test_the_filters_page_through_the_whole_filtered_trail(app, client, login_as):
    for n in range(130):
        action = "login" if n % 3 else "logout"
        event(action, n, "technicien.demo", "technicien.demo", detail=f"trace-{action}-{n:03d}")
    login_as("gestionnaire.demo")
    seen, url = [], "/audit/?action=login"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += details(html)
        older = re.search(r'<a href="([^"]+)">Événements plus anciens', html)
        url = older.group(1).replace("&amp;", "&") if older else None
    expected = [f"trace-login-{n:03d}" for n in reversed(range(130)) if n % 3]
    assert seen == expected


def test_the_csv_holds_the_filtered_view_and_its_export_is_traced(app, client, login_as):
    event("login", 1, "technicien.demo", "technicien.demo", detail="trace-login", ip="10.1.1.1")
    event("logout", 2, "technicien.demo", "technicien.demo", detail="trace-logout")
    event("demande_viewed", 3, "caisse.demo", caisse="CPAM de Démo", detail="trace-lue")
    gestionnaire = login_as("gestionnaire.demo")
    response = client.get("/audit/export.csv?compte=technicien.demo&action=login")
    assert response.is_streamed and response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [
        "date",
        "auteur",
        "action",
        "compte",
        "identifiant",
        "partenaire",
        "detail",
        "adresse",
    ]
    assert [(r[2], r[4], r[6], r[7]) for r in rows[1:]] == [
        ("Connexion", "technicien.demo", "trace-login", "10.1.1.1")
    ]
    everything = client.get("/audit/export.csv?consultations=y").get_data().decode("utf-8-sig")
    assert "trace-lue" in everything and "trace-logout" in everything
    assert "trace-lue" not in client.get("/audit/export.csv").get_data().decode("utf-8-sig")
    traced = list(
        AuditEvent.select()
        .where((AuditEvent.action == "journal_exported") & (AuditEvent.actor == gestionnaire))
        .order_by(AuditEvent.id)
    )
    assert len(traced) == 3
    assert traced[0].detail == (
        "filtres : compte technicien.demo, action login, sans les consultations"
    )


def test_the_journal_answers_htmx_with_its_list_only(app, client, login_as):
    event("login", 1, "technicien.demo", "technicien.demo", detail="trace-login")
    login_as("gestionnaire.demo")
    full = page(client, "?action=login")
    assert "<html" in full and 'id="journal"' in full and "<form" in full
    response = client.get("/audit/?action=login", headers={"HX-Request": "true"})
    partial = response.get_data(as_text=True)
    assert "<html" not in partial and 'id="journal"' in partial and "trace-login" in partial
    assert response.headers["HX-Push-Url"] == "/audit/?action=login"
    assert "HX-Request" in response.headers["Vary"]
    # With the list, the filters, so that a value that names nothing shows its error.
    partial = client.get("/audit/?compte=personne", headers={"HX-Request": "true"})
    assert "Aucun compte « personne » dans votre journal." in partial.get_data(as_text=True)


def test_the_filters_keep_the_scope(app, client, login_as):
    """A caisse sees its structures' events in force and its own; a filter never widens
    that (the CARSAT filters on a CPAM structure's account: nothing of the CPAM)."""
    event(
        "login",
        1,
        "technicien.voisin",
        "technicien.voisin",
        partner="CCAS Voisin",
        detail="trace-voisin",
    )
    event("demande_viewed", 2, "caisse.demo", caisse="CPAM de Démo", detail="trace-cpam")
    login_as("carsat.demo")
    assert "Aucun compte" in page(client, "?compte=technicien.voisin")
    html = page(client, "?compte=caisse.demo&consultations=y")
    assert "Aucun compte" in html and "trace-cpam" not in html
