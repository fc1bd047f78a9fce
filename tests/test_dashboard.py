"""The caisse's dashboard at département scale (issue 11): a page of structures at a time,
found by name, those waiting for the caisse one click away, and a cost that does not grow
with the number of structures."""

import re
from datetime import date, datetime

import peewee
import pytest

from ep import db
from ep.models import Caisse, Convention, HabilitationRequest, Partner

from .conftest import account


def _structures(n):
    cpam = Caisse.get(Caisse.name == "CPAM de Démo")
    with db.database.atomic():
        for i in range(n):
            partner = Partner.create(name=f"Structure témoin {i:03d}", headcount=10)
            Convention.create(
                partner=partner,
                caisse=cpam,
                signed_on=date(2025, 1, 1),
                starts_on=date(2025, 1, 1),
            )
        partner = Partner.create(name="Épicerie Solidaire des Hêtres", headcount=10)
        Convention.create(
            partner=partner, caisse=cpam, signed_on=date(2025, 1, 1), starts_on=date(2025, 1, 1)
        )
        HabilitationRequest.create(
            partner=partner,
            caisse=cpam,
            created_by=account("caisse.demo"),
            person="Personne Fictive",
            received_on=date(2026, 1, 1),
            due_on=date(2030, 1, 1),
        )


def _names(html):
    return re.findall(
        r"Structure témoin \d{3}|Épicerie Solidaire des Hêtres|CCAS de Démo|CCAS Voisin", html
    )


def test_the_dashboard_shows_a_page_of_structures_at_a_time(app, client, login_as):
    with app.app_context(), db.database.connection_context():
        _structures(60)
    login_as("caisse.demo")
    first = client.get("/").get_data(as_text=True)
    assert len(_names(first)) == 25, " | ".join(_names(first))
    assert "63 structures" in first
    assert "Page 1 sur 3" in first
    third = client.get("/?page=3").get_data(as_text=True)
    assert len(_names(third)) == 13
    seen = set()
    for page in (1, 2, 3):
        seen |= set(_names(client.get(f"/?page={page}").get_data(as_text=True)))
    assert len(seen) == 63


def test_a_structure_is_found_by_its_name_whatever_the_accents(app, client, login_as):
    with app.app_context(), db.database.connection_context():
        _structures(30)
    login_as("caisse.demo")
    page = client.get("/?structure=epicerie hetres").get_data(as_text=True)
    assert _names(page) == ["Épicerie Solidaire des Hêtres"]


def test_the_structures_waiting_for_the_caisse_are_one_click_away(app, client, login_as):
    with app.app_context(), db.database.connection_context():
        _structures(30)
    login_as("caisse.demo")
    home = client.get("/").get_data(as_text=True)
    assert "1 structure attend une action de votre part" in home
    page = client.get("/?attente=1").get_data(as_text=True)
    assert _names(page) == ["Épicerie Solidaire des Hêtres"]


@pytest.fixture
def statements():
    count = [0]
    original = peewee.Database.execute_sql

    def counting(self, sql, params=None, *args, **kwargs):
        count[0] += 1
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = counting
    yield count
    peewee.Database.execute_sql = original


def test_the_dashboard_s_statements_do_not_grow_with_the_structures(
    app, client, login_as, statements
):
    login_as("caisse.demo")
    client.get("/")
    statements[0] = 0
    client.get("/")
    few = statements[0]
    with app.app_context(), db.database.connection_context():
        _structures(60)
    client.get("/")
    statements[0] = 0
    client.get("/")
    assert statements[0] <= few


def test_the_unread_counter_agrees_with_the_unread_filter(app):
    """The dashboard counts the unread open requests from the index (news less those read
    since); the queue's filter reads each request's marker: both must say the same."""
    from ep.models import Demande, DemandeRead

    with app.app_context(), db.database.connection_context():
        agent = account("caisse.demo")
        opened = list(
            Demande.select().where((Demande.caisse == agent.caisse_id) & Demande.still_open())
        )
        assert len(opened) >= 2
        with db.database.atomic():
            DemandeRead.delete().where(DemandeRead.account == agent).execute()
            for i, demande in enumerate(opened):
                Demande.update(last_partner_event=[None, 5, 5, 5][i % 4]).where(
                    Demande.id == demande.id
                ).execute()
                seen = [0, 0, 5, 9][i % 4]  # never read, read before, read at, read after
                if i % 4:
                    DemandeRead.create(account=agent, demande=demande, seen_event=seen)
        counted = Demande.queue_counts(agent)["unread"]
        listed = Demande.page_ids(agent, status="open", unread=True).count()
        assert counted == listed
        assert listed >= 1


def test_the_technicien_s_unread_counter_agrees_with_the_unread_filter(app):
    from ep.models import Demande, DemandeRead

    with app.app_context(), db.database.connection_context():
        tech = account("technicien.demo")
        theirs = list(Demande.select().where(Demande.partner == tech.partner_id))
        assert len(theirs) >= 2
        with db.database.atomic():
            DemandeRead.delete().where(DemandeRead.account == tech).execute()
            for i, demande in enumerate(theirs):
                Demande.update(last_caisse_event=[None, 5, 5, 5][i % 4]).where(
                    Demande.id == demande.id
                ).execute()
                if i % 4:
                    DemandeRead.create(
                        account=tech, demande=demande, seen_event=[0, 0, 5, 9][i % 4]
                    )
        counted = Demande.unread_by_technicien(tech)
        assert counted == Demande.page_ids(tech, unread=True).count()
        assert counted >= 1


def test_the_technicien_s_home_shows_the_ten_longest_waiting_and_links_to_all(
    app, client, login_as
):
    from ep.models import Demande

    with app.app_context(), db.database.connection_context():
        tech = account("technicien.demo")
        model = Demande.select().where(Demande.partner == tech.partner_id).first()
        with db.database.atomic():
            for i in range(14):
                Demande.create(
                    partner=model.partner_id,
                    caisse=model.caisse_id,
                    author=tech,
                    offer=model.offer_id,
                    motif=model.motif_id,
                    status="waiting_partner",
                    updated_at=datetime(2026, 1, 1 + i),
                )
        total = Demande.waiting_for_partner(tech.partner_id).count()
    login_as("technicien.demo")
    home = client.get("/").get_data(as_text=True)
    section = home[
        home.index('id="waiting-title"') : home.index(
            "</section>", home.index('id="waiting-title"')
        )
    ]
    assert f"({total})" in section
    assert section.count("Demande n°") == 10
    assert "01/01/2026" in section  # the longest waiting first
    assert f"Voir les {total} demandes en attente" in section


def test_a_request_page_s_statements_do_not_grow_with_its_exchanges(
    app, client, login_as, statements
):
    """Issue 11: a request page ran one query per message author and event actor."""
    from ep.models import Demande, DemandeEvent, Message

    login_as("technicien.demo")
    with app.app_context(), db.database.connection_context():
        tech = account("technicien.demo")
        demande = Demande.select().where(Demande.partner == tech.partner_id).first()
    client.get(f"/demandes/{demande.id}")
    statements[0] = 0
    client.get(f"/demandes/{demande.id}")
    few = statements[0]
    with app.app_context(), db.database.connection_context():
        agent = account("caisse.demo")
        with db.database.atomic():
            for i in range(10):
                author = agent if i % 2 else tech
                Message.create(demande=demande, author=author, body=f"Échange {i}")
                DemandeEvent.create(
                    demande=demande, actor=author, action="answered", status="in_progress"
                )
    client.get(f"/demandes/{demande.id}")
    statements[0] = 0
    page = client.get(f"/demandes/{demande.id}").get_data(as_text=True)
    assert "Échange 9" in page
    assert statements[0] <= few


def test_a_list_counts_and_pages_up_to_its_bound(app, client, login_as, monkeypatch):
    """Issue 11: the queue counted all of a caisse's closed requests at every page and
    skipped hundreds of thousands of rows to reach a deep page. Past the bound, the list
    says so and asks for filters; a page beyond it shows the last page."""
    from ep.blueprints import demandes as view

    monkeypatch.setattr(view, "LIST_BOUND", 3)
    login_as("technicien.demo")
    page = client.get("/demandes/?status=").get_data(as_text=True)
    assert "Plus de 3 demandes : les 3 premières sont affichées" in page
    assert "précisez les filtres" in page
    deep = client.get("/demandes/?status=&page=999").get_data(as_text=True)
    assert deep.count('href="/demandes/') >= 1
