"""The audit trail, as a partner's gestionnaires and its caisses may read it (§4.1, §5): an
investigation tool with its filters and a CSV of a filtered view (issue 14.4)."""

import re

from flask import Blueprint, current_app, flash, make_response, redirect, request, url_for
from flask_login import current_user

from .. import audit, journal
from ..access import allow
from ..audit import ACTIONS
from ..forms import EmptyForm, JournalFilterForm, options
from ..models import AuditEvent, Convention
from ..text import fold
from ..web import csv_download, render

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50


def _position(name):
    """(at, id) of the event named by the address's `avant` or `apres`, if any."""
    value = request.args.get(name, "")
    if not re.fullmatch(r"[0-9]{1,18}", value):
        return None
    event = AuditEvent.select(AuditEvent.at, AuditEvent.id).where(AuditEvent.id == int(value))
    event = event.first()
    return (event.at, event.id) if event else None


def _filter_form():
    """The journal's filters as the address gives them, checked: (form, JournalFilters)."""
    form = JournalFilterForm(request.args)
    labels = sorted(ACTIONS.items(), key=lambda item: fold(item[1]))
    form.action.choices = options([("", "Toutes")] + labels)
    form.validate()
    filters = journal.filters_from(form, current_user)
    return form, filters


@bp.route("/")
@allow("gestionnaire", "caisse")
def index():
    """Who did what, on whom, when and from where; newest first, a page at a time by
    position (`avant` / `apres` an event), so that no page counts or skips the trail.
    Filtered by account, action, request and period; the access traces hidden unless asked,
    a run of one account's traces shown as one line (issue 14.4)."""
    form, filters = _filter_form()
    events, newer, older = journal.page(
        current_user, filters, before=_position("avant"), after=_position("apres")
    )
    args = {
        k: v for k, v in request.args.items() if k not in ("avant", "apres") and v and k in form
    }
    response = make_response(
        render(
            "audit/index.html",
            block="journal",
            form=form,
            rows=journal.grouped(events),
            reads=filters.reads,
            newer=newer,
            older=older,
            args=args,
            retention_days=current_app.config["EP_JOURNAL_RETENTION_DAYS"],
        )
    )
    if request.htmx:
        response.headers["HX-Push-Url"] = url_for("audit.index", **args)
    return response


@bp.route("/export.csv")
@allow("gestionnaire", "caisse")
def export():
    """The events of the filtered view as CSV (UTF-8 with BOM, `;`), for the DPO or an
    inquiry; the export itself is traced (a copy leaves)."""
    user = current_user._get_current_object()
    form, filters = _filter_form()
    audit.record_read(
        "journal_exported",
        user,
        partner=user.partner_id,
        detail=journal.described(filters, form),
    )

    header = [
        "date",
        "auteur",
        "action",
        "compte",
        "identifiant",
        "partenaire",
        "detail",
        "adresse",
    ]
    return csv_download("journal.csv", header, lambda: journal.export_rows(user, filters))


def scoped_notices(user):
    """E-mails about the caisse's partners (conventions in force) or to its own agents."""
    from ..models import Notice

    partners = Convention.select(Convention.partner).where(
        (Convention.caisse == user.caisse_id) & Convention.in_force()
    )
    return Notice.select().where(Notice.partner.in_(partners) | (Notice.caisse == user.caisse_id))


@bp.route("/courriels")
@allow("caisse")
def notices():
    """E-mails waiting to leave or given up: who was to be told, what, how many tries."""
    from ..models import Notice

    waiting = list(
        scoped_notices(current_user)
        .where(Notice.status.in_(("pending", "failed")))
        .order_by(Notice.created_at.desc())
        .limit(500)
    )
    return render("audit/notices.html", notices=waiting, form=EmptyForm())


@bp.route("/courriels/<int:notice_id>/retry", methods=["POST"])
@allow("caisse")
def retry(notice):
    """Try a waiting or failed e-mail again now."""
    from .. import notices as outbox

    outbox.retry(notice)
    flash("Le courriel sera renvoyé dans quelques instants.", "success")
    return redirect(url_for("audit.notices"), 303)
