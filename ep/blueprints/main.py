"""Home page of each profile, and the help page with the convention's contacts."""

from flask import Blueprint
from flask_login import current_user

from .. import accounts, quotas, reviews
from ..access import allow
from ..models import Account, Convention, Demande, Partner, Referent
from ..web import render

bp = Blueprint("main", __name__)


@bp.route("/")
@allow("caisse", "gestionnaire", "technicien")
def index():
    """The dashboard made for the user's profile."""
    user = current_user
    if user.profile == "caisse":
        return render("main/index_caisse.html", rows=_dashboard(user))
    partner = user.partner
    conventions = list(
        Convention.select().where(Convention.partner == partner).order_by(Convention.id)
    )
    if user.profile == "gestionnaire":
        usage = {p: quotas.usage(partner, p) for p in ("gestionnaire", "technicien")}
        pending = (
            Account.visible()
            .where((Account.partner == partner) & (Account.state == "invited"))
            .count()
        )
        return render(
            "main/index_gestionnaire.html",
            review=reviews.open_review(partner),
            partner=partner,
            conventions=conventions,
            usage=usage,
            pending=pending,
        )
    return render("main/index_technicien.html", partner=partner, conventions=conventions)


def _dashboard(agent):
    """Per partner: quotas in use, reviews, pending habilitations and open requests."""
    partners = list(Partner.for_caisse(agent.caisse_id))
    pending = {}
    for h in accounts.pending_habilitations([p.id for p in partners]):
        pending.setdefault(h.partner_id, []).append(h)
    rows = []
    for partner in partners:
        rows.append(
            {
                "partner": partner,
                "usage": {p: quotas.usage(partner, p) for p in ("gestionnaire", "technicien")},
                "last_review": reviews.last_completed(partner),
                "open_review": reviews.open_review(partner),
                "pending": pending.get(partner.id, []),
                "open_demandes": Demande.select()
                .where(
                    (Demande.partner == partner)
                    & (Demande.caisse == agent.caisse_id)
                    & (Demande.status != "closed")
                )
                .count(),
            }
        )
    return rows


@bp.route("/aide")
@allow("caisse", "gestionnaire", "technicien", setup=True)
def help():
    """Contacts of the conventions (référents, support, DPO) and how to get help (§1.3)."""
    user = current_user
    if user.profile == "caisse":
        conventions = Convention.select().where(Convention.caisse == user.caisse_id)
    else:
        conventions = Convention.select().where(Convention.partner == user.partner_id)
    conventions = list(conventions.order_by(Convention.id))
    referents = {
        c.id: list(Referent.select().where(Referent.convention == c).order_by(Referent.role))
        for c in conventions
    }
    return render(
        "main/help.html", conventions=conventions, referents=referents, roles=Referent.ROLES
    )
