"""HTTP load benchmark of issue 11: one configuration per run, results in BENCHMARKS.md.

    python bench/run.py --size 10000 --label "10 000 SQLite after"
    python bench/run.py --instance /tmp/gen1m --label "1 000 000 SQLite after"
    python bench/run.py --database-url postgresql://postgres@127.0.0.1:55433/ep_1m \\
        --label "1 000 000 PostgreSQL after"
    git worktree add /tmp/ep-before 43cf69c^          # the code before issue 11
    python bench/run.py --instance /tmp/gen1m --code /tmp/ep-before \\
        --label "1 000 000 SQLite before"
    python bench/run.py --report      # only rebuild BENCHMARKS.md from bench/results/*.json

A quick check that everything works (a few minutes; its report goes to /tmp/try/):
    python bench/run.py --size 10000 --label try --duration 3 --repeat 1 \\
        --write-duration 10 --max-duration 30 --results /tmp/try

What one run does, on a COPY of the data (the --instance folder or the --database-url
database are never written to; --size generates a new set with bench/generate.py instead,
in SQLite, or in a new database of the --database-url server):
  1. brings the copy to the schema of the code served (--code PATH, default this tree): an
     empty database is created by that code and every index or trigger the copy has and it
     has not is dropped, so that older code is measured without the newer indexes (a newer
     schema-version marker is set back to the code's, if no column the code needs is
     missing); PostgreSQL sequences behind their table are moved on; then ANALYZE, as a
     deployment would after a load (--no-analyze to compare);
  2. serves the copy with `ep serve` from that code (PYTHONPATH=PATH, a free port, its
     default threads, or --threads), and a bare Flask hello world (bench/hello.py) with the
     same waitress settings; waits until the server's start-up housekeeping has finished;
  3. logs in technicien.demo, caisse.demo and gestionnaire.demo (password EP_DEMO_PASSWORD,
     default "mot de passe du banc 2026", that of every generated account) and loads each
     page with wrk (bench/wrk/page.lua, the session cookie replayed) at 1 and at 16
     concurrent clients, --duration seconds each (a page too slow to give every client 2
     answers gets a longer run, up to --max-duration), --repeat times; after each wrk run,
     waits until the server has finished the requests wrk left in flight;
  4. --writers (50) techniciens of as many structures post the real new-request form with
     their CSRF token for --write-duration seconds (bench/wrk/submit.lua, one wrk thread per
     connection), then the database is checked: every acknowledged request stored once,
     none lost;
  5. the caisse's users export, CSV then XLSX, each on a server just started: time, and
     peak memory growth (VmHWM from /proc/<pid>/status, reset first);
  6. `ep housekeeping` while two pages are read in a loop (their latency during the run);
  7. writes <results>/<label>.json (--results, default bench/results/) and rebuilds the
     section of BENCHMARKS.md between the markers from every result file there (for another
     --results folder, FOLDER/BENCHMARKS.md).
--skip pages,write,export,housekeeping leaves parts out; --keep keeps the copy and the
server logs (the path is printed); exceptions in the server's log are counted in the results.

Needs wrk (Debian: `apt-get install -y wrk`) and, for PostgreSQL, psycopg2 (the project's
`[postgresql]` extra). wrk and the server share the machine's cores, and timings depend on
whatever else runs: compare configurations measured on the same quiet machine.
"""

import argparse
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report import (  # noqa: E402
    BENCHMARKS,
    CLIENTS,
    PAGES,
    RESULTS,
    fmt_ms,
    result_file,
    write_report,
)

WRK_DIR = HERE / "wrk"
PASSWORD = os.environ.get("EP_DEMO_PASSWORD", "mot de passe du banc 2026")
PAGE_SIZE = 25  # EP_PAGE_SIZE's default: which page of the history is the last
USERS = {
    "technicien": "technicien.demo",
    "caisse": "caisse.demo",
    "gestionnaire": "gestionnaire.demo",
}


class BenchError(Exception):
    """Something that stops the run, said in one line."""


def say(message):
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- HTTP client (logins, single requests, the housekeeping probe) ---------------------------


class Client:
    """A keep-alive HTTP/1.1 client with its own cookies, like one browser tab."""

    def __init__(self, base, timeout=600):
        parts = urlsplit(base)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.cookies = {}
        self.conn = None

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method, path, body=None, headers=None, stream=None):
        """(status, headers, body); `stream(chunk)` receives the body instead when given."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        for raw in response.msg.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(raw)
            for name, morsel in cookie.items():
                gone = morsel["max-age"] == "0" or (
                    morsel["expires"] and "1970" in morsel["expires"]
                )
                if gone:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if stream is None:
            data = response.read()
        else:
            data = b""
            while chunk := response.read(65536):
                stream(chunk)
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, fields):
        body = urlencode(fields).encode()
        return self.request(
            "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def csrf_token(html):
    found = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html)
    if not found:
        raise BenchError("no CSRF token in the page")
    return found.group(1).decode()


def login(base, username):
    """A client logged in as `username`, its CGU accepted."""
    client = Client(base)
    _, _, page = client.get("/login")
    status, headers, _ = client.post(
        "/login",
        {"csrf_token": csrf_token(page), "username": username, "password": PASSWORD},
    )
    if status not in (302, 303):
        raise BenchError(f"login of {username} refused (HTTP {status})")
    status, headers, _ = client.get("/")
    if status in (302, 303) and urlsplit(headers.get("location", "")).path == "/cgu":
        _, _, page = client.get("/cgu")
        client.post("/cgu?next=/", {"csrf_token": csrf_token(page), "accept": "y"})
        status, headers, _ = client.get("/")
    if status != 200:
        raise BenchError(
            f"{username}: home page answered {status} {headers.get('location', '')} after login"
        )
    return client


# --- processes -------------------------------------------------------------------------------


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra):
    """The environment without the caller's EP_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def ep_command(*args):
    return [sys.executable, "-c", "from ep.cli import main; main()", *args]


