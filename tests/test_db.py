import peewee
import pytest

from ep import db
from ep.models import Account, AuditEvent


def test_sqlite_pragmas(app):
    pragma = db.database.execute_sql
    assert pragma("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert pragma("PRAGMA foreign_keys").fetchone()[0] == 1
    assert pragma("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert pragma("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_audit_trail_is_append_only(app):
    event = AuditEvent.select().first()
    with pytest.raises(peewee.IntegrityError):
        AuditEvent.update(detail="effacé").where(AuditEvent.id == event.id).execute()
    with pytest.raises(peewee.IntegrityError):
        AuditEvent.delete().where(AuditEvent.id == event.id).execute()


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
    assert calls == ["SqliteMigrator"]
    assert db.SchemaVersion.get().version == models.SCHEMA_VERSION


def test_newer_database_is_refused(app):
    db.SchemaVersion.update(version=999).execute()
    with pytest.raises(RuntimeError, match="plus récent"):
        db.upgrade()
