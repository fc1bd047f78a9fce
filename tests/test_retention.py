"""Issue 14.1: a closed request keeps its personal data EP_RETENTION_CLOSED_DAYS (365) after
its closing, then loses it (gone from the database file, its WAL and the uploads folder) and
stays as an anonymous record; a request waiting for the structure's answer is closed after
EP_WAITING_PARTNER_CLOSE_DAYS (60), the structure told EP_WAITING_PARTNER_NOTICE_DAYS (15)
before, never without it."""

import os
import re
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ep import demandes, housekeeping, retention
from ep.db import database
from ep.models import (
    Attachment,
    AuditEvent,
    Caisse,
    Demande,
    DemandeEvent,
    DemandeRead,
    Message,
    Motif,
    Offer,
    Partner,
)

from .conftest import account, make_app, sqlite_only
from .test_demandes import rule_data, upload
from .test_housekeeping import EP
from .test_notices import start_smtp

# What the statistics count (issue 13): the purge keeps these as they were.
KEPT = [
    "partner_id",
    "caisse_id",
    "author_id",
    "offer_id",
    "motif_id",
    "status",
    "urgent",
    "target_hours",
    "taken_by_id",
    "created_at",
    "updated_at",
    "first_answer_at",
    "closed_at",
]
MARKERS = [b"Conservatoire", b"Ysolde", b"Palimpseste", b"Ostrakon", b"FICHIER-SECRET"]


def pdf_with(marker):
    """A well-formed one-page PDF (as the demo's) that carries `marker` in its page."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Marque(" + marker + b")>>",
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj%sendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return pdf


def run(app, today, **env):
    """`ep housekeeping --today` in its own process, as cron or the server would run it."""
    database.close()
    environment = {
        **os.environ,
        "EP_INSTANCE_PATH": app.instance_path,
        "EP_DATABASE_URL": app.config["EP_DATABASE_URL"],
        **{name: str(value) for name, value in env.items()},
    }
    result = subprocess.run(
        [EP, "housekeeping", "--today", today.isoformat()],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def count(out, label):
    return int(re.search(re.escape(label) + r" : (\d+)", out).group(1))


@pytest.fixture
def closed(app):
    """A request of the CCAS de Démo to the CPAM, with documents and exchanges, closed by the
    caisse today: the request, and its files' stored names."""
    with app.test_request_context():
        tech, agent = account("technicien.demo"), account("caisse.demo")
        d = demandes.submit(
            tech,
            rule_data(nom="Conservatoire", prenom="Ysolde", commentaire="Situation Palimpseste."),
            [upload(pdf_with(b"FICHIER-SECRET-1"), "Conservatoire-avis.pdf")],
        )
        demandes.take(agent, d)
        demandes.ask_more(agent, d, "Il manque l'avis Ostrakon.", [])
        demandes.reply(
            tech, d, "Voici l'avis Ostrakon.", [upload(pdf_with(b"FICHIER-SECRET-2"), "avis.pdf")]
        )
        demandes.close(agent, d, "Clôture Ostrakon : attestation envoyée.")
        demandes.mark_read(tech, Demande.get_by_id(d.id))
    stored = [a.stored_name for a in Attachment.select().where(Attachment.demande == d.id)]
    assert len(stored) == 2
    return Demande.get_by_id(d.id), stored


def kept(demande):
    return {name: getattr(demande, name) for name in KEPT}


