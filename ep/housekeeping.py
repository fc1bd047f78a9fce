"""Dated rules, applied by `ep housekeeping [--today]` and once a day by `ep serve` (once
a day across all the server processes that share the database: `nightly`).

- techniciens unused for EP_TECHNICIEN_IDLE_DAYS (3 months) are inactivated (`002_…` annexe 2),
  told EP_IDLE_WARNING_DAYS (15) before by e-mail, and told again with their gestionnaires
  when it happens;
- scheduled gestionnaire inactivations happen on their date (§2.2);
- at the end of a convention, the partner's accounts are inactivated unless it keeps another
  active convention (§2.2, §5);
- inactive accounts are deleted after EP_DELETE_AFTER_DAYS (6 months), personal data erased;
- files kept for a form that was never sent leave after a day;
- the structures are reminded of a yearly evaluation to answer, before its date and once
  it has passed (issue 13.4).
- personal data for as long as needed (`ep/retention.py`, issue 14): requests unanswered by
  the structure closed after a notice, closed requests purged after EP_RETENTION_CLOSED_DAYS,
  the journal's access traces after EP_JOURNAL_RETENTION_DAYS.
Each rule is idempotent: running twice the same day changes nothing more.

Each family commits in short batches (issue 11): on SQLite a write transaction blocks every
other writer, so a night with thousands of accounts to inactivate or requests to purge must
never make a submission or a login wait more than a fraction of a second.
"""

import contextlib
import threading
import time
from datetime import date, datetime, timedelta

from peewee import fn

from . import (
    accounts,
    attachments,
    audit,
    drafts,
    evaluations,
    login,
    notices,
    retention,
    reviews,
    settings,
)
from .db import checkpoint, database, serialise, timed_writes, write
from .models import (
    Account,
    Attachment,
    Convention,
    Demande,
    Message,
    NightlyRun,
    Notice,
    Partner,
    now,
)

# A batch stops taking rows once it has held the write lock about this long (seconds), and
# takes this many rows at most (five times more for set-based deletes and purges).
BATCH_SECONDS = 0.05
BATCH_ROWS = 200


@contextlib.contextmanager
def _batch():
    """One write transaction of the run. Two runs at once (two servers, or one and `ep
    housekeeping`) take turns batch by batch; each batch reads its rows once it has its
    turn, so the second finds the first's work done."""
    with write():
        serialise("ep.housekeeping")
        yield


def _each(query, apply):
    """`apply(row)` to every row of `query`, in batches that each commit: a batch takes rows
    after the last one done (by id), so that a row a rule leaves as it is is not taken again,
    and about as many as the previous batch could do in its time. Returns the sum of what
    `apply` returned."""
    model = query.model
    done = last = 0
    limit = 10
    while True:
        with _batch():
            rows = list(query.where(model.id > last).order_by(model.id).limit(limit))
            deadline = time.monotonic() + BATCH_SECONDS
            taken = 0
            for row in rows:
                done += apply(row)
                last = row.id
                taken += 1
                if time.monotonic() > deadline:
                    break
        if len(rows) < limit and taken == len(rows):
            return done
        limit = min(BATCH_ROWS, max(10, 2 * taken if taken == len(rows) else taken))


def _next_size(size, seconds):
    """How many rows the next set-based batch takes, for it to last about BATCH_SECONDS."""
    wanted = size * BATCH_SECONDS / max(seconds, 0.001)
    return int(min(5 * BATCH_ROWS, max(10, min(2 * size, wanted))))


def _delete(model, condition):
    """Delete the rows that meet `condition`, a batch per transaction; how many went."""
    n, size = 0, 100
    while True:
        start = time.monotonic()
        with _batch():
            ids = [i for (i,) in model.select(model.id).where(condition).limit(size).tuples()]
            if ids:
                model.delete().where(model.id.in_(ids)).execute()
        n += len(ids)
        if len(ids) < size:
            return n
        size = _next_size(size, time.monotonic() - start)


def _at_once(rule):
    """A family small enough for one transaction (a day's login failures, drafts…)."""

    def family(today):
        with _batch():
            return rule(today)

    return family


def _deactivate(account, reason, action, today):
    account.state = "inactive"
    account.inactivated_at = datetime.combine(today, datetime.min.time())
    account.inactivation_reason = reason
    account.scheduled_inactivation_on = None
    account.rotate_session()
    account.save()
    audit.record(action, account=account, detail=reason)


