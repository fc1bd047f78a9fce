"""The "Données personnelles" space of the référents RGPD (issue 14.2): find what is held
about a person, export it, rectify, erase, limit; and who is référent (designated by a
colleague). The person's identity travels in POST bodies only, never in an address."""

from flask import Blueprint, flash, redirect, stream_with_context, url_for
from flask_login import current_user

from .. import rgpd
from ..access import REFERENT_LOADERS, allow, is_rgpd_referent
from ..forms import EmptyForm, PersonForm, RectifyForm
from ..models import Account
from ..rules import RuleError
from ..text import plural
from ..web import refuse, render, streamed_download

bp = Blueprint("rgpd", __name__, url_prefix="/rgpd")

REFERENT = {"when": is_rgpd_referent, "loaders": REFERENT_LOADERS}


def _page(form=None, found=None, searched=False, mentions=None):
    user = current_user._get_current_object()
    return render(
        "rgpd/index.html",
        form=form or PersonForm(formdata=None),
        found=found or [],
        mentions=mentions or [],
        searched=searched,
        limited=rgpd.limited(user),
        empty=EmptyForm(),
    )


def _search(form):
    """The person's requests found again (an action's form carries the search)."""
    return rgpd.find(
        current_user._get_current_object(),
        form.nom.data,
        form.prenom.data,
        form.date_naissance.data,
    )


SEARCH_FIELDS = ("nom", "prenom", "date_naissance")


def _valid_search(form):
    """Whether the search the form carries can run: its own fields are valid (an action's
    fields, checked too, show their errors on the results)."""
    form.validate()
    return not any(form[name].errors for name in SEARCH_FIELDS)


def _results(form, exc=None):
    """The search's results page, with the refusal `exc` by its field."""
    if exc is not None:
        refuse(form, exc)
    try:
        found = _search(form)
    except RuleError as error:
        refuse(form, error)
        return _page(form)
    user = current_user._get_current_object()
    mentions = rgpd.thread_mentions(user, form.nom.data, form.prenom.data)
    return _page(form, found, searched=True, mentions=mentions)


@bp.route("/", methods=["GET", "POST"])
@allow("caisse", "gestionnaire", **REFERENT)
def index():
    """Find everything held about a person within the référent's scope (RGPD art. 15)."""
    form = PersonForm()
    if form.is_submitted():
        if not _valid_search(form):
            return _page(form)
        return _results(form)
    return _page()


@bp.route("/export", methods=["POST"])
@allow("caisse", "gestionnaire", **REFERENT)
def export():
    """The chosen requests of the person as a ZIP: a readable summary and the documents."""
    form = PersonForm()
    if not _valid_search(form):
        return _page(form)
    if form.errors:
        return _results(form)
    user = current_user._get_current_object()
    found = rgpd.held(user, form.chosen_ids())
    if not found:
        return _results(form, RuleError("Cochez au moins une demande.", field="demandes"))
    rgpd.record_export(user, found)
    chunks = stream_with_context(rgpd.zip_chunks(found))  # made while the request is here
    return streamed_download(rgpd.export_name(), "application/zip", lambda: chunks)


@bp.route("/limit", methods=["POST"])
@allow("caisse", "gestionnaire", **REFERENT)
def limit():
    """Limit the processing of the chosen requests (RGPD art. 18), with the reason."""
    form = PersonForm()
    if not _valid_search(form):
        return _page(form)
    if form.errors:
        return _results(form)
    try:
        n = rgpd.limit(current_user._get_current_object(), form.chosen_ids(), form.motif.data)
    except RuleError as exc:
        return _results(form, exc)
    flash(
        f"Traitement limité : {plural(n, 'demande')}. Seuls les référents RGPD y ont accès.",
        "success",
    )
    return redirect(url_for("rgpd.index"), 303)


@bp.route("/erase", methods=["POST"])
@allow("caisse", "gestionnaire", **REFERENT)
def erase():
    """Erase the personal data of the chosen requests (RGPD art. 17), with the reason."""
    form = PersonForm()
    if not _valid_search(form):
        return _page(form)
    if form.errors:
        return _results(form)
    if not form.confirm_erase.data:
        exc = RuleError("Cochez la confirmation de l'effacement.", field="confirm_erase")
        return _results(form, exc)
    try:
        n = rgpd.erase(current_user._get_current_object(), form.chosen_ids(), form.motif.data)
    except RuleError as exc:
        return _results(form, exc)
    flash(f"Données personnelles effacées : {plural(n, 'demande')}.", "success")
    return redirect(url_for("rgpd.index"), 303)


@bp.route("/<int:demande_id>/rectify", methods=["GET", "POST"])
@allow("caisse", "gestionnaire", **REFERENT)
def rectify(demande):
    """Correct the identity of the assuré of a request (RGPD art. 16)."""
    current = {
        "civilite": demande.assure_civilite,
        "nom": demande.assure_nom,
        "prenom": demande.assure_prenom,
        "date_naissance": demande.assure_date_naissance,
        "departement": demande.assure_departement,
    }
    form = RectifyForm(data=current)
    if form.validate_on_submit():
        try:
            changed = rgpd.rectify(
                current_user._get_current_object(), demande, form.data_for_rule()
            )
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(
                f"Demande n° {demande.reference} : identité rectifiée ({', '.join(changed)}).",
                "success",
            )
            return redirect(url_for("rgpd.index"), 303)
    return render("rgpd/rectify.html", form=form, demande=demande)


@bp.route("/<int:demande_id>/lift", methods=["POST"])
@allow("caisse", "gestionnaire", **REFERENT)
def lift(demande):
    """End the limitation of a request's processing."""
    if EmptyForm().validate():
        try:
            rgpd.lift(current_user._get_current_object(), demande)
        except RuleError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Demande n° {demande.reference} : limitation levée.", "success")
    return redirect(url_for("rgpd.index"), 303)


@bp.route("/referents")
@allow("caisse", "gestionnaire")
def referents():
    """The caisse's agents or the structure's gestionnaires, and who is référent RGPD."""
    user = current_user._get_current_object()
    return render("rgpd/referents.html", accounts=list(rgpd.colleagues(user)), empty=EmptyForm())


def _designate(account, rule, done):
    if EmptyForm().validate():
        try:
            rule(current_user._get_current_object(), account)
        except RuleError as exc:
            flash(exc.message, "error")
        else:
            flash(done.format(name=Account.get_by_id(account.id).display_name), "success")
    return redirect(url_for("rgpd.referents"), 303)


@bp.route("/referents/<int:account_id>/grant", methods=["POST"])
@allow("caisse", "gestionnaire", loaders=REFERENT_LOADERS)
def grant(account):
    """Designate a colleague référent RGPD."""
    return _designate(account, rgpd.grant, "{name} est désormais référent RGPD.")


@bp.route("/referents/<int:account_id>/revoke", methods=["POST"])
@allow("caisse", "gestionnaire", loaders=REFERENT_LOADERS)
def revoke(account):
    """Take the référent RGPD permission back."""
    return _designate(account, rgpd.revoke, "{name} n'est plus référent RGPD.")
