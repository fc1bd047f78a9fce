"""Partner structures and conventions, managed by caisse agents (§1, §2.1, §2.2)."""

from datetime import date

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from .. import accounts, contacts, evaluations, partners, quotas, reviews
from .. import conventions as conventions_
from ..access import allow
from ..forms import (
    ConventionForm,
    EmptyForm,
    FraudForm,
    HabilitateForm,
    HabilitationRequestForm,
    PartnerForm,
    PeriodicityForm,
    ReviewRequestForm,
    TrainingForm,
)
from ..models import Account, Convention, ConventionOffer, HabilitationRequest, Partner
from ..rules import NeedsConfirmation, RuleError
from ..web import arg_id, refuse, render, to_id

bp = Blueprint("partners", __name__, url_prefix="/partners")


@bp.route("/")
@allow("caisse")
def index():
    """Partners conventioned with the agent's caisse, and the conventions waiting for a
    structure's agreement (their name only)."""
    caisse = current_user.caisse_id
    cut = Convention.cut_off_partner_ids(caisse)
    waiting = list(
        Convention.select(Convention, Partner)
        .join(Partner)
        .where((Convention.caisse == caisse) & Convention.state.in_(("pending", "refused")))
        .order_by(Convention.created_at.desc())
    )
    return render(
        "partners/index.html",
        partners=list(Partner.for_caisse(caisse)),
        cut=cut,
        waiting=waiting,
    )


