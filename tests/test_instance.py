"""The instance folder holds personal data: on Linux, only the account running `ep` reads it
(folders 0700, files 0600), whatever the umask, for new and for existing installations."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ep import create_app, db, demandes, mail
from ep.demo import demo_file

from .conftest import account
from .test_demandes import rule_data

EP = str(Path(sys.executable).with_name("ep"))

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def loose_umask():
    """The usual 022 umask, as a host server running wsgi.py may have."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def ep_init_demo(instance):
    env = {**os.environ, "EP_INSTANCE_PATH": str(instance), "EP_DEMO_PASSWORD": "demo 2026 démo"}
    env.pop("EP_DATABASE_URL", None)
    result = subprocess.run(
        [EP, "init", "--demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def modes(instance):
    """{path relative to the instance: permission bits}, the instance folder included."""
    found = {".": stat.S_IMODE(instance.stat().st_mode)}
    for root, dirs, files in os.walk(instance):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(instance))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def not_private(instance):
    return {
        name: oct(mode)
        for name, mode in modes(instance).items()
        if mode != (0o700 if (instance / name).is_dir() else 0o600)
    }


def test_files_written_by_ep_and_by_the_app_are_private(tmp_path, loose_umask):
    instance = tmp_path / "instance"
    ep_init_demo(instance)  # the demo writes uploads and e-mails to the outbox
    names = set(modes(instance))
    assert {"ep.sqlite3", "secret_key", "uploads", "outbox"} <= names
    assert any(n.startswith("uploads/") for n in names)
    assert any(n.endswith(".eml") for n in names)
    assert not_private(instance) == {}

    # The web application (here in this process, umask 022) writes more of them.
    app = create_app({"EP_INSTANCE_PATH": str(instance), "TESTING": True})
    before = set(modes(instance))
    with app.test_request_context(base_url="http://ep.test"):
        db.database.connect()
        try:
            demandes.submit(
                account("technicien.demo"), rule_data(nom="Privé"), [demo_file("avis.pdf")]
            )
            mail.deliver("quelqu.un@example.org", "Essai", "Un message.")
            new = set(modes(instance)) - before
            assert {"ep.sqlite3-wal", "ep.sqlite3-shm"} <= new  # while the database is open
            assert any(n.startswith("uploads/") for n in new)
            assert any(n.endswith(".eml") for n in new)
            assert not_private(instance) == {}
        finally:
            db.database.close()


def test_an_existing_installation_is_made_private_at_start(tmp_path, loose_umask):
    instance = tmp_path / "instance"
    ep_init_demo(instance)
    for root, dirs, files in os.walk(instance):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)
    os.chmod(instance, 0o755)
    assert not_private(instance)

    create_app({"EP_INSTANCE_PATH": str(instance), "TESTING": True})
    assert not_private(instance) == {}


def test_a_database_outside_the_instance_is_created_private(tmp_path, loose_umask):
    path = tmp_path / "ailleurs" / "base.sqlite3"
    path.parent.mkdir()
    app = create_app(
        {
            "EP_INSTANCE_PATH": str(tmp_path / "instance"),
            "EP_DATABASE_URL": f"sqlite:///{path}",
            "TESTING": True,
        }
    )
    with app.app_context():
        db.upgrade()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_backups_and_exports_written_by_ep_are_private(tmp_path, loose_umask):
    instance = tmp_path / "instance"
    ep_init_demo(instance)
    env = {**os.environ, "EP_INSTANCE_PATH": str(instance)}
    env.pop("EP_DATABASE_URL", None)
    for args, target in (
        (["backup"], tmp_path / "copie.sqlite3"),
        (["export-users", "--format", "xlsx", "-o"], tmp_path / "utilisateurs.xlsx"),
    ):
        result = subprocess.run([EP, *args, str(target)], env=env, capture_output=True)
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, args
