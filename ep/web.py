"""Request plumbing: user loading, idle timeout, security headers, template helpers."""

import re
import time

from flask import abort, flash, render_template, request, session
from flask_login import current_user, logout_user
from jinja2_fragments.flask import render_block

from .extensions import login_manager
from .models import Account
from .partners import has_open_channel

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


@login_manager.user_loader
def load_user(user_id):
    """The account behind a session cookie, if that session is still valid server-side."""
    pk, _, token = (user_id or "").partition(":")
    if to_id(pk) is None or not token:
        return None
    account = Account.get_or_none((Account.id == int(pk)) & (Account.session_token == token))
    if account is None or account.state != "active":
        return None
    if account.partner_id and not has_open_channel(account.partner_id):
        return None
    return account


def to_id(value):
    """An int from ASCII digits that fits a database key, else None ('²', '9'*30, 'abc')."""
    value = (value or "").strip()
    if re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    return None


def arg_id(name):
    return to_id(request.args.get(name))


def page_number():
    """?page=N, 1 when missing or absurd."""
    return max(1, min(arg_id("page") or 1, 1_000_000))


def is_partial():
    """An htmx request for a fragment (not a boosted navigation or a history restore)."""
    h = request.htmx
    return bool(h) and not h.boosted and not h.history_restore_request


def render(template, block=None, **context):
    """The whole page, or only `block` when htmx asks for a fragment."""
    if block and is_partial():
        return render_block(template, block, **context)
    return render_template(template, **context)


def aria(field, describedby):
    """ARIA attributes tying a field to its hint and error message (RGAA 11.10)."""
    attrs = {}
    if describedby.strip():
        attrs["aria-describedby"] = describedby.strip()
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


def status_label(demande):
    """A request's status in the words of whoever reads it: the caisse waits for the partner,
    the partner has a complement to provide."""
    if demande.status == "waiting_partner" and current_user.profile != "caisse":
        return "Complément à fournir"
    return demande.status_label


def date_fr(value):
    return value.strftime("%d/%m/%Y") if value else ""


def age(value):
    """'il y a 3 h', 'il y a 2 j': how long ago, for queues."""
    if not value:
        return ""
    from datetime import datetime

    seconds = (datetime.now() - value).total_seconds()
    if seconds < 3600:
        return f"il y a {max(1, int(seconds // 60))} min"
    if seconds < 86400:
        return f"il y a {int(seconds // 3600)} h"
    return f"il y a {int(seconds // 86400)} j"


def filesize(n):
    """'850 octets', '12 Ko', '1,4 Mo'."""
    if n < 1024:
        return f"{n} octets"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} Ko"
    return f"{n / 1024 / 1024:.1f} Mo".replace(".", ",")


def datetime_fr(value):
    return value.strftime("%d/%m/%Y à %H:%M") if value else ""


NAV = {
    "caisse": [
        ("main.index", "Accueil"),
        ("demandes.queue", "Demandes reçues"),
        ("partners.index", "Partenaires"),
        ("exports.index", "Exports"),
        ("audit.index", "Journal"),
        ("main.help", "Aide et contacts"),
    ],
    "gestionnaire": [
        ("main.index", "Accueil"),
        ("accounts.index", "Comptes"),
        ("reviews.index", "Revues"),
        ("audit.index", "Journal"),
        ("main.help", "Aide et contacts"),
    ],
    "technicien": [
        ("main.index", "Accueil"),
        ("demandes.create", "Nouvelle demande"),
        ("demandes.index", "Demandes de la structure"),
        ("main.help", "Aide et contacts"),
    ],
}


def init_app(app):
    app.jinja_env.filters["date_fr"] = date_fr
    app.jinja_env.filters["datetime_fr"] = datetime_fr
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["filesize"] = filesize
    from .phones import display as phone

    app.jinja_env.filters["phone"] = phone
    app.jinja_env.globals["aria"] = aria
    app.jinja_env.globals["status_label"] = status_label
    from .departements import DEPARTEMENTS

    app.jinja_env.globals["departements"] = dict(DEPARTEMENTS)

    from .audit import ACTIONS

    @app.context_processor
    def _nav():
        items = NAV.get(current_user.profile, []) if current_user.is_authenticated else []
        from datetime import date

        from peewee import PeeweeException

        from .models import Announcement

        try:
            announcements = list(Announcement.shown())
        except PeeweeException:  # an error page must render even when the database does not
            announcements = []
        return {
            "nav_items": items,
            "action_labels": ACTIONS,
            "today": date.today(),
            "announcements": announcements,
        }

    @app.before_request
    def _no_nul_bytes():
        """A NUL byte has no business in a form; PostgreSQL would refuse it with a 500."""
        for values in (request.args, request.form):
            for value in values.values():
                if "\x00" in value:
                    abort(400)

    @app.before_request
    def _idle_timeout():
        if not current_user.is_authenticated:
            return
        session.permanent = True
        idle = app.config["EP_SESSION_IDLE_MINUTES"] * 60
        seen = session.get("seen", 0)
        now = int(time.time())
        if seen and now - seen > idle:
            logout_user()
            session.clear()
            flash(
                "Votre session a expiré après une période d'inactivité. Reconnectez-vous.", "info"
            )
            return
        session["seen"] = now

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.vary.add("HX-Request")
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


def refuse(form, exc):
    """Show a rule's refusals next to their fields, or above the form when they name none."""
    for name, message in exc.errors:
        field = form[name] if name and name in form else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


def streamed_download(filename, mimetype, make_chunks):
    """Stream a download; `make_chunks()` runs while streaming, on its own connection, so
    the first bytes leave at once and a long list never sits in memory."""
    from flask import Response

    from .db import database

    def generate():
        with database.connection_context():
            yield from make_chunks()

    return Response(
        generate(),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_download(filename, header, make_rows):
    """A CSV for spreadsheets (UTF-8 with BOM, `;`), streamed."""
    from . import csvexport

    return streamed_download(filename, "text/csv", lambda: csvexport.stream(header, make_rows()))


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_download(filename, header, make_rows, title):
    """The same rows as an XLSX sheet, streamed too; cells neutralised like the CSV's."""
    from . import csvexport, xlsx

    def chunks():
        rows = ([csvexport.cell(v) for v in row] for row in make_rows())
        return xlsx.stream(header, rows, title)

    return streamed_download(filename, XLSX_MIMETYPE, chunks)
