"""The convention as both sides see it (issue 12.5): the structure's page of its
conventions, the caisse's renewals to come, the trainings the caisse records."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import conventions
from ..access import allow, can_see_convention, register_loader
from ..forms import EmptyForm, TrainingForm
from ..models import Training
from ..rules import RuleError
from ..web import refuse, render

bp = Blueprint("conventions", __name__, url_prefix="/conventions")

register_loader(
    "training_id",
    Training,
    lambda user, t: user.profile == "caisse" and can_see_convention(user, t.convention),
)


@bp.route("/")
@allow("gestionnaire", "technicien")
def index():
    """The structure's conventions in force: dates, renewal, offers and motifs active,
    documents; for its gestionnaires also quotas, reviews, notice window and trainings."""
    partner = current_user.partner
    return render(
        "conventions/index.html",
        partner=partner,
        views=conventions.for_partner(partner),
        usage=conventions.usage(partner) if current_user.profile == "gestionnaire" else None,
    )


@bp.route("/echeances")
@allow("caisse")
def renewals():
    """The caisse's conventions whose notice deadline or renewal comes within 60 days."""
    return render(
        "conventions/renewals.html",
        rows=conventions.upcoming(current_user.caisse_id),
        days=conventions.REMINDER_DAYS,
    )


@bp.route("/<int:convention_id>/formations", methods=["POST"])
@allow("caisse")
def add_training(convention):
    """Record a training the caisse gave to the structure's staff."""
    from .partners import render_show

    form = TrainingForm()
    if form.validate_on_submit():
        try:
            conventions.record_training(current_user, convention, form.fields())
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash("La formation est enregistrée.", "success")
            return redirect(
                url_for("partners.show", partner_id=convention.partner_id, _anchor="formations"),
                303,
            )
    return render_show(convention.partner, training_form=form)


@bp.route("/formations/<int:training_id>/delete", methods=["POST"])
@allow("caisse")
def delete_training(training):
    """Delete a training recorded by mistake."""
    partner_id = training.convention.partner_id
    if EmptyForm().validate():
        try:
            conventions.delete_training(current_user, training)
        except RuleError as exc:
            flash(exc.message, "error")
        else:
            flash("La formation est supprimée.", "success")
    return redirect(url_for("partners.show", partner_id=partner_id, _anchor="formations"), 303)
