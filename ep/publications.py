"""Information a caisse gives its partners (issue 12.1): news, regulatory information and
documents, which the conventions promise through the Espace Partenaires (`002_…` annexe 2
preamble and §3.2, annexe 3 §4; `004_…` art. 3; `001_…` art. 3.2).

A caisse agent publishes an item to all the caisse's partners (the structures whose channel
with it is open, those that join later included) or to chosen ones among its structures in
force; with an optional PDF, checked and stored like a request's attachment; shown until an
optional end date. The agent may pin it (pinned items come first) or withdraw it. The
structures' techniciens and gestionnaires read it; each account's first opening removes its
"nouveau" marker, and the first opening by one of a structure's accounts counts that
structure as reached for the caisse."""

from datetime import date

import filetype
from peewee import JOIN, Case, fn

from . import attachments, audit, nir
from .db import write
from .models import (
    Caisse,
    Convention,
    Partner,
    PendingAttachment,
    Publication,
    PublicationOpening,
    PublicationRead,
    PublicationTarget,
    now,
)
from .rules import RuleError
from .text import fold, plural

MAX_TITRE = 200
MAX_TEXTE = 10_000
HOME_LIST = 5  # the items shown on a structure's home

# Each stored document counts in its author's daily upload volume (ep/attachments.py).
attachments.DAILY_VOLUME.append((Publication, "author"))


def addressable(caisse_id, today=None):
    """The structures an agent may choose: those whose convention with the caisse is in
    force, by name."""
    return Partner.for_caisse(caisse_id, today)


def publish(
    agent,
    titre,
    texte,
    fichier=None,
    ends_on=None,
    partner_ids=None,
    pinned=False,
    held=None,
    today=None,
):
    """Publish an item of the agent's caisse: to all its partners (`partner_ids` None), or
    to the chosen structures among those in force with the caisse. `fichier` is an uploaded
    PDF; without one, the PDF kept for the form of token `held` (a form that came back) is
    taken. Audited; returns the item."""
    today = today or date.today()
    titre, texte = (titre or "").strip(), (texte or "").strip()
    errors = []
    if not titre:
        errors.append(("titre", "Indiquez le titre de l'information."))
    elif len(titre) > MAX_TITRE:
        errors.append(("titre", f"Le titre compte {MAX_TITRE} caractères au plus."))
    if not texte:
        errors.append(("texte", "Indiquez le texte de l'information."))
    elif len(texte) > MAX_TEXTE:
        errors.append(("texte", f"Le texte compte {MAX_TEXTE} caractères au plus."))
    for field, value in (("titre", titre), ("texte", texte)):
        if nir.contains_nir(value):
            errors.append((field, nir.REFUSED))
    if ends_on is not None and ends_on < today:
        errors.append(("ends_on", "Cette date est déjà passée : choisissez aujourd'hui ou après."))
    chosen = None
    if partner_ids is not None:
        chosen = sorted(set(partner_ids))
        if not chosen:
            errors.append(("partners", "Choisissez au moins une structure."))
        else:
            in_force = {p.id for p in addressable(agent.caisse_id, today).select(Partner.id)}
            if set(chosen) - in_force:
                errors.append(
                    (
                        "partners",
                        "Seules les structures en convention en vigueur avec votre caisse "
                        "peuvent être choisies.",
                    )
                )
    checked = None
    if fichier is not None and fichier.filename:
        try:
            checked = check_pdf(fichier)
        except RuleError as exc:
            errors.append(("fichier", exc.message))
    if errors:
        raise RuleError(errors[0][1], field=errors[0][0], errors=errors)
    with attachments.files_kept_only_if_committed() as written, write():
        kept = _kept(agent, held) if held else []
        stored = {}
        if checked is not None:
            try:
                attachments._within_daily_volume(agent, [checked])
            except RuleError as exc:
                raise RuleError(exc.message, field="fichier") from exc
            stored = attachments._write(*checked, written)
        elif any(p.content_type == "application/pdf" for p in kept):
            # The last PDF chosen (a token of another form of the account's may hold images).
            pending = [p for p in kept if p.content_type == "application/pdf"][-1]
            stored = {
                k: getattr(pending, k)
                for k in ("filename", "stored_name", "content_type", "size", "sha256")
            }
            kept = [p for p in kept if p.id != pending.id]
        item = Publication.create(
            caisse=agent.caisse_id,
            author=agent,
            titre=titre,
            texte=texte,
            search_key=fold(f"{titre} {texte}"),
            all_partners=chosen is None,
            pinned=bool(pinned),
            ends_on=ends_on,
            **stored,
        )
        for partner_id in chosen or ():
            PublicationTarget.create(publication=item, partner=partner_id)
        if held:
            PendingAttachment.delete().where(
                (PendingAttachment.owner == agent) & (PendingAttachment.token == held)
            ).execute()
        audience = "tous les partenaires" if chosen is None else plural(len(chosen), "structure")
        audit.record(
            "publication_published",
            actor=agent,
            detail=_detail(item) + f" ; {audience}" + (" ; épinglée" if pinned else ""),
        )
    attachments.erase_files(kept)  # replaced by the file chosen last
    return item


