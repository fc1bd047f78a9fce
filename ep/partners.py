"""Partner structures and their conventions with a caisse (§1, §2.1)."""

from datetime import date

from peewee import fn

from . import audit, notices, quotas, reviews
from .accounts import notify_partner, pending_habilitations
from .db import lock, write
from .models import (
    Account,
    Caisse,
    Convention,
    ConventionMotifOff,
    ConventionOffer,
    Demande,
    HabilitationRequest,
    Motif,
    Offer,
    Partner,
    Review,
    now,
)
from .rules import RuleError
from .text import fold


def normalise_siret(raw):
    """The 14 digits of a SIRET typed with or without spaces; RuleError when it is not one
    (length, Luhn key of the SIREN and of the whole number, checked by python-stdnum)."""
    from stdnum import exceptions
    from stdnum.fr import siret

    try:
        return siret.validate(raw or "")
    except exceptions.InvalidLength as exc:
        raise RuleError("Le SIRET compte 14 chiffres.", field="siret") from exc
    except exceptions.ValidationError as exc:
        raise RuleError(
            "Ce numéro n'est pas un SIRET valide : vérifiez-le sur l'avis de situation SIRENE "
            "de la structure.",
            field="siret",
        ) from exc


def create_partner(
    actor, name, siret, headcount, convention_fields, offer_codes, today=None, motif_keys=None
):
    """A caisse agent records a structure, identified by its SIRET, and its convention, with
    the offers it activates and, of their motifs, those open to the structure (`motif_keys`,
    "offer:motif"; None: all of them).

    A structure may be conventioned with several caisses. When one with this SIRET already
    exists, the convention waits for one of its gestionnaires to accept it: until then the
    caisse learns nothing but its name. Returns (partner, convention).
    """
    today = today or date.today()
    name = (name or "").strip()
    siret = normalise_siret(siret)
    with write():
        partner = Partner.get_or_none(Partner.siret == siret)
        if partner is None:
            partner = Partner.create(name=name, siret=siret, headcount=headcount)
            audit.record("partner_created", actor=actor, partner=partner, detail=siret)
            convention = _create_convention(
                actor, partner, convention_fields, offer_codes, motif_keys=motif_keys
            )
            return partner, convention
        existing = Convention.get_or_none(
            (Convention.partner == partner) & (Convention.caisse == actor.caisse_id)
        )
        if existing is not None and existing.state == "pending":
            raise RuleError(
                "Votre caisse a déjà proposé une convention à cette structure : elle attend "
                "l'accord de ses gestionnaires.",
                field="siret",
            )
        if existing is not None and existing.state == "accepted" and not existing.has_ended(today):
            raise RuleError(
                "Cette structure a déjà une convention en cours avec votre caisse.", field="siret"
            )
        # Anything else (a new caisse, an ended or refused convention) must be accepted by
        # the structure: a caisse never reaches a structure's accounts on its own say-so.
        if existing is not None:
            from .housekeeping import purge_convention

            purge_convention(existing, today)  # the old one's personal data goes first
            existing.delete_instance()
        convention = _create_convention(
            actor, partner, convention_fields, offer_codes, state="pending", motif_keys=motif_keys
        )
        notify_partner(
            partner.id,
            "Une caisse propose une convention à votre structure",
            f"{_caisse_name(actor)} a enregistré une convention de partenariat avec votre "
            "structure sur l'Espace Partenaires. Elle n'aura accès à vos comptes et à vos "
            "demandes qu'après l'accord d'un gestionnaire de votre structure. Si votre "
            "structure n'a pas signé de convention avec cette caisse, refusez-la et prévenez "
            "votre caisse habituelle.",
            endpoint="main.index",
            link_label="Pour l'accepter ou la refuser",
        )
    return partner, convention


def _caisse_name(actor):
    return Caisse.get_by_id(actor.caisse_id).name


def pending_for(partner):
    """Conventions proposed to the structure and waiting for its answer."""
    return Convention.select().where(
        (Convention.partner == partner) & (Convention.state == "pending")
    )


def accept_convention(actor, convention):
    """A gestionnaire of the structure accepts a caisse's convention: from then on that
    caisse manages the structure's accounts and receives its requests."""
    _decide(actor, convention, "accepted")


