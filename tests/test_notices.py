"""The notification layer (issue 10.1): notices written with the action, sent after commit by
a sender that retries, never while a write lock is held; the nightly rules run without any
request context; each rule family commits on its own."""

import ast
import asyncio
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from ep import accounts, housekeeping, notices
from ep.db import database, write
from ep.models import Account, Convention, Notice, Partner, Review

from .conftest import PASSWORD, account, free_port, make_app

TECH = {
    "civilite": "Mme",
    "nom": "Courrier-Exemple",
    "prenom": "Lise",
    "fonction": "Conseillère",
    "telephone": "01 23 45 67 89",
    "email": "lise.courrier@example.org",
}


class Inbox:
    def __init__(self, delay=0):
        self.messages = []
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp_port():
    return free_port()


def start_smtp(port, delay=0):
    inbox = Inbox(delay)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


def demo_app(tmp_path, **config):
    from ep import demo

    app = make_app(tmp_path, EP_BASE_URL="https://ep.example.org/espace", **config)
    with app.app_context():
        demo.load(PASSWORD)
        Notice.delete().execute()  # the demo's own e-mails are not this test's
    return app


def test_the_nightly_rules_run_with_no_request_context_when_a_review_falls_due(tmp_path):
    """Issue 10.1: under `app.app_context()` only (as in `ep serve`'s daily thread), a due
    periodic review made url_for raise, the single transaction rolled back, and nothing
    happened that night: no idle technicien inactivated, no deletion, no purge."""
    app = demo_app(tmp_path)
    with app.app_context():
        voisin = Partner.get(Partner.name == "CCAS Voisin")
        Convention.update(review_every_months=1).where(Convention.partner == voisin).execute()
        counts = housekeeping.run(date.today() + timedelta(days=200))
        assert counts["failed"] == []
        assert counts["reviews_opened"] >= 1
        assert counts["idle"] >= 1  # the techniciens, unused for 200 days
        assert Account.get(Account.username == "technicien.voisin").state == "inactive"
        assert Review.select().where(Review.partner == voisin).exists()
        queued = list(Notice.select().where(Notice.partner == voisin))
        assert queued and all(n.status == "pending" for n in queued)
        notices.flush()
    mails = sorted((tmp_path / "instance" / "outbox").glob("*.eml"))
    bodies = [m.read_text() for m in mails]
    assert any("https://ep.example.org/espace/reviews/" in b for b in bodies)


def test_smtp_down_then_back_the_action_stands_and_the_e_mail_leaves_once(tmp_path, smtp_port):
    app = demo_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}")
    client = app.test_client()
    with client.session_transaction() as session:
        with app.app_context():
            session["_user_id"] = account("gestionnaire.demo").get_id()
    with app.app_context():
        from ep.accounts import accept_cgu

        accept_cgu(account("gestionnaire.demo"), app.config["EP_CGU_VERSION"])
    data = dict(TECH, attest_employment="y", attest_equipment="y", attest_email="y")
    assert client.post("/accounts/new", data=data).status_code == 303  # SMTP is down
    with app.app_context():
        created = Account.get(Account.email == TECH["email"])
        assert created.state == "invited"
        notice = Notice.get(Notice.recipient == TECH["email"])
        assert notices.send_due() == (0, 0)
        notice = Notice.get_by_id(notice.id)
        assert (notice.status, notice.attempts) == ("pending", 1)
        assert notice.next_attempt_at > notice.created_at
        assert "ConnectionRefusedError" in notice.last_error
        controller, inbox = start_smtp(smtp_port)  # the server is back
        try:
            assert notices.send_due() == (0, 0)  # not due yet: backoff
            later = notice.next_attempt_at + timedelta(seconds=1)
            assert notices.send_due(at=later) == (1, 0)
            assert notices.send_due(at=later + timedelta(hours=1)) == (0, 0)
        finally:
            controller.stop()
        assert Notice.get_by_id(notice.id).status == "sent"
    [(recipients, content)] = inbox.messages
    assert recipients == [TECH["email"]]
    assert "https://ep.example.org/espace/set-password/" in content


def test_a_notice_is_given_up_after_its_attempts_and_shown_to_the_caisse(tmp_path, smtp_port):
    app = demo_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}", EP_MAIL_MAX_ATTEMPTS=2)
    with app.app_context():
        with write():
            accounts.create_technicien(account("gestionnaire.voisin"), TECH, True)
        notice = Notice.get(Notice.recipient == TECH["email"])
        notices.send_due()
        assert notices.send_due(at=Notice.get_by_id(notice.id).next_attempt_at) == (0, 1)
        assert Notice.get_by_id(notice.id).status == "failed"
        assert notices.counts() == {"pending": 0, "failed": 1}
        for user in ("caisse.demo", "carsat.demo"):
            from ep.accounts import accept_cgu

            accept_cgu(account(user), app.config["EP_CGU_VERSION"])
        ids = {u: account(u).get_id() for u in ("caisse.demo", "carsat.demo")}
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = ids["caisse.demo"]
    page = client.get("/audit/courriels").get_data(as_text=True)
    assert TECH["email"] in page and "Échec" in page
    assert client.post(f"/audit/courriels/{notice.id}/retry").status_code == 303
    with app.app_context():
        assert Notice.get_by_id(notice.id).status == "pending"
    with client.session_transaction() as session:
        session["_user_id"] = ids["carsat.demo"]  # CCAS Voisin is not the CARSAT's partner
    assert TECH["email"] not in client.get("/audit/courriels").get_data(as_text=True)
    assert client.post(f"/audit/courriels/{notice.id}/retry").status_code == 404


