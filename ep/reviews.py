"""Habilitation reviews (§4.2): the caisse asks, a gestionnaire runs the review, every account
gets a decision, decisions are applied at completion and the record is then frozen."""

from datetime import date, datetime, timedelta

from peewee import fn

from . import accounts, audit
from .db import write
from .models import Account, Convention, Demande, Review, ReviewDecision, now
from .rules import RuleError
from .text import plural

IDLE_DAYS_SUGGESTION = 30
REMIND_DAYS_BEFORE = 7


def open_review(partner):
    return (
        Review.select()
        .where((Review.partner == partner) & (Review.status != "completed"))
        .order_by(Review.id.desc())
        .first()
    )


def last_completed(partner):
    return (
        Review.select()
        .where((Review.partner == partner) & (Review.status == "completed"))
        .order_by(Review.completed_at.desc())
        .first()
    )


def _period_start(partner):
    last = last_completed(partner)
    return last.completed_at if last else partner.created_at


def _create(partner, actor, due_on, caisse=None):
    if open_review(partner) is not None:
        raise RuleError("Une revue des habilitations est déjà ouverte pour cette structure.")
    review = Review.create(
        partner=partner,
        caisse=caisse,
        requested_by=actor,
        due_on=due_on,
        period_start=_period_start(partner),
    )
    audit.record(
        "review_requested",
        actor=actor,
        partner=partner,
        detail=due_on.isoformat() if due_on else "",
    )
    return review


def request_review(agent, partner, due_on, today=None):
    """A caisse agent asks the partner for a review, to be completed by `due_on`."""
    today = today or date.today()
    if due_on is None or due_on <= today:
        raise RuleError("Choisissez une échéance à venir.", field="due_on")
    with write():
        review = _create(partner, agent, due_on, caisse=agent.caisse_id)
        _tell_gestionnaires(
            review,
            "Revue des habilitations demandée",
            f"{agent.caisse.name} demande à votre structure une revue des habilitations de ses "
            f"comptes, à terminer avant le {due_on.strftime('%d/%m/%Y')}.",
        )
    return review


def set_periodicity(agent, convention, months):
    """The caisse asks for a review every `months` months (None: no periodic review)."""
    if months is not None and not 1 <= months <= 36:
        raise RuleError("Une périodicité entre 1 et 36 mois.", field="months")
    with write():
        convention.review_every_months = months
        convention.save()
        audit.record(
            "review_periodicity",
            actor=agent,
            partner=convention.partner_id,
            detail=str(months or ""),
        )


def start(gestionnaire, today=None):
    """A gestionnaire starts the open review, or a new one on their own initiative."""
    partner = gestionnaire.partner
    with write():
        review = open_review(partner) or _create(partner, gestionnaire, None)
        if review.status == "requested":
            review.status = "in_progress"
            review.started_at = now()
            review.started_by = gestionnaire
            review.save()
    return review


def accounts_under_review(review):
    """Every account of the structure that holds access: active or invited."""
    return list(
        Account.select()
        .where((Account.partner == review.partner) & (Account.state.in_(("active", "invited"))))
        .order_by(Account.profile, Account.nom, Account.prenom)
    )


def rows(review, today=None):
    """The review table: each account with its facts, suggestion and decision."""
    today = today or date.today()
    listed = (
        accounts_under_review(review)
        if review.status != "completed"
        else [d.account for d in review.decisions.order_by(ReviewDecision.id)]
    )
    decisions = {d.account_id: d for d in review.decisions}
    counts = {}
    for demande in Demande.select(Demande.author).where(
        (Demande.partner == review.partner) & (Demande.created_at >= review.period_start)
    ):
        counts[demande.author_id] = counts.get(demande.author_id, 0) + 1
    limit = datetime.combine(today, datetime.min.time()) - timedelta(days=IDLE_DAYS_SUGGESTION)
    result = []
    for account in listed:
        used = account.last_login_at or account.created_at
        result.append(
            {
                "account": account,
                "requests": counts.get(account.id, 0),
                "suggest_inactivation": used < limit,
                "decision": decisions.get(account.id),
            }
        )
    return result


def progress(review):
    """(decided, total) for the accounts under review."""
    if review.status == "completed":
        n = review.decisions.count()
        return n, n
    listed = {a.id for a in accounts_under_review(review)}
    decided = sum(1 for d in review.decisions if d.account_id in listed)
    return decided, len(listed)