def test_a_closed_request_loses_its_personal_data_a_year_after_its_closing(app, closed):
    d, stored = closed
    before = kept(d)
    day = d.closed_at.date()
    out = run(app, day + timedelta(days=365))
    assert count(out, "demandes purgées (durée de conservation)") == 0
    assert Demande.get_by_id(d.id).assure_nom == "Conservatoire"
    out = run(app, day + timedelta(days=366))
    assert count(out, "demandes purgées (durée de conservation)") >= 1
    gone = Demande.get_by_id(d.id)
    assert (gone.assure_nom, gone.assure_prenom, gone.assure_civilite) == ("", "", "")
    assert (gone.assure_date_naissance, gone.assure_departement, gone.assure_search) == (
        None,
        "",
        "",
    )
    assert gone.commentaire == "" and gone.purge_reason == "retention"
    assert gone.assure_label == "Données effacées (durée de conservation écoulée)"
    assert [m.body for m in Message.select().where(Message.demande == d.id)] == ["", "", ""]
    assert not Attachment.select().where(Attachment.demande == d.id).exists()
    assert not any((Path(app.instance_path) / "uploads" / name).exists() for name in stored)
    # The anonymous record stays, with everything the statistics count.
    assert kept(gone) == before
    assert DemandeEvent.select().where(DemandeEvent.demande == d.id).count() == 5
    assert DemandeRead.select().where(DemandeRead.demande == d.id).exists()  # unread counts
    # Each caisse's journal says how many of its requests were purged, and before when.
    [event] = AuditEvent.select().where(
        (AuditEvent.action == "demandes_purged") & (AuditEvent.caisse == d.caisse_id)
    )  # the demo's request closed by the CARSAT is in the CARSAT's
    limit = (day + timedelta(days=1)).strftime("%d/%m/%Y")
    assert event.detail.startswith("1 demande clôturée avant")
    assert limit in event.detail
    out = run(app, day + timedelta(days=367))
    assert count(out, "demandes purgées (durée de conservation)") == 0  # idempotent


def test_open_requests_and_requests_closed_within_the_year_keep_their_data(app, closed):
    d, _ = closed
    day = d.closed_at.date()
    with app.app_context():
        recent = demandes.submit(account("technicien.demo"), rule_data(nom="Récente"), [])
    Demande.update(closed_at=datetime.combine(day, datetime.min.time()) + timedelta(days=2)).where(
        Demande.id == d.id
    ).execute()
    run(app, day + timedelta(days=367))
    assert Demande.get_by_id(d.id).assure_nom == "Conservatoire"  # closed 365 days before
    assert Demande.get_by_id(recent.id).assure_nom == "Récente"  # never closed


@sqlite_only
def test_purged_data_leaves_the_database_file_its_wal_and_the_uploads_folder(app, closed):
    d, _ = closed
    instance = Path(app.instance_path)

    def raw():
        database.close()
        files = [p for p in instance.glob("ep.sqlite3*") if p.is_file()]
        files += [p for p in (instance / "uploads").iterdir() if p.is_file()]
        return b"".join(p.read_bytes() for p in files)

    assert all(marker in raw() for marker in MARKERS)  # the test would see them
    run(app, d.closed_at.date() + timedelta(days=366))
    left = raw()
    assert [marker for marker in MARKERS if marker in left] == []


def test_the_retention_period_is_a_setting_and_0_keeps_everything(app, closed):
    d, _ = closed
    day = d.closed_at.date()
    run(app, day + timedelta(days=400), EP_RETENTION_CLOSED_DAYS=0)
    assert Demande.get_by_id(d.id).purged_at is None
    run(app, day + timedelta(days=30), EP_RETENTION_CLOSED_DAYS=30)
    assert Demande.get_by_id(d.id).purged_at is None
    run(app, day + timedelta(days=31), EP_RETENTION_CLOSED_DAYS=30)
    assert Demande.get_by_id(d.id).purge_reason == "retention"


def test_the_page_of_a_purged_request_says_what_was_erased_and_when(app, client, login_as, closed):
    d, _ = closed
    run(app, d.closed_at.date() + timedelta(days=366))
    login_as("caisse.demo")
    page = client.get(f"/demandes/{d.id}").get_data(as_text=True)
    assert "Les données personnelles de cette demande" in page
    assert "durée de conservation écoulée" in page and "Conservatoire" not in page


