"""Espace Partenaires: the secure channel between a CCAS and the health-insurance caisses."""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

DEFAULTS = {
    # Contract settings (CONTRACT.md, "Configuration").
    "EP_DATABASE_URL": None,
    "EP_SECRET_KEY": None,
    "EP_MAIL_URL": None,
    "EP_MAIL_FROM": "espace-partenaires@example.org",
    "EP_BASE_URL": None,  # default: http://127.0.0.1:8000, or what `ep serve` listens on
    # E-mail outbox: the sender wakes when a notice is queued, and every this many seconds;
    # a notice is given up (marked failed) after this many attempts (about a day).
    "EP_MAIL_POLL_SECONDS": 30,
    "EP_MAIL_MAX_ATTEMPTS": 30,
    "EP_DEMO_PASSWORD": None,
    # Sessions and login throttling.
    "EP_SESSION_IDLE_MINUTES": 30,
    "EP_SECURE_COOKIES": False,
    "EP_LOGIN_FREE_FAILURES": 5,
    "EP_LOGIN_MAX_FAILURES_PER_DAY": 25,
    # An address's limits are this many times an account's: a CCAS behind NAT or the HTTPS
    # proxy is one address, so a few typos must not lock everybody out.
    "EP_LOGIN_IP_FACTOR": 20,
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
    "EP_TRUSTED_PROXIES": 0,
    # Accounts.
    "EP_INVITE_HOURS": 72,
    "EP_RESET_HOURS": 2,
    "EP_PASSWORD_MAX_AGE_DAYS": 365,
    "EP_CGU_VERSION": "2026-11",
    "EP_ALLOWED_EMAIL_DOMAINS": "",
    "EP_TECHNICIEN_IDLE_DAYS": 90,
    "EP_IDLE_WARNING_DAYS": 15,  # a technicien is told this many days before
    "EP_DELETE_AFTER_DAYS": 183,
    "EP_HOUSEKEEPING_HOUR": 2,
    # Demandes.
    "EP_MAX_ATTACHMENTS": 5,
    "EP_MAX_ATTACHMENT_MB": 10,
    "EP_MAX_UPLOAD_MB_PER_DAY": 200,  # per account
    "EP_CLAMAV_URL": "",
    "EP_PAGE_SIZE": 25,
    # The journal traces a read of a request or a document once per account, object and
    # address within this many minutes (0: every read); exports are traced every time.
    "EP_READ_TRACE_MINUTES": 10,
    # Personal data for as long as needed (issue 14; docs/decisions.md); 0 turns a rule off.
    # A closed request loses its personal data this many days after its closing.
    "EP_RETENTION_CLOSED_DAYS": 365,
    # A request waiting this many days for the structure's answer is closed, the structure
    # told this many days before.
    "EP_WAITING_PARTNER_CLOSE_DAYS": 60,
    "EP_WAITING_PARTNER_NOTICE_DAYS": 15,
    # The journal's access traces (reads, exports) are kept this many days.
    "EP_JOURNAL_RETENTION_DAYS": 365,
    # `ep serve` (waitress): open connections at most, and seconds before an idle one closes.
    "EP_CONNECTION_LIMIT": 500,
    "EP_CHANNEL_TIMEOUT": 30,
    # What a public body publishes (issue 15): the legal notice, the personal data page and
    # the accessibility statement show these; what is left empty says "à compléter".
    "EP_PUBLISHER_NAME": "",  # the CCAS (or the body) that runs the service
    "EP_PUBLISHER_ADDRESS": "",
    "EP_PUBLISHER_PHONE": "",
    "EP_PUBLISHER_EMAIL": "",
    "EP_PUBLISHER_SIRET": "",
    "EP_PUBLICATION_DIRECTOR": "",  # name and function, e.g. "Mme X, vice-présidente du CCAS"
    "EP_HOST_NAME": "",
    "EP_HOST_ADDRESS": "",
    "EP_HOST_PHONE": "",
    "EP_DPO_NAME": "",
    "EP_DPO_EMAIL": "",
    "EP_DPO_ADDRESS": "",
    "EP_ACCESSIBILITY_EMAIL": "",  # where to report an accessibility problem (default: publisher)
    "EP_ACCESSIBILITY_FORM_URL": "",
    "EP_ACCESSIBILITY_PLAN_URL": "",  # the body's multi-year accessibility plan
    "EP_ACCESSIBILITY_AUDIT": "",  # the instance's own RGAA audit file (default: the shipped one)
}


def _coerce(default, raw):
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "oui", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            return float(raw)  # e.g. EP_SESSION_IDLE_MINUTES=0.5 for a test
    return raw


