"""Shared fixtures: the app on a real SQLite file in a temp folder, demo data built by the
rule functions, a test client, and helpers to log in."""

import contextlib
import logging
import os
import re

import pytest

from ep import create_app, db, demo, notices
from ep.accounts import accept_cgu
from ep.models import Account

PASSWORD = "mot de passe de test 2026"


# EP_TEST_DATABASE_URL runs the suite on another engine: a PostgreSQL database that each
# app built here empties first (its schema dropped and created again).
TEST_DATABASE_URL = os.environ.get("EP_TEST_DATABASE_URL")


def on_postgresql():
    return bool(TEST_DATABASE_URL)


sqlite_only = pytest.mark.skipif(
    bool(TEST_DATABASE_URL), reason="reads the SQLite file itself (its bytes, pragmas, copies)"
)


def _empty_postgresql(url):
    import psycopg2

    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        conn.close()


def make_app(tmp_path, **overrides):
    if TEST_DATABASE_URL and "EP_DATABASE_URL" not in overrides:
        _empty_postgresql(TEST_DATABASE_URL)
        overrides["EP_DATABASE_URL"] = TEST_DATABASE_URL
    config = {
        "EP_INSTANCE_PATH": str(tmp_path / "instance"),
        "EP_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'ep.sqlite3'}",
        "EP_BASE_URL": "http://ep.test",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
    }
    config.update(overrides)
    app = create_app(config)
    db.upgrade()
    return app


def demo_app(tmp_path):
    """The app with the demo loaded, built the long way: migrations, then the demo."""
    app = make_app(tmp_path)
    with app.test_request_context(base_url="http://ep.test"):
        demo.load(PASSWORD)
        for user in Account.select():
            accept_cgu(user, app.config["EP_CGU_VERSION"])
        notices.flush()  # the demo's own e-mails leave before the test starts
    if not db.database.is_closed():
        db.database.close()
    return app


# The demo state is built once per session (migrations and demo take 0.2 s on SQLite, 0.6 s on
# PostgreSQL), then copied into each test: the instance folder (SQLite file, uploads, outbox)
# by a file copy; on PostgreSQL, the rows, put back into the unchanged schema. "Unchanged":
# the catalogue rows of the schema's tables, columns, triggers and constraints are the very
# ones (same transaction ids, same files; 2 ms to check, against 18 ms for a comparison of
# their definitions); after a test that changed it, the state is built again.
_FINGERPRINT = """SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT c.oid::text || ':' || c.xmin::text || ':' || c.relfilenode::text AS x
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT a.attrelid::text || '.' || a.attnum || ':' || a.xmin::text
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
  UNION ALL SELECT t.oid::text || ':' || t.xmin::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT o.oid::text || ':' || o.xmin::text FROM pg_constraint o
    WHERE o.connamespace = 'public'::regnamespace) AS s"""


def serial_sequences(cur):
    """(sequence, table) of every table's id on PostgreSQL."""
    cur.execute(
        "SELECT pg_get_serial_sequence(quote_ident(table_name), 'id'), table_name"
        " FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'id'"
    )
    return [(s, t) for s, t in cur.fetchall() if s]


def put_rows_back(cur, rows, sequences):
    """On PostgreSQL, in the cursor's transaction: every table of `rows` ({table: (columns,
    rows)}) holds those rows again, its id sequence after them. DELETE, not TRUNCATE: on
    tables this small, TRUNCATE's new files cost ten times more (0.25 s against 0.02 s)."""
    import psycopg2.extras

    cur.execute("SET LOCAL session_replication_role = replica")  # no FK order, no triggers
    cur.execute("; ".join(f'DELETE FROM "{t}"' for t in rows))
    for table, (columns, values) in rows.items():
        if values:
            names = ", ".join(f'"{c}"' for c in columns)
            psycopg2.extras.execute_values(
                cur, f'INSERT INTO "{table}" ({names}) VALUES %s', values
            )
    if sequences:
        cur.execute(
            "SELECT "
            + ", ".join(
                f"setval('{s}', coalesce((SELECT max(id) FROM \"{t}\"), 0) + 1, false)"
                for s, t in sequences
            )
        )


