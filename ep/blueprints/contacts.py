"""Contacts kept by their owners (issue 12.4): a caisse's agents keep the caisse's, a
structure's gestionnaires the structure's; the caisse also says where it is (12.6)."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from .. import contacts, phones
from ..access import allow, register_loader
from ..forms import DepartementForm, EmptyForm, ReferentForm
from ..models import Caisse, Contact
from ..rules import RuleError
from ..web import refuse, render

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


def can_manage_contact(user, contact):
    """The owner's side only: the caisse's agents, the structure's gestionnaires."""
    if user.profile == "caisse":
        return contact.caisse_id is not None and contact.caisse_id == user.caisse_id
    if user.profile == "gestionnaire":
        return contact.partner_id is not None and contact.partner_id == user.partner_id
    return False


register_loader("contact_id", Contact, can_manage_contact)


def _form(**kwargs):
    return ReferentForm(
        roles=contacts.roles_for(current_user), caisse=current_user.caisse_id, **kwargs
    )


def _index(form=None, departement_form=None):
    user = current_user
    if user.profile == "caisse":
        caisse = Caisse.get_by_id(user.caisse_id)
        mine = contacts.of_caisse(caisse)
        departement_form = departement_form or DepartementForm(
            formdata=None, departement=caisse.departement
        )
    else:
        caisse = None
        mine = contacts.of_partner(user.partner_id)
    return render(
        "contacts/index.html",
        contacts=mine,
        caisse=caisse,
        form=form or _form(formdata=None),
        departement_form=departement_form,
        empty=EmptyForm(),
    )


@bp.route("/")
@allow("caisse", "gestionnaire")
def index():
    """The contacts the user's caisse or structure shows its partners, to keep up to date."""
    return _index()


@bp.route("/new", methods=["POST"])
@allow("caisse", "gestionnaire")
def create():
    """Add a contact of the user's caisse or structure."""
    form = _form()
    if form.validate_on_submit():
        try:
            contact = contacts.add(current_user, form.fields())
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(f"Le contact {contact.name} est ajouté.", "success")
            return redirect(url_for("contacts.index"), 303)
    return _index(form=form)


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@allow("caisse", "gestionnaire")
def edit(contact):
    """Change a contact of the user's caisse or structure."""
    saved = {k: getattr(contact, k) for k in ("role", "theme", "name", "function", "email")}
    saved["phone"] = phones.display(contact.phone)
    saved["offer"] = str(contact.offer_id) if contact.offer_id else ""
    form = _form(data=saved)
    if form.validate_on_submit():
        try:
            contacts.update(current_user, contact, form.fields())
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(f"Le contact {contact.name} est mis à jour.", "success")
            return redirect(url_for("contacts.index"), 303)
    return render("contacts/edit.html", form=form, contact=contact)


@bp.route("/<int:contact_id>/delete", methods=["POST"])
@allow("caisse", "gestionnaire")
def delete(contact):
    """Remove a contact of the user's caisse or structure."""
    if EmptyForm().validate():
        try:
            contacts.remove(current_user, contact)
        except RuleError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Le contact {contact.name} est retiré.", "success")
    return redirect(url_for("contacts.index"), 303)


@bp.route("/departement", methods=["POST"])
@allow("caisse")
def departement():
    """Where the caisse is: its deadlines count that département's public holidays."""
    form = DepartementForm()
    if form.validate_on_submit():
        try:
            contacts.set_departement(current_user, form.departement.data)
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash("Le département de la caisse est enregistré.", "success")
            return redirect(url_for("contacts.index"), 303)
    return _index(departement_form=form)
