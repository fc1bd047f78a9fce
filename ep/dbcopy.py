"""`ep migrate-to URL`: the current database copied, row for row, into another one that is
empty (typically a SQLite deployment moving to PostgreSQL when it outgrows one machine).

The target gets the current schema from the same machinery as `ep init` (`db.upgrade`):
tables, indexes, the journal's append-only triggers. Every table of the source is then copied
in foreign-key order, streamed in batches (memory stays flat whatever the size), ids kept;
PostgreSQL's sequences are set after the highest id; the rows of each table are counted on
both sides. All of it is one transaction on the target: a failure, or a count that differs,
leaves the target as it was. The source is only read, in one snapshot.

On PostgreSQL the rows go in with COPY, and the secondary indexes and foreign keys are
created after the data (as pg_restore does), from their own definitions: the same schema,
checked once at the end instead of row by row. Only inserts are made, so the journal's
triggers (which refuse UPDATE and DELETE) stay in force throughout.
"""

import time
from datetime import date, datetime
from urllib.parse import urlsplit, urlunsplit

import peewee

BATCH = 5000
# Tables that `ep init` fills in a new database: a target holding only them is still empty.
SEEDED = {"schema_version", "offer", "motif"}


def shown(url):
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].split(":")[0] + ":***@" + netloc[1]))


def is_postgresql(database):
    return isinstance(database, peewee.PostgresqlDatabase)


def tables(database):
    """The tables that hold the data: no SQLite internals, no virtual tables (full-text
    indexes) or their shadow tables, which the target's schema builds on its own."""
    if is_postgresql(database):
        rows = database.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE'"
        )
        return sorted(r[0] for r in rows)
    rows = database.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    virtual = [n for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
    return sorted(
        name
        for name, _ in rows
        if name not in virtual and not any(name.startswith(f"{v}_") for v in virtual)
    )


def columns(database, table):
    if is_postgresql(database):
        rows = database.execute_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]
    return [r[1] for r in database.execute_sql(f'PRAGMA table_info("{table}")')]


def references(database, table):
    """The other tables this one points to."""
    if is_postgresql(database):
        rows = database.execute_sql(
            "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = %s::regclass",
            (f'"{table}"',),
        )
        names = {r[0].strip('"') for r in rows}
    else:
        names = {r[2] for r in database.execute_sql(f'PRAGMA foreign_key_list("{table}")')}
    return names - {table}


def in_foreign_key_order(database, names):
    """Referenced tables first (ties by name, so the order is the same every time)."""
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for parent in sorted(references(database, name) & set(names)):
            visit(parent)
        order.append(name)

    for name in sorted(names):
        visit(name)
    return order


def count(database, table):
    return database.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0]


class Refused(RuntimeError):
    """The copy is refused before anything is written (a one-line French message)."""


def _schema_version(database, names):
    if "schema_version" not in names:
        return None
    row = database.execute_sql("SELECT max(version) FROM schema_version").fetchone()
    return row[0]


def check_target(target, current):
    """None when the target is empty; raise Refused when it holds data (or another schema).
    A database just made by `ep init` (schema and catalogue, nothing else) counts as empty."""
    names = tables(target)
    if not names:
        return False
    version = _schema_version(target, names)
    filled = [(t, n) for t in names if t not in SEEDED and (n := count(target, t))]
    if filled:
        table, n = filled[0]
        raise Refused(
            f"la base cible n'est pas vide ({n} ligne{'s' if n > 1 else ''} dans « {table} »"
            f"{' et ailleurs' if len(filled) > 1 else ''}) : donnez une base vide."
        )
    if version != current:
        raise Refused(
            "la base cible contient déjà des tables"
            + (f" (schéma {version})" if version else "")
            + " : donnez une base vide."
        )
    return True  # initialised by `ep init`, holds only the catalogue


