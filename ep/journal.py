"""The journal as an investigation tool (issue 14.4): what a filter names (an account, a
request) found within the reader's scope, a page of events by position, the access traces
of one account collapsed, the rows of a filtered export. The scope is the journal's own
(`AuditEvent._scope`): a caisse reads its events and its structures' in force; a
structure's gestionnaire, its structure's."""

import re
from datetime import datetime, time, timedelta

from peewee import JOIN, fn

from .models import (
    READ_ACTIONS,
    Account,
    AuditEvent,
    Convention,
    Demande,
    JournalFilters,
    Partner,
)

BATCH = 1000  # events read at a time by an export


def find_account(user, name):
    """The account `name` (its username, case aside) among those the reader's journal may
    name: a caisse's agents and its structures' accounts; a structure's accounts and the
    agents of its caisses. None otherwise, whether it exists elsewhere or not."""
    name = (name or "").strip()
    if not name:
        return None
    account = Account.get_or_none(Account.username == name)
    if account is None:
        account = Account.select().where(fn.LOWER(Account.username) == name.lower()).first()
    if account is None:
        return None
    if user.profile == "caisse":
        if account.caisse_id == user.caisse_id:
            return account
        return account if account.partner_id in _partners_of(user) else None
    if account.partner_id == user.partner_id:
        return account
    caisses = Convention.select(Convention.caisse).where(
        (Convention.partner == user.partner_id) & Convention.in_force()
    )
    return account if account.caisse_id in {c.caisse_id for c in caisses} else None


def _partners_of(user):
    return {
        c.partner_id
        for c in Convention.select(Convention.partner).where(
            (Convention.caisse == user.caisse_id) & Convention.in_force()
        )
    }


def find_demande(user, number):
    """The request numbered `number` ("000123" or "123") addressed to the reader's caisse,
    or made by the reader's structure; None otherwise."""
    number = (number or "").strip()
    if not re.fullmatch(r"[0-9]{1,9}", number):
        return None
    mine = (
        Demande.caisse == user.caisse_id
        if user.profile == "caisse"
        else (Demande.partner == user.partner_id)
    )
    return Demande.select(Demande.id).where((Demande.id == int(number)) & mine).first()


def filters_from(form, user):
    """JournalFilters from a validated JournalFilterForm; a value that names nothing in the
    reader's scope gets its error by the field and filters nothing."""
    from .audit import ACTIONS

    account = demande = None
    if form.compte.data:
        account = find_account(user, form.compte.data)
        if account is None:
            name = form.compte.data.strip()
            form.compte.errors = [f"Aucun compte « {name} » dans votre journal."]
    action = form.action.data or None
    if action and action not in ACTIONS:
        form.action.errors = ["Choisissez une action de la liste."]
        action = None
    if form.demande.data:
        demande = find_demande(user, form.demande.data)
        if demande is None:
            form.demande.errors = [
                "Aucune demande de ce numéro dans votre périmètre (le numéro est fait de "
                "chiffres, par exemple 000123)."
            ]
    since = form.du.data and datetime.combine(form.du.data, time.min)
    until = form.au.data and datetime.combine(form.au.data, time.min) + timedelta(days=1)
    if since and until and until <= since:
        form.au.errors = ["La date de fin précède la date de début."]
        until = None
    return JournalFilters(
        account=account.id if account else None,
        action=action,
        demande=demande.id if demande else None,
        since=since or None,
        until=until or None,
        reads=bool(form.consultations.data) or action in READ_ACTIONS,
    )


