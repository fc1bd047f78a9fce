"""The database: deferred handle, pragmas, connections kept per thread, schema versions."""

import contextlib
import contextvars
import sqlite3
import time
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
    # Each connection lives as long as its server thread (issue 11): a 16 MB page cache
    # (default 2 MB) spares the system calls that read a big list's index pages again (the
    # caisse queue at 1,000,000 requests: 4.5 -> 1 ms of system time per page). No memory
    # map: it saved no measurable time, and it counts the mapped file in the server's memory.
    ("cache_size", -16000),
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
    """Bind the database to the app. A request's connection opens on first use and stays
    open for the next request of the same server thread (peewee's connections are per
    thread): opening one, with its pragmas and a cold cache, cost more than most pages."""
    bind(app)
    if is_sqlite():
        from . import private

        private.database(database.obj.database)

    @app.teardown_request
    def _end_of_request(exc):
        release()


def release():
    """End of a unit of work on a kept connection: what it left uncommitted is rolled back
    (a lock must never outlive its request), and a broken connection is closed so that the
    next request opens a new one."""
    if database.is_closed():
        return
    if database.in_transaction():  # an atomic block that never ended: a bug, never reused
        close_broken()
        return
    conn = database.connection()
    try:
        if is_sqlite():
            if conn.in_transaction:
                conn.rollback()
            return
        import psycopg2.extensions as pg

        status = conn.get_transaction_status()
        if status == pg.TRANSACTION_STATUS_UNKNOWN or conn.closed:
            raise OSError("connection lost")
        if status != pg.TRANSACTION_STATUS_IDLE:
            # peewee runs psycopg2 in autocommit mode, where rollback() does nothing
            conn.cursor().execute("ROLLBACK")
    except Exception:  # whatever went wrong with it, this connection is not reused
        close_broken()


def close_broken():
    """Forget this thread's connection, even with a transaction marked open on it."""
    conn = database.connection()
    database.obj.dispose()
    with contextlib.suppress(Exception):
        conn.close()


def is_sqlite():
    return isinstance(database.obj, peewee.SqliteDatabase)


def _atomic():
    return database.atomic("IMMEDIATE") if is_sqlite() else database.atomic()


@contextlib.contextmanager
def write():
    """A write transaction that takes the lock first, so read-then-write cannot deadlock.
    Inside `timed_writes()`, an outermost one is counted and timed from the moment it holds
    the lock until it has committed."""
    holds = _holds.get()
    if holds is None or database.in_transaction():
        with _atomic():
            yield
        return
    with _atomic():
        start = time.monotonic()
        yield
    held = time.monotonic() - start
    holds.add(held)
    if holds.yielding and is_sqlite():
        # SQLite's waiting writers poll for the lock (1, 2, 5… then every 100 ms): a loop
        # that took it again at once could keep one waiting through many transactions.
        time.sleep(min(held, 0.1))


class Holds:
    """The write transactions of a piece of work: how many, and the longest (seconds). On
    SQLite each one held the database's only write lock that long: every other writer (a
    submission, a login) waited on it."""

    def __init__(self, yielding=False):
        self.count = 0
        self.longest = 0.0
        self.yielding = yielding

    def add(self, seconds):
        self.count += 1
        self.longest = max(self.longest, seconds)


_holds = contextvars.ContextVar("ep_write_holds", default=None)


@contextlib.contextmanager
def timed_writes(yielding=False):
    """Count and time the write transactions of the enclosed work (this thread's only);
    `yielding`: after each one, leave the lock free as long as it was held (a long batch
    job that must not make the server's requests wait)."""
    holds = Holds(yielding)
    token = _holds.set(holds)
    try:
        yield holds
    finally:
        _holds.reset(token)


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


