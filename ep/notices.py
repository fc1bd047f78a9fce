"""The notification layer: the only place that sends e-mail.

A rule that wants someone told calls `queue` (or `to_gestionnaires`) inside its own write
transaction: the notice is a row of the outbox table, committed with the action or not at
all. A sender delivers the due notices after commit, one by one, with no write lock held
while it talks to the mail server; when the server is down it tries again later (1, 2, 4…
minutes, then hourly, for about a day), then marks the notice failed. Caisse agents see the
notices of their partners that wait or failed (`/caisse/courriels`), and `ep housekeeping`
prints how many there are.

E-mail bodies are Jinja templates, `ep/templates/email/<template>.txt`, rendered when sent,
with `link(endpoint, …)` for absolute links built from EP_BASE_URL (never from a request)
and `password_link(account_id, purpose)` for a fresh set-password or reset link. A notice's
context holds plain values (usernames, request numbers, dates): never an assuré's data.
"""

import json
import threading
from datetime import timedelta

from flask import current_app, g, has_request_context
from werkzeug.routing import BuildError

from . import db, mail, settings
from .db import database, write
from .models import Account, Notice, now

MAX_ATTEMPTS = 30
CLAIM = timedelta(minutes=5)


def queue(recipient, template, subject, partner=None, caisse=None, **context):
    """Record an e-mail to send once the current transaction commits."""
    if not recipient:
        return None
    if has_request_context():
        g.notices_queued = True
    notice = Notice.create(
        recipient=recipient,
        template=template,
        subject=subject[:200],
        context=json.dumps(context, ensure_ascii=False, default=str),
        partner=partner,
        caisse=caisse,
    )
    return notice


def to_gestionnaires(partner_id, template, subject, **context):
    """The same notice to each active gestionnaire of the structure; how many were queued."""
    n = 0
    for gestionnaire in Account.active_gestionnaires(partner_id):
        queue(gestionnaire.email, template, subject, partner=partner_id, **context)
        n += 1
    return n


def link(endpoint, **values):
    """An absolute link to a page, from EP_BASE_URL whatever the context."""
    app = current_app._get_current_object()
    adapter = app.url_map.bind(
        app.config["SERVER_NAME"],
        script_name=app.config["APPLICATION_ROOT"],
        url_scheme=app.config["PREFERRED_URL_SCHEME"],
    )
    return adapter.build(endpoint, values, force_external=True)


def password_link(account_id, purpose):
    """A personal set-password ('set-password') or reset ('reset') link, made when sent: it
    dies if the account changed in between (inactivated, password already set)."""
    from . import tokens

    account = Account.get_by_id(account_id)
    endpoint = "auth.set_password" if purpose == "set-password" else "auth.reset_password"
    return link(endpoint, token=tokens.make(account, purpose))


def render(notice):
    context = json.loads(notice.context or "{}")
    # The app's Jinja environment, but none of the page context (no user, no request).
    template = current_app.jinja_env.get_template(f"email/{notice.template}.txt")
    return template.render(link=link, password_link=password_link, **context)


def _claim(notice_id, at):
    """Take the notice for this sender; False when another sender has it, has sent it, or
    has just failed to and set its next attempt (every server process runs a sender: the
    one conditional update decides, whatever the list each sender made before)."""
    with write():
        taken = (
            Notice.update(claimed_until=at + CLAIM)
            .where(
                (Notice.id == notice_id)
                & (Notice.status == "pending")
                & (Notice.next_attempt_at <= at)
                & (Notice.claimed_until.is_null() | (Notice.claimed_until < at))
            )
            .execute()
        )
    return taken == 1


def send_due(at=None, limit=200):
    """Send the notices that are due; returns (sent, failed_now). No write lock is held while
    the mail server is being talked to: each notice is claimed, sent, then marked."""
    sent = failed = 0
    at = at or now()
    due = list(
        Notice.select(Notice.id)
        .where((Notice.status == "pending") & (Notice.next_attempt_at <= at))
        .order_by(Notice.id)
        .limit(limit)
        .tuples()
    )
    for (notice_id,) in due:
        if not _claim(notice_id, at):
            continue
        notice = Notice.get_by_id(notice_id)
        try:
            mail.deliver(notice.recipient, notice.subject, render(notice))
        except (OSError, mail.SMTPException, BuildError) as exc:
            failed += _record_failure(notice, exc, at)
            continue
        with write():
            Notice.update(status="sent", sent_at=now(), claimed_until=None, last_error="").where(
                Notice.id == notice_id
            ).execute()
        sent += 1
    return sent, failed


def _record_failure(notice, exc, at):
    attempts = notice.attempts + 1
    delay = min(60 * 2 ** (attempts - 1), 3600)
    final = attempts >= settings.get("EP_MAIL_MAX_ATTEMPTS", MAX_ATTEMPTS)
    current_app.logger.warning(
        "e-mail %s not sent (attempt %s): %s", notice.id, attempts, exc.__class__.__name__
    )
    with write():
        Notice.update(
            attempts=attempts,
            next_attempt_at=at + timedelta(seconds=delay),
            claimed_until=None,
            status="failed" if final else "pending",
            last_error=f"{exc.__class__.__name__}: {exc}"[:200],
        ).where(Notice.id == notice.id).execute()
    return 1 if final else 0


def counts():
    """{'pending': n, 'failed': n}: what an operator should know about."""
    return {
        status: Notice.select().where(Notice.status == status).count()
        for status in ("pending", "failed")
    }


def retry(notice):
    """Send a failed (or waiting) notice again at the next pass."""
    with write():
        Notice.update(status="pending", next_attempt_at=now(), claimed_until=None).where(
            Notice.id == notice.id
        ).execute()
    _wake.set()


def init_app(app):
    @app.teardown_request
    def _wake_the_sender(exc):
        if g.get("notices_queued"):
            _wake.set()


_later = []


def after_response(work):
    """Run `work()` in a thread of its own, with the app context, once the response has
    left: an answer that must not reveal whether an account exists takes the same time
    either way ("mot de passe oublié")."""
    app = current_app._get_current_object()

    def run():
        with app.app_context():
            try:
                work()
            finally:
                if not database.is_closed():
                    database.close()
        _wake.set()

    thread = threading.Thread(target=run, name="ep-after-response", daemon=True)
    _later.append(thread)
    thread.start()
    return thread


def wait_after_response(timeout=30):
    """Wait for the work left for after the response (tests, before they swap files)."""
    while _later:
        _later.pop().join(timeout)


def flush():
    """Finish the work left for after the response, then send what is due now (the command
    line, and tests, which have no sender thread)."""
    wait_after_response()
    return send_due()


# The sender of `ep serve`: wakes when a notice is queued, and every EP_MAIL_POLL_SECONDS.
_wake = threading.Event()


def wake():
    """Tell the sender thread there may be something to send."""
    _wake.set()


def start_sender(app):
    """Deliver notices in a thread of their own for as long as the server runs."""

    def loop():
        while True:
            _wake.wait(app.config["EP_MAIL_POLL_SECONDS"])
            _wake.clear()
            with app.app_context():
                try:
                    send_due()  # on the thread's connection, kept from one pass to the next
                except Exception:  # keep the sender alive; the log says why
                    app.logger.exception("e-mail sender failed")
                finally:
                    db.release()

    thread = threading.Thread(target=loop, name="ep-mail", daemon=True)
    thread.start()
    _wake.set()
    return thread