def refuse_convention(actor, convention):
    """A gestionnaire refuses a convention the structure did not sign: the caisse keeps
    seeing nothing of the structure."""
    _decide(actor, convention, "refused")


def _decide(actor, convention, state):
    if actor.profile != "gestionnaire" or actor.partner_id != convention.partner_id:
        raise RuleError("Seul un gestionnaire de la structure répond à cette convention.")
    with write():
        convention = lock(Convention.select().where(Convention.id == convention.id)).get()
        if convention.state != "pending":
            raise RuleError("Cette convention a déjà reçu une réponse.")
        convention.state = state
        convention.decided_at = now()
        convention.decided_by_id = actor.id
        convention.save()
        audit.record(
            "convention_accepted" if state == "accepted" else "convention_refused",
            actor=actor,
            partner=convention.partner_id,
            caisse=convention.caisse_id,
        )
        agent = Account.get_or_none(Account.id == convention.proposed_by_id)
        if agent is not None and agent.state == "active":
            partner = Partner.get_by_id(convention.partner_id)
            verdict = "acceptée" if state == "accepted" else "refusée"
            then = (
                "Vous pouvez désormais habiliter ses gestionnaires et suivre ses comptes."
                if state == "accepted"
                else "Si c'est une erreur, contactez la structure."
            )
            notices.queue(
                agent.email,
                "message",
                f"Convention {verdict} par {partner.name}",
                caisse=convention.caisse_id,
                text=f"La structure {partner.name} a {verdict[:-1]} la convention que vous avez "
                f"enregistrée sur l'Espace Partenaires. {then}",
                endpoint="partners.index",
            )


def _check_dates(fields):
    if fields["starts_on"] < fields["signed_on"]:
        raise RuleError("La convention ne peut pas prendre effet avant sa signature.", "starts_on")
    if fields.get("ends_on") and fields["ends_on"] <= fields["starts_on"]:
        raise RuleError("La date de fin doit suivre la date d'effet.", field="ends_on")


def _create_convention(actor, partner, fields, offer_codes, state="accepted", motif_keys=None):
    _check_dates(fields)
    convention = Convention.create(
        partner=partner, caisse=actor.caisse_id, state=state, proposed_by_id=actor.id, **fields
    )
    _set_offers(convention, offer_codes)
    _check_motifs(convention, offer_codes, motif_keys)
    _set_motifs(convention, motif_keys)
    audit.record("convention_created", actor=actor, partner=partner)
    return convention


def _set_offers(convention, offer_codes, target_hours=None):
    """The offers of the caisse's catalogue activated for this convention, with their target
    time if the convention sets its own (None: the catalogue's). The links to offers the
    catalogue withdrew stay: proposed again, they are active again where they were."""
    offers = list(convention_catalogue(convention.caisse_id))
    ConventionOffer.delete().where(
        (ConventionOffer.convention == convention)
        & ConventionOffer.offer.in_([o.id for o in offers])
    ).execute()
    for offer in offers:
        if offer.code in offer_codes:
            hours = (target_hours or {}).get(offer.code)
            ConventionOffer.create(convention=convention, offer=offer, target_hours=hours)


def convention_catalogue(caisse_id):
    """The offers a convention of this caisse may activate: its catalogue's, in order."""
    return (
        Offer.select()
        .where((Offer.caisse == caisse_id) & (Offer.active == True))  # noqa: E712 (SQL)
        .order_by(Offer.position, Offer.id)
    )


def convention_motifs(caisse_id):
    """The motifs a convention of this caisse may open, with their offer: [(offer,
    [motifs])] of the catalogue's proposed offers and motifs."""
    grouped = {o.id: (o, []) for o in convention_catalogue(caisse_id)}
    motifs = (
        Motif.select()
        .where(Motif.offer.in_(list(grouped)) & (Motif.active == True))  # noqa: E712 (SQL)
        .order_by(Motif.position, Motif.id)
    )
    for motif in motifs:
        motif.offer = grouped[motif.offer_id][0]
        grouped[motif.offer_id][1].append(motif)
    return list(grouped.values())


def motif_keys_on(convention):
    """The keys ("offer:motif") of the proposed motifs the caisse has not switched off for
    this convention, whether their offer is activated or not."""
    off = {
        row.motif_id
        for row in ConventionMotifOff.select().where(ConventionMotifOff.convention == convention)
    }
    return {
        m.key
        for _, motifs in convention_motifs(convention.caisse_id)
        for m in motifs
        if m.id not in off
    }


