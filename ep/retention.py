"""Personal data for as long as it is needed (`002_…` annexe 3, `004_…` art. 6, `003_…` §5;
issue 14.1 and 14.4), applied by the nightly rules (`ep/housekeeping.py`, FAMILIES):

- a closed request loses the assuré's identity, the comments, the messages' text and the
  documents EP_RETENTION_CLOSED_DAYS (365) after its closing; it stays as an anonymous
  record (dates, caisse, structure, offer, motif, status) that the statistics count;
- a request waiting for the structure's answer for EP_WAITING_PARTNER_CLOSE_DAYS (60) is
  closed, the structure told EP_WAITING_PARTNER_NOTICE_DAYS (15) before (never without it);
- the journal's access traces (reads, exports) leave after EP_JOURNAL_RETENTION_DAYS (365),
  through the one purge the append-only triggers let through, which leaves its own trace.
A setting at 0 turns its rule off. Each rule commits in short batches like the others.
"""

from collections import Counter
from datetime import date, datetime, time, timedelta

import peewee

from . import audit, housekeeping, notices, settings
from .models import (
    READ_ACTIONS,
    Account,
    AuditEvent,
    Caisse,
    Demande,
    DemandeEvent,
    JournalPurgePermit,
    Message,
    now,
    pinned,
)
from .text import plural

WAITING = Demande.status == peewee.SQL("'waiting_partner'")  # as the partial index says it


def _midnight(day):
    return datetime.combine(day, time.min)


def _moment(today):
    """When an automatic change happens: now, or the start of `today` when the rules act as
    on another day (`ep housekeeping --today`)."""
    return now() if today == date.today() else _midnight(today)


def _waiting_days():
    """(days without an answer before the closing, days of notice before it); (0, 0) when
    the rule is off."""
    days = int(settings.get("EP_WAITING_PARTNER_CLOSE_DAYS", 60) or 0)
    if days <= 0:
        return 0, 0
    notice = int(settings.get("EP_WAITING_PARTNER_NOTICE_DAYS", 15) or 0)
    return days, max(1, min(notice, days))


def _warned(demande):
    """The structure was told, since the request last changed, that it will be closed."""
    warned = demande.close_warned_at
    return warned is not None and warned >= demande.updated_at


def closing_day(demande, today=None):
    """The day the nightly rules close this request if the structure does not answer (the
    earliest, when the notice is still to be sent); None when it does not wait for the
    structure or the rule is off."""
    days, notice = _waiting_days()
    if demande.status != "waiting_partner" or not days:
        return None
    since = demande.updated_at.date()
    if _warned(demande):
        told = demande.close_warned_at.date()
    else:
        told = max(since + timedelta(days=days - notice + 1), today or date.today())
    return max(since + timedelta(days=days + 1), told + timedelta(days=notice))


def _told(demande):
    """Who hears about a request waiting for the structure: the author and the techniciens
    who wrote on it, still active; or else the structure's active gestionnaires (who read
    no request, but can have a technicien answer)."""
    writers = Message.select(Message.author).where(Message.demande == demande.id)
    techniciens = list(
        Account.select()
        .where(
            ((Account.id == demande.author_id) | Account.id.in_(writers))
            & (Account.profile == "technicien")
            & (Account.state == "active")
        )
        .order_by(Account.id)
    )
    return techniciens or list(
        Account.active_gestionnaires(demande.partner_id).order_by(Account.id)
    )


def _tell(demande, template, subject, since, **context):
    """E-mail the request's number, caisse and dates (never the assuré) to `_told`."""
    caisse = Caisse.get_by_id(demande.caisse_id)
    for account in _told(demande):
        notices.queue(
            account.email,
            template,
            f"Demande n° {demande.reference} : {subject}",
            partner=demande.partner_id,
            caisse=demande.caisse_id,
            reference=demande.reference,
            caisse_name=caisse.name,
            demande_id=demande.id,
            since=since.strftime("%d/%m/%Y"),
            days=_waiting_days()[0],
            gestionnaire=account.profile == "gestionnaire",
            **context,
        )


