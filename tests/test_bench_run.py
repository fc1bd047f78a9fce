"""bench/run.py's plumbing, without timing anything: the report built from result files, the
copy brought to an older code's indexes, exceptions read from a server log, and the wrk
scripts' JSON (against a tiny local server, when wrk is installed)."""

import importlib.util
import json
import shutil
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load("run")
report = _load("report")


def _block(p50, p95, rps, errors=0):
    figures = {"p50": p50, "p95": p95, "p99": p95 * 1.2, "rps": rps, "errors": errors, "non2xx": 0}
    return {
        "runs": [figures],
        "median": dict(figures),
        "min": dict(figures),
        "max": dict(figures),
    }


def _result(label, demandes, p95, engine="sqlite"):
    pages = {
        key: {
            "title": title.format(page=500),
            "bytes": 20000,
            "c1": _block(p95 / 4, p95 / 2, 100),
            "c16": _block(p95, p95, 50),
            "server_errors": {},
        }
        for key, title, *_ in report.PAGES
    }
    return {
        "label": label,
        "date": "2026-11-26T10:00:00",
        "machine": {"cores": 2, "cpu": "Test CPU", "ram_gib": 8, "python": "3.11"},
        "code": {"commit": "abc", "commit_date": "2026-11-26T09:00:00", "dirty": False},
        "engine": engine,
        "engine_version": "SQLite 3.40.1",
        "sizes": {"demandes": demandes, "comptes": 15006, "structures": 502},
        "hello": {"c16": _block(4, 8, 2000)},
        "pages": pages,
        "partial": {"bytes": 4000, "full_bytes": 20000, "ratio": 0.2},
        "facts": {"page": 2, "last_page": 2},
        "write": {
            "acknowledged_per_s": 120.0,
            "p95": 250.0,
            "p99": 300.0,
            "acknowledged": 7200,
            "errors": 0,
            "refused": 3,
            "refused_statuses": {"500": 3},
            "lost": 0,
            "stored_twice": 0,
            "id_mismatch": 0,
            "server_errors": {"sqlite3.OperationalError: database is locked": 3},
        },
    }


def test_report_has_a_column_per_result_and_keeps_the_rest_of_the_file(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for label, size, p95 in (
        ("1 000 000 SQLite", 1_000_006, 60.0),
        ("10 000 SQLite", 10_006, 30.0),
    ):
        report.result_file(label, results).write_text(json.dumps(_result(label, size, p95)))
    target = tmp_path / "BENCHMARKS.md"
    target.write_text(
        f"# Benchmarks\n\nBefore.\n\n{report.BEGIN}\nold table\n{report.END}\n\nAfter.\n"
    )

    report.write_report(results, target)
    text = target.read_text()

    assert text.startswith("# Benchmarks\n\nBefore.\n\n") and text.endswith("\n\nAfter.\n")
    assert "old table" not in text
    # the smaller set first, whatever the file names
    assert "| measure | target | 10 000 SQLite | 1 000 000 SQLite |" in text
    assert "| hello world, 16 clients: req/s | reference | 2,000/s, p95 8.0 ms |" in text
    history = next(line for line in text.splitlines() if "first page — 16 clients" in line)
    assert "p95 30 ms, 50/s (2.5% of hello) ✗" in history  # under 25 % of the hello world
    assert "p95 60 ms" in history
    assert "| 120.0/s, p95 250 ms, p99 300 ms ✓ |" in text
    assert "3 refused, 0 lost, 0 stored twice (HTTP 500: 3) ✗" in text
    # p95 at 1,000,000 over p95 at 10,000: 2× is more than the 1.5× allowed
    assert "30 ms → 60 ms (2.00×) ✗" in text
    assert "`sqlite3.OperationalError: database is locked`" in text


def test_schema_notes_are_counted_in_the_report():
    notes = [
        "schema version 3 marked 2",
        "dropped index a",
        "dropped index b",
        "created index c",
        "dropped trigger t",
        "ANALYZE took 1.0 s",
    ]
    assert report.schema_summary(notes) == (
        "schema version 3 marked 2; 2 indexes dropped; 1 indexes created; 1 triggers dropped"
    )


def test_report_without_markers_is_appended(tmp_path):
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# Benchmarks\n\nText.\n")
    report.write_report(tmp_path / "none", target)
    text = target.read_text()
    assert text.startswith("# Benchmarks\n\nText.\n\n" + report.BEGIN)
    assert text.rstrip().endswith(report.END)


def _sqlite(path, version, extra=""):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER);"
        f"INSERT INTO schema_version (version) VALUES ({version});"
        "CREATE TABLE demande (id INTEGER PRIMARY KEY, partner_id INTEGER, created_at TEXT);"
        "CREATE INDEX demande_partner_id ON demande (partner_id);" + extra
    )
    conn.close()