def _check_motifs(convention, offer_codes, motif_keys):
    """An activated offer opens at least one of its motifs."""
    if motif_keys is None:
        return
    for offer, motifs in convention_motifs(convention.caisse_id):
        if offer.code in offer_codes and motifs and not any(m.key in motif_keys for m in motifs):
            raise RuleError(
                f"Cochez au moins un motif de l'offre « {offer.label} », ou ne l'activez pas.",
                field="motifs",
            )


def _set_motifs(convention, motif_keys):
    """The proposed motifs not in `motif_keys` are switched off for this convention (those
    the catalogue withdrew keep their setting); None leaves the setting as it is. Returns
    the keys switched off and on."""
    if motif_keys is None:
        return set(), set()
    motifs = [m for _, ms in convention_motifs(convention.caisse_id) for m in ms]
    before = motif_keys_on(convention)
    ConventionMotifOff.delete().where(
        (ConventionMotifOff.convention == convention)
        & ConventionMotifOff.motif.in_([m.id for m in motifs])
    ).execute()
    off = [m for m in motifs if m.key not in motif_keys]
    if off:
        ConventionMotifOff.insert_many(
            [{"convention": convention.id, "motif": m.id} for m in off]
        ).execute()
    keys = {m.key for m in motifs}
    return before - set(motif_keys), (set(motif_keys) & keys) - before


def update_convention(
    actor,
    convention,
    fields,
    offer_codes,
    headcount=None,
    target_hours=None,
    siret=None,
    motif_keys=None,
):
    """Change a convention's dates, activated offers and, of their motifs, those open to the
    structure (`motif_keys`, "offer:motif"; None leaves them as they are), documents flag,
    deadline, and the caisse's target time for a first answer per offer (hours; None: the
    catalogue's). A structure recorded before SIRETs were asked gets its SIRET here, once."""
    target_hours = target_hours or {}
    partner = convention.partner
    if siret and partner.siret is None:
        siret = normalise_siret(siret)
        if Partner.select().where(Partner.siret == siret).exists():
            raise RuleError(
                "Ce SIRET est déjà celui d'une autre structure : vérifiez-le.", field="siret"
            )
        partner.siret = siret
    for hours in target_hours.values():
        if hours is not None and not 1 <= hours <= 2000:
            raise RuleError("Le délai cible s'exprime en heures, entre 1 et 2000.", field="offers")
    with write():
        _check_dates(fields)
        _check_motifs(convention, offer_codes, motif_keys)
        for key, value in fields.items():
            setattr(convention, key, value)
        convention.save()
        _set_offers(convention, offer_codes, target_hours)
        switched_off, switched_on = _set_motifs(convention, motif_keys)
        if headcount is not None:
            partner.headcount = headcount
        partner.save()
        detail = "offres : " + (", ".join(sorted(offer_codes)) or "aucune")
        if switched_off:
            detail += " ; motifs fermés : " + ", ".join(sorted(switched_off))
        if switched_on:
            detail += " ; motifs ouverts : " + ", ".join(sorted(switched_on))
        audit.record(
            "convention_updated", actor=actor, partner=convention.partner_id, detail=detail
        )
    return convention


def cut_off(actor, convention, reason):
    """The caisse cuts off its channel with a structure at once (§4.1): the structure's users
    can no longer work with this caisse; their channels with other caisses stay open."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("Indiquez le motif de la coupure.", field="reason")
    if convention.cut_off_at is not None:
        raise RuleError("L'accès de cette structure à votre caisse est déjà coupé.")
    caisse = _caisse_name(actor)
    with write():
        convention.cut_off_at = now()
        convention.cut_off_reason = reason[:300]
        convention.save()
        partner = convention.partner
        if (
            not Convention.select()
            .where((Convention.partner == partner) & Convention.open_channel())
            .exists()
        ):
            # No channel left: every session of the structure ends now.
            for account in Account.select().where(Account.partner == partner):
                account.rotate_session()
                account.save()
        audit.record("partner_cut_off", actor=actor, partner=partner, detail=reason[:300])
        notify_partner(
            partner.id,
            f"Accès de votre structure suspendu par {caisse}",
            f"{caisse} a suspendu l'accès de votre structure à ses services sur l'Espace "
            f"Partenaires, pour le motif suivant : {reason}.\n\nVos échanges avec les autres "
            f"caisses ne changent pas. Contactez {caisse} pour rétablir l'accès.",
        )


def restore(actor, convention):
    """The caisse restores its channel with a structure after a cut-off."""
    if convention.cut_off_at is None:
        raise RuleError("L'accès de cette structure à votre caisse n'est pas coupé.")
    with write():
        convention.cut_off_at = None
        convention.cut_off_reason = ""
        convention.save()
        audit.record("partner_restored", actor=actor, partner=convention.partner_id)


def has_open_channel(partner_id, today=None):
    """True when the structure's users may work: a convention in force, not cut off."""
    return (
        Convention.select()
        .where((Convention.partner == partner_id) & Convention.open_channel(today))
        .exists()
    )


