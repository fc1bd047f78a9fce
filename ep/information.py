"""The notice a technicien hands to the assuré (issue 14.5; RGPD art. 14): what the
structure sends to the caisse, why, for how long, the person's rights and whom to contact,
for one convention (structure × caisse), on one printed A4 page.

The periods are the settings the nightly rules apply (ep/retention.py, ep/housekeeping.py);
the contacts are those the structure and the caisse keep (ep/contacts.py), a few of each so
that the page stays one page (docs/decisions.md, "La notice remise à l'assuré").
"""

from dataclasses import dataclass, field

from . import settings
from .models import Caisse, Contact, Partner

PARTNER_CONTACTS = 3  # the structure's DPO first, then its référents
CAISSE_CONTACTS = 2  # the caisse's DPO; its référents when it gave no DPO


def duration_fr(days):
    """'1 an', '2 ans', '6 mois', '45 jours'."""
    if days % 365 == 0:
        years = days // 365
        return f"{years} an{'s' if years > 1 else ''}"
    if days % 30 == 0:
        return f"{days // 30} mois"
    return f"{days} jour{'s' if days > 1 else ''}"


@dataclass
class Notice:
    partner: Partner
    caisse: Caisse
    partner_contacts: list = field(default_factory=list)
    caisse_contacts: list = field(default_factory=list)
    caisse_has_dpo: bool = False
    retention: dict = field(default_factory=dict)


def _ordered(contacts, first):
    return sorted(contacts, key=lambda c: (c.role != first, c.id))


def notice(convention):
    """What the notice of `convention` says: its two parties, their contacts, the periods."""
    partner = Partner.get_by_id(convention.partner_id)
    caisse = Caisse.get_by_id(convention.caisse_id)
    mine = [c for c in Contact.owned_by(partner=partner.id) if c.role in ("dpo", "referent")]
    dpo = list(caisse.dpo_contacts())
    theirs = dpo or list(Contact.owned_by(caisse=caisse.id).where(Contact.role == "referent"))
    days = {
        name: settings.get(f"EP_{name.upper()}", 0) or 0
        for name in (
            "retention_closed_days",
            "waiting_partner_close_days",
            "journal_retention_days",
        )
    }
    return Notice(
        partner=partner,
        caisse=caisse,
        partner_contacts=_ordered(mine, "dpo")[:PARTNER_CONTACTS],
        caisse_contacts=theirs[:CAISSE_CONTACTS],
        caisse_has_dpo=bool(dpo),
        retention={name: (duration_fr(n) if n > 0 else "") for name, n in days.items()},
    )
