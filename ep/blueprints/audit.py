"""The audit trail, as a partner's gestionnaires and its caisses may read it (§4.1, §5)."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from ..access import allow
from ..audit import ACTIONS
from ..forms import EmptyForm
from ..models import AuditEvent, Convention
from ..web import csv_download, page_number, render

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50


def scoped_events(user):
    """Events about the user's structure, or about the partners and agents of their caisse."""
    query = AuditEvent.select().order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if user.profile == "caisse":
        # Partners whose convention with this caisse is in force (accepted, not ended); of
        # their events, those that concern no caisse in particular (accounts, logins) or this
        # one.
        partners = Convention.select(Convention.partner).where(
            (Convention.caisse == user.caisse_id) & Convention.in_force()
        )
        return query.where(
            (
                AuditEvent.partner.in_(partners)
                & (AuditEvent.caisse.is_null() | (AuditEvent.caisse == user.caisse_id))
            )
            | (AuditEvent.caisse == user.caisse_id)
        )
    return query.where(AuditEvent.partner == user.partner_id)


@bp.route("/")
@allow("gestionnaire", "caisse")
def index():
    """Who did what, on whom, when and from where; newest first."""
    page = page_number()
    query = scoped_events(current_user)
    events = list(query.paginate(page, PER_PAGE))
    has_next = query.paginate(page + 1, PER_PAGE).exists()
    return render("audit/index.html", events=events, page=page, has_next=has_next)


@bp.route("/export.csv")
@allow("gestionnaire", "caisse")
def export():
    """The same events as CSV (UTF-8 with BOM, `;`), for the DPO or an inquiry."""
    user = current_user._get_current_object()

    def rows():
        for e in scoped_events(user).iterator():
            yield (
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor.display_name if e.actor else "Système",
                ACTIONS.get(e.action, e.action),
                e.account.display_name if e.account else "",
                e.account.username if e.account else "",
                e.partner.name if e.partner else "",
                e.detail,
                e.ip,
            )

    header = [
        "date",
        "auteur",
        "action",
        "compte",
        "identifiant",
        "partenaire",
        "detail",
        "adresse",
    ]
    return csv_download("journal.csv", header, rows)


def scoped_notices(user):
    """E-mails about the caisse's partners (conventions in force) or to its own agents."""
    from ..models import Notice

    partners = Convention.select(Convention.partner).where(
        (Convention.caisse == user.caisse_id) & Convention.in_force()
    )
    return Notice.select().where(Notice.partner.in_(partners) | (Notice.caisse == user.caisse_id))


@bp.route("/courriels")
@allow("caisse")
def notices():
    """E-mails waiting to leave or given up: who was to be told, what, how many tries."""
    from ..models import Notice

    waiting = list(
        scoped_notices(current_user)
        .where(Notice.status.in_(("pending", "failed")))
        .order_by(Notice.created_at.desc())
        .limit(500)
    )
    return render("audit/notices.html", notices=waiting, form=EmptyForm())


@bp.route("/courriels/<int:notice_id>/retry", methods=["POST"])
@allow("caisse")
def retry(notice):
    """Try a waiting or failed e-mail again now."""
    from .. import notices as outbox

    outbox.retry(notice)
    flash("Le courriel sera renvoyé dans quelques instants.", "success")
    return redirect(url_for("audit.notices"), 303)
