"""Request plumbing: user loading, idle timeout, security headers, template helpers."""

import re
import time

from flask import abort, flash, g, render_template, request, session
from flask_login import current_user
from jinja2_fragments.flask import render_block
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser

from .extensions import login_manager
from .models import Account
from .partners import open_channel

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
    # One query on every request: the account, and whether its structure may still work.
    account = (
        Account.select(Account, open_channel(Account.partner).alias("channel_open"))
        .where((Account.id == int(pk)) & (Account.session_token == token))
        .first()
    )
    if account is None or account.state != "active":
        return None
    if account.partner_id and not account.channel_open:
        return None
    return account


class StrictFormDataParser(FormDataParser):
    """Refuses a multipart part without a name (RFC 7578 requires one): werkzeug files it
    under the key None, where flask-wtf's CSRF check and any code walking the form keys
    would break. The error reaches every reader of `request.form` or `request.files`."""

    def parse(self, *args, **kwargs):
        stream, form, files = super().parse(*args, **kwargs)
        if None in form or None in files:
            for _, storage in files.items(multi=True):
                storage.close()  # never handed to the request, which would close them
            raise BadRequest("multipart part without a name")
        return stream, form, files


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
        ("catalogue.index", "Catalogue"),
        ("exports.index", "Exports"),
        ("statistics.index", "Statistiques"),
        ("evaluations.index", "Évaluations"),
        ("audit.index", "Journal"),
        ("publications.manage", "Informations publiées"),
        ("threads.index", "Échanges"),
        ("main.help", "Aide et contacts"),
        ("contacts.index", "Contacts de la caisse"),
        ("breaches.index", "Violations de données"),
    ],
    "gestionnaire": [
        ("main.index", "Accueil"),
        ("accounts.index", "Comptes"),
        ("reviews.index", "Revues"),
        ("statistics.index", "Statistiques"),
        ("evaluations.index", "Évaluations"),
        ("audit.index", "Journal"),
        ("publications.index", "Informations des caisses"),
        ("threads.index", "Échanges"),
        ("main.help", "Aide et contacts"),
        ("conventions.index", "Conventions"),
        ("breaches.index", "Violations de données"),
    ],
    "technicien": [
        ("main.index", "Accueil"),
        ("demandes.create", "Nouvelle demande"),
        ("demandes.index", "Demandes de la structure"),
        ("publications.index", "Informations des caisses"),
        ("threads.index", "Échanges"),
        ("main.help", "Aide et contacts"),
        ("conventions.index", "Conventions"),
    ],
}


