"""Exchanges a caisse opens with a structure (issue 12.2): the list of exchanges (threads, and
the structure's "Contacter votre organisme" requests), a thread and its messages."""

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from .. import attachments, audit, threads
from ..access import allow, register_loader
from ..forms import ThreadFilterForm, ThreadForm, ThreadMessageForm, options
from ..models import (
    THREAD_AUDIENCES,
    Account,
    Caisse,
    Convention,
    Partner,
    Thread,
    ThreadAttachment,
    ThreadMessage,
)
from ..rules import NeedsConfirmation, RuleError
from ..web import arg_id, page_number, refuse, render, to_id
from .demandes import _keep, _kept_files  # the files of a form that comes back (issue 10.3)

bp = Blueprint("threads", __name__, url_prefix="/threads")

register_loader("thread_id", Thread, threads.can_see)
register_loader(
    "thread_attachment_id", ThreadAttachment, lambda user, a: threads.can_see(user, a.thread)
)

HOME_LIST = 5  # the exchanges shown on a structure's page, for the caisse


def _user():
    return current_user._get_current_object()


@bp.route("/")
@allow("caisse", "gestionnaire", "technicien")
def index():
    """The exchanges with the caisses (a structure's users) or with the structures (a caisse
    agent), newest activity first; by caisse or structure, unread only."""
    user = _user()
    form = ThreadFilterForm(request.args)
    if user.profile == "caisse":
        partners = dict(
            Partner.for_caisse(user.caisse_id).select(Partner.id, Partner.name).tuples()
        )
        caisses = {}
    else:
        partners = {}
        caisses = dict(
            Caisse.select(Caisse.id, Caisse.name)
            .join(Convention)
            .where((Convention.partner == user.partner_id) & (Convention.state == "accepted"))
            .order_by(Caisse.name)
            .tuples()
        )
    form.partner.choices = options(
        [("", "Toutes")] + [(str(i), name) for i, name in partners.items()]
    )
    form.caisse.choices = options(
        [("", "Toutes")] + [(str(i), name) for i, name in caisses.items()]
    )
    form.activity.choices = options([("", "Tous"), ("unread", "Non lus")])
    form.validate()
    partner = to_id(form.partner.data) if to_id(form.partner.data) in partners else None
    caisse = to_id(form.caisse.data) if to_id(form.caisse.data) in caisses else None
    rows, total, page, pages = threads.exchange_page(
        user,
        page_number(),
        Thread.PER_PAGE,
        caisse=caisse,
        partner=partner,
        unread=form.activity.data == "unread",
    )
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    response = make_response(
        render(
            "threads/index.html",
            block="exchange_list",
            form=form,
            rows=rows,
            total=total,
            page=page,
            pages=pages,
            args=args,
            partner=Partner.get_by_id(partner) if partner else None,
            may_write=user.profile == "caisse"
            and (
                partner is None
                or threads.writable_partners(user).where(Partner.id == partner).exists()
            ),
        )
    )
    if request.htmx:  # fragments, boosted links (the pager) and boosted forms alike
        response.headers["HX-Push-Url"] = url_for(request.endpoint, **args)
    return response


@bp.route("/new", methods=["GET", "POST"])
@allow("caisse")
def create():
    """Write to one of the caisse's structures about something that is not a request."""
    user = _user()
    form = ThreadForm()
    partners = list(threads.writable_partners(user).tuples())
    form.partner.choices = options([("", "— Choisir —")] + [(str(i), name) for i, name in partners])
    if request.method == "GET":
        form.audience.data = form.audience.data or "all"
        if arg_id("partner") in {i for i, _ in partners}:
            form.partner.data = str(arg_id("partner"))
    held = _kept_files()
    confirm = bool(form.confirm_health.data)
    if request.method == "POST":
        if form.validate():
            try:
                thread = threads.start(
                    user,
                    to_id(form.partner.data),
                    form.subject.data,
                    form.body.data,
                    request.files.getlist("pieces_jointes"),
                    audience=form.audience.data,
                    confirmed=form.confirm_health.data,
                    kept=held,
                )
            except NeedsConfirmation as exc:
                refuse(form, exc)
                confirm = True
            except RuleError as exc:
                refuse(form, exc)
            else:
                flash(f"Votre message est envoyé (échange n° {thread.reference}).", "success")
                return redirect(url_for("threads.show", thread_id=thread.id), 303)
        else:
            _keep(form, held)
    return render(
        "threads/new.html",
        form=form,
        confirm=confirm,
        no_partner=not partners,
        held=held,
        kept=attachments.kept(user, held),
    )


