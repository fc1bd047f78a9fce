"""The partnership's figures for caisse agents and gestionnaires (issue 13)."""

from flask import Blueprint, abort, request
from flask_login import current_user

from .. import statistics
from ..access import allow
from ..forms import StatisticsForm, options
from ..web import csv_download, render, to_id, xlsx_download

bp = Blueprint("statistics", __name__, url_prefix="/statistiques")


def _period_and_scope():
    """The form as sent, the period it names (the current year by default) and the scope;
    404 for a structure or a caisse that is not the user's."""
    form = StatisticsForm(formdata=request.args)
    user = current_user
    if user.profile == "caisse":
        choices = [("", "Toutes les structures")] + [
            (str(p.id), p.name + (f" ({p.siret_label})" if p.siret else ""))
            for p in statistics.partner_choices(user)
        ]
        form.which.label.text = "Structure"
    else:
        choices = [("", "Toutes les caisses")] + [
            (str(c.id), c.name) for c in statistics.caisse_choices(user)
        ]
        form.which.label.text = "Caisse"
    form.which.choices = options(choices)
    form.which.chosen_label = dict(choices).get(form.which.data or "", "")
    form.validate()  # a date that fails its check is dropped, with its message by the field
    start, end = statistics.current_year()
    start, end = form.du.data or start, form.au.data or end
    chosen = to_id(form.which.data)
    if form.which.data and chosen is None:
        abort(404)
    scope = (
        statistics.scope_for(user, partner_id=chosen)
        if user.profile == "caisse"
        else statistics.scope_for(user, caisse_id=chosen)
    )
    if scope is None:
        abort(404)
    return form, start, end, scope


@bp.route("")
@allow("caisse", "gestionnaire")
def index():
    """Figures over a period, charts with their data tables beside them."""
    form, start, end, scope = _period_and_scope()
    figures = statistics.compute(scope, start, end)
    this_year = statistics.current_year()
    last_year = statistics.previous_year()
    return render(
        "statistics/index.html",
        form=form,
        figures=figures,
        this_year=this_year,
        last_year=last_year,
        month_label=statistics.month_label,
        short_month=statistics.short_month,
        decimal=statistics.decimal_fr,
        csv_args={k: v for k, v in request.args.items() if k in ("du", "au", "which")},
    )


@bp.route("/demandes.csv")
@allow("caisse", "gestionnaire")
def demandes_csv():
    """One row per month × caisse × structure × offer × motif, for pivot tables."""
    _, start, end, scope = _period_and_scope()
    return csv_download(
        f"statistiques-demandes-{start.isoformat()}-{end.isoformat()}.csv",
        statistics.CSV_HEADER,
        lambda: statistics.csv_rows(scope, start, end),
    )


@bp.route("/demandes.xlsx")
@allow("caisse", "gestionnaire")
def demandes_xlsx():
    """The same rows as a spreadsheet: numbers as numbers, a frozen header, a filter."""
    _, start, end, scope = _period_and_scope()
    return xlsx_download(
        f"statistiques-demandes-{start.isoformat()}-{end.isoformat()}.xlsx",
        statistics.CSV_HEADER,
        lambda: statistics.rows(scope, start, end),
        "Demandes",
    )