def _v4_catalogue(migrator, migrate):
    """Schema 4 (issue 12.3): each caisse its own catalogue of offers and motifs, former
    labels kept for the requests sent under them, motifs switched off per convention,
    whether a motif (no longer an offer) concerns an assuré, each offer's default target
    time.

    The requests are not rewritten for the caisse that has the most of them: the existing
    offers and motifs become its catalogue. Every other caisse gets a copy (same codes,
    labels, order) and its requests and convention links are pointed at it, one statement
    per caisse through the caisse's index (at 1,000,000 requests, the CARSAT's 42,000)."""
    import peewee as pw

    from .catalogue import FORMER_AMELI_LABEL, OFFERS, TARGET_HOURS
    from .models import Caisse, ConventionMotifOff, MotifLabel, OfferLabel, now

    migrate(
        migrator.add_column(
            "offer",
            "caisse_id",
            pw.ForeignKeyField(Caisse, null=True, index=False, field=Caisse.id),
        ),
        migrator.add_column("offer", "target_hours", pw.IntegerField(default=120)),
        migrator.add_column("offer", "active", pw.BooleanField(default=True)),
        migrator.add_column("motif", "concerns_assure", pw.BooleanField(default=True)),
        migrator.add_column("motif", "active", pw.BooleanField(default=True)),
        migrator.drop_index("offer", "offer_code"),  # a code is unique per caisse now
    )
    database.create_tables([OfferLabel, MotifLabel, ConventionMotifOff])
    sql = database.execute_sql
    p = database.param
    # What concerned an assuré was the offer: each of its motifs now says it.
    sql(
        "UPDATE motif SET concerns_assure = (SELECT o.concerns_assure FROM offer o "
        "WHERE o.id = motif.offer_id)"
    )
    for code, hours in TARGET_HOURS.items():
        sql(f"UPDATE offer SET target_hours = {p} WHERE code = {p}", (hours, code))

    # The tables as this step finds them (the models describe the latest schema).
    class Step(pw.Model):
        class Meta:
            database = database

    class OldOffer(Step):
        caisse_id = pw.IntegerField(null=True)
        code = pw.CharField()
        label = pw.CharField()
        position = pw.IntegerField()
        concerns_assure = pw.BooleanField()
        target_hours = pw.IntegerField()
        active = pw.BooleanField()

        class Meta:
            table_name = "offer"

    class OldMotif(Step):
        offer_id = pw.IntegerField()
        code = pw.CharField()
        label = pw.CharField()
        position = pw.IntegerField()
        concerns_assure = pw.BooleanField()
        active = pw.BooleanField()

        class Meta:
            table_name = "motif"

    counts = dict(sql("SELECT caisse_id, count(*) FROM demande GROUP BY caisse_id").fetchall())
    caisses = sorted(
        (row[0] for row in sql("SELECT id FROM caisse").fetchall()),
        key=lambda c: (-counts.get(c, 0), c),
    )
    if not caisses:  # no caisse, hence no convention nor request: the catalogue waits for one
        sql("DELETE FROM motif")
        sql("DELETE FROM offer")
    else:
        owner, others = caisses[0], caisses[1:]
        sql(f"UPDATE offer SET caisse_id = {p}", (owner,))
        offers = list(OldOffer.select().order_by(OldOffer.id))
        motifs = list(OldMotif.select().order_by(OldMotif.id))
        for caisse in others:
            offer_ids, motif_ids = {}, {}
            for o in offers:
                copy = {f: getattr(o, f) for f in OldOffer._meta.fields if f != "id"}
                offer_ids[o.id] = OldOffer.create(**dict(copy, caisse_id=caisse)).id
            for m in motifs:
                copy = {f: getattr(m, f) for f in OldMotif._meta.fields if f != "id"}
                motif_ids[m.id] = OldMotif.create(**dict(copy, offer_id=offer_ids[m.offer_id])).id
            if not offer_ids:
                continue

            def case(column, ids):
                whens = " ".join(f"WHEN {int(a)} THEN {int(b)}" for a, b in ids.items())
                return f"CASE {column} {whens} ELSE {column} END"

            sql(
                f"UPDATE convention_offer SET offer_id = {case('offer_id', offer_ids)} "
                f"WHERE convention_id IN (SELECT id FROM convention WHERE caisse_id = {p})",
                (caisse,),
            )
            if counts.get(caisse):
                sql(
                    f"UPDATE demande SET offer_id = {case('offer_id', offer_ids)}, "
                    f"motif_id = {case('motif_id', motif_ids)} WHERE caisse_id = {p}",
                    (caisse,),
                )
        # The annexe-3 motif about an assuré's code AMELI was taken for a partnership one:
        # it concerns an assuré, and says so; the requests sent before keep their label.
        reference = {code: {m[0]: m for m in motifs} for code, _, motifs in OFFERS}
        fixed = [
            motif_id
            for (motif_id,) in OldMotif.select(OldMotif.id)
            .join(OldOffer, on=(OldMotif.offer_id == OldOffer.id))
            .where(
                (OldOffer.code == "contact")
                & (OldMotif.code == "autre")
                & (OldMotif.label == FORMER_AMELI_LABEL)
            )
            .tuples()
        ]
        at = now()
        for motif_id in fixed:
            MotifLabel.insert(motif=motif_id, label=FORMER_AMELI_LABEL, until=at).execute()
        if fixed:
            OldMotif.update(label=reference["contact"]["autre"][1], concerns_assure=True).where(
                OldMotif.id.in_(fixed)
            ).execute()
    migrate(
        migrator.drop_column("offer", "concerns_assure"),
        migrator.add_not_null("offer", "caisse_id"),
        migrator.add_index("offer", ("caisse_id", "code"), True),
    )


