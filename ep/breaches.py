"""Reporting a suspected personal data breach to the caisses' DPO within 24 hours
(`002_…` annexe 3, `004_…` art. 6; issue 14.3).

A structure's gestionnaire says what happened, when it was noticed (and when it happened,
if known), which of the structure's accounts and which caisses it concerns. The app adds
the facts the journal knows about those accounts (their logins and their reads: usernames,
addresses and request numbers, never an assuré), keeps the report and e-mails it, through
the notification layer, to the DPO of each caisse concerned, or, when a caisse gave none,
to whom docs/decisions.md says. The structure's own DPO gets a copy.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from peewee import fn

from . import audit, notices
from .db import write
from .models import (
    READ_ACTIONS,
    Account,
    AuditEvent,
    Breach,
    BreachAccount,
    BreachCaisse,
    Caisse,
    Contact,
    Convention,
    Partner,
    now,
)
from .rules import RuleError
from .text import plural

LOGIN_ACTIONS = ("login", "login_failed", "login_inactive", "logout")
FACT_ACTIONS = LOGIN_ACTIONS + READ_ACTIONS
FACT_LINES = 20  # the latest lines per account; the counts cover the whole period
FACTS_BEFORE = timedelta(days=7)  # looked back from the discovery when the date is unknown
FACTS_AT_MOST = timedelta(days=30)  # never further back than this before the discovery
DESCRIPTION_MAX, MEASURES_MAX = 5000, 3000
FUTURE_SLACK = timedelta(minutes=5)  # a clock a little ahead of the server's


def caisses_for(partner_id, today=None):
    """The caisses whose convention with the structure is in force, by name."""
    return list(
        Caisse.select()
        .join(Convention)
        .where((Convention.partner == partner_id) & Convention.in_force(today))
        .order_by(Caisse.name)
    )


def accounts_for(partner_id):
    """The structure's accounts a report may name (not the deleted ones), by profile and
    name."""
    return list(
        Account.visible()
        .where(Account.partner == partner_id)
        .order_by(Account.profile, fn.LOWER(Account.nom), fn.LOWER(Account.prenom), Account.id)
    )


@dataclass
class Recipients:
    """Who a caisse's copy of a report goes to: `kind` in BREACH_SENT_TO, the addresses,
    and the phone numbers of DPO that have no address (to call)."""

    kind: str
    emails: list = field(default_factory=list)
    phones: list = field(default_factory=list)


def recipients(caisse_id):
    """The caisse's DPO contacts with an address; when there is none, its référents; then
    its active agents, who can reach their DPO; 'none' when nobody has an address
    (docs/decisions.md, "Signalement d'une violation")."""
    caisse = Caisse.get_by_id(caisse_id)
    dpo = list(caisse.dpo_contacts())
    phones = [c.phone for c in dpo if c.phone and not c.email]
    emails = _unique(c.email for c in dpo)
    if emails:
        return Recipients("dpo", emails, phones)
    referents = Contact.owned_by(caisse=caisse_id).where(Contact.role == "referent")
    emails = _unique(c.email for c in referents)
    if emails:
        return Recipients("referent", emails, phones)
    agents = Account.select(Account.email).where(
        (Account.caisse == caisse_id) & (Account.profile == "caisse") & (Account.state == "active")
    )
    emails = _unique(a.email for a in agents.order_by(Account.id))
    return Recipients("agents" if emails else "none", emails, phones)


def _unique(emails):
    seen = []
    for email in emails:
        email = (email or "").strip()
        if email and email.lower() not in {s.lower() for s in seen}:
            seen.append(email)
    return seen


@dataclass
class Clock:
    """The 24-hour clock of a report: its deadline, and how much time is left at `at`."""

    deadline: datetime
    at: datetime

    @property
    def overdue(self):
        return self.at > self.deadline

    @property
    def label(self):
        """'il reste 5 h', 'il reste 40 min', 'délai dépassé'."""
        if self.overdue:
            return "délai dépassé"
        minutes = int((self.deadline - self.at).total_seconds() // 60)
        if minutes >= 60:
            return f"il reste {minutes // 60} h"
        return f"il reste {max(minutes, 1)} min"


def clock(noticed_at, at=None):
    """The clock of a breach noticed at `noticed_at`: deadline 24 hours later."""
    return Clock(noticed_at + Breach.DEADLINE, at or now())


def facts_since(noticed_at, happened_at=None):
    """Where the facts start: when it happened (a day earlier, for what led to it), else a
    week before it was noticed; never more than 30 days before it was noticed."""
    start = (happened_at - timedelta(days=1)) if happened_at else noticed_at - FACTS_BEFORE
    return max(start, noticed_at - FACTS_AT_MOST)


def _stamp(value):
    return value.strftime("%d/%m/%Y à %H:%M")


def account_facts(account, since, until):
    """What the journal knows of one account between `since` and `until`: its logins,
    failed logins and reads counted, and the latest FACT_LINES of them, as text lines that
    do not name the account (kept with the report; the name is read from the account when
    shown, and goes with it when the account is deleted)."""
    mine = (
        (AuditEvent.actor == account.id)
        | ((AuditEvent.account == account.id) & AuditEvent.actor.is_null())
    ) & AuditEvent.action.in_(FACT_ACTIONS)
    period = (AuditEvent.at >= since) & (AuditEvent.at <= until)
    counts = dict(
        AuditEvent.select(AuditEvent.action, fn.COUNT(AuditEvent.id))
        .where(mine & period)
        .group_by(AuditEvent.action)
        .tuples()
    )
    logins = counts.get("login", 0)
    failed = counts.get("login_failed", 0) + counts.get("login_inactive", 0)
    reads = sum(counts.get(a, 0) for a in READ_ACTIONS)
    lines = [
        f"Du {_stamp(since)} au {_stamp(until)} : {plural(logins, 'connexion')}, "
        f"{plural(failed, 'échec')} de connexion, "
        f"{plural(reads, 'consultation ou export', 'consultations ou exports')}."
    ]
    events = (
        AuditEvent.select(AuditEvent.at, AuditEvent.action, AuditEvent.detail, AuditEvent.ip)
        .where(mine & period)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(FACT_LINES)
    )
    for event in events:
        what = audit.ACTIONS.get(event.action, event.action)
        detail = f" ({event.detail})" if event.detail else ""
        lines.append(f"  - {_stamp(event.at)} : {what}{detail}, adresse {event.ip or '?'}")
    if sum(counts.values()) > FACT_LINES:
        lines.append(f"  (les {FACT_LINES} plus récentes ; le journal de la structure a le reste)")
    return "\n".join(lines)


def named(account):
    """An account as a report names it: username, name, profile."""
    return f"{account.username} ({account.display_name}, {account.profile_label.lower()})"


def facts(accounts, since, until):
    """The facts of every account, each under its name: for the e-mail and the form."""
    if not accounts:
        return NO_ACCOUNT
    return "\n\n".join(f"Compte {named(a)}\n{account_facts(a, since, until)}" for a in accounts)


NO_ACCOUNT = "Aucun compte désigné : pas de connexion ni de consultation à rapporter."


def _clean(actor, fields, at, today):
    """The report's values from the typed ones; RuleError naming every field at fault."""
    errors = []
    description = (fields.get("description") or "").strip()
    measures = (fields.get("measures") or "").strip()
    if not description:
        errors.append(("description", "Décrivez ce qui s'est passé."))
    elif len(description) > DESCRIPTION_MAX:
        errors.append(("description", f"{DESCRIPTION_MAX} caractères au plus."))
    if len(measures) > MEASURES_MAX:
        errors.append(("measures", f"{MEASURES_MAX} caractères au plus."))
    noticed_at, happened_at = fields.get("noticed_at"), fields.get("happened_at")
    if noticed_at is None:
        errors.append(("noticed_on", "Indiquez quand la violation a été constatée."))
    elif noticed_at > at + FUTURE_SLACK:
        errors.append(("noticed_on", "Ce moment n'est pas encore arrivé."))
    if happened_at is not None:
        if happened_at > at + FUTURE_SLACK:
            errors.append(("happened_on", "Ce moment n'est pas encore arrivé."))
        elif noticed_at is not None and happened_at > noticed_at:
            errors.append(("happened_on", "Elle n'a pas pu avoir lieu après avoir été constatée."))
    mine = {a.id: a for a in accounts_for(actor.partner_id)}
    wanted = [_int(v) for v in fields.get("accounts") or []]
    if any(i not in mine for i in wanted):
        errors.append(("accounts", "Choisissez des comptes de la liste."))
    caisses = {c.id: c for c in caisses_for(actor.partner_id, today)}
    chosen = [_int(v) for v in fields.get("caisses") or []]
    if not chosen:
        errors.append(("caisses", "Choisissez au moins une caisse à prévenir."))
    elif any(i not in caisses for i in chosen):
        errors.append(("caisses", "Choisissez des caisses de la liste."))
    if errors:
        raise RuleError(errors[0][1], errors[0][0], errors=errors)
    return {
        "description": description,
        "measures": measures,
        "noticed_at": noticed_at,
        "happened_at": happened_at,
        "accounts": [mine[i] for i in dict.fromkeys(wanted)],
        "caisses": [caisses[i] for i in dict.fromkeys(chosen)],
    }


