"""Dated rules, applied by `ep housekeeping [--today]` and once a day by `ep serve` (once
a day across all the server processes that share the database: `nightly`).

- techniciens unused for EP_TECHNICIEN_IDLE_DAYS (3 months) are inactivated (`002_…` annexe 2),
  told EP_IDLE_WARNING_DAYS (15) before by e-mail, and told again with their gestionnaires
  when it happens;
- scheduled gestionnaire inactivations happen on their date (§2.2);
- at the end of a convention, the partner's accounts are inactivated unless it keeps another
  active convention (§2.2, §5);
- inactive accounts are deleted after EP_DELETE_AFTER_DAYS (6 months), personal data erased;
- files kept for a form that was never sent leave after a day.
Each rule is idempotent: running twice the same day changes nothing more.
"""

import threading
import time
from datetime import date, datetime, timedelta

from peewee import fn

from . import accounts, attachments, audit, drafts, login, notices, reviews, settings
from .db import checkpoint, database, serialise, write
from .models import Account, Attachment, Convention, Demande, Message, NightlyRun, Partner, now


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
    n = 0
    for account in list(idle_techniciens(today)):
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
        n += 1
    return n


def _idle_warnings(today):
    """Tell each technicien, once per idle period, that the idle inactivation is near."""
    days = settings.get("EP_TECHNICIEN_IDLE_DAYS") - settings.get("EP_IDLE_WARNING_DAYS")
    if days <= 0:
        return 0
    n = 0
    for account in list(idle_techniciens(today, days).where(Account.idle_warned_at.is_null())):
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
        n += 1
    return n


def _scheduled(today):
    n = 0
    for account in Account.select().where(
        (Account.scheduled_inactivation_on <= today) & (Account.state.in_(("active", "invited")))
    ):
        _deactivate(
            account,
            "Inactivation programmée à la demande du partenaire",
            "scheduled_deactivated",
            today,
        )
        n += 1
    return n


def _deletions(today):
    cutoff = datetime.combine(today, datetime.min.time()) - timedelta(
        days=settings.get("EP_DELETE_AFTER_DAYS")
    )
    n = 0
    for account in Account.select().where(
        (Account.state == "inactive") & (Account.inactivated_at <= cutoff)
    ):
        accounts.erase(account, today)
        n += 1
    return n


def _reviews(today):
    return dict(zip(("reviews_opened", "reviews_reminded"), reviews.run_dated(today), strict=True))


def _old_notices(today):
    """E-mails sent a week ago, and given up a month ago, leave the outbox (they carry
    addresses and usernames)."""
    from .models import Notice

    midnight = datetime.combine(today, datetime.min.time())
    return (
        Notice.delete()
        .where(
            ((Notice.status == "sent") & (Notice.sent_at < midnight - timedelta(days=7)))
            | ((Notice.status == "failed") & (Notice.created_at < midnight - timedelta(days=30)))
        )
        .execute()
    )


def _abandoned_uploads(today):
    """Files kept for a form that was never sent leave after a day (issue 10.3)."""
    midnight = datetime.combine(today, datetime.min.time())
    return attachments.drop_abandoned(midnight - timedelta(days=1))


def _login_failures(today):
    login.purge_failures(datetime.combine(today, datetime.min.time()))
    return 0


# Each family commits on its own: one that fails is logged and the others still run (a
# review e-mail that cannot be built must not keep idle accounts open for ever).
FAMILIES = [
    ("idle", _idle),
    ("idle_warned", _idle_warnings),
    ("scheduled", _scheduled),
    ("convention_ended", lambda today: _ends_of_convention(today)),
    ("purged", lambda today: _purge_ended_conventions(today)),
    ("reviews", _reviews),
    ("deleted", _deletions),
    ("login_failures", _login_failures),
    ("old_notices", _old_notices),
    ("drafts", lambda today: drafts.purge(today)),
    ("abandoned_uploads", _abandoned_uploads),
]


def run(today=None, log=None):
    """Apply every dated rule as on `today`; returns counts per rule, and the families that
    failed under "failed" (their names)."""
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
        "failed": [],
    }
    for name, family in FAMILIES:
        try:
            with write():
                # Two runs at once (two servers, or one and `ep housekeeping`) take turns
                # family by family: the second finds the first's work done.
                serialise("ep.housekeeping")
                done = family(today)
        except Exception:
            log.exception("housekeeping: %s failed", name)
            counts["failed"].append(name)
            continue
        if isinstance(done, dict):
            counts.update(done)
        elif name in counts:
            counts[name] = done
    if counts["deleted"] or counts["purged"]:
        checkpoint()
    notices.wake()
    return counts


def _ends_of_convention(today):
    """Partners left with no active convention lose every account (inactivated)."""
    n = 0
    ended = Convention.select().where(Convention.ends_on <= today)
    for partner in Partner.select().where(Partner.id.in_(ended.select(Convention.partner))):
        if any(c.is_active(today) for c in partner.conventions):
            continue
        for account in Account.select().where(
            (Account.partner == partner) & (Account.state.in_(("active", "invited")))
        ):
            _deactivate(account, "Fin de la convention de partenariat", "convention_ended", today)
            n += 1
    return n


def _purge_ended_conventions(today):
    """Personal data is destroyed at the end of the convention (§5, `002_…` annexe 3)."""
    return sum(
        purge_convention(c, today) for c in Convention.select().where(Convention.ends_on <= today)
    )


def purge_convention(convention, today):
    """Erase the assuré's identity, comments, messages and documents of the requests made
    under this convention; the requests stay as anonymous records (dates, offers, statuses)."""
    n = 0
    purged = Demande.select().where(
        (Demande.partner == convention.partner_id)
        & (Demande.caisse == convention.caisse_id)
        & (Demande.purged_at.is_null())
    )
    for demande in purged:
        files = list(Attachment.select().where(Attachment.demande == demande))
        Attachment.delete().where(Attachment.demande == demande).execute()
        attachments.erase_files(files)
        Message.update(body="").where(Message.demande == demande).execute()
        Demande.update(
            assure_civilite="",
            assure_nom="",
            assure_prenom="",
            assure_date_naissance=None,
            assure_departement="",
            assure_search="",
            commentaire="",
            purged_at=datetime.combine(today, datetime.min.time()),
        ).where(Demande.id == demande.id).execute()
        n += 1
    return n


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
