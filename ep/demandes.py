"""Requests (demandes) from a partner to a caisse, and their processing (§1.2, §3, §5)."""

from datetime import date

import peewee

from . import attachments, audit, nir, notices
from .catalogue import DOCUMENT_OFFER, URGENT_MOTIFS
from .db import write
from .departements import CODES
from .health_words import suggests_health_data
from .models import (
    CIVILITES,
    Account,
    Caisse,
    Convention,
    ConventionMotifOff,
    ConventionOffer,
    Demande,
    DemandeEvent,
    DemandeRead,
    Message,
    Motif,
    Offer,
    Partner,
    now,
)
from .rules import NeedsConfirmation, RuleError
from .text import fold

MAX_COMMENT = 4000

NIR_REFUSED = nir.REFUSED


def active_convention(partner, caisse_id, today=None):
    today = today or date.today()
    convention = Convention.get_or_none(
        (Convention.partner == partner) & (Convention.caisse == caisse_id)
    )
    return convention if convention and convention.is_open(today) else None


def available_caisses(partner, today=None):
    """Caisses the partner may address: an active convention, not cut off, with at least one
    offer."""
    today = today or date.today()
    return [
        c.caisse
        for c in Convention.select().where(Convention.partner == partner)
        if c.is_open(today) and c.offer_codes()
    ]


def available_offers(partner, caisse_id, today=None):
    """The offers the structure may ask this caisse for: activated on its convention, in the
    caisse's catalogue, with at least one motif open to it."""
    convention = active_convention(partner, caisse_id, today) if caisse_id else None
    if convention is None:
        return []
    return [offer for offer, _ in convention.active_catalogue()]


def available_motifs(partner, caisse_id, offer, today=None):
    """The motifs of `offer` open to the structure with this caisse (issue 12.3)."""
    convention = active_convention(partner, caisse_id, today) if caisse_id else None
    if convention is None or offer is None:
        return []
    return list(convention.active_motifs(offer))


def needs_identity(offer, motif, motifs):
    """Whether the form asks for the assuré's identity: the chosen motif says so (`004_…`
    annexe 3: the partnership motifs (*) do not); before a motif is chosen, when every motif
    the offer proposes concerns an assuré (or no offer is chosen yet)."""
    if motif is not None:
        return motif.concerns_assure
    if offer is None or not motifs:
        return True
    return all(m.concerns_assure for m in motifs)


def document_destination(convention):
    """Where the caisse sends a document asked for (`002_…` annexe 2 §1.3, §3.1):
    "structure" when the convention allows the structure to receive documents, otherwise
    "assure" (the assuré's known address)."""
    return "structure" if convention is not None and convention.may_receive_documents else "assure"


def is_document_request(offer):
    return offer is not None and offer.code == DOCUMENT_OFFER


def check_free_text(text, field, health_confirmed):
    """No NIR, ever; words suggesting health data need the user's confirmation (§5)."""
    if nir.contains_nir(text):
        raise RuleError(NIR_REFUSED, field=field)
    words = suggests_health_data(text)
    if words and not health_confirmed:
        raise NeedsConfirmation(
            "Ce texte semble contenir des données de santé ("
            + ", ".join(f"« {w} »" for w in words)
            + "). "
            "Ne transmettez que ce qui est strictement nécessaire à la demande : relisez, "
            "puis confirmez si ces informations sont indispensables.",
            field=field,
            confirm="confirm_health",
        )


def _identity_errors(data, today):
    """[(field, message)] for the assuré's identity; empty when it is complete and plausible."""
    errors = []
    if data.get("civilite") not in CIVILITES:
        errors.append(("civilite", "Choisissez la civilité de l'assuré."))
    for key, label in (("nom", "le nom"), ("prenom", "le prénom")):
        value = (data.get(key) or "").strip()
        if not value:
            errors.append((key, f"Indiquez {label} de l'assuré."))
        elif any(ch.isdigit() for ch in value):
            errors.append((key, "Ce champ ne contient pas de chiffres."))
    born = data.get("date_naissance")
    if born is None:
        errors.append(("date_naissance", "Indiquez la date de naissance (JJ/MM/AAAA)."))
    elif born > today:
        errors.append(("date_naissance", "La date de naissance ne peut pas être dans le futur."))
    elif born.year < today.year - 120:
        errors.append(("date_naissance", "Cette date de naissance n'est pas plausible."))
    if data.get("departement") not in CODES:
        errors.append(("departement", "Choisissez le département de résidence dans la liste."))
    if not data.get("informed"):
        errors.append(("informed", "L'assuré doit avoir été informé de la démarche."))
    return errors


