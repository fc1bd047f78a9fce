"""E-mail through a real local SMTP server (aiosmtpd), as with EP_MAIL_URL in production."""

import pytest
from aiosmtpd.controller import Controller

from ep import accounts

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
    with app.test_request_context():
        demo.load("mot de passe demo 2026")
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
    [(recipients, content)] = inbox.messages
    assert recipients == ["jean.postier@example.org"]
    assert "Identifiant : jean.postier" in content
    assert "http://ep.test/set-password/" in content
    assert not list((tmp_path / "instance").glob("outbox/*.eml"))