def decide(actor, review, account, decision, reason="", attestations=False):
    """Record the decision on one account. Nobody decides on their own account (§4.2)."""
    if review.status == "completed":
        raise RuleError("Cette revue est terminée : elle ne peut plus être modifiée.")
    if account.id == actor.id:
        raise RuleError(
            "Vous ne pouvez pas décider pour votre propre compte : un autre "
            "gestionnaire ou la caisse le fait.",
            field="decision",
        )
    if account.partner_id != review.partner_id or account.state not in ("active", "invited"):
        raise RuleError("Ce compte ne fait pas partie de la revue.")
    reason = (reason or "").strip()
    if decision not in ("keep", "deactivate"):
        raise RuleError("Choisissez : conserver ou inactiver.", field="decision")
    if decision == "deactivate" and not reason:
        raise RuleError("Indiquez le motif de l'inactivation.", field="reason")
    if decision == "keep" and account.profile == "technicien" and not attestations:
        raise RuleError(
            "Pour conserver un technicien, confirmez à nouveau les trois attestations.",
            field="attestations",
        )
    with write():
        if review.status == "requested":
            review.status = "in_progress"
            review.started_at = now()
            review.started_by = actor
            review.save()
        ReviewDecision.delete().where(
            (ReviewDecision.review == review) & (ReviewDecision.account == account)
        ).execute()
        return ReviewDecision.create(
            review=review,
            account=account,
            decision=decision,
            reason=reason[:300],
            attestations_confirmed=bool(attestations) and decision == "keep",
            decided_by=actor,
        )


def undecided(review):
    """Accounts under review that have no decision yet."""
    decided = {d.account_id for d in review.decisions}
    return [a for a in accounts_under_review(review) if a.id not in decided]


def awaiting_caisse(review):
    """Undecided accounts that only the caisse can decide: a gestionnaire with no other
    active gestionnaire in the structure (nobody decides on their own account)."""
    if review.status == "completed":
        return []
    waiting = [a for a in undecided(review) if a.profile == "gestionnaire"]
    return [a for a in waiting if accounts.is_last_gestionnaire(a)]


def partners_awaiting_caisse(partner_ids):
    """Of the structures `partner_ids` (a query), those whose open review waits for the
    caisse (`awaiting_caisse`, for all of them at once: the dashboard, issue 11). The open
    reviews come first: the planner, given the whole join, read every account."""
    open_reviews = [
        review_id
        for (review_id,) in Review.select(Review.id)
        .where(Review.partner.in_(partner_ids) & Review.status.in_(("requested", "in_progress")))
        .tuples()
    ]
    if not open_reviews:
        return set()
    gestionnaire, other = Account.alias(), Account.alias()
    decided = ReviewDecision.select(ReviewDecision.id).where(
        (ReviewDecision.review == Review.id) & (ReviewDecision.account == gestionnaire.id)
    )
    replacement = other.select(other.id).where(
        (other.partner == gestionnaire.partner)
        & (other.profile == "gestionnaire")
        & (other.state == "active")
        & other.scheduled_inactivation_on.is_null()
        & (other.id != gestionnaire.id)
    )
    return {
        partner_id
        for (partner_id,) in Review.select(Review.partner)
        .join(gestionnaire, on=(gestionnaire.partner == Review.partner))
        .where(
            Review.id.in_(open_reviews)
            & (gestionnaire.profile == "gestionnaire")
            & gestionnaire.state.in_(("active", "invited"))
            & ~fn.EXISTS(decided)
            & ~fn.EXISTS(replacement)
        )
        .distinct()
        .tuples()
    }


def keep_remaining_techniciens(actor, review, attestations):
    """Keep, in one action, every technicien still without a decision; the three
    attestations are given once for all of them (§2.2.1, §4.2)."""
    if not attestations:
        raise RuleError(
            "Pour conserver les techniciens, confirmez les trois attestations.",
            field="attestations",
        )
    remaining = [a for a in undecided(review) if a.profile == "technicien"]
    if not remaining:
        raise RuleError("Tous les techniciens ont déjà une décision.")
    for account in remaining:
        decide(actor, review, account, "keep", attestations=True)
    return len(remaining)


def ask_caisse(actor, review):
    """The structure's only gestionnaire asks the caisse to decide on their own account."""
    if not awaiting_caisse(review):
        raise RuleError("Aucune décision n'est attendue de la caisse dans cette revue.")
    caisses = (
        [review.caisse_id]
        if review.caisse_id
        else [
            c.caisse_id
            for c in Convention.select().where(
                (Convention.partner == review.partner_id) & Convention.in_force()
            )
        ]
    )
    from . import notices

    with write():
        n = 0
        for agent in Account.select().where(
            (Account.profile == "caisse")
            & (Account.caisse.in_(caisses))
            & (Account.state == "active")
        ):
            notices.queue(
                agent.email,
                "message",
                f"Revue des habilitations de {review.partner.name} : décision attendue",
                caisse=agent.caisse_id,
                text=f"{actor.display_name}, seul gestionnaire de {review.partner.name}, vous "
                "demande de décider pour son propre compte dans la revue des habilitations en "
                "cours : il ne peut pas le faire lui-même.",
                endpoint="reviews.show",
                link_args={"review_id": review.id},
                link_label="Pour décider",
            )
            n += 1
        audit.record("review_caisse_asked", actor=actor, partner=review.partner_id)
    return n


