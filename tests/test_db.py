import peewee
import pytest

from ep import db
from ep.models import Account, AuditEvent

from .conftest import on_postgresql, sqlite_only


@sqlite_only
def test_sqlite_pragmas(app):
    pragma = db.database.execute_sql
    assert pragma("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert pragma("PRAGMA foreign_keys").fetchone()[0] == 1
    assert pragma("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert pragma("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert pragma("PRAGMA cache_size").fetchone()[0] <= -16000  # 16 MB, kept per thread


def test_audit_trail_is_append_only(app):
    event = AuditEvent.select().first()
    for query in (
        AuditEvent.update(detail="effacé").where(AuditEvent.id == event.id),
        AuditEvent.delete().where(AuditEvent.id == event.id),
    ):
        with pytest.raises(peewee.DatabaseError, match="append-only"):
            with db.database.atomic():
                query.execute()
    assert AuditEvent.get_by_id(event.id).detail == event.detail


def test_upgrade_is_idempotent_and_keeps_rows(app):
    before = Account.select().count()
    assert db.upgrade() == (db.current_version(), db.current_version())
    assert Account.select().count() == before


def test_upgrade_runs_pending_migrations_in_order(app, monkeypatch):
    """A database one version behind is brought forward by its migration step."""
    from ep import models

    calls = []
    monkeypatch.setattr(models, "SCHEMA_VERSION", models.SCHEMA_VERSION + 1)
    monkeypatch.setitem(
        db.MIGRATIONS,
        models.SCHEMA_VERSION,
        lambda migrator, migrate: calls.append(migrator.__class__.__name__),
    )
    assert db.upgrade() == (models.SCHEMA_VERSION - 1, models.SCHEMA_VERSION)
    assert calls == ["PostgresqlMigrator" if on_postgresql() else "SqliteMigrator"]
    assert db.SchemaVersion.get().version == models.SCHEMA_VERSION


def test_newer_database_is_refused(app):
    db.SchemaVersion.update(version=999).execute()
    with pytest.raises(RuntimeError, match="plus récent"):
        db.upgrade()


def columns(path):
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        conn.close()


def indexes(path):
    """Each index of the file by name: its table, its columns and whether it is unique (the
    lists' speed rests on them: issue 11)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        found = {}
        for name, table in conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
            "AND name NOT LIKE 'sqlite_%'"
        ):
            unique = [r[2] for r in conn.execute(f"PRAGMA index_list({table})") if r[1] == name]
            cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
            found[name] = (table, cols, unique[0])
        return found
    finally:
        conn.close()


@sqlite_only
def test_a_version_1_database_upgrades_to_the_current_schema(tmp_path):
    """Guards the migrations: a model changed without a migration step fails here."""
    import sqlite3
    from pathlib import Path

    from .conftest import make_app

    old = tmp_path / "old" / "instance"
    old.mkdir(parents=True)
    script = (Path(__file__).parent / "schema" / "v1.sql").read_text()
    conn = sqlite3.connect(old / "ep.sqlite3")
    conn.executescript(script)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.commit()
    conn.close()
    make_app(tmp_path / "old")  # runs db.upgrade() on the version-1 file
    db.database.close()
    make_app(tmp_path / "new")
    db.database.close()
    assert columns(old / "ep.sqlite3") == columns(tmp_path / "new" / "instance" / "ep.sqlite3")
    assert indexes(old / "ep.sqlite3") == indexes(tmp_path / "new" / "instance" / "ep.sqlite3")


@sqlite_only
def test_schema_2_keeps_every_row_and_moves_a_cut_off_to_the_cutting_caisse(tmp_path):
    """The partner table is rebuilt (a foreign-key column goes): no cascade may fire, and a
    structure-wide cut-off becomes the cutting caisse's."""
    import sqlite3
    from pathlib import Path

    from ep.models import Convention, Demande, Partner

    from .conftest import make_app

    old = tmp_path / "instance"
    old.mkdir(parents=True)
    conn = sqlite3.connect(old / "ep.sqlite3")
    conn.executescript((Path(__file__).parent / "schema" / "v1.sql").read_text())
    conn.executescript(
        """
        INSERT INTO schema_version (version) VALUES (1);
        INSERT INTO caisse VALUES (1, 'CPAM', '2026-01-01'), (2, 'CARSAT', '2026-01-01');
        INSERT INTO partner VALUES (1, 'CCAS A', 10, '2026-11-20 10:00:00', 2, '2026-01-01');
        INSERT INTO convention VALUES
          (1, 1, 1, '2026-01-01', '2026-01-01', NULL, 0, 5, NULL, '2026-01-01'),
          (2, 1, 2, '2026-01-01', '2026-01-01', NULL, 0, 5, NULL, '2026-01-01');
        INSERT INTO offer VALUES (1, 'contact', 'Contacter', 1, 0);
        INSERT INTO motif VALUES (1, 1, 'autre', 'Autre', 1);
        INSERT INTO account (id, username, profile, partner_id, civilite, nom, prenom, fonction,
          telephone, email, state, created_at, inactivation_reason, notify_by_email, search_key,
          cgu_version, session_token)
          VALUES (1, 'tech', 'technicien', 1, '', '', '', '', '', '', 'active', '2026-01-01',
          '', 1, '', '', 'x');
        INSERT INTO demande (id, partner_id, caisse_id, author_id, offer_id, motif_id, status,
          urgent, assure_civilite, assure_nom, assure_prenom, assure_departement,
          assure_informed, assure_search, commentaire, target_hours, created_at, updated_at)
          VALUES (1, 1, 1, 1, 1, 1, 'submitted', 0, '', '', '', '', 0, '', '', 120,
          '2026-01-01', '2026-01-01');
        """
    )
    conn.commit()
    conn.close()
    make_app(tmp_path)
    with db.database.connection_context():
        assert Partner.select().count() == 1 and Demande.select().count() == 1
        assert Account.select().count() == 1 and Convention.select().count() == 2
        cut = {c.caisse_id: c.cut_off_at for c in Convention.select()}
        assert cut[1] is None and cut[2] is not None
        assert {c.state for c in Convention.select()} == {"accepted"}
        assert db.database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    db.database.close()


@sqlite_only
def test_schema_2_stores_every_phone_number_in_one_form(tmp_path):
    """Issue 10.7: numbers typed before schema 2 are normalised (E.164); what cannot be read
    as a number is kept as it was typed."""
    import sqlite3
    from pathlib import Path

    from ep.models import Contact

    from .conftest import make_app

    old = tmp_path / "instance"
    old.mkdir(parents=True)
    conn = sqlite3.connect(old / "ep.sqlite3")
    conn.executescript((Path(__file__).parent / "schema" / "v1.sql").read_text())
    conn.executescript(
        """
        INSERT INTO schema_version (version) VALUES (1);
        INSERT INTO caisse VALUES (1, 'CPAM', '2026-01-01');
        INSERT INTO partner VALUES (1, 'CCAS A', 10, NULL, NULL, '2026-01-01');
        INSERT INTO convention VALUES
          (1, 1, 1, '2026-01-01', '2026-01-01', NULL, 0, 5, NULL, '2026-01-01');
        INSERT INTO referent VALUES (1, 1, 'caisse', 'Service', '', '0041 22 345 67 89', ''),
          (2, 1, 'dpo', 'DPO', '', '', '');
        INSERT INTO account (id, username, profile, partner_id, civilite, nom, prenom, fonction,
          telephone, email, state, created_at, inactivation_reason, notify_by_email, search_key,
          cgu_version, session_token)
          VALUES (1, 'a', 'technicien', 1, '', '', '', '', '03.89.00.00.00', '', 'active',
          '2026-01-01', '', 1, '', '', 'x'),
          (2, 'b', 'technicien', 1, '', '', '', '', 'poste 12', '', 'active',
          '2026-01-01', '', 1, '', '', 'y');
        """
    )
    conn.commit()
    conn.close()
    make_app(tmp_path)
    with db.database.connection_context():
        assert {a.username: a.telephone for a in Account.select()} == {
            "a": "+33389000000",
            "b": "poste 12",
        }
        # the référents are the caisse's contacts since schema 4
        assert [c.phone for c in Contact.select().order_by(Contact.id)] == ["+41223456789", ""]
    db.database.close()


@pytest.mark.skipif(not on_postgresql(), reason="the PostgreSQL path of the migrations")
def test_schema_2_to_4_migrations_on_postgresql(app):
    """The current schema taken back to version 1 by hand, then upgraded: same columns, and
    the structure-wide cut-off lands on the cutting caisse's convention."""
    from ep.models import Caisse, Convention, Demande, Offer, Partner

    def pg_columns():
        rows = db.database.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        return sorted(rows)

    def pg_indexes():
        return sorted(
            db.database.execute_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        )

    current, current_indexes = pg_columns(), pg_indexes()
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    carsat = Caisse.get(Caisse.name == "CARSAT de Démo")
    # Read through the models, with every column of schema 4: before the steps below.
    shown = _catalogue_back_to_one()  # schema 4's catalogue per caisse (issue 12.3)
    _undo_v4_rgpd()  # schema 4's step of issue 14.2 (référents RGPD, limitation)
    _undo_v4_retention()  # schema 4's step of issue 14 (retention, the journal)
    sql = db.database.execute_sql
    for table, column in [
        ("partner", "siret"),
        ("convention", "state"),
        ("convention", "proposed_by_id"),
        ("convention", "decided_at"),
        ("convention", "decided_by_id"),
        ("convention", "cut_off_at"),
        ("convention", "cut_off_reason"),
        ("account", "fraud_locked_at"),
        ("account", "idle_warned_at"),
    ]:
        sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    for table, column in [
        ("demande", "last_partner_event"),
        ("demande", "last_caisse_event"),
        ("demande", "partner_reply_pending"),
    ]:  # issue 10.5
        sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    for index in (  # schema 2's (issue 11) and 3's; some went with the columns of 10.5
        "demande_partner_id_created_at_id",
        "demande_partner_id_motif_id_assure_search_assure_date_naissance",
        "audit_event_caisse_id_at_id",
        "audit_event_partner_id_at_id",
        "demande_open_queue",
        "account_partner_id_profile_state",
        "demande_partner_id_last_caisse_event",
        "demande_waiting_partner",
        "demande_caisse_order",
        "demande_caisse_status_order",
        "demande_caisse_id_created_at",  # schema 4's (issue 13)
    ):
        sql(f'DROP INDEX IF EXISTS "{index}"')
    for table, column in (  # version 1's indexes of one column, which schema 3 dropped
        ("account", "partner_id"),
        ("account", "state"),
        ("account", "profile"),
        ("audit_event", "caisse_id"),
        ("audit_event", "partner_id"),
        ("demande", "partner_id"),
        ("demande", "caisse_id"),
        ("demande", "status"),
        ("demande", "urgent"),
        ("demande", "assure_search"),
        ("demande", "created_at"),
    ):
        sql(f'CREATE INDEX "{table}_{column}" ON "{table}" ("{column}")')
    for table in ("pending_attachment", "demande_read", "draft", "notice"):  # schema 2's
        sql(f'DROP TABLE "{table}"')
    sql('DROP TABLE "nightly_run"')  # schema 3's (issue 11.6)
    for table in (  # schema 4's (issue 12.1)
        "publication_opening",
        "publication_read",
        "publication_target",
        "publication",
    ):
        sql(f'DROP TABLE "{table}"')
    # schema 4's contacts (issue 12.4-12.6): the référents per convention come back
    sql('DROP TABLE "training"')
    sql('DROP TABLE "contact"')
    sql('ALTER TABLE "caisse" DROP COLUMN "departement"')
    sql(
        'CREATE TABLE "referent" ("id" SERIAL NOT NULL PRIMARY KEY, "convention_id" INTEGER '
        'NOT NULL, "role" VARCHAR(20) NOT NULL, "name" VARCHAR(120) NOT NULL, "function" '
        'VARCHAR(120) NOT NULL, "phone" VARCHAR(30) NOT NULL, "email" VARCHAR(254) NOT NULL, '
        'FOREIGN KEY ("convention_id") REFERENCES "convention" ("id") ON DELETE CASCADE)'
    )
    sql('CREATE INDEX "referent_convention_id" ON "referent" ("convention_id")')
    sql(
        "INSERT INTO referent (convention_id, role, name, function, phone, email) "
        "SELECT id, 'partenaire', 'Jeanne Exemple', '', '01 99 00 00 51', '' FROM convention "
        "WHERE partner_id = %s",
        (ccas.id,),
    )
    for table in ("thread_read", "thread_attachment", "thread_message", "thread"):  # 4's
        sql(f'DROP TABLE "{table}"')
    sql('DROP INDEX "demande_offer_id_partner_id_updated_at_id"')  # schema 4's (issue 12.2)
    for table in ("evaluation_item", "evaluation", "evaluation_question"):  # 4's (issue 13.4)
        sql(f'DROP TABLE "{table}"')
    for table in ("breach_caisse", "breach_account", "breach"):  # 4's (issue 14.3)
        sql(f'DROP TABLE "{table}"')
    sql('DROP INDEX IF EXISTS "partner_name"')
    sql('CREATE UNIQUE INDEX "partner_name" ON "partner" ("name")')
    sql('ALTER TABLE "partner" ADD COLUMN "cut_off_at" TIMESTAMP')
    sql('ALTER TABLE "partner" ADD COLUMN "cut_off_by_id" INTEGER REFERENCES "caisse" ("id")')
    sql('CREATE INDEX "partner_cut_off_by_id" ON "partner" ("cut_off_by_id")')
    sql(
        "UPDATE partner SET cut_off_at = now(), cut_off_by_id = %s WHERE id = %s",
        (carsat.id, ccas.id),
    )
    sql(  # a reply of the partner the caisse has not answered yet
        "INSERT INTO demande_event (demande_id, at, actor_id, action, status) "
        "SELECT id, now(), author_id, 'partner_replied', status FROM demande "
        "WHERE assure_nom = 'Fictive'"
    )
    db.SchemaVersion.update(version=1).execute()
    Account.update(telephone="03.89.00.00.00").where(
        Account.username == "technicien.demo"
    ).execute()
    # Schema 4 (issue 15.4): a key folded the old way is folded again, the others are left.
    sql(
        "UPDATE account SET prenom = 'Ærwan', search_key = %s WHERE username = %s",
        (_v3_fold("Ærwan Voisin-Exemple technicien.voisin"), "technicien.voisin"),
    )
    sql("UPDATE account SET search_key = 'left alone' WHERE username = 'gestionnaire.voisin'")
    before = Account.select().count()
    db.upgrade()
    assert pg_columns() == current
    assert pg_indexes() == current_indexes
    assert Account.get(Account.username == "technicien.demo").telephone == "+33389000000"
    assert Account.select().count() == before
    cut = {
        c.caisse.name: c.cut_off_at for c in Convention.select().where(Convention.partner == ccas)
    }
    assert cut["CARSAT de Démo"] is not None and cut["CPAM de Démo"] is None
    flagged = Demande.select().where(Demande.partner_reply_pending == True)  # noqa: E712
    assert [d.assure_nom for d in flagged] == ["Fictive"]
    keys = {a.username: a.search_key for a in Account.select()}
    assert keys["technicien.voisin"].startswith("aerwan voisin-exemple technicien.voisin")
    assert keys["gestionnaire.voisin"] == "left alone"
    requests = Demande.with_labels(Demande.select().order_by(Demande.id))
    assert {d.id: (d.offer_label, d.motif_label) for d in requests} == shown
    assert all(d.offer.caisse_id == d.caisse_id for d in requests)
    assert {o.caisse.name for o in Offer.select().where(Offer.code == "document")} == {
        "CPAM de Démo",
        "CARSAT de Démo",
    }
    from ep.models import Contact

    # one référent on each of the structure's two conventions: one contact of the structure
    # (its phone typed before schema 2: stored in one form)
    assert [(c.role, c.phone) for c in Contact.select().where(Contact.partner == ccas)] == [
        ("referent", "+33199000051")
    ]


def _catalogue_back_to_one():
    """Schema 4 taken back by hand (PostgreSQL): one catalogue for all, the CPAM's rows
    (the caisse with the most requests), the CARSAT's requests and links pointed at them;
    returns the labels each request showed before (the CARSAT's renamed offer showed the
    common label on its request, sent before the renaming)."""
    from ep.models import Caisse, Demande

    shown = {
        d.id: (d.offer_label, d.motif_label)
        for d in Demande.with_labels(Demande.select().order_by(Demande.id))
    }
    cpam = Caisse.get(Caisse.name == "CPAM de Démo").id
    sql = db.database.execute_sql
    sql(
        "UPDATE demande d SET offer_id = o1.id FROM offer o2, offer o1 WHERE d.offer_id = o2.id "
        "AND o2.caisse_id <> %s AND o1.caisse_id = %s AND o1.code = o2.code",
        (cpam, cpam),
    )
    sql(
        "UPDATE convention_offer c SET offer_id = o1.id FROM offer o2, offer o1 "
        "WHERE c.offer_id = o2.id AND o2.caisse_id <> %s AND o1.caisse_id = %s "
        "AND o1.code = o2.code",
        (cpam, cpam),
    )
    sql(
        "UPDATE demande d SET motif_id = m1.id FROM motif m2, offer o2, offer o1, motif m1 "
        "WHERE d.motif_id = m2.id AND m2.offer_id = o2.id AND o2.caisse_id <> %s "
        "AND o1.caisse_id = %s AND o1.code = o2.code AND m1.offer_id = o1.id "
        "AND m1.code = m2.code",
        (cpam, cpam),
    )
    sql("DELETE FROM motif WHERE offer_id IN (SELECT id FROM offer WHERE caisse_id <> %s)", (cpam,))
    sql("DELETE FROM offer WHERE caisse_id <> %s", (cpam,))
    sql(
        "UPDATE motif SET label = 'Autre motif de contact' WHERE code = 'autre' "
        "AND offer_id IN (SELECT id FROM offer WHERE code = 'contact')"
    )
    for table in ("convention_motif_off", "motif_label", "offer_label"):
        sql(f'DROP TABLE "{table}"')
    sql('DROP INDEX "offer_caisse_id_code"')
    for column in ("caisse_id", "target_hours", "active"):
        sql(f'ALTER TABLE "offer" DROP COLUMN "{column}"')
    sql('ALTER TABLE "offer" ADD COLUMN "concerns_assure" BOOLEAN NOT NULL DEFAULT true')
    sql("UPDATE offer SET concerns_assure = (code <> 'contact')")
    sql('CREATE UNIQUE INDEX "offer_code" ON "offer" ("code")')
    for column in ("concerns_assure", "active"):
        sql(f'ALTER TABLE "motif" DROP COLUMN "{column}"')
    return shown


@sqlite_only
def test_schema_2_flags_the_partner_replies_the_caisse_has_not_answered(tmp_path):
    """Issue 10.5: after the upgrade, the caisse's queue shows which open requests wait for
    it after a partner's reply; nothing is unread (no read marker existed before)."""
    import sqlite3
    from pathlib import Path

    from ep.models import Demande, DemandeRead

    from .conftest import make_app

    old = tmp_path / "instance"
    old.mkdir(parents=True)
    conn = sqlite3.connect(old / "ep.sqlite3")
    conn.executescript((Path(__file__).parent / "schema" / "v1.sql").read_text())
    rows = ", ".join(
        f"({i}, 1, 1, 1, 1, 1, '{status}', 0, '', '', '', '', 0, '', '', 120, '2026-01-01', "
        "'2026-01-01')"
        for i, status in ((1, "in_progress"), (2, "in_progress"), (3, "closed"))
    )
    conn.executescript(
        f"""
        INSERT INTO schema_version (version) VALUES (1);
        INSERT INTO caisse VALUES (1, 'CPAM', '2026-01-01');
        INSERT INTO partner VALUES (1, 'CCAS A', 10, NULL, NULL, '2026-01-01');
        INSERT INTO offer VALUES (1, 'contact', 'Contacter', 1, 0);
        INSERT INTO motif VALUES (1, 1, 'autre', 'Autre', 1);
        INSERT INTO account (id, username, profile, partner_id, civilite, nom, prenom, fonction,
          telephone, email, state, created_at, inactivation_reason, notify_by_email, search_key,
          cgu_version, session_token)
          VALUES (1, 'tech', 'technicien', 1, '', '', '', '', '', '', 'active', '2026-01-01',
          '', 1, '', '', 'x');
        INSERT INTO demande (id, partner_id, caisse_id, author_id, offer_id, motif_id, status,
          urgent, assure_civilite, assure_nom, assure_prenom, assure_departement,
          assure_informed, assure_search, commentaire, target_hours, created_at, updated_at)
          VALUES {rows};
        INSERT INTO demande_event (demande_id, at, actor_id, action, status) VALUES
          (1, '2026-01-01', 1, 'answered', 'in_progress'),
          (1, '2026-01-02', 1, 'partner_replied', 'in_progress'),
          (2, '2026-01-01', 1, 'partner_replied', 'in_progress'),
          (2, '2026-01-02', 1, 'answered', 'in_progress'),
          (3, '2026-01-01', 1, 'partner_replied', 'closed');
        """
    )
    conn.commit()
    conn.close()
    make_app(tmp_path)
    with db.database.connection_context():
        flagged = {d.id: d.partner_reply_pending for d in Demande.select()}
        assert flagged == {1: True, 2: False, 3: False}
        assert {d.last_partner_event for d in Demande.select()} == {None}
        assert DemandeRead.select().count() == 0
    db.database.close()


# Issue 11: a connection per request cost its opening, its pragmas and a cold cache every
# time (20-40 % of the server's CPU in system time). Each server thread keeps its own.


def test_a_thread_keeps_its_connection_from_one_request_to_the_next(app, client, login_as):
    seen = []
    app.before_request(lambda: seen.append(db.database.connection()))
    login_as("technicien.demo")
    for path in ("/aide", "/healthz", "/demandes/", "/aide"):
        assert client.get(path).status_code == 200
    assert all(conn is seen[0] for conn in seen)
    assert not db.database.is_closed()


def _leaves_a_transaction_open(fail):
    """A view that takes the write lock (a row lock on PostgreSQL) and never commits."""
    from ep.access import public

    @public
    def view():
        if db.is_sqlite():
            db.database.execute_sql("BEGIN IMMEDIATE")
        else:
            db.database.execute_sql("BEGIN")
        db.database.execute_sql(
            "UPDATE account SET fonction = 'jamais validé' WHERE username = 'technicien.demo'"
            + ("" if db.is_sqlite() else " RETURNING id")
        )
        if fail:
            raise RuntimeError("the view fails with its transaction open")
        return "ok"

    return view


def _other_writer_gets_the_lock(app):
    """Another connection can write at once: nothing holds the lock any more."""
    url = app.config["EP_DATABASE_URL"]
    if db.is_sqlite():
        import sqlite3

        other = sqlite3.connect(url[len("sqlite:///") :], timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE account SET nom = nom WHERE username = 'technicien.demo'")
            other.execute("ROLLBACK")
        finally:
            other.close()
    else:
        import psycopg2

        other = psycopg2.connect(url)
        try:
            with other.cursor() as cur:
                cur.execute("SET lock_timeout = '500ms'")
                cur.execute("SELECT id FROM account WHERE username = 'technicien.demo' FOR UPDATE")
            other.rollback()
        finally:
            other.close()


@pytest.mark.parametrize("fail", [True, False], ids=["error", "no-commit"])
def test_a_transaction_a_request_leaves_open_is_rolled_back_after_it(app, fail):
    app.add_url_rule(
        "/_test/open-transaction", "open_transaction", _leaves_a_transaction_open(fail)
    )
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    response = client.get("/_test/open-transaction")
    assert response.status_code == (500 if fail else 200)
    _other_writer_gets_the_lock(app)
    assert Account.get(Account.username == "technicien.demo").fonction != "jamais validé"
    assert client.get("/healthz").status_code == 200


def test_an_up_to_date_database_is_not_checked_again(app, statements):
    """Issue 11: every `ep` command upgrades first; at 1,000,000 requests the whole-database
    foreign key check took 4.5 s of each `ep housekeeping`, with nothing to migrate."""
    assert db.upgrade() == (db.current_version(), db.current_version())
    assert not [s for s in statements if "foreign_key" in s.lower()], statements


def _v3_fold(value):
    """How schema 3 folded names: 'Cœur' -> 'cœur' (œ, æ… do not decompose)."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@sqlite_only
def test_schema_4_folds_again_only_the_keys_holding_letters_that_now_fold_apart(
    tmp_path, monkeypatch
):
    """Issue 15.4: a version 3 database (upgraded from version 1 as an operator's would be)
    whose keys were folded the old way: 'Cœur' is found by 'coeur' after the upgrade; the
    other keys are not written (one marked 'left alone' proves it); usernames stay."""
    import sqlite3
    from pathlib import Path

    from ep import models
    from ep.models import Demande
    from ep.text import fold

    from .conftest import make_app

    old = tmp_path / "instance"
    old.mkdir(parents=True)
    conn = sqlite3.connect(old / "ep.sqlite3")
    conn.executescript((Path(__file__).parent / "schema" / "v1.sql").read_text())
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.commit()
    conn.close()
    with monkeypatch.context() as m:
        m.setattr(models, "SCHEMA_VERSION", 3)
        make_app(tmp_path)
    db.database.close()
    ae = ("Ærwan", "Lefèvre-Œuvray", "rwan.lefevre-uvray", "ae@example.org")
    conn = sqlite3.connect(old / "ep.sqlite3")
    assert conn.execute("SELECT version FROM schema_version").fetchone() == (3,)
    conn.executescript(
        f"""
        INSERT INTO caisse (id, name, created_at) VALUES (1, 'CPAM', '2026-01-01');
        INSERT INTO offer VALUES (1, 'contact', 'Contacter', 1, 0);
        INSERT INTO motif VALUES (1, 1, 'autre', 'Autre', 1);
        INSERT INTO partner (id, name, headcount, created_at, siret)
          VALUES (1, 'CCAS A', 10, '2026-01-01', NULL);
        INSERT INTO account (id, username, profile, partner_id, civilite, nom, prenom, fonction,
          telephone, email, state, created_at, inactivation_reason, notify_by_email, search_key,
          cgu_version, session_token)
          VALUES (1, '{ae[2]}', 'technicien', 1, 'M.', '{ae[1]}', '{ae[0]}', '', '', '{ae[3]}',
          'active', '2026-01-01', '', 1, '{_v3_fold(" ".join(ae))}', '', 'x'),
          (2, 'theo.dupont', 'technicien', 1, 'M.', 'Dupont', 'Théo', '', '', '', 'active',
          '2026-01-01', '', 1, 'left alone', '', 'y');
        INSERT INTO demande (id, partner_id, caisse_id, author_id, offer_id, motif_id, status,
          urgent, assure_civilite, assure_nom, assure_prenom, assure_departement,
          assure_informed, assure_search, commentaire, target_hours, created_at, updated_at,
          partner_reply_pending)
          SELECT 1, 1, 1, 1, o.id, m.id, 'submitted', 0, 'Mme', 'Cœur', 'Lætitia', '68', 1,
            '{_v3_fold("Cœur Lætitia")}', '', 120, '2026-01-01', '2026-01-01', 0
          FROM offer o JOIN motif m ON m.offer_id = o.id LIMIT 1;
        INSERT INTO demande (id, partner_id, caisse_id, author_id, offer_id, motif_id, status,
          urgent, assure_civilite, assure_nom, assure_prenom, assure_departement,
          assure_informed, assure_search, commentaire, target_hours, created_at, updated_at,
          partner_reply_pending)
          SELECT 2, 1, 1, 1, offer_id, motif_id, 'submitted', 0, 'M.', 'Durand', 'Paul', '68',
            1, 'left alone', '', 120, '2026-01-01', '2026-01-01', 0 FROM demande WHERE id = 1;
        """
    )
    conn.commit()
    conn.close()
    make_app(tmp_path)  # 3 -> 4
    with db.database.connection_context():
        assert db.SchemaVersion.get().version == models.SCHEMA_VERSION
        keys = {a.id: (a.username, a.search_key) for a in Account.select()}
        assert keys == {
            1: ("rwan.lefevre-uvray", "aerwan lefevre-oeuvray rwan.lefevre-uvray ae@example.org"),
            2: ("theo.dupont", "left alone"),
        }
        assert keys[1][1] == fold(" ".join(ae))
        assert {d.id: d.assure_search for d in Demande.select()} == {
            1: "coeur laetitia",
            2: "left alone",
        }
        assert [d.id for d in Demande.select().where(Demande.assure_search.contains("coeur"))]
    db.database.close()


# Schema 4, issue 14.1 and 14.4 (step `_v4_retention`).


def _undo_v4_retention():
    """Undo the schema-4 step of issue 14 by hand (`_v4_retention`), on either engine."""
    sql = db.database.execute_sql
    for index in (
        "demande_retention",
        "audit_event_caisse_id_action_at_id",
        "audit_event_partner_id_action_at_id",
        "audit_event_actor_id_at_id",
        "audit_event_account_id_at_id",
        "audit_event_demande_id_at_id",
        "audit_event_caisse_acts",
        "audit_event_partner_acts",
        "audit_event_actor_acts",
    ):
        sql(f'DROP INDEX IF EXISTS "{index}"')
    sql('CREATE INDEX "audit_event_actor_id" ON "audit_event" ("actor_id")')
    sql('CREATE INDEX "audit_event_account_id" ON "audit_event" ("account_id")')
    if db.is_sqlite():  # schema 3's triggers: every UPDATE and DELETE refused
        sql("DROP TRIGGER audit_event_no_delete")
        sql(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
        )
    else:
        sql(
            "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql"
        )
    sql('DROP TABLE "journal_purge_permit"')
    for table, column in (
        ("demande", "purge_reason"),
        ("demande", "close_warned_at"),
        ("audit_event", "demande_id"),
    ):
        sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')


def test_schema_4_names_the_request_of_each_journal_line_and_keeps_the_trail_closed(app):
    """The step of issue 14 fills the journal's request column from each event's own detail (lifting
    the append-only trigger for that statement only), and the trail stays closed to every
    UPDATE and DELETE but the sanctioned purge."""
    from datetime import datetime

    from ep.models import JournalPurgePermit

    columns = "at, action, detail, ip"
    lines = [
        ("2025-01-02 10:00:00", "demande_submitted", "demande 000042"),
        ("2025-01-02 10:05:00", "attachment_downloaded", "demande 1000001, pièce 3"),
        ("2025-01-02 10:06:00", "demande_viewed", "demande 000042"),
        ("2025-01-02 10:07:00", "login", "demandeur pressé"),
        ("2025-01-02 10:08:00", "cgu_accepted", "version 2026-11"),
    ]
    with db.database.connection_context():
        _undo_v4_retention()
        with db.database.atomic():
            marks = ", ".join([db.database.param] * 4)
            for at, action, detail in lines:
                db.database.execute_sql(
                    f"INSERT INTO audit_event ({columns}) VALUES ({marks})",
                    (at, action, detail, "10.0.0.1"),
                )
    from playhouse.migrate import migrate

    with db.database.connection_context(), db._foreign_keys_off(), db.write():
        db._v4_retention(db._migrator(), migrate)  # as `db.upgrade` runs it
    with db.database.connection_context():
        named = {
            (e.action, e.detail): e.demande_id
            for e in AuditEvent.select().where(AuditEvent.at < datetime(2025, 2, 1))
        }
        assert named == {
            ("demande_submitted", "demande 000042"): 42,
            ("attachment_downloaded", "demande 1000001, pièce 3"): 1000001,
            ("demande_viewed", "demande 000042"): 42,
            ("login", "demandeur pressé"): None,
            ("cgu_accepted", "version 2026-11"): None,
        }
        old_read = AuditEvent.get(AuditEvent.action == "demande_viewed")
        for query in (
            AuditEvent.update(detail="effacé").where(AuditEvent.id == old_read.id),
            AuditEvent.delete().where(AuditEvent.id == old_read.id),
        ):
            with pytest.raises(peewee.DatabaseError, match="append-only"):
                with db.database.atomic():
                    query.execute()
        with db.database.atomic():  # the sanctioned path, as the nightly purge takes it
            JournalPurgePermit.create(up_to=datetime(2025, 2, 1))
            AuditEvent.delete().where(AuditEvent.id == old_read.id).execute()
            JournalPurgePermit.delete().execute()
        assert not AuditEvent.select().where(AuditEvent.id == old_read.id).exists()


# Schema 4, issue 14.2 (step `_v4_rgpd`).


def _undo_v4_rgpd():
    """Undo the schema-4 step of issue 14.2 (`_v4_rgpd`) by hand, on either engine."""
    sql = db.database.execute_sql
    for index in ("demande_person", "demande_limited"):
        sql(f'DROP INDEX IF EXISTS "{index}"')
    for table, column in (("account", "rgpd_referent_at"), ("demande", "limited_at")):
        sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