class Code:
    """The checkout whose `ep` is served (PYTHONPATH), and how to run its commands."""

    def __init__(self, path):
        self.path = Path(path).resolve()
        if not (self.path / "ep" / "cli.py").exists():
            raise BenchError(f"--code {path}: no ep/cli.py there")

    def env(self, instance, database_url=None):
        env = clean_env(
            EP_INSTANCE_PATH=instance,
            EP_DATABASE_URL=database_url,
            EP_DEMO_PASSWORD=PASSWORD,
        )
        env["PYTHONPATH"] = str(self.path) + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def run(self, env, *args, check=True):
        done = subprocess.run(
            ep_command(*args), env=env, cwd=self.path, capture_output=True, text=True
        )
        if check and done.returncode:
            raise BenchError(f"ep {' '.join(args)}: {(done.stderr or done.stdout).strip()[-300:]}")
        return done

    def check_import(self, env):
        where = subprocess.run(
            [sys.executable, "-c", "import ep; print(ep.__file__)"],
            env=env,
            cwd=self.path,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not where.startswith(str(self.path)):
            raise BenchError(f"the server would import ep from {where}, not from {self.path}")

    def git(self):
        def git(*args):
            done = subprocess.run(
                ["git", "-C", str(self.path), *args], capture_output=True, text=True
            )
            return done.stdout.strip() if done.returncode == 0 else None

        commit = git("rev-parse", "HEAD")
        return {
            "path": str(self.path),
            "commit": commit,
            "commit_date": git("log", "-1", "--format=%cI") if commit else None,
            "subject": git("log", "-1", "--format=%s") if commit else None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }


class Process:
    """A server we started: its pid, CPU time and memory from /proc."""

    def __init__(self, argv, env, cwd, log):
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )
        self.pid = self.popen.pid

    def wait_http(self, base, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise BenchError(f"the server stopped: {self.tail()}")
            try:
                status, _, _ = Client(base, timeout=5).get(path)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"no answer from {base}{path} after {timeout} s: {self.tail()}")

    def log_size(self):
        try:
            return Path(self.log).stat().st_size
        except OSError:
            return 0

    def errors_since(self, offset):
        """The exceptions the server logged since `offset`: last line of each traceback, and
        how many times."""
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return {}
        return log_errors(text)

    def tail(self):
        try:
            return Path(self.log).read_text(errors="replace").strip()[-500:]
        except OSError:
            return ""

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status_kb(self, name):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        return None

    def reset_peak(self):
        """Start VmHWM again from the current RSS (Linux: clear_refs 5); False if refused."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def settle(self, quiet=0.05, seconds=3, timeout=1800):
        """Wait until the process uses less than `quiet` of a core for `seconds` in a row (the
        start-up housekeeping of `ep serve` runs in a thread); returns the time waited."""
        started = time.monotonic()
        calm, last = 0, self.cpu_seconds()
        while calm < seconds and time.monotonic() - started < timeout:
            time.sleep(1)
            now = self.cpu_seconds()
            calm = calm + 1 if now - last < quiet else 0
            last = now
        return time.monotonic() - started

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def log_errors(text):
    counts = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            for follow in lines[i + 1 :]:
                if follow and not follow.startswith((" ", "\t")):
                    counts[follow[:300]] = counts.get(follow[:300], 0) + 1
                    break
    return counts


SERVE_LINE = re.compile(
    r"(?P<limit>\d+) connexions au plus, fermées après (?P<timeout>\d+) s.*?(?P<threads>\d+) fils"
)


def serve_settings(process, threads):
    """What `ep serve` said it listens with (threads, connection limit, idle timeout)."""
    found = SERVE_LINE.search(process.tail() or "")
    if found:
        return {k: int(v) for k, v in found.groupdict().items()}
    return {"threads": threads or 8, "limit": 500, "timeout": 30}


# --- wrk -------------------------------------------------------------------------------------


class Wrk:
    def __init__(self, work, server):
        self.work, self.server, self.n = Path(work), server, 0
        if shutil.which("wrk") is None:
            raise BenchError("wrk is missing: apt-get install -y wrk")

    def run(
        self,
        url,
        *,
        clients,
        duration,
        script="page.lua",
        headers=(),
        threads=None,
        env=None,
        timeout=60,
    ):
        self.n += 1
        out = self.work / f"wrk-{self.n}.json"
        threads = threads or min(clients, 2)
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{duration}s",
            f"--timeout={timeout}s",
            "-s",
            str(WRK_DIR / script),
        ]
        for header in headers:
            argv += ["-H", header]
        argv.append(url)
        wrk_env = {**os.environ, "WRK_OUT": str(out), "WRK_LUA_DIR": str(WRK_DIR), **(env or {})}
        cpu = self.server.cpu_seconds() if self.server else None
        done = subprocess.run(argv, env=wrk_env, capture_output=True, text=True)
        if done.returncode or not out.exists():
            raise BenchError(f"wrk failed: {(done.stderr or done.stdout).strip()[-300:]}")
        raw = json.loads(out.read_text())
        if self.server:
            raw["server_cpu_s"] = self.server.cpu_seconds() - cpu
            # wrk stops at its deadline, leaving requests in flight that the server still
            # works on: the next measure starts when it is done
            self.server.settle(seconds=1, timeout=900)
        raw["duration_asked_s"] = duration
        return raw

    def load(self, url, *, clients, duration, headers=(), max_duration=120):
        """`clients` concurrent clients on one URL for `duration` seconds, longer for a slow
        page: until each client has had 2 answers (one client: 5), up to `max_duration`."""
        need = max(5, 2 * clients)
        while True:
            raw = self.run(url, clients=clients, duration=duration, headers=headers)
            if raw["requests"] >= need or duration >= max_duration:
                return raw
            more = max(2, 1.5 * need / max(raw["requests"], 1))
            duration = min(max_duration, math.ceil(duration * more))
            say(f"  only {raw['requests']} answers: again for {duration} s")


def summarise(raw):
    """The figures of one wrk run, in ms and requests per second."""
    latency = raw["latency_us"]
    seconds = raw["duration_us"] / 1e6
    statuses = raw.get("statuses") or {}
    if isinstance(statuses, list):  # an empty Lua table
        statuses = {}
    requests = raw["requests"]
    cpu = raw.get("server_cpu_s")

    def ms(key):  # wrk says 0 when nothing was answered
        return latency[key] / 1000 if requests else None

    return {
        "p50": ms("p50"),
        "p95": ms("p95"),
        "p99": ms("p99"),
        "mean": ms("mean"),
        "max": ms("max"),
        "rps": requests / seconds if seconds else 0,
        "requests": requests,
        "errors": sum(raw["errors"][k] for k in ("connect", "read", "write", "timeout")),
        "non2xx": sum(n for code, n in statuses.items() if not 200 <= int(code) < 300),
        "statuses": statuses,
        "server_cpu_ms_per_request": cpu * 1000 / requests
        if cpu is not None and requests
        else None,
        "duration_s": raw.get("duration_asked_s"),
    }


def combine(runs):
    """Repeats of one measure: each figure's median, min and max, and the runs themselves."""
    numeric = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and v is not None]
    result = {"runs": runs, "median": {}, "min": {}, "max": {}}
    for key in numeric:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            result["median"][key] = statistics.median(values)
            result["min"][key] = min(values)
            result["max"][key] = max(values)
    return result


