"""The partnership's figures (issue 13; `002_…` art. 4–5): requests, delays, accounts and
reviews over a period, for a caisse (all its partners or one) or a structure (all its
caisses or one).

Only what carries no personal data is read: dates, offer, motif, caisse, structure, status,
urgency. A purge (end of convention, retention, erasure) blanks the assuré's identity,
comments and documents but keeps those columns, so the figures do not move (tested).

Definitions (docs/decisions.md, "Statistics"):
- a request counts in the period of the day it was sent (its cohort): "closed" means
  closed today, whatever the day it was;
- delays in calendar time: first answer in hours, closure in days; the median is the middle
  value (mean of the two middle ones), the 90th percentile the nearest rank;
- "within target": answered within the target time the request was sent with, among the
  requests answered or whose target time has passed unanswered.
"""

import math
import statistics as pystats
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import peewee

from . import db, quotas
from .audit import ACTIONS
from .models import (
    DEMANDE_STATUSES,
    Account,
    AuditEvent,
    Caisse,
    Convention,
    Demande,
    Motif,
    Offer,
    Partner,
    Review,
    now,
)

INACTIVATIONS = (
    "deactivated",
    "fraud_deactivated",
    "review_deactivated",
    "auto_deactivated",
    "scheduled_deactivated",
    "convention_ended",
)
PROFILES = {"gestionnaire": "Gestionnaires", "technicien": "Techniciens"}
ACCOUNT_STATES = {"active": "Actifs", "invited": "Invités", "inactive": "Inactifs"}
MONTHS = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]  # fmt: skip
CSV_HEADER = [
    "mois",
    "caisse",
    "partenaire",
    "offre",
    "motif",
    "demandes",
    "cloturees",
    "delai_premiere_reponse_h_median",
    "delai_cloture_j_median",
]


SHORT_MONTHS = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
]  # fmt: skip


def short_month(month, with_year=False):
    return SHORT_MONTHS[month.month - 1] + (f" {month:%y}" if with_year else "")


def month_label(month):
    return f"{MONTHS[month.month - 1]} {month.year}"


def current_year(today=None):
    today = today or date.today()
    return date(today.year, 1, 1), date(today.year, 12, 31)


def previous_year(today=None):
    today = today or date.today()
    return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)


@dataclass(frozen=True)
class Scope:
    """Whose requests: addressed to `caisse_id`, made by `partner_id` (None: any). The
    structures whose accounts and reviews count are `partner_ids` (a query or a list)."""

    caisse_id: int | None
    partner_id: int | None

    def structures(self, today=None):
        """The structures whose accounts and reviews the figures count."""
        if self.partner_id is not None:
            return [self.partner_id]
        return [
            c.partner_id
            for c in Convention.select(Convention.partner).where(
                (Convention.caisse == self.caisse_id) & Convention.in_force(today)
            )
        ]


def partner_choices(agent):
    """The structures a caisse agent may look at: those that accepted a convention with its
    caisse, ended ones included (their figures stay)."""
    return list(
        Partner.select(Partner.id, Partner.name, Partner.siret)
        .join(Convention)
        .where((Convention.caisse == agent.caisse_id) & (Convention.state == "accepted"))
        .order_by(peewee.fn.LOWER(Partner.name), Partner.id)
    )


def caisse_choices(gestionnaire):
    """The caisses a structure has (or had) an accepted convention with."""
    return list(
        Caisse.select(Caisse.id, Caisse.name)
        .join(Convention)
        .where((Convention.partner == gestionnaire.partner_id) & (Convention.state == "accepted"))
        .order_by(Caisse.name)
    )


def scope_for(user, partner_id=None, caisse_id=None):
    """The scope of a user's figures; None when the chosen structure or caisse is not one of
    theirs (the caller answers 404)."""
    if user.profile == "caisse":
        if partner_id is not None and partner_id not in {p.id for p in partner_choices(user)}:
            return None
        return Scope(caisse_id=user.caisse_id, partner_id=partner_id)
    if caisse_id is not None and caisse_id not in {c.id for c in caisse_choices(user)}:
        return None
    return Scope(caisse_id=caisse_id, partner_id=user.partner_id)


