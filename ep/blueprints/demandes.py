"""Requests: techniciens submit and follow them, caisse agents process them (§1.2, §3, §5)."""

from datetime import datetime, time, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from peewee import JOIN, fn

from .. import attachments, audit, demandes, retention
from ..access import allow
from ..departements import DEPARTEMENTS
from ..forms import DemandeFilterForm, DemandeForm, MessageForm, options
from ..models import (
    DEMANDE_STATUSES,
    PURGE_REASONS,
    Account,
    Attachment,
    Caisse,
    Convention,
    Demande,
    DemandeEvent,
    Message,
    Offer,
    Partner,
)
from ..rules import RuleError
from ..text import search_words
from ..web import is_partial, page_number, refuse, render, to_id

bp = Blueprint("demandes", __name__, url_prefix="/demandes")

LIST_BOUND = 10_000  # requests a list counts and pages through; the filters narrow the rest

ACTIONS = {
    "submitted": "Demande envoyée",
    "taken": "Prise en charge par la caisse",
    "answered": "Réponse de la caisse",
    "asked": "Complément demandé par la caisse",
    "partner_replied": "Réponse du partenaire",
    "closed": "Demande clôturée",
    "close_warned": "Structure prévenue de la clôture automatique sans réponse",
    "auto_closed": "Demande clôturée automatiquement (sans réponse du partenaire)",
    "erased": "Données effacées à la demande de la personne (demande clôturée)",
}


def _choices(form, partner):
    """Fill the dependent selects: organisme, then the offers of its catalogue activated for
    the structure, then their motifs open to it. Returns what the page says about them:
    the offer and motif chosen, whether the assuré's identity is asked, and where a
    document asked for will be sent."""
    caisses = demandes.available_caisses(partner)
    form.caisse.choices = options([("", "— Choisir —")] + [(str(c.id), c.name) for c in caisses])
    if len(caisses) == 1 and not form.caisse.data:
        form.caisse.data = str(caisses[0].id)
    caisse_id = to_id(form.caisse.data)
    convention = demandes.active_convention(partner, caisse_id) if caisse_id else None
    catalogue = convention.active_catalogue() if convention is not None else []
    form.offer.choices = options([("", "— Choisir —")] + [(o.code, o.label) for o, _ in catalogue])
    offer, motifs = next(((o, ms) for o, ms in catalogue if o.code == form.offer.data), (None, []))
    form.motif.choices = options([("", "— Choisir —")] + [(m.code, m.label) for m in motifs])
    motif = next((m for m in motifs if m.code == form.motif.data), None)
    form.departement.choices = options(
        [("", "— Choisir —")] + [(code, f"{code} – {name}") for code, name in DEPARTEMENTS]
    )
    return {
        "offer": offer,
        "motif": motif,
        "identity": demandes.needs_identity(offer, motif, motifs),
        "mixed": offer is not None
        and motif is None
        and any(m.concerns_assure for m in motifs)
        and not all(m.concerns_assure for m in motifs),
        "destination": demandes.document_destination(convention)
        if demandes.is_document_request(offer)
        else None,
        "caisse_name": convention.caisse.name if convention is not None else "",
        "convention_id": convention.id if convention is not None else None,
    }