# --- databases -------------------------------------------------------------------------------


class Database:
    """A plain DB-API connection to the copy (sqlite3 or psycopg2), autocommit."""

    def __init__(self, url):
        self.url = url
        if url.startswith("sqlite:///"):
            self.engine = "sqlite"
            self.conn = sqlite3.connect(url[len("sqlite:///") :], timeout=60, isolation_level=None)
        else:
            self.engine = "postgresql"
            try:
                import psycopg2
            except ImportError as exc:
                raise BenchError("psycopg2 is missing: pip install -e '.[postgresql]'") from exc
            self.conn = psycopg2.connect(url)
            self.conn.autocommit = True

    def query(self, sql, params=()):
        if self.engine == "postgresql":
            sql = sql.replace("?", "%s")
        cursor = self.conn.cursor()
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        cursor.close()
        return rows

    def scalar(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def version(self):
        if self.engine == "sqlite":
            return "SQLite " + self.scalar("SELECT sqlite_version()")
        return "PostgreSQL " + self.scalar("SHOW server_version").split()[0]

    def close(self):
        self.conn.close()


def schema_objects(db):
    """Tables with their columns, indexes and triggers (name -> table) and how to create
    them (name -> SQL), the schema version."""
    if db.engine == "sqlite":
        tables = {
            name: {row[1] for row in db.query(f'PRAGMA table_info("{name}")')}
            for (name,) in db.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        rows = db.query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
        )
        indexes = {name: table for kind, name, table, _ in rows if kind == "index"}
        triggers = {name: table for kind, name, table, _ in rows if kind == "trigger"}
        sql = {name: text for _, name, _, text in rows}
    else:
        tables = {}
        for table, column in db.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ):
            tables.setdefault(table, set()).add(column)
        index_rows = db.query(
            "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND indexname NOT IN (SELECT c.relname FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conindid)"
        )
        trigger_rows = db.query(
            "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT t.tgisinternal AND n.nspname = 'public'"
        )
        indexes = {name: table for name, table, _ in index_rows}
        triggers = {name: table for name, table, _ in trigger_rows}
        sql = {name: text for name, _, text in index_rows + trigger_rows}
    version = (
        db.scalar("SELECT version FROM schema_version") if "schema_version" in tables else None
    )
    return {
        "tables": tables,
        "indexes": indexes,
        "triggers": triggers,
        "sql": sql,
        "version": version,
    }


def _missing(code_schema, data_schema):
    return sorted(
        f"{table}.{column}"
        for table, columns in code_schema["tables"].items()
        for column in columns - data_schema["tables"].get(table, set())
    )