def median(values):
    return pystats.median(values) if values else None


def percentile_90(values):
    """Nearest rank: the smallest value that 90 % of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass
class Delays:
    values: list = field(default_factory=list)

    @property
    def count(self):
        return len(self.values)

    @property
    def median(self):
        return median(self.values)

    @property
    def p90(self):
        return percentile_90(self.values)


@dataclass
class Figures:
    start: date
    end: date
    total: int = 0
    urgent: int = 0
    closed: int = 0
    months: list = field(default_factory=list)  # [(first day of month, count)]
    by_offer: list = field(default_factory=list)  # [(offer, motif, count)]
    by_caisse: list = field(default_factory=list)  # [(caisse, count)]
    by_status: list = field(default_factory=list)  # [(status label, count)]
    first_answer: Delays = field(default_factory=Delays)  # hours
    closure: Delays = field(default_factory=Delays)  # days
    within_target: int = 0
    target_due: int = 0  # answered, or unanswered past their target
    waiting: Delays = field(default_factory=Delays)  # days waiting for the partner, today
    accounts: list = field(default_factory=list)  # [(profile label, {state: n}, quota)]
    inactivations: list = field(default_factory=list)  # [(reason label, count)]
    reviews_on_time: int = 0
    reviews_late: int = 0
    reviews_overdue: int = 0

    @property
    def urgent_share(self):
        return self.urgent / self.total if self.total else None

    @property
    def within_target_share(self):
        return self.within_target / self.target_due if self.target_due else None


def _bounds(start, end):
    return datetime.combine(start, time.min), datetime.combine(end + timedelta(days=1), time.min)


def _request_rows(scope, start, end, at=None):
    """The rows as the driver gives them: they hold numbers and strings only, and peewee's
    conversion of each value doubled the cost of a caisse's year."""
    return db.database.execute_sql(*requests_sent(scope, start, end, at).sql())


def _spans(at):
    """SQL for the month sent ("2025-01"), the hours to the first answer, the days to the
    closure and the hours since sending at `at`, computed by the database: turning 100,000
    timestamps into Python objects cost more than the rest of the page (issue 13)."""
    at = (at or now()).isoformat(sep=" ")
    if db.is_sqlite():
        month = peewee.fn.strftime("%Y-%m", Demande.created_at)

        def hours(later, earlier):
            return (peewee.fn.julianday(later) - peewee.fn.julianday(earlier)) * 24.0

    else:
        month = peewee.fn.to_char(Demande.created_at, "YYYY-MM")

        def hours(later, earlier):
            return peewee.fn.date_part("epoch", later - earlier) / 3600.0

        at = peewee.Cast(at, "timestamp")
    return (
        month,
        hours(Demande.first_answer_at, Demande.created_at),
        hours(Demande.closed_at, Demande.created_at) / 24.0,
        hours(at, Demande.created_at),
    )


def requests_sent(scope, start, end, at=None):
    """(month sent, hours to the first answer, days to the closure, hours since sent, status,
    urgent, target hours, offer, motif, caisse, partner) of the requests sent in the period:
    the structure's history index, or the caisse's by day sent (tests/test_query_plans.py)."""
    low, high = _bounds(start, end)
    query = Demande.select(
        *_spans(at),
        Demande.status,
        Demande.urgent,
        Demande.target_hours,
        Demande.offer,
        Demande.motif,
        Demande.caisse,
        Demande.partner,
    ).where((Demande.created_at >= low) & (Demande.created_at < high))
    if scope.partner_id is not None:
        query = query.where(Demande.partner == scope.partner_id)
    if scope.caisse_id is not None:  # "+ 0": a structure's requests stay on its own index
        caisse = Demande.caisse if scope.partner_id is None else Demande.caisse + 0
        query = query.where(caisse == scope.caisse_id)
    return query


