"""Partner structures and their conventions with a caisse (§1, §2.1)."""

from datetime import date

from . import audit
from .db import write
from .models import Account, Convention, ConventionOffer, Offer, Partner, Referent, now
from .rules import RuleError


def create_partner(actor, name, headcount, convention_fields, offer_codes):
    """A caisse agent records a partner and its convention with the agent's caisse.

    A partner may be conventioned with several caisses: when a structure of that name is
    already known (through another caisse), the convention is added to it; when this caisse's
    own convention with it has ended, the new one replaces it.
    """
    name = name.strip()
    with write():
        partner = Partner.get_or_none(Partner.name == name)
        if partner is None:
            partner = Partner.create(name=name, headcount=headcount)
            audit.record("partner_created", actor=actor, partner=partner, detail=name)
        existing = Convention.get_or_none(
            (Convention.partner == partner) & (Convention.caisse == actor.caisse_id)
        )
        if existing is not None and (existing.ends_on is None or existing.ends_on > date.today()):
            raise RuleError(
                "Cette structure a déjà une convention en cours avec votre caisse.", field="name"
            )
        if existing is None:
            _create_convention(actor, partner, convention_fields, offer_codes)
        else:  # a new convention after the end of the previous one
            from .housekeeping import purge_convention

            purge_convention(existing, date.today())  # the old one's personal data goes first
            _check_dates(convention_fields)
            for key, value in convention_fields.items():
                setattr(existing, key, value)
            existing.save()
            _set_offers(existing, offer_codes)
            audit.record("convention_created", actor=actor, partner=partner, detail="renouvelée")
    return partner


def _check_dates(fields):
    if fields["starts_on"] < fields["signed_on"]:
        raise RuleError("La convention ne peut pas prendre effet avant sa signature.", "starts_on")
    if fields.get("ends_on") and fields["ends_on"] <= fields["starts_on"]:
        raise RuleError("La date de fin doit suivre la date d'effet.", field="ends_on")


def _create_convention(actor, partner, fields, offer_codes):
    _check_dates(fields)
    convention = Convention.create(partner=partner, caisse=actor.caisse_id, **fields)
    _set_offers(convention, offer_codes)
    audit.record("convention_created", actor=actor, partner=partner)
    return convention


def _set_offers(convention, offer_codes, target_hours=None):
    ConventionOffer.delete().where(ConventionOffer.convention == convention).execute()
    for offer in Offer.select().where(Offer.code.in_(list(offer_codes))):
        hours = (target_hours or {}).get(offer.code)
        ConventionOffer.create(convention=convention, offer=offer, target_hours=hours)


def update_convention(actor, convention, fields, offer_codes, headcount=None, target_hours=None):
    """Change a convention's dates, activated offers, documents flag, deadline, and the
    caisse's target time for a first answer per offer (hours)."""
    target_hours = target_hours or {}
    for hours in target_hours.values():
        if hours is not None and not 1 <= hours <= 2000:
            raise RuleError("Le délai cible s'exprime en heures, entre 1 et 2000.", field="offers")
    with write():
        _check_dates(fields)
        for key, value in fields.items():
            setattr(convention, key, value)
        convention.save()
        _set_offers(convention, offer_codes, target_hours)
        if headcount is not None and headcount != convention.partner.headcount:
            partner = convention.partner
            partner.headcount = headcount
            partner.save()
        audit.record("convention_updated", actor=actor, partner=convention.partner_id)
    return convention


def add_referent(actor, convention, fields):
    with write():
        referent = Referent.create(convention=convention, **fields)
        audit.record(
            "convention_updated",
            actor=actor,
            partner=convention.partner_id,
            detail="référent ajouté",
        )
    return referent


def remove_referent(actor, referent):
    with write():
        partner_id = referent.convention.partner_id
        referent.delete_instance()
        audit.record(
            "convention_updated", actor=actor, partner=partner_id, detail="référent retiré"
        )


def cut_off(actor, partner, reason):
    """The caisse cuts off a whole partner structure at once (§4.1): nobody of it can log in."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("Indiquez le motif de la coupure.", field="reason")
    if partner.cut_off_at is not None:
        raise RuleError("L'accès de cette structure est déjà coupé.")
    with write():
        partner.cut_off_at = now()
        partner.cut_off_by = actor.caisse_id
        partner.save()
        for account in Account.select().where(Account.partner == partner):
            account.rotate_session()
            account.save()
        audit.record("partner_cut_off", actor=actor, partner=partner, detail=reason[:300])
    from .accounts import notify_partner

    notify_partner(
        partner.id,
        "Accès de votre structure suspendu",
        "La caisse a suspendu l'accès de votre structure à l'Espace Partenaires, pour le motif "
        f"suivant : {reason}.\n\nContactez votre caisse pour le rétablir.",
    )


def restore(actor, partner):
    """The caisse restores a partner's access after a cut-off."""
    if partner.cut_off_at is None:
        raise RuleError("L'accès de cette structure n'est pas coupé.")
    cutter_still_there = (
        Convention.select()
        .where(
            (Convention.partner == partner)
            & (Convention.caisse == partner.cut_off_by_id)
            & Convention.not_ended()
        )
        .exists()
    )
    if partner.cut_off_by_id not in (None, actor.caisse_id) and cutter_still_there:
        raise RuleError("Seule la caisse qui a coupé l'accès peut le rétablir.")
    with write():
        partner.cut_off_at = None
        partner.cut_off_by = None
        partner.save()
        audit.record("partner_restored", actor=actor, partner=partner)
