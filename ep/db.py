"""The database: deferred handle, pragmas, per-request connection, schema versions."""

import contextlib
import sqlite3
from urllib.parse import unquote, urlparse

import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

database = peewee.DatabaseProxy()

# busy_timeout must come before journal_mode: switching to WAL takes a lock.
SQLITE_PRAGMAS = [
    ("busy_timeout", 10000),
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "full"),
    ("secure_delete", 1),  # erased personal data is overwritten, not left in free pages
]


def make_database(url):
    """A peewee database for an EP_DATABASE_URL (sqlite:///path or postgresql://…)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10)
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        return peewee.PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=unquote(parsed.username or "") or None,
            password=unquote(parsed.password or "") or None,
            host=parsed.hostname,
            port=parsed.port,
        )
    raise ValueError(f"EP_DATABASE_URL non reconnue : {parsed.scheme or url}")


def bind(app):
    """Point the process-wide database handle at this app's database."""
    if database.obj is not None and not database.is_closed():
        database.close()
    database.initialize(make_database(app.config["EP_DATABASE_URL"]))


def init_app(app):
    """Bind the database to the app; a request's connection opens on first use, closes after."""
    bind(app)
    if is_sqlite():
        from . import private

        private.database(database.obj.database)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()


def is_sqlite():
    return isinstance(database.obj, peewee.SqliteDatabase)


def write():
    """A write transaction that takes the lock first, so read-then-write cannot deadlock."""
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()


def serialise(name):
    """Inside a write transaction: the writers that name the same thing go one after the
    other, across processes and machines. SQLite's IMMEDIATE transaction (`write()`) already
    does it; PostgreSQL takes a transaction-level advisory lock, released at commit."""
    if not is_sqlite():
        database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))


def lock(query):
    """Row lock for PostgreSQL; SQLite's IMMEDIATE transaction already serialises writers."""
    return query if is_sqlite() else query.for_update()


class SchemaVersion(peewee.Model):
    version = peewee.IntegerField()

    class Meta:
        database = database
        table_name = "schema_version"


def _migrator():
    return SqliteMigrator(database) if is_sqlite() else PostgresqlMigrator(database)


# Each entry upgrades a database from version N-1 to N. A fresh database is created at
# the latest version directly from the models, so steps only describe changes. To change
# the schema: bump models.SCHEMA_VERSION, add the step here (playhouse.migrate operations),
# and keep tests/schema/v1.sql as it is: test_db proves that version 1 upgrades to the
# same schema as a fresh database.
def _v2_siret_pending_conventions_per_caisse_cut_off(migrator, migrate):
    """Schema 2: structures identified by SIRET (names no longer unique), conventions that a
    structure accepts, cut-offs per convention instead of per structure, fraud locks, the
    e-mail outbox, the warning before an idle inactivation, phone numbers stored in one
    form, the files kept for a form that came back, and unread markers."""
    import peewee as pw

    migrate(
        migrator.add_column("partner", "siret", pw.CharField(max_length=14, null=True)),
        migrator.add_index("partner", ("siret",), True),
        migrator.drop_index("partner", "partner_name"),
        migrator.add_index("partner", ("name",), False),
        migrator.add_column("convention", "state", pw.CharField(max_length=10, default="accepted")),
        migrator.add_column("convention", "proposed_by_id", pw.IntegerField(null=True)),
        migrator.add_column("convention", "decided_at", pw.DateTimeField(null=True)),
        migrator.add_column("convention", "decided_by_id", pw.IntegerField(null=True)),
        migrator.add_column("convention", "cut_off_at", pw.DateTimeField(null=True)),
        migrator.add_column(
            "convention", "cut_off_reason", pw.CharField(max_length=300, default="")
        ),
        migrator.add_column("account", "fraud_locked_at", pw.DateTimeField(null=True)),
        migrator.add_column("account", "idle_warned_at", pw.DateTimeField(null=True)),
    )
    migrate(
        migrator.add_index("demande", ("partner_id", "created_at", "id"), False),
        migrator.add_index("demande", ("caisse_id", "status", "partner_id"), False),
        migrator.add_index(
            "demande", ("partner_id", "motif_id", "assure_search", "assure_date_naissance"), False
        ),
    )
    from .models import DemandeRead, Draft, Notice, PendingAttachment

    database.create_tables([Notice, Draft, PendingAttachment])
    _v2_unread_markers(migrator, migrate, DemandeRead)
    # A structure-wide cut-off becomes the cut-off of the convention of the caisse that made
    # it; one made before the cutting caisse was recorded stops every channel.
    database.execute_sql(
        "UPDATE convention SET cut_off_at = (SELECT p.cut_off_at FROM partner p "
        "WHERE p.id = convention.partner_id) WHERE partner_id IN (SELECT id FROM partner "
        "WHERE cut_off_at IS NOT NULL AND (cut_off_by_id IS NULL "
        "OR cut_off_by_id = convention.caisse_id))"
    )
    _normalise_phones()
    if is_sqlite():  # SQLite drops a column named in a foreign key by rebuilding the table
        migrate(
            migrator.drop_index("partner", "partner_cut_off_by_id"),
            migrator.drop_column("partner", "cut_off_by_id", legacy=True),
            migrator.drop_column("partner", "cut_off_at"),
        )
    else:
        migrate(
            migrator.drop_column("partner", "cut_off_by_id"),
            migrator.drop_column("partner", "cut_off_at"),
        )


