"""Exchanges a caisse starts with a partner structure about something that is not a request
(issue 12.2): the caisse informs and documents its partners (`002_…` annexe 2 preamble and
§3.2, `004_…` art. 3), both sides answer, with documents, until the caisse closes it.

Who: any agent of the caisse writes to one of its structures whose convention is in force
and whose channel is open; on the structure's side, the thread is addressed to all its
users or to its gestionnaires only, and those may answer. Texts are checked as a request's
(no NIR, a warning for health words, §5); documents as a request's (§3.1). E-mails say that
there is a new message and link to it: never its subject nor its text."""

from datetime import date

import peewee

from . import attachments, audit, nir, notices
from .db import database, is_sqlite, write
from .demandes import MAX_COMMENT, active_convention, check_free_text
from .models import (
    THREAD_AUDIENCES,
    Account,
    Caisse,
    Convention,
    Demande,
    DemandeRead,
    Offer,
    Partner,
    Thread,
    ThreadAttachment,
    ThreadMessage,
    ThreadRead,
    now,
)
from .rules import RuleError

# A thread's documents count in their uploader's daily volume, as a request's do.
attachments.DAILY_VOLUME.append((ThreadAttachment, "uploaded_by"))

MAX_SUBJECT = 200
MAX_BODY = MAX_COMMENT
CONTACT_OFFER = "contact"  # "Contacter votre organisme", listed with the threads


def can_see(user, thread):
    """The caisse's agents while the structure's convention is in force; the structure's
    users the thread is addressed to."""
    if user.profile == "caisse":
        return (
            thread.caisse_id == user.caisse_id
            and Convention.select()
            .where(
                (Convention.partner == thread.partner_id)
                & (Convention.caisse == user.caisse_id)
                & Convention.in_force()
            )
            .exists()
        )
    if user.partner_id != thread.partner_id:
        return False
    return user.profile == "gestionnaire" or thread.audience == "all"


def writable_partners(agent, today=None):
    """The structures an agent may write to: convention in force, started, not cut off."""
    today = today or date.today()
    return (
        Partner.select(Partner.id, Partner.name)
        .join(Convention)
        .where(
            (Convention.caisse == agent.caisse_id)
            & Convention.open_channel(today)
            & (Convention.starts_on <= today)
        )
        .order_by(peewee.fn.LOWER(Partner.name), Partner.id)
    )


def _channel(caisse_id, partner_id, today=None):
    """A refusal unless the convention between the caisse and the structure is open."""
    if active_convention(partner_id, caisse_id, today) is not None:
        return
    convention = Convention.get_or_none(
        (Convention.partner == partner_id) & (Convention.caisse == caisse_id)
    )
    if convention is not None and convention.is_cut_off:
        raise RuleError(
            "L'accès de la structure à cette caisse est coupé : l'échange est suspendu.",
            field="body",
        )
    raise RuleError("La convention entre la structure et cette caisse n'est plus en vigueur.")


def _text(body, empty=None):
    """The message's text and its refusals [(field, message)]: too long, a NIR (§5), or
    empty when `empty` says why it may not be."""
    body = (body or "").strip()
    if len(body) > MAX_BODY:
        return body, [("body", f"{MAX_BODY} caractères au plus.")]
    if nir.contains_nir(body):
        return body, [("body", nir.REFUSED)]
    if empty and not body:
        return body, [("body", empty)]
    return body, []


def _keep(author, files, kept):
    """Keep the form's files first (checked like any attachment), so that no refusal loses
    them; the token under which they wait, and the refusals."""
    kept = kept or attachments.form_token()
    refused = attachments.keep(author, kept, files)
    return kept, [("pieces_jointes", message) for message in refused]


def _refuse(errors):
    if errors:
        raise RuleError(errors[0][1], field=errors[0][0], errors=errors)


