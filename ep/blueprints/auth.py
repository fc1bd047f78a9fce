"""Authentication: login, logout, first password from an e-mailed link."""

import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from .. import accounts, tokens
from .. import login as login_rules
from ..access import allow, public
from ..forms import LoginForm, SetPasswordForm
from ..passwords import RULES_TEXT
from ..rules import RuleError
from ..web import refuse, render

bp = Blueprint("auth", __name__)


def _safe_next(target):
    """Only same-site relative paths, so the login page cannot redirect elsewhere."""
    if not target:
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
    if form.validate_on_submit():
        try:
            account = login_rules.authenticate(
                form.username.data, form.password.data, request.remote_addr
            )
        except RuleError as exc:
            form.password.errors.append(exc.message)
        else:
            session.clear()
            login_user(account)
            session.permanent = True
            session["seen"] = int(time.time())
            return redirect(_safe_next(request.args.get("next")) or url_for("main.index"), 303)
    return render("auth/login.html", form=form)


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
    return render("auth/set_password.html", form=form, account=account, rules=RULES_TEXT)