def _int(value):
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def check(actor, fields, at=None):
    """Refuse (RuleError) what `report` would refuse, writing nothing: a form that fails
    its own checks shows the rule's refusals too, all at once."""
    at = at or now()
    _clean(actor, fields, at, at.date())


def report(actor, fields, at=None):
    """Record a structure's breach report and e-mail it to the DPO of each caisse concerned
    (or the fallback), with a copy to the structure's DPO. `fields`: description, measures,
    noticed_at, happened_at (datetimes), accounts and caisses (ids). Audited. The caller
    has checked who may report (access.can_report_breach)."""
    at = at or now()
    if not actor.partner_id:
        raise RuleError("Seule une structure partenaire signale une violation à une caisse.")
    clean = _clean(actor, fields, at, at.date())
    partner = Partner.get_by_id(actor.partner_id)
    since = facts_since(clean["noticed_at"], clean["happened_at"])
    with write():
        found = {a.id: account_facts(a, since, at) for a in clean["accounts"]}
        breach = Breach.create(
            partner=partner.id,
            reported_by=actor.id,
            created_at=at,
            noticed_at=clean["noticed_at"],
            happened_at=clean["happened_at"],
            description=clean["description"],
            measures=clean["measures"],
            facts=f"Du {_stamp(since)} au {_stamp(at)}",
        )
        for account in clean["accounts"]:
            BreachAccount.create(breach=breach.id, account=account.id, facts=found[account.id])
        context = _context(breach, actor, partner, clean["accounts"], found, at)
        for caisse in clean["caisses"]:
            sent = recipients(caisse.id)
            BreachCaisse.create(
                breach=breach.id,
                caisse=caisse.id,
                sent_to=sent.kind,
                recipients="\n".join(sent.emails),
            )
            for email in sent.emails:
                _queue(email, breach, partner, caisse, sent.kind, context)
        names = ", ".join(c.name for c in clean["caisses"])
        for email in _unique(c.email for c in partner.dpo_contacts()):
            _queue(email, breach, partner, None, "copie", {**context, "caisses": names})
        audit.record(
            "breach_reported",
            actor=actor,
            partner=partner.id,
            detail=f"signalement {breach.reference} à {names}"[:300],
        )
    return breach