def _kept(agent, held):
    return list(
        PendingAttachment.select()
        .where((PendingAttachment.owner == agent) & (PendingAttachment.token == held))
        .order_by(PendingAttachment.id)
    )


def check_pdf(upload):
    """(name, type, bytes) of an uploaded document, checked like any attachment (size, type
    read from the content, passive PDF, anti-virus); a PDF only. RuleError otherwise, by the
    field `fichier`."""
    head = upload.stream.read(8192)
    upload.stream.seek(0)
    kind = filetype.guess(head) if head else None
    if head and (kind is None or kind.mime != "application/pdf"):
        name = attachments._clean_name(upload.filename)
        raise RuleError(
            f"« {name} » n'est pas un PDF (le contenu du fichier est vérifié, pas seulement "
            "son nom) : enregistrez le document au format PDF.",
            field="fichier",
        )
    try:
        (checked,) = attachments.check([upload])
    except RuleError as exc:
        raise RuleError(exc.message, field="fichier") from exc
    return checked


def keep_file(agent, held, upload):
    """Keep the PDF chosen in a form that comes back, for its next submission (as request
    forms do, issue 10.3); it replaces one kept before. Returns the refusals (French)."""
    if upload is None or not upload.filename:
        return []
    try:
        check_pdf(upload)
    except RuleError as exc:
        return [exc.message]
    upload.stream.seek(0)
    before = _kept(agent, held)
    refused = attachments.keep(agent, held, [upload])
    if not refused and before:
        attachments.release(agent, held, [str(p.id) for p in before])
    return refused


def _own(agent, item):
    if agent.profile != "caisse" or item.caisse_id != agent.caisse_id:
        raise RuleError("Cette information n'a pas été publiée par votre caisse.")


def _detail(item):
    return f"information {item.id} « {item.titre[:100]} »"


def withdraw(agent, item):
    """Withdraw an item: its partners no longer see it (the caisse still does). Audited."""
    _own(agent, item)
    with write():
        item = Publication.get_by_id(item.id)
        if item.withdrawn_at is not None:
            raise RuleError("Cette information est déjà retirée.")
        item.withdrawn_at = now()
        item.withdrawn_by = agent
        item.pinned = False
        item.save()
        audit.record("publication_withdrawn", actor=agent, detail=_detail(item))


def pin(agent, item):
    """Pin an item: it comes first in its partners' lists and homes. Audited."""
    _set_pinned(agent, item, True)


def unpin(agent, item):
    _set_pinned(agent, item, False)


def _set_pinned(agent, item, pinned):
    _own(agent, item)
    with write():
        item = Publication.get_by_id(item.id)
        if item.withdrawn_at is not None:
            raise RuleError("Cette information est retirée.")
        if item.pinned == pinned:
            return
        item.pinned = pinned
        item.save()
        action = "publication_pinned" if pinned else "publication_unpinned"
        audit.record(action, actor=agent, detail=_detail(item))


def can_see(account, item, today=None):
    """Its caisse's agents, always; a structure's techniciens and gestionnaires while it is
    shown to the structure."""
    if account.profile == "caisse":
        return item.caisse_id == account.caisse_id
    if account.profile not in ("technicien", "gestionnaire") or not account.partner_id:
        return False
    return (
        Publication.for_partner(account.partner_id, today).where(Publication.id == item.id).exists()
    )


