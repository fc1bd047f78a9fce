"""User lists and review records as CSV and XLSX (CONTRACT.md, "User export format")."""

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
    return value.strftime("%Y-%m-%d") if value else ""


def user_rows(partner_ids, states=None, batch=2000):
    """Rows of the user list for these partners, in batches (little memory for long lists)."""
    states = [s for s in (states or STATUTS) if s in STATUTS]
    creator = Account.alias()
    query = (
        Account.select(
            Account, Partner.name.alias("partner_name"), creator.username.alias("creator_username")
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
    for a in query.objects().iterator():
        yield [
            a.partner_name,
            a.profile,
            a.username,
            a.civilite,
            a.nom,
            a.prenom,
            a.fonction,
            a.email,
            phone(a.telephone),  # as written, so that a spreadsheet keeps its leading 0
            STATUTS[a.state],
            _day(a.created_at),
            a.creator_username or "",
            _day(a.last_login_at),
            _day(a.inactivated_at),
            _day(reviewed.get(a.id)),
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
            d.decided_at.strftime("%Y-%m-%d %H:%M"),
        ]