def many_old_closed_requests(n):
    """`n` requests of the CCAS de Démo closed two years ago, each with a message."""
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    author = account("technicien.demo")
    caisse = Caisse.get(Caisse.name == "CPAM de Démo")
    offer = Offer.get(Offer.code == "document")
    motif = Motif.get((Motif.offer == offer) & (Motif.code == "attestation_droits"))
    long_ago = datetime.now().replace(microsecond=0) - timedelta(days=730)
    for start in range(0, n, 500):
        Demande.insert_many(
            [
                {
                    "partner": ccas.id,
                    "caisse": caisse.id,
                    "author": author.id,
                    "offer": offer.id,
                    "motif": motif.id,
                    "status": "closed",
                    "assure_nom": f"Ancienne{i}",
                    "assure_search": f"ancienne{i}",
                    "commentaire": "À effacer un an après la clôture.",
                    "created_at": long_ago - timedelta(days=3),
                    "closed_at": long_ago + timedelta(seconds=i),
                }
                for i in range(start, min(start + 500, n))
            ]
        ).execute()
    ids = [
        i
        for (i,) in Demande.select(Demande.id)
        .where(Demande.assure_nom.startswith("Ancienne"))
        .tuples()
    ]
    Message.insert_many(
        [{"demande": i, "author": author.id, "body": "Échange ancien."} for i in ids]
    ).execute()
    return ids


def test_the_first_night_purges_a_backlog_in_short_transactions(app):
    ids = many_old_closed_requests(1500)
    with app.app_context():
        counts = housekeeping.run(date.today())
        assert counts["failed"] == [] and counts["retention_purged"] == 1500
        assert counts["transactions"] >= 10 and counts["longest_hold"] < 0.5, counts
        assert (
            not Demande.select().where(Demande.id.in_(ids) & (Demande.commentaire != "")).exists()
        )
        assert not Message.select().where(Message.demande.in_(ids) & (Message.body != "")).exists()
        [event] = AuditEvent.select().where(AuditEvent.action == "demandes_purged")
        assert event.detail.startswith("1500 demandes clôturées avant le")
        assert housekeeping.run(date.today())["retention_purged"] == 0  # the next night


# Requests waiting for the structure's answer (issue 14.1).


def waiting(app, nom="Attente"):
    """A request the CPAM asked more about today: it waits for the CCAS de Démo."""
    with app.test_request_context():
        tech, agent = account("technicien.demo"), account("caisse.demo")
        d = demandes.submit(tech, rule_data(nom=nom), [])
        demandes.take(agent, d)
        demandes.ask_more(agent, d, "Merci de joindre l'avis d'imposition.", [])
    return Demande.get_by_id(d.id)


def days_since(demande, days):
    """Move the request's last change `days` back (as if the caisse had asked then)."""
    Demande.update(updated_at=demande.updated_at - timedelta(days=days)).where(
        Demande.id == demande.id
    ).execute()
    return Demande.get_by_id(demande.id)


def received(inbox):
    """(recipients, subject, text) of each e-mail the SMTP server received."""
    import email
    from email import policy

    mails = []
    for rcpt, content in inbox.messages:
        message = email.message_from_string(content, policy=policy.default)
        mails.append((rcpt, message["Subject"], message.get_body(("plain",)).get_content()))
    return mails


def closing_mails(mails, demande):
    """The e-mails about closing the request (not those of the caisse's messages)."""
    return [m for m in mails if m[1].startswith(f"Demande n° {demande.reference} : clôt")]


