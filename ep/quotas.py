"""Quotas of accounts per partner, set by its effectif (§2.2.1, `002_…` annexe 1)."""

from .models import Account
from .rules import RuleError

# (largest effectif of the band, gestionnaires at most, techniciens at most)
BANDS = [(10, 2, 5), (25, 3, 15), (None, 5, 25)]

LABELS = {
    "gestionnaire": ("gestionnaire", "gestionnaires"),
    "technicien": ("technicien", "techniciens"),
}


def limit(headcount, profile):
    """How many accounts of this profile a partner of this effectif may hold."""
    for top, gestionnaires, techniciens in BANDS:
        if top is None or headcount <= top:
            return gestionnaires if profile == "gestionnaire" else techniciens
    raise AssertionError("unreachable")


def usage(partner, profile):
    """(accounts holding a place, quota) for a partner and a profile."""
    return Account.counted_for_quota(partner, profile).count(), limit(partner.headcount, profile)


def check_room(partner, profile):
    """Refuse when the partner has no free place left for one more account of this profile."""
    used, quota = usage(partner, profile)
    if used >= quota:
        singular, plural = LABELS[profile]
        raise RuleError(
            f"Quota atteint : une structure de {partner.headcount} membre"
            f"{'s' if partner.headcount > 1 else ''} peut avoir au plus {quota} {plural} "
            f"actifs ou invités ({used} aujourd'hui). Pour libérer une place, inactivez un "
            f"compte {singular} qui n'est plus utilisé, ou demandez à la caisse de mettre à jour "
            "l'effectif de la structure."
        )