@bp.route("/<int:thread_id>")
@allow("caisse", "gestionnaire", "technicien")
def show(thread):
    """One exchange: its messages and documents, and the form to answer."""
    threads.mark_read(_user(), thread)
    return _show(thread, ThreadMessageForm(formdata=None))


def _show(thread, form, confirm=False, held=None):
    user = _user()
    thread = (
        Thread.select(Thread, Caisse, Partner)
        .join_from(Thread, Caisse)
        .join_from(Thread, Partner)
        .where(Thread.id == thread.id)
        .get()
    )
    messages = list(
        ThreadMessage.select(ThreadMessage, Account)
        .join(Account, on=(ThreadMessage.author == Account.id))
        .where(ThreadMessage.thread == thread)
        .order_by(ThreadMessage.id)
    )
    files = list(
        ThreadAttachment.select()
        .where(ThreadAttachment.thread == thread)
        .order_by(ThreadAttachment.id)
    )
    opener = Account.select(Account).where(Account.id == thread.started_by_id).first()
    closer = (
        thread.closed_by_id and Account.select().where(Account.id == thread.closed_by_id).first()
    )
    open_channel = threads.active_convention(thread.partner_id, thread.caisse_id) is not None
    return render(
        "threads/show.html",
        t=thread,
        messages=messages,
        files=files,
        opener=opener,
        closer=closer,
        open_channel=open_channel,
        audiences=THREAD_AUDIENCES,
        form=form,
        confirm=confirm,
        held=held or attachments.form_token(),
        kept=attachments.kept(user, held) if held else [],
    )


def _act(thread, rule, success):
    form = ThreadMessageForm()
    held = _kept_files()
    if not form.validate():
        _keep(form, held)
        return _show(thread, form, confirm=bool(form.confirm_health.data), held=held)
    try:
        rule(form, held)
    except NeedsConfirmation as exc:
        refuse(form, exc)
        return _show(thread, form, confirm=True, held=held)
    except RuleError as exc:
        refuse(form, exc)
        return _show(thread, form, confirm=bool(form.confirm_health.data), held=held)
    flash(success, "success")
    return redirect(url_for("threads.show", thread_id=thread.id), 303)


def _files():
    return request.files.getlist("pieces_jointes")


@bp.route("/<int:thread_id>/reply", methods=["POST"])
@allow("caisse", "gestionnaire", "technicien")
def reply(thread):
    """Add a message (and documents) to the exchange."""
    return _act(
        thread,
        lambda form, held: threads.reply(
            _user(), thread, form.body.data, _files(), form.confirm_health.data, kept=held
        ),
        success="Votre message est envoyé.",
    )


@bp.route("/<int:thread_id>/close", methods=["POST"])
@allow("caisse")
def close(thread):
    """Close the exchange, with a last word if the agent wishes."""
    return _act(
        thread,
        lambda form, held: threads.close(
            _user(), thread, form.body.data, _files(), form.confirm_health.data, kept=held
        ),
        success="L'échange est clos.",
    )


@bp.route("/attachments/<int:thread_attachment_id>")
@allow("caisse", "gestionnaire", "technicien")
def download(thread_attachment):
    """Download a document of an exchange the user may read; never shown inline."""
    path = attachments.path_of(thread_attachment)
    if not path.exists():
        abort(404)
    thread = thread_attachment.thread
    audit.record_read(
        "attachment_downloaded",
        _user(),
        partner=thread.partner_id,
        caisse=thread.caisse_id,
        detail=f"échange {thread.reference}, pièce {thread_attachment.id}",
    )
    return send_file(
        path,
        mimetype=thread_attachment.content_type,
        as_attachment=True,
        download_name=thread_attachment.filename,
        max_age=0,
    )


# What other pages show of the exchanges (the homes, a structure's page for its caisse).


@bp.app_template_global()
def unread_threads():
    """How many exchanges the user may read have news from the other side."""
    return threads.unread_count(_user())


@bp.app_template_global()
def exchanges_with(partner):
    """The latest exchanges of the caisse with a structure, and how many there are."""
    rows, total, _, _ = threads.exchange_page(_user(), 1, HOME_LIST, partner=partner.id)
    return rows, total


@bp.app_template_global()
def may_write_to(partner):
    return threads.writable_partners(_user()).where(Partner.id == partner.id).exists()
