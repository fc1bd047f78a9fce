"""Home page of each profile, and the help page with the convention's contacts."""

from flask import Blueprint, request
from flask_login import current_user
from peewee import fn

from .. import accounts, partners, quotas, retention, reviews
from ..access import allow
from ..models import Account, Convention, Demande
from ..text import search_words
from ..web import page_number, render

bp = Blueprint("main", __name__)

HOME_LIST = 10  # the requests waiting for the structure shown on its home


@bp.route("/")
@allow("caisse", "gestionnaire", "technicien")
def index():
    """The dashboard made for the user's profile."""
    user = current_user
    if user.profile == "caisse":
        return _caisse_home(user)
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
            demande_counts=_demande_counts(partner),
            inactivations=accounts.recent_inactivations(partner),
        )
    waiting = Demande.waiting_for_partner(partner)
    return render(
        "main/index_technicien.html",
        partner=partner,
        conventions=conventions,
        waiting=Demande.listed_in_order(
            user, [d.id for d in waiting.select(Demande.id).limit(HOME_LIST)]
        ),
        waiting_total=waiting.count(),
        unread=Demande.unread_by_technicien(user),
        closing_day=retention.closing_day,
    )


def _demande_counts(partner):
    """The structure's requests counted by status: figures for the gestionnaire, who
    manages accounts and reads no request (`002_…` annexe 2 §2.2)."""
    from ..models import DEMANDE_STATUSES

    counts = dict(
        Demande.select(Demande.status, fn.COUNT(Demande.id))
        .where(Demande.partner == partner)
        .group_by(Demande.status)
        .tuples()
    )
    return [(label, counts.get(status, 0)) for status, label in DEMANDE_STATUSES.items()]


def _caisse_home(agent):
    """The caisse's dashboard: its open requests, then its structures a page at a time,
    found by name, or only those waiting for it (issue 11)."""
    page = page_number()
    search = request.args.get("structure", "")[:100]
    waiting_only = request.args.get("attente") == "1"
    rows, total, waiting = partners.dashboard(
        agent, page=page, words=search_words(search), waiting_only=waiting_only
    )
    size = partners.DASHBOARD_PAGE
    args = {k: v for k, v in (("structure", search), ("attente", waiting_only and "1")) if v}
    from .. import conventions

    return render(
        "main/index_caisse.html",
        renewal_reminder=conventions.reminder(agent.caisse_id),
        rows=rows,
        counts=Demande.queue_counts(agent),
        total=total,
        waiting=waiting,
        waiting_only=waiting_only,
        search=search,
        page=page,
        pages=max(1, -(-total // size)),
        args=args,
    )


@bp.route("/aide")
@allow("caisse", "gestionnaire", "technicien", setup=True)
def help():
    """Who to call for what (§1.3): for each convention in force of the structure, its
    caisse's contacts; the structure's own référents; a caisse agent's own contacts."""
    from .. import contacts

    return render(
        "main/help.html",
        shown=contacts.for_help(current_user),
        what_for=contacts.WHAT_FOR,
        partner_what_for=contacts.PARTNER_WHAT_FOR,
    )
