"""Home page of each profile, and the help page with the convention's contacts."""

from flask import Blueprint
from flask_login import current_user
from peewee import Case, fn

from .. import accounts, quotas, reviews
from ..access import allow
from ..models import Account, Convention, Demande, Partner, Referent, Review
from ..web import render

bp = Blueprint("main", __name__)


@bp.route("/")
@allow("caisse", "gestionnaire", "technicien")
def index():
    """The dashboard made for the user's profile."""
    user = current_user
    if user.profile == "caisse":
        return render("main/index_caisse.html", rows=_dashboard(user), counts=_queue_counts(user))
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
    waiting = list(
        Demande.select()
        .where((Demande.partner == partner) & (Demande.status == "waiting_partner"))
        .order_by(Demande.updated_at)
    )
    unread = (
        Demande.read_by(Demande.select(), user)
        .where(Demande.seen_by(user) & Demande.news_for(user))
        .count()
    )
    return render(
        "main/index_technicien.html",
        partner=partner,
        conventions=conventions,
        waiting=waiting,
        unread=unread,
    )


def _queue_counts(agent):
    """The caisse's open requests: unread by this agent, with a partner's reply to answer,
    taken by nobody, taken by the agent (issue 10.5). One query."""

    def number(condition):
        return fn.SUM(Case(None, [(condition, 1)], 0))

    row = (
        Demande.read_by(
            Demande.select(
                number(Demande.news_for(agent)),
                number(Demande.partner_reply_pending == True),  # noqa: E712 (SQL)
                number(Demande.taken_by.is_null()),
                number(Demande.taken_by == agent.id),
            ),
            agent,
        )
        .where(Demande.seen_by(agent) & Demande.status.in_(Demande.OPEN))
        .tuples()
        .get()
    )
    return dict(
        zip(("unread", "replies", "unassigned", "mine"), (n or 0 for n in row), strict=True)
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


def _dashboard(agent):
    """Per partner: quotas in use, reviews, pending habilitations and open requests.

    A caisse may have hundreds of partners: each figure is one grouped query."""
    partners = list(Partner.for_caisse(agent.caisse_id))
    ids = [p.id for p in partners]
    used = {}
    for partner_id, profile, n in (
        Account.select(Account.partner, Account.profile, fn.COUNT(Account.id))
        .where(Account.partner.in_(ids) & Account.state.in_(("invited", "active")))
        .group_by(Account.partner, Account.profile)
        .tuples()
    ):
        used[(partner_id, profile)] = n
    open_demandes = dict(
        Demande.select(Demande.partner, fn.COUNT(Demande.id))
        .where(
            Demande.partner.in_(ids)
            & (Demande.caisse == agent.caisse_id)
            & Demande.status.in_(Demande.OPEN)
        )
        .group_by(Demande.partner)
        .tuples()
    )
    last_review, open_review = {}, {}
    for review in Review.select().where(Review.partner.in_(ids)).order_by(Review.id):
        if review.status == "completed":
            last_review[review.partner_id] = review
        else:
            open_review[review.partner_id] = review
    awaiting = {pid for pid, review in open_review.items() if reviews.awaiting_caisse(review)}
    cut = Convention.cut_off_partner_ids(agent.caisse_id)
    pending = {}
    for h in accounts.pending_habilitations(ids, agent.caisse_id):
        pending.setdefault(h.partner_id, []).append(h)
    return [
        {
            "partner": p,
            "usage": {
                profile: (used.get((p.id, profile), 0), quotas.limit(p.headcount, profile))
                for profile in ("gestionnaire", "technicien")
            },
            "last_review": last_review.get(p.id),
            "open_review": open_review.get(p.id),
            "pending": pending.get(p.id, []),
            "open_demandes": open_demandes.get(p.id, 0),
            "cut_off": p.id in cut,
            "awaits_caisse": p.id in awaiting,
        }
        for p in partners
    ]


@bp.route("/aide")
@allow("caisse", "gestionnaire", "technicien", setup=True)
def help():
    """Contacts of the conventions (référents, support, DPO) and how to get help (§1.3)."""
    user = current_user
    if user.profile == "caisse":
        conventions = Convention.select().where(Convention.caisse == user.caisse_id)
    else:
        conventions = Convention.select().where(Convention.partner == user.partner_id)
    conventions = list(conventions.where(Convention.state == "accepted").order_by(Convention.id))
    referents = {
        c.id: list(Referent.select().where(Referent.convention == c).order_by(Referent.role))
        for c in conventions
    }
    return render(
        "main/help.html", conventions=conventions, referents=referents, roles=Referent.ROLES
    )
