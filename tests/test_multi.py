"""More than one server process on one database (issue 11.6): processes started together,
real `ep` subprocesses on the suite's engine (the PostgreSQL of EP_TEST_DATABASE_URL, or one
SQLite file), sharing one instance folder as machines share a network folder."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def waiting_sessions(cur, n, timeout=60):
    """PostgreSQL: return once n other sessions of this database wait for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # or the transaction sees its first
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if cur.fetchone()[0] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} sessions never waited together")


@contextlib.contextmanager
def catalogue_locked(url):
    """PostgreSQL: table creation in the database waits until the block ends. Yields
    `waiting(n)`, which returns once n other sessions wait for a lock (any lock)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE pg_catalog.pg_class IN EXCLUSIVE MODE")

            yield lambda n: waiting_sessions(cur, n)
    finally:
        conn.rollback()
        conn.close()


RACE = """
import fcntl, sys
from pathlib import Path
base = Path(sys.argv[1])
from ep import create_app
with open(base / "gate", "rb") as gate:
    (base / sys.argv[2]).touch()
    fcntl.flock(gate, fcntl.LOCK_SH)  # held exclusively by the test until every one waits
print(create_app({"EP_INSTANCE_PATH": str(base / "instance")}).config["SECRET_KEY"])
"""


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_processes_that_start_together_on_a_new_instance_share_one_secret_key(tmp_path):
    """The signing key is made once, in the instance folder, by whichever process starts
    first: the others read that one (today one of them may fail on the file the first
    made, or read it empty)."""
    import fcntl

    n = 6
    gate = open(tmp_path / "gate", "wb")
    fcntl.flock(gate, fcntl.LOCK_EX)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path), f"ready-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(n)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # from "ready" to waiting on the gate
    gate.close()  # every process wakes at once
    results = [(p.wait(60), *(s.read().decode() for s in (p.stdout, p.stderr))) for p in processes]
    for p in processes:
        p.stdout.close()
        p.stderr.close()
    assert [r[0] for r in results] == [0] * n, [r[2][-300:] for r in results]
    keys = {r[1].strip() for r in results}
    assert len(keys) == 1
    assert keys == {(tmp_path / "instance" / "secret_key").read_text().strip()}