def start(
    agent, partner, subject, body, files=(), audience="all", confirmed=False, kept=None, today=None
):
    """A caisse agent opens a thread with one of its structures (issue 12.2)."""
    kept, errors = _keep(agent, files, kept)
    partner_id = partner.id if isinstance(partner, Partner) else partner
    if not partner_id or active_convention(partner_id, agent.caisse_id, today) is None:
        errors.insert(
            0,
            (
                "partner",
                "Choisissez une structure dont la convention avec votre caisse est en vigueur "
                "(et dont l'accès n'est pas coupé).",
            ),
        )
    if audience not in THREAD_AUDIENCES:
        errors.append(("audience", "Choisissez à qui s'adresse l'échange."))
    subject = (subject or "").strip()
    if not subject:
        errors.append(("subject", "Indiquez l'objet de l'échange."))
    elif len(subject) > MAX_SUBJECT:
        errors.append(("subject", f"{MAX_SUBJECT} caractères au plus."))
    elif nir.contains_nir(subject):
        errors.append(("subject", nir.REFUSED))
    body, refused = _text(body, empty="Écrivez le message.")
    errors += refused
    _refuse(sorted(errors, key=lambda e: _ORDER.index(e[0]) if e[0] in _ORDER else 99))
    check_free_text(f"{subject}\n{body}", "body", confirmed)
    with write():
        at = now()
        thread = Thread.create(
            caisse=agent.caisse_id,
            partner=partner_id,
            subject=subject,
            audience=audience,
            started_by=agent,
            created_at=at,
            last_activity_at=at,
        )
        _post(agent, thread, body, kept, "message", at)
        audit.record(
            "thread_started",
            actor=agent,
            partner=partner_id,
            caisse=agent.caisse_id,
            detail=f"échange {thread.reference}",
        )
        _notify_partner(thread, agent, everyone=True)
    return thread


_ORDER = ["partner", "audience", "subject", "body", "pieces_jointes"]


def _may_write(author, thread, today=None):
    if not can_see(author, thread):
        raise RuleError("Cet échange ne vous est pas adressé.", field="body")
    if thread.is_closed:
        raise RuleError(
            "Cet échange est clos : écrivez dans un nouvel échange (ou, côté structure, par "
            "une demande « Contacter votre organisme »).",
            field="body",
        )
    _channel(thread.caisse_id, thread.partner_id, today)


def reply(author, thread, body, files=(), confirmed=False, kept=None, today=None):
    """A message in the thread, from either side; the other side is told by e-mail."""
    _may_write(author, thread, today)
    kept, errors = _keep(author, files, kept)
    empty = None if attachments.kept(author, kept) else "Écrivez un message ou joignez un document."
    body, refused = _text(body, empty)
    _refuse(refused + errors)
    if body:
        check_free_text(body, "body", confirmed)
    with write():
        message = _post(author, thread, body, kept, "message")
        if author.profile == "caisse":
            _notify_partner(thread, author)
        else:
            _notify_caisse(thread, author)
    return message


def close(agent, thread, body="", files=(), confirmed=False, kept=None, today=None):
    """The caisse closes the thread, with a last word if it wishes; nobody writes in it
    afterwards."""
    if agent.profile != "caisse" or not can_see(agent, thread):
        raise RuleError("Seule la caisse de l'échange peut le clore.", field="body")
    if thread.is_closed:
        raise RuleError("Cet échange est déjà clos.", field="body")
    kept, errors = _keep(agent, files, kept)
    body, refused = _text(body)
    _refuse(refused + errors)
    if body:
        check_free_text(body, "body", confirmed)
    with write():
        at = now()
        _post(agent, thread, body, kept, "close", at)
        thread.closed_at, thread.closed_by = at, agent
        thread.save(only=[Thread.closed_at, Thread.closed_by])
        audit.record(
            "thread_closed",
            actor=agent,
            partner=thread.partner_id,
            caisse=thread.caisse_id,
            detail=f"échange {thread.reference}",
        )
        _notify_partner(thread, agent, closed=True)


