"""The audit trail, as a partner's gestionnaires and its caisses may read it (§4.1, §5)."""

import re

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from ..access import allow
from ..audit import ACTIONS
from ..forms import EmptyForm
from ..models import AuditEvent, Convention
from ..web import csv_download, render

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50


def scoped_events(user, batch=1000):
    """Every event `user` may read, newest first, read a batch at a time (the CSV export)."""
    before = None
    while True:
        ids = [row.id for row in AuditEvent.page_ids(user, before=before, size=batch)]
        if not ids:
            return
        events = list(AuditEvent.with_names(ids))
        yield from events
        before = (events[-1].at, events[-1].id)


def _position(name):
    """(at, id) of the event named by the address's `avant` or `apres`, if any."""
    value = request.args.get(name, "")
    if not re.fullmatch(r"[0-9]{1,18}", value):
        return None
    event = AuditEvent.select(AuditEvent.at, AuditEvent.id).where(AuditEvent.id == int(value))
    event = event.first()
    return (event.at, event.id) if event else None


@bp.route("/")
@allow("gestionnaire", "caisse")
def index():
    """Who did what, on whom, when and from where; newest first, a page at a time by
    position (`avant` / `apres` an event), so that no page counts or skips the trail."""
    user, size = current_user, AuditEvent.PER_PAGE
    before, after = _position("avant"), _position("apres")
    if after is not None:
        rows = list(AuditEvent.page_ids(user, after=after, size=size + 1))
        if len(rows) > size:
            rows = rows[:size]
        else:  # the newest page: shown from the newest, whatever the position said
            after, rows = None, None
    if after is None:
        rows = list(AuditEvent.page_ids(user, before=before, size=size + 1))
    ids = [row.id for row in rows[:size]]
    events = list(AuditEvent.with_names(ids)) if ids else []
    newer = older = None
    if events:
        first, last = events[0], events[-1]
        if AuditEvent.page_ids(user, after=(first.at, first.id), size=1).exists():
            newer = first.id
        if AuditEvent.page_ids(user, before=(last.at, last.id), size=1).exists():
            older = last.id
    return render("audit/index.html", events=events, newer=newer, older=older)


@bp.route("/export.csv")
@allow("gestionnaire", "caisse")
def export():
    """The same events as CSV (UTF-8 with BOM, `;`), for the DPO or an inquiry."""
    user = current_user._get_current_object()

    def rows():
        for e in scoped_events(user):
            yield (
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor.display_name if e.actor else "Système",
                ACTIONS.get(e.action, e.action),
                e.account.display_name if e.account else "",
                e.account.username if e.account else "",
                e.partner.name if e.partner else "",
                e.detail,
                e.ip,
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
    return csv_download("journal.csv", header, rows)


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