def _hours(later, earlier):
    return (later - earlier).total_seconds() / 3600


def _months(start, end):
    months, month = [], date(start.year, start.month, 1)
    while month <= end:
        months.append(month)
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return months


class _Labels:
    """Names of offers, motifs, caisses and structures, read once per figure set."""

    def __init__(self):
        self.offers = dict(Offer.select(Offer.id, Offer.label).tuples())
        self.motifs = dict(Motif.select(Motif.id, Motif.label).tuples())
        self.caisses = dict(Caisse.select(Caisse.id, Caisse.name).tuples())
        self._partners = {}

    def partners(self, ids):
        missing = [i for i in ids if i not in self._partners]
        for chunk in range(0, len(missing), 500):
            part = missing[chunk : chunk + 500]
            self._partners.update(
                Partner.select(Partner.id, Partner.name).where(Partner.id.in_(part)).tuples()
            )
        return self._partners


def compute(scope, start, end, at=None):
    """Every figure of the page for the scope and the period (both days included)."""
    at = at or now()
    figures = Figures(start=start, end=end)
    labels = _Labels()
    per_month, per_offer = Counter(), Counter()
    per_caisse, per_status = Counter(), Counter()
    answers, closures = figures.first_answer.values, figures.closure.values
    for (
        month,
        answer_h,
        closure_d,
        age_h,
        status,
        urgent,
        target,
        offer,
        motif,
        caisse,
        _,
    ) in _request_rows(scope, start, end, at):
        figures.urgent += bool(urgent)
        per_month[month] += 1
        per_offer[(offer, motif)] += 1
        per_caisse[caisse] += 1
        per_status[status] += 1
        if answer_h is not None:
            answer_h = round(answer_h, 4)
            answers.append(answer_h)
            figures.target_due += 1
            figures.within_target += answer_h <= target
        elif age_h > target:
            figures.target_due += 1
        if status == "closed" and closure_d is not None:
            closures.append(round(closure_d, 4))
    figures.total = sum(per_month.values())
    figures.closed = len(closures)
    figures.months = [(m, per_month[f"{m:%Y-%m}"]) for m in _months(start, end)]
    per_offer = Counter(
        {(labels.offers.get(o, ""), labels.motifs.get(m, "")): n for (o, m), n in per_offer.items()}
    )
    per_caisse = Counter({labels.caisses.get(c, ""): n for c, n in per_caisse.items()})
    figures.by_offer = sorted(per_offer.items(), key=lambda kv: (-kv[1], kv[0]))
    figures.by_offer = [(offer, motif, n) for (offer, motif), n in figures.by_offer]
    figures.by_caisse = sorted(per_caisse.items(), key=lambda kv: (-kv[1], kv[0]))
    figures.by_status = [
        (label, per_status[code]) for code, label in DEMANDE_STATUSES.items() if per_status[code]
    ]
    figures.waiting = Delays(_waiting_days(scope, at))
    structures = scope.structures(at.date())
    figures.accounts = _accounts(structures)
    figures.inactivations = _inactivations(structures, start, end)
    _reviews(figures, structures, start, end, at.date())
    return figures


def _waiting_days(scope, at):
    """How long each request waiting for the partner today has waited, in days."""
    return [_hours(at, updated) / 24 for (updated,) in waiting(scope).tuples()]


def waiting(scope):
    """The requests waiting for the partner today, when their status last changed."""
    # the status written in the SQL, so that the partial index `demande_waiting_partner`
    # serves a structure's (tests/test_query_plans.py)
    query = Demande.select(Demande.updated_at).where(
        Demande.status == peewee.SQL("'waiting_partner'")
    )
    if scope.partner_id is not None:
        query = query.where(Demande.partner == scope.partner_id)
    if scope.caisse_id is not None:
        query = query.where(Demande.caisse == scope.caisse_id)
    return query


