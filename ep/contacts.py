"""Référents and contacts, kept by their owners (issue 12.4): a structure's gestionnaires
keep its référents and DPO; a caisse's agents keep its référents, support, DPO and contacts
per theme (`004_…` annexe 3, "liste des référents", "vecteurs de contact"). The help page
shows, for each convention in force, who to call for what (§1.3).

For other features: `Caisse.dpo_contacts()` / `Partner.dpo_contacts()` (models), and
`of_caisse`, `of_partner`, `for_help` here.
"""

from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email

from . import audit, phones
from .db import write
from .departements import CODES
from .models import Caisse, Contact, Convention, ConventionOffer, Offer, now
from .rules import RuleError

MAX_PER_OWNER = 50  # a help page, not a directory

# Who to call for what, as the help page says it.
WHAT_FOR = {
    "referent": "le suivi du partenariat : convention, comptes gestionnaires, questions sur "
    "l'Espace Partenaires",
    "support": "une difficulté technique ou d'utilisation de l'Espace Partenaires",
    "dpo": "les données personnelles, et toute violation de données suspectée (à signaler "
    "dans les 24 heures)",
    "theme": "",
}
PARTNER_WHAT_FOR = {
    "referent": "le suivi du partenariat au sein de la structure",
    "dpo": "les données personnelles traitées par la structure",
}

TEXT_FIELDS = {"name": 120, "function": 120, "theme": 120}


def of_caisse(caisse):
    """The caisse's contacts, in the order of the roles."""
    return list(Contact.owned_by(caisse=caisse))


def of_partner(partner):
    """The structure's référents and DPO."""
    return list(Contact.owned_by(partner=partner))


def _owner(actor):
    """(column, id) of what the actor keeps the contacts of: its caisse, or its structure
    for a gestionnaire; RuleError for anyone else."""
    if actor.profile == "caisse" and actor.caisse_id:
        return "caisse", actor.caisse_id
    if actor.profile == "gestionnaire" and actor.partner_id:
        return "partner", actor.partner_id
    raise RuleError(
        "Seuls les gestionnaires de la structure et les agents de la caisse tiennent "
        "leurs contacts à jour."
    )


def roles_for(actor):
    """The roles the actor may give: a structure has référents and a DPO; a caisse also has
    its support and contacts per theme."""
    kind, _ = _owner(actor)
    return Contact.CAISSE_ROLES if kind == "caisse" else Contact.PARTNER_ROLES


def _check_owner(actor, contact):
    kind, owner_id = _owner(actor)
    if getattr(contact, f"{kind}_id") != owner_id:
        raise RuleError("Ce contact n'est pas l'un des vôtres.")


def _clean(actor, fields):
    """The contact's stored fields from the typed ones; RuleError by the field."""
    kind, _ = _owner(actor)
    role = (fields.get("role") or "").strip()
    if role not in roles_for(actor):
        raise RuleError("Choisissez un rôle dans la liste.", field="role")
    clean = {"role": role}
    for name, size in TEXT_FIELDS.items():
        value = " ".join((fields.get(name) or "").split())
        if len(value) > size:
            raise RuleError(f"{size} caractères au plus.", field=name)
        clean[name] = value
    if not clean["name"]:
        raise RuleError("Indiquez le nom de la personne ou du service.", field="name")
    clean["phone"] = phones.normalise(fields.get("phone"), field="phone")
    email = (fields.get("email") or "").strip()
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise RuleError("Adresse e-mail invalide.", field="email") from exc
        if len(email) > Contact.email.max_length:
            raise RuleError("Adresse e-mail trop longue.", field="email")
    clean["email"] = email
    if not clean["phone"] and not clean["email"]:
        raise RuleError(
            "Indiquez au moins un téléphone ou une adresse e-mail : un contact doit pouvoir "
            "être joint.",
            field="phone",
        )
    offer = fields.get("offer")
    if role == "theme":
        # The caisse's own catalogue only (issue 12.3): another caisse's offer is no offer.
        offer = (
            Offer.get_or_none((Offer.id == offer) & (Offer.caisse == actor.caisse_id))
            if offer
            else None
        )
        clean["offer"] = offer.id if offer else None
        if not clean["theme"] and offer is None:
            raise RuleError("Indiquez le thème de ce contact, ou l'offre qu'il suit.", "theme")
    else:
        clean["theme"], clean["offer"] = "", None
    return clean


