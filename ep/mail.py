"""Outgoing e-mail: SMTP when EP_MAIL_URL is set, otherwise .eml files in <instance>/outbox/.

E-mails never carry an assuré's data: only account matters and links.
"""

import smtplib
import ssl
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import current_app, g, has_request_context

from . import private


def send(to, subject, body):
    """Send one e-mail; a delivery failure is logged and reported, never raised: what the
    user just did is saved, and the app says the message did not leave (web.py)."""
    try:
        return _send(to, subject, body)
    except (OSError, smtplib.SMTPException) as exc:
        current_app.logger.error("e-mail not sent (%s): %s", subject, exc.__class__.__name__)
        if has_request_context():
            g.mail_failures = g.get("mail_failures", 0) + 1
        return None


def send_later(to, subject, body, then=None):
    """Send after the response has left, in a thread of its own: an answer that must not
    reveal whether an account exists takes the same time either way. `then()` runs after
    the attempt, with the app context (e.g. a journal line)."""
    import threading

    from .db import database

    app = current_app._get_current_object()

    def run():
        with app.app_context():
            try:
                send(to, subject, body)
                if then is not None:
                    then()
            finally:
                if not database.is_closed():
                    database.close()

    thread = threading.Thread(target=run, name="ep-mail", daemon=True)
    _later.append(thread)
    thread.start()
    return thread


_later = []


def wait_for_later(timeout=30):
    """Wait until the e-mails sent after their response have left (tests, shutdown)."""
    while _later:
        _later.pop().join(timeout)


def _send(to, subject, body):
    msg = EmailMessage()
    msg["From"] = current_app.config["EP_MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="espace-partenaires.local")
    msg.set_content(body)
    url = current_app.config["EP_MAIL_URL"]
    if url:
        _send_smtp(url, msg)
    else:
        outbox = private.folder(Path(current_app.instance_path) / "outbox")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        with private.create(outbox / name) as out:
            out.write(bytes(msg))
    return msg


def _send_smtp(url, msg):
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port
    if parsed.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port or 465, context=ssl.create_default_context(), timeout=20)
    else:
        smtp = smtplib.SMTP(host, port or 25, timeout=20)
    with smtp:
        if parsed.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if parsed.username:
            smtp.login(unquote(parsed.username), unquote(parsed.password or ""))
        smtp.send_message(msg)
