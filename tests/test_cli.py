"""The `ep` command line, run as an operator would: the installed console script."""

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port, on_postgresql

EP = str(Path(sys.executable).with_name("ep"))


@pytest.fixture
def env(tmp_path):
    return {
        **os.environ,
        "EP_INSTANCE_PATH": str(tmp_path / "instance"),
        "EP_DEMO_PASSWORD": "demo password 2026",
    }


def ep(env, *args, stdin=None):
    return subprocess.run(
        [EP, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def count(env, table):
    db = Path(env["EP_INSTANCE_PATH"]) / "ep.sqlite3"
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_init_is_idempotent_and_demo_loads_once(env):
    first = ep(env, "init", "--demo")
    assert first.returncode == 0, first.stderr
    assert "caisse.demo" in first.stdout and "demo password 2026" in first.stdout
    accounts = count(env, "account")
    again = ep(env, "init", "--demo")
    assert again.returncode == 0
    assert "déjà" in again.stdout
    assert count(env, "account") == accounts == 6


CREATE_AGENT = ["create-user", "--role", "caisse", "--caisse", "CPAM de Test"]
CREATE_AGENT += ["--username", "agent.test", "--email", "agent@example.org"]


def create_agent(env):
    return ep(env, *CREATE_AGENT, stdin="une phrase de passe robuste\n")


def test_create_user_reads_the_password_from_stdin(env):
    result = create_agent(env)
    assert result.returncode == 0, result.stderr
    assert count(env, "caisse") == 1
    duplicate = create_agent(env)
    assert duplicate.returncode != 0
    assert duplicate.stderr.strip().count("\n") == 0 and "existe déjà" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr


@pytest.mark.parametrize(
    "args, stdin",
    [
        (
            [
                "create-user",
                "--role",
                "caisse",
                "--caisse",
                "C",
                "--username",
                "a.b",
                "--email",
                "pas-une-adresse",
            ],
            "une phrase de passe robuste\n",
        ),
        (
            [
                "create-user",
                "--role",
                "caisse",
                "--caisse",
                "C",
                "--username",
                "a.b",
                "--email",
                "a@example.org",
            ],
            "court\n",
        ),
        (
            [
                "create-user",
                "--role",
                "admin",
                "--caisse",
                "C",
                "--username",
                "a.b",
                "--email",
                "a@example.org",
            ],
            "une phrase de passe robuste\n",
        ),
        (["serve", "--port", "99999"], None),
        (["serve", "--connection-limit", "0"], None),
        (["serve", "--channel-timeout", "abc"], None),
        (["inconnue"], None),
    ],
)
def test_bad_input_gives_one_line_and_non_zero(env, args, stdin):
    result = ep(env, *args, stdin=stdin)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_backup_is_a_consistent_copy(env, tmp_path):
    assert ep(env, "init", "--demo").returncode == 0
    target = tmp_path / "copie.sqlite3"
    result = ep(env, "backup", str(target))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM account").fetchone()[0] == 6
    again = ep(env, "backup", str(target))
    assert again.returncode != 0 and "existe déjà" in again.stderr


def test_backup_before_init_says_so(env, tmp_path):
    result = ep(env, "backup", str(tmp_path / "copie.sqlite3"))
    assert result.returncode != 0 and "ep init" in result.stderr
    assert not (tmp_path / "copie.sqlite3").exists()


def test_maintenance_is_announced_to_users_beforehand(env):
    from datetime import datetime, timedelta

    assert ep(env, "init", "--demo").returncode == 0
    start = (datetime.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=3)
    result = ep(
        env,
        "maintenance",
        "--start",
        start.strftime("%Y-%m-%d %H:%M"),
        "--end",
        end.strftime("%Y-%m-%d %H:%M"),
    )
    assert result.returncode == 0, result.stderr
    assert start.strftime("%d/%m/%Y à %H:%M") in result.stdout

    from ep import create_app

    app = create_app({"EP_INSTANCE_PATH": env["EP_INSTANCE_PATH"], "TESTING": True})
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "Maintenance :" in page and start.strftime("%d/%m/%Y à %H:%M") in page
    bad = ep(env, "maintenance", "--start", "2026-12-01 20:00", "--end", "2026-12-01 19:00")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert ep(env, "maintenance", "--clear").returncode == 0
    assert "Maintenance :" not in app.test_client().get("/login").get_data(as_text=True)


@contextlib.contextmanager
def serving(env, tmp_path, *args, shell_prefix=""):
    """`ep init` then `ep serve` on a free port; yields (base URL, stdout+stderr file, pid)."""
    assert ep(env, "init").returncode == 0
    port = free_port()
    log = tmp_path / "serve.log"
    command = [EP, "serve", "--port", str(port), *args]
    if shell_prefix:  # e.g. `ulimit -Sn 256`, then the same command
        command = ["sh", "-c", f'{shell_prefix} && exec "$@"', "sh", *command]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not healthy(base, timeout=1):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "ep serve did not start"
            time.sleep(0.1)
        yield base, log, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def healthy(base, timeout):
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def open_slow_clients(base, n):
    """n clients that connect and stall: half send nothing, half start a request line."""
    port = int(base.rsplit(":", 1)[1])
    clients = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        clients.append(s)
    return clients


def trickle(clients):
    """One more header byte from each talking client: alive, never finished (slowloris)."""
    for s in clients[1::2]:
        with contextlib.suppress(OSError):
            s.sendall(b"a")


@pytest.mark.skipif(
    on_postgresql(), reason="waitress' connections, not the database: 20 s, once (SQLite run)"
)
def test_slow_clients_do_not_starve_healthz(env, tmp_path):
    """120 clients that open a connection and never finish a request: for 20 s, /healthz
    still answers within 2 s (waitress' default limit of 100 connections stopped accepting)."""
    with serving(env, tmp_path) as (base, _, _pid):
        clients = open_slow_clients(base, 120)
        try:
            start = last_trickle = time.monotonic()
            checks = 0
            while time.monotonic() - start < 20:
                began = time.monotonic()
                assert healthy(base, timeout=2), f"/healthz failed after {began - start:.1f} s"
                checks += 1
                if time.monotonic() - last_trickle > 5:
                    trickle(clients)
                    last_trickle = time.monotonic()
                time.sleep(0.5)
            assert checks >= 20
        finally:
            for s in clients:
                s.close()


def test_connection_limit_option_stops_accepting_beyond_it(env, tmp_path):
    with serving(env, tmp_path, "--connection-limit", "10") as (base, log, _pid):
        clients = open_slow_clients(base, 12)
        try:
            assert not healthy(base, timeout=1.5)
        finally:
            for s in clients:
                s.close()
        deadline = time.monotonic() + 10
        while not healthy(base, timeout=1):
            assert time.monotonic() < deadline
    assert "connection limit" in log.read_text()


def test_idle_connections_are_closed_after_the_channel_timeout(env, tmp_path):
    env = {**env, "EP_CHANNEL_TIMEOUT": "2"}
    with serving(env, tmp_path) as (base, log, _pid):
        (idle, talking) = open_slow_clients(base, 2)
        with idle, talking:
            idle.settimeout(10)
            talking.settimeout(10)
            began = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server
            assert talking.recv(1) == b""  # a request never finished is dropped too
            assert time.monotonic() - began < 8
    assert "2 s" in log.read_text()


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="Linux /proc")
def test_serve_raises_its_open_file_limit_to_fit_the_connection_limit(env, tmp_path):
    """Under a common soft limit of 256 open files, 500 connections would run out of them."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip("hard limit of open files too low here")
    with serving(env, tmp_path, shell_prefix="ulimit -Sn 256") as (base, _, pid):
        limits = Path(f"/proc/{pid}/limits").read_text()
    soft = int(next(line for line in limits.splitlines() if "open files" in line).split()[3])
    assert soft >= 2 * 500 + 100


@pytest.mark.parametrize(
    "args, french",
    [
        (["--help"], "Utilisation : ep"),
        (["housekeeping", "--today", "2026-13-45"], "Valeur invalide pour '--today'"),
        (["create-user", "--role", "caisse"], "Option manquante"),
        (["serve", "--port", "0"], "n'est pas dans l'intervalle"),
        (["nimporte"], "Commande inconnue"),
        (["export-users", "--format", "pdf"], "n'est pas 'csv', 'xlsx'"),
    ],
)
def test_command_line_messages_are_in_french(env, args, french):
    """Issue 10.8: click's own messages came out in English."""
    result = subprocess.run([EP, *args], env=env, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert french in output, output
    for english in ("Usage:", "Error:", "Missing option", "Invalid value", "No such"):
        assert english not in output


def test_no_lazy_plurals_in_the_product():
    """Issue 10.8: "1 compte(s)", "1 membres". Words agree with their number."""
    import ast
    import re
    from pathlib import Path

    from ep.text import plural

    root = Path(__file__).parent.parent / "ep"
    lazy = re.compile(r"\w\(s\)")
    texts = []  # what a user may read: templates, and the strings of the code
    for path in [*root.rglob("*.html"), *root.rglob("*.txt")]:
        texts += [(path.name, line) for line in path.read_text().splitlines()]
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.append((path.name, node.value))
    found = [
        (name, text)
        for name, text in texts
        if lazy.search(text) and "compte(s) gestionnaire(s)" not in text  # a motif's label
    ]
    assert found == []
    assert plural(1, "compte") == "1 compte" and plural(0, "membre") == "0 membre"
    assert plural(2, "inactivation programmée") == "2 inactivations programmées"
    assert plural(3, "jour ouvré") == "3 jours ouvrés"


@pytest.mark.parametrize(
    "args",
    [
        ["housekeeping", "--today", "0001-01-01"],
        ["housekeeping", "--today", "9999-12-31"],
        ["maintenance", "--start", "0001-01-01 00:00", "--end", "2026-12-01 19:00"],
        ["maintenance", "--start", "2026-12-01 19:00", "--end", "9999-12-31 23:59"],
    ],
)
def test_dates_outside_1900_2100_are_refused_in_one_line(env, args):
    assert ep(env, "init").returncode == 0
    result = ep(env, *args)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "entre 1900 et 2100" in result.stderr