def add(actor, fields):
    """A gestionnaire adds a référent or DPO of the structure; a caisse agent, a contact of
    the caisse. Audited."""
    kind, owner_id = _owner(actor)
    clean = _clean(actor, fields)
    with write():
        if Contact.select().where(getattr(Contact, kind) == owner_id).count() >= MAX_PER_OWNER:
            raise RuleError(f"{MAX_PER_OWNER} contacts au plus : retirez ceux qui ne servent plus.")
        contact = Contact.create(**{kind: owner_id}, **clean)
        _record("contact_added", actor, contact)
    return contact


def update(actor, contact, fields):
    """The owner changes one of its contacts. Audited."""
    _check_owner(actor, contact)
    clean = _clean(actor, fields)
    with write():
        for key, value in clean.items():
            setattr(contact, key, value)
        contact.updated_at = now()
        contact.save()
        _record("contact_updated", actor, contact)
    return contact


def remove(actor, contact):
    """The owner removes one of its contacts. Audited."""
    _check_owner(actor, contact)
    with write():
        contact.delete_instance()
        _record("contact_removed", actor, contact)


def _record(action, actor, contact):
    detail = f"{contact.role_label} : {contact.name}"
    audit.record(action, actor=actor, partner=contact.partner_id, detail=detail[:300])


def set_departement(agent, code):
    """A caisse agent says where the caisse is: its deadlines in working days count that
    département's public holidays ('' for the national list) (issue 12.6). Audited."""
    code = (code or "").strip().upper()
    if agent.profile != "caisse":
        raise RuleError("Seul un agent de la caisse indique son département.")
    if code and code not in CODES:
        raise RuleError("Choisissez un département dans la liste.", field="departement")
    with write():
        caisse = Caisse.get_by_id(agent.caisse_id)
        if caisse.departement == code:
            return caisse
        caisse.departement = code
        caisse.save()
        audit.record("caisse_departement", actor=agent, detail=code or "liste nationale")
    return caisse


@dataclass
class CaisseContacts:
    """A caisse's contacts as one of its partner structures sees them."""

    convention: Convention
    caisse: Caisse
    contacts: list = field(default_factory=list)


@dataclass
class Help:
    """The help page's contacts: the user's own organisation's, and for a structure, those
    of each caisse whose convention is in force."""

    own: list
    caisses: list


def for_help(user, today=None):
    """Who the user calls for what. A structure's users: the structure's référents, then
    for each convention in force (accepted, not ended), the caisse's contacts; a thematic
    contact tied to an offer only where that offer is active. Ended, refused or pending
    conventions drop off. A caisse agent: the caisse's own contacts."""
    today = today or date.today()
    if user.profile == "caisse":
        return Help(own=of_caisse(user.caisse_id), caisses=[])
    conventions = list(
        Convention.select(Convention, Caisse)
        .join(Caisse)
        .where((Convention.partner == user.partner_id) & Convention.in_force(today))
        .order_by(Convention.id)
    )
    ids = [c.id for c in conventions]
    active = {
        (convention_id, offer_id)
        for convention_id, offer_id in ConventionOffer.select(
            ConventionOffer.convention, ConventionOffer.offer
        )
        .where(ConventionOffer.convention.in_(ids))
        .tuples()
    }
    by_caisse = {}
    if conventions:
        query = Contact.select(Contact).where(
            Contact.caisse.in_([c.caisse_id for c in conventions])
        )
        for contact in query.order_by(Contact.id):
            by_caisse.setdefault(contact.caisse_id, []).append(contact)
    order = list(Contact.ROLES)
    shown = []
    for convention in conventions:
        mine = [
            c
            for c in by_caisse.get(convention.caisse_id, [])
            if c.offer_id is None or (convention.id, c.offer_id) in active
        ]
        mine.sort(key=lambda c: (order.index(c.role), c.theme, c.id))
        shown.append(CaisseContacts(convention, convention.caisse, mine))
    return Help(own=of_partner(user.partner_id), caisses=shown)