def _normalise_phones():
    """Numbers typed before schema 2 take their one stored form (E.164, ep/phones.py); what
    does not read as a number stays as it was typed (display shows it as it is)."""
    from . import phones

    for name, column in (("account", "telephone"), ("referent", "phone")):
        table = peewee.Table(name, ("id", column)).bind(database)
        for row_id, raw in list(table.select(table.id, getattr(table, column)).tuples()):
            stored = phones.stored_form(raw)
            if stored != raw:
                table.update({getattr(table, column): stored}).where(table.id == row_id).execute()


def _v2_unread_markers(migrator, migrate, DemandeRead):
    """Schema 2 (issue 10.5): each side's last event on a request, the partner's reply that
    waits for the caisse, and how far each account read each request. Requests from before
    start with nothing unread; a reply the caisse has not answered yet is flagged."""
    import peewee as pw

    migrate(
        migrator.add_column("demande", "last_partner_event", pw.IntegerField(null=True)),
        migrator.add_column("demande", "last_caisse_event", pw.IntegerField(null=True)),
        migrator.add_column("demande", "partner_reply_pending", pw.BooleanField(default=False)),
    )
    database.create_tables([DemandeRead])
    database.execute_sql(
        f"UPDATE demande SET partner_reply_pending = {database.param} WHERE status != 'closed' "
        "AND (SELECT e.action FROM demande_event e WHERE e.demande_id = demande.id "
        "ORDER BY e.id DESC LIMIT 1) = 'partner_replied'",
        (True,),
    )


