"""Breach reports (issue 14.3): a structure reports a suspected personal data breach to the
DPO of each caisse concerned within 24 hours; both sides read the reports."""

from datetime import datetime

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from .. import breaches
from ..access import allow, can_report_breach
from ..forms import BreachForm, options
from ..models import now
from ..rules import RuleError
from ..web import refuse, render

bp = Blueprint("breaches", __name__, url_prefix="/violations")


@bp.route("/")
@allow("gestionnaire", "caisse")
def index():
    """The structure's reports; for a caisse agent, those addressed to the caisse."""
    if current_user.profile == "caisse":
        rows = breaches.for_caisse(current_user.caisse_id)
    else:
        rows = breaches.for_partner(current_user.partner_id)
    at = now()
    return render(
        "breaches/index.html",
        rows=[(b, breaches.clock(b.noticed_at, b.created_at)) for b in rows],
        may_report=can_report_breach(current_user),
        at=at,
    )


def _fill(form):
    """The accounts and caisses the structure may name; who each caisse's copy goes to."""
    accounts = breaches.accounts_for(current_user.partner_id)
    form.accounts.choices = options(
        (
            str(a.id),
            f"{a.display_name} ({a.username}), {a.profile_label.lower()}, {a.state_label.lower()}",
        )
        for a in accounts
    )
    caisses = breaches.caisses_for(current_user.partner_id)
    form.caisses.choices = options((str(c.id), c.name) for c in caisses)
    return {c.id: (c, breaches.recipients(c.id)) for c in caisses}


def _preview(form):
    """The clock and the facts the report will carry, from what is typed so far."""
    noticed_at, happened_at = form.moments()
    if noticed_at is None:
        return None
    at = now()
    chosen = {str(v) for v in form.accounts.data or []}
    accounts = [a for a in breaches.accounts_for(current_user.partner_id) if str(a.id) in chosen]
    if happened_at is not None and happened_at > noticed_at:
        happened_at = None
    since = breaches.facts_since(min(noticed_at, at), happened_at)
    return {
        "clock": breaches.clock(noticed_at, at),
        "facts": breaches.facts(accounts, since, at),
    }


@bp.route("/nouveau", methods=["GET", "POST"])
@allow("gestionnaire", "caisse", when=can_report_breach)
def create():
    """Report a suspected breach to the DPO of each caisse concerned (`002_…` annexe 3)."""
    posted = request.method == "POST"
    form = BreachForm(formdata=request.form if posted else (request.args or None))
    caisses = _fill(form)
    if not posted and not request.args:
        moment = datetime.now()
        form.noticed_on.data, form.noticed_time.data = moment.date(), moment.time()
        if len(caisses) == 1:
            form.caisses.data = [str(next(iter(caisses)))]
    if posted and "refresh" not in request.form:
        valid = form.validate()
        try:
            if not valid:  # the rule's refusals too, all at once; nothing written
                breaches.check(current_user, form.data_for_rule())
            else:
                breach = breaches.report(current_user, form.data_for_rule())
                flash(
                    f"Le signalement n° {breach.reference} est enregistré et envoyé au DPO "
                    "de chaque caisse concernée.",
                    "success",
                )
                return redirect(url_for("breaches.show", breach_id=breach.id), 303)
        except RuleError as exc:
            refuse(form, exc)
    return render(
        "breaches/new.html",
        block="breach_facts",
        form=form,
        caisses=caisses,
        preview=_preview(form),
    )


@bp.route("/<int:breach_id>")
@allow("gestionnaire", "caisse")
def show(breach):
    """A report as sent: the facts, the clock, who was told. A caisse agent sees its own
    caisse's copy only."""
    accounts, links = breaches.details(breach)
    if current_user.profile == "caisse":
        links = [link for link in links if link.caisse_id == current_user.caisse_id]
    return render(
        "breaches/show.html",
        breach=breach,
        accounts=accounts,
        links=links,
        clock=breaches.clock(breach.noticed_at, breach.created_at),
    )
