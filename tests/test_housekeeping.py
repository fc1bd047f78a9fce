"""Dated rules, driven through `ep housekeeping --today` as an operator or cron would."""

import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ep import accounts
from ep.db import database
from ep.models import Account, Convention, Partner

from .conftest import account, free_port, on_postgresql, sqlite_only

EP = str(Path(sys.executable).with_name("ep"))


def housekeeping(app, today):
    database.close()
    env = {
        **os.environ,
        "EP_INSTANCE_PATH": app.instance_path,
        "EP_DATABASE_URL": app.config["EP_DATABASE_URL"],
    }
    result = subprocess.run(
        [EP, "housekeeping", "--today", today.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def set_used(username, when):
    Account.update(last_login_at=when, created_at=when).where(
        Account.username == username
    ).execute()


def test_technicien_unused_for_3_months_is_inactivated_gestionnaire_is_not(app):
    today = date(2027, 3, 1)
    set_used("technicien.demo", datetime(2026, 11, 30))  # 91 days before
    set_used("technicien.voisin", datetime(2026, 12, 2))  # 89 days before
    set_used("gestionnaire.demo", datetime(2026, 1, 1))
    out = housekeeping(app, today)
    assert "Inactivés (inutilisés) : 1" in out
    assert account("technicien.demo").state == "inactive"
    assert account("technicien.voisin").state == "active"
    assert account("gestionnaire.demo").state == "active"
    assert "Inactivés (inutilisés) : 0" in housekeeping(app, today)  # idempotent


def test_reactivation_restarts_the_idle_clock(app):
    set_used("technicien.demo", datetime(2026, 1, 1))
    housekeeping(app, date(2026, 11, 25))
    with app.test_request_context():
        accounts.reactivate(account("gestionnaire.demo"), account("technicien.demo"))
    housekeeping(app, date.today() + timedelta(days=1))
    assert account("technicien.demo").state == "active"


def test_inactive_accounts_are_deleted_after_6_months_personal_data_erased(app):
    with app.test_request_context():
        accounts.deactivate(account("gestionnaire.demo"), account("technicien.demo"), "Départ")
    tech_id = account("technicien.demo").id
    inactivated = Account.get_by_id(tech_id).inactivated_at.date()
    housekeeping(app, inactivated + timedelta(days=182))
    assert Account.get_by_id(tech_id).state == "inactive"
    housekeeping(app, inactivated + timedelta(days=184))
    gone = Account.get_by_id(tech_id)
    assert (
        gone.state == "deleted"
        and gone.nom == ""
        and gone.email == ""
        and gone.password_hash is None
    )
    assert gone.display_name == "Ancien utilisateur"
    assert not Account.visible().where(Account.id == tech_id).exists()
    database.close()
    raw = b"".join(
        p.read_bytes() for p in Path(app.instance_path).glob("ep.sqlite3*") if p.is_file()
    )
    assert "Théo".encode() not in raw and b"technicien.demo@example.org" not in raw


def test_scheduled_inactivation_happens_on_its_date_techniciens_stay(app):
    with app.test_request_context():
        caisse = account("caisse.demo")
        ccas = Partner.get(Partner.name == "CCAS de Démo")
        second = accounts.create_partner_account(
            caisse,
            ccas,
            "gestionnaire",
            {
                "civilite": "M.",
                "nom": "Relais",
                "prenom": "Paul",
                "fonction": "Adjoint",
                "telephone": "0102030405",
                "email": "relais@example.org",
            },
        )
        Account.update(state="active").where(Account.id == second.id).execute()
        on = date.today() + timedelta(days=15)
        accounts.schedule_inactivation(caisse, account("gestionnaire.demo"), on, date.today())
    housekeeping(app, on - timedelta(days=1))
    assert account("gestionnaire.demo").state == "active"
    housekeeping(app, on)
    assert account("gestionnaire.demo").state == "inactive"
    assert account("technicien.demo").state == "active"  # created by them, stays


def test_end_of_the_only_convention_inactivates_every_account(app):
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    Convention.update(ends_on=date(2027, 1, 1)).where(Convention.partner == voisin).execute()
    housekeeping(app, date(2026, 12, 31))
    assert account("technicien.voisin").state == "active"
    housekeeping(app, date(2027, 1, 1))
    assert account("technicien.voisin").state == "inactive"
    assert account("gestionnaire.voisin").state == "inactive"


def test_end_of_one_convention_of_two_keeps_the_accounts(app):
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    carsat = (
        Convention.select()
        .join_from(Convention, Partner)
        .where(Convention.partner == ccas)
        .order_by(Convention.id.desc())
        .first()
    )
    Convention.update(ends_on=date(2027, 1, 1)).where(Convention.id == carsat.id).execute()
    housekeeping(app, date(2027, 1, 2))
    assert account("technicien.demo").state == "active"


def test_a_convention_still_pending_keeps_no_account_alive(app):
    """End of convention (DOMAIN.md): "if the partner keeps no other active convention, all
    its accounts are inactivated". A convention the structure has not accepted is not one."""
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    cpam = Convention.get(Convention.partner == voisin)
    Convention.create(
        partner=voisin,
        caisse=Convention.select().where(Convention.caisse != cpam.caisse_id).first().caisse,
        signed_on=date(2026, 1, 1),
        starts_on=date(2026, 1, 1),
        state="pending",
    )
    Convention.update(ends_on=date(2027, 1, 1)).where(Convention.id == cpam.id).execute()
    housekeeping(app, date(2027, 1, 2))
    assert account("technicien.voisin").state == "inactive"
    assert account("gestionnaire.voisin").state == "inactive"


def test_serve_applies_the_rules_by_itself(app):
    """A CCAS without cron: `ep serve` runs housekeeping at start (then daily)."""
    set_used("technicien.demo", datetime.now() - timedelta(days=120))
    database.close()
    port = free_port()
    env = {
        **os.environ,
        "EP_INSTANCE_PATH": app.instance_path,
        "EP_DATABASE_URL": app.config["EP_DATABASE_URL"],
    }
    server = subprocess.Popen(
        [EP, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            except OSError:
                time.sleep(0.1)
                continue
            if account("technicien.demo").state == "inactive":
                break
            database.close()
            time.sleep(0.1)
        assert account("technicien.demo").state == "inactive"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_end_of_convention_destroys_the_personal_data_of_its_requests(app):
    from ep.models import Attachment, Demande, Message

    d = Demande.get(Demande.assure_nom == "Exemplaire")  # CCAS Voisin -> CPAM, with a file
    stored = [a.stored_name for a in d.attachments]
    assert stored
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    Convention.update(ends_on=date(2027, 1, 1)).where(Convention.partner == voisin).execute()
    out = housekeeping(app, date(2027, 1, 1))
    assert "demandes purgées (fin de convention) : 2" in out
    gone = Demande.get_by_id(d.id)
    assert gone.assure_nom == "" and gone.commentaire == "" and gone.assure_date_naissance is None
    assert gone.assure_label == "Données effacées (fin de convention)"
    assert not Attachment.select().where(Attachment.demande == d.id).exists()
    assert not any((Path(app.instance_path) / "uploads" / s).exists() for s in stored)
    assert all(m.body == "" for m in Message.select().where(Message.demande == d.id))
    # Requests of the other partner are untouched.
    assert Demande.get(Demande.assure_nom == "Fictive").commentaire
    database.close()
    raw = b"".join(p.read_bytes() for p in Path(app.instance_path).glob("ep.sqlite3*"))
    assert b"Exemplaire" not in raw


def test_a_mail_outage_does_not_stop_the_dated_rules(app):
    from ep.models import Review

    from .conftest import free_port

    with app.test_request_context():
        accounts.deactivate(account("gestionnaire.demo"), account("technicien.demo"), "Départ")
    tech_id = account("technicien.demo").id
    convention = Convention.get(Convention.partner == Partner.get(Partner.name == "CCAS Voisin"))
    Convention.update(review_every_months=1).where(Convention.id == convention.id).execute()
    database.close()
    env = {
        **os.environ,
        "EP_INSTANCE_PATH": app.instance_path,
        "EP_DATABASE_URL": app.config["EP_DATABASE_URL"],
        "EP_MAIL_URL": f"smtp://127.0.0.1:{free_port()}",
    }
    today = date.today() + timedelta(days=200)
    result = subprocess.run(
        [EP, "housekeeping", "--today", today.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert Account.get_by_id(tech_id).state == "deleted"
    assert Review.select().count() == 1  # the periodic review opened, its e-mail failed


# Issue 10.4: nobody is inactivated for idleness without being told, before and after.


def body(message):
    return message.get_body(("plain",)).get_content()


def idle_mails(outbox):
    """The e-mails of the idle rule: the demo's open yearly evaluation is reminded too."""
    return about_accounts(outbox())


def about_accounts(messages):
    """The e-mails about accounts: by these dates the demo's request waiting for its
    structure is announced to be closed too (issue 14.1), and its open yearly evaluation
    reminded (issue 13.4), which are not these tests' matter."""
    skip = ("Demande n°", "Évaluation", "Rappel : év")
    return [m for m in messages if not m["Subject"].startswith(skip)]


def test_a_technicien_is_warned_15_days_before_the_idle_inactivation_once(app, outbox):
    today = date(2027, 3, 1)
    set_used("technicien.demo", datetime(2026, 12, 15, 10, 0))  # 76 days: warned
    set_used("technicien.voisin", datetime(2026, 12, 17, 10, 0))  # 74 days: not yet
    out = housekeeping(app, today)
    assert "prévenus avant inactivation : 1" in out
    [warning] = idle_mails(outbox)
    [warning] = about_accounts(outbox())
    assert warning["To"] == "technicien.demo@example.org"
    text = body(warning)
    assert "technicien.demo" in text and "16/03/2027" in text  # 90 days after the last use
    assert "/login" in text
    assert account("technicien.demo").idle_warned_at is not None
    housekeeping(app, today + timedelta(days=1))
    assert len(idle_mails(outbox)) == 1  # once per idle period
    assert len(about_accounts(outbox())) == 1  # once per idle period
    assert account("technicien.demo").state == "active"


def test_a_login_starts_a_new_idle_period_with_its_own_warning(app, outbox):
    from ep import login

    set_used("technicien.demo", datetime(2026, 12, 15, 10, 0))
    set_used("technicien.voisin", datetime(2027, 5, 19))  # in use all along
    housekeeping(app, date(2027, 3, 1))
    assert len(idle_mails(outbox)) == 1
    assert len(about_accounts(outbox())) == 1
    with app.test_request_context():
        login.authenticate("technicien.demo", "mot de passe de test 2026", "10.0.0.1")
    assert account("technicien.demo").idle_warned_at is None
    Account.update(last_login_at=datetime(2027, 3, 2, 9, 0)).where(
        Account.username == "technicien.demo"
    ).execute()
    housekeeping(app, date(2027, 5, 20))  # 78 days after that login
    assert [m["To"] for m in idle_mails(outbox)] == ["technicien.demo@example.org"] * 2
    assert [m["To"] for m in about_accounts(outbox())] == ["technicien.demo@example.org"] * 2


def test_the_idle_inactivation_is_told_to_the_technicien_and_the_gestionnaires(app, outbox):
    set_used("technicien.demo", datetime(2026, 11, 30))
    set_used("technicien.voisin", datetime(2027, 3, 1))
    housekeeping(app, date(2027, 3, 1))
    assert account("technicien.demo").state == "inactive"
    mails = {m["To"]: body(m) for m in idle_mails(outbox)}
    mails = {m["To"]: body(m) for m in about_accounts(outbox())}
    assert sorted(mails) == ["gestionnaire.demo@example.org", "technicien.demo@example.org"]
    assert "inutilisé depuis 90 jours" in mails["technicien.demo@example.org"]
    assert "gestionnaire" in mails["technicien.demo@example.org"]
    gestionnaire = mails["gestionnaire.demo@example.org"]
    assert "technicien.demo" in gestionnaire and "Théo Exemple" in gestionnaire
    assert f"/accounts/{account('technicien.demo').id}" in gestionnaire
    housekeeping(app, date(2027, 3, 2))
    assert len(idle_mails(outbox)) == 2  # idempotent
    assert len(about_accounts(outbox())) == 2  # idempotent


@pytest.mark.skipif(not on_postgresql(), reason="SQLite's IMMEDIATE transactions take turns")
def test_two_runs_at_once_act_once(app):
    """Two processes applying the rules at the same moment (two servers' nightly threads, or
    one and `ep housekeeping`): on PostgreSQL both read the same idle accounts before either
    commits, and each account was inactivated, journalled and told twice. Made certain here:
    an outside session holds one of the accounts until both runs wait."""
    import psycopg2

    from ep import housekeeping
    from ep.models import AuditEvent, Notice

    from .conftest import TEST_DATABASE_URL
    from .test_multi import waiting_sessions

    today = date.today() + timedelta(days=200)  # every technicien is idle by then
    idle = [a.id for a in housekeeping.idle_techniciens(today)]
    assert len(idle) >= 2
    database.close()
    holder = psycopg2.connect(TEST_DATABASE_URL)
    cur = holder.cursor()
    cur.execute("SELECT id FROM account WHERE id = %s FOR UPDATE", (max(idle),))

    def run():
        with app.app_context():
            try:
                housekeeping.run(today)
            finally:
                database.close()

    runs = [threading.Thread(target=run) for _ in range(2)]
    try:
        for t in runs:
            t.start()
        waiting_sessions(cur, 2)
    finally:
        holder.rollback()
        holder.close()
    for t in runs:
        t.join(60)
    deactivated = [
        e.account_id for e in AuditEvent.select().where(AuditEvent.action == "auto_deactivated")
    ]
    assert sorted(deactivated) == sorted(idle)
    told = [n.recipient for n in Notice.select().where(Notice.template == "idle_deactivated")]
    assert len(told) == len(set(told)) == len(idle)


def test_the_nightly_rules_run_once_a_day_whatever_the_number_of_servers(app):
    """Each `ep serve` asks for the night's rules (at start, then every night): the first to
    ask runs them and records the day; the others find it done (issue 11.6)."""
    from ep import housekeeping
    from ep.models import NightlyRun

    today = date.today()
    counts, night = housekeeping.nightly("serveur-a:1", today)
    assert counts is not None and counts["failed"] == [] and night is None
    counts, night = housekeeping.nightly("serveur-b:2", today)
    assert counts is None and night.runner == "serveur-a:1" and night.finished_at is not None
    counts, _ = housekeeping.nightly("serveur-b:2", today + timedelta(days=1))
    assert counts is not None
    assert [(n.day, n.runner) for n in NightlyRun.select().order_by(NightlyRun.day)] == [
        (today, "serveur-a:1"),
        (today + timedelta(days=1), "serveur-b:2"),
    ]


def test_a_night_left_unfinished_is_taken_over_when_its_lease_ends(app):
    """A process that dies in the middle of the night's rules does not keep them from running:
    another takes the day once the lease has run out, not before."""
    from ep import housekeeping

    today, at = date.today(), datetime.now().replace(microsecond=0)
    assert housekeeping._take_night(today, "mort:1", at) == (True, None)  # then it died
    counts, night = housekeeping.nightly("vivant:2", today, at=at + timedelta(minutes=30))
    assert counts is None and night.runner == "mort:1" and night.finished_at is None
    later = at + housekeeping.LEASE + timedelta(seconds=1)
    counts, night = housekeeping.nightly("vivant:2", today, at=later)
    assert counts is not None and night is None


def test_servers_asking_for_the_night_at_once_run_it_once(app):
    """Several processes ask at the same moment: one runs the rules, the others do not."""
    from ep import housekeeping

    database.close()
    results = []

    def ask(name):
        with app.app_context():
            try:
                results.append(housekeeping.nightly(name)[0] is not None)
            finally:
                database.close()

    if on_postgresql():  # made certain: every one of them waits on the day's lock
        import psycopg2

        from .conftest import TEST_DATABASE_URL
        from .test_multi import waiting_sessions

        holder = psycopg2.connect(TEST_DATABASE_URL)
        cur = holder.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('ep.nightly'))")
    askers = [threading.Thread(target=ask, args=(f"serveur:{i}",)) for i in range(3)]
    try:
        for t in askers:
            t.start()
        if on_postgresql():
            waiting_sessions(cur, 3)
    finally:
        if on_postgresql():
            holder.rollback()
            holder.close()
    for t in askers:
        t.join(60)
    assert sorted(results) == [False, False, True]


# Issue 11: on SQLite a write transaction blocks every other writer (a submission, a login).
# A nightly run that inactivated 7,000 idle accounts in one transaction held the lock 47 s;
# each family now commits in short batches.


def a_busy_night(n_idle=600, n_purged=1500):
    """Many idle techniciens, and a structure whose only convention ended with many
    requests: today's date for the run that processes them all."""
    from ep.models import Caisse, Demande, Message, Motif, Offer

    today = date(2027, 3, 1)
    long_ago = datetime(2026, 9, 1)
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    Account.insert_many(
        [
            {
                "username": f"idle{n:04d}",
                "profile": "technicien",
                "partner": ccas.id,
                "nom": f"Inutilise{n}",
                "email": f"idle{n}@example.org",
                "state": "active",
                "created_at": long_ago,
                "last_login_at": long_ago,
            }
            for n in range(n_idle)
        ]
    ).execute()
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    author = account("technicien.voisin")
    caisse = Caisse.get(Caisse.name == "CPAM de Démo")
    offer = Offer.of(caisse, "document")
    motif = Motif.of(caisse, "document", "attestation_droits")
    for start in range(0, n_purged, 500):
        Demande.insert_many(
            [
                {
                    "partner": voisin.id,
                    "caisse": caisse.id,
                    "author": author.id,
                    "offer": offer.id,
                    "motif": motif.id,
                    "assure_nom": f"Purgee{n}",
                    "assure_search": f"purgee{n}",
                    "commentaire": "À effacer en fin de convention.",
                    "created_at": long_ago,
                }
                for n in range(start, min(start + 500, n_purged))
            ]
        ).execute()
    ids = [d.id for d in Demande.select(Demande.id).where(Demande.assure_nom.startswith("Purgee"))]
    Message.insert_many(
        [{"demande": i, "author": author.id, "body": "Un échange à effacer."} for i in ids]
    ).execute()
    Convention.update(ends_on=today).where(Convention.partner == voisin).execute()
    return today


def test_the_nightly_rules_commit_in_short_transactions(app):
    from ep import housekeeping as rules

    today = a_busy_night()
    with app.app_context():
        counts = rules.run(today)
    assert counts["failed"] == []
    assert counts["idle"] >= 600 and counts["purged"] >= 1500
    assert counts["transactions"] >= 10
    assert counts["longest_hold"] < 0.5, counts


@sqlite_only  # PostgreSQL locks rows, not the database
def test_a_writer_never_waits_long_on_the_nightly_rules(app):
    """While the rules run, another connection writes again and again: it never waits more
    than a fraction of a second for the lock (SQLite: one writer at a time)."""
    import sqlite3
    import threading

    from ep import housekeeping as rules

    today = a_busy_night()
    done = threading.Event()
    failures = []

    def run():
        try:
            with app.app_context():
                failures.extend(rules.run(today)["failed"])
        except Exception as exc:  # reported below
            failures.append(repr(exc))
        finally:
            database.close()
            done.set()

    path = app.config["EP_DATABASE_URL"][len("sqlite:///") :]
    writer = sqlite3.connect(path, timeout=30, isolation_level=None)
    database.close()
    thread = threading.Thread(target=run)
    waits = []
    thread.start()
    while not done.is_set():
        start = time.perf_counter()
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO login_failure (key, at) VALUES ('essai', '2027-03-01')")
        writer.execute("COMMIT")
        waits.append(time.perf_counter() - start)
        done.wait(0.005)  # a busy server's pace, not a loop that would starve the rules
    thread.join()
    writer.close()
    assert failures == []
    assert len(waits) > 1 and max(waits) < 1.0, (len(waits), max(waits))
