"""The yearly evaluation (issue 13.4): the caisse opens it and edits its questionnaire, the
structure's gestionnaires answer, both read the bilan beside the year's figures."""

from datetime import date, timedelta

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from .. import evaluations, statistics
from ..access import allow
from ..forms import (
    EvaluationAnswerForm,
    EvaluationOpenForm,
    EvaluationQuestionForm,
    options,
)
from ..models import Partner
from ..rules import RuleError
from ..web import arg_id, csv_download, refuse, render, to_id

bp = Blueprint("evaluations", __name__, url_prefix="/evaluations")


@bp.route("")
@allow("caisse", "gestionnaire")
def index():
    """The caisse's structures for a year (who answered, who is late, who has none yet);
    the structure's evaluations, all caisses and years."""
    today = date.today()
    if current_user.profile == "gestionnaire":
        return render(
            "evaluations/index.html",
            mine=evaluations.for_partner(current_user.partner_id),
        )
    years = evaluations.years_of(current_user.caisse_id, today)
    year = arg_id("annee")
    if year not in years:
        year = today.year
    rows = evaluations.caisse_year(current_user.caisse_id, year, today)
    return render(
        "evaluations/index.html",
        year=year,
        years=years,
        rows=rows,
        counts=evaluations.summary(rows, today),
    )


@bp.route("/nouvelle/<int:partner_id>", methods=["GET", "POST"])
@allow("caisse")
def create(partner):
    """Open the year's evaluation of a structure, with a date to answer by."""
    today = date.today()
    convention = evaluations.convention_for(current_user.caisse_id, partner.id, today)
    years = evaluations.year_choices(convention, today)
    form = EvaluationOpenForm()
    form.year.choices = options((str(y), str(y)) for y in years)
    if not form.is_submitted():
        wanted = request.args.get("annee", "")
        form.year.data = wanted if wanted in {str(y) for y in years} else None
        form.due_on.data = today + timedelta(days=30)
    if form.validate_on_submit():
        try:
            evaluation, told = evaluations.open_evaluation(
                current_user, partner, to_id(form.year.data), form.due_on.data, today
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(
                f"L'évaluation {evaluation.year} de {partner.name} est ouverte : "
                + (
                    f"{evaluations.told_label(told)} par e-mail."
                    if told
                    else "la structure n'a aucun gestionnaire actif à prévenir."
                ),
                "success" if told else "warning",
            )
            return redirect(url_for("evaluations.show", evaluation_id=evaluation.id), 303)
    return render(
        "evaluations/new.html",
        form=form,
        partner=partner,
        convention=convention,
        questions=evaluations.questions(current_user.caisse_id, active_only=True),
        existing=evaluations.for_partner(partner.id, current_user.caisse_id),
    )


@bp.route("/<int:evaluation_id>")
@allow("caisse", "gestionnaire")
def show(evaluation):
    """The bilan: the structure's answers next to the year's figures, printable."""
    return render(
        "evaluations/show.html",
        bilan=evaluations.bilan(evaluation),
        partner=Partner.get_by_id(evaluation.partner_id),
        rating_label=evaluations.rating_label,
        month_label=statistics.month_label,
        short_month=statistics.short_month,
        decimal=statistics.decimal_fr,
    )


@bp.route("/<int:evaluation_id>/bilan.csv")
@allow("caisse", "gestionnaire")
def bilan_csv(evaluation):
    """The bilan for a spreadsheet: the figures, then the answers once sent."""
    partner = Partner.get_by_id(evaluation.partner_id)
    bilan = evaluations.bilan(evaluation)
    return csv_download(
        f"evaluation-{evaluation.year}-{partner.siret or partner.id}.csv",
        evaluations.BILAN_CSV_HEADER,
        lambda: evaluations.csv_rows(bilan),
    )


@bp.route("/<int:evaluation_id>/reponses", methods=["GET", "POST"])
@allow("gestionnaire")
def answer(evaluation):
    """The questionnaire: saved and taken up again until it is sent to the caisse."""
    if evaluation.is_submitted:
        flash("Les réponses de cette évaluation sont envoyées : voici le bilan.", "info")
        return redirect(url_for("evaluations.show", evaluation_id=evaluation.id), 303)
    questions = evaluations.questionnaire(evaluation)
    if request.method == "POST":
        form = EvaluationAnswerForm(questions=questions)
    else:
        stored = EvaluationAnswerForm.stored(questions)
        form = EvaluationAnswerForm(questions=questions, data=stored)
    if form.validate_on_submit():
        submit = request.form.get("action") == "envoyer"
        try:
            evaluations.save_answers(current_user, evaluation, form.answers(), submit=submit)
        except RuleError as exc:
            refuse(form, exc)
        else:
            if submit:
                flash(f"Vos réponses sont envoyées à {evaluation.caisse.name}. Merci.", "success")
                return redirect(url_for("evaluations.show", evaluation_id=evaluation.id), 303)
            flash(
                "Vos réponses sont enregistrées : vous pourrez les reprendre et les compléter "
                f"jusqu'à leur envoi, attendu avant le {evaluation.due_on:%d/%m/%Y}.",
                "success",
            )
            return redirect(url_for("evaluations.answer", evaluation_id=evaluation.id), 303)
    return render(
        "evaluations/answer.html",
        form=form,
        evaluation=evaluation,
        questions=questions,
        partner=Partner.get_by_id(evaluation.partner_id),
    )


@bp.route("/questionnaire", methods=["GET", "POST"])
@allow("caisse")
def questions():
    """The caisse's questionnaire: its questions, and a form to add one."""
    form = EvaluationQuestionForm()
    if not form.is_submitted():
        form.kind.data = "text"
    if form.validate_on_submit():
        try:
            evaluations.add_question(current_user, form.kind.data, form.text.data, form.hint.data)
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(
                "La question est ajoutée : elle sera posée dans les prochaines évaluations.",
                "success",
            )
            return redirect(url_for("evaluations.questions"), 303)
    return render(
        "evaluations/questions.html",
        form=form,
        questions=evaluations.questions(current_user.caisse_id),
    )


@bp.route("/questionnaire/<int:evaluation_question_id>", methods=["GET", "POST"])
@allow("caisse")
def edit_question(evaluation_question):
    """Edit or withdraw a question; evaluations already opened keep their copy."""
    question = evaluation_question
    form = EvaluationQuestionForm(obj=question if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            evaluations.update_question(
                current_user,
                question,
                form.kind.data,
                form.text.data,
                form.hint.data,
                form.active.data,
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash("La question est modifiée pour les prochaines évaluations.", "success")
            return redirect(url_for("evaluations.questions"), 303)
    return render("evaluations/question.html", form=form, question=question)
