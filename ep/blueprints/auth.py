"""Authentication: login, logout, first password from an e-mailed link."""

import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from jinja2_fragments.flask import render_block

from .. import accounts, tokens
from .. import login as login_rules
from ..access import SETUP_STEPS, allow, public
from ..forms import (
    CguForm,
    ChangePasswordForm,
    ForgotForm,
    LoginForm,
    PreferencesForm,
    SetPasswordForm,
)
from ..passwords import RULES_TEXT, policy_errors
from ..rules import RuleError
from ..web import refuse, render

bp = Blueprint("auth", __name__)


def _safe_next(target):
    """Only same-site relative paths, so the login page cannot redirect elsewhere. No control
    character either: a CR or LF cannot go into the Location header (it was a 500), and
    urlsplit silently drops tabs and newlines, so what it checks would not be what is sent."""
    if not target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Log in with username and password; failures are throttled (CNIL 2022-100)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    inactive = None
    if form.validate_on_submit():
        try:
            account = login_rules.authenticate(
                form.username.data, form.password.data, request.remote_addr
            )
        except login_rules.AccountInactive as exc:
            inactive = exc
        except RuleError as exc:
            form.password.errors.append(exc.message)
        else:
            draft = session.get("draft")
            session.clear()
            login_user(account)
            session.permanent = True
            session["seen"] = int(time.time())
            _keep_draft_for(account, draft)
            return redirect(_safe_next(request.args.get("next")) or url_for("main.index"), 303)
    return render("auth/login.html", form=form, inactive=inactive)


def _keep_draft_for(account, draft_id):
    """The form left when the session expired is given back to the same person only."""
    from .. import drafts
    from ..models import Draft

    if not draft_id:
        return
    if Draft.select().where((Draft.id == draft_id) & (Draft.account == account)).exists():
        session["draft"] = draft_id
    else:
        drafts.drop(draft_id)


@bp.route("/session/prolonger", methods=["POST"])
@allow("caisse", "gestionnaire", "technicien", setup=True)
def keep_alive():
    """ "Rester connecté": the idle time starts again (every request does; this one does only
    that). htmx gets an empty answer; without JavaScript, back to the page."""
    if request.headers.get("HX-Request"):
        return "", 204
    back = urlsplit(request.referrer or "")
    page = back.path if back.netloc == request.host and back.path.startswith("/") else None
    flash("Votre session est prolongée.", "success")
    return redirect(page or url_for("main.index"), 303)


@bp.route("/logout", methods=["POST"])
@allow("caisse", "gestionnaire", "technicien", setup=True)
def logout():
    """Log out and end every session of this account on the server side."""
    login_rules.logout(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@public
def set_password(token):
    """Choose one's password from the personal e-mailed link (single use, time-limited)."""
    account = tokens.load(token, "set-password", current_app.config["EP_INVITE_HOURS"])
    return _password_form(account, "set-password")


def _password_form(account, purpose):
    if account is None:
        return render("auth/link_invalid.html"), 410
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(account, form.password.data, form.password_confirm.data)
        except RuleError as exc:
            refuse(form, exc)
        else:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash("Votre mot de passe est enregistré. Vous pouvez vous connecter.", "success")
            return redirect(url_for("auth.login"), 303)
    return render(
        "auth/set_password.html",
        form=form,
        account=account,
        rules=RULES_TEXT,
        token=request.view_args["token"],
        problems=[],
        checked=False,
    )


def _cgu_step(user):
    """First login, or a new CGU version: accept the CGU before anything else."""
    if user.cgu_version != current_app.config["EP_CGU_VERSION"]:
        return redirect(url_for("auth.cgu", next=request.full_path.rstrip("?")), 303)
    return None


def _password_age_step(user):
    """A password older than the configured period must be changed (conventions §2.2)."""
    max_age = timedelta(days=current_app.config["EP_PASSWORD_MAX_AGE_DAYS"])
    if user.password_changed_at and user.password_changed_at < datetime.now() - max_age:
        days = current_app.config["EP_PASSWORD_MAX_AGE_DAYS"]
        flash(f"Votre mot de passe a plus de {days} jours : choisissez-en un nouveau.", "warning")
        return redirect(url_for("auth.change_password"), 303)
    return None


SETUP_STEPS.extend([_cgu_step, _password_age_step])


@bp.route("/cgu", methods=["GET", "POST"])
@allow("caisse", "gestionnaire", "technicien", setup=True)
def cgu():
    """Read and accept the terms of use (first login, then each new version)."""
    form = CguForm()
    version = current_app.config["EP_CGU_VERSION"]
    if form.validate_on_submit():
        accounts.accept_cgu(current_user._get_current_object(), version)
        return redirect(_safe_next(request.args.get("next")) or url_for("main.index"), 303)
    return render("auth/cgu.html", form=form, version=version)


@bp.route("/password", methods=["GET", "POST"])
@allow("caisse", "gestionnaire", "technicien", setup=True)
def change_password():
    """Change one's own password; every other session of the account ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(
                user,
                form.current_password.data,
                form.password.data,
                form.password_confirm.data,
                ip=request.remote_addr,
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            login_user(user)  # the session token rotated: keep only this session
            flash("Votre mot de passe est changé.", "success")
            return redirect(url_for("main.index"), 303)
    return render("auth/change_password.html", form=form, rules=RULES_TEXT)


@bp.route("/forgot", methods=["GET", "POST"])
@public
def forgot():
    """Ask for a reset link; the same answer whether the account exists or not."""
    form = ForgotForm()
    if form.validate_on_submit():
        accounts.send_reset(form.username.data, request.remote_addr or "")
        flash(
            "Si cet identifiant correspond à un compte actif, un lien de réinitialisation vient "
            "d'être envoyé à l'adresse e-mail du compte.",
            "info",
        )
        return redirect(url_for("auth.login"), 303)
    return render("auth/forgot.html", form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public
def reset_password(token):
    """Choose a new password from a reset link (single use, short-lived)."""
    account = tokens.load(token, "reset", current_app.config["EP_RESET_HOURS"])
    return _password_form(account, "reset")


@bp.route("/password-check", methods=["POST"])
@public
def password_check():
    """The password rules, checked as the user types (htmx); nothing is stored."""
    token = request.form.get("token", "")
    account = tokens.load(token, "set-password", current_app.config["EP_INVITE_HOURS"]) or (
        tokens.load(token, "reset", current_app.config["EP_RESET_HOURS"])
    )
    if account is None and current_user.is_authenticated:
        account = current_user
    words = accounts.personal_words(account) if account else []
    password = request.form.get("password", "")
    problems = policy_errors(password, words) if password else []
    return render_block(
        "auth/set_password.html", "password_feedback", problems=problems, checked=bool(password)
    )


@bp.route("/preferences", methods=["GET", "POST"])
@allow("caisse", "gestionnaire", "technicien")
def preferences():
    """My account: notification setting, link to change the password."""
    user = current_user._get_current_object()
    form = PreferencesForm(obj=user)
    if user.profile == "caisse":
        form.notify_by_email.label.text = (
            "Recevoir un e-mail quand un partenaire répond sur une demande que j'ai prise en charge"
        )
    if form.validate_on_submit():
        accounts.set_preferences(user, form.notify_by_email.data)
        flash("Vos préférences sont enregistrées.", "success")
        return redirect(url_for("auth.preferences"), 303)
    return render("auth/preferences.html", form=form)