def _v4_statistics(migrator, migrate):
    """Schema 4 (issue 13): the caisse's requests by day sent, for its figures."""
    migrate(migrator.add_index("demande", ("caisse_id", "created_at"), False))


def _v4_folding(migrator, migrate):
    """Schema 4 (issue 15.4): search keys fold œ, æ, ø, đ, ł, þ… into their Latin spelling
    ('coeur' finds 'Cœur'). Only the rows whose stored key holds one of those letters are
    folded again: every other key stays the same, so the demande table is read once (its
    keys) but not rewritten. Usernames stay as they were: people log in with them."""
    import functools
    import operator

    from .text import FOLDED_APART, fold

    def holding(column):
        return functools.reduce(operator.or_, [column.contains(c) for c in FOLDED_APART])

    # The keys as Account.save() and demandes.submit() make them.
    account = peewee.Table(
        "account", ("id", "prenom", "nom", "username", "email", "search_key")
    ).bind(database)
    rows = account.select(
        account.id, account.prenom, account.nom, account.username, account.email
    ).where(holding(account.search_key))
    for row_id, *names in list(rows.tuples()):
        key = fold(" ".join(names))[:600]
        account.update({account.search_key: key}).where(account.id == row_id).execute()
    demande = peewee.Table("demande", ("id", "assure_nom", "assure_prenom", "assure_search"))
    demande = demande.bind(database)
    # The ids alone first: SQLite reads them from an index holding the key (the duplicate
    # check's), not from the table's 1,000,000 rows with their comments.
    ids = [i for (i,) in demande.select(demande.id).where(holding(demande.assure_search)).tuples()]
    for row_id in ids:
        nom, prenom = (
            demande.select(demande.assure_nom, demande.assure_prenom)
            .where(demande.id == row_id)
            .tuples()
            .get()
        )
        key = fold(f"{nom.strip()} {prenom.strip()}")[:210]
        demande.update({demande.assure_search: key}).where(demande.id == row_id).execute()


def _v4_publications(migrator, migrate):
    """Schema 4 (issue 12.1): the information caisses publish to their partners, the
    structures each is addressed to, who opened it. New tables only."""
    from .models import Publication, PublicationOpening, PublicationRead, PublicationTarget

    database.create_tables([Publication, PublicationTarget, PublicationRead, PublicationOpening])