def complete(actor, review, today=None):
    """Apply the decisions and freeze the review as a signed-off record."""
    today = today or date.today()
    if review.status == "completed":
        raise RuleError("Cette revue est déjà terminée.")
    decided, total = progress(review)
    if decided < total:
        raise RuleError(
            f"Il reste {plural(total - decided, 'compte')} sans décision : la revue ne "
            "peut pas encore être terminée."
        )
    listed = {a.id for a in accounts_under_review(review)}
    with write():
        # Decisions on accounts that left meanwhile are not part of the record.
        ReviewDecision.delete().where(
            (ReviewDecision.review == review) & ~(ReviewDecision.account.in_(list(listed)))
        ).execute()
        decisions = list(review.decisions.where(ReviewDecision.decision == "deactivate"))
        # Gestionnaires last, so that the last-gestionnaire rule sees the final picture.
        decisions.sort(key=lambda d: d.account.profile == "gestionnaire")
        scheduled = 0
        for d in decisions:
            target = Account.get_by_id(d.account_id)
            if target.profile == "gestionnaire" and d.decided_by.profile != "caisse":
                # A gestionnaire is inactivated by the caisse, 15 days after the partner's
                # request (§2.2): the review's decision becomes that request.
                accounts.schedule_inactivation(
                    actor, target, today + timedelta(days=15), today, by_review=True
                )
                scheduled += 1
                continue
            accounts.deactivate(
                d.decided_by if d.decided_by.profile == "caisse" else actor,
                target,
                f"Revue des habilitations – {d.reason}",
                review=True,
            )
        review.status = "completed"
        review.completed_at = now()
        review.completed_by = actor
        review.save()
        audit.record(
            "review_completed",
            actor=actor,
            partner=review.partner_id,
            detail=f"{plural(len(listed), 'compte')}, "
            f"{plural(len(decisions) - scheduled, 'inactivé')}, "
            f"{plural(scheduled, 'inactivation programmée')}",
        )
    return review


def run_dated(today, transaction=write):
    """Periodic reviews open by themselves; reminders go before the due date. Each structure
    in a `transaction` of its own (the nightly run must not hold the write lock long)."""
    opened = reminded = 0
    for convention in list(
        Convention.select().where(Convention.review_every_months.is_null(False))
    ):
        with transaction():
            opened += _open_periodic(convention, today)
    for review in list(
        Review.select().where(
            (Review.status != "completed")
            & Review.due_on.is_null(False)
            & Review.reminded_at.is_null()
        )
    ):
        if review.due_on - timedelta(days=REMIND_DAYS_BEFORE) > today:
            continue
        with transaction():
            if _tell_gestionnaires(
                review,
                "Rappel : revue des habilitations",
                "La revue des habilitations de votre structure est attendue "
                f"avant le {review.due_on.strftime('%d/%m/%Y')}.",
            ):
                review.reminded_at = now()
                review.save()
                reminded += 1
    for review in list(
        Review.select().where(
            (Review.status != "completed")
            & (Review.due_on < today)
            & Review.overdue_notified_at.is_null()
        )
    ):
        with transaction():
            told = _tell_gestionnaires(
                review,
                "Revue des habilitations en retard",
                "La revue des habilitations de votre structure devait être terminée "
                f"le {review.due_on.strftime('%d/%m/%Y')} : elle est en retard, et "
                "la caisse le voit sur son tableau de bord.",
            )
            if not told:
                continue  # tried again at the next run
            review.overdue_notified_at = now()
            review.save()
            audit.record("review_overdue", partner=review.partner_id, caisse=review.caisse_id)
            reminded += 1
    return opened, reminded


def _open_periodic(convention, today):
    """Open the structure's periodic review 30 days before it is due; 1 when opened."""
    if not convention.is_active(today) or open_review(convention.partner_id) is not None:
        return 0
    due = periodic_due(convention)
    if today < due - timedelta(days=30):
        return 0
    review = _create(
        convention.partner,
        None,
        max(due, today + timedelta(days=7)),
        caisse=convention.caisse_id,
    )
    _tell_gestionnaires(
        review,
        "Revue des habilitations à faire",
        "La revue périodique des habilitations de votre structure est "
        f"ouverte, à terminer avant le {review.due_on.strftime('%d/%m/%Y')}.",
    )
    return 1


def periodic_due(convention):
    """When the structure's next periodic review is due: the periodicity after the last
    completed review, or after the convention's start."""
    last = last_completed(convention.partner_id)
    base = last.completed_at.date() if last else convention.starts_on
    return _add_months(base, convention.review_every_months)


def _add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _tell_gestionnaires(review, subject, text):
    """Queue the message to the structure's gestionnaires, with a link to the reviews."""
    accounts.notify_partner(
        review.partner_id, subject, text, endpoint="reviews.index", link_label="Pour la faire"
    )
    return True
