"""User lists for caisse staff and gestionnaires (CONTRACT.md, "User export format")."""

from datetime import date

from flask import Blueprint, request
from flask_login import current_user

from .. import audit, exports
from ..access import allow
from ..models import Partner
from ..text import plural
from ..web import csv_download, render, xlsx_download

bp = Blueprint("exports", __name__)


def _scope():
    """Partners and states the user asked for, within what the user may see."""
    if current_user.profile == "caisse":
        allowed = [p.id for p in Partner.for_caisse(current_user.caisse_id)]
    else:
        allowed = [current_user.partner_id]
    wanted = request.args.getlist("partner", type=int)
    partner_ids = [p for p in wanted if p in allowed] if wanted else allowed
    states = request.args.getlist("statut") or None
    states = [s for s in (states or []) if s in exports.STATUTS] or None
    audit.record_read(
        "users_exported",
        current_user._get_current_object(),
        partner=current_user.partner_id,
        detail=plural(len(partner_ids), "structure"),
    )
    return partner_ids, states


def _filename(ext):
    return f"utilisateurs-{date.today().isoformat()}.{ext}"


@bp.route("/caisse/export")
@allow("caisse")
def index():
    """Choose partners and states, then download the user list."""
    partners = list(Partner.for_caisse(current_user.caisse_id))
    return render("exports/index.html", partners=partners, statuts=exports.STATUTS)


def _csv():
    partner_ids, states = _scope()
    return csv_download(
        _filename("csv"), exports.USER_HEADER, lambda: exports.user_rows(partner_ids, states)
    )


def _xlsx():
    partner_ids, states = _scope()
    return xlsx_download(
        _filename("xlsx"),
        exports.USER_HEADER,
        lambda: exports.user_rows(partner_ids, states),
        "Utilisateurs",
    )


@bp.route("/caisse/export/utilisateurs.csv")
@allow("caisse")
def users_csv():
    """The accounts of the partners conventioned with the agent's caisse, as CSV."""
    return _csv()


@bp.route("/caisse/export/utilisateurs.xlsx")
@allow("caisse")
def users_xlsx():
    """The same list as XLSX."""
    return _xlsx()


@bp.route("/accounts/export/utilisateurs.csv")
@allow("gestionnaire")
def structure_csv():
    """A gestionnaire exports the structure's own user list, same format."""
    return _csv()


@bp.route("/accounts/export/utilisateurs.xlsx")
@allow("gestionnaire")
def structure_xlsx():
    """The structure's own user list as XLSX."""
    return _xlsx()