@bp.route("/new", methods=["GET", "POST"])
@allow("caisse")
def create():
    """Record a new partner structure and its convention with the agent's caisse."""
    form = PartnerForm(caisse=current_user.caisse_id)
    if not form.is_submitted():
        form.offers.data = [choice.value for choice in form.offers.choices]
        form.motifs.data = [choice.value for choice in form.motifs.choices]
    if form.validate_on_submit():
        try:
            partner, convention = partners.create_partner(
                current_user,
                form.name.data,
                form.siret.data,
                form.headcount.data,
                form.convention_fields(),
                form.offers.data,
                motif_keys=form.motif_keys(),
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            if convention.is_pending:
                flash(
                    f"Une structure portant ce SIRET est déjà inscrite ({partner.name}). Votre "
                    "convention attend l'accord de l'un de ses gestionnaires, prévenus par "
                    "e-mail : vous verrez ses comptes une fois la convention acceptée.",
                    "info",
                )
                return redirect(url_for("partners.index"), 303)
            flash(f"La structure {partner.name} et sa convention sont enregistrées.", "success")
            return redirect(url_for("partners.show", partner_id=partner.id), 303)
    return render("partners/new.html", form=form)


@bp.route("/<int:partner_id>")
@allow("caisse", "gestionnaire")
def show(partner):
    """A partner's conventions, quotas and accounts, as its caisse or gestionnaire sees them."""
    return render_show(partner)


def submit_on_partner_page(partner, form, form_name, rule, success):
    """The small forms of the partner page: on success a flash and back to the page; on bad
    input or a refusal, the page again with this form showing its errors by the field."""
    if form.validate():
        try:
            rule()
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(success, "success")
            return redirect(url_for("partners.show", partner_id=partner.id), 303)
    return render_show(partner, **{form_name: form})


def render_show(partner, **forms):
    """The partner page; `forms` replaces a blank form by one coming back with its errors."""
    conventions = Convention.select().where(Convention.partner == partner)
    if current_user.profile == "caisse":
        conventions = conventions.where(Convention.caisse == current_user.caisse_id)
    accounts_ = list(
        Account.visible()
        .where(Account.partner == partner)
        .order_by(Account.profile, Account.nom, Account.prenom)
    )
    usage = {p: quotas.usage(partner, p) for p in ("gestionnaire", "technicien")}
    own = None
    if current_user.profile == "caisse":
        own = Convention.get_or_none(
            (Convention.partner == partner) & (Convention.caisse == current_user.caisse_id)
        )
    blank = {
        "cut_form": FraudForm(formdata=None),
        "review_form": ReviewRequestForm(formdata=None),
        "periodicity_form": PeriodicityForm(
            formdata=None, months=own.review_every_months if own else None
        ),
        "habilitation_form": HabilitationRequestForm(formdata=None, received_on=date.today()),
        "training_form": TrainingForm(formdata=None),
    }
    blank.update(forms)
    return render(
        "partners/show.html",
        partner=partner,
        conventions=list(conventions),
        accounts=accounts_,
        usage=usage,
        own_convention=own,
        review=reviews.open_review(partner),
        partner_evaluations=evaluations.for_partner(
            partner.id, current_user.caisse_id if current_user.profile == "caisse" else None
        ),
        last_review=reviews.last_completed(partner),
        pending_habilitations=list(
            accounts.pending_habilitations([partner.id], current_user.caisse_id)
        ),
        structure_contacts=contacts.of_partner(partner),
        trainings=conventions_.trainings(own) if own else [],
        **blank,
    )


@bp.route("/conventions/<int:convention_id>/edit", methods=["GET", "POST"])
@allow("caisse")
def edit_convention(convention):
    """Change the convention: dates, effectif, activated offers and motifs, documents,
    deadline, target times."""
    form = ConventionForm(obj=convention, caisse=convention.caisse_id)
    targets = _target_hours(convention)
    if not form.is_submitted():
        _fill_catalogue(form, convention)
        form.headcount.data = convention.partner.headcount
    if form.validate_on_submit():
        try:
            partners.update_convention(
                current_user,
                convention,
                form.convention_fields(),
                form.offers.data,
                headcount=form.headcount.data,
                target_hours=targets,
                siret=form.siret.data,
                motif_keys=form.motif_keys(),
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash("La convention est mise à jour.", "success")
            return redirect(url_for("partners.show", partner_id=convention.partner_id), 303)
    return render(
        "partners/convention.html",
        form=form,
        convention=convention,
        empty=EmptyForm(),
        targets=targets,
    )


def _fill_catalogue(form, convention):
    """The convention's activated offers and open motifs, ticked."""
    form.offers.data = sorted(convention.offer_codes())
    form.motifs.data = sorted(partners.motif_keys_on(convention))


def _target_hours(convention):
    """The convention's own target hours per offer of the catalogue: from the form when
    posted (empty: the catalogue's default, None), else as saved."""
    saved = {
        link.offer_id: link.target_hours
        for link in ConventionOffer.select().where(ConventionOffer.convention == convention)
    }
    hours = {}
    for offer in partners.convention_catalogue(convention.caisse_id):
        raw = request.form.get(f"target_{offer.code}") if request.method == "POST" else None
        if raw is None:
            hours[offer.code] = saved.get(offer.id)
        elif not raw.strip():
            hours[offer.code] = None
        else:
            hours[offer.code] = to_id(raw) if to_id(raw) is not None else -1
    return hours


@bp.route("/<int:partner_id>/gestionnaires/new", methods=["GET", "POST"])
@allow("caisse")
def habilitate(partner):
    """Habilitate a gestionnaire: create the account and e-mail the set-password link (§2.2)."""
    form = HabilitateForm()
    confirm = bool(form.confirm_email.data)
    pending = None
    if arg_id("request"):
        pending = HabilitationRequest.get_or_none(
            (HabilitationRequest.id == arg_id("request"))
            & (HabilitationRequest.partner == partner)
            & (HabilitationRequest.caisse == current_user.caisse_id)
            & HabilitationRequest.done_at.is_null()
        )
    if not form.is_submitted():
        form.requested_on.data = pending.received_on if pending else date.today()
    if form.validate_on_submit():
        try:
            account = accounts.create_partner_account(
                current_user,
                partner,
                "gestionnaire",
                form.identity(),
                requested_on=form.requested_on.data,
                habilitation_request=pending,
                confirm_email=form.confirm_email.data,
            )
        except RuleError as exc:
            refuse(form, exc)
            confirm = confirm or isinstance(exc, NeedsConfirmation)
        else:
            flash(
                f"Le compte gestionnaire {account.username} est créé ; un lien pour choisir le "
                f"mot de passe a été envoyé à {account.email}.",
                "success",
            )
            return redirect(url_for("partners.show", partner_id=partner.id), 303)
    used, quota = quotas.usage(partner, "gestionnaire")
    return render(
        "partners/habilitate.html",
        form=form,
        partner=partner,
        used=used,
        quota=quota,
        pending=pending,
        confirm=confirm,
    )


@bp.route("/<int:partner_id>/habilitation-requests", methods=["POST"])
@allow("caisse")
def record_request(partner):
    """Record the partner's request to habilitate a gestionnaire (deadline tracked)."""
    form = HabilitationRequestForm()
    return submit_on_partner_page(
        partner,
        form,
        "habilitation_form",
        lambda: accounts.record_habilitation_request(
            current_user, partner, form.person.data, form.received_on.data
        ),
        "La demande d'habilitation est enregistrée.",
    )


def _own_convention(partner):
    return Convention.get(
        (Convention.partner == partner) & (Convention.caisse == current_user.caisse_id)
    )


@bp.route("/<int:partner_id>/cut-off", methods=["POST"])
@allow("caisse")
def cut_off(partner):
    """Cut off the structure's channel with this caisse at once (fraud, breach) (§4.1)."""
    form = FraudForm()
    return submit_on_partner_page(
        partner,
        form,
        "cut_form",
        lambda: partners.cut_off(current_user, _own_convention(partner), form.reason.data),
        f"L'accès de {partner.name} à votre caisse est coupé ; ses gestionnaires sont prévenus.",
    )


@bp.route("/<int:partner_id>/restore", methods=["POST"])
@allow("caisse")
def restore(partner):
    """Restore the structure's channel with this caisse after a cut-off."""
    try:
        partners.restore(current_user, _own_convention(partner))
    except RuleError as exc:
        flash(exc.message, "error")
    else:
        flash(f"L'accès de {partner.name} à votre caisse est rétabli.", "success")
    return redirect(url_for("partners.show", partner_id=partner.id), 303)


@bp.route("/conventions/<int:convention_id>/accept", methods=["POST"])
@allow("gestionnaire")
def accept(convention):
    """A gestionnaire accepts the convention a caisse proposed to the structure."""
    return _answer(convention, partners.accept_convention, "acceptée")


@bp.route("/conventions/<int:convention_id>/refuse", methods=["POST"])
@allow("gestionnaire")
def decline(convention):
    """A gestionnaire refuses a convention the structure did not sign."""
    return _answer(convention, partners.refuse_convention, "refusée")


def _answer(convention, rule, verdict):
    form = EmptyForm()
    if form.validate():
        try:
            rule(current_user, convention)
        except RuleError as exc:
            flash(exc.message, "error")
        else:
            flash(f"La convention avec {convention.caisse.name} est {verdict}.", "success")
    return redirect(url_for("main.index"), 303)
