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


class Browser:
    """One browser: its cookies go to every server (same host, other ports), as behind a
    reverse proxy that spreads requests over the processes."""

    def __init__(self):
        import http.cookiejar
        import urllib.request

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open(self, url, data=None):
        """(status, final path, page) — redirects followed."""
        import urllib.error
        import urllib.parse

        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(url, body, timeout=60) as response:
                path = urllib.parse.urlsplit(response.url).path
                return response.status, path, response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, "", exc.read().decode()

    def token(self, url):
        import re

        page = self.open(url)[2]
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    def post(self, url, data, token_from=None):
        """A form posted to `url` with the CSRF token of the page at `token_from` (which
        may be served by another process)."""
        return self.open(url, {**data, "csrf_token": self.token(token_from or url)})

    def login(self, server, username, password, other=None):
        return self.post(
            f"{server}/login",
            {"username": username, "password": password},
            token_from=f"{other or server}/login",
        )


def serve(env, port, log):
    return subprocess.Popen(
        [EP, "serve", "--port", str(port), "--threads", "8"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"still waiting for {what}")


def answering(base):
    import urllib.request

    try:
        urllib.request.urlopen(base + "/healthz", timeout=1).close()
        return True
    except OSError:
        return False


TECH = {
    "civilite": "Mme",
    "fonction": "Conseillère",
    "telephone": "03 89 00 00 00",
    "attest_employment": "y",
    "attest_equipment": "y",
    "attest_email": "y",
}


def test_two_servers_on_one_database(tmp_path):
    """Two `ep serve` processes on one database and one instance folder, as behind a reverse
    proxy (docs/deployment.md): a session opened on one is valid on the other and ends on
    both; wrong passwords sent to both lock the account after exactly the limit; the quota
    holds when both create accounts at once; the nightly rules, asked by both at once, run
    once; every e-mail reaches the real SMTP server once, whichever sender sent it."""
    import collections
    import email
    from concurrent.futures import ThreadPoolExecutor
    from datetime import date, datetime, timedelta
    from email import policy

    from ep import db
    from ep.models import Account, NightlyRun, Notice

    from .conftest import PASSWORD, free_port
    from .test_notices import start_smtp

    url = shared_database(tmp_path)
    env = environment(tmp_path, url, EP_DEMO_PASSWORD=PASSWORD)
    init = subprocess.run([EP, "init", "--demo"], env=env, capture_output=True, timeout=120)
    assert init.returncode == 0, init.stderr
    handle = db.make_database(url)
    with handle.connection_context(), Account.bind_ctx(handle), Notice.bind_ctx(handle):
        long_ago = datetime.now() - timedelta(days=120)  # idle: tonight's rules inactivate it
        Account.update(last_login_at=long_ago, created_at=long_ago).where(
            Account.username == "technicien.voisin"
        ).execute()
        notices_before = Notice.select().count()

    smtp_port = free_port()
    controller, inbox = start_smtp(smtp_port)
    env.update(EP_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}", EP_MAIL_POLL_SECONDS="1")
    env.update(EP_BASE_URL="http://ep.example.org")  # the reverse proxy's address
    ports = [free_port(), free_port()]
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    holder = None
    if TEST_DATABASE_URL:  # both servers made to ask for the night at the same moment
        import psycopg2

        holder = psycopg2.connect(url)
        cur = holder.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('ep.nightly'))")
    logs = [open(tmp_path / f"serve-{i}.log", "wb") for i in range(2)]
    servers = [serve(env, port, log) for port, log in zip(ports, logs, strict=True)]
    try:
        wait_until(lambda: answering(a) and answering(b), what="both servers")
        if holder is not None:
            waiting_sessions(cur, 2)
            holder.rollback()
            holder.close()
            holder = None

        # Nightly rules: asked by both, run by one.
        def night_done():
            with handle.connection_context(), NightlyRun.bind_ctx(handle):
                return NightlyRun.select().where(NightlyRun.finished_at.is_null(False)).exists()

        wait_until(night_done, what="the night's rules")
        with handle.connection_context(), NightlyRun.bind_ctx(handle):
            [night] = NightlyRun.select()
        assert night.day == date.today()
        assert night.runner.rsplit(":", 1)[1] in {str(s.pid) for s in servers}

        # A session opened on A is valid on B (and its form tokens too), and ends on both.
        user = Browser()
        status, path, _ = user.login(a, "gestionnaire.voisin", PASSWORD)
        assert status == 200 and path == "/cgu"
        status, path, _ = user.post(f"{b}/cgu?next=/", {"accept": "y"}, token_from=f"{a}/cgu")
        assert status == 200 and path == "/"
        status, path, page = user.open(f"{b}/accounts/")
        assert (status, path) == (200, "/accounts/") and "technicien.voisin" in page
        user.post(f"{a}/logout", {}, token_from=f"{b}/accounts/")
        assert user.open(f"{b}/accounts/")[1] == "/login"

        # The quota of CCAS Voisin (effectif 5: 5 techniciens; its one is inactive now)
        # holds when eight creations reach both servers at once.
        user = Browser()
        user.login(b, "gestionnaire.voisin", PASSWORD)

        def create(i):
            server = (a, b)[i % 2]
            data = dict(TECH, nom=f"Quota{i}", prenom="Test", email=f"quota{i}@example.org")
            return user.post(f"{server}/accounts/new", data, token_from=f"{(b, a)[i % 2]}/")

        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(create, range(8)))
        assert (
            sorted(path.startswith("/accounts/new") for _, path, _ in created)
            == [False] * 5 + [True] * 3
        )
        assert sum("Quota atteint" in page for _, _, page in created) == 3

        # Wrong passwords sent to both servers at once: exactly the free ones are checked.
        def wrong(i):
            server, other = ((a, b), (b, a))[i % 2]
            return Browser().login(server, "carsat.demo", "pas le bon", other=other)[2]

        with ThreadPoolExecutor(12) as pool:
            pages = list(pool.map(wrong, range(12)))
        free = 5  # EP_LOGIN_FREE_FAILURES
        assert sum("Identifiant ou mot de passe incorrect" in p for p in pages) == free
        assert sum("Trop de tentatives" in p for p in pages) == 12 - free
        assert "Trop de tentatives" in Browser().login(b, "carsat.demo", PASSWORD, other=a)[2]

        # Every e-mail queued by either server (invitations, the night's) leaves once.
        def outbox_empty():
            with handle.connection_context(), Notice.bind_ctx(handle):
                return not Notice.select().where(Notice.status == "pending").exists()

        wait_until(outbox_empty, what="the outbox to empty")
        with handle.connection_context(), Notice.bind_ctx(handle):
            queued = [
                (n.recipient, n.subject)
                for n in Notice.select().order_by(Notice.id).offset(notices_before)
            ]
        delivered = []
        for recipients, content in inbox.messages:
            message = email.message_from_string(content, policy=policy.default)
            delivered += [(r, str(message["Subject"])) for r in recipients]
        assert collections.Counter(delivered) == collections.Counter(queued)
        assert sum(r.startswith("quota") for r, _ in queued) == 5
        assert any("inactivé" in s for r, s in queued if r.startswith("technicien.voisin"))
    finally:
        if holder is not None:
            holder.close()
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait(timeout=20)
        for log in logs:
            log.close()
        controller.stop()