def test_a_request_left_unanswered_is_announced_then_closed(app, client, login_as):
    from .conftest import free_port

    d = waiting(app)
    port = free_port()
    controller, inbox = start_smtp(port)
    mail = {"EP_MAIL_URL": f"smtp://127.0.0.1:{port}"}
    try:
        asked = d.updated_at.date()
        run(app, asked + timedelta(days=45), **mail)
        assert Demande.get_by_id(d.id).close_warned_at is None
        out = run(app, asked + timedelta(days=46), **mail)
        assert count(out, "demandes sans réponse prévenues") >= 1
        on = (asked + timedelta(days=61)).strftime("%d/%m/%Y")
        [(rcpt, subject, text)] = closing_mails(received(inbox), d)
        assert rcpt == ["technicien.demo@example.org"]
        assert subject == f"Demande n° {d.reference} : clôture automatique le {on} sans réponse"
        assert on in text and f"/demandes/{d.id}" in text
        assert "Attente" not in text and "Zoé" not in text  # never the assuré
        login_as("technicien.demo")
        page = client.get(f"/demandes/{d.id}").get_data(as_text=True)
        assert (
            f"Sans réponse de votre part, cette demande sera clôturée automatiquement le {on}"
            in page
        )
        assert "Structure prévenue de la clôture automatique" in page  # its history
        run(app, asked + timedelta(days=60), **mail)
        assert Demande.get_by_id(d.id).status == "waiting_partner"
        out = run(app, asked + timedelta(days=61), **mail)
        assert re.search(r"demandes sans réponse prévenues : \d+, clôturées : [1-9]", out), out
    finally:
        controller.stop()
    gone = Demande.get_by_id(d.id)
    assert gone.status == "closed" and gone.closed_at.date() == asked + timedelta(days=61)
    assert gone.assure_nom == "Attente"  # closed, not purged: that comes a year later
    last = (
        DemandeEvent.select()
        .where(DemandeEvent.demande == d.id)
        .order_by(DemandeEvent.id.desc())
        .first()
    )
    assert (last.action, last.status, last.actor_id) == ("auto_closed", "closed", None)
    assert gone.last_caisse_event == last.id  # news for the structure
    assert (
        AuditEvent.select()
        .where((AuditEvent.action == "demande_auto_closed") & (AuditEvent.demande_id == d.id))
        .exists()
    )
    mails = closing_mails(received(inbox), d)
    assert [subject for _, subject, _ in mails] == [
        f"Demande n° {d.reference} : clôture automatique le {on} sans réponse",
        f"Demande n° {d.reference} : clôturée sans réponse",
    ]
    assert f"clôturée automatiquement le {on}" in mails[1][2]


def test_an_answer_stops_the_clock_and_a_new_request_for_more_needs_its_own_notice(app):
    d = waiting(app)
    asked = d.updated_at.date()
    run(app, asked + timedelta(days=46))
    assert Demande.get_by_id(d.id).close_warned_at is not None
    with app.test_request_context():
        demandes.reply(account("technicien.demo"), Demande.get_by_id(d.id), "Le voici.", [])
        assert Demande.get_by_id(d.id).close_warned_at is None
        run(app, asked + timedelta(days=61))
        assert Demande.get_by_id(d.id).status == "in_progress"
        demandes.ask_more(account("caisse.demo"), Demande.get_by_id(d.id), "Et le RIB ?", [])
    run(app, asked + timedelta(days=61))  # 61 days after the first request for more only
    assert Demande.get_by_id(d.id).status == "waiting_partner"
    assert Demande.get_by_id(d.id).close_warned_at is not None  # told afresh
    run(app, asked + timedelta(days=75))
    assert Demande.get_by_id(d.id).status == "waiting_partner"
    run(app, asked + timedelta(days=76))
    assert Demande.get_by_id(d.id).status == "closed"


def test_no_request_is_closed_without_the_notice_first(app, client, login_as):
    """Nightly rules that did not run for a while (or a setting shortened): the notice goes
    first, and the closing only comes the notice's days after it."""
    d = days_since(waiting(app), 100)
    today = date.today()
    login_as("caisse.demo")
    page = client.get(f"/demandes/{d.id}").get_data(as_text=True)
    on = (today + timedelta(days=15)).strftime("%d/%m/%Y")
    assert (
        f"Sans réponse du partenaire, cette demande sera clôturée automatiquement le {on}" in page
    )
    run(app, today)
    assert Demande.get_by_id(d.id).status == "waiting_partner"
    run(app, today + timedelta(days=14))
    assert Demande.get_by_id(d.id).status == "waiting_partner"
    run(app, today + timedelta(days=15))
    assert Demande.get_by_id(d.id).status == "closed"


