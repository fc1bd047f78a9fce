"""Home page of each profile, and the help page with the convention's contacts."""

from flask import Blueprint
from flask_login import current_user

from .. import quotas
from ..access import allow
from ..models import Account, Convention, Partner, Referent
from ..web import render

bp = Blueprint("main", __name__)


@bp.route("/")
@allow("caisse", "gestionnaire", "technicien")
def index():
    """The dashboard made for the user's profile."""
    user = current_user
    if user.profile == "caisse":
        partners = list(Partner.for_caisse(user.caisse_id))
        return render("main/index_caisse.html", partners=partners)
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
            partner=partner,
            conventions=conventions,
            usage=usage,
            pending=pending,
        )
    return render("main/index_technicien.html", partner=partner, conventions=conventions)


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