def _event(demande, action, status, at):
    """A step of the request's history taken by the rules (no author): news for the
    structure, as a step of the caisse's would be."""
    event = DemandeEvent.create(demande=demande, actor=None, action=action, status=status, at=at)
    demande.last_caisse_event = event.id
    return event


def warn_before_closing(today):
    """Tell the structure, EP_WAITING_PARTNER_NOTICE_DAYS before, that a request waiting for
    its answer will be closed; once per waiting period (an answer, or a new request for more,
    starts another)."""
    days, notice = _waiting_days()
    if not days:
        return 0
    limit = _midnight(today) - timedelta(days=days - notice)
    due = Demande.select().where(
        WAITING
        & (Demande.updated_at < limit)
        & (Demande.close_warned_at.is_null() | (Demande.close_warned_at < Demande.updated_at))
    )

    def one(demande):
        at = _moment(today)
        demande.close_warned_at = at
        _event(demande, "close_warned", demande.status, at)
        demande.save(only=[Demande.close_warned_at, Demande.last_caisse_event])
        on = closing_day(demande, today)
        _tell(
            demande,
            "demande_closing",
            f"clôture automatique le {on:%d/%m/%Y} sans réponse",
            demande.updated_at,
            on=on.strftime("%d/%m/%Y"),
        )
        audit.record(
            "demande_close_warned",
            partner=demande.partner_id,
            caisse=demande.caisse_id,
            detail=f"demande {demande.reference}, clôture le {on:%d/%m/%Y}",
        )
        return 1

    return housekeeping._each(pinned(due, "demande_waiting_partner"), one)


def close_unanswered(today):
    """Close the requests that waited EP_WAITING_PARTNER_CLOSE_DAYS for the structure's
    answer, once it was told at least EP_WAITING_PARTNER_NOTICE_DAYS before."""
    days, notice = _waiting_days()
    if not days:
        return 0
    due = Demande.select().where(
        WAITING
        & (Demande.updated_at < _midnight(today) - timedelta(days=days))
        & (Demande.close_warned_at >= Demande.updated_at)
        & (Demande.close_warned_at < _midnight(today - timedelta(days=notice - 1)))
    )

    def one(demande):
        at = _moment(today)
        since = demande.updated_at
        demande.status = "closed"
        demande.closed_at = demande.updated_at = at
        demande.partner_reply_pending = False
        _event(demande, "auto_closed", "closed", at)
        demande.save()
        _tell(demande, "demande_auto_closed", "clôturée sans réponse", since, on=f"{at:%d/%m/%Y}")
        audit.record(
            "demande_auto_closed",
            partner=demande.partner_id,
            caisse=demande.caisse_id,
            detail=f"demande {demande.reference}, sans réponse depuis le {since:%d/%m/%Y}",
        )
        return 1

    return housekeeping._each(pinned(due, "demande_waiting_partner"), one)


def retention_limit(today):
    """Requests closed before this moment lose their personal data; None: rule off."""
    days = int(settings.get("EP_RETENTION_CLOSED_DAYS", 365) or 0)
    return _midnight(today) - timedelta(days=days) if days > 0 else None


def closed_to_purge(limit, after=None):
    """(id, closed_at, caisse) of the closed requests whose personal data is still there,
    closed before `limit`, by closing time after (closed_at, id) `after` (partial index
    `demande_retention`)."""
    query = Demande.select(Demande.id, Demande.closed_at, Demande.caisse).where(
        (Demande.status == peewee.SQL("'closed'"))
        & Demande.purged_at.is_null()
        & (Demande.closed_at < limit)
    )
    if after is not None:
        query = query.where(peewee.Tuple(Demande.closed_at, Demande.id) > peewee.Tuple(*after))
    return query.order_by(Demande.closed_at, Demande.id)