def init_app(app):
    class Request(app.request_class):  # htmx-flask's, which adds `request.htmx`
        form_data_parser_class = StrictFormDataParser

    app.request_class = Request
    app.jinja_env.filters["date_fr"] = date_fr
    app.jinja_env.filters["datetime_fr"] = datetime_fr
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["filesize"] = filesize
    from .text import plural

    app.jinja_env.filters["plural"] = plural

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
        if current_user.is_authenticated and current_user.is_rgpd_referent:
            items = [*items, ("rgpd.index", "Données personnelles")]  # issue 14.2
        from datetime import date

        from peewee import PeeweeException

        from .models import Announcement

        try:
            announcements = list(Announcement.shown())
        except PeeweeException:  # an error page must render even when the database does not
            announcements = []
        return {
            "idle_label": minutes_fr(app.config["EP_SESSION_IDLE_MINUTES"]),
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
            return None
        session.permanent = True
        idle = app.config["EP_SESSION_IDLE_MINUTES"] * 60
        seen = session.get("seen", 0)
        now = int(time.time())
        if seen and now - seen > idle:
            return session_expired(current_user._get_current_object())
        session["seen"] = now
        return None

    @app.before_request
    def _give_the_draft_back():
        """Right after a new login, the form left when the session expired is filled again."""
        draft_id = session.get("draft")
        if not draft_id or request.method != "GET" or not current_user.is_authenticated:
            return
        from . import drafts

        found = drafts.take(draft_id, current_user.id, request.path)
        if found is None:
            return
        session.pop("draft", None)
        draft, data = found
        g.draft = MultiDict([(k, v) for k, values in data.items() for v in values])
        message = "Votre formulaire est rétabli tel que vous l'aviez laissé : relisez-le avant "
        message += "de l'envoyer."
        if draft.files_dropped:
            n = draft.files_dropped
            message += (
                f" Les pièces jointes ne sont pas conservées : joignez de nouveau "
                f"{'le fichier' if n == 1 else f'les {n} fichiers'}."
            )
        flash(message, "warning")

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


def minutes_fr(minutes):
    n = round(minutes)
    return f"{n} minute{'s' if n > 1 else ''}" if n >= 1 else f"{round(minutes * 60)} secondes"


def _form_page():
    """The page a posted form came from (same site only), else the address it was sent to."""
    from urllib.parse import urlsplit

    referrer = urlsplit(request.referrer or "")
    if referrer.path.startswith("/") and referrer.netloc == request.host:
        return referrer.path
    return request.path


def _to_login_page(page):
    """To the login page, then back to `page`: a redirect, or HX-Redirect for an htmx
    fragment request (htmx would not show a login page inside a row)."""
    from flask import make_response, redirect, url_for

    target = url_for("auth.login", next=page)
    if is_partial():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def session_expired(account):
    """The session ran out: end it, keep what the person was sending, say so, and lead to
    the login page; after it, the same page comes back with the typed text (RGAA 13.1)."""
    from flask import current_app
    from flask_login import logout_user

    from . import drafts

    idle = minutes_fr(current_app.config["EP_SESSION_IDLE_MINUTES"])
    page = _form_page() if request.method == "POST" else request.path
    draft_id = files = None
    if request.method == "POST" and request.form:
        files = sum(1 for f in request.files.getlist("pieces_jointes") if f and f.filename)
        draft_id = drafts.save(account.id, page, request.form, files)
    logout_user()
    session.clear()
    message = f"Votre session a expiré après {idle} sans action. Reconnectez-vous"
    if draft_id:
        session["draft"] = draft_id
        message += " : vous retrouverez le formulaire tel que vous l'aviez laissé"
        message += " (les pièces jointes seront à joindre de nouveau)." if files else "."
    else:
        message += "."
    flash(message, "info")
    if request.method == "POST" or is_partial():
        return _to_login_page(page)
    return None  # a page: the view's access rule sends to the login page


def lost_session():
    """A form posted with no session at all (the browser dropped the cookie): the form token
    cannot be checked, so nothing is done, but the person is told and led to log in."""
    from flask import current_app

    idle = minutes_fr(current_app.config["EP_SESSION_IDLE_MINUTES"])
    flash(
        f"Votre session a expiré (après {idle} sans action, ou à la fermeture du navigateur) "
        "et votre dernière action n'a pas été enregistrée. Reconnectez-vous, puis "
        "recommencez-la.",
        "warning",
    )
    return _to_login_page(_form_page())


def refuse(form, exc):
    """Show a rule's refusals next to their fields, or above the form when they name none."""
    for name, message in exc.errors:
        field = form[name] if name and name in form else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


def streamed_download(filename, mimetype, make_chunks):
    """Stream a download; `make_chunks()` runs while streaming, after the view returned, so
    the first bytes leave at once and a long list never sits in memory."""
    from flask import Response

    from . import db

    def generate():
        try:
            yield from make_chunks()
        finally:
            db.release()  # the request's teardown has passed: end its reads here

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
    """The same rows as an XLSX sheet with typed cells (ep/xlsx.py): built in constant memory
    once the view has returned, then sent. Text needs no neutralising there."""
    from . import xlsx

    return streamed_download(
        filename, XLSX_MIMETYPE, lambda: xlsx.stream(header, make_rows(), title)
    )