def mark_read(account, item):
    """A structure's account opened the item: its "nouveau" marker goes; the structure
    counts as reached the first time one of its accounts opens it. Written once: opening it
    again writes nothing (as `demandes.mark_read`)."""
    if account.profile == "caisse" or not account.partner_id:
        return
    mark = (PublicationRead.account == account.id) & (PublicationRead.publication == item.id)
    if PublicationRead.select(PublicationRead.id).where(mark).exists():
        return
    with write():
        PublicationRead.insert(
            account=account.id, publication=item.id
        ).on_conflict_ignore().execute()
        PublicationOpening.insert(
            publication=item.id, partner=account.partner_id
        ).on_conflict_ignore().execute()


def listed_for(account, words=(), today=None):
    """The items a structure's account reads, pinned first then the newest, each with its
    caisse and `unread` (1 until this account opened it); filtered by folded `words` of the
    title and text."""
    unread = Case(None, [(PublicationRead.id.is_null(), 1)], 0)
    query = (
        Publication.for_partner(account.partner_id, today)
        .select_extend(Caisse.id, Caisse.name, unread.alias("unread"))
        .join_from(Publication, Caisse, on=(Publication.caisse == Caisse.id), attr="caisse")
        .join_from(
            Publication,
            PublicationRead,
            JOIN.LEFT_OUTER,
            on=(PublicationRead.publication == Publication.id)
            & (PublicationRead.account == account.id),
        )
    )
    for word in words:
        query = query.where(Publication.search_key.contains(word))
    return query.order_by(*Publication.in_order())


def unread_count(account, today=None):
    """How many items shown to the account's structure it has not opened yet."""
    read = PublicationRead.select(PublicationRead.id).where(
        (PublicationRead.account == account.id) & (PublicationRead.publication == Publication.id)
    )
    return (
        Publication.for_partner(account.partner_id, today)
        .where(~fn.EXISTS(read))
        .select(fn.COUNT(Publication.id))
        .scalar()
        or 0
    )


def home(account, limit=HOME_LIST, today=None):
    """(the pinned and newest items, how many are unread) for a structure's home."""
    return list(listed_for(account, today=today).limit(limit)), unread_count(account, today)


def reach(caisse_id, items, today=None):
    """{item id: (structures that opened it, structures it is addressed to)}: the structures
    whose channel with the caisse is open, all of them or the chosen ones; a structure
    counts as opened when any of its accounts opened the item."""
    ids = [p.id for p in items]
    if not ids:
        return {}
    open_partners = {
        pid
        for (pid,) in Convention.select(Convention.partner)
        .where((Convention.caisse == caisse_id) & Convention.open_channel(today))
        .tuples()
    }
    targets, opened = {}, {}
    for item_id, partner_id in (
        PublicationTarget.select(PublicationTarget.publication, PublicationTarget.partner)
        .where(PublicationTarget.publication.in_(ids))
        .tuples()
    ):
        targets.setdefault(item_id, set()).add(partner_id)
    for item_id, partner_id in (
        PublicationOpening.select(PublicationOpening.publication, PublicationOpening.partner)
        .where(PublicationOpening.publication.in_(ids))
        .tuples()
    ):
        opened.setdefault(item_id, set()).add(partner_id)
    result = {}
    for item in items:
        addressed = open_partners if item.all_partners else targets.get(item.id, set())
        addressed = addressed & open_partners
        result[item.id] = (len(opened.get(item.id, set()) & addressed), len(addressed))
    return result


def chosen_names(item):
    """The names of the structures an item was addressed to, when chosen."""
    return [
        name
        for (name,) in Partner.select(Partner.name)
        .join(PublicationTarget, on=(PublicationTarget.partner == Partner.id))
        .where(PublicationTarget.publication == item.id)
        .order_by(fn.LOWER(Partner.name))
        .tuples()
    ]


def path_of(item):
    """Where the item's document is stored (the uploads folder, outside the database)."""
    return attachments.folder() / item.stored_name