def test_the_copy_gets_the_indexes_of_the_older_code_and_only_those(tmp_path):
    _sqlite(
        tmp_path / "code.db",
        2,
        "CREATE INDEX demande_created_at ON demande (created_at) WHERE partner_id > 0;",
    )
    _sqlite(
        tmp_path / "data.db",
        3,
        "CREATE INDEX demande_partner_id_created_at_id ON demande (partner_id, created_at, id);"
        "CREATE TRIGGER demande_touch AFTER INSERT ON demande BEGIN SELECT 1; END;",
    )
    code = run.Database(f"sqlite:///{tmp_path / 'code.db'}")
    data = run.Database(f"sqlite:///{tmp_path / 'data.db'}")
    upgraded = []

    notes = run.align_schema(run.schema_objects(code), data, lambda: upgraded.append(True))

    after = run.schema_objects(data)
    assert upgraded == [True]
    assert set(after["indexes"]) == {"demande_partner_id", "demande_created_at"}
    assert after["sql"]["demande_created_at"].endswith("WHERE partner_id > 0")
    assert after["triggers"] == {}
    assert after["version"] == 2
    assert notes == [
        "schema version 3 marked 2",
        "dropped trigger demande_touch",
        "dropped index demande_partner_id_created_at_id",
        "created index demande_created_at",
    ]


def test_data_missing_a_column_of_the_code_is_refused(tmp_path):
    _sqlite(tmp_path / "code.db", 3, "ALTER TABLE demande ADD COLUMN status TEXT;")
    _sqlite(tmp_path / "data.db", 3)
    code = run.Database(f"sqlite:///{tmp_path / 'code.db'}")
    data = run.Database(f"sqlite:///{tmp_path / 'data.db'}")
    with pytest.raises(run.BenchError, match="demande.status"):
        run.align_schema(run.schema_objects(code), data)


def test_exceptions_are_read_from_the_server_log():
    log = (
        "Exception on /demandes/new [POST]\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "    g()\n"
        "peewee.IntegrityError: duplicate key value violates unique constraint\n"
        "WARNING:waitress.queue:Task queue depth is 4\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "peewee.IntegrityError: duplicate key value violates unique constraint\n"
    )
    assert run.log_errors(log) == {
        "peewee.IntegrityError: duplicate key value violates unique constraint": 2
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    posted = []

    def do_GET(self):
        status = 200 if self.headers.get("Cookie") == "ep_session=abc" else 302
        self._answer(status)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        _Handler.posted.append(body)
        self._answer(303, {"Location": f"/demandes/{len(_Handler.posted)}"})

    def _answer(self, status, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def tiny_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_scripts_count_statuses_and_acknowledged_submissions(tmp_path, tiny_server):
    wrk = run.Wrk(tmp_path, None)
    page = run.summarise(
        wrk.run(tiny_server + "/", clients=2, duration=1, headers=["Cookie: ep_session=abc"])
    )
    assert page["requests"] > 0 and page["non2xx"] == 0 and page["errors"] == 0
    redirected = run.summarise(wrk.run(tiny_server + "/", clients=1, duration=1))
    assert redirected["non2xx"] == redirected["requests"] > 0

    sessions = tmp_path / "sessions.tsv"
    sessions.write_text("ep_session=abc\ttoken\t1\tdocument\tattestation\tBancab\n")
    _Handler.posted.clear()
    raw = wrk.run(
        tiny_server + "/demandes/new",
        clients=1,
        threads=1,
        duration=1,
        script="submit.lua",
        env={"WRK_SESSIONS": str(sessions)},
    )
    assert len(raw["acked"]) == raw["requests"] > 0 and raw.get("refused") in ([], None)
    # each acknowledgement names the assuré of the request it answers (the server's n-th post)
    for item in raw["acked"]:
        number, name = item.split(":")
        assert name.startswith("Bancabx") and not any(c.isdigit() for c in name)
        assert f'name="nom"\r\n\r\n{name}\r\n' in _Handler.posted[int(number) - 1]
    first = _Handler.posted[0]
    assert 'name="csrf_token"\r\n\r\ntoken\r\n' in first
    assert 'name="caisse"\r\n\r\n1\r\n' in first
    assert 'name="pieces_jointes"; filename=""' in first