def _v4_contacts(migrator, migrate):
    """Schema 4 (issue 12.4-12.6): contacts kept by their owners instead of référents per
    convention, trainings given by the caisse, the caisse's département (its public
    holidays; '' counts the national list until an agent sets it). Each référent of
    schema 3 moves to its owner: the partner's to the structure, the caisse's, support and
    DPO to the caisse; the same person recorded on several conventions becomes one contact."""
    import peewee as pw

    from .models import Contact, Training
    from .text import fold

    migrate(migrator.add_column("caisse", "departement", pw.CharField(max_length=3, default="")))
    database.create_tables([Contact, Training])
    referent = pw.Table(
        "referent", ("id", "convention_id", "role", "name", "function", "phone", "email")
    ).bind(database)
    convention = pw.Table("convention", ("id", "partner_id", "caisse_id")).bind(database)
    rows = (
        referent.select(
            referent.role,
            referent.name,
            referent.function,
            referent.phone,
            referent.email,
            convention.partner_id,
            convention.caisse_id,
        )
        .join(convention, on=(referent.convention_id == convention.id))
        .order_by(referent.id)
        .tuples()
    )
    kept = {}
    for role, name, function, phone, email, partner_id, caisse_id in rows:
        if role == "partenaire":
            owner, role = ("partner", partner_id), "referent"
        else:
            owner = ("caisse", caisse_id)
            role = role if role in ("support", "dpo") else "referent"
        key = (owner, role, " ".join(fold(name).split()), phone, email.strip().lower())
        if key not in kept:
            kept[key] = {
                owner[0]: owner[1],
                "role": role,
                "name": name,
                "function": function,
                "phone": phone,
                "email": email,
            }
        elif not kept[key]["function"]:
            kept[key]["function"] = function
    for fields in kept.values():
        Contact.create(**fields)
    database.execute_sql('DROP TABLE "referent"')


def _v4_threads(migrator, migrate):
    """Schema 4 (issue 12.2): the exchanges a caisse opens with a structure, their messages,
    documents and read markers; and the index that lists a structure's "Contacter votre
    organisme" requests with them, newest activity first (an index, not a rewrite of the
    request table)."""
    from .models import Thread, ThreadAttachment, ThreadMessage, ThreadRead

    database.create_tables([Thread, ThreadMessage, ThreadAttachment, ThreadRead])
    migrate(migrator.add_index("demande", ("offer_id", "partner_id", "updated_at", "id"), False))


def _v4_evaluation(migrator, migrate):
    """Schema 4 (issue 13.4): the caisses' questionnaires, the yearly evaluations and their
    answers; each caisse starts with the default questionnaire."""
    from . import evaluations
    from .models import Caisse, Evaluation, EvaluationItem, EvaluationQuestion

    database.create_tables([EvaluationQuestion, Evaluation, EvaluationItem])
    for (caisse_id,) in list(Caisse.select(Caisse.id).tuples()):
        evaluations.ensure_questionnaire(caisse_id)