def test_a_request_whose_author_left_is_announced_to_the_structure_s_gestionnaires(app, outbox):
    from ep import accounts

    d = days_since(waiting(app), 50)
    with app.test_request_context():
        accounts.deactivate(account("gestionnaire.demo"), account("technicien.demo"), "Départ")
    run(app, date.today())
    told = [m for m in outbox() if m["Subject"].startswith(f"Demande n° {d.reference} : clôt")]
    assert [m["To"] for m in told] == ["gestionnaire.demo@example.org"]
    body = told[0].get_body(("plain",)).get_content()
    assert "Un technicien de votre structure peut y répondre" in body
    assert "/demandes/" not in body  # a gestionnaire reads no request


def test_the_closing_delays_are_settings_and_0_turns_the_rule_off(app):
    d = days_since(waiting(app), 25)
    run(app, date.today(), EP_WAITING_PARTNER_CLOSE_DAYS=0)
    assert Demande.get_by_id(d.id).close_warned_at is None
    settings = {"EP_WAITING_PARTNER_CLOSE_DAYS": 30, "EP_WAITING_PARTNER_NOTICE_DAYS": 7}
    run(app, date.today(), **settings)
    assert Demande.get_by_id(d.id).close_warned_at is not None
    run(app, date.today() + timedelta(days=6), **settings)
    assert Demande.get_by_id(d.id).status == "waiting_partner"
    run(app, date.today() + timedelta(days=7), **settings)
    assert Demande.get_by_id(d.id).status == "closed"


def test_closing_day_is_what_the_rules_do(app):
    """The date the page shows is the first night that closes the request."""
    with app.app_context():
        d = days_since(waiting(app), 10)
        on = retention.closing_day(d)
        assert on == d.updated_at.date() + timedelta(days=61)
    run(app, on - timedelta(days=15))  # the notice
    run(app, on - timedelta(days=1))
    assert Demande.get_by_id(d.id).status == "waiting_partner"
    run(app, on)
    assert Demande.get_by_id(d.id).status == "closed"


def test_the_demo_s_request_waiting_for_the_structure_shows_its_closing_day(client, login_as):
    login_as("technicien.demo")
    d = Demande.get(Demande.assure_nom == "Fictive")
    on = retention.closing_day(d).strftime("%d/%m/%Y")
    page = client.get(f"/demandes/{d.id}").get_data(as_text=True)
    assert f"sera clôturée automatiquement le {on}" in page
    home = client.get("/").get_data(as_text=True)  # the technicien's home lists it too
    assert f"Demande n° {d.reference}" in home and f"clôturée sans réponse le {on}" in home


def test_a_fresh_app_turns_the_rules_on_by_default(tmp_path):
    app = make_app(tmp_path)
    assert app.config["EP_RETENTION_CLOSED_DAYS"] == 365
    assert app.config["EP_WAITING_PARTNER_CLOSE_DAYS"] == 60
    assert app.config["EP_WAITING_PARTNER_NOTICE_DAYS"] == 15
    assert app.config["EP_JOURNAL_RETENTION_DAYS"] == 365
    database.close()


def test_the_personal_data_page_says_the_periods_the_rules_apply(client):
    """The public page on personal data (issue 15) reads the same settings as the rules."""
    page = client.get("/donnees-personnelles").get_data(as_text=True)
    assert "effacées 365 jours après la clôture de la demande" in page
    assert "Une demande restée 60 jours sans réponse" in page and "15 jours avant" in page
    assert "les traces de consultation" in page and "effacées après 365 jours" in page