def idle_techniciens(today, days=None):
    """Techniciens whose last use (login, creation or reactivation) is older than the limit
    (EP_TECHNICIEN_IDLE_DAYS, or `days`)."""
    if days is None:
        days = settings.get("EP_TECHNICIEN_IDLE_DAYS")
    limit = datetime.combine(today, datetime.min.time()) - timedelta(days=days)
    return Account.select().where(
        (Account.profile == "technicien")
        & Account.state.in_(("active", "invited"))
        & (fn.COALESCE(Account.last_login_at, Account.created_at) < limit)
        & (Account.created_at < limit)
        & (Account.reactivated_at.is_null() | (Account.reactivated_at < limit))
    )


def idle_day(account):
    """The day the nightly rule inactivates this technicien if nobody uses the account."""
    used = [account.last_login_at or account.created_at, account.created_at]
    used.append(account.reactivated_at)
    last = max(d for d in used if d is not None)
    days = settings.get("EP_TECHNICIEN_IDLE_DAYS")
    return (last + timedelta(days=days)).date() + timedelta(days=1)


def _idle(today):
    """Inactivate idle techniciens; each is told, and so are the structure's gestionnaires."""
    days = settings.get("EP_TECHNICIEN_IDLE_DAYS")
    deleted_on = today + timedelta(days=settings.get("EP_DELETE_AFTER_DAYS"))

    def one(account):
        _deactivate(account, f"Compte inutilisé depuis {days} jours", "auto_deactivated", today)
        gestionnaires = [g.display_name for g in Account.active_gestionnaires(account.partner_id)]
        notices.queue(
            account.email,
            "idle_deactivated",
            "Votre compte Espace Partenaires est inactivé",
            partner=account.partner_id,
            username=account.username,
            days=days,
            on=today.strftime("%d/%m/%Y"),
            deleted_on=deleted_on.strftime("%d/%m/%Y"),
            gestionnaires=", ".join(gestionnaires),
        )
        accounts.notify_partner(
            account.partner_id,
            f"Compte {account.username} inactivé (inutilisé depuis {days} jours)",
            f"Le compte technicien {account.username} ({account.display_name}) de votre "
            f"structure n'a pas été utilisé depuis {days} jours : il a été inactivé "
            "automatiquement, comme le prévoit la convention. Si la personne en a encore "
            "besoin, vous pouvez le réactiver jusqu'à sa suppression, le "
            f"{deleted_on.strftime('%d/%m/%Y')}.",
            endpoint="accounts.show",
            link_args={"account_id": account.id},
            link_label="Pour le réactiver",
        )
        return 1

    return _each(idle_techniciens(today), one)


def _idle_warnings(today):
    """Tell each technicien, once per idle period, that the idle inactivation is near."""
    days = settings.get("EP_TECHNICIEN_IDLE_DAYS") - settings.get("EP_IDLE_WARNING_DAYS")
    if days <= 0:
        return 0

    def one(account):
        notices.queue(
            account.email,
            "idle_warning",
            "Votre compte Espace Partenaires sera bientôt inactivé",
            partner=account.partner_id,
            username=account.username,
            days=settings.get("EP_TECHNICIEN_IDLE_DAYS"),
            on=idle_day(account).strftime("%d/%m/%Y"),
            invited=account.state == "invited",
        )
        account.idle_warned_at = datetime.combine(today, datetime.min.time())
        account.save()
        audit.record("idle_warned", account=account, detail=idle_day(account).isoformat())
        return 1

    return _each(idle_techniciens(today, days).where(Account.idle_warned_at.is_null()), one)


def _scheduled(today):
    def one(account):
        _deactivate(
            account,
            "Inactivation programmée à la demande du partenaire",
            "scheduled_deactivated",
            today,
        )
        return 1

    return _each(
        Account.select().where(
            (Account.scheduled_inactivation_on <= today)
            & (Account.state.in_(("active", "invited")))
        ),
        one,
    )


def _deletions(today):
    cutoff = datetime.combine(today, datetime.min.time()) - timedelta(
        days=settings.get("EP_DELETE_AFTER_DAYS")
    )

    def one(account):
        accounts.erase(account, today)
        return 1

    return _each(
        Account.select().where((Account.state == "inactive") & (Account.inactivated_at <= cutoff)),
        one,
    )


def _reviews(today):
    counts = reviews.run_dated(today, transaction=_batch)
    return dict(zip(("reviews_opened", "reviews_reminded"), counts, strict=True))


def _evaluations(today):
    return evaluations.run_dated(today, transaction=_batch)


def _old_notices(today):
    """E-mails sent a week ago, and given up a month ago, leave the outbox (they carry
    addresses and usernames)."""
    midnight = datetime.combine(today, datetime.min.time())
    return _delete(
        Notice,
        ((Notice.status == "sent") & (Notice.sent_at < midnight - timedelta(days=7)))
        | ((Notice.status == "failed") & (Notice.created_at < midnight - timedelta(days=30))),
    )


