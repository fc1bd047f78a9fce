"""The audit trail, as a partner's gestionnaires and its caisses may read it (§4.1, §5)."""

from flask import Blueprint
from flask_login import current_user

from ..access import allow
from ..audit import ACTIONS
from ..models import AuditEvent, Convention
from ..web import csv_download, page_number, render

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50


def scoped_events(user):
    """Events about the user's structure, or about the partners and agents of their caisse."""
    query = AuditEvent.select().order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if user.profile == "caisse":
        # Partners whose convention with this caisse has not ended; of their events, those
        # that concern no caisse in particular (accounts, logins) or this one.
        partners = Convention.select(Convention.partner).where(
            (Convention.caisse == user.caisse_id) & Convention.not_ended()
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