def open_channel(partner, today=None):
    """`has_open_channel` as an SQL expression on a partner column, to read with a row."""
    return fn.EXISTS(
        Convention.select(Convention.id).where(
            (Convention.partner == partner) & Convention.open_channel(today)
        )
    )


DASHBOARD_PAGE = 25


def dashboard(agent, page=1, words=(), waiting_only=False, today=None, size=DASHBOARD_PAGE):
    """The caisse's dashboard: its structures in force by name, a page at a time, each with
    its accounts against the quotas, reviews, pending habilitations and open requests.

    A département has hundreds of structures (issue 11: 500 rows, 195 KB, 100 ms): the
    figures are read for the page's structures only, each kind in one grouped query. The
    structures are found by folded `words` of their name or SIRET; `waiting_only` keeps
    those that wait for the caisse (a habilitation to do, a review decision to take).
    Returns (rows, total, waiting_count)."""
    in_force = Partner.for_caisse(agent.caisse_id, today)
    structures = list(in_force.select(Partner.id, Partner.name, Partner.siret).tuples())
    structures.sort(key=lambda s: (fold(s[1]), s[0]))  # 'Épicerie' among the E
    ids = in_force.select(Partner.id)
    awaiting = reviews.partners_awaiting_caisse(ids)
    waiting = awaiting | {
        pid
        for (pid,) in HabilitationRequest.select(HabilitationRequest.partner)
        .where(
            HabilitationRequest.partner.in_(ids)
            & (HabilitationRequest.caisse == agent.caisse_id)
            & HabilitationRequest.done_at.is_null()
        )
        .tuples()
    }
    if words:
        structures = [
            s for s in structures if all(w in fold(f"{s[1]} {s[2] or ''}") for w in words)
        ]
    if waiting_only:
        structures = [s for s in structures if s[0] in waiting]
    total = len(structures)
    chosen = [s[0] for s in structures[(page - 1) * size : page * size]]
    partners = {p.id: p for p in Partner.select().where(Partner.id.in_(chosen))}
    used = {}
    for partner_id, profile, n in (
        Account.select(Account.partner, Account.profile, fn.COUNT(Account.id))
        .where(Account.partner.in_(chosen) & Account.state.in_(("invited", "active")))
        .group_by(Account.partner, Account.profile)
        .tuples()
    ):
        used[(partner_id, profile)] = n
    open_demandes = dict(Demande.open_per_partner(agent.caisse_id, chosen).tuples())
    last_review, open_review = {}, {}
    for review in Review.select().where(Review.partner.in_(chosen)).order_by(Review.id):
        if review.status == "completed":
            last_review[review.partner_id] = review
        else:
            open_review[review.partner_id] = review
    cut = Convention.cut_off_partner_ids(agent.caisse_id)
    pending = {}
    for h in pending_habilitations(chosen, agent.caisse_id):
        pending.setdefault(h.partner_id, []).append(h)
    rows = [
        {
            "partner": partners[pid],
            "usage": {
                profile: (
                    used.get((pid, profile), 0),
                    quotas.limit(partners[pid].headcount, profile),
                )
                for profile in ("gestionnaire", "technicien")
            },
            "last_review": last_review.get(pid),
            "open_review": open_review.get(pid),
            "pending": pending.get(pid, []),
            "open_demandes": open_demandes.get(pid, 0),
            "cut_off": pid in cut,
            "awaits_caisse": pid in awaiting,
        }
        for pid in chosen
    ]
    return rows, total, len(waiting)
