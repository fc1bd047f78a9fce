"""Habilitation reviews (§4.2): asked by the caisse, run by a gestionnaire, frozen once done."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import audit, exports, reviews
from ..access import allow
from ..forms import PeriodicityForm, ReviewDecisionForm, ReviewRequestForm
from ..models import Review
from ..rules import RuleError
from ..web import csv_download, is_partial, render, xlsx_download
from .partners import submit_on_partner_page

bp = Blueprint("reviews", __name__, url_prefix="/reviews")


@bp.route("/")
@allow("gestionnaire")
def index():
    """The structure's open review (to start or resume) and its completed reviews."""
    partner = current_user.partner
    past = list(
        Review.select()
        .where((Review.partner == partner) & (Review.status == "completed"))
        .order_by(Review.completed_at.desc())
    )
    return render("reviews/index.html", current=reviews.open_review(partner), past=past)


@bp.route("/start", methods=["POST"])
@allow("gestionnaire")
def start():
    """Start (or resume) the structure's review."""
    review = reviews.start(current_user)
    return redirect(url_for("reviews.show", review_id=review.id), 303)


def _page(review, errors=None, status=200):
    decided, total = reviews.progress(review)
    return render(
        "reviews/show.html",
        review=review,
        rows=reviews.rows(review),
        decided=decided,
        total=total,
        errors=errors or {},
        awaiting_caisse=reviews.awaiting_caisse(review),
        remaining_techniciens=[a for a in reviews.undecided(review) if a.profile == "technicien"],
    ), status


@bp.route("/<int:review_id>")
@allow("gestionnaire", "caisse")
def show(review):
    """The review table, or the signed-off record once completed (printable)."""
    return _page(review)


@bp.route("/<int:review_id>/accounts/<int:account_id>", methods=["POST"])
@allow("gestionnaire", "caisse")
def decide(review, account):
    """Keep or inactivate one account; the row and the progress update in place."""
    form = ReviewDecisionForm()
    error = None
    if not form.validate():
        error = next(iter(form.errors.values()))[0]
    else:
        try:
            reviews.decide(
                current_user,
                review,
                account,
                form.decision.data or "",
                form.reason.data or "",
                attestations=form.attested(),
            )
        except RuleError as exc:
            error = exc.message
    # No row when the account is not under review (inactivated meanwhile, another structure).
    row = next((r for r in reviews.rows(review) if r["account"].id == account.id), None)
    if is_partial():
        decided, total = reviews.progress(review)
        return render(
            "reviews/_row_response.html",
            review=review,
            r=row,
            account=account,
            error=error,
            decided=decided,
            total=total,
        )
    if error and row is None:
        flash(error, "error")  # no row of the page to show it next to
    if error:
        return _page(review, errors={account.id: error})
    return redirect(url_for("reviews.show", review_id=review.id) + f"#compte-{account.id}", 303)


@bp.route("/<int:review_id>/keep-techniciens", methods=["POST"])
@allow("gestionnaire", "caisse")
def keep_techniciens(review):
    """Keep every technicien still without a decision, the attestations given once."""
    form = ReviewDecisionForm()
    try:
        n = reviews.keep_remaining_techniciens(
            current_user, review, form.validate() and form.attested()
        )
    except RuleError as exc:
        flash(exc.message, "error")
    else:
        flash(f"{n} technicien{'s' if n > 1 else ''} conservé{'s' if n > 1 else ''}.", "success")
    return redirect(url_for("reviews.show", review_id=review.id), 303)


@bp.route("/<int:review_id>/ask-caisse", methods=["POST"])
@allow("gestionnaire")
def ask_caisse(review):
    """The only gestionnaire asks the caisse to decide on their own account."""
    try:
        reviews.ask_caisse(current_user, review)
    except RuleError as exc:
        flash(exc.message, "error")
    else:
        flash("La caisse est prévenue : elle décidera pour votre compte.", "success")
    return redirect(url_for("reviews.show", review_id=review.id), 303)


@bp.route("/<int:review_id>/complete", methods=["POST"])
@allow("gestionnaire")
def complete(review):
    """Apply the decisions and sign the review off; it cannot be edited afterwards."""
    try:
        reviews.complete(current_user, review)
    except RuleError as exc:
        flash(exc.message, "error")
    else:
        flash(
            "La revue est terminée : les inactivations de techniciens sont faites, celles de "
            "gestionnaires sont programmées à 15 jours.",
            "success",
        )
    return redirect(url_for("reviews.show", review_id=review.id), 303)


@bp.route("/<int:review_id>/export.csv")
@allow("gestionnaire", "caisse")
def export_csv(review):
    """The review record as CSV."""
    audit.record_read(
        "review_exported", current_user._get_current_object(), partner=review.partner_id
    )
    return csv_download(
        f"revue-{review.id}.csv", exports.REVIEW_HEADER, lambda: exports.review_rows(review)
    )


@bp.route("/<int:review_id>/export.xlsx")
@allow("gestionnaire", "caisse")
def export_xlsx(review):
    """The review record as XLSX."""
    audit.record_read(
        "review_exported", current_user._get_current_object(), partner=review.partner_id
    )
    return xlsx_download(
        f"revue-{review.id}.xlsx",
        exports.REVIEW_HEADER,
        lambda: exports.review_rows(review),
        "Revue",
    )


@bp.route("/ask/<int:partner_id>", methods=["POST"])
@allow("caisse")
def ask(partner):
    """The caisse asks the partner for a review by a due date; gestionnaires are told."""
    form = ReviewRequestForm()
    return submit_on_partner_page(
        partner,
        form,
        "review_form",
        lambda: reviews.request_review(current_user, partner, form.due_on.data),
        "La revue est demandée ; les gestionnaires de la structure sont prévenus.",
    )


@bp.route("/periodicity/<int:convention_id>", methods=["POST"])
@allow("caisse")
def periodicity(convention):
    """The caisse sets how often the partner's reviews open by themselves."""
    form = PeriodicityForm()
    return submit_on_partner_page(
        convention.partner,
        form,
        "periodicity_form",
        lambda: reviews.set_periodicity(current_user, convention, form.months.data),
        "La périodicité des revues est enregistrée.",
    )
