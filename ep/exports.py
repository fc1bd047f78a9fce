"""User lists and review records as CSV and XLSX (CONTRACT.md, "User export format")."""

from datetime import datetime

from peewee import JOIN

from .models import Account, Partner, Review, ReviewDecision
from .phones import display as phone

USER_HEADER = [
    "partenaire",
    "profil",
    "identifiant",
    "civilite",
    "nom",
    "prenom",
    "fonction",
    "email",
    "telephone",
    "statut",
    "cree_le",
    "cree_par",
    "derniere_connexion",
    "inactive_le",
    "derniere_revue",
]
STATUTS = {"invited": "invite", "active": "actif", "inactive": "inactif"}


def _day(value):
    """The day of a date or date-time: a date cell in the XLSX, `YYYY-MM-DD` in the CSV."""
    if not value:
        return None
    return value.date() if isinstance(value, datetime) else value


def _minute(value):
    """A date-time to the minute: shown 25/11/2026 14:05 (XLSX), `YYYY-MM-DD HH:MM` (CSV)."""
    return value.replace(second=0, microsecond=0) if value else None


def user_rows(partner_ids, states=None):
    """Rows of the user list for these partners, read as plain tuples of the columns shown
    (no model per row: 15,000 accounts in well under a second), in little memory."""
    states = [s for s in (states or STATUTS) if s in STATUTS]
    creator = Account.alias()
    query = (
        Account.select(
            Partner.name,
            Account.profile,
            Account.username,
            Account.civilite,
            Account.nom,
            Account.prenom,
            Account.fonction,
            Account.email,
            Account.telephone,
            Account.state,
            Account.created_at,
            creator.username,
            Account.last_login_at,
            Account.inactivated_at,
            Account.id,
        )
        .join(Partner, on=(Account.partner == Partner.id))
        .switch(Account)
        .join(creator, join_type=JOIN.LEFT_OUTER, on=(Account.created_by == creator.id))
        .where(Account.partner.in_(list(partner_ids)) & Account.state.in_(states))
        .order_by(Partner.name, Account.profile, Account.nom, Account.prenom, Account.id)
    )
    reviewed = {}
    for row in (
        ReviewDecision.select(ReviewDecision.account, Review.completed_at)
        .join(Review)
        .where((Review.status == "completed") & Review.partner.in_(list(partner_ids)))
        .tuples()
        .iterator()
    ):
        account_id, completed = row
        if completed and (account_id not in reviewed or completed > reviewed[account_id]):
            reviewed[account_id] = completed
    for (
        partner,
        profile,
        username,
        civilite,
        nom,
        prenom,
        fonction,
        email,
        telephone,
        state,
        created_at,
        creator_username,
        last_login_at,
        inactivated_at,
        account_id,
    ) in query.tuples().iterator():
        yield [
            partner,
            profile,
            username,
            civilite,
            nom,
            prenom,
            fonction,
            email,
            phone(telephone),  # as written, so that a spreadsheet keeps its leading 0
            STATUTS[state],
            _day(created_at),
            creator_username or "",
            _day(last_login_at),
            _day(inactivated_at),
            _day(reviewed.get(account_id)),
        ]


REVIEW_HEADER = [
    "partenaire",
    "revue_demandee_le",
    "terminee_le",
    "terminee_par",
    "profil",
    "identifiant",
    "nom",
    "prenom",
    "decision",
    "motif",
    "attestations_confirmees",
    "decide_par",
    "decide_le",
]


def review_rows(review):
    completed_by = review.completed_by.display_name if review.completed_by else ""
    for d in review.decisions.order_by(ReviewDecision.id):
        a = d.account
        yield [
            review.partner.name,
            _day(review.requested_at),
            _day(review.completed_at),
            completed_by,
            a.profile,
            a.username,
            a.nom,
            a.prenom,
            "conserver" if d.decision == "keep" else "inactiver",
            d.reason,
            "oui" if d.attestations_confirmed else "non",
            d.decided_by.display_name,
            _minute(d.decided_at),
        ]