def _abandoned_uploads(today):
    """Files kept for a form that was never sent leave after a day (issue 10.3)."""
    midnight = datetime.combine(today, datetime.min.time())
    return attachments.drop_abandoned(midnight - timedelta(days=1))


def _login_failures(today):
    login.purge_failures(datetime.combine(today, datetime.min.time()))
    return 0


# Each family commits on its own, in batches: one that fails is logged and the others still
# run (a review e-mail that cannot be built must not keep idle accounts open for ever); the
# batches it committed before failing stay done (each one is a rule applied in full).
FAMILIES = [
    ("idle", _idle),
    ("idle_warned", _idle_warnings),
    ("scheduled", _scheduled),
    ("convention_ended", lambda today: _ends_of_convention(today)),
    ("purged", lambda today: _purge_ended_conventions(today)),
    ("reviews", _reviews),
    ("deleted", _deletions),
    ("login_failures", _at_once(_login_failures)),
    ("old_notices", _old_notices),
    ("drafts", _at_once(lambda today: drafts.purge(today))),
    ("abandoned_uploads", _at_once(_abandoned_uploads)),
    ("evaluations", _evaluations),
    # Issue 14: personal data for as long as it is needed (ep/retention.py).
    ("waiting_warned", lambda today: retention.warn_before_closing(today)),
    ("auto_closed", lambda today: retention.close_unanswered(today)),
    ("retention_purged", lambda today: retention.purge_closed(today)),
    ("journal_purged", lambda today: retention.purge_journal(today)),
]

# Families that erase personal data: the WAL is folded into the database file after them,
# so that what they erased leaves the WAL too.
ERASING = ("deleted", "purged", "retention_purged", "journal_purged")


def run(today=None, log=None):
    """Apply every dated rule as on `today`; returns counts per rule, the families that
    failed under "failed" (their names), and how many write transactions the run made and
    the longest time one held the lock ("transactions", "longest_hold" in seconds)."""
    import logging

    log = log or logging.getLogger("ep.housekeeping")
    today = today or date.today()
    counts = {
        "idle": 0,
        "idle_warned": 0,
        "scheduled": 0,
        "convention_ended": 0,
        "purged": 0,
        "reviews_opened": 0,
        "reviews_reminded": 0,
        "deleted": 0,
        "abandoned_uploads": 0,
        "evaluations_reminded": 0,
        "waiting_warned": 0,
        "auto_closed": 0,
        "retention_purged": 0,
        "journal_purged": 0,
        "failed": [],
    }
    with timed_writes(yielding=True) as holds:
        for name, family in FAMILIES:
            try:
                done = family(today)
            except Exception:
                log.exception("housekeeping: %s failed", name)
                counts["failed"].append(name)
                continue
            if isinstance(done, dict):
                counts.update(done)
            elif name in counts:
                counts[name] = done
    counts["transactions"], counts["longest_hold"] = holds.count, holds.longest
    if any(counts[name] for name in ERASING):
        checkpoint()
    notices.wake()
    return counts


def _ends_of_convention(today):
    """Partners left with no active convention lose every account (inactivated)."""
    ended = Convention.select(Convention.partner).where(Convention.ends_on <= today)

    def one(partner):
        if any(c.is_active(today) for c in partner.conventions):
            return 0
        n = 0
        for account in Account.select().where(
            (Account.partner == partner) & (Account.state.in_(("active", "invited")))
        ):
            _deactivate(account, "Fin de la convention de partenariat", "convention_ended", today)
            n += 1
        return n

    return _each(Partner.select().where(Partner.id.in_(ended)), one)


def _purge_ended_conventions(today):
    """Personal data is destroyed at the end of the convention (§5, `002_…` annexe 3)."""
    ended = list(Convention.select().where(Convention.ends_on <= today))
    return sum(purge_convention(c, today) for c in ended)


def purge_convention(convention, today):
    """Erase the assuré's identity, comments, messages and documents of the requests made
    under this convention; the requests stay as anonymous records (dates, offers, statuses).
    Who was trained under it goes too: it is staff data (issue 12.5)."""
    from .conventions import erase_trainees

    n = purge_requests(
        lambda after, size: Demande.to_purge(convention, after).limit(size),
        today,
        "convention",
        first=lambda: erase_trainees(convention),
    )
    _purge_threads(convention)
    return n


