"""More than one server process on one database (issue 11.6): processes started together,
real `ep` subprocesses on the suite's engine (the PostgreSQL of EP_TEST_DATABASE_URL, or one
SQLite file), sharing one instance folder as machines share a network folder."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import TEST_DATABASE_URL, _empty_postgresql

EP = str(Path(sys.executable).with_name("ep"))


def shared_database(tmp_path):
    """The one database the processes share, empty."""
    if TEST_DATABASE_URL:
        _empty_postgresql(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path / 'shared' / 'ep.sqlite3'}"


def environment(tmp_path, url, **settings):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    (tmp_path / "shared").mkdir(exist_ok=True)
    return {
        **environ,
        "EP_INSTANCE_PATH": str(tmp_path / "shared"),
        "EP_DATABASE_URL": url,
        **settings,
    }


def start(commands, env):
    return [
        subprocess.Popen([EP, *c], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]


def finish(processes):
    """Wait for every process; [(status, stdout, stderr)]."""
    results = []
    for p in processes:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out.decode(), err.decode()))
    return results


def test_processes_that_start_together_on_a_new_database_all_start(tmp_path):
    """Each `ep serve` (or `ep init`) creates or upgrades the schema when it starts: several
    started at once on a new database must not trip over each other (today: "relation
    already exists" on PostgreSQL, "database is locked" on SQLite, with a traceback)."""
    url = shared_database(tmp_path)
    env = environment(tmp_path, url)
    if TEST_DATABASE_URL:
        # Deterministic: every process is let through only once all of them are inside their
        # upgrade (creating a table waits while the catalogue is locked; reading does not).
        with catalogue_locked(url) as waiting:
            processes = start([["init"]] * 4, env)
            waiting(4)
    else:  # SQLite: as close together as processes start
        processes = start([["init"]] * 4, env)
    results = finish(processes)
    assert [r[0] for r in results] == [0] * 4, [r[2] for r in results]
    said = sorted(r[1].split(" (")[0] for r in results)
    assert said == ["Base créée", "Base déjà à jour", "Base déjà à jour", "Base déjà à jour"]


@contextlib.contextmanager
def catalogue_locked(url):
    """PostgreSQL: table creation in the database waits until the block ends. Yields
    `waiting(n)`, which returns once n other sessions wait for a lock (any lock)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE pg_catalog.pg_class IN EXCLUSIVE MODE")

            def waiting(n, timeout=60):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    cur.execute(
                        "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND "
                        "pid <> pg_backend_pid()"
                    )
                    if cur.fetchone()[0] >= n:
                        return
                    time.sleep(0.05)
                raise AssertionError(f"{n} sessions never waited together")

            yield waiting
    finally:
        conn.rollback()
        conn.close()