def submit(author, data, files, today=None, kept=None):
    """A technicien sends a request to the caisse of the assuré's affiliation.

    `data`: caisse (id), offer and motif (codes), urgent, identity fields (civilite, nom,
    prenom, date_naissance, departement, informed), commentaire, confirm_health,
    confirm_duplicate. `files` are kept first under the form's token `kept` (§3.1 checks),
    so that a refusal loses none of them; the request takes every file kept under it.
    """
    today = today or date.today()
    partner = author.partner_id
    kept = kept or attachments.form_token()
    refused_files = attachments.keep(author, kept, files)
    errors = []  # every refusal at once, in the order of the form
    convention = active_convention(partner, data.get("caisse"), today)
    if convention is None:
        errors.append(
            (
                "caisse",
                "Choisissez une caisse avec laquelle votre structure a une convention en vigueur.",
            )
        )
    offer = link = motif = None
    if convention is not None:
        offer = (
            Offer.select(Offer, ConventionOffer)
            .join(
                ConventionOffer,
                peewee.JOIN.LEFT_OUTER,
                on=(ConventionOffer.offer == Offer.id)
                & (ConventionOffer.convention == convention.id),
                attr="link",
            )
            .where((Offer.caisse == convention.caisse_id) & (Offer.code == data.get("offer")))
            .first()
        )
        link = getattr(offer, "link", None)
        if link is not None and link.id is None:  # no row on the LEFT JOIN's side
            link = None
    if offer is None:
        if convention is not None:
            errors.append(("offer", "Choisissez une offre de service."))
    elif link is None or not offer.active:
        errors.append(
            ("offer", "Cette offre n'est pas activée pour votre structure auprès de cette caisse.")
        )
    else:
        motif = (
            Motif.select(Motif, ConventionMotifOff.id.alias("switched_off"))
            .join(
                ConventionMotifOff,
                peewee.JOIN.LEFT_OUTER,
                on=(ConventionMotifOff.motif == Motif.id)
                & (ConventionMotifOff.convention == convention.id),
            )
            .where((Motif.offer == offer.id) & (Motif.code == data.get("motif")))
            .objects()
            .first()
        )
        if motif is None:
            errors.append(("motif", "Choisissez un motif de cette offre."))
        elif not motif.active:
            errors.append(
                ("motif", "Ce motif n'est plus proposé par la caisse : choisissez-en un autre.")
            )
            motif = None
        elif motif.switched_off:
            errors.append(
                (
                    "motif",
                    "Ce motif n'est pas ouvert à votre structure par cette caisse : "
                    "choisissez-en un autre.",
                )
            )
            motif = None
    identity_needed = (
        motif.concerns_assure
        if motif is not None
        else needs_identity(
            offer, None, available_motifs(partner, data.get("caisse"), offer, today)
        )
    )
    if identity_needed:
        errors += _identity_errors(data, today)
        errors += [(k, NIR_REFUSED) for k in ("nom", "prenom") if nir.contains_nir(data.get(k))]
    comment = (data.get("commentaire") or "").strip()
    if not comment:
        errors.append(("commentaire", "Décrivez la demande en quelques lignes."))
    elif len(comment) > MAX_COMMENT:
        errors.append(("commentaire", f"{MAX_COMMENT} caractères au plus."))
    errors += [("pieces_jointes", message) for message in refused_files]
    if errors:
        raise RuleError(errors[0][1], field=errors[0][0], errors=errors)
    identity = {}
    if motif.concerns_assure:
        # What a name folds into may be longer than the name ('ﷺ' gives 18 characters).
        search = fold(f"{data['nom'].strip()} {data['prenom'].strip()}")
        identity = {
            "assure_civilite": data["civilite"],
            "assure_nom": data["nom"].strip(),
            "assure_prenom": data["prenom"].strip(),
            "assure_date_naissance": data["date_naissance"],
            "assure_departement": data["departement"],
            "assure_informed": True,
            "assure_search": search[: Demande.assure_search.max_length],
        }
    check_free_text(comment, "commentaire", data.get("confirm_health"))
    if identity and not data.get("confirm_duplicate"):
        existing = Demande.open_for(
            partner, motif, identity["assure_search"], identity["assure_date_naissance"]
        ).first()
        if existing is not None:
            raise NeedsConfirmation(
                f"Votre structure a déjà une demande en cours pour cet assuré et ce motif "
                f"(n° {existing.reference}, {existing.status_label.lower()}). Complétez-la "
                "plutôt que d'en envoyer une seconde, ou confirmez l'envoi.",
                field="motif",
                confirm="confirm_duplicate",
                demande_id=existing.id,
            )
    target = link.target_hours or offer.target_hours
    with write():
        demande = Demande.create(
            partner=partner,
            caisse=convention.caisse_id,
            author=author,
            offer=offer,
            motif=motif,
            urgent=bool(data.get("urgent")) or (offer.code, motif.code) in URGENT_MOTIFS,
            commentaire=comment,
            target_hours=target,
            **identity,
        )
        attachments.attach_kept(author, kept, demande, None)
        event = DemandeEvent.create(
            demande=demande, actor=author, action="submitted", status="submitted"
        )
        demande.last_partner_event = event.id
        demande.save(only=[Demande.last_partner_event])
        audit.record(
            "demande_submitted",
            actor=author,
            partner=partner,
            caisse=convention.caisse_id,
            detail=f"demande {demande.reference}",
        )
    return demande