@bp.route("/new", methods=["GET", "POST"])
@allow("technicien")
def create():
    """Submit a request to the caisse of the assuré's affiliation (§1.2)."""
    form = DemandeForm(formdata=request.form if request.method == "POST" else request.args)
    confirm = set()
    duplicate_link = None
    held = _kept_files()
    if request.method == "POST" and "refresh" not in request.form and form.validate():
        if not form.caisse.data:  # the only caisse is chosen by default
            _choices(form, current_user.partner)
        try:
            demande = demandes.submit(
                current_user,
                form.data_for_rule(),
                request.files.getlist("pieces_jointes"),
                kept=held,
            )
        except demandes.NeedsConfirmation as exc:
            refuse(form, exc)
            confirm.add(exc.confirm)
            if exc.demande_id:
                duplicate_link = url_for("demandes.show", demande_id=exc.demande_id)
        except RuleError as exc:
            refuse(form, exc)
        else:
            flash(f"Votre demande n° {demande.reference} est envoyée.", "success")
            return redirect(url_for("demandes.show", demande_id=demande.id), 303)
    elif request.method == "POST":  # refreshed, or refused by the form: keep the files
        _keep(form, held)
    for name in ("confirm_health", "confirm_duplicate"):
        if form[name].data:
            confirm.add(name)
    # The lists of choices only for a page that shows them (issue 11: a submission that
    # succeeds redirects, and computing them was a third of its cost).
    chosen = _choices(form, current_user.partner)
    return render(
        "demandes/new.html",
        block="demande_choices",
        form=form,
        chosen=chosen,
        # Only the block htmx swaps in on a change of choice keeps the identity as typed: a
        # page that comes back from the server (errors by the fields) replaces it.
        preserve_identity=is_partial(),
        confirm=confirm,
        duplicate_link=duplicate_link,
        no_caisse=not form.caisse.choices[1:],
        held=held,
        kept=attachments.kept(current_user._get_current_object(), held),
    )


def _kept_files():
    """The token of the form's kept files (issue 10.3); the files ticked "Retirer" go."""
    held = attachments.form_token(request.form.get("held"))
    if request.method == "POST":
        attachments.release(
            current_user._get_current_object(), held, request.form.getlist("remove_upload")
        )
    return held


def _keep(form, held):
    """Keep the chosen files of a form that comes back without reaching its rule; a refused
    file is said by the field."""
    refused = attachments.keep(
        current_user._get_current_object(), held, request.files.getlist("pieces_jointes")
    )
    form.pieces_jointes.errors = [*form.pieces_jointes.errors, *refused]


def _filters(form):
    """The list's filters as the form says them, for `Demande.page_ids`."""
    end = form.date_to.data and datetime.combine(form.date_to.data, time()) + timedelta(days=1)
    return dict(
        words=search_words(form.q.data) if form.q.data else (),
        status=form.status.data if form.status.data in ("open", *DEMANDE_STATUSES) else None,
        offer=form.offer.data or None,
        unread=form.activity.data == "unread",
        caisse=to_id(form.caisse.data),
        author=to_id(form.author.data),
        created_from=form.date_from.data and datetime.combine(form.date_from.data, time()),
        created_before=end or None,
    )


def _filter_form(status_default=""):
    form = DemandeFilterForm(request.args)
    labels = dict(DEMANDE_STATUSES)
    if current_user.profile != "caisse":
        labels["waiting_partner"] = "Complément à fournir"
    statuses = [("", "Tous"), ("open", "En cours (non clôturées)")] + list(labels.items())
    form.status.choices = options(statuses)
    if "status" not in request.args:
        form.status.data = status_default
    form.offer.choices = options([("", "Toutes")] + _offer_filter(current_user))
    news = [("", "Toutes"), ("unread", "Non lues")]
    if current_user.profile == "caisse":
        news.append(("partner_reply", "Réponse du partenaire à traiter"))
    form.activity.choices = options(news)
    for name in ("partner", "taken"):  # the queue's own filters
        form[name].choices = options([("", "Toutes")])
    return form


def _offer_filter(user):
    """(code, label) of the offers a list may filter on: the caisse's catalogue, or those of
    the structure's caisses (one per code, the same offer in each catalogue)."""
    if user.profile == "caisse":
        offers = Offer.select().where(Offer.caisse == user.caisse_id)
    else:
        caisses = Convention.select(Convention.caisse).where(Convention.partner == user.partner_id)
        offers = Offer.select().where(Offer.caisse.in_(caisses))
    seen = {}
    for offer in offers.order_by(Offer.position, Offer.caisse, Offer.id):
        seen.setdefault(offer.code, offer.label)
    return list(seen.items())


