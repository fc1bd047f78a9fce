"""Accounts of a partner structure: gestionnaires manage techniciens, the caisse manages
gestionnaires and may cut off any account at once (§2.2, §4.1)."""

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from .. import accounts, phones, quotas
from ..access import allow
from ..forms import (
    AccountFilterForm,
    ContactForm,
    DeactivateForm,
    EmptyForm,
    FraudForm,
    IdentityForm,
    ScheduleForm,
    TechnicienForm,
)
from ..models import Account, AuditEvent
from ..rules import NeedsConfirmation, RuleError
from ..text import search_words
from ..web import is_partial, refuse, render

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def filtered(partner, form):
    query = Account.visible().where(Account.partner == partner)
    if form.q.data:
        for word in search_words(form.q.data):
            query = query.where(Account.search_key.contains(word))
    if form.state.data in ("active", "invited", "inactive"):
        query = query.where(Account.state == form.state.data)
    if form.profile.data in ("gestionnaire", "technicien"):
        query = query.where(Account.profile == form.profile.data)
    return list(query.order_by(Account.profile, Account.nom, Account.prenom))


@bp.route("/")
@allow("gestionnaire")
def index():
    """The structure's accounts: search as you type, filters, quotas in use (§2.2)."""
    partner = current_user.partner
    form = AccountFilterForm(request.args)
    rows = filtered(partner, form) if form.validate() else []
    usage = {p: quotas.usage(partner, p) for p in ("gestionnaire", "technicien")}
    return render(
        "accounts/index.html",
        block="account_list",
        partner=partner,
        accounts=rows,
        usage=usage,
        filters=form,
        deactivate_form=DeactivateForm(),
        empty=EmptyForm(),
    )


@bp.route("/new", methods=["GET", "POST"])
@allow("gestionnaire")
def create():
    """Open a technicien account; the person receives a personal link by e-mail (§2.2.1)."""
    form = TechnicienForm()
    confirm = bool(form.confirm_email.data)
    if form.validate_on_submit():
        try:
            account = accounts.create_technicien(
                current_user, form.identity(), form.attested(), form.confirm_email.data
            )
        except NeedsConfirmation as exc:
            refuse(form, exc)
            confirm = True
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(
                f"Le compte {account.username} est créé. Un lien pour choisir son mot de passe "
                f"a été envoyé à {account.email}.",
                "success",
            )
            return redirect(url_for("accounts.index"), 303)
    used, quota = quotas.usage(current_user.partner, "technicien")
    return render("accounts/new.html", form=form, used=used, quota=quota, confirm=confirm)


@bp.route("/<int:account_id>")
@allow("gestionnaire", "caisse")
def show(account):
    """One account: identity, state, history of its lifecycle events."""
    events = list(
        AuditEvent.select()
        .where(AuditEvent.account == account)
        .order_by(AuditEvent.at.desc())
        .limit(50)
    )
    return render(
        "accounts/show.html",
        account=account,
        events=events,
        deactivate_form=DeactivateForm(),
        fraud_form=FraudForm(),
        schedule_form=ScheduleForm(),
        empty=EmptyForm(),
    )


def _after_action(account, message, error=None):
    """The updated row for htmx, otherwise back to where the user came from."""
    if is_partial():
        usage = None
        if account.partner_id:
            usage = {p: quotas.usage(account.partner, p) for p in ("gestionnaire", "technicien")}
        return render(
            "accounts/_row_response.html",
            usage=usage,
            a=account,
            message=message,
            error=error,
            deactivate_form=DeactivateForm(),
            empty=EmptyForm(),
        )
    flash(error or message, "error" if error else "success")
    back = request.form.get("back")
    if back == "list" and current_user.profile == "gestionnaire":
        return redirect(url_for("accounts.index"), 303)
    return redirect(url_for("accounts.show", account_id=account.id), 303)