def _chunks(ids, size=500):
    ids = list(ids)
    for n in range(0, len(ids), size):
        yield ids[n : n + size]


def _accounts(structures):
    """Accounts per profile and state against the quotas of the structures."""
    counts = defaultdict(Counter)
    quota = Counter()
    for part in _chunks(structures):
        for profile, state, n in (
            Account.select(Account.profile, Account.state, peewee.fn.COUNT(Account.id))
            .where(Account.partner.in_(part) & Account.deleted_at.is_null())
            .group_by(Account.profile, Account.state)
            .tuples()
        ):
            counts[profile][state] += n
        for (headcount,) in Partner.select(Partner.headcount).where(Partner.id.in_(part)).tuples():
            for profile in PROFILES:
                quota[profile] += quotas.limit(headcount, profile)
    return [
        (label, {state: counts[profile][state] for state in ACCOUNT_STATES}, quota[profile])
        for profile, label in PROFILES.items()
    ]


def _inactivations(structures, start, end):
    low, high = _bounds(start, end)
    counts = Counter()
    for part in _chunks(structures):
        for action, n in (
            AuditEvent.select(AuditEvent.action, peewee.fn.COUNT(AuditEvent.id))
            .where(
                AuditEvent.partner.in_(part)
                & (AuditEvent.at >= low)
                & (AuditEvent.at < high)
                & AuditEvent.action.in_(INACTIVATIONS)
            )
            .group_by(AuditEvent.action)
            .tuples()
        ):
            counts[action] += n
    return [(ACTIONS[a], counts[a]) for a in INACTIVATIONS if counts[a]]


def _reviews(figures, structures, start, end, today):
    """Reviews completed in the period on time or late; those overdue today."""
    low, high = _bounds(start, end)
    for part in _chunks(structures):
        for completed, due in (
            Review.select(Review.completed_at, Review.due_on)
            .where(
                Review.partner.in_(part)
                & (Review.completed_at >= low)
                & (Review.completed_at < high)
            )
            .tuples()
        ):
            if due is None or completed.date() <= due:
                figures.reviews_on_time += 1
            else:
                figures.reviews_late += 1
        figures.reviews_overdue += (
            Review.select()
            .where(
                Review.partner.in_(part) & (Review.status != "completed") & (Review.due_on < today)
            )
            .count()
        )


def csv_rows(scope, start, end):
    """The rows of `rows`, the delays written the French way (the CSV for pivot tables)."""
    return [(*row[:7], decimal_fr(row[7]), decimal_fr(row[8])) for row in rows(scope, start, end)]


def rows(scope, start, end):
    """One row per month × caisse × structure × offer × motif, the median delays rounded to
    a tenth (None without one): the CSV's and the spreadsheet's rows."""
    labels = _Labels()
    groups = defaultdict(lambda: [0, 0, [], []])
    for month, answer_h, closure_d, _, status, _, _, offer, motif, caisse, partner in _request_rows(
        scope, start, end
    ):
        group = groups[(month, caisse, partner, offer, motif)]
        group[0] += 1
        if answer_h is not None:
            group[2].append(round(answer_h, 4))
        if status == "closed" and closure_d is not None:
            group[1] += 1
            group[3].append(round(closure_d, 4))
    names = labels.partners({key[2] for key in groups})
    rows = []
    for (month, caisse, partner, offer, motif), (n, closed, answers, closures) in groups.items():
        rows.append(
            (
                month,
                labels.caisses.get(caisse, ""),
                names.get(partner, ""),
                labels.offers.get(offer, ""),
                labels.motifs.get(motif, ""),
                n,
                closed,
                _tenth(median(answers)),
                _tenth(median(closures)),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1].lower(), r[2].lower(), r[3], r[4]))
    return rows


def _tenth(value):
    return None if value is None else round(value, 1)


def decimal_fr(value, digits=1):
    """12.25 -> "12,3": a number a French spreadsheet reads as one."""
    if value is None:
        return ""
    return f"{value:.{digits}f}".replace(".", ",")