def _post(author, thread, body, kept, kind, at=None):
    """The message and its kept files; the thread's activity and its side's last message
    (inside the caller's transaction). Whoever writes has read the thread."""
    at = at or now()
    message = ThreadMessage.create(
        thread=thread, author=author, kind=kind, body=body, created_at=at
    )
    attachments.take_kept(author, kept, ThreadAttachment, thread=thread, message=message)
    side = Thread.last_caisse_message if author.profile == "caisse" else Thread.last_partner_message
    Thread.update({side: message.id, Thread.last_activity_at: at}).where(
        Thread.id == thread.id
    ).execute()
    setattr(thread, side.name, message.id)
    thread.last_activity_at = at
    _seen(author, thread, message.id)
    return message


def is_unread(account, thread):
    """The other side wrote since `account` last opened the thread."""
    thread = Thread.get_by_id(thread.id)
    theirs = (
        thread.last_partner_message if account.profile == "caisse" else thread.last_caisse_message
    )
    return (theirs or 0) > _seen_message(account, thread)


def _seen_message(account, thread):
    return (
        ThreadRead.select(ThreadRead.seen_message)
        .where((ThreadRead.account == account.id) & (ThreadRead.thread == thread.id))
        .scalar()
        or 0
    )


def mark_read(account, thread):
    """The account has seen everything in the thread so far; written only when there was
    something new, so that reading a thread seldom writes."""
    latest = max(thread.last_caisse_message or 0, thread.last_partner_message or 0)
    if not latest or _seen_message(account, thread) >= latest:
        return
    with write():
        _seen(account, thread, latest)


def _seen(account, thread, message_id):
    ThreadRead.insert(
        account=account.id, thread=thread.id, seen_message=message_id, read_at=now()
    ).on_conflict(
        conflict_target=[ThreadRead.account, ThreadRead.thread],
        update={ThreadRead.seen_message: message_id, ThreadRead.read_at: now()},
    ).execute()


def unread_count(account, caisse=None, partner=None):
    """How many threads `account` may read (of one caisse, with one structure) have news
    from the other side: those with news, less those the account has read since, from its
    own few markers (EXISTS keeps the planner from starting from the threads): no look-up
    per thread of a caisse's thousands (the homes, a list's unread count)."""
    scope = _scope(account, caisse, partner)
    theirs = Thread.theirs(account)
    news = Thread.select(peewee.fn.COUNT(Thread.id)).where(scope & (theirs > 0)).scalar() or 0
    read = Thread.select(Thread.id).where(
        (Thread.id == ThreadRead.thread)
        & scope
        & (theirs > 0)
        & (theirs <= ThreadRead.seen_message)
    )
    since = (
        ThreadRead.select(peewee.fn.COUNT(ThreadRead.id))
        .where((ThreadRead.account == account.id) & peewee.fn.EXISTS(read))
        .scalar()
    )
    return news - (since or 0)


def _scope(user, caisse=None, partner=None):
    """SQL condition: the threads `user` may read, of one caisse, with one structure."""
    scope = Thread.seen_by(user)
    if caisse:
        scope &= Thread.caisse == caisse
    if partner:
        scope &= Thread.partner == partner
    return scope


# Who is told (never the subject nor the text, §5: it may name someone)


def audience(thread):
    """The structure's active accounts the thread is addressed to."""
    profiles = ("gestionnaire", "technicien") if thread.audience == "all" else ("gestionnaire",)
    return Account.select().where(
        (Account.partner == thread.partner_id)
        & Account.profile.in_(profiles)
        & (Account.state == "active")
    )


def _writers(thread):
    return ThreadMessage.select(ThreadMessage.author).where(ThreadMessage.thread == thread.id)


