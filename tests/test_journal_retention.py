"""Issue 14.4: the journal keeps its access traces (reads, exports) EP_JOURNAL_RETENTION_DAYS
(365), then the nightly rules delete them through the one path the append-only triggers let
through, and say so in the journal. Every other UPDATE or DELETE of the trail is refused, on
both engines."""

from datetime import date, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from ep import db, housekeeping
from ep.models import READ_ACTIONS, AuditEvent, Caisse, JournalPurgePermit, Partner

from .conftest import account, sqlite_only
from .test_retention import run

TODAY = date.today()
LONG_AGO = datetime.combine(TODAY, datetime.min.time()) - timedelta(days=400)
RECENTLY = datetime.combine(TODAY, datetime.min.time()) - timedelta(days=300)


def trace(action, at, ip="10.0.0.1", caisse="CPAM de Démo", partner="CCAS de Démo"):
    return AuditEvent.create(
        at=at,
        action=action,
        actor=account("caisse.demo" if caisse else "gestionnaire.demo"),
        caisse=Caisse.get(Caisse.name == caisse) if caisse else None,
        partner=Partner.get(Partner.name == partner) if partner else None,
        detail="demande 000001" if action in ("demande_viewed", "attachment_downloaded") else "",
        ip=ip,
    )


def refused(query):
    with pytest.raises(peewee.DatabaseError, match="append-only"):
        with db.database.atomic():
            query.execute()


def test_an_ordinary_update_or_delete_of_the_trail_is_refused_even_an_old_read(app):
    old_read = trace("demande_viewed", LONG_AGO)
    login = trace("login", LONG_AGO)
    for event in (old_read, login):
        refused(AuditEvent.update(detail="effacé").where(AuditEvent.id == event.id))
        refused(AuditEvent.delete().where(AuditEvent.id == event.id))
    refused(AuditEvent.delete())
    assert AuditEvent.select().where(AuditEvent.id.in_([old_read.id, login.id])).count() == 2


def test_the_purge_permit_lets_through_only_access_traces_older_than_it_says(app):
    old_read = trace("demande_viewed", LONG_AGO)
    old_login = trace("login", LONG_AGO)
    recent_read = trace("attachment_downloaded", RECENTLY)
    up_to = LONG_AGO + timedelta(days=1)

    def with_permit(query):
        with db.database.atomic():  # a refusal rolls the permit back with the rest
            JournalPurgePermit.create(up_to=up_to)
            query.execute()
            JournalPurgePermit.delete().execute()

    for query in (
        AuditEvent.delete().where(AuditEvent.id == old_login.id),  # not a trace
        AuditEvent.delete().where(AuditEvent.id == recent_read.id),  # too recent
        AuditEvent.update(detail="x").where(AuditEvent.id == old_read.id),  # never an UPDATE
        AuditEvent.delete(),  # all of it fails with the first line refused
    ):
        with pytest.raises(peewee.DatabaseError, match="append-only"):
            with_permit(query)
    assert AuditEvent.get_by_id(old_read.id).detail == "demande 000001"
    with_permit(AuditEvent.delete().where(AuditEvent.id == old_read.id))
    assert not AuditEvent.select().where(AuditEvent.id == old_read.id).exists()
    assert JournalPurgePermit.select().count() == 0


def test_the_nightly_rules_purge_old_access_traces_and_say_so(app, client, login_as):
    old = [trace(action, LONG_AGO) for action in READ_ACTIONS]
    old_export = trace("users_exported", LONG_AGO, caisse=None)  # a gestionnaire's export
    recent = [trace(action, RECENTLY) for action in READ_ACTIONS]
    others = [trace("login", LONG_AGO), trace("demande_submitted", LONG_AGO)]
    with app.app_context():
        counts = housekeeping.run(TODAY)
    assert counts["failed"] == [] and counts["journal_purged"] == len(old) + 1
    left = {e.id for e in AuditEvent.select(AuditEvent.id)}
    assert not left & {e.id for e in [*old, old_export]}
    assert {e.id for e in recent + others} <= left
    assert JournalPurgePermit.select().count() == 0
    day = (TODAY - timedelta(days=365)).strftime("%d/%m/%Y")
    said = {
        (e.caisse_id, e.partner_id): e.detail
        for e in AuditEvent.select().where(AuditEvent.action == "journal_purged")
    }
    cpam = Caisse.get(Caisse.name == "CPAM de Démo").id
    ccas = Partner.get(Partner.name == "CCAS de Démo").id
    assert said == {
        (cpam, None): f"5 traces de consultation antérieures au {day} effacées "
        "(conservation : 365 jours)",
        (None, ccas): f"1 trace de consultation antérieure au {day} effacée "
        "(conservation : 365 jours)",
    }
    login_as("caisse.demo")
    page = client.get("/audit/").get_data(as_text=True)
    assert "Traces de consultation anciennes effacées" in page and said[(cpam, None)] in page
    with app.app_context():
        assert housekeeping.run(TODAY)["journal_purged"] == 0  # the next night


def test_the_journal_retention_is_a_setting_and_0_keeps_every_trace(app):
    old = trace("demande_viewed", LONG_AGO)
    run(app, TODAY, EP_JOURNAL_RETENTION_DAYS=0)
    assert AuditEvent.select().where(AuditEvent.id == old.id).exists()
    trace("demande_viewed", RECENTLY)
    run(app, TODAY, EP_JOURNAL_RETENTION_DAYS=200)
    assert not AuditEvent.select().where(AuditEvent.action == "demande_viewed").exists()


@sqlite_only
def test_a_purged_trace_leaves_the_database_file_and_its_wal(app):
    trace("demande_viewed", LONG_AGO, ip="10.99.88.77")
    trace("login", LONG_AGO, ip="10.66.55.44")

    def raw():
        db.database.close()
        files = [p for p in Path(app.instance_path).glob("ep.sqlite3*") if p.is_file()]
        return b"".join(p.read_bytes() for p in files)

    assert b"10.99.88.77" in raw()
    run(app, TODAY)
    left = raw()
    assert b"10.99.88.77" not in left and b"10.66.55.44" in left


def test_a_backlog_of_traces_goes_in_short_transactions(app):
    cpam = Caisse.get(Caisse.name == "CPAM de Démo")
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    agent = account("caisse.demo")
    AuditEvent.insert_many(
        [
            {
                "at": LONG_AGO + timedelta(seconds=i),
                "action": "demande_viewed",
                "actor": agent.id,
                "caisse": cpam.id,
                "partner": ccas.id,
                "detail": f"demande {i:06d}",
                "demande_id": i,
            }
            for i in range(3000)
        ]
    ).execute()
    with app.app_context():
        counts = housekeeping.run(TODAY)
    assert counts["journal_purged"] == 3000
    assert counts["transactions"] >= 10 and counts["longest_hold"] < 0.5, counts