def load_config(app, overrides=None):
    """Defaults, then instance/config.py, then EP_* environment variables, then overrides."""
    app.config.update(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    for name, raw in os.environ.items():
        if name.startswith("EP_") and name != "EP_INSTANCE_PATH":
            app.config[name] = _coerce(DEFAULTS.get(name), raw)
    app.config.update(overrides or {})
    instance = Path(app.instance_path)
    if not app.config["EP_DATABASE_URL"]:
        app.config["EP_DATABASE_URL"] = f"sqlite:///{instance / 'ep.sqlite3'}"
    app.config["SECRET_KEY"] = app.config["EP_SECRET_KEY"] or _instance_secret(instance)
    app.config["EP_INSTANCE_PATH"] = str(instance)
    app.config["EP_BASE_URL_SET"] = bool(app.config["EP_BASE_URL"])
    set_base_url(app, app.config["EP_BASE_URL"] or DEFAULT_BASE_URL)
    # The cookie outlives the idle limit, which the server enforces (web._idle_timeout): a
    # form posted after the limit is recognised as its owner's, and given back after login.
    idle = timedelta(minutes=app.config["EP_SESSION_IDLE_MINUTES"])
    app.config.update(
        PERMANENT_SESSION_LIFETIME=max(idle, timedelta(hours=12)),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["EP_SECURE_COOKIES"]
        or app.config["EP_BASE_URL"].startswith("https://"),
        SESSION_COOKIE_NAME="ep_session",
        REMEMBER_COOKIE_DURATION=timedelta(0),
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=(
            app.config["EP_MAX_ATTACHMENTS"] * app.config["EP_MAX_ATTACHMENT_MB"] + 2
        )
        * 1024
        * 1024,
        WTF_I18N_ENABLED=False,
    )


DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def set_base_url(app, base_url):
    """EP_BASE_URL, and what Flask builds absolute links from outside a request (the e-mails
    of the nightly rules): SERVER_NAME, PREFERRED_URL_SCHEME, APPLICATION_ROOT."""
    parsed = urlsplit(base_url)
    app.config.update(
        EP_BASE_URL=base_url.rstrip("/"),
        SERVER_NAME=parsed.netloc,
        PREFERRED_URL_SCHEME=parsed.scheme or "http",
        APPLICATION_ROOT=parsed.path.rstrip("/") or "/",
    )


def _instance_secret(instance):
    """The signing key, generated once into the instance folder and kept private. Processes
    started together on a new instance (or machines sharing it) all end up with the key of
    whichever made the file first."""
    import time

    from . import private

    path = instance / "secret_key"
    if not path.exists():
        private.folder(instance)
        try:
            with private.create(path) as f:
                f.write(secrets.token_hex(32).encode())
        except FileExistsError:
            pass  # another process made it between our look and our write: theirs holds
    for _ in range(100):  # the other process may not have written its one line yet
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.05)
    raise RuntimeError(f"clé secrète vide : {path} (supprimez ce fichier vide, ou EP_SECRET_KEY)")


def create_app(overrides=None):
    """Build the application: configuration, extensions, then blueprints."""
    instance_path = os.path.abspath(
        (overrides or {}).get("EP_INSTANCE_PATH") or os.environ.get("EP_INSTANCE_PATH", "instance")
    )
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    load_config(app, overrides)

    from . import access, db, notices, private, settings, web

    settings.configure(app.config)

    # Personal data lives in the instance folder: private, even in an older installation.
    private.folder(app.instance_path)
    private.tree(app.instance_path)

    from .extensions import csrf, htmx, login_manager

    proxies = app.config["EP_TRUSTED_PROXIES"]
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    db.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    access.init_app(app)
    web.init_app(app)
    notices.init_app(app)

    from .blueprints import (
        accounts,
        audit,
        auth,
        catalogue,
        demandes,
        errors,
        evaluations,
        exports,
        health,
        legal,
        main,
        partners,
        publications,
        reviews,
        statistics,
        threads,
    )
    from .blueprints import breaches as breaches_bp
    from .blueprints import contacts as contacts_bp
    from .blueprints import conventions as conventions_bp
    from .blueprints import information as information_bp
    from .blueprints import rgpd as rgpd_bp

    for module in (
        auth,
        main,
        health,
        partners,
        accounts,
        audit,
        demandes,
        reviews,
        exports,
        statistics,
        publications,
        evaluations,
        catalogue,
        errors,
        legal,
        contacts_bp,
        conventions_bp,
        threads,
        rgpd_bp,
        breaches_bp,
        information_bp,
    ):
        app.register_blueprint(module.bp)
    return app