def _notify_partner(thread, agent, everyone=False, closed=False):
    """The structure's side: the whole audience for a new thread, or while none of it has
    answered yet; afterwards, those who took part."""
    readers = audience(thread)
    if not everyone:
        took_part = readers.where(Account.id.in_(_writers(thread)))
        if took_part.exists():
            readers = took_part
    caisse = Caisse.get_by_id(thread.caisse_id).name
    action = "new" if everyone else ("closed" if closed else "message")
    subject = {
        "new": f"Nouvel échange de {caisse} avec votre structure",
        "message": f"Échange n° {thread.reference} : nouveau message de {caisse}",
        "closed": f"Échange n° {thread.reference} : clos par {caisse}",
    }[action]
    for account in readers.where(Account.notify_by_email == True).order_by(Account.id):  # noqa: E712
        notices.queue(
            account.email,
            "thread_message",
            subject,
            partner=thread.partner_id,
            caisse=thread.caisse_id,
            caisse_name=caisse,
            reference=thread.reference,
            thread_id=thread.id,
            action=action,
        )


def _notify_caisse(thread, author):
    """The caisse's side: the agent who opened the thread and those who wrote in it."""
    agents = Account.select().where(
        (Account.caisse == thread.caisse_id)
        & (Account.profile == "caisse")
        & (Account.state == "active")
        & (Account.notify_by_email == True)  # noqa: E712 (SQL)
        & ((Account.id == thread.started_by_id) | Account.id.in_(_writers(thread)))
        & (Account.id != author.id)
    )
    partner = Partner.get_by_id(thread.partner_id).name
    for agent in agents.order_by(Account.id):
        notices.queue(
            agent.email,
            "thread_reply",
            f"Échange n° {thread.reference} : réponse de {partner}",
            partner=thread.partner_id,
            caisse=thread.caisse_id,
            partner_name=partner,
            reference=thread.reference,
            thread_id=thread.id,
        )


# The end of the convention: personal data is destroyed (§5, `002_…` annexe 3)


def of_convention(convention):
    """The threads between the convention's caisse and structure."""
    return Thread.select(Thread.id).where(
        (Thread.partner == convention.partner_id) & (Thread.caisse == convention.caisse_id)
    )


def purge(convention):
    """Delete the threads between the convention's caisse and structure, their messages
    and documents (inside the caller's transaction): (how many, their files, to erase once
    it committed)."""
    ids = [t for (t,) in of_convention(convention).tuples()]
    if not ids:
        return 0, []
    files = list(ThreadAttachment.select().where(ThreadAttachment.thread.in_(ids)))
    Thread.delete().where(Thread.id.in_(ids)).execute()  # messages, files, markers cascade
    return len(ids), files


# The list of exchanges: threads, and the "Contacter votre organisme" requests (issue 12.2)


def exchange_parts(user, caisse=None, partner=None, unread=False):
    """The parts of `user`'s list, each a query of (kind, id, at) read in order from its
    index: the threads; for a technicien, the structure's contact requests; for a caisse
    agent looking at one structure, that structure's contact requests with the caisse.
    Gestionnaires read no request (`002_…` annexe 2 §2.2)."""
    threads = Thread.select(
        peewee.SQL("'thread'").alias("kind"), Thread.id, Thread.last_activity_at.alias("at")
    ).where(_scope(user, caisse, partner))
    if unread:
        threads = threads.where(Thread.unread_for(user))
    parts = [threads]
    if user.profile == "technicien" or (user.profile == "caisse" and partner):
        # Each caisse has its own "contact" offer (issue 12.3): one part per offer, each read
        # in order from its index (offer, structure, time), then merged with the others.
        offers = Offer.select(Offer.id).where(Offer.code == CONTACT_OFFER)
        if user.profile == "caisse":
            offers = offers.where(Offer.caisse == user.caisse_id)
        else:
            mine = Convention.select(Convention.caisse).where(Convention.partner == user.partner_id)
            offers = offers.where(Offer.caisse.in_(mine))
        if caisse:
            offers = offers.where(Offer.caisse == caisse)
        for (offer,) in offers.order_by(Offer.id).tuples():
            requests = Demande.select(
                peewee.SQL("'demande'").alias("kind"), Demande.id, Demande.updated_at.alias("at")
            ).where(Demande.seen_by(user) & (Demande.offer == offer))
            if partner:
                requests = requests.where(Demande.partner == partner)
            if caisse:
                requests = requests.where(Demande.caisse == caisse)
            if unread:
                seen = DemandeRead.select(DemandeRead.seen_event).where(
                    (DemandeRead.account == user.id) & (DemandeRead.demande == Demande.id)
                )
                requests = requests.where(Demande.theirs(user) > peewee.fn.COALESCE(seen, 0))
            parts.append(requests)
    return parts


