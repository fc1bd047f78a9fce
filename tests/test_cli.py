"""The `ep` command line, run as an operator would: the installed console script."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

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