def align_schema(code_schema, db, upgrade=lambda: None):
    """Make the copy look like a database the served code created: a schema-version marker
    newer than the code goes back to the code's version (refused if the code would miss a
    column), the code's own upgrade runs (`upgrade`), then every index and trigger the code
    would not create is dropped, and every one it would create and the copy lacks (an index a
    later schema dropped) is created. Returns what was done, one line each."""
    notes = []
    data = schema_objects(db)
    if data["version"] and code_schema["version"] and data["version"] > code_schema["version"]:
        missing = _missing(code_schema, data)
        if missing:
            raise BenchError(f"the data lacks what the code needs: {', '.join(missing[:5])}")
        db.query("UPDATE schema_version SET version = ?", (code_schema["version"],))
        notes.append(f"schema version {data['version']} marked {code_schema['version']}")
    upgrade()
    data = schema_objects(db)
    missing = _missing(code_schema, data)
    if missing:
        raise BenchError(f"the data lacks what the code needs: {', '.join(missing[:5])}")
    for name in sorted(set(data["triggers"]) - set(code_schema["triggers"])):
        on = f' ON "{data["triggers"][name]}"' if db.engine == "postgresql" else ""
        db.query(f'DROP TRIGGER "{name}"{on}')
        notes.append(f"dropped trigger {name}")
    for name in sorted(set(data["indexes"]) - set(code_schema["indexes"])):
        db.query(f'DROP INDEX "{name}"')
        notes.append(f"dropped index {name}")
    for kind, word in (("indexes", "index"), ("triggers", "trigger")):
        for name in sorted(set(code_schema[kind]) - set(data[kind])):
            try:
                db.query(code_schema["sql"][name])
                notes.append(f"created {word} {name}")
            except Exception as exc:  # e.g. a trigger's function the data lacks
                raise BenchError(f"cannot create {name} on the copy: {exc}".strip()) from exc
    extra = sorted(set(data["tables"]) - set(code_schema["tables"]))
    if extra:
        notes.append(f"tables the code does not know, left: {', '.join(extra)}")
    return notes


def pg_admin_url(url, dbname="postgres"):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def pg_create(url, name, template=None):
    """A new database on the server of `url` (a copy of `template` when given)."""
    admin = Database(pg_admin_url(url))
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        try:
            admin.query(f'CREATE DATABASE "{name}"{clause}')
        except Exception as exc:
            raise BenchError(f"cannot create database {name}{clause}: {exc}".strip()) from exc
    finally:
        admin.close()
    return pg_admin_url(url, name)


def pg_drop(url):
    name = urlsplit(url).path.lstrip("/")
    admin = Database(pg_admin_url(url))
    try:
        admin.query(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def fix_sequences(db):
    """PostgreSQL sequences behind their table's largest id (data inserted with explicit ids,
    e.g. by an older bench/generate.py) are moved past it: otherwise every new row collides."""
    notes = []
    for sequence, table, column in db.query(
        "SELECT s.relname, t.relname, a.attname FROM pg_class s "
        "JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' "
        "JOIN pg_class t ON t.oid = d.refobjid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        "WHERE s.relkind = 'S'"
    ):
        largest = db.scalar(f'SELECT MAX("{column}") FROM "{table}"')
        last, called = db.query(f'SELECT last_value, is_called FROM "{sequence}"')[0]
        following = last + 1 if called else last
        if largest is not None and following <= largest:
            db.query("SELECT setval(?, ?, false)", (sequence, largest + 1))
            notes.append(f"sequence {sequence} was behind {table}.{column} ({last}): moved on")
    return notes


SIZES = {
    "structures": "partner",
    "comptes": "account",
    "demandes": "demande",
    "échanges": "demande_event",
    "messages": "message",
    "pièces jointes": "attachment",
    "revues": "review",
    "journal": "audit_event",
}


def count_sizes(db):
    sizes = {}
    for label, table in SIZES.items():
        try:
            sizes[label] = db.scalar(f"SELECT COUNT(*) FROM {table}")
        except Exception:  # a table this schema does not have
            sizes[label] = None
    return sizes


# --- the run ---------------------------------------------------------------------------------


def machine():
    def first(path, key):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None

    mem = first("/proc/meminfo", "MemTotal")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    try:
        from importlib.metadata import version

        waitress = version("waitress")
    except Exception:
        waitress = None
    return {
        "cores": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "ram_gib": round(int(mem.split()[0]) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "waitress": waitress,
        "wrk": " ".join(wrk.split()[:2]) if wrk else None,
        "os": platform.platform(),
    }


class Run:
    def __init__(self, args):
        self.args = args
        self.code = Code(args.code)
        self.work = Path(tempfile.mkdtemp(prefix="ep-bench-"))
        self.cleanups = []
        self.processes = []
        self.result = {"label": args.label}

    # data -----------------------------------------------------------------------------------

    def prepare_data(self):
        """A copy of the data to serve: instance folder, and database URL."""
        args = self.args
        instance = self.work / "instance"
        url = None
        if args.size:
            instance.mkdir()
            env = clean_env(EP_DEMO_PASSWORD=PASSWORD)
            if args.database_url:
                url = pg_create(args.database_url, f"ep_bench_{os.getpid()}_data")
                self.cleanups.append(lambda: pg_drop(url))
                env["EP_DATABASE_URL"] = url
            say(f"generating {args.size:,} requests with bench/generate.py")
            done = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "generate.py"),
                    "--partners",
                    str(args.partners),
                    "--accounts",
                    str(args.accounts),
                    "--requests",
                    str(args.size),
                    "--instance",
                    str(instance),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode:
                raise BenchError(f"generate.py: {(done.stderr or done.stdout).strip()[-300:]}")
            say(done.stdout.strip())
        elif args.database_url:
            if args.instance:
                shutil.copytree(
                    args.instance, instance, ignore=shutil.ignore_patterns("ep.sqlite3*")
                )
            else:
                instance.mkdir()
            source = urlsplit(args.database_url).path.lstrip("/")
            say(f"copying database {source}")
            url = pg_create(args.database_url, f"ep_bench_{os.getpid()}_copy", template=source)
            self.cleanups.append(lambda: pg_drop(url))
        else:
            if not (Path(args.instance) / "ep.sqlite3").exists():
                raise BenchError(f"--instance {args.instance}: no ep.sqlite3 there")
            say(f"copying {args.instance}")
            shutil.copytree(args.instance, instance)
        self.instance, self.url = instance, url
        self.db_url = url or f"sqlite:///{instance / 'ep.sqlite3'}"
        self.env = self.code.env(instance, url)

    def code_schema(self):
        """The schema the served code creates in an empty database."""
        if self.url:
            empty = pg_create(self.url, f"ep_bench_{os.getpid()}_empty")
            try:
                self.code.run(self.code.env(self.work / "empty", empty), "init")
                db = Database(empty)
                try:
                    return schema_objects(db)
                finally:
                    db.close()
            finally:
                pg_drop(empty)
        empty = self.work / "empty"
        self.code.run(self.code.env(empty), "init")
        db = Database(f"sqlite:///{empty / 'ep.sqlite3'}")
        try:
            return schema_objects(db)
        finally:
            db.close()

    def align(self):
        say("bringing the copy to the schema of the code served")
        code_schema = self.code_schema()
        db = Database(self.db_url)
        try:
            notes = align_schema(code_schema, db, lambda: self.code.run(self.env, "init"))
            if db.engine == "postgresql":
                notes += fix_sequences(db)
            if self.args.no_analyze:
                notes.append("no ANALYZE")
            else:
                say("ANALYZE")
                started = time.monotonic()
                db.query("ANALYZE")
                notes.append(f"ANALYZE took {time.monotonic() - started:.1f} s")
            self.result["engine"] = db.engine
            self.result["engine_version"] = db.version()
            self.result["schema_version"] = code_schema["version"]
            self.result["sizes"] = count_sizes(db)
            self.facts = self.find_facts(db)
        finally:
            db.close()
        for note in notes:
            say("  " + note)
        self.result["schema_notes"] = notes

    def find_facts(self, db):
        """What the page URLs need: a name to search, the last page, a request to open."""
        partner = db.scalar("SELECT id FROM partner WHERE name = ?", ("CCAS de Démo",))
        if partner is None:
            raise BenchError("no 'CCAS de Démo' in the data: generate it with bench/generate.py")
        count = db.scalar("SELECT COUNT(*) FROM demande WHERE partner_id = ?", (partner,))
        name = db.scalar(
            "SELECT assure_nom FROM demande WHERE partner_id = ? AND assure_nom <> '' "
            "ORDER BY id DESC LIMIT 1",
            (partner,),
        )
        demande = db.scalar(
            "SELECT id FROM demande WHERE partner_id = ? ORDER BY id DESC LIMIT 1", (partner,)
        )
        last = max(1, math.ceil(count / PAGE_SIZE))
        return {
            "partner": partner,
            "partner_requests": count,
            "name": name or "Exemple",
            "page": min(self.args.history_page, last),
            "last_page": last,
            "demande": demande,
        }

    # servers --------------------------------------------------------------------------------

    def start_ep(self):
        """`ep serve` on the copy; returns once its start-up housekeeping is over."""
        args = self.args
        port = free_port()
        argv = ep_command("serve", "--port", str(port))
        if args.threads:
            argv += ["--threads", str(args.threads)]
        say(f"ep serve from {self.code.path} on port {port}")
        self.starts = getattr(self, "starts", 0) + 1
        log = self.work / f"ep-serve-{self.starts}.log"
        self.server = Process(argv, self.env, self.code.path, log)
        self.processes.append(self.server)
        self.base = f"http://127.0.0.1:{port}"
        self.server.wait_http(self.base, "/healthz", timeout=3600)
        settings = serve_settings(self.server, args.threads)
        waited = self.server.settle()
        say(f"server settled after {waited:.0f} s (its start-up housekeeping); {settings}")
        return settings, waited

    def restart_ep(self):
        self.server.stop()
        self.processes.remove(self.server)
        self.start_ep()

    def start_servers(self):
        self.code.check_import(self.env)
        settings, waited = self.start_ep()
        hello_port = free_port()
        self.hello = Process(
            [
                sys.executable,
                str(HERE / "hello.py"),
                "--port",
                str(hello_port),
                "--threads",
                str(settings["threads"]),
                "--connection-limit",
                str(settings["limit"]),
                "--channel-timeout",
                str(settings["timeout"]),
            ],
            clean_env(),
            ROOT,
            self.work / "hello.log",
        )
        self.processes.append(self.hello)
        self.hello_base = f"http://127.0.0.1:{hello_port}"
        self.hello.wait_http(self.hello_base, "/", timeout=60)
        self.result["serve"] = {**settings, "startup_settle_s": round(waited, 1)}

    # measures -------------------------------------------------------------------------------

    def measure_pages(self):
        args = self.args
        clients = {profile: login(self.base, user) for profile, user in USERS.items()}
        wrk = Wrk(self.work, self.server)
        hello_wrk = Wrk(self.work, self.hello)
        pages = []
        for key, title, profile, path, headers in PAGES:
            path = path.format(
                name=quote(self.facts["name"]),
                page=self.facts["page"],
                demande=self.facts["demande"],
            )
            title = title.format(page=self.facts["page"])
            if key == "history_page" and self.facts["page"] < args.history_page:
                title += f" (the last, of {self.facts['last_page']})"
            pages.append((key, title, profile, path, headers))
        runs = {key: {1: [], CLIENTS: []} for key, *_ in pages}
        hello = {1: [], CLIENTS: []}
        sizes, server_errors = {}, {key: {} for key, *_ in pages}
        for repeat in range(args.repeat):
            say(f"pages, round {repeat + 1} of {args.repeat}")
            for n in (1, CLIENTS):
                hello[n].append(
                    summarise(
                        hello_wrk.load(self.hello_base + "/", clients=n, duration=args.duration)
                    )
                )
            for key, title, profile, path, headers in pages:
                client = clients[profile]
                # one request through the client: checks the page, refreshes the session's
                # "last seen" (the cookie wrk replays) and gives its size
                status, answer, body = client.get(path, headers=headers)
                if status != 200:
                    raise BenchError(
                        f"{title}: {path} answered {status} {answer.get('location', '')}"
                    )
                sizes[key] = len(body)
                head = [f"Cookie: {client.cookie_header()}"]
                head += [f"{k}: {v}" for k, v in headers.items()]
                if repeat == 0 and args.warmup:
                    wrk.run(self.base + path, clients=1, duration=args.warmup, headers=head)
                mark = self.server.log_size()
                for n in (1, CLIENTS):
                    figures = summarise(
                        wrk.load(
                            self.base + path,
                            clients=n,
                            duration=args.duration,
                            headers=head,
                            max_duration=args.max_duration,
                        )
                    )
                    runs[key][n].append(figures)
                    say(
                        f"  {title}, {n} client{'s' if n > 1 else ''}: p50 "
                        f"{fmt_ms(figures['p50'])}, p95 {fmt_ms(figures['p95'])}, "
                        f"{figures['rps']:.1f}/s ({figures['requests']} answers in "
                        f"{figures['duration_s']} s)"
                        + (f", {figures['errors']} errors" if figures["errors"] else "")
                        + (f", {figures['non2xx']} non-2xx" if figures["non2xx"] else "")
                    )
                for error, count in self.server.errors_since(mark).items():
                    server_errors[key][error] = server_errors[key].get(error, 0) + count
                    say(f"  server log: {count} × {error}")
        for client in clients.values():
            client.close()
        self.result["hello"] = {"c1": combine(hello[1]), f"c{CLIENTS}": combine(hello[CLIENTS])}
        self.result["pages"] = {
            key: {
                "title": title,
                "path": path,
                "user": USERS[profile],
                "bytes": sizes[key],
                "c1": combine(runs[key][1]),
                f"c{CLIENTS}": combine(runs[key][CLIENTS]),
                "server_errors": server_errors[key],
            }
            for key, title, profile, path, headers in pages
        }
        self.result["partial"] = {
            "bytes": sizes["partial"],
            "full_bytes": sizes["history"],
            "ratio": sizes["partial"] / sizes["history"],
        }
        self.result["facts"] = self.facts

    def measure_writes(self):
        """50 techniciens of 50 structures submit new requests; then the database is checked."""
        args = self.args
        n = args.writers
        db = Database(self.db_url)
        try:
            candidates = [
                row[0]
                for row in db.query(
                    "SELECT a.username FROM account a WHERE a.profile = 'technicien' "
                    "AND a.state = 'active' AND a.password_hash IS NOT NULL "
                    "AND a.username <> 'technicien.demo' ORDER BY a.partner_id, a.id"
                )
            ]
        finally:
            db.close()
        by_partner, seen = [], set()
        for username in candidates:  # one per structure first, then the others
            prefix = username.rsplit(".", 1)[0]
            if prefix not in seen:
                seen.add(prefix)
                by_partner.append(username)
        rest = [u for u in candidates if u not in set(by_partner)]
        spread = by_partner[:: max(1, len(by_partner) // n)] + by_partner + rest
        run_tag = "Banc" + "".join(random.choices(string.ascii_lowercase, k=6))
        say(f"logging in {n} techniciens")
        sessions, used = [], set()
        for username in spread:
            if len(sessions) == n:
                break
            if username in used:
                continue
            used.add(username)
            try:
                session = self.new_request_session(username)
            except BenchError as exc:
                say(f"  {username} skipped: {exc}")
                continue
            i = len(sessions)
            tag = run_tag + string.ascii_lowercase[i // 26] + string.ascii_lowercase[i % 26]
            sessions.append((*session, tag, username))
        if len(sessions) < n:
            raise BenchError(f"only {len(sessions)} techniciens could open the new-request form")
        path = self.work / "sessions.tsv"
        path.write_text("".join("\t".join(s[:6]) + "\n" for s in sessions))
        say(f"{n} writers for {args.write_duration} s")
        wrk = Wrk(self.work, self.server)
        mark = self.server.log_size()
        raw = wrk.run(
            self.base + "/demandes/new",
            clients=n,
            threads=n,
            duration=args.write_duration,
            script="submit.lua",
            env={"WRK_SESSIONS": str(path)},
        )
        figures = summarise(raw)
        acked = [item.split(":", 1) for item in raw.get("acked") or []]
        refused = [item.split(":", 1) for item in raw.get("refused") or []]
        db = Database(self.db_url)
        try:
            stored = db.query(
                "SELECT id, assure_nom FROM demande WHERE assure_nom LIKE ?", (run_tag + "%",)
            )
        finally:
            db.close()
        rows_by_name = {}
        for row_id, name in stored:
            rows_by_name.setdefault(name, []).append(row_id)
        acked_names = {name for _, name in acked}
        lost = [(i, name) for i, name in acked if name not in rows_by_name]
        twice = {name: ids for name, ids in rows_by_name.items() if len(ids) > 1}
        wrong = [
            (i, name)
            for i, name in acked
            if name in rows_by_name and int(i) not in rows_by_name[name]
        ]
        unacked = sorted(name for name in rows_by_name if name not in acked_names)
        statuses = {}
        for status, _ in refused:
            statuses[status] = statuses.get(status, 0) + 1
        seconds = raw["duration_us"] / 1e6
        result = {
            "writers": n,
            "accounts": [s[6] for s in sessions],
            "structures": len({s[6].rsplit(".", 1)[0] for s in sessions}),
            "duration_s": seconds,
            "requests": figures["requests"],
            "acknowledged": len(acked),
            "acknowledged_per_s": len(acked) / seconds if seconds else 0,
            "p50": figures["p50"],
            "p95": figures["p95"],
            "p99": figures["p99"],
            "max": figures["max"],
            "errors": figures["errors"],
            "refused": len(refused),
            "refused_statuses": statuses,
            "stored": len(stored),
            "lost": len(lost),
            "stored_twice": len(twice),
            "id_mismatch": len(wrong),
            "stored_unacknowledged": len(unacked),
            "server_cpu_ms_per_request": figures["server_cpu_ms_per_request"],
            "server_errors": self.server.errors_since(mark),
            "server_cpu_share": raw.get("server_cpu_s", 0) / seconds if seconds else None,
            "examples": {
                "lost": lost[:5],
                "twice": list(twice.items())[:5],
                "refused": refused[:5],
                "unacknowledged": unacked[:5],
            },
        }
        say(
            f"  {len(acked)} acknowledged ({result['acknowledged_per_s']:.1f}/s), p95 "
            f"{figures['p95']:.0f} ms, {figures['errors']} errors, {len(refused)} other answers "
            f"{statuses or ''}, {len(lost)} lost, {len(twice)} stored twice, "
            f"{len(unacked)} stored unacknowledged (in flight at the end)"
        )
        for error, count in result["server_errors"].items():
            say(f"  server log: {count} × {error}")
        self.result["write"] = result

    def new_request_session(self, username):
        """(cookie, csrf token, caisse, offer, motif) of a technicien's new-request form, for an
        offer about an assuré."""
        client = login(self.base, username)
        try:
            status, _, page = client.get("/demandes/new")
            if status != 200:
                raise BenchError(f"new-request form answered {status}")
            token = csrf_token(page)
            caisses = [v for v in select_options(page, "caisse") if v]
            if not caisses:
                raise BenchError("no caisse to send a request to")
            caisse = caisses[0]
            _, _, page = client.get(f"/demandes/new?caisse={caisse}")
            for offer in [v for v in select_options(page, "offer") if v]:
                _, _, page = client.get(f"/demandes/new?caisse={caisse}&offer={offer}")
                motifs = [v for v in select_options(page, "motif") if v]
                if motifs and b'id="identite"' in page:
                    return client.cookie_header(), token, caisse, offer, motifs[0]
            raise BenchError("no offer about an assuré")
        finally:
            client.close()

    def measure_exports(self):
        """Each format on a server just started, so that the memory the export needs is not
        hidden in what the loads before left allocated."""
        args = self.args
        result = {}
        for fmt in ("csv", "xlsx"):
            self.restart_ep()
            client = login(self.base, USERS["caisse"])
            reset = self.server.reset_peak()
            before = self.server.status_kb("VmRSS" if reset else "VmHWM")
            runs = []
            for _ in range(args.repeat):
                seen = {"bytes": 0, "lines": 0, "first": None}

                def take(chunk, seen=seen):
                    if seen["first"] is None:
                        seen["first"] = time.perf_counter()
                    seen["bytes"] += len(chunk)
                    seen["lines"] += chunk.count(b"\n")

                started = time.perf_counter()
                status, _, _ = client.request(
                    "GET", f"/caisse/export/utilisateurs.{fmt}", stream=take
                )
                total = time.perf_counter() - started
                if status != 200:
                    raise BenchError(f"users export {fmt} answered {status}")
                runs.append(
                    {
                        "total_s": total,
                        "first_byte_s": seen["first"] - started if seen["first"] else None,
                        "bytes": seen["bytes"],
                        "rows": seen["lines"] - 1 if fmt == "csv" else None,
                        # the peak since the server started serving, over the RSS before
                        "peak_growth_mb": (self.server.status_kb("VmHWM") - before) / 1024,
                    }
                )
            client.close()
            result[fmt] = combine(runs)
            result[fmt]["rss_before_mb"] = before / 1024
            result[fmt]["peak_reset"] = reset
            m = result[fmt]["median"]
            say(
                f"  users export {fmt}: {m['total_s']:.2f} s, {m['bytes'] / 1e6:.1f} MB, "
                f"server peak memory +{result[fmt]['max']['peak_growth_mb']:.1f} MB "
                f"over {before / 1024:.0f} MB"
            )
        self.result["exports"] = result

    def measure_housekeeping(self):
        """`ep housekeeping` over the whole set, while two pages are read in a loop."""
        client = login(self.base, USERS["technicien"])
        probes = [("history", "/demandes/"), ("request", f"/demandes/{self.facts['demande']}")]

        def sample(seconds=None, until=None):
            times = {"history": [], "request": []}
            started = time.monotonic()
            while True:
                for key, path in probes:
                    t = time.perf_counter()
                    status, _, _ = client.get(path)
                    times[key].append((time.perf_counter() - t) * 1000)
                    if status != 200:
                        times.setdefault("non200", []).append(status)
                if until is not None and until():
                    return times
                if seconds is not None and time.monotonic() - started > seconds:
                    return times

        before = sample(seconds=3)
        say("ep housekeeping")
        started = time.monotonic()
        proc = subprocess.Popen(
            ep_command("housekeeping"),
            env=self.env,
            cwd=self.code.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        during = sample(until=lambda: proc.poll() is not None)
        took = time.monotonic() - started
        output = proc.stdout.read().strip()
        client.close()

        def stats(values):
            values = sorted(values)
            if not values:
                return None
            return {
                "n": len(values),
                "p50": statistics.median(values),
                "p95": values[min(len(values) - 1, int(len(values) * 0.95))],
                "max": values[-1],
            }

        result = {
            "seconds": took,
            "returncode": proc.returncode,
            "output": output[-600:],
            "pages": {
                key: {"before": stats(before[key]), "during": stats(during[key])}
                for key in ("history", "request")
            },
            "non200_during": during.get("non200", []),
        }
        say(
            f"  {took:.1f} s (exit {proc.returncode}); during it, history max "
            f"{result['pages']['history']['during']['max']:.0f} ms, request page max "
            f"{result['pages']['request']['during']['max']:.0f} ms"
        )
        self.result["housekeeping"] = result

    # all --------------------------------------------------------------------------------------

    def run(self):
        args = self.args
        started = datetime.now()
        self.result.update(
            {
                "date": started.isoformat(timespec="seconds"),
                "machine": machine(),
                "code": self.code.git(),
                "settings": {
                    "duration_s": args.duration,
                    "repeat": args.repeat,
                    "clients": CLIENTS,
                    "writers": args.writers,
                    "write_duration_s": args.write_duration,
                    "warmup_s": args.warmup,
                    "max_duration_s": args.max_duration,
                },
                "data": {
                    "instance": args.instance,
                    "database_url": args.database_url,
                    "size": args.size,
                },
            }
        )
        self.prepare_data()
        self.align()
        self.start_servers()
        if "pages" not in args.skip:
            self.measure_pages()
        if "write" not in args.skip:
            self.measure_writes()
        if "export" not in args.skip:
            say("users export")
            self.measure_exports()
        if "housekeeping" not in args.skip:
            self.measure_housekeeping()
        self.result["took_s"] = round((datetime.now() - started).total_seconds())

    def close(self):
        for process in self.processes:
            process.stop()
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:  # keep cleaning
                say(f"cleanup: {exc}")
        if self.args.keep:
            say(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def select_options(html, name):
    found = re.search(
        rb'<select[^>]*name="' + name.encode() + rb'"[^>]*>(.*?)</select>', html, re.S
    )
    if not found:
        return []
    return [v.decode() for v in re.findall(rb'<option[^>]*value="([^"]*)"', found.group(1))]


# --- command line ----------------------------------------------------------------------------


def parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = parser.add_argument_group("data (one of --instance, --database-url, --size)")
    data.add_argument(
        "--instance", help="instance folder holding ep.sqlite3 (copied, never written)"
    )
    data.add_argument(
        "--database-url",
        help="postgresql://… filled database (copied with "
        "CREATE DATABASE … TEMPLATE); with --size, the server to generate on",
    )
    data.add_argument("--size", type=int, help="generate this many requests with bench/generate.py")
    data.add_argument("--partners", type=int, default=500)
    data.add_argument("--accounts", type=int, default=15000)
    parser.add_argument("--code", default=str(ROOT), help="checkout to serve (default: this tree)")
    parser.add_argument("--label", help='column title, e.g. "1 000 000 SQLite after"')
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--max-duration",
        type=int,
        default=120,
        help="a slow page's run is made longer, up to this (each client needs 2 answers)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per page")
    parser.add_argument("--write-duration", type=int, default=60)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--history-page", type=int, default=500)
    parser.add_argument("--threads", type=int, help="ep serve --threads (default: its own)")
    parser.add_argument(
        "--skip", default="", help="comma-separated: pages,write,export,housekeeping"
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="leave the planner's statistics as the data has them (default: ANALYZE first)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the copy and the logs")
    parser.add_argument("--debug", action="store_true", help="tracebacks on errors")
    parser.add_argument("--no-save", action="store_true", help="print, write no result file")
    parser.add_argument("--report", action="store_true", help="only rebuild BENCHMARKS.md")
    parser.add_argument(
        "--results",
        default=str(RESULTS),
        help="folder of the JSON results (default bench/results, whose report is "
        "BENCHMARKS.md; elsewhere, the report goes to FOLDER/BENCHMARKS.md)",
    )
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.report:
        return args
    if not args.label:
        parser.error("--label is required")
    if bool(args.instance) + bool(args.size) + bool(args.database_url and not args.size) == 0:
        parser.error("one of --instance, --database-url or --size is required")
    if args.size and args.instance:
        parser.error("--size generates its data: no --instance with it")
    if args.database_url and not args.database_url.startswith(("postgresql://", "postgres://")):
        parser.error("--database-url: a postgresql:// URL (SQLite is given with --instance)")
    return args


def main(argv=None):
    args = parse(argv)
    results = Path(args.results).resolve()
    target = BENCHMARKS if results == RESULTS else results / "BENCHMARKS.md"
    if args.report:
        write_report(results, target)
        print(f"{target} rebuilt from {len(list(results.glob('*.json')))} result files")
        return 0
    if shutil.which("wrk") is None:
        print(
            "bench/run.py: wrk is missing; install it with: apt-get install -y wrk", file=sys.stderr
        )
        return 2
    run = None
    try:
        run = Run(args)
        run.run()
    except BenchError as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line; --debug shows where
        if args.debug:
            raise
        print(f"bench/run.py: {type(exc).__name__}: {exc} (--debug: traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/run.py: interrupted", file=sys.stderr)
        return 130
    finally:
        if run is not None:
            run.close()
    text = json.dumps(run.result, indent=1, ensure_ascii=False, default=str)
    if args.no_save:
        print(text)
        return 0
    results.mkdir(parents=True, exist_ok=True)
    path = result_file(args.label, results)
    path.write_text(text + "\n")
    write_report(results, target)
    say(f"wrote {path} and {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