def _change(demande, actor, action, status=None):
    previous = demande.status
    if status:
        demande.status = status
    demande.updated_at = now()
    demande.close_warned_at = None  # a new step: a warning of closing no longer holds (14.1)
    if actor.profile == "caisse" and action in ("answered", "asked", "closed"):
        demande.first_answer_at = demande.first_answer_at or now()
        demande.partner_reply_pending = False  # the caisse has answered
    if status == "closed":
        demande.closed_at = now()
    event = DemandeEvent.create(demande=demande, actor=actor, action=action, status=demande.status)
    if actor.profile == "caisse":  # news for the other side (unread markers)
        demande.last_caisse_event = event.id
    else:
        demande.last_partner_event = event.id
    demande.save()
    _seen(actor, demande, event.id)  # whoever acts on a request has read it
    audit.record(
        f"demande_{action}",
        actor=actor,
        partner=demande.partner_id,
        caisse=demande.caisse_id,
        detail=f"demande {demande.reference}",
    )
    return previous != demande.status


def take(agent, demande):
    """A caisse agent takes the request in charge."""
    if demande.status == "closed":
        raise RuleError("Cette demande est clôturée.")
    with write():
        demande.taken_by = agent
        changed = _change(
            demande, agent, "taken", "in_progress" if demande.status == "submitted" else None
        )
        if changed:
            notify_author(demande, agent)


def _keep_files(author, demande, files, kept):
    """Keep the files of a message's form first, so that no refusal loses them; the token
    under which they wait. Refuses the files the caisse may not send to this structure."""
    kept = kept or attachments.form_token()
    if author.profile == "caisse" and (
        any(f and f.filename for f in files) or attachments.kept(author, kept)
    ):
        convention = Convention.get_or_none(
            (Convention.partner == demande.partner) & (Convention.caisse == demande.caisse)
        )
        if convention is None or not convention.may_receive_documents:
            raise RuleError(
                "Cette structure n'est pas autorisée à recevoir des documents : ils sont "
                "envoyés à l'adresse connue de l'assuré.",
                field="pieces_jointes",
            )
    refused = attachments.keep(author, kept, files)
    if refused:
        raise RuleError(
            refused[0], field="pieces_jointes", errors=[("pieces_jointes", m) for m in refused]
        )
    return kept


def _message(author, demande, body, kept, kind, confirmed=False):
    """The message, with the files kept for its form (inside the caller's transaction)."""
    body = (body or "").strip()
    if len(body) > MAX_COMMENT:
        raise RuleError(f"{MAX_COMMENT} caractères au plus.", field="body")
    if body:
        check_free_text(body, "body", confirmed)
    if not body and not attachments.kept(author, kept):
        raise RuleError("Écrivez un message ou joignez un document.", field="body")
    message = Message.create(demande=demande, author=author, kind=kind, body=body)
    attachments.attach_kept(author, kept, demande, message)
    return message


def reply(author, demande, body, files, confirmed=False, today=None, kept=None):
    """A message on the request: the partner answers, the caisse answers."""
    if demande.status == "closed":
        raise RuleError("Cette demande est clôturée : créez-en une nouvelle si besoin.")
    if (
        author.profile != "caisse"
        and active_convention(demande.partner, demande.caisse_id, today) is None
    ):
        raise RuleError("La convention avec cet organisme n'est plus en vigueur.")
    kept = _keep_files(author, demande, files, kept)
    with write():
        _message(author, demande, body, kept, "message", confirmed)
        if author.profile == "caisse":
            _change(
                demande,
                author,
                "answered",
                "in_progress" if demande.status == "submitted" else None,
            )
            notify_partner(demande, author, "answered")
        else:
            status = None
            if demande.status == "waiting_partner":
                status = "in_progress" if demande.taken_by_id else "submitted"
            demande.partner_reply_pending = True  # flagged in the caisse's queue
            if _change(demande, author, "partner_replied", status):
                notify_author(demande, author)
            notify_agent(demande, author)