@bp.route("/")
@allow("technicien")
def index():
    """The structure's requests, newest first: filters, search on the assuré (§1.2)."""
    partner = current_user.partner
    form = _filter_form()
    caisses = Caisse.select().join(Convention).where(Convention.partner == partner)
    form.caisse.choices = options([("", "Tous")] + [(str(c.id), c.name) for c in caisses])
    authors = (
        Account.select()
        .where((Account.partner == partner) & (Account.profile == "technicien"))
        .order_by(Account.nom)
    )
    form.author.choices = options([("", "Tous")] + [(str(a.id), a.display_name) for a in authors])
    form.validate()
    ids = Demande.page_ids(current_user, **_filters(form))
    return _list("demandes/index.html", form, ids, Demande.newest_first())


def _list(template, form, ids, order):
    """One page of the list. The page's ids come first, from the requests' own columns and
    their index (issue 11: joined from the start, SQLite read all of a caisse's requests);
    then everything the page shows, for those ids only, in one query."""
    size = current_app.config["EP_PAGE_SIZE"]
    # Counted up to a bound, and paged up to it: counting a caisse's 738,000 closed
    # requests took 48 ms at each page, and page 20,000 read 500,000 index entries to skip
    # them (issue 11). Past the bound, the filters narrow the list.
    total = ids.order_by().limit(LIST_BOUND + 1).count()
    beyond = total > LIST_BOUND
    total = min(total, LIST_BOUND)
    pages = max(1, -(-total // size))
    page = min(page_number(), pages)
    page_ids = [d.id for d in ids.order_by(*order).paginate(page, size)]
    rows = Demande.listed_in_order(current_user, page_ids)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    response = make_response(
        render(
            template,
            block="demande_list",
            form=form,
            rows=rows,
            page=page,
            total=total,
            beyond=beyond,
            pages=pages,
            args=args,
        )
    )
    if request.htmx:  # fragments, boosted links (the pager) and boosted forms alike
        # The filters go into the address bar (bookmarkable), the assuré's name does not:
        # browser history is no place for it.
        kept = {k: v for k, v in request.args.items() if k != "q" and v}
        response.headers["HX-Push-Url"] = url_for(request.endpoint, **kept)
    return response


@bp.route("/queue")
@allow("caisse")
def queue():
    """Requests addressed to the agent's caisse: urgent first, then the oldest (`002_…` §3.2)."""
    form = _filter_form(status_default="open")
    form.caisse.choices = options([("", "Tous")])
    form.author.choices = options([("", "Tous")])
    partners = dict(
        Partner.select(Partner.id, Partner.name)
        .join(Convention)
        .where((Convention.caisse == current_user.caisse_id) & (Convention.state == "accepted"))
        .order_by(fn.LOWER(Partner.name), Partner.id)
        .tuples()
    )
    form.partner.choices = options(
        [("", "Toutes")] + [(str(pid), name) for pid, name in partners.items()]
    )
    form.taken.choices = options(
        [("", "Toutes"), ("me", "Mes demandes"), ("none", "Non attribuées")]
    )
    form.validate()
    ids = Demande.page_ids(
        current_user,
        **_filters(form),
        partner=to_id(form.partner.data) if to_id(form.partner.data) in partners else None,
        taken=form.taken.data,
        reply_pending=form.activity.data == "partner_reply",
    )
    return _list("demandes/queue.html", form, ids, Demande.urgent_then_oldest())


@bp.route("/<int:demande_id>")
@allow("technicien", "caisse")
def show(demande):
    """One request: the assuré, the exchanges, the documents, the history."""
    user = current_user._get_current_object()
    audit.record_read(
        "demande_viewed",
        user,
        partner=demande.partner_id,
        caisse=demande.caisse_id,
        detail=f"demande {demande.reference}",
    )
    demandes.mark_read(user, demande)
    return _show(demande, MessageForm(formdata=None))


def _show(demande, form, confirm=False, status=200, held=None):
    user = current_user._get_current_object()
    # The request with its structure, caisse, offer, motif, author and agent, and the
    # exchanges with their authors: one query each, whatever their number (issue 11).
    demande = Demande.listed_for(user).where(Demande.id == demande.id).get()
    messages = list(
        Message.select(Message, Account)
        .join(Account, on=(Message.author == Account.id))
        .where(Message.demande == demande)
        .order_by(Message.created_at, Message.id)
    )
    files = list(Attachment.select().where(Attachment.demande == demande).order_by(Attachment.id))
    events = list(
        DemandeEvent.select(DemandeEvent, Account)
        .join(Account, JOIN.LEFT_OUTER, on=(DemandeEvent.actor == Account.id), attr="actor")
        .where(DemandeEvent.demande == demande)
        .order_by(DemandeEvent.id)
    )
    convention = Convention.get_or_none(
        (Convention.partner == demande.partner) & (Convention.caisse == demande.caisse)
    )
    Demande.with_labels([demande])
    return render(
        "demandes/show.html",
        d=demande,
        messages=messages,
        files=files,
        events=events,
        actions=ACTIONS,
        form=form,
        confirm=confirm,
        receives_documents=bool(convention and convention.may_receive_documents),
        closing_day=retention.closing_day(demande),
        purge_reasons=PURGE_REASONS,
        destination=demandes.document_destination(convention)
        if demandes.is_document_request(demande.offer)
        else None,
        held=held or attachments.form_token(),
        kept=attachments.kept(current_user._get_current_object(), held) if held else [],
    ), status


def _act(demande, rule, success):
    form = MessageForm()
    held = _kept_files()
    if not form.validate():
        _keep(form, held)
        return _show(demande, form, held=held)
    try:
        rule(form, held)
    except demandes.NeedsConfirmation as exc:
        refuse(form, exc)
        return _show(demande, form, confirm=True, held=held)
    except RuleError as exc:
        refuse(form, exc)
        return _show(demande, form, held=held)
    flash(success, "success")
    return redirect(url_for("demandes.show", demande_id=demande.id), 303)


def _files():
    return request.files.getlist("pieces_jointes")


@bp.route("/<int:demande_id>/reply", methods=["POST"])
@allow("technicien", "caisse")
def reply(demande):
    """Add a message (and documents) to the exchanges of the request."""
    return _act(
        demande,
        lambda form, held: demandes.reply(
            current_user, demande, form.body.data, _files(), form.confirm_health.data, kept=held
        ),
        success="Votre message est envoyé.",
    )


@bp.route("/<int:demande_id>/ask", methods=["POST"])
@allow("caisse")
def ask(demande):
    """Ask the partner for more information; the request waits for the partner."""
    return _act(
        demande,
        lambda form, held: demandes.ask_more(
            current_user, demande, form.body.data, _files(), form.confirm_health.data, kept=held
        ),
        success="La demande de complément est envoyée au partenaire.",
    )


@bp.route("/<int:demande_id>/close", methods=["POST"])
@allow("caisse")
def close(demande):
    """Close the request, with a last message for the partner (required)."""
    return _act(
        demande,
        lambda form, held: demandes.close(
            current_user, demande, form.body.data, form.confirm_health.data, _files(), held
        ),
        success="La demande est clôturée.",
    )


@bp.route("/<int:demande_id>/take", methods=["POST"])
@allow("caisse")
def take(demande):
    """Take the request in charge."""
    try:
        demandes.take(current_user, demande)
    except RuleError as exc:
        flash(exc.message, "error")
    else:
        flash("Vous avez pris la demande en charge.", "success")
    return redirect(url_for("demandes.show", demande_id=demande.id), 303)


@bp.route("/attachments/<int:attachment_id>")
@allow("technicien", "caisse")
def download(attachment):
    """Download a document of a request the user is entitled to; never shown inline."""
    path = attachments.path_of(attachment)
    if not path.exists():
        abort(404)
    demande = attachment.demande
    audit.record_read(
        "attachment_downloaded",
        current_user._get_current_object(),
        partner=demande.partner_id,
        caisse=demande.caisse_id,
        detail=f"demande {demande.reference}, pièce {attachment.id}",
    )
    return send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )
