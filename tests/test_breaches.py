"""Breach reports (issue 14.3): a gestionnaire reports a suspected breach; the journal's
facts on the accounts concerned are added; each caisse's DPO (or its fallback) is e-mailed
through the notification layer, over a real SMTP server; the 24-hour clock is shown; both
sides read the reports in their scope."""

from datetime import datetime, timedelta
from html import unescape

import pytest

from ep import audit, breaches, notices
from ep.models import (
    AuditEvent,
    Breach,
    BreachAccount,
    BreachCaisse,
    Caisse,
    Contact,
    Demande,
    Notice,
    Partner,
)
from ep.rules import RuleError

from .conftest import account, free_port
from .test_notices import start_smtp


def caisse(name):
    return Caisse.get(Caisse.name == name)


def fields(**given):
    values = {
        "description": "Le poste d'accueil a été volé pendant la nuit.",
        "measures": "",
        "noticed_at": datetime.now().replace(microsecond=0) - timedelta(hours=2),
        "happened_at": None,
        "accounts": [account("technicien.demo").id],
        "caisses": [caisse("CPAM de Démo").id],
    }
    values.update(given)
    return values


def read(response):
    return unescape(response.get_data(as_text=True))


def a_read_by(username, demande):
    """The technicien opened the request and logged in: what the facts must report."""
    tech = account(username)
    audit.record("login", actor=tech, account=tech)
    audit.record("demande_viewed", actor=tech, detail=f"demande {demande.id:06d}")


@pytest.mark.parametrize(
    "left, label, overdue",
    [
        (timedelta(hours=5, minutes=20), "il reste 5 h", False),
        (timedelta(minutes=40), "il reste 40 min", False),
        (timedelta(seconds=20), "il reste 1 min", False),
        (-timedelta(minutes=1), "délai dépassé", True),
    ],
)
def test_the_clock_counts_24_hours_from_the_discovery(left, label, overdue):
    at = datetime(2026, 11, 25, 14, 0)
    noticed = at + left - timedelta(hours=24)
    clock = breaches.clock(noticed, at)
    assert clock.deadline == noticed + timedelta(hours=24)
    assert (clock.label, clock.overdue) == (label, overdue)


def test_a_report_keeps_the_journal_s_facts_and_is_queued_to_the_dpo(ctx):
    demande = Demande.select().where(Demande.partner == account("technicien.demo").partner_id)
    demande = demande.get()
    a_read_by("technicien.demo", demande)
    Notice.delete().execute()
    breach = breaches.report(account("gestionnaire.demo"), fields())
    facts = BreachAccount.get(BreachAccount.breach == breach.id).facts
    assert f"demande {demande.id:06d}" in facts and "1 connexion," in facts
    assert demande.assure_nom not in facts  # request numbers only, never an assuré
    assert "Théo" not in facts  # the account is named from its row (its deletion erases it)
    link = BreachCaisse.get(BreachCaisse.breach == breach.id)
    assert (link.sent_to, link.recipients) == ("dpo", "dpo.cpam@example.org")
    sent = {n.recipient: n for n in Notice.select()}
    assert set(sent) == {"dpo.cpam@example.org", "dpo.ccas@example.org"}  # and the copy
    assert all(demande.assure_nom not in n.context for n in sent.values())
    event = AuditEvent.select().where(AuditEvent.action == "breach_reported")
    event = event.order_by(AuditEvent.id.desc()).get()
    assert event.detail == f"signalement {breach.reference} à CPAM de Démo"
    assert event.partner_id == breach.partner_id


def test_a_caisse_without_dpo_gets_it_through_its_referents_then_its_agents(ctx):
    cpam = caisse("CPAM de Démo")
    Contact.delete().where((Contact.caisse == cpam) & (Contact.role == "dpo")).execute()
    assert breaches.recipients(cpam.id).kind == "referent"
    breach = breaches.report(account("gestionnaire.demo"), fields())
    link = BreachCaisse.get(BreachCaisse.breach == breach.id)
    assert (link.sent_to, link.recipients) == ("referent", "partenaires@example.org")
    Contact.delete().where(Contact.caisse == cpam).execute()
    sent = breaches.recipients(cpam.id)
    assert (sent.kind, sent.emails) == ("agents", ["caisse.demo@example.org"])
    Contact.create(caisse=cpam, role="dpo", name="DPO", phone="+33199000099")
    sent = breaches.recipients(cpam.id)
    assert (sent.kind, sent.phones) == ("agents", ["+33199000099"])


@pytest.mark.parametrize(
    "given, field",
    [
        ({"description": "  "}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"noticed_at": None}, "noticed_on"),
        ({"noticed_at": datetime.now() + timedelta(hours=1)}, "noticed_on"),
        ({"happened_at": datetime.now() - timedelta(minutes=1)}, "happened_on"),  # after noticed
        ({"caisses": []}, "caisses"),
        ({"caisses": ["x"]}, "caisses"),
        ({"accounts": ["technicien.voisin"]}, "accounts"),
    ],
)
def test_a_report_is_refused_by_the_field(ctx, given, field):
    with pytest.raises(RuleError) as refused:
        breaches.report(account("gestionnaire.demo"), fields(**given))
    assert field in {name for name, _ in refused.value.errors}
    assert Breach.select().count() == 1  # the demo's only


def test_nothing_out_of_the_structure_s_scope(ctx):
    """Another structure's account, a caisse the structure has no convention with."""
    voisin = account("gestionnaire.voisin")
    for given in (
        {"accounts": [account("technicien.demo").id], "caisses": [caisse("CPAM de Démo").id]},
        {"accounts": [], "caisses": [caisse("CARSAT de Démo").id]},
    ):
        with pytest.raises(RuleError):
            breaches.report(voisin, fields(**given))


def test_the_report_reaches_the_dpo_through_a_real_smtp_server(app, client, login_as):
    controller, inbox = start_smtp(free_port())
    try:
        app.config["EP_MAIL_URL"] = f"smtp://127.0.0.1:{controller.port}"
        with app.app_context():
            tech = account("technicien.demo")
            demande = Demande.select().where(Demande.partner == tech.partner_id).get()
            a_read_by("technicien.demo", demande)
            notices.flush()
        inbox.messages.clear()
        login_as("gestionnaire.demo")
        page = read(client.get("/violations/nouveau"))
        assert "Envoyé à son DPO : dpo.cpam@example.org" in page
        noticed = datetime.now() - timedelta(hours=3)
        response = client.post(
            "/violations/nouveau",
            data={
                "noticed_on": noticed.date().isoformat(),
                "noticed_time": noticed.strftime("%H:%M"),
                "description": "Identifiants du technicien envoyés par erreur à un tiers.",
                "accounts": [str(tech.id)],
                "caisses": [str(caisse("CPAM de Démo").id)],
            },
        )
        assert response.status_code == 303
        with app.app_context():
            notices.flush()
            breach = Breach.select().order_by(Breach.id.desc()).get()
        by_recipient = {tuple(to): body for to, body in inbox.messages}
        assert set(by_recipient) == {("dpo.cpam@example.org",), ("dpo.ccas@example.org",)}
        body = by_recipient[("dpo.cpam@example.org",)]
        assert f"signalement n=C2=B0 {breach.reference}" in body or breach.reference in body
        assert f"demande {demande.id:06d}" in body
        assert demande.assure_nom not in body and demande.assure_prenom not in body
    finally:
        controller.stop()


def test_the_form_warns_when_a_caisse_has_no_dpo(app, client, login_as):
    with app.app_context():
        cpam = caisse("CPAM de Démo")
        Contact.delete().where((Contact.caisse == cpam) & (Contact.role == "dpo")).execute()
    login_as("gestionnaire.demo")
    page = read(client.get("/violations/nouveau"))
    assert "Cette caisse n'a indiqué aucun DPO joignable par e-mail." in page
    assert "partenaires@example.org" in page


def test_the_form_previews_the_clock_and_facts_as_an_htmx_fragment(app, client, login_as):
    tech = login_as("technicien.demo")
    login_as("gestionnaire.demo")
    noticed = datetime.now() - timedelta(hours=30)
    query = {
        "noticed_on": noticed.date().isoformat(),
        "noticed_time": noticed.strftime("%H:%M"),
        "accounts": str(tech.id),
    }
    fragment = client.get("/violations/nouveau", query_string=query, headers={"HX-Request": "true"})
    text = read(fragment)
    assert "<html" not in text and 'id="breach_facts"' in text
    assert "délai dépassé" in text and "Compte technicien.demo" in text
    whole = read(client.get("/violations/nouveau", query_string=query))
    assert "<html" in whole and "délai dépassé" in whole


def test_a_form_with_errors_comes_back_by_the_fields(app, client, login_as):
    login_as("gestionnaire.demo")
    response = client.post("/violations/nouveau", data={"noticed_on": "2026-02-30"})
    page = read(response)
    assert response.status_code == 200
    assert 'id="noticed_on-error"' in page and "Choisissez au moins une caisse" in page
    assert "Décrivez ce qui s'est passé." in page


def test_lists_and_pages_in_each_side_s_scope(app, client, login_as):
    with app.app_context():
        demo_breach = Breach.get()
        voisin = Partner.get(Partner.name == "CCAS Voisin")
    login_as("gestionnaire.demo")
    listed = read(client.get("/violations/"))
    assert f"Signalement n° {demo_breach.reference}" in listed and "dans le délai" in listed
    page = read(client.get(f"/violations/{demo_breach.id}"))
    assert "À signaler avant le" in page and "dpo.cpam@example.org" in page
    login_as("caisse.demo")
    assert f"Signalement n° {demo_breach.reference}" in read(client.get("/violations/"))
    assert client.get(f"/violations/{demo_breach.id}").status_code == 200
    for other in ("carsat.demo", "gestionnaire.voisin"):
        login_as(other)
        assert client.get(f"/violations/{demo_breach.id}").status_code == 404
        assert f"n° {demo_breach.reference}" not in read(client.get("/violations/"))
    login_as("caisse.demo")
    assert client.get("/violations/nouveau").status_code == 403  # can_report_breach
    login_as("technicien.demo")
    assert client.get("/violations/").status_code == 403
    assert voisin.id  # the other structure exists: its users simply see nothing of ours