class Pristine:
    def __init__(self, folder):
        self.instance = folder / "instance"
        self.rows = self.fingerprint = None
        demo_app(folder)
        if TEST_DATABASE_URL:
            import psycopg2

            conn = psycopg2.connect(TEST_DATABASE_URL)
            try:
                with conn.cursor() as cur:
                    cur.execute(_FINGERPRINT)
                    self.fingerprint = cur.fetchone()[0]
                    self.rows = {}
                    cur.execute(
                        "SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                    )
                    for (table,) in sorted(cur.fetchall()):
                        cur.execute(f'SELECT * FROM "{table}" ORDER BY 1')
                        self.rows[table] = ([d[0] for d in cur.description], cur.fetchall())
                    self.sequences = serial_sequences(cur)
            finally:
                conn.close()

    def _restore_rows(self):
        """Put the demo rows back if the schema is the pristine one; False if it is not."""
        import psycopg2

        conn = psycopg2.connect(TEST_DATABASE_URL)
        try:
            with conn.cursor() as cur:
                cur.execute(_FINGERPRINT)
                if cur.fetchone()[0] != self.fingerprint:
                    return False
                put_rows_back(cur, self.rows, self.sequences)
            conn.commit()
            return True
        finally:
            conn.close()

    def app(self, tmp_path):
        import shutil

        if TEST_DATABASE_URL:
            if db.database.obj is not None and not db.database.is_closed():
                db.database.close()
            if not self._restore_rows():  # a test changed the schema: built again
                self.__init__(tmp_path / "pristine")
        shutil.copytree(self.instance, tmp_path / "instance")
        if TEST_DATABASE_URL:
            return make_app(tmp_path, EP_DATABASE_URL=TEST_DATABASE_URL)
        return make_app(tmp_path)


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    return Pristine(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def app(tmp_path, pristine):
    app = pristine.app(tmp_path)
    yield app
    if not db.database.is_closed():
        db.database.close()


class Statements(logging.Handler):
    """The SQL statements peewee runs (both engines); `only` keeps those of these kinds."""

    def __init__(self, only=None):
        super().__init__(logging.DEBUG)
        self.only = only
        self.statements = []

    def emit(self, record):
        sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
        if self.only is None or sql.lstrip().split(" ", 1)[0].upper() in self.only:
            self.statements.append(sql)


def _logged(handler):
    log = logging.getLogger("peewee")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@pytest.fixture
def writes():
    """The list of the write statements run from now on (peewee's log)."""
    yield from _logged(Statements(only=("INSERT", "UPDATE", "DELETE", "BEGIN")))


@pytest.fixture
def statements():
    """The list of the SQL statements run from now on (peewee's log)."""
    yield from _logged(Statements())


@pytest.fixture
def ctx(app):
    """A request context for calling rule functions directly. Not with `client`: the pushed
    context would share flask-login's cached user across the client's requests."""
    with app.test_request_context(base_url="http://ep.test"):
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def account(username):
    return Account.get(Account.username == username)


@pytest.fixture
def login_as(client):
    """Log the client in as a demo user, through the session like flask-login does."""

    def _login(username):
        user = account(username)
        with client.session_transaction() as session:
            session.clear()
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return user

    return _login


@pytest.fixture
def outbox(app):
    """The e-mails written to the instance outbox since the test started, oldest first."""
    folder = os.path.join(app.instance_path, "outbox")
    before = set(os.listdir(folder)) if os.path.isdir(folder) else set()

    def _read():
        from ep import notices

        with app.app_context():
            notices.flush()
        if not os.path.isdir(folder):
            return []
        import email
        from email import policy

        messages = []
        for name in sorted(set(os.listdir(folder)) - before):
            with open(os.path.join(folder, name), "rb") as f:
                messages.append(email.message_from_binary_file(f, policy=policy.default))
        return messages

    return _read


def link_in(message):
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://ep\.test(/\S+)", body).group(1)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def connected():
    """The thread's connection for a test's own reads: opened if needed, closed after on
    SQLite only (a file copy must find it closed); kept on PostgreSQL, where a new connection
    is a new server process (14 ms, more than most requests)."""
    if db.database.is_closed():
        db.database.connect()
    try:
        yield
    finally:
        if db.is_sqlite():
            db.database.close()


def table_names():
    """The database's tables, whatever the engine (the app's database handle)."""
    if db.is_sqlite():
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return sorted(r[0] for r in db.database.execute_sql(query).fetchall())


def table_rows(table):
    """(columns, rows) of one table, in a stable order."""
    cursor = db.database.execute_sql(f'SELECT * FROM "{table}" ORDER BY 1')
    return [d[0] for d in cursor.description], cursor.fetchall()


def pristine_copy(app, folder):
    """A copy of the app's database now; returns `restore()`, which puts it back (a file copy
    on SQLite; on PostgreSQL, every table emptied and refilled, sequences set again)."""
    import shutil
    from pathlib import Path

    from ep import notices

    if db.is_sqlite():
        path = Path(app.config["EP_DATABASE_URL"][len("sqlite:///") :])
        db.database.close()
        pristine = Path(folder) / "pristine.sqlite3"
        db.backup_sqlite(str(pristine))

        def restore():
            notices.wait_after_response()  # a thread may still be writing to the file
            db.database.close()
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            shutil.copy(pristine, path)

        return restore

    with db.database.connection_context():
        dump = {t: table_rows(t) for t in table_names()}
        sequences = serial_sequences(db.database.cursor())
    db.database.close()

    def restore():
        notices.wait_after_response()
        with connected(), db.database.atomic():
            put_rows_back(db.database.cursor(), dump, sequences)

    return restore
