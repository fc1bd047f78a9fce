"""The yearly evaluation of a partnership (issue 13.4; `002_…` art. 4–5, `001_…` art. 4–5,
`004_…` art. 4–5): a caisse agent opens the year's evaluation of a structure whose
convention is in force, with a date to answer by; the structure's gestionnaires are told by
e-mail, reminded before the date and once it has passed; they answer a short questionnaire
(a rating of each offer active in the convention, free texts), save it, take it up again,
then send it; the bilan puts the answers next to the year's figures (ep/statistics.py).

The questionnaire is the caisse's: it adds, edits and withdraws questions. An evaluation
keeps a copy of its questions as they were when it opened, so that editing the
questionnaire never changes an evaluation being answered nor a past bilan.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import peewee

from . import audit, notices, statistics
from .db import lock, write
from .models import (
    QUESTION_KINDS,
    Account,
    Convention,
    Evaluation,
    EvaluationItem,
    EvaluationQuestion,
    Offer,
    Partner,
    now,
)
from .rules import RuleError
from .text import plural

DEFAULT_QUESTIONS = [
    (
        "rating",
        "Votre satisfaction pour chaque offre de service activée",
        "De 1 (pas satisfait) à 5 (très satisfait) ; « sans objet » pour une offre que la "
        "structure n'a pas utilisée.",
    ),
    ("text", "Les difficultés rencontrées dans l'année", ""),
    ("text", "Vos besoins pour l'année à venir", ""),
    (
        "text",
        "Vos souhaits de formation",
        "Sur l'outil, les offres de service, l'accès aux droits…",
    ),
]
RATINGS = {
    1: "1 – pas satisfait",
    2: "2 – peu satisfait",
    3: "3 – moyennement satisfait",
    4: "4 – satisfait",
    5: "5 – très satisfait",
    0: "Sans objet",
}
NOT_APPLICABLE = 0
REMIND_DAYS_BEFORE = 7
MAX_DUE_DAYS = 366
TEXT_MAX = 4000


def ensure_questionnaire(caisse_id):
    """Give a caisse that has none the default questionnaire (inside a write transaction:
    at the caisse's creation, at the upgrade to schema 4, before the first change)."""
    if EvaluationQuestion.select().where(EvaluationQuestion.caisse == caisse_id).exists():
        return 0
    for position, (kind, text, hint) in enumerate(DEFAULT_QUESTIONS, start=1):
        EvaluationQuestion.create(
            caisse=caisse_id, position=position, kind=kind, text=text, hint=hint
        )
    return len(DEFAULT_QUESTIONS)


def questions(caisse_id, active_only=False):
    """The caisse's questionnaire in its order; withdrawn questions last, unless left out."""
    query = EvaluationQuestion.select().where(EvaluationQuestion.caisse == caisse_id)
    if active_only:
        query = query.where(EvaluationQuestion.active == True)  # noqa: E712 (SQL)
    return list(
        query.order_by(
            EvaluationQuestion.active.desc(), EvaluationQuestion.position, EvaluationQuestion.id
        )
    )


def _question_fields(kind, text, hint):
    text, hint = (text or "").strip(), (hint or "").strip()
    errors = []
    if kind not in QUESTION_KINDS:
        errors.append(("kind", "Choisissez le type de réponse."))
    if not text:
        errors.append(("text", "Écrivez la question."))
    elif len(text) > EvaluationQuestion.text.max_length:
        errors.append(("text", "300 caractères au plus."))
    if len(hint) > EvaluationQuestion.hint.max_length:
        errors.append(("hint", "300 caractères au plus."))
    if errors:
        raise RuleError(errors[0][1], field=errors[0][0], errors=errors)
    return text, hint


def add_question(agent, kind, text, hint=""):
    """A caisse agent adds a question at the end of the caisse's questionnaire; it is asked
    in the evaluations opened from now on."""
    text, hint = _question_fields(kind, text, hint)
    with write():
        ensure_questionnaire(agent.caisse_id)
        last = (
            EvaluationQuestion.select(peewee.fn.MAX(EvaluationQuestion.position))
            .where(EvaluationQuestion.caisse == agent.caisse_id)
            .scalar()
        )
        question = EvaluationQuestion.create(
            caisse=agent.caisse_id, position=(last or 0) + 1, kind=kind, text=text, hint=hint
        )
        audit.record("evaluation_question_added", actor=agent, detail=text)
    return question


def update_question(agent, question, kind, text, hint, active):
    """A caisse agent edits or withdraws a question: the evaluations opened from now on ask
    it so, those already opened keep their copy."""
    text, hint = _question_fields(kind, text, hint)
    if question.caisse_id != agent.caisse_id:
        raise RuleError("Cette question n'est pas celle de votre caisse.")
    with write():
        question.kind, question.text, question.hint = kind, text, hint
        question.active = bool(active)
        question.updated_at = now()
        question.save()
        audit.record(
            "evaluation_question_updated",
            actor=agent,
            detail=text + ("" if question.active else " (retirée)"),
        )
    return question


def convention_for(caisse_id, partner_id, today=None):
    """The convention in force between the caisse and the structure, or None."""
    return Convention.get_or_none(
        (Convention.caisse == caisse_id)
        & (Convention.partner == partner_id)
        & Convention.in_force(today)
    )


def year_choices(convention, today=None):
    """The years a caisse may evaluate: this one and the last, from the convention's
    start."""
    today = today or date.today()
    if convention is None:
        return []
    return [y for y in (today.year, today.year - 1) if y >= convention.starts_on.year]


def open_evaluation(agent, partner, year, due_on, today=None):
    """A caisse agent opens the year's evaluation of a structure whose convention with its
    caisse is in force; the structure's gestionnaires are told by e-mail. Returns the
    evaluation and how many gestionnaires were told."""
    today = today or date.today()
    convention = convention_for(agent.caisse_id, partner.id, today)
    if convention is None:
        raise RuleError("La convention de votre caisse avec cette structure n'est pas en vigueur.")
    if convention.is_cut_off:
        raise RuleError(
            "L'accès de cette structure à votre caisse est coupé : rétablissez-le avant d'ouvrir "
            "son évaluation."
        )
    errors = []
    if year not in year_choices(convention, today):
        errors.append(
            ("year", "Choisissez l'année en cours ou la précédente (convention en vigueur).")
        )
    if due_on is None or due_on <= today:
        errors.append(("due_on", "Choisissez une date à venir."))
    elif due_on > today + timedelta(days=MAX_DUE_DAYS):
        errors.append(("due_on", "Choisissez une date dans l'année qui vient."))
    if errors:
        raise RuleError(errors[0][1], field=errors[0][0], errors=errors)
    try:
        with write():
            existing = Evaluation.get_or_none(
                (Evaluation.caisse == agent.caisse_id)
                & (Evaluation.partner == partner.id)
                & (Evaluation.year == year)
            )
            if existing is not None:
                raise RuleError(
                    f"L'évaluation {year} de cette structure est déjà ouverte depuis le "
                    f"{existing.opened_at:%d/%m/%Y}.",
                    field="year",
                )
            ensure_questionnaire(agent.caisse_id)
            asked = questions(agent.caisse_id, active_only=True)
            if not asked:
                raise RuleError(
                    "Le questionnaire de votre caisse n'a aucune question posée : ajoutez-en une."
                )
            evaluation = Evaluation.create(
                caisse=agent.caisse_id,
                partner=partner.id,
                year=year,
                due_on=due_on,
                opened_by=agent,
            )
            _copy_questions(evaluation, asked, _offers(convention))
            told = _tell_gestionnaires(evaluation, "opened")
            audit.record(
                "evaluation_opened",
                actor=agent,
                partner=partner.id,
                detail=f"{year}, réponses attendues avant le {due_on:%d/%m/%Y}",
            )
    except peewee.IntegrityError as exc:  # another agent opened it at the same moment
        raise RuleError(
            f"L'évaluation {year} de cette structure vient d'être ouverte.", field="year"
        ) from exc
    return evaluation, told


def _offers(convention):
    """The offers rated: those active under the convention, from its caisse's catalogue
    (issue 12.3)."""
    return list(convention.active_offers())


def _copy_questions(evaluation, asked, offers):
    """The questions as they are now, one item per answer to give."""
    rows = []
    for position, question in enumerate(asked, start=1):
        base = {
            "evaluation": evaluation.id,
            "position": position,
            "kind": question.kind,
            "question": question.text,
            "hint": question.hint,
        }
        if question.kind == "rating":
            rows += [dict(base, offer=o.id, offer_label=o.label) for o in offers]
        else:
            rows.append(base)
    if rows:
        EvaluationItem.insert_many(rows).execute()


@dataclass
class Question:
    """A question of an evaluation, as copied when it opened, with its answers."""

    position: int
    kind: str
    text: str
    hint: str
    items: list = field(default_factory=list)


def field_name(item, offer_code=None):
    """The form field of an answer: `q2` for a text, `q1_contact` for an offer's rating."""
    if item.kind == "rating":
        return f"q{item.position}_{offer_code or item.offer.code}"
    return f"q{item.position}"


def questionnaire(evaluation):
    """The evaluation's questions in order, each with its items (answers); each item knows
    its form field (`item.field`)."""
    items = (
        EvaluationItem.select(EvaluationItem, Offer.code)
        .join(Offer, peewee.JOIN.LEFT_OUTER)
        .where(EvaluationItem.evaluation == evaluation.id)
        .order_by(EvaluationItem.position, EvaluationItem.id)
    )
    grouped = {}
    for item in items:
        code = item.offer.code if item.offer_id else None
        item.field = field_name(item, code)
        question = grouped.get(item.position)
        if question is None:
            question = grouped[item.position] = Question(
                item.position, item.kind, item.question, item.hint
            )
        question.items.append(item)
    return list(grouped.values())


def save_answers(gestionnaire, evaluation, answers, submit=False, today=None):
    """A gestionnaire of the structure saves the answers ({item id: rating or text}); with
    `submit`, sends them to the caisse, which then reads them in the bilan. Every offer must
    then have its rating (or "sans objet"). Sent answers no longer change."""
    if gestionnaire.profile != "gestionnaire" or gestionnaire.partner_id != evaluation.partner_id:
        raise RuleError("Seuls les gestionnaires de la structure répondent à son évaluation.")
    asked = questionnaire(evaluation)
    values = {}
    missing = []
    for question in asked:
        for item in question.items:
            value = answers.get(item.id)
            if item.kind == "rating":
                value = value if value in RATINGS else None
                if value is None and submit:
                    missing.append((item.field, "Choisissez une note, ou « sans objet »."))
            else:
                value = (value or "").strip()
                if len(value) > TEXT_MAX:
                    missing.append((item.field, f"{TEXT_MAX} caractères au plus."))
            values[item.id] = value
    if missing:
        if submit:  # said above the form too: the fields may be far down the page
            message = "Donnez une note à chaque offre (ou « sans objet ») avant d'envoyer."
            raise RuleError(message, errors=[(None, message), *missing])
        raise RuleError(missing[0][1], field=missing[0][0], errors=missing)
    with write():
        current = lock(Evaluation.select().where(Evaluation.id == evaluation.id)).get()
        if current.is_submitted:
            raise RuleError(
                "Ces réponses ont déjà été envoyées à la caisse : elles ne changent plus."
            )
        for question in asked:
            for item in question.items:
                value = values[item.id]
                if item.kind == "rating":
                    changes = {EvaluationItem.rating: value}
                else:
                    changes = {EvaluationItem.answer: value}
                EvaluationItem.update(changes).where(EvaluationItem.id == item.id).execute()
        current.saved_at, current.saved_by = now(), gestionnaire.id
        if submit:
            current.status = "submitted"
            current.submitted_at, current.submitted_by = current.saved_at, gestionnaire.id
            _tell_caisse(current, gestionnaire)
            audit.record(
                "evaluation_submitted",
                actor=gestionnaire,
                partner=current.partner_id,
                caisse=current.caisse_id,
                detail=str(current.year),
            )
        current.save()
    return current


def _tell_gestionnaires(evaluation, kind):
    """The e-mail of `kind` (opened, reminder, overdue) to the structure's gestionnaires;
    how many were told."""
    caisse = evaluation.caisse.name
    subjects = {
        "opened": f"Évaluation {evaluation.year} du partenariat avec {caisse}",
        "reminder": f"Rappel : évaluation {evaluation.year} du partenariat avec {caisse}",
        "overdue": f"Évaluation {evaluation.year} du partenariat avec {caisse} : en retard",
    }
    return notices.to_gestionnaires(
        evaluation.partner_id,
        "evaluation",
        subjects[kind],
        kind=kind,
        caisse_name=caisse,
        partner_name=Partner.get_by_id(evaluation.partner_id).name,
        year=evaluation.year,
        due=evaluation.due_on.strftime("%d/%m/%Y"),
        evaluation_id=evaluation.id,
    )


def _tell_caisse(evaluation, gestionnaire):
    """The agent who opened the evaluation learns that the answers arrived."""
    agent = Account.get_or_none(
        (Account.id == evaluation.opened_by_id) & (Account.state == "active")
    )
    if agent is None:
        return 0
    partner = Partner.get_by_id(evaluation.partner_id).name
    notices.queue(
        agent.email,
        "evaluation",
        f"Évaluation {evaluation.year} : {partner} a répondu",
        partner=evaluation.partner_id,
        caisse=evaluation.caisse_id,
        kind="submitted",
        caisse_name=evaluation.caisse.name,
        partner_name=partner,
        year=evaluation.year,
        due=evaluation.due_on.strftime("%d/%m/%Y"),
        evaluation_id=evaluation.id,
        by=gestionnaire.display_name,
    )
    return 1


def run_dated(today, transaction=write):
    """The nightly reminders, each sent once: some days before the date to answer by (when
    the evaluation was opened earlier than that), and once the date has passed. Only while
    the convention is in force. Each evaluation in a `transaction` of its own."""
    reminded = 0
    in_force = Convention.select(Convention.id).where(
        (Convention.caisse == Evaluation.caisse)
        & (Convention.partner == Evaluation.partner)
        & Convention.in_force(today)
        & Convention.cut_off_at.is_null()
    )
    open_ = (Evaluation.status == "open") & peewee.fn.EXISTS(in_force)
    soon = today + timedelta(days=REMIND_DAYS_BEFORE)
    stamp = datetime.combine(today, datetime.min.time())
    due_soon = Evaluation.select(Evaluation.id).where(
        open_
        & Evaluation.reminded_at.is_null()
        & (Evaluation.due_on >= today)
        & (Evaluation.due_on <= soon)
    )
    late = Evaluation.select(Evaluation.id).where(
        open_ & Evaluation.overdue_notified_at.is_null() & (Evaluation.due_on < today)
    )
    for (evaluation_id,) in list(due_soon.tuples()):
        with transaction():
            evaluation = lock(Evaluation.select().where(Evaluation.id == evaluation_id)).get()
            if evaluation.reminded_at is not None or evaluation.is_submitted:
                continue
            # Opened within the last days before the date: the opening e-mail said it all.
            opened_late = evaluation.opened_at.date() > evaluation.due_on - timedelta(
                days=REMIND_DAYS_BEFORE
            )
            if not opened_late:
                _tell_gestionnaires(evaluation, "reminder")
                reminded += 1
            evaluation.reminded_at = stamp
            evaluation.save()
    for (evaluation_id,) in list(late.tuples()):
        with transaction():
            evaluation = lock(Evaluation.select().where(Evaluation.id == evaluation_id)).get()
            if evaluation.overdue_notified_at is not None or evaluation.is_submitted:
                continue
            _tell_gestionnaires(evaluation, "overdue")
            evaluation.overdue_notified_at = stamp
            evaluation.save()
            audit.record(
                "evaluation_overdue",
                partner=evaluation.partner_id,
                caisse=evaluation.caisse_id,
                detail=f"{evaluation.year}, attendue avant le {evaluation.due_on:%d/%m/%Y}",
            )
            reminded += 1
    return {"evaluations_reminded": reminded}


# Lists


def for_partner(partner_id, caisse_id=None):
    """The structure's evaluations, the latest year first (one caisse's, or all)."""
    from .models import Caisse

    query = (
        Evaluation.select(Evaluation, Caisse)
        .join(Caisse)
        .where(Evaluation.partner == partner_id)
        .order_by(Evaluation.year.desc(), Caisse.name)
    )
    if caisse_id is not None:
        query = query.where(Evaluation.caisse == caisse_id)
    return list(query)


@dataclass
class Row:
    partner: Partner
    evaluation: Evaluation | None
    in_force: bool


def caisse_year(caisse_id, year, today=None):
    """The caisse's structures for a year: each one whose convention is in force, with its
    evaluation of that year if opened, and the structures evaluated that year since then
    out of convention. Sorted by name."""
    today = today or date.today()
    evaluations = {
        e.partner_id: e
        for e in Evaluation.select().where(
            (Evaluation.caisse == caisse_id) & (Evaluation.year == year)
        )
    }
    partners = {p.id: p for p in Partner.for_caisse(caisse_id, today)}
    rows = [Row(p, evaluations.get(p.id), True) for p in partners.values()]
    gone = [i for i in evaluations if i not in partners]
    if gone:
        for p in Partner.select().where(Partner.id.in_(gone)):
            rows.append(Row(p, evaluations[p.id], False))
    rows.sort(key=lambda r: (r.partner.name.lower(), r.partner.id))
    return rows


def summary(rows, today=None):
    """How many answered, wait (of which late), and are not opened."""
    today = today or date.today()
    opened = [r.evaluation for r in rows if r.evaluation is not None]
    return {
        "submitted": sum(1 for e in opened if e.is_submitted),
        "waiting": sum(1 for e in opened if not e.is_submitted),
        "late": sum(1 for e in opened if e.is_overdue(today)),
        "not_opened": sum(1 for r in rows if r.evaluation is None and r.in_force),
    }


def years_of(caisse_id, today=None):
    """The years the caisse's list offers: this one, the last, and any evaluated."""
    today = today or date.today()
    years = {today.year, today.year - 1}
    years.update(
        y
        for (y,) in Evaluation.select(Evaluation.year)
        .where(Evaluation.caisse == caisse_id)
        .distinct()
        .tuples()
    )
    return sorted(years, reverse=True)


# The bilan


@dataclass
class Bilan:
    evaluation: Evaluation
    figures: statistics.Figures
    questions: list


def bilan(evaluation, at=None):
    """The year's figures for the caisse and the structure (the statistics page's, same
    scope and year) and the questions with their answers."""
    scope = statistics.Scope(caisse_id=evaluation.caisse_id, partner_id=evaluation.partner_id)
    start, end = date(evaluation.year, 1, 1), date(evaluation.year, 12, 31)
    return Bilan(evaluation, statistics.compute(scope, start, end, at), questionnaire(evaluation))


def rating_label(value):
    return "" if value is None else RATINGS.get(value, str(value))


BILAN_CSV_HEADER = ["partie", "rubrique", "detail", "valeur"]


def csv_rows(b):
    """The bilan as rows for a spreadsheet (`partie;rubrique;detail;valeur`): what the
    evaluation is, the year's figures, then the answers once sent. Decimals with a comma,
    as the statistics CSV."""
    e, f = b.evaluation, b.figures
    dec = statistics.decimal_fr
    partner = Partner.get_by_id(e.partner_id).name
    rows = [
        ("evaluation", "caisse", "", e.caisse.name),
        ("evaluation", "structure", "", partner),
        ("evaluation", "annee", "", e.year),
        ("evaluation", "reponses attendues avant le", "", e.due_on),
        ("evaluation", "reponses envoyees le", "", e.submitted_at.date() if e.submitted_at else ""),
        ("chiffres", "demandes envoyees", "", f.total),
        ("chiffres", "demandes cloturees", "", f.closed),
        ("chiffres", "demandes urgentes ou complexes", "", f.urgent),
        ("chiffres", "premieres reponses dans le delai cible", "", f.within_target),
        ("chiffres", "demandes repondues ou dont le delai est passe", "", f.target_due),
    ]
    rows += [("chiffres", "demandes par mois", f"{m:%Y-%m}", n) for m, n in f.months]
    rows += [("chiffres", "demandes par offre et motif", f"{o} – {m}", n) for o, m, n in f.by_offer]
    rows += [("chiffres", "demandes par statut aujourd'hui", label, n) for label, n in f.by_status]
    for name, delays, unit in (
        ("delai de premiere reponse", f.first_answer, "h"),
        ("delai de cloture", f.closure, "j"),
        ("attente du partenaire aujourd'hui", f.waiting, "j"),
    ):
        rows.append(("chiffres", name, "demandes", delays.count))
        rows.append(("chiffres", name, f"mediane ({unit})", dec(delays.median)))
        rows.append(("chiffres", name, f"9 sur 10 en moins de ({unit})", dec(delays.p90)))
    for label, counts, quota in f.accounts:
        for state, n in counts.items():
            rows.append(("chiffres", f"comptes {label.lower()}", state, n))
        rows.append(("chiffres", f"comptes {label.lower()}", "quota", quota))
    rows += [("chiffres", "inactivations", label, n) for label, n in f.inactivations]
    rows.append(("chiffres", "revues terminees dans les delais", "", f.reviews_on_time))
    rows.append(("chiffres", "revues terminees en retard", "", f.reviews_late))
    if e.is_submitted:
        for question in b.questions:
            for item in question.items:
                if item.kind == "rating":
                    rows.append(
                        ("reponses", question.text, item.offer_label, rating_label(item.rating))
                    )
                else:
                    rows.append(("reponses", question.text, "", item.answer))
    return rows


def told_label(n):
    return plural(n, "gestionnaire prévenu", "gestionnaires prévenus")