LIST_BOUND = 10_000  # exchanges a list counts and pages through, like the requests' lists


def exchange_page(user, page, size, **filters):
    """One page of `user`'s exchanges, newest activity first: (rows, total, pages). Each
    part's page is read in order from its index and the parts merged (UNION ALL); then the
    rows the page shows, each kind in one query."""
    parts = exchange_parts(user, **filters)
    counts = [p.order_by().limit(LIST_BOUND + 1).count() for p in parts[1:]]
    if filters.get("unread"):  # not a look-up per thread of the caisse's thousands
        counts.append(unread_count(user, filters.get("caisse"), filters.get("partner")))
    else:
        counts.append(parts[0].order_by().limit(LIST_BOUND + 1).count())
    total = min(sum(counts), LIST_BOUND)
    pages = max(1, -(-total // size))
    page = min(page, pages)
    keys = _page_keys(parts, page, size)
    rows = _threads_in_order(user, [i for kind, i in keys if kind == "thread"])
    rows.update(
        {
            ("demande", d.id): d
            for d in Demande.listed_in_order(user, [i for k, i in keys if k == "demande"])
        }
    )
    return [rows[key] for key in keys if key in rows], total, page, pages


def _page_keys(parts, page, size):
    """[(kind, id)] of the page."""
    order = [peewee.SQL('"at"').desc(), peewee.SQL('"id"').desc()]
    if len(parts) == 1:
        query = parts[0].order_by(Thread.last_activity_at.desc(), Thread.id.desc())
        return [(k, i) for k, i, _ in query.paginate(page, size).tuples()]
    columns = [peewee.SQL('"kind"'), peewee.SQL('"id"'), peewee.SQL('"at"')]
    if not is_sqlite():
        # Each part takes its own first lines from its index, then they are merged (as the
        # journal does: PostgreSQL, given the whole union to sort, would read it all).
        ordered = {
            Thread: (Thread.last_activity_at.desc(), Thread.id.desc()),
            Demande: (Demande.updated_at.desc(), Demande.id.desc()),
        }
        parts = [
            peewee.Select(
                [p.order_by(*ordered[p.model]).limit(page * size).alias(f"part{n}")], columns
            )
            for n, p in enumerate(parts)
        ]
    query = parts[0]
    for part in parts[1:]:
        query = query + part  # UNION ALL: a thread is never a request
    query = query.order_by(*order).limit(size).offset((page - 1) * size).bind(database)
    return [(k, i) for k, i, _ in query.tuples()]


def _threads_in_order(user, ids):
    """The threads `ids` with what a list shows: caisse, structure, who opened it, and
    `unread` (1 when the other side wrote since `user` last opened it)."""
    if not ids:
        return {}
    unread = peewee.Case(None, [(Thread.unread_for(user), 1)], 0)
    query = (
        Thread.select(
            Thread, Caisse.id, Caisse.name, Partner.id, Partner.name, unread.alias("unread")
        )
        .join_from(Thread, Caisse)
        .join_from(Thread, Partner)
        .where(Thread.id.in_(ids))
    )
    return {("thread", t.id): t for t in query}
