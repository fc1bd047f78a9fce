"""The notice the technicien hands to the assuré (issue 14.5), one per convention."""

from flask import Blueprint, abort

from .. import information
from ..access import allow
from ..web import render
from .legal import RECOURSE

bp = Blueprint("information", __name__, url_prefix="/information")


@bp.route("/<int:convention_id>")
@allow("technicien", "gestionnaire", "caisse")
def notice(convention):
    """What is sent to the caisse, why, for how long, the assuré's rights and whom to
    contact: one printable A4 page (RGPD art. 14; `002_…` annexe 3)."""
    if not convention.is_active():
        abort(404)
    return render(
        "information/notice.html",
        notice=information.notice(convention),
        cnil_complaint=RECOURSE["cnil_complaint"],
    )
