"""The accounts of a partner structure, as its gestionnaires manage them (§2.2)."""

from flask import Blueprint
from flask_login import current_user

from .. import quotas
from ..access import allow
from ..models import Account
from ..web import render

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@bp.route("/")
@allow("gestionnaire")
def index():
    """The structure's accounts with state, last login and creator, and the quotas in use."""
    partner = current_user.partner
    accounts = list(
        Account.visible()
        .where(Account.partner == partner)
        .order_by(Account.profile, Account.nom, Account.prenom)
    )
    usage = {p: quotas.usage(partner, p) for p in ("gestionnaire", "technicien")}
    return render("accounts/index.html", partner=partner, accounts=accounts, usage=usage)