def _v4_retention(migrator, migrate):
    """Schema 4 (issue 14.1, 14.4): why a request's personal data was erased and when the
    structure was told it would be closed unanswered, the closed requests to purge by
    closing time; the journal's request column (filled from each event's detail) and the
    indexes of its filters; the permit of the sanctioned purge of old access traces, which
    the trigger now recognises. Nothing rewrites the requests (nullable columns added)."""
    import peewee as pw

    from . import models

    migrate(
        migrator.add_column("demande", "purge_reason", pw.CharField(max_length=20, null=True)),
        migrator.add_column("demande", "close_warned_at", pw.DateTimeField(null=True)),
        migrator.add_column("audit_event", "demande_id", pw.IntegerField(null=True)),
    )
    database.execute_sql(
        'CREATE INDEX "demande_retention" ON "demande" ("closed_at", "id", "caisse_id") '
        'WHERE (("status" = \'closed\') AND ("purged_at" IS NULL))'
    )
    # The request an event names, as `audit.record` finds it from now on: "demande NNNNNN"
    # at the start of its detail. The trail is append-only: its trigger is lifted for this
    # one statement, inside the migration's transaction.
    if is_sqlite():
        database.execute_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
        database.execute_sql(
            "UPDATE audit_event SET demande_id = CAST(substr(detail, 9, CASE WHEN "
            "instr(detail, ',') > 0 THEN instr(detail, ',') - 9 ELSE 10 END) AS INTEGER) "
            "WHERE detail GLOB 'demande [0-9]*'"
        )
    else:
        database.execute_sql("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        database.execute_sql(
            "UPDATE audit_event SET demande_id = "
            "CAST(substring(detail from '^demande ([0-9]{1,9})') AS INTEGER) "
            "WHERE detail ~ '^demande [0-9]'"
        )
        database.execute_sql("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
    migrate(
        migrator.drop_index("audit_event", "audit_event_actor_id"),
        migrator.drop_index("audit_event", "audit_event_account_id"),
        migrator.add_index("audit_event", ("caisse_id", "action", "at", "id"), False),
        migrator.add_index("audit_event", ("partner_id", "action", "at", "id"), False),
        migrator.add_index("audit_event", ("actor_id", "at", "id"), False),
        migrator.add_index("audit_event", ("account_id", "at", "id"), False),
        migrator.add_index("audit_event", ("demande_id", "at", "id"), False),
    )
    for column, name in (
        ("caisse_id", "audit_event_caisse_acts"),
        ("partner_id", "audit_event_partner_acts"),
        ("actor_id", "audit_event_actor_acts"),
    ):
        database.execute_sql(
            f'CREATE INDEX "{name}" ON "audit_event" ("{column}", "at", "id") '
            f'WHERE ("action" NOT IN {models.READS_SQL})'
        )
    database.create_tables([models.JournalPurgePermit])
    models.install_triggers(replace=True)


def _v4_rgpd(migrator, migrate):
    """Schema 4 (issue 14.2): the référent RGPD permission of an account, the limitation of
    a request's processing, a person's requests by date of birth and name, the limited
    ones. Nullable columns and indexes: the demande table is read, not rewritten."""
    import peewee as pw

    migrate(
        migrator.add_column("account", "rgpd_referent_at", pw.DateTimeField(null=True)),
        migrator.add_column("demande", "limited_at", pw.DateTimeField(null=True)),
    )
    database.execute_sql(
        'CREATE INDEX "demande_person" ON "demande" ("assure_date_naissance", "assure_search") '
        'WHERE ("assure_date_naissance" IS NOT NULL)'
    )
    database.execute_sql(
        'CREATE INDEX "demande_limited" ON "demande" ("limited_at", "id") '
        'WHERE ("limited_at" IS NOT NULL)'
    )


def _v4_breach(migrator, migrate):
    """Schema 4 (issue 14.3): breach reports, the accounts and caisses each concerns. New
    tables only."""
    from .models import Breach, BreachAccount, BreachCaisse

    database.create_tables([Breach, BreachAccount, BreachCaisse])


def _v4(migrator, migrate):
    _v4_statistics(migrator, migrate)
    _v4_folding(migrator, migrate)
    _v4_publications(migrator, migrate)
    _v4_contacts(migrator, migrate)
    _v4_threads(migrator, migrate)
    _v4_evaluation(migrator, migrate)
    _v4_retention(migrator, migrate)
    _v4_catalogue(migrator, migrate)
    _v4_rgpd(migrator, migrate)
    _v4_breach(migrator, migrate)


MIGRATIONS = {2: _v2_siret_pending_conventions_per_caisse_cut_off, 3: _v3, 4: _v4}


def current_version():
    from .models import SCHEMA_VERSION

    return SCHEMA_VERSION


def upgrade():
    """Create the schema, or bring an existing one to the current version. Idempotent."""
    from . import models

    latest = current_version()
    with database.connection_context():
        if SchemaVersion.table_exists():
            with write():
                # Every `ep serve` upgrades when it starts: processes started together take
                # turns, and the ones after the first find the work done.
                serialise("ep.schema")
                start = SchemaVersion.get().version
                if start > latest:
                    raise RuntimeError(
                        f"La base est au schéma {start}, plus récent que ce logiciel ({latest})."
                    )
                if start == latest:  # nothing to change: no whole-database check (4.5 s at 1M)
                    models.seed_reference_data()
                    return start, latest
    with database.connection_context(), _foreign_keys_off():
        with write():
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
    """True when the database answers a trivial query (on the thread's kept connection; a
    broken one is dropped, so that the next try opens a new one)."""
    try:
        database.execute_sql("SELECT 1").fetchone()
        return True
    except (peewee.PeeweeException, sqlite3.Error, OSError):
        if not database.is_closed():
            close_broken()
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
