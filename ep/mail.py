"""Outgoing e-mail: SMTP when EP_MAIL_URL is set, otherwise .eml files in <instance>/outbox/.

Only the notification layer (`ep/notices.py`) calls it, after commit. E-mails never carry an
assuré's data: only account matters, request numbers and links.
"""

import smtplib
import ssl
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlparse

from . import private, settings

SMTPException = smtplib.SMTPException


def deliver(to, subject, body):
    """Hand one e-mail to the mail server now (or write it to the outbox folder); raises
    OSError or SMTPException when it cannot. Only the notification layer calls this."""
    msg = EmailMessage()
    msg["From"] = settings.get("EP_MAIL_FROM")
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="espace-partenaires.local")
    msg.set_content(body)
    url = settings.get("EP_MAIL_URL")
    if url:
        _send_smtp(url, msg)
    else:
        outbox = private.folder(Path(settings.get("EP_INSTANCE_PATH")) / "outbox")
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