def ask_more(agent, demande, body, files, confirmed=False, kept=None):
    """The caisse asks the partner for more information: the request waits for the partner."""
    if demande.status == "closed":
        raise RuleError("Cette demande est clôturée.")
    kept = _keep_files(agent, demande, files, kept)
    if not (body or "").strip():
        raise RuleError("Précisez ce qui manque.", field="body")
    with write():
        _message(agent, demande, body, kept, "ask", confirmed)
        demande.taken_by = demande.taken_by or agent
        _change(demande, agent, "asked", "waiting_partner")
        notify_partner(demande, agent, "asked")


def close(agent, demande, body, confirmed=False, files=(), kept=None):
    """The caisse closes the request, with a last word for the partner (and documents, when
    the structure may receive them)."""
    if demande.status == "closed":
        raise RuleError("Cette demande est déjà clôturée.")
    kept = _keep_files(agent, demande, files, kept)
    if not (body or "").strip():
        raise RuleError(
            "Indiquez la réponse apportée ou le motif de clôture : le partenaire la lira.",
            field="body",
        )
    with write():
        _message(agent, demande, body, kept, "close", confirmed)
        _change(demande, agent, "closed", "closed")
        notify_partner(demande, agent, "closed")


def notify_author(demande, actor):
    """Tell the author the new status, unless the author caused it; never any data about the
    assuré (§5). Called inside the action's transaction."""
    author = demande.author
    if author.id == actor.id or author.state != "active" or not author.notify_by_email:
        return
    notices.queue(
        author.email,
        "demande_status",
        f"Demande n° {demande.reference} : {demande.status_label.lower()}",
        **_notice_context(demande),
    )


def _notice_context(demande):
    """What an e-mail about a request may say: its number, caisse and status (§5)."""
    return {
        "partner": demande.partner_id,
        "caisse": demande.caisse_id,
        "reference": demande.reference,
        "caisse_name": Caisse.get_by_id(demande.caisse_id).name,
        "status": demande.status_label.lower(),
        "demande_id": demande.id,
    }


MESSAGE_SUBJECTS = {
    "answered": "nouveau message de la caisse",
    "asked": "complément demandé par la caisse",
    "closed": "clôturée",
}


def notify_partner(demande, agent, action):
    """Tell the partner of a message from the caisse (issue 10.5), whether or not it changes
    the status: the author and the techniciens who wrote on the request, those who want
    e-mails. The request number only, never the message nor the assuré (§5)."""
    writers = Message.select(Message.author).where(Message.demande == demande)
    recipients = Account.select().where(
        ((Account.id == demande.author_id) | Account.id.in_(writers))
        & (Account.profile == "technicien")
        & (Account.state == "active")
        & (Account.notify_by_email == True)  # noqa: E712 (SQL, not Python)
        & (Account.id != agent.id)
    )
    context = _notice_context(demande)
    for account in recipients.order_by(Account.id):
        notices.queue(
            account.email,
            "demande_message",
            f"Demande n° {demande.reference} : {MESSAGE_SUBJECTS[action]}",
            action=action,
            **context,
        )


def notify_agent(demande, author):
    """Tell the caisse agent who took the request that the partner answered (issue 10.5).
    Nobody took it: no e-mail, the caisse's queue flags the reply."""
    agent = Account.get_or_none(Account.id == demande.taken_by_id) if demande.taken_by_id else None
    if agent is None or agent.id == author.id or agent.state != "active":
        return
    if not agent.notify_by_email:
        return
    notices.queue(
        agent.email,
        "demande_reply",
        f"Demande n° {demande.reference} : réponse du partenaire",
        partner=demande.partner_id,
        caisse=demande.caisse_id,
        reference=demande.reference,
        partner_name=Partner.get_by_id(demande.partner_id).name,
        demande_id=demande.id,
    )


def mark_read(account, demande):
    """The account has seen everything on the request so far (issue 10.5). Written only when
    there was something new, so that reading a request seldom writes."""
    latest = max(demande.last_partner_event or 0, demande.last_caisse_event or 0)
    if not latest:
        return
    mark = (DemandeRead.account == account.id) & (DemandeRead.demande == demande.id)
    seen = DemandeRead.select(DemandeRead.seen_event).where(mark).scalar()
    if seen is not None and seen >= latest:
        return
    with write():
        _seen(account, demande, latest)


def _seen(account, demande, event_id):
    """Record that the account has seen the request up to this event (in a transaction)."""
    DemandeRead.insert(
        account=account.id, demande=demande.id, seen_event=event_id, read_at=now()
    ).on_conflict(
        conflict_target=[DemandeRead.account, DemandeRead.demande],
        update={DemandeRead.seen_event: event_id, DemandeRead.read_at: now()},
    ).execute()
