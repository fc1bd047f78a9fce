"""The caisse's own catalogue of offers and motifs, kept by its agents (issue 12.3)."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import catalogue
from ..access import allow, register_loader
from ..forms import MotifForm, OfferForm
from ..models import Motif, Offer
from ..rules import RuleError
from ..web import refuse, render

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")


def _own_offer(user, offer):
    return user.profile == "caisse" and offer.caisse_id == user.caisse_id


register_loader("offer_id", Offer, _own_offer)
register_loader("motif_id", Motif, lambda user, motif: _own_offer(user, motif.offer))


@bp.route("/")
@allow("caisse")
def index():
    """The caisse's catalogue: its offers and their motifs, what each structure may be
    given on its convention (§1.2, `004_…` annexe 3)."""
    return _catalogue_page(OfferForm(formdata=None, active=True))


def _catalogue_page(offer_form):
    return render(
        "catalogue/index.html",
        offers=catalogue.offers_of(current_user.caisse_id),
        offer_form=offer_form,
    )


@bp.route("/offers", methods=["POST"])
@allow("caisse")
def create_offer():
    """Add an offer to the caisse's catalogue."""
    form = OfferForm()
    if form.validate():
        try:
            offer = catalogue.add_offer(current_user, form.label.data, form.target_hours.data)
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(
                f"L'offre « {offer.label} » est ajoutée : ajoutez-lui ses motifs, puis activez-la "
                "sur les conventions des structures concernées.",
                "success",
            )
            return redirect(url_for("catalogue.edit_offer", offer_id=offer.id), 303)
    return _catalogue_page(form)


@bp.route("/offers/<int:offer_id>", methods=["GET", "POST"])
@allow("caisse")
def edit_offer(offer):
    """Rename an offer, set its default target time, withdraw it or propose it again; its
    motifs, and a form to add one."""
    form = OfferForm(obj=offer)
    if form.validate_on_submit():
        try:
            catalogue.update_offer(
                current_user, offer, form.label.data, form.target_hours.data, form.active.data
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash("L'offre est mise à jour.", "success")
            return redirect(url_for("catalogue.index"), 303)
    return _offer_page(offer, form, MotifForm(formdata=None, concerns_assure=True, active=True))


def _offer_page(offer, form, motif_form):
    return render(
        "catalogue/offer.html",
        offer=offer,
        form=form,
        motifs=list(offer.motifs.order_by(Motif.position, Motif.id)),
        former=catalogue.former_labels(offer),
        motif_form=motif_form,
    )


@bp.route("/offers/<int:offer_id>/motifs", methods=["POST"])
@allow("caisse")
def create_motif(offer):
    """Add a motif to one of the caisse's offers."""
    form = MotifForm()
    if form.validate():
        try:
            motif = catalogue.add_motif(
                current_user, offer, form.label.data, form.concerns_assure.data
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(
                f"Le motif « {motif.label} » est ajouté : il est ouvert aux structures qui ont "
                "cette offre.",
                "success",
            )
            return redirect(url_for("catalogue.edit_offer", offer_id=offer.id), 303)
    return _offer_page(offer, OfferForm(formdata=None, obj=offer), form)


@bp.route("/motifs/<int:motif_id>", methods=["GET", "POST"])
@allow("caisse")
def edit_motif(motif):
    """Rename a motif, say whether it concerns an assuré, withdraw it or propose it again."""
    form = MotifForm(obj=motif)
    if form.validate_on_submit():
        try:
            catalogue.update_motif(
                current_user,
                motif,
                form.label.data,
                form.concerns_assure.data,
                form.active.data,
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash("Le motif est mis à jour.", "success")
            return redirect(url_for("catalogue.edit_offer", offer_id=motif.offer_id), 303)
    return render(
        "catalogue/motif.html",
        motif=motif,
        offer=motif.offer,
        form=form,
        former=catalogue.former_labels(motif),
    )