def purge_closed(today):
    """The requests closed more than EP_RETENTION_CLOSED_DAYS ago lose their personal data
    (identity, comments, messages, documents); each caisse's journal says how many, once a
    night."""
    limit = retention_limit(today)
    if limit is None:
        return 0
    per_caisse = Counter()
    n = housekeeping.purge_requests(
        lambda after, size: closed_to_purge(limit, after).limit(size),
        today,
        "retention",
        lambda rows: per_caisse.update(row[2] for row in rows),
    )
    if per_caisse:
        with housekeeping._batch():
            for caisse_id, count in sorted(per_caisse.items()):
                audit.record(
                    "demandes_purged",
                    caisse=caisse_id,
                    detail=f"{plural(count, 'demande clôturée')} avant le {limit:%d/%m/%Y} : "
                    "identité de l'assuré, commentaires, messages et documents effacés",
                )
    return n


def journal_limit(today):
    """Access traces older than this moment leave the journal; None: rule off."""
    days = int(settings.get("EP_JOURNAL_RETENTION_DAYS", 365) or 0)
    return _midnight(today) - timedelta(days=days) if days > 0 else None


def purge_journal(today):
    """Delete the journal's access traces (reads, exports) older than
    EP_JOURNAL_RETENTION_DAYS, through the sanctioned path: in each batch's transaction a
    permit says up to when, the trigger lets through a DELETE of an access trace older than
    that and nothing else, and the permit goes before the commit. The journal of each caisse
    (or structure, for traces naming no caisse) says how many went, up to which date."""
    up_to = journal_limit(today)
    if up_to is None:
        return 0
    gone = Counter()  # (caisse id, structure id for traces that name no caisse) -> count
    for caisse_id in [c.id for c in Caisse.select(Caisse.id).order_by(Caisse.id)] + [None]:
        for action in READ_ACTIONS:
            _purge_traces(caisse_id, action, up_to, gone)
    if gone:
        with housekeeping._batch():
            for (caisse_id, partner_id), count in sorted(gone.items(), key=str):
                audit.record(
                    "journal_purged",
                    caisse=caisse_id,
                    partner=partner_id,
                    detail=plural(
                        count,
                        "trace de consultation antérieure",
                        "traces de consultation antérieures",
                    )
                    + f" au {up_to:%d/%m/%Y} effacée{'s' if count > 1 else ''} (conservation : "
                    f"{settings.get('EP_JOURNAL_RETENTION_DAYS', 365)} jours)",
                )
    return sum(gone.values())


def old_traces(caisse_id, action, up_to, after=None):
    """(id, at, partner) of one caisse's (or, with None, no caisse's) traces of one action
    older than `up_to`, oldest first, after (at, id) `after` (index
    `caisse_id, action, at, id`)."""
    mine = AuditEvent.caisse.is_null() if caisse_id is None else AuditEvent.caisse == caisse_id
    query = AuditEvent.select(AuditEvent.id, AuditEvent.at, AuditEvent.partner).where(
        mine & (AuditEvent.action == action) & (AuditEvent.at < up_to)
    )
    if after is not None:
        query = query.where(peewee.Tuple(AuditEvent.at, AuditEvent.id) > peewee.Tuple(*after))
    return query.order_by(AuditEvent.at, AuditEvent.id)


def _purge_traces(caisse_id, action, up_to, gone):
    import time as clock

    size, after = 100, None
    while True:
        start = clock.monotonic()
        with housekeeping._batch():
            rows = list(old_traces(caisse_id, action, up_to, after).limit(size).tuples())
            if rows:
                JournalPurgePermit.delete().execute()  # none is ever left; never two
                JournalPurgePermit.create(up_to=up_to)
                AuditEvent.delete().where(
                    AuditEvent.id.in_([row[0] for row in rows])
                    & (AuditEvent.action == action)
                    & (AuditEvent.at < up_to)
                ).execute()
                JournalPurgePermit.delete().execute()
        for _, _, partner_id in rows:
            gone[(caisse_id, None if caisse_id else partner_id)] += 1
        if len(rows) < size:
            return
        after = (rows[-1][1], rows[-1][0])
        size = housekeeping._next_size(size, clock.monotonic() - start)