def _pg_text(value):
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value.__class__ is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (
                value.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return value
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    return str(value)  # int, float, date, datetime (ISO, as PostgreSQL reads them)


def _sqlite_value(value):
    """A value from PostgreSQL as peewee stores it in SQLite."""
    if isinstance(value, datetime | date):
        return str(value)  # 'YYYY-MM-DD[ HH:MM:SS[.ffffff]]', peewee's SQLite format
    if value is True or value is False:
        return int(value)
    return value


class _CopyStream:
    """A file-like object COPY reads from: the source's rows, a batch at a time."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.rows = 0

    def read(self, size=-1):
        batch = self.cursor.fetchmany(BATCH)
        if not batch:
            return b""
        self.rows += len(batch)
        text = _pg_text
        return "".join("\t".join(map(text, row)) + "\n" for row in batch).encode()

    readline = read


class _ServerCursor:
    """A PostgreSQL cursor declared in the snapshot's transaction, read a batch at a time."""

    def __init__(self, database, sql):
        self.cursor = database.cursor()
        self.cursor.execute(f"DECLARE ep_copy NO SCROLL CURSOR FOR {sql}")

    def fetchmany(self, n):
        self.cursor.execute(f"FETCH FORWARD {int(n)} FROM ep_copy")
        return self.cursor.fetchall()

    def close(self):
        self.cursor.execute("CLOSE ep_copy")
        self.cursor.close()


def _source_cursor(source, table, names):
    """A cursor over the table's rows, by id, that never holds more than a batch."""
    select = ", ".join(f'"{c}"' for c in names)
    order = ' ORDER BY "id"' if "id" in names else ""
    sql = f'SELECT {select} FROM "{table}"{order}'
    if is_postgresql(source):
        return _ServerCursor(source, sql)
    cursor = source.cursor()
    cursor.execute(sql)
    return cursor


def _deferred_pg_schema(target):
    """Drop the target's foreign keys and secondary indexes; return the statements that
    create them again exactly (their definitions as PostgreSQL prints them)."""
    sql = target.execute_sql
    keys = sql(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace ORDER BY 1, 2"
    ).fetchall()
    indexes = sql(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relnamespace = "
        "current_schema()::regnamespace AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM "
        "pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1"
    ).fetchall()
    for table, name, _ in keys:
        sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        sql(f"DROP INDEX {name}")
    return [d for _, d in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d in keys
    ]


def _reset_sequences(target):
    """Each serial column's sequence goes on after the highest id copied."""
    rows = target.execute_sql(
        "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), "
        "column_name) FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_default LIKE 'nextval(%%'"
    ).fetchall()
    for table, column, sequence in rows:
        if sequence:
            target.execute_sql(
                f'SELECT setval(%s, COALESCE(max("{column}"), 1), max("{column}") IS NOT NULL) '
                f'FROM "{table}"',
                (sequence,),
            )


def _copy_table_pg(source, target, table, names):
    cursor = _source_cursor(source, table, names)
    try:
        stream = _CopyStream(cursor)
        quoted = ", ".join(f'"{c}"' for c in names)
        target.cursor().copy_expert(f'COPY "{table}" ({quoted}) FROM STDIN', stream, size=1 << 20)
        return stream.rows
    finally:
        cursor.close()


def _copy_table_sqlite(source, target, table, names):
    cursor = _source_cursor(source, table, names)
    try:
        quoted = ", ".join(f'"{c}"' for c in names)
        marks = ", ".join("?" * len(names))
        insert = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'
        out = target.cursor()
        n = 0
        while batch := cursor.fetchmany(BATCH):
            if is_postgresql(source):
                batch = [tuple(map(_sqlite_value, row)) for row in batch]
            out.executemany(insert, batch)
            n += len(batch)
        return n
    finally:
        cursor.close()


def copy(source_url, target_url, echo=print):
    """Copy the database at source_url into the empty one at target_url; return
    [(table, rows in the source, rows in the target)]. Raises Refused, or the database's
    error, with the target left as it was."""
    from . import db
    from .models import SCHEMA_VERSION

    if target_url.rstrip("/") == source_url.rstrip("/"):
        raise Refused("la base cible est la base actuelle : donnez une autre base.")
    try:
        target = db.make_database(target_url)
    except ValueError:
        raise Refused(
            f"adresse de base non reconnue : {shown(target_url)} (attendu : "
            "postgresql://utilisateur:motdepasse@hôte:port/base ou sqlite:///chemin)."
        ) from None
    source = db.make_database(source_url)
    started = time.perf_counter()
    previous = db.database.obj
    try:
        with source.connection_context(), target.connection_context():
            return _copy(source, target, db, SCHEMA_VERSION, echo, started)
    finally:
        if previous is not None:
            db.database.initialize(previous)  # the schema was made through the app's handle


def _copy(source, target, db, current, echo, started):
    names = tables(source)
    version = _schema_version(source, names)
    if version != current:
        raise Refused(
            "la base actuelle n'est pas au schéma de ce logiciel"
            f" ({version or 'aucun'} au lieu de {current}) : lancez d'abord « ep init »."
        )
    initialised = check_target(target, current)
    sqlite_target = not is_postgresql(target)
    if sqlite_target:  # the self-reference of account ids may point forward: checked at the end
        target.execute_sql("PRAGMA foreign_keys = OFF")
    source_tx = source.atomic()
    source_tx.__enter__()  # one snapshot of the source for every table and count
    try:
        if is_postgresql(source):
            source.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with target.atomic():
            if not initialised:
                db.database.initialize(target)
                db.upgrade()
            order = in_foreign_key_order(target, tables(target))
            missing = sorted(set(names) - set(order))
            if missing:
                raise Refused(
                    f"table{'s' if len(missing) > 1 else ''} de la base actuelle absente"
                    f"{'s' if len(missing) > 1 else ''} du schéma : {', '.join(missing)}."
                )
            for table in order:
                if set(columns(source, table)) != set(columns(target, table)):
                    raise Refused(f"colonnes différentes entre les deux bases pour « {table} ».")
            for table in reversed(order):  # the catalogue `ep init` wrote comes from the source
                if table in SEEDED:
                    target.execute_sql(f'DELETE FROM "{table}"')
            rebuild = [] if sqlite_target else _deferred_pg_schema(target)
            copy_table = _copy_table_sqlite if sqlite_target else _copy_table_pg
            for table in order:
                t0 = time.perf_counter()
                n = copy_table(source, target, table, columns(target, table))
                echo(f"  {table:<22} {n:>10} lignes copiées ({time.perf_counter() - t0:.1f} s)")
            if rebuild:
                t0 = time.perf_counter()
                target.execute_sql("SET LOCAL maintenance_work_mem = '256MB'")
                for statement in rebuild:
                    target.execute_sql(statement)
                echo(
                    f"  index et clés étrangères recréés et vérifiés "
                    f"({time.perf_counter() - t0:.1f} s)"
                )
                _reset_sequences(target)
            else:
                broken = target.execute_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"clés étrangères rompues dans la copie : {broken[:3]}")
            counts = [(t, count(source, t), count(target, t)) for t in order]
            echo("Lignes par table (base actuelle → copie) :")
            for table, before, after in counts:
                mark = "" if before == after else "   ← DIFFÉRENT"
                echo(f"  {table:<22} {before:>10} → {after:<10}{mark}")
            wrong = [t for t, before, after in counts if before != after]
            if wrong:
                raise RuntimeError(
                    f"nombres de lignes différents ({', '.join(wrong)}) : copie annulée, la "
                    "base cible est restée vide."
                )
    finally:
        source_tx.__exit__(None, None, None)
        if sqlite_target:
            target.execute_sql("PRAGMA foreign_keys = ON")
    if not sqlite_target:
        target.execute_sql("ANALYZE")  # statistics for the planner, as after a restore
    total = sum(before for _, before, _ in counts)
    echo(f"{total} lignes copiées en {time.perf_counter() - started:.0f} s.")
    return counts