@bp.route("/<int:account_id>/deactivate", methods=["POST"])
@allow("gestionnaire")
def deactivate(account):
    """A gestionnaire inactivates a technicien of the structure at once, with a reason."""
    form = DeactivateForm()
    if not form.validate():
        errors = form.errors
        message = (
            errors["detail"][0] if "detail" in errors else "Choisissez un motif d'inactivation."
        )
        return _after_action(account, "", error=f"Compte non inactivé : {message}")
    try:
        accounts.deactivate(current_user, account, form.reason_text())
    except RuleError as exc:
        return _after_action(account, "", error=exc.message)
    return _after_action(account, f"Le compte {account.username} est inactivé.")


@bp.route("/<int:account_id>/reactivate", methods=["POST"])
@allow("gestionnaire", "caisse")
def reactivate(account):
    """Reactivate an inactive account, within the quota (§2.2)."""
    try:
        accounts.reactivate(current_user, account)
    except RuleError as exc:
        return _after_action(account, "", error=exc.message)
    return _after_action(account, f"Le compte {account.username} est réactivé.")


@bp.route("/<int:account_id>/invitation", methods=["POST"])
@allow("gestionnaire", "caisse")
def invite(account):
    """Send a fresh set-password link to an account still waiting for its password."""
    if current_user.profile == "gestionnaire" and account.profile != "technicien":
        abort(403)
    try:
        accounts.resend_invitation(current_user, account)
    except RuleError as exc:
        return _after_action(account, "", error=exc.message)
    return _after_action(account, f"Un nouveau lien a été envoyé à {account.email}.")


@bp.route("/<int:account_id>/fraud", methods=["POST"])
@allow("caisse")
def fraud(account):
    """The caisse inactivates any account at once (fraud, loss, theft) and tells the partner."""
    form = FraudForm()
    if not form.validate():
        return _after_action(account, "", error="Indiquez le motif de l'inactivation immédiate.")
    try:
        accounts.deactivate(current_user, account, form.reason.data, fraud=True)
    except RuleError as exc:
        return _after_action(account, "", error=exc.message)
    return _after_action(
        account, f"Le compte {account.username} est inactivé ; les gestionnaires sont prévenus."
    )


@bp.route("/<int:account_id>/schedule", methods=["POST"])
@allow("caisse")
def schedule(account):
    """Set the date at which a gestionnaire will be inactivated, as the partner asked."""
    form = ScheduleForm()
    if not form.validate():
        return _after_action(account, "", error="Indiquez une date valide.")
    try:
        accounts.schedule_inactivation(current_user, account, form.on_date.data, date.today())
    except RuleError as exc:
        return _after_action(account, "", error=exc.message)
    message = f"Inactivation programmée le {form.on_date.data.strftime('%d/%m/%Y')}."
    if form.on_date.data < date.today() + timedelta(days=15):
        message += (
            " Attention : moins de 15 jours de préavis, alors que la convention prévoit "
            "que le partenaire la demande 15 jours avant."
        )
    return _after_action(account, message)


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@allow("caisse", "gestionnaire")
def edit(account):
    """Correct an account's details: the caisse a gestionnaire's identity, on the partner's
    request (§2.2); a gestionnaire a technicien's fonction, e-mail and telephone."""
    if current_user.profile == "caisse":
        if account.profile != "gestionnaire":
            abort(404)
        form = IdentityForm(obj=account)
    else:
        if account.profile != "technicien":
            abort(403)
        form = ContactForm(obj=account)
    if not form.is_submitted():
        form.telephone.data = phones.display(account.telephone)
    confirm = bool(form.confirm_email.data)
    if form.validate_on_submit():
        try:
            changed = accounts.update_identity(
                current_user, account, form.identity(), form.confirm_email.data
            )
        except NeedsConfirmation as exc:
            refuse(form, exc)
            confirm = True
        except RuleError as exc:
            refuse(form, exc)
        else:
            if not changed:
                flash("Aucune modification : les informations étaient déjà celles-ci.", "info")
            elif "email" in changed and account.state == "invited":
                flash(
                    "Les informations du compte sont mises à jour. Un nouveau lien pour choisir "
                    f"le mot de passe a été envoyé à {account.email} ; le précédent ne "
                    "fonctionne plus.",
                    "success",
                )
            else:
                flash("Les informations du compte sont mises à jour.", "success")
            return redirect(url_for("accounts.show", account_id=account.id), 303)
    return render("accounts/edit.html", form=form, account=account, confirm=confirm)