def _context(breach, actor, partner, accounts, found, at):
    """What the e-mail says: plain values, the structure's staff by username and name, and
    the journal's facts (request numbers, never an assuré)."""
    c = clock(breach.noticed_at, at)
    return {
        "reference": breach.reference,
        "breach_id": breach.id,
        "partner_name": partner.name,
        "reporter": actor.display_name,
        "reporter_function": actor.fonction,
        "reporter_email": actor.email,
        "reporter_phone": actor.telephone,
        "reported_at": _stamp(at),
        "noticed_at": _stamp(breach.noticed_at),
        "happened_at": _stamp(breach.happened_at) if breach.happened_at else "",
        "deadline": _stamp(c.deadline),
        "in_time": not c.overdue,
        "description": breach.description,
        "measures": breach.measures,
        "accounts": [named(a) for a in accounts],
        "facts": "\n\n".join(f"Compte {named(a)}\n{found[a.id]}" for a in accounts) or NO_ACCOUNT,
    }


def _queue(email, breach, partner, caisse, kind, context):
    subject = (
        f"Violation de données suspectée : signalement n° {breach.reference} de {partner.name}"
    )
    if kind == "copie":
        subject = f"Copie – {subject}"
    notices.queue(
        email,
        "breach_report",
        subject,
        partner=partner.id,
        caisse=caisse.id if caisse else None,
        caisse_name=caisse.name if caisse else "",
        sent_to=kind,
        **context,
    )


def for_partner(partner_id):
    """The structure's reports, newest first."""
    return list(
        Breach.select()
        .where(Breach.partner == partner_id)
        .order_by(Breach.created_at.desc(), Breach.id.desc())
    )


def for_caisse(caisse_id):
    """The reports addressed to the caisse, newest first, with their structure."""
    return list(
        Breach.select(Breach, Partner)
        .join(BreachCaisse, on=(BreachCaisse.breach == Breach.id))
        .switch(Breach)
        .join(Partner)
        .where(BreachCaisse.caisse == caisse_id)
        .order_by(Breach.created_at.desc(), Breach.id.desc())
    )


def details(breach):
    """(accounts with their facts, caisse links) of a report, for its page."""
    accounts = list(
        BreachAccount.select(BreachAccount, Account)
        .join(Account)
        .where(BreachAccount.breach == breach.id)
        .order_by(Account.username)
    )
    links = list(
        BreachCaisse.select(BreachCaisse, Caisse)
        .join(Caisse)
        .where(BreachCaisse.breach == breach.id)
        .order_by(Caisse.name)
    )
    return accounts, links