def page(user, filters, before=None, after=None, size=AuditEvent.PER_PAGE):
    """(events, newer, older) of one page of the journal: newest first, older than the
    event at position `before`, or the page just newer than `after`; `newer` and `older`
    name the events to page from (None at either end)."""
    rows = None
    if after is not None:
        rows = list(AuditEvent.page_ids(user, after=after, size=size + 1, filters=filters))
        if len(rows) > size:
            rows = rows[:size]
        else:  # the newest page: shown from the newest, whatever the position said
            after, rows = None, None
    if rows is None:
        rows = list(AuditEvent.page_ids(user, before=before, size=size + 1, filters=filters))
    ids = [row.id for row in rows[:size]]
    events = list(AuditEvent.with_names(ids)) if ids else []
    newer = older = None
    if events:
        first, last = events[0], events[-1]
        if AuditEvent.page_ids(user, after=(first.at, first.id), size=1, filters=filters).exists():
            newer = first.id
        if AuditEvent.page_ids(user, before=(last.at, last.id), size=1, filters=filters).exists():
            older = last.id
    return events, newer, older


class ReadGroup:
    """Consecutive access traces of one account on a page, shown as one line."""

    is_group = True

    def __init__(self, events):
        self.events = events
        self.actor = events[0].actor
        self.newest, self.oldest = events[0].at, events[-1].at


def grouped(events):
    """The page's events, each run of two or more consecutive access traces of one account
    collapsed into a ReadGroup: a reading session stays one line among the others."""
    rows, run = [], []

    def flush():
        if len(run) > 1:
            rows.append(ReadGroup(list(run)))
        else:
            rows.extend(run)
        run.clear()

    for event in events:
        if event.action in READ_ACTIONS and (not run or run[0].actor_id == event.actor_id):
            run.append(event)
            continue
        flush()
        if event.action in READ_ACTIONS:
            run.append(event)
        else:
            rows.append(event)
    flush()
    return rows


def _name(prenom, nom, username, state):
    """An account as the journal names it (Account.display_name, from its columns)."""
    if username is None:
        return ""
    if state == "deleted":
        return "Ancien utilisateur"
    return f"{prenom} {nom}".strip() or username


def export_rows(user, filters=None, batch=BATCH):
    """The rows of the CSV of `user`'s journal under `filters`, newest first: the events'
    ids a batch at a time by position, then the columns shown, read as tuples (whole
    accounts made 28,000 lines take 7 s)."""
    from .audit import ACTIONS

    actor, concerned = Account.alias(), Account.alias()
    before = None
    while True:
        page = list(AuditEvent.page_ids(user, before=before, size=batch, filters=filters))
        if not page:
            return
        query = (
            AuditEvent.select(
                AuditEvent.at,
                actor.prenom,
                actor.nom,
                actor.username,
                actor.state,
                AuditEvent.action,
                concerned.prenom,
                concerned.nom,
                concerned.username,
                concerned.state,
                Partner.name,
                AuditEvent.detail,
                AuditEvent.ip,
            )
            .join_from(AuditEvent, actor, JOIN.LEFT_OUTER, on=(AuditEvent.actor == actor.id))
            .join_from(
                AuditEvent, concerned, JOIN.LEFT_OUTER, on=(AuditEvent.account == concerned.id)
            )
            .join_from(AuditEvent, Partner, JOIN.LEFT_OUTER, on=(AuditEvent.partner == Partner.id))
            .where(AuditEvent.id.in_([row.id for row in page]))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .tuples()
        )
        for at, *by, action, p, n, username, state, partner, detail, ip in query:
            yield (
                at.strftime("%Y-%m-%d %H:%M:%S"),
                _name(*by) or "Système",
                ACTIONS.get(action, action),
                _name(p, n, username, state),
                username or "",
                partner or "",
                detail,
                ip,
            )
        before = (page[-1].at, page[-1].id)


def described(filters, form):
    """The export's filters in words, for its trace (usernames and numbers, never an
    assuré)."""
    parts = []
    if filters.account is not None:
        parts.append(f"compte {form.compte.data.strip()}")
    if filters.action:
        parts.append(f"action {filters.action}")
    if filters.demande is not None:
        parts.append(f"demande {filters.demande:06d}")
    if filters.since:
        parts.append(f"du {filters.since:%d/%m/%Y}")
    if filters.until:
        parts.append(f"au {filters.until - timedelta(days=1):%d/%m/%Y}")
    parts.append("consultations comprises" if filters.reads else "sans les consultations")
    return "filtres : " + ", ".join(parts)
