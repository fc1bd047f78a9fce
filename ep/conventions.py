"""The convention as both sides see it (issue 12.5): its yearly renewal and the notice
window (`002_…` art. 11), what the structure may ask under it, and the trainings the caisse
gave to the structure's staff (`002_…` art. 3.2, annexe 2 §2.2)."""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from . import audit, quotas, reviews
from .db import write
from .models import Caisse, Convention, Offer, Partner, Training
from .rules import RuleError

# `002_…` art. 11 (and `001_…` art. 9): concluded for a year, tacitly renewed at each
# anniversary of the signature; terminated by a registered letter within the two months
# before that anniversary (a notice of two months).
NOTICE_MONTHS = 2
REMINDER_DAYS = 60  # how far ahead the caisse's dashboard looks


def _on(day, year):
    """The same day and month in `year`; 29 February is the 28th in other years."""
    last = calendar.monthrange(year, day.month)[1]
    return date(year, day.month, min(day.day, last))


def _months_before(day, months):
    """The same day `months` earlier, or the last day of that month when it has fewer."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass
class Renewal:
    on: date  # the next anniversary of the signature: tacit renewal that day
    notice_by: date  # the last day to give notice for it
    notice_open: bool  # notice may still be given for it


def renewal(convention, today=None):
    """The convention's next tacit renewal and the last day to give notice for it; None
    when the convention is terminated (an end date is set)."""
    if convention.ends_on is not None:
        return None
    return _renewal_after(convention.signed_on, today or date.today())


def _renewal_after(signed, today):
    on = _on(signed, max(today.year, signed.year + 1))
    if on < today:
        on = _on(signed, on.year + 1)
    notice_by = _months_before(on, NOTICE_MONTHS)
    return Renewal(on=on, notice_by=notice_by, notice_open=today <= notice_by)


@dataclass
class Upcoming:
    partner: Partner
    convention: Convention
    renewal: Renewal

    @property
    def next_date(self):
        return _next_date(self.renewal)


def _coming(caisse_id, today, days):
    """{convention id: Renewal} of the caisse's conventions in force, with no end date,
    whose notice deadline or, once it has passed, whose renewal falls within `days` days.
    Read as plain tuples: a caisse has hundreds of conventions, the dashboard asks each time."""
    horizon = today + timedelta(days=days)
    query = Convention.select(Convention.id, Convention.signed_on).where(
        (Convention.caisse == caisse_id) & Convention.in_force(today) & Convention.ends_on.is_null()
    )
    coming = {}
    for convention_id, signed in query.tuples():
        due = _renewal_after(signed, today)
        if today <= due.notice_by <= horizon or due.on <= horizon:
            coming[convention_id] = due
    return coming


def _next_date(due):
    return due.notice_by if due.notice_open else due.on


def upcoming(caisse_id, today=None, days=REMINDER_DAYS):
    """The caisse's conventions in force whose notice deadline or, once it has passed,
    whose tacit renewal falls within the next `days` days, the soonest first."""
    today = today or date.today()
    coming = _coming(caisse_id, today, days)
    query = (
        Convention.select(Convention, Partner).join(Partner).where(Convention.id.in_(list(coming)))
    )
    rows = [Upcoming(c.partner, c, coming[c.id]) for c in query] if coming else []
    rows.sort(key=lambda r: (r.next_date, r.partner.name, r.convention.id))
    return rows


def reminder(caisse_id, today=None):
    """What the dashboard says: how many notice deadlines and renewals (notice passed) come
    within the next days, and the soonest date; None when nothing is coming."""
    coming = list(_coming(caisse_id, today or date.today(), REMINDER_DAYS).values())
    if not coming:
        return None
    notices = sum(1 for due in coming if due.notice_open)
    return {
        "notices": notices,
        "renewals": len(coming) - notices,
        "soonest": min(_next_date(due) for due in coming),
        "days": REMINDER_DAYS,
    }


@dataclass
class OfferView:
    offer: Offer
    motifs: list


def offers_of(convention):
    """The offers active under the convention, each with the motifs open to the structure,
    in catalogue order (issue 12.3: `Convention.active_catalogue`; an activated offer with no
    motif left, or withdrawn from the caisse's catalogue, is not listed)."""
    return [OfferView(offer, motifs) for offer, motifs in convention.active_catalogue()]


@dataclass
class ConventionView:
    """One convention as the structure sees it."""

    convention: Convention
    caisse: Caisse
    renewal: Renewal
    offers: list
    review: object  # (label, date) of the next habilitation review, or None
    trainings: list


def next_review(convention, today=None):
    """The structure's next habilitation review under this convention: the open one's due
    date, else the next periodic one (`002_…` §4.2); None when none is planned."""
    today = today or date.today()
    current = reviews.open_review(convention.partner_id)
    if current is not None and current.due_on is not None:
        return ("en cours", current.due_on)
    if convention.review_every_months:
        return ("périodique", reviews.periodic_due(convention))
    return None


def for_partner(partner, today=None):
    """The structure's conventions in force (accepted, not ended), each with its renewal,
    active offers and motifs, next review and trainings, for its own page."""
    today = today or date.today()
    conventions = list(
        Convention.select(Convention, Caisse)
        .join(Caisse)
        .where((Convention.partner == partner) & Convention.in_force(today))
        .order_by(Convention.starts_on, Convention.id)
    )
    return [
        ConventionView(
            convention=c,
            caisse=c.caisse,
            renewal=renewal(c, today),
            offers=offers_of(c),
            review=next_review(c, today),
            trainings=trainings(c),
        )
        for c in conventions
    ]


def usage(partner):
    """The structure's accounts against its quotas (§2.2.1), per profile."""
    return {p: quotas.usage(partner, p) for p in ("gestionnaire", "technicien")}


def trainings(convention):
    """The trainings given under the convention, the latest first."""
    return list(
        Training.select()
        .where(Training.convention == convention)
        .order_by(Training.given_on.desc(), Training.id.desc())
    )


def _check_caisse(agent, convention):
    if agent.profile != "caisse" or agent.caisse_id != convention.caisse_id:
        raise RuleError("Seule la caisse de la convention enregistre ses formations.")


def record_training(agent, convention, fields, today=None):
    """The caisse records a training given to the structure's staff: date, subject, how
    many people and, if it says, which staff (functions or services, never an assuré). Audited."""
    today = today or date.today()
    _check_caisse(agent, convention)
    given_on = fields.get("given_on")
    if given_on is None:
        raise RuleError("Indiquez la date de la formation.", field="given_on")
    if given_on > today:
        raise RuleError("Enregistrez une formation une fois donnée.", field="given_on")
    subject = " ".join((fields.get("subject") or "").split())
    if not subject:
        raise RuleError("Indiquez le sujet de la formation.", field="subject")
    attendees = fields.get("attendees")
    if not isinstance(attendees, int) or not 1 <= attendees <= 500:
        raise RuleError("Entre 1 et 500 personnes.", field="attendees")
    audience = " ".join((fields.get("audience") or "").split())
    with write():
        training = Training.create(
            convention=convention,
            given_on=given_on,
            subject=subject[:200],
            attendees=attendees,
            audience=audience[:500],
            recorded_by=agent,
        )
        audit.record(
            "training_recorded",
            actor=agent,
            partner=convention.partner_id,
            detail=f"{given_on.strftime('%d/%m/%Y')} : {subject}"[:300],
        )
    return training


def delete_training(agent, training):
    """The caisse deletes a training it recorded (a mistake). Audited."""
    convention = Convention.get_by_id(training.convention_id)
    _check_caisse(agent, convention)
    with write():
        training.delete_instance()
        audit.record(
            "training_deleted",
            actor=agent,
            partner=convention.partner_id,
            detail=f"{training.given_on.strftime('%d/%m/%Y')} : {training.subject}"[:300],
        )


def erase_trainees(convention):
    """At the end of the convention, who was trained goes with the other personal data (the
    page asks for functions, not names, but a name may have been typed); the date, subject
    and number stay."""
    Training.update(audience="").where(
        (Training.convention == convention) & (Training.audience != "")
    ).execute()