def purge_requests(batch_of, today, reason, counted=None, first=None):
    """Erase the personal data of requests (`erase_personal_data`), a batch per statement
    and per transaction; their files go once it committed. `batch_of(after, size)`: a query
    of rows (id, key, …) of requests still to purge, in key order, after (key, id) `after`;
    `counted(rows)` sees each batch's rows; `first()` runs in the first batch's transaction.
    Returns how many requests were purged."""
    n, size, after = 0, 20, None
    while True:
        start = time.monotonic()
        with _batch():
            if after is None and first is not None:
                first()
            rows = list(batch_of(after, size).tuples())
            files = erase_personal_data([row[0] for row in rows], today, reason)
            if counted is not None:
                counted(rows)
        attachments.erase_files(files)
        n += len(rows)
        if len(rows) < size:
            return n
        after = (rows[-1][1], rows[-1][0])
        size = _next_size(size, time.monotonic() - start)


def _purge_threads(convention):
    """The exchanges the caisse opened with the structure go too (issue 12.2)."""
    from . import threads

    if not threads.of_convention(convention).exists():  # every night, for every ended one
        return
    with _batch():
        _, files = threads.purge(convention)
    attachments.erase_files(files)


def erase_personal_data(ids, today, reason):
    """Inside a transaction: the requests `ids` lose the assuré's identity, the comments,
    the messages' text and the documents (rows here, files returned for the caller to
    remove once committed); they keep what the statistics count (dates, caisse, structure,
    offer, motif, status, urgency, target). `reason`: "convention", "retention"."""
    if not ids:
        return []
    files = list(Attachment.select().where(Attachment.demande.in_(ids)))
    if files:
        Attachment.delete().where(Attachment.demande.in_(ids)).execute()
    Message.update(body="").where(Message.demande.in_(ids)).execute()
    Demande.update(
        assure_civilite="",
        assure_nom="",
        assure_prenom="",
        assure_date_naissance=None,
        assure_departement="",
        assure_search="",
        commentaire="",
        purged_at=datetime.combine(today, datetime.min.time()),
        purge_reason=reason,
    ).where(Demande.id.in_(ids)).execute()
    return files


# A night's run takes seconds; a process that dies in the middle of one leaves the day to
# another process once this has passed.
LEASE = timedelta(hours=1)


def runner_name():
    """Who runs: this machine and process, as the record of the night names it."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def _take_night(today, runner, at):
    """The day's record, taken by `runner` (created, or taken over from a runner whose lease
    ran out), or None with the record as another runner left it."""
    with write():
        serialise("ep.nightly")
        night = NightlyRun.get_or_none(NightlyRun.day == today)
        if night is None:
            NightlyRun.create(day=today, runner=runner, started_at=at, lease_until=at + LEASE)
            return True, None
        if night.finished_at is not None or night.lease_until > at:
            return False, night
        night.runner, night.started_at, night.lease_until = runner, at, at + LEASE
        night.save()
        return True, None


def nightly(runner, today=None, at=None, log=None):
    """The rules of the night, once whatever the number of processes that ask: returns
    (counts, None) when this runner ran them, or (None, the day's record) when another one
    has run them or is running them."""
    import json

    today = today or date.today()
    at = at or now()
    taken, night = _take_night(today, runner, at)
    if not taken:
        return None, night
    counts = run(today, log)
    with write():
        NightlyRun.update(finished_at=now(), counts=json.dumps(counts)).where(
            (NightlyRun.day == today) & (NightlyRun.runner == runner)
        ).execute()
    return counts, None


def start_daily(app):
    """Run the rules at start unless today's are done, then every day at
    EP_HOUSEKEEPING_HOUR, in a thread. Several processes on one database run them once a
    day: the first to ask takes the day; one that finds the day taken by a runner that never
    finished tries again when that runner's lease ends."""
    runner = runner_name()

    def loop():
        while True:
            retry_at = None
            with app.app_context():
                try:
                    with database.connection_context():
                        _, night = nightly(runner, log=app.logger)
                    if night is not None and night.finished_at is None:
                        retry_at = night.lease_until
                except Exception:  # keep serving even if one run fails; the log says why
                    app.logger.exception("housekeeping failed")
            moment = datetime.now()
            next_run = moment.replace(hour=app.config["EP_HOUSEKEEPING_HOUR"], minute=0, second=0)
            if next_run <= moment:
                next_run += timedelta(days=1)
            if retry_at is not None:
                next_run = min(next_run, max(retry_at, moment) + timedelta(seconds=1))
            time.sleep((next_run - moment).total_seconds())

    thread = threading.Thread(target=loop, name="housekeeping", daemon=True)
    thread.start()
    return thread