def test_a_write_does_not_wait_for_a_hanging_mail_server(tmp_path, smtp_port):
    """The sender talks to the mail server with no write lock held."""
    controller, inbox = start_smtp(smtp_port, delay=3)
    try:
        app = demo_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}")
        with app.app_context():
            with write():
                accounts.create_technicien(account("gestionnaire.voisin"), TECH, True)

        def sender():
            with app.app_context():
                try:
                    notices.send_due()
                finally:
                    database.close()

        thread = threading.Thread(target=sender)
        thread.start()
        time.sleep(0.5)  # the sender is now inside the SMTP conversation
        with app.app_context():
            start = time.perf_counter()
            accounts.set_preferences(account("gestionnaire.voisin"), False)
            elapsed = time.perf_counter() - start
            database.close()
        thread.join(10)
        assert elapsed < 1.0, elapsed
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_one_failing_rule_family_does_not_stop_the_others(tmp_path, monkeypatch):
    app = demo_app(tmp_path)

    def broken(today):
        raise RuntimeError("a rule that cannot run tonight")

    families = [("idle", broken), *housekeeping.FAMILIES[1:]]
    monkeypatch.setattr(housekeeping, "FAMILIES", families)
    with app.app_context():
        tech = account("technicien.voisin")
        Account.update(scheduled_inactivation_on=date.today()).where(
            Account.username == "gestionnaire.demo"
        ).execute()
        counts = housekeeping.run(date.today() + timedelta(days=200))
        assert counts["failed"] == ["idle"]
        assert counts["scheduled"] == 1  # the family after the broken one ran, and committed
        assert Account.get_by_id(tech.id).state == "active"  # the broken one did nothing


RULE_MODULES = [
    "accounts",
    "partners",
    "demandes",
    "reviews",
    "housekeeping",
    "quotas",
    "login",
    "attachments",
    "tokens",
    "phones",
    "publications",
    "threads",
    "evaluations",
    "retention",
    "journal",
    "catalogue",
    "breaches",
    "information",
]


@pytest.mark.parametrize("module", RULE_MODULES)
def test_rule_modules_neither_import_flask_nor_send_mail(module):
    source = (Path(__file__).parent.parent / "ep" / f"{module}.py").read_text()
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
            imported |= {a.name for a in node.names if node.level}
    assert "flask" not in imported
    assert "mail" not in imported


def test_only_the_notification_layer_calls_the_mail_module():
    ep = Path(__file__).parent.parent / "ep"
    callers = {
        path.name
        for path in ep.rglob("*.py")
        if "mail.deliver(" in path.read_text() or "mail.send" in path.read_text()
    }
    assert callers == {"notices.py"}


def test_e_mail_links_use_the_configured_base_url_not_the_request(tmp_path):
    app = demo_app(tmp_path)
    with app.test_request_context(base_url="http://autre-nom.intranet:9999"):
        with write():
            accounts.create_technicien(account("gestionnaire.voisin"), TECH, True)
        notices.flush()
    [mail] = list((tmp_path / "instance" / "outbox").glob("*.eml"))
    text = mail.read_text()
    assert "https://ep.example.org/espace/set-password/" in text and "autre-nom" not in text


def test_serve_builds_links_from_its_own_address_when_no_base_url_is_set(tmp_path):
    from ep import create_app, set_base_url

    app = create_app({"EP_INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True})
    assert app.config["EP_BASE_URL_SET"] is False
    set_base_url(app, "http://serveur-ccas:8080")
    with app.app_context():
        assert notices.link("auth.login") == "http://serveur-ccas:8080/login"


def test_two_senders_at_once_send_each_notice_once(tmp_path, smtp_port):
    """Every server process runs a sender (issue 11.6): two of them going through the same
    outbox at the same moment deliver each notice once."""
    controller, inbox = start_smtp(smtp_port, delay=0.02)
    try:
        app = demo_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}")
        with app.app_context():
            with write():
                for i in range(30):
                    notices.queue(f"destinataire{i}@example.org", "idle_warning", f"Avis {i}")
            database.close()
        sent = []

        def sender():
            with app.app_context():
                try:
                    sent.append(notices.send_due()[0])
                finally:
                    database.close()

        senders = [threading.Thread(target=sender) for _ in range(2)]
        for t in senders:
            t.start()
        for t in senders:
            t.join(60)
        recipients = [r for rcpt, _ in inbox.messages for r in rcpt]
        assert sorted(recipients) == sorted(f"destinataire{i}@example.org" for i in range(30))
        assert sum(sent) == 30 and min(sent) > 0  # both took part
        with app.app_context():
            assert notices.counts() == {"pending": 0, "failed": 0}
    finally:
        controller.stop()


def test_a_notice_that_just_failed_waits_its_delay_whichever_sender_looks(tmp_path, smtp_port):
    """A sender that listed a notice before another sender's attempt failed must not try it
    again at once: the claim itself checks that the notice is due."""
    app = demo_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}")  # nobody listens
    with app.app_context():
        with write():
            notice = notices.queue("quelqu.un@example.org", "idle_warning", "Avis")
        at = Notice.get_by_id(notice.id).next_attempt_at
        assert notices.send_due(at=at) == (0, 0)  # failed once, retried in a minute
        assert Notice.get_by_id(notice.id).attempts == 1
        assert not notices._claim(notice.id, at)  # the other sender, with its older list