def _v3_list_indexes(migrator, migrate):
    """Schema 3 (issue 11): each list reads its page in order from an index. The journal:
    a caisse's events and a structure's, by time (they replace the foreign keys' own
    indexes, which they begin with); a structure's accounts by profile and state; the
    caisse's queue."""
    migrate(
        migrator.drop_index("audit_event", "audit_event_caisse_id"),
        migrator.drop_index("audit_event", "audit_event_partner_id"),
        migrator.add_index("audit_event", ("caisse_id", "at", "id"), False),
        migrator.add_index("audit_event", ("partner_id", "at", "id"), False),
        migrator.drop_index("account", "account_partner_id"),
        migrator.drop_index("account", "account_state"),
        migrator.drop_index("account", "account_profile"),
        migrator.add_index("account", ("partner_id", "profile", "state"), False),
    )
    # The caisse's open requests in the queue's order (a partial index: its WHERE is what
    # Demande.still_open() writes).
    database.execute_sql(
        'CREATE INDEX "demande_open_queue" ON "demande" ("caisse_id", "urgent" DESC, '
        '"created_at", "id", "taken_by_id", "partner_reply_pending", "last_partner_event", '
        '"partner_id") '
        "WHERE (\"status\" IN ('submitted', 'in_progress', 'waiting_partner'))"
    )
    # The caisse's requests in the queue's order, all or of one status; the single-column
    # indexes no query needs (each costs every write) go.
    for name in (
        "demande_caisse_id_status_partner_id",
        "demande_caisse_id",
        "demande_partner_id",
        "demande_status",
        "demande_urgent",
        "demande_assure_search",
        "demande_created_at",
    ):
        database.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    database.execute_sql(
        'CREATE INDEX "demande_caisse_order" ON "demande" ("caisse_id", "urgent" DESC, '
        '"created_at", "id")'
    )
    database.execute_sql(
        'CREATE INDEX "demande_caisse_status_order" ON "demande" ("caisse_id", "status", '
        '"urgent" DESC, "created_at", "id", "partner_id")'
    )
    # The technicien's home: the structure's unread requests, those waiting for it.
    migrate(migrator.add_index("demande", ("partner_id", "last_caisse_event"), False))
    database.execute_sql(
        'CREATE INDEX "demande_waiting_partner" ON "demande" ("partner_id", "updated_at", "id") '
        "WHERE (\"status\" = 'waiting_partner')"
    )


def _v3_nightly_run(migrator, migrate):
    """Schema 3 (issue 11.6): the record of each night's rules, so that several server
    processes sharing the database run them once."""
    from .models import NightlyRun

    database.create_tables([NightlyRun])


def _v3(migrator, migrate):
    _v3_list_indexes(migrator, migrate)
    _v3_nightly_run(migrator, migrate)


MIGRATIONS = {2: _v2_siret_pending_conventions_per_caisse_cut_off, 3: _v3}


def current_version():
    from .models import SCHEMA_VERSION

    return SCHEMA_VERSION


def upgrade():
    """Create the schema, or bring an existing one to the current version. Idempotent."""
    from . import models

    latest = current_version()
    with database.connection_context(), _foreign_keys_off():
        with write():
            # Every `ep serve` upgrades when it starts: processes started together take
            # turns, and the ones after the first find the work done.
            serialise("ep.schema")
            if not SchemaVersion.table_exists():
                database.create_tables(models.ALL_MODELS)
                models.install_triggers()
                SchemaVersion.create_table()
                SchemaVersion.create(version=latest)
                models.seed_reference_data()
                return 0, latest
            row = SchemaVersion.get()
            start = row.version
            if start > latest:
                raise RuntimeError(
                    f"La base est au schéma {start}, plus récent que ce logiciel ({latest})."
                )
            for version in range(start + 1, latest + 1):
                MIGRATIONS[version](_migrator(), migrate)
                row.version = version
                row.save()
            models.seed_reference_data()
            return start, latest


@contextlib.contextmanager
def _foreign_keys_off():
    """SQLite's procedure for schema changes: a table rebuilt by a migration must not fire
    the ON DELETE actions of the rows that point to it. Checked again before re-enabling."""
    if not is_sqlite():
        yield
        return
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
        broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"Migration interrompue : clés étrangères rompues {broken[:3]}")
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")


def checkpoint():
    """Fold the WAL into the database file, so erased data leaves the WAL too."""
    if is_sqlite():
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def ping():
    """True when the database answers a trivial query."""
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1").fetchone()
        return True
    except (peewee.PeeweeException, sqlite3.Error, OSError):
        return False


def backup_sqlite(target):
    """A consistent online copy of the SQLite database (the server may be running)."""
    from . import private

    with private.create(target):
        pass  # the copy holds every personal datum: private before SQLite writes to it
    src = sqlite3.connect(database.obj.database, timeout=10)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
