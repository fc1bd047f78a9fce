"""Information of the caisse: a caisse agent publishes news and documents to its partners,
the structures' techniciens and gestionnaires read them (issue 12.1)."""

from flask import Blueprint, abort, current_app, flash, redirect, request, send_file, url_for
from flask_login import current_user

from .. import attachments, publications
from ..access import allow, register_loader
from ..forms import EmptyForm, PublicationFilterForm, PublicationForm, options
from ..models import Publication
from ..rules import RuleError
from ..text import search_words
from ..web import page_number, refuse, render

bp = Blueprint("publications", __name__, url_prefix="/informations")

register_loader("publication_id", Publication, lambda user, item: publications.can_see(user, item))


@bp.app_template_global("publications_home")
def home_items():
    """(items, unread count) for the home of a structure's account."""
    return publications.home(current_user._get_current_object())


def _paged(query):
    """One page of a list of items: (rows, page, pages, total)."""
    size = current_app.config["EP_PAGE_SIZE"]
    total = query.order_by().count()
    pages = max(1, -(-total // size))
    page = min(page_number(), pages)
    return list(query.paginate(page, size)), page, pages, total


def _search():
    form = PublicationFilterForm(request.args)
    form.validate()
    return form, (search_words(form.q.data) if form.q.data else ())


@bp.route("/")
@allow("technicien", "gestionnaire")
def index():
    """The items the structure's caisses address to it, pinned first then the newest; search
    on title and text, accents and case folded."""
    form, words = _search()
    rows, page, pages, total = _paged(publications.listed_for(current_user, words=words))
    return render(
        "publications/index.html",
        block="publication_list",
        form=form,
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        args={k: v for k, v in request.args.items() if k != "page" and v},
    )


@bp.route("/gestion")
@allow("caisse")
def manage():
    """Everything the agent's caisse published, with how many structures opened each."""
    form, words = _search()
    query = Publication.for_caisse(current_user.caisse_id).order_by(*Publication.in_order())
    for word in words:
        query = query.where(Publication.search_key.contains(word))
    rows, page, pages, total = _paged(query)
    return render(
        "publications/manage.html",
        block="publication_list",
        form=form,
        rows=rows,
        reach=publications.reach(current_user.caisse_id, rows),
        page=page,
        pages=pages,
        total=total,
        args={k: v for k, v in request.args.items() if k != "page" and v},
    )


def _partner_choices(form):
    structures = publications.addressable(current_user.caisse_id)
    form.partners.choices = options((str(p.id), p.name) for p in structures)


@bp.route("/new", methods=["GET", "POST"])
@allow("caisse")
def create():
    """Publish an item to all the caisse's partners or to chosen structures."""
    form = PublicationForm()
    _partner_choices(form)
    agent = current_user._get_current_object()
    held = attachments.form_token(request.form.get("held"))
    if request.method == "POST":
        attachments.release(agent, held, request.form.getlist("remove_upload"))
        upload = request.files.get("fichier")
        if form.validate():
            try:
                item = publications.publish(
                    agent,
                    form.titre.data,
                    form.texte.data,
                    fichier=upload,
                    ends_on=form.ends_on.data,
                    partner_ids=form.partner_ids(),
                    pinned=form.pinned.data,
                    held=held,
                )
            except RuleError as exc:
                refuse(form, exc)
                if not any(name == "fichier" for name, _ in exc.errors):
                    form.fichier.errors = publications.keep_file(agent, held, upload)
            else:
                flash("L'information est publiée.", "success")
                return redirect(url_for("publications.show", publication_id=item.id), 303)
        else:
            form.fichier.errors = [
                *form.fichier.errors,
                *publications.keep_file(agent, held, upload),
            ]
    return render(
        "publications/new.html",
        form=form,
        held=held,
        kept=attachments.kept(agent, held),
    )


@bp.route("/<int:publication_id>")
@allow("caisse", "technicien", "gestionnaire")
def show(publication):
    """One item; opening it removes its "nouveau" marker for this account."""
    user = current_user._get_current_object()
    publications.mark_read(user, publication)
    context = {"item": publication, "caisse": publication.caisse}
    if user.profile == "caisse":
        context["reach"] = publications.reach(user.caisse_id, [publication])[publication.id]
        context["chosen"] = (
            [] if publication.all_partners else publications.chosen_names(publication)
        )
    return render("publications/show.html", **context)


@bp.route("/<int:publication_id>/fichier")
@allow("caisse", "technicien", "gestionnaire")
def download(publication):
    """The item's PDF, for those who see the item; never shown inline."""
    if not publication.has_file:
        abort(404)
    path = publications.path_of(publication)
    if not path.exists():
        abort(404)
    return send_file(
        path,
        mimetype=publication.content_type,
        as_attachment=True,
        download_name=publication.filename,
        max_age=0,
    )


def _act(publication, rule, success):
    if EmptyForm().validate():
        try:
            rule(current_user._get_current_object(), publication)
        except RuleError as exc:
            flash(exc.message, "error")
        else:
            flash(success, "success")
    return redirect(url_for("publications.show", publication_id=publication.id), 303)


@bp.route("/<int:publication_id>/pin", methods=["POST"])
@allow("caisse")
def pin(publication):
    """Pin the item at the top of its partners' lists."""
    return _act(publication, publications.pin, "L'information est épinglée en tête de liste.")


@bp.route("/<int:publication_id>/unpin", methods=["POST"])
@allow("caisse")
def unpin(publication):
    """Unpin the item: it takes its place by date again."""
    return _act(publication, publications.unpin, "L'information n'est plus épinglée.")


@bp.route("/<int:publication_id>/withdraw", methods=["POST"])
@allow("caisse")
def withdraw(publication):
    """Withdraw the item: the partners no longer see it."""
    return _act(
        publication,
        publications.withdraw,
        "L'information est retirée : vos partenaires ne la voient plus.",
    )
