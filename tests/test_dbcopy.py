"""`ep migrate-to URL` (CONTRACT.md): a SQLite deployment copied into another database without
losing a row, run as an operator would (the console script), then served from the copy."""

import io
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import peewee
import pytest
from peewee import fn
from werkzeug.datastructures import FileStorage, MultiDict

from ep import (
    accounts,
    attachments,
    create_app,
    db,
    demo,
    drafts,
    housekeeping,
    login,
    models,
    reviews,
)
from ep.models import Account, Announcement, Attachment, AuditEvent, Message, Partner

from .conftest import PASSWORD, TEST_DATABASE_URL, _empty_postgresql, make_app
from .test_demandes import PNG

EP = str(Path(sys.executable).with_name("ep"))
TABLES = [m._meta.table_name for m in models.ALL_MODELS] + ["schema_version"]


def ep(env, *args):
    return subprocess.run(
        [EP, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def every_table_filled(tmp_path):
    """A SQLite deployment with rows in every table: the demo, then what the demo leaves
    empty, made by the rules themselves."""
    app = make_app(tmp_path, EP_DATABASE_URL=f"sqlite:///{tmp_path / 'instance' / 'ep.sqlite3'}")
    with app.test_request_context(base_url="http://ep.test"):
        demo.load(PASSWORD)
        for user in Account.select():
            accounts.accept_cgu(user, app.config["EP_CGU_VERSION"])
        agent = Account.get(Account.username == "caisse.demo")
        gestionnaire = Account.get(Account.username == "gestionnaire.demo")
        technicien = Account.get(Account.username == "technicien.demo")
        ccas = Partner.get(Partner.name == "CCAS de Démo")
        accounts.record_habilitation_request(agent, ccas, "Nouvelle Gestionnaire", date.today())
        review = reviews.request_review(agent, ccas, date.today() + timedelta(days=30))
        reviews.decide(gestionnaire, review, technicien, "keep", attestations=True)
        drafts.save(technicien.id, "/demandes/new", MultiDict({"commentaire": "brouillon"}))
        from ep import publications  # issue 12.1: the demo's item, opened

        publications.mark_read(technicien, models.Publication.select().first())
        upload = FileStorage(io.BytesIO(PNG), filename="gardé.png", content_type="image/png")
        assert attachments.keep(technicien, attachments.form_token(), [upload]) == []
        with pytest.raises(Exception, match="incorrect"):
            login.authenticate("technicien.demo", "pas le bon mot de passe", "192.0.2.1")
        housekeeping.nightly("serveur:1")
        _catalogue_changes(agent, ccas)
        with db.write():
            Announcement.create(
                message="Maintenance « test »\tavec tabulation\net retour à la ligne \\ fin",
                starts_at=models.now() + timedelta(days=1),
                ends_at=models.now() + timedelta(days=1, hours=2),
            )
    db.database.close()
    path = tmp_path / "instance" / "ep.sqlite3"
    with sqlite3.connect(path) as conn:
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}
        listed = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
    assert listed == set(TABLES), "a table the models do not list"
    # A purge permit never outlives its transaction (issue 14.4): that table stays empty.
    empty = [t for t, n in counts.items() if not n and t != "journal_purge_permit"]
    assert empty == [], empty
    return app, counts


def _catalogue_changes(agent, partner):
    """A motif closed on a convention, a motif renamed (issue 12.3)."""
    from ep import catalogue, partners
    from ep.models import Convention, Motif

    convention = Convention.get(
        (Convention.partner == partner) & (Convention.caisse == agent.caisse_id)
    )
    keys = [k for k in partners.motif_keys_on(convention) if k != "document:ceam"]
    fields = {"signed_on": convention.signed_on, "starts_on": convention.starts_on}
    partners.update_convention(agent, convention, fields, convention.offer_codes(), motif_keys=keys)
    motif = Motif.of(agent.caisse_id, "document", "prevention")
    catalogue.update_motif(agent, motif, "Offre de prévention (bilan)", True, True)


def target_counts(url):
    """Every table of the target and its rows, listed from the target's own catalogue."""
    from ep import dbcopy

    target = db.make_database(url)
    with target.connection_context():
        return {t: dbcopy.count(target, t) for t in dbcopy.tables(target)}


def rows_through_the_models(url):
    """Every row of every table as the app reads it (typed: booleans, dates, datetimes)."""
    previous = db.database.obj
    db.database.initialize(db.make_database(url))
    try:
        with db.database.connection_context():
            return {
                model._meta.table_name: list(
                    model.select().order_by(model._meta.primary_key).tuples()
                )
                for model in [*models.ALL_MODELS, db.SchemaVersion]
            }
    finally:
        db.database.close()
        db.database.initialize(previous)


TARGETS = [
    pytest.param("sqlite", id="to-sqlite"),
    pytest.param(
        "postgresql",
        id="to-postgresql",
        marks=pytest.mark.skipif(
            not TEST_DATABASE_URL, reason="no PostgreSQL configured (EP_TEST_DATABASE_URL)"
        ),
    ),
]


@pytest.fixture
def env(tmp_path):
    environ = {k: v for k, v in os.environ.items() if k != "EP_DATABASE_URL"}
    return {**environ, "EP_INSTANCE_PATH": str(tmp_path / "instance")}


@pytest.mark.parametrize("engine", TARGETS)
def test_migrate_to_copies_every_row_and_the_app_serves_the_copy(tmp_path, env, engine):
    app, before = every_table_filled(tmp_path)
    source_url = app.config["EP_DATABASE_URL"]
    if engine == "postgresql":
        _empty_postgresql(TEST_DATABASE_URL)  # no table at all
        url = TEST_DATABASE_URL
    else:  # a database `ep init` made (schema and catalogue only) counts as empty
        url = f"sqlite:///{tmp_path / 'copie.sqlite3'}"
        init = ep({**env, "EP_DATABASE_URL": url}, "init")
        assert init.returncode == 0, init.stderr
    result = ep(env, "migrate-to", url)
    assert result.returncode == 0, result.stderr
    assert target_counts(url) == before  # the same tables, listed on each side, same rows
    for table, n in before.items():
        assert f"  {table:<22} {n:>10} → {n:<10}" in result.stdout
    assert rows_through_the_models(url) == rows_through_the_models(source_url)

    copy = create_app(
        {
            "EP_INSTANCE_PATH": env["EP_INSTANCE_PATH"],  # the same attachments folder
            "EP_DATABASE_URL": url,
            "EP_BASE_URL": "http://ep.test",
            "WTF_CSRF_ENABLED": False,
        }
    )
    client = copy.test_client()
    page = client.post(
        "/login",
        data={"username": "technicien.demo", "password": PASSWORD},
        follow_redirects=True,
    )
    assert page.status_code == 200 and page.request.path != "/login"
    with copy.app_context(), db.database.connection_context():
        attachment = Attachment.select().first()
        demande = attachment.demande
        last_message = Message.select(fn.MAX(Message.id)).scalar()
    listing = client.get("/demandes/").get_data(as_text=True)
    assert demande.reference in listing
    shown = client.get(f"/demandes/{demande.id}")
    assert shown.status_code == 200 and attachment.filename in shown.get_data(as_text=True)
    download = client.get(f"/demandes/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data[:4] in (b"%PDF", b"\x89PNG")
    download.close()
    # New rows take ids after the copied ones (the sequences went on), and the journal is
    # still append-only on the copy.
    reply = client.post(f"/demandes/{demande.id}/reply", data={"body": "Suite après copie."})
    assert reply.status_code == 303
    with copy.app_context(), db.database.connection_context():
        assert AuditEvent.select().count() > before["audit_event"]
        mine = Message.get(Message.body == "Suite après copie.")
        assert mine.id > last_message and mine.demande_id == demande.id
        with pytest.raises(peewee.DatabaseError, match="append-only"):
            with db.database.atomic():
                AuditEvent.update(detail="effacé").execute()
    db.database.close()


def test_migrate_to_refuses_a_target_that_holds_data(tmp_path, env):
    every_table_filled(tmp_path)
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'copie.sqlite3'}"
    if TEST_DATABASE_URL:
        _empty_postgresql(TEST_DATABASE_URL)
    assert ep(env, "migrate-to", url).returncode == 0
    filled = target_counts(url)
    again = ep(env, "migrate-to", url)
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0, again.stderr
    assert "n'est pas vide" in again.stderr and "Traceback" not in again.stderr
    assert target_counts(url) == filled


@pytest.mark.parametrize(
    "url, said",
    [
        ("mysql://root@127.0.0.1/ep", "non reconnue"),
        ("pas une adresse", "non reconnue"),
        ("postgresql://postgres:secret@127.0.0.1:1/ep", "copie impossible"),
        ("sqlite:////dossier/inexistant/ep.sqlite3", "copie impossible"),
    ],
)
def test_migrate_to_a_bad_url_says_so_in_one_line(tmp_path, env, url, said):
    assert ep(env, "init").returncode == 0
    result = ep(env, "migrate-to", url)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert said in result.stderr and "secret" not in result.stderr


def test_migrate_to_refuses_a_database_never_initialised(tmp_path, env):
    result = ep(env, "migrate-to", f"sqlite:///{tmp_path / 'copie.sqlite3'}")
    assert result.returncode != 0 and "ep init" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
