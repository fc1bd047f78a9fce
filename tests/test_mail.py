"""E-mail through a real local SMTP server (aiosmtpd), as with EP_MAIL_URL in production."""

import pytest
from aiosmtpd.controller import Controller

from ep import accounts, notices

from .conftest import account, free_port, make_app


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_invitation_goes_through_smtp_without_assure_data(tmp_path, smtp):
    from ep import demo

    controller, inbox = smtp
    app = make_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{controller.port}")
    with app.app_context():
        demo.load("mot de passe demo 2026")
        notices.flush()
        inbox.messages.clear()
        gest = account("gestionnaire.demo")
        accounts.create_technicien(
            gest,
            {
                "civilite": "M.",
                "nom": "Postier",
                "prenom": "Jean",
                "fonction": "Agent",
                "telephone": "0102030405",
                "email": "jean.postier@example.org",
            },
            True,
        )
        assert inbox.messages == []  # nothing leaves before the commit's sender runs
        notices.flush()
    [(recipients, content)] = inbox.messages
    assert recipients == ["jean.postier@example.org"]
    assert "Identifiant : jean.postier" in content
    assert "http://ep.test/set-password/" in content
    assert not list((tmp_path / "instance").glob("outbox/*.eml"))


class SlowInbox(Inbox):
    """An SMTP server that takes its time, as a loaded relay does (once `slow` is set)."""

    slow = False

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.slow:
            await asyncio.sleep(1.5)
        return await super().handle_DATA(server, session, envelope)


def test_forgot_password_answers_as_fast_whether_or_not_the_account_exists(tmp_path):
    """Issue 9.4: the answer waited for the SMTP server only when the account existed."""
    import time

    from ep import demo, notices

    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app = make_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{controller.port}")
        with app.app_context():
            demo.load("mot de passe demo 2026")
            notices.flush()  # the demo's e-mails, at full speed
        inbox.messages.clear()
        inbox.slow = True
        client = app.test_client()
        timings = {}
        for username in ("technicien.demo", "personne.inconnue"):
            start = time.perf_counter()
            response = client.post("/forgot", data={"username": username})
            timings[username] = time.perf_counter() - start
            assert response.status_code == 303
        assert max(timings.values()) < 1.0, timings
        with app.app_context():
            notices.flush()
        [(recipients, content)] = inbox.messages
        assert recipients == ["technicien.demo@example.org"]
        assert "http://ep.test/reset-password/" in content
    finally:
        controller.stop()
